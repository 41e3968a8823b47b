"""The filter language of `/` and `:tasks …`: terms ANDed together.

Free text matches name, uuid, args and worker; ``state:``, ``name:``,
``worker:``, ``queue:``, ``args:``, ``kwargs:`` and ``result:`` narrow to one
field. Matching is case-insensitive substring, except ``state:`` which also
accepts a comma list (``state:failure,retry``).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

FIELDS = ("state", "name", "worker", "queue", "args", "kwargs", "result", "uuid")


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class TaskFilter:
    text: str = ""
    terms: tuple[tuple[str | None, str], ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str) -> "TaskFilter":
        text = (text or "").strip()
        try:
            words = shlex.split(text)
        except ValueError as exc:  # an unbalanced quote
            raise FilterError(f"cannot read filter: {exc}") from None
        terms = []
        for word in words:
            key, sep, value = word.partition(":")
            if sep and key.lower() in FIELDS:
                if not value:
                    raise FilterError(f"{key}: needs a value, e.g. {key}:something")
                terms.append((key.lower(), value.lower()))
            else:
                terms.append((None, word.lower()))
        return cls(text, tuple(terms))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, task) -> bool:
        for key, value in self.terms:
            if key is None:
                if not any(value in _low(getattr(task, f, None))
                           for f in ("name", "uuid", "args", "worker")):
                    return False
            elif key == "state":
                if _low(task.state) not in value.split(","):
                    return False
            elif key == "queue":
                if value not in _low(task.queue) and value not in _low(task.routing_key):
                    return False
            elif value not in _low(getattr(task, key, None)):
                return False
        return True


def _low(value) -> str:
    return "" if value is None else str(value).lower()
