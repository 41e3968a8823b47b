"""Finding the Celery app and its broker, with clear messages when we can't."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu import Connection

from .secrets import mask_url, scrub

# sysexits.h codes, so scripts can tell "bad input" from "broker down".
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CONFIG = 78

DEMO_HINT = "or try `console --demo` for a whole cluster that needs no broker"


class ConsoleError(Exception):
    """An error with a message meant for a person, and an exit code."""

    def __init__(self, message: str, exit_code: int = EX_UNAVAILABLE):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass
class Target:
    """The app we operate on and where its broker is."""

    app: Celery
    app_name: str | None = None
    # Pins the URL shown and used for probes, whatever the environment says
    # (the deterministic sample cluster needs that).
    url: str | None = None
    # Where the capture is connected (masked; for a failover list, which
    # URL and its place): set by Capture on each connect.
    current: str | None = None

    @property
    def shown_url(self) -> str:
        """What the header shows: the broker reached, when known."""
        return self.current or self.masked_url

    @property
    def broker_url(self) -> str:
        # Never shown: use masked_url for anything a person or a file sees.
        return (self.url or self.app.conf.broker_url
                or "amqp://guest:guest@localhost:5672//")

    @property
    def masked_url(self) -> str:
        return mask_url(self.broker_url)

    @property
    def transport(self) -> str:
        return transport_name(self.broker_url)

    def scrub(self, text: object) -> str:
        return scrub(text, self.broker_url)

    def connection_for_read(self, **kwargs: Any) -> Connection:
        conn: Connection = self.app.connection_for_read(url=self.url, **kwargs)
        return conn

    def connection_for_write(self, **kwargs: Any) -> Connection:
        conn: Connection = self.app.connection_for_write(url=self.url, **kwargs)
        return conn


def transport_name(url: str) -> str:
    """The kombu transport's short name (``amqp``, ``redis``, ``filesystem``)."""
    try:
        driver: str = Connection(url).transport.driver_type
        return driver
    except Exception:  # a URL kombu cannot parse: validate_url says why
        return url.split("://", 1)[0] if "://" in url else "unknown"


def load_app(app_name: str | None = None, broker: str | None = None,
             app: Celery | None = None) -> Target:
    """Resolve ``-A`` the way Celery does and apply ``-b``.

    ``app`` is given when Celery's own CLI already loaded it
    (``celery -A proj console``).
    """
    if app is None:
        known = (broker, os.environ.get("CELERY_BROKER_URL"))
        app = _import_app(app_name, known) if app_name else Celery("console")
    if broker:
        # Celery's Settings read CELERY_BROKER_URL before broker_url, so the
        # environment has to agree with -b (Celery's own -b does the same).
        os.environ["CELERY_BROKER_URL"] = broker
        app.conf.broker_url = broker
    target = Target(app=app, app_name=app_name)
    validate_url(target)
    return target


def _import_app(app_name: str, urls: Iterable[str | None] = ()) -> Celery:
    from celery.app.utils import find_app

    # Celery resolves -A relative to the working directory.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = find_app(app_name)
    except ModuleNotFoundError as exc:
        raise ConsoleError(
            f"Cannot load the Celery app {app_name!r}: no module named "
            f"{exc.name!r}. Give -A the module that defines your app "
            f"(e.g. `-A proj`, `-A proj.celery` or `-A proj.celery:app`), run "
            f"from the directory that contains it, {DEMO_HINT}.",
            EX_USAGE) from None
    except (AttributeError, ImportError) as exc:
        raise ConsoleError(
            f"Cannot load the Celery app {app_name!r}: {scrub(exc, *urls)}. "
            f"Name the app object with `-A module:attribute`, {DEMO_HINT}.",
            EX_USAGE) from None
    except SystemExit as exc:  # not an Exception: it exited silently before
        raise ConsoleError(
            f"Importing {app_name!r} called sys.exit({scrub(exc.code, *urls)}). "
            f"Fix the module (it must import cleanly), {DEMO_HINT}.",
            EX_SOFTWARE) from None
    except Exception as exc:  # the user's module raised while importing
        raise ConsoleError(
            f"Importing {app_name!r} raised {type(exc).__name__}: "
            f"{scrub(exc, *urls)}. Fix the module (it must import cleanly), "
            f"{DEMO_HINT}.", EX_SOFTWARE) from None
    if not isinstance(found, Celery):
        raise ConsoleError(
            f"{app_name!r} is a {type(found).__name__}, not a Celery app. "
            f"Name the app object with `-A module:attribute`.", EX_USAGE)
    return found


def validate_url(target: Target) -> None:
    url = target.broker_url
    try:
        Connection(url).transport  # noqa: B018 -- resolves and imports the transport
    except ImportError as exc:
        raise missing_library(target, exc) from None
    except Exception as exc:
        raise ConsoleError(
            f"The broker URL {target.masked_url} is not usable: "
            f"{target.scrub(_reason(exc))}. Use a URL like "
            f"amqp://user:password@host:5672/vhost or redis://host:6379/0, "
            f"{DEMO_HINT}.", EX_USAGE) from None


def check_broker(target: Target, timeout: float = 5.0) -> None:
    """Connect once, or raise a ConsoleError that says what to do."""
    try:
        with target.connection_for_read(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            # Redis connects lazily: make it really talk to the server.
            conn.default_channel  # noqa: B018
    except ImportError as exc:
        raise missing_library(target, exc) from None
    except Exception as exc:
        raise broker_unreachable(target, exc) from None


def missing_library(target: Target, exc: ImportError) -> ConsoleError:
    scheme = target.broker_url.split("://", 1)[0]
    return ConsoleError(
        f"The {scheme} transport needs a library that is not installed "
        f"({scrub(exc, target.broker_url)}). For Redis install the extra: "
        f"`pip install 'celery-console[redis]'` (from a checkout: "
        f"`pip install '.[redis]'`).", EX_CONFIG)


def tls_failure(exc: BaseException) -> str | None:
    """What went wrong in the TLS handshake, when that is why a connection
    failed (the error comes wrapped by redis-py, kombu or py-amqp)."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {current.verify_message}"
        if isinstance(current, ssl.SSLError):
            if current.reason:
                return str(current.reason).replace("_", " ").lower()
            return re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(current))
        current = current.__cause__ or current.__context__
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "certificate verify failed" + (
            ": " + text.split("certificate verify failed:", 1)[1].split("(_ssl")[0].strip()
            if "certificate verify failed:" in text else "")
    if "[SSL" in text:
        return text[text.index("[SSL"):].split("(_ssl")[0].strip()
    return None


def broker_unreachable(target: Target, exc: BaseException) -> ConsoleError:
    tls = tls_failure(exc)
    if tls is not None:
        return ConsoleError(
            f"TLS to the broker at {target.masked_url} failed: {target.scrub(tls)}. "
            f"Check the CA, client certificate and verify mode in the app's "
            f"broker_use_ssl (ca_certs/ssl_ca_certs, certfile, keyfile, cert_reqs).",
            EX_UNAVAILABLE)
    return ConsoleError(
        f"Cannot reach the broker at {target.masked_url}: "
        f"{target.scrub(_reason(exc))}. Check that the broker is running and "
        f"that the URL is right (-b/--broker, CELERY_BROKER_URL or the app's "
        f"broker_url), {DEMO_HINT}.", EX_UNAVAILABLE)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]  # KeyError quotes its message
    return (text or type(exc).__name__).rstrip(".")
