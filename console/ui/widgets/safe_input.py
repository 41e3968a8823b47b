"""An Input whose value is always terminal-safe.

Textual's Input draws its value and suggestion as plain text (no markup),
but control characters pass: a value filled from the cluster (a task type,
an autoscale bound) or pasted from a clipboard holding copied cluster text
would echo escape sequences to the terminal. Every assignment — typed,
pasted or set by code — goes through ``one_line`` here, in Textual's own
reactive validation hook.
"""

from __future__ import annotations

from textual.widgets import Input

from ...text import one_line


class SafeInput(Input):
    def validate_value(self, value: str) -> str:
        return one_line(value)
