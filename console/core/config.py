"""The config file: named contexts, the keymap, and where both live.

A TOML file in the platform's config folder (``~/.config/celery-console/
config.toml`` on Linux, following XDG_CONFIG_HOME), or the one ``--config``
names. The console only ever *reads* it: it holds no password (a context
names an environment variable or a file for it) and nothing the console
learns is written back (the remembered theme lives in a small state file
of its own, ``uistate.py``).

    default_context = "staging"

    [contexts.prod]
    broker = "amqps://ops@rabbit.prod.example:5671/prod"
    password_env = "PROD_RABBIT_PASSWORD"     # or password_file = "~/.prod-pass"
    queues = ["backlog", "imports"]
    read_only = true                            # the default
    audit_log = "~/.local/state/celery-console/prod-audit.jsonl"

    [contexts.staging]
    app = "proj.celery:app"
    read_only = false

    [keymap]
    "screen.queues" = "f3"
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .connection import EX_CONFIG, ConsoleError
from .secrets import mask_url, passwords_in

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

APP_NAME = "celery-console"
CONFIG_ENV = "CELERY_CONSOLE_CONFIG"
_CONTEXT_KEYS = frozenset({"app", "broker", "password_env", "password_file", "queues",
                           "read_only", "audit_log", "description"})
_TOP_KEYS = frozenset({"default_context", "contexts", "keymap"})


def default_config_path() -> Path:
    """``$CELERY_CONSOLE_CONFIG``, else the platform's config folder
    (``$XDG_CONFIG_HOME/celery-console/config.toml`` on Linux)."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    from platformdirs import user_config_path

    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def default_state_path() -> Path:
    """Where the console keeps what it remembers (the theme): never the
    config file, which it never writes."""
    from platformdirs import user_state_path

    return user_state_path(APP_NAME, appauthor=False) / "ui-state.json"


class ConfigError(ConsoleError):
    def __init__(self, path: Path | str, message: str):
        super().__init__(f"config {path}: {message}", EX_CONFIG)


@dataclass(frozen=True)
class Context:
    """One named cluster. ``broker`` never holds the password: ``url()``
    puts it in, read from ``password_env`` or ``password_file``, each time."""

    name: str
    app: str | None = None
    broker: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    queues: tuple[str, ...] = ()
    read_only: bool = True
    audit_log: str | None = None
    description: str = ""

    @property
    def masked_broker(self) -> str:
        if self.broker:
            return mask_url(self.broker)
        return f"(the app's broker_url, -A {self.app})" if self.app else ""

    @property
    def password_source(self) -> str:
        if self.password_env:
            return f"${self.password_env}"
        if self.password_file:
            return self.password_file
        return ""

    def password(self) -> str | None:
        """The password, from where the context says; None when it names none."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConsoleError(f"context {self.name!r}: the environment variable "
                                   f"{self.password_env} (its password) is not set",
                                   EX_CONFIG)
            return value
        if self.password_file:
            path = Path(self.password_file).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip("\r\n")
            except OSError as exc:
                raise ConsoleError(f"context {self.name!r}: cannot read its password file "
                                   f"{path}: {exc.strerror or exc}", EX_CONFIG) from None
        return None

    def url(self, base: str | None = None) -> str | None:
        """The broker URL with the password put in (every URL of a ``;``
        failover list that names a user without one). ``base`` is the app's
        broker_url for an app context without ``broker``."""
        url = self.broker or base
        password = self.password()
        if url is None or password is None:
            return self.broker
        return ";".join(with_password(part, password) for part in url.split(";"))


def with_password(url: str, password: str) -> str:
    """``amqp://ops@host//`` -> ``amqp://ops:<password>@host//``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return url  # no user: nothing to attach a password to
    if ":" in userinfo:
        return url  # has one (refused in the file; an app's own is kept)
    return f"{scheme}://{userinfo}:{quote(password, safe='')}@{hostpart}"


