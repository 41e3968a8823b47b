"""What `ctrl+s` exports and `y` copies, read from a screen's widgets.

Each screen gives ``export_view()`` (an ``ExportTable`` of its rows as
shown: filtered, sorted) and ``cursor_id()`` (``(kind, id)`` under the
cursor, or None). The app writes the files (``core/export.py``) and owns the
clipboard; these helpers only read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from ..core.export import ExportTable, fields_table
from ..core.views import TaskView

# A task row as exported: every field a TaskView holds but the timeline,
# plus the times the table shows.
TASK_COLUMNS = ("uuid", "name", "state", "console_action", "worker", "client", "queue",
                "routing_key", "sent", "received", "started", "succeeded", "failed",
                "runtime", "retries", "args", "kwargs", "result", "exception", "eta",
                "expires", "parent_id", "root_id", "worker_lost")


def cell_text(value: Any) -> Any:
    """A DataTable cell as data: its text, without styles."""
    if isinstance(value, Text):
        return value.plain
    if value is None or isinstance(value, (int, float, str)):
        return value
    plain = getattr(value, "plain", None)
    return plain if isinstance(plain, str) else str(value)


def datatable_export(view: str, table: DataTable, about: Mapping[str, Any]) -> ExportTable:
    """The table's rows in the order shown (the screen filtered and sorted
    them when it filled the table)."""
    columns = tuple(cell_text(c.label) or str(c.key.value or "") for c in table.ordered_columns)
    rows = tuple(tuple(cell_text(v) for v in table.get_row(row.key))
                 for row in table.ordered_rows)
    return ExportTable(view, columns, rows, dict(about))


def task_rows(records: Iterable[Any]) -> tuple[tuple[Any, ...], ...]:
    """Task records (or views) as export rows, in the order given."""
    return tuple(tuple(getattr(r, name, None) for name in TASK_COLUMNS) for r in records)


def task_fields(view: TaskView) -> list[tuple[str, Any]]:
    pairs = [(f.name, getattr(view, f.name)) for f in dataclasses.fields(view)
             if f.name != "timeline"]
    pairs += [(f"at {event}", at) for event, at in view.timeline]
    return pairs


def object_fields(view: Any) -> list[tuple[str, Any]]:
    """A frozen view (dataclass) as (field, value) pairs."""
    if dataclasses.is_dataclass(view) and not isinstance(view, type):
        return [(f.name, getattr(view, f.name)) for f in dataclasses.fields(view)]
    return list(vars(view).items())


def detail_export(view: str, pairs: list[tuple[str, Any]],
                  about: Mapping[str, Any]) -> ExportTable:
    return fields_table(view, pairs, dict(about))
