"""What the console remembers between runs (the theme): a small JSON file
in the platform's state folder, never the config file, which the console
only reads. A file that cannot be read or written is logged and ignored:
remembering a theme never stops the console."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import default_state_path

log = logging.getLogger(__name__)


@dataclass
class UiState:
    theme: str | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> UiState:
        path = path or default_state_path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring the state file %s: %s", path, exc)
            return cls()
        theme = data.get("theme") if isinstance(data, dict) else None
        return cls(theme=theme if isinstance(theme, str) and theme else None)

    def save(self, path: Path | None = None) -> None:
        path = path or default_state_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(asdict(self)), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not remember the theme in %s: %s", path, exc)