@dataclass(frozen=True)
class Config:
    path: Path
    exists: bool = False
    contexts: dict[str, Context] = field(default_factory=dict)
    default_context: str | None = None
    keymap: dict[str, str] = field(default_factory=dict)

    def context(self, name: str) -> Context:
        try:
            return self.contexts[name]
        except KeyError:
            known = ", ".join(sorted(self.contexts)) or "none"
            where = str(self.path) if self.exists else f"{self.path} (no such file)"
            raise ConsoleError(f"no context {name!r} in {where}; known: {known}",
                               EX_CONFIG) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read the file; a file given by name must exist, the default one may not."""
    chosen = Path(path).expanduser() if path else default_config_path()
    try:
        raw = chosen.read_bytes()
    except FileNotFoundError:
        if path:
            raise ConfigError(chosen, "no such file") from None
        return Config(chosen)
    except OSError as exc:
        raise ConfigError(chosen, f"cannot read it: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(chosen, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(chosen, f"not valid TOML: {exc}") from None
    return parse_config(chosen, data)


def parse_config(path: Path, data: dict[str, Any]) -> Config:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(path, f"unknown setting {unknown[0]!r} (known: "
                                f"{', '.join(sorted(_TOP_KEYS))})")
    tables = data.get("contexts", {})
    if not isinstance(tables, dict):
        raise ConfigError(path, "contexts must be a table: [contexts.NAME]")
    contexts = {name: _context(path, name, table) for name, table in tables.items()}
    default = data.get("default_context")
    if default is not None and (not isinstance(default, str) or default not in contexts):
        raise ConfigError(path, f"default_context {default!r} names no context "
                                f"(known: {', '.join(sorted(contexts)) or 'none'})")
    keymap = data.get("keymap", {})
    if not isinstance(keymap, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in keymap.items()):
        raise ConfigError(path, '[keymap] maps binding ids to keys: "screen.queues" = "f3"')
    return Config(path, True, contexts, default, {k: v.strip() for k, v in keymap.items()})


def _context(path: Path, name: str, table: object) -> Context:
    where = f"context {name!r}"
    if not isinstance(table, dict):
        raise ConfigError(path, f"{where} must be a table: [contexts.{name}]")
    unknown = sorted(set(table) - _CONTEXT_KEYS)
    if unknown:
        raise ConfigError(path, f"{where}: unknown setting {unknown[0]!r} (known: "
                                f"{', '.join(sorted(_CONTEXT_KEYS))})")
    for key in ("app", "broker", "password_env", "password_file", "audit_log",
                "description"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(path, f"{where}: {key} must be a string")
    if not table.get("app") and not table.get("broker"):
        raise ConfigError(path, f"{where}: give an app (like -A) or a broker URL")
    broker = table.get("broker")
    if broker and passwords_in(broker):
        # The file is read by the console, backed up, shared: no secret in it.
        raise ConfigError(path, f"{where}: the broker URL {mask_url(broker)} holds a "
                                "password; name it with password_env or password_file")
    if table.get("password_env") and table.get("password_file"):
        raise ConfigError(path, f"{where}: password_env or password_file, not both")
    queues = table.get("queues", [])
    if isinstance(queues, str):
        queues = [q for q in queues.split(",")]
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        raise ConfigError(path, f"{where}: queues is a list of names")
    read_only = table.get("read_only", True)
    if not isinstance(read_only, bool):
        raise ConfigError(path, f"{where}: read_only is true or false")
    return Context(
        name=name, app=table.get("app") or None, broker=broker or None,
        password_env=table.get("password_env") or None,
        password_file=table.get("password_file") or None,
        queues=tuple(dict.fromkeys(q.strip() for q in queues if q.strip())),
        read_only=read_only,
        audit_log=str(Path(table["audit_log"]).expanduser()) if table.get("audit_log")
        else None,
        description=table.get("description", ""))
