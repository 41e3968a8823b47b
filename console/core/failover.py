"""Following a broker failover as Celery does, and saying where we are.

- A ``;`` list of URLs (``amqp://a;amqp://b``): kombu tries them in turn;
  each connect of the console tries every URL once before giving up (a
  worker does the same, forever), and the one it reached is shown.
- Redis Sentinel (``sentinel://`` with ``master_name``): every new
  connection asks the sentinels for the master. A long-lived event
  subscription is checked every few seconds: after a failover the old
  master turns replica without dropping its clients, so the capture would
  stay on it (missing anything that is not replicated, and its broadcasts
  reaching nobody): it reconnects instead.
"""

from __future__ import annotations

from typing import Any

from .secrets import mask_url


class PrimaryMoved(ConnectionError):
    """The Sentinel master is now another node: reconnect."""


def connect_retries(conn: Any) -> int:
    """``max_retries`` for ``ensure_connection`` so that every URL of a
    failover list is tried once (kombu switches URL on each failure)."""
    return max(1, len(getattr(conn, "alt", None) or ()) - 1)


def current_broker(conn: Any, url: str) -> str:
    """The URL this connection reached, masked, with its place in a failover
    list: ``amqp://guest:****@b:5672// (2 of 2)``; the URL alone otherwise."""
    urls = [u for u in url.split(";") if u]
    try:
        here = conn.as_uri(include_password=False)
    except Exception:
        return mask_url(url)
    if len(urls) < 2:
        return mask_url(url)
    hostname, port = getattr(conn, "hostname", None), getattr(conn, "port", None)
    for index, candidate in enumerate(urls, 1):
        if _same_host(candidate, hostname, port):
            return f"{mask_url(candidate)} ({index} of {len(urls)})"
    return mask_url(here)


def _same_host(url: str, hostname: object, port: object) -> bool:
    from kombu.utils.url import url_to_parts

    try:
        parts = url_to_parts(url)
    except Exception:
        return False
    return parts.hostname == hostname and (parts.port is None or port is None
                                           or int(parts.port) == int(str(port)))


def check_primary(channel: Any) -> None:
    """Raise PrimaryMoved when a Sentinel-managed subscription sits on a
    node that is no longer the master (one round trip to a sentinel)."""
    subclient = getattr(channel, "__dict__", {}).get("subclient")
    connection = getattr(subclient, "connection", None)
    pool = getattr(connection, "connection_pool", None)
    if connection is None or pool is None or not getattr(pool, "is_master", False):
        return
    here = (connection.host, connection.port)
    if not here[0]:
        return
    master = tuple(pool.get_master_address())
    if master != here:
        raise PrimaryMoved(f"Sentinel failover: {here[0]}:{here[1]} is no longer the "
                           f"master ({master[0]}:{master[1]} is)")
