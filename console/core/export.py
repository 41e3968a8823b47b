"""`ctrl+s`: the current view written to CSV and JSON files.

A screen hands over an ``ExportTable`` — its rows as shown (filtered,
sorted) and their columns, or a detail screen's fields — and
``write_export`` writes ``<view>-<UTC time>.csv`` and ``.json`` side by side
in the export folder (``--export-dir``, default ``~/celery-console-exports``).

- The JSON holds the values as they are (cluster text is data). In the CSV a
  cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``,
  ``@``, a tab or carriage return first) is written with a leading ``'``:
  a hostile task argument must not become a formula on the reader's desk.
- Files are created new (never overwriting: a counter is added) with mode
  0600: they may hold task arguments and results.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_EXPORT_DIR = "~/celery-console-exports"
_FORMULA_FIRST = ("=", "+", "-", "@", "\t", "\r")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExportTable:
    """One view: ``rows`` are tuples in ``columns`` order, as shown."""

    view: str  # "tasks", "task-<uuid>", ...: names the files
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    about: dict[str, Any] = field(default_factory=dict)  # filter, sort, …

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=False)) for row in self.rows]


@dataclass(frozen=True)
class Written:
    csv: Path
    json: Path


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: text, never a spreadsheet formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str) \
        if isinstance(value, (dict, list, tuple)) else str(value)
    if text.startswith(_FORMULA_FIRST):
        return "'" + text
    return text


def csv_text(table: ExportTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def json_text(table: ExportTable, at: float) -> str:
    document = {"view": table.view, "exported_at": at, **table.about,
                "columns": list(table.columns), "rows": table.records()}
    return json.dumps(document, indent=2, default=str, ensure_ascii=False)


def write_export(folder: str | None, table: ExportTable,
                 now: float | None = None) -> Written:
    """Write both files; raises ``OSError`` (the caller says why)."""
    at = time.time() if now is None else now
    root = Path(os.path.expanduser(folder or DEFAULT_EXPORT_DIR))
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(at))
    base = f"{_UNSAFE_NAME.sub('_', table.view)[:80] or 'view'}-{stamp}"
    for n in range(1000):
        stem = base if n == 0 else f"{base}-{n}"
        paths = Written(root / f"{stem}.csv", root / f"{stem}.json")
        try:
            _create(paths.csv, csv_text(table))
        except FileExistsError:
            continue
        try:
            _create(paths.json, json_text(table, at))
        except FileExistsError:
            paths.csv.unlink()
            continue
        return paths
    raise FileExistsError(f"no free file name for {base} in {root}")


def _create(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def fields_table(view: str, pairs: Sequence[tuple[str, Any]],
                 about: dict[str, Any] | None = None) -> ExportTable:
    """A detail screen: one row per field."""
    return ExportTable(view, ("field", "value"), tuple((k, v) for k, v in pairs),
                       about or {})
