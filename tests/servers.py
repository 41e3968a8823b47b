"""Servers the tests start themselves, on free ports on 127.0.0.1, in a tmp
dir, and stop again: TLS Redis, a TLS RabbitMQ node, Redis with a replica
and a sentinel. Never the machine's own services.

Certificates are made here with openssl: a CA, a server certificate for
127.0.0.1/localhost, a client certificate, and a second CA that signed
none of them (the "wrong CA")."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from brokers import IN_CI, free_port, port_open, stop_process_group, wait_until


def need(program: str, install: str) -> str:
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed: {install}"
        if IN_CI:
            pytest.fail(message + " (.ci/run installs it)")
        pytest.skip(message)
    return path


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    wrong_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(folder: Path) -> Certs:
    need("openssl", "apt-get install openssl")
    folder.mkdir(parents=True, exist_ok=True)
    ext = folder / "server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\n")
    client_ext = folder / "client.ext"
    client_ext.write_text("extendedKeyUsage=clientAuth\n")
    for ca in ("ca", "wrong-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                 "-subj", f"/CN=console-test-{ca}", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.pem", cwd=folder)
    for who, extfile in (("server", ext), ("client", client_ext)):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj",
                 f"/CN={'127.0.0.1' if who == 'server' else 'console-test-client'}",
                 "-keyout", f"{who}.key", "-out", f"{who}.csr", cwd=folder)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", str(extfile),
                 "-out", f"{who}.pem", cwd=folder)
    for key in folder.glob("*.key"):
        key.chmod(0o644)  # RabbitMQ runs as its own user in some setups
    return Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key",
                 folder / "client.pem", folder / "client.key", folder / "wrong-ca.pem")


class Server:
    """One process of ours, stopped (its whole group) on close."""

    def __init__(self, args: list[str], log: Path, port: int, env: dict | None = None,
                 cwd: Path | None = None):
        self.port = port
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                            start_new_session=True)

    def wait_ready(self, ready, timeout: float, what: str) -> None:
        if not wait_until(lambda: self.process.poll() is not None or ready(), timeout, 0.2) \
                or self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            self.close()
            raise AssertionError(f"{what} did not start:\n{tail}")

    def close(self) -> None:
        stop_process_group(self.process)


# ------------------------------------------------------------------ Redis
def redis_server(folder: Path, *extra: str, port: int | None = None, tls: Certs | None = None,
                 name: str = "redis") -> Server:
    binary = need("redis-server", "apt-get install redis-server")
    port = port or free_port()
    args = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(folder), "--daemonize", "no"]
    if tls is not None:
        args += ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(tls.server_cert),
                 "--tls-key-file", str(tls.server_key), "--tls-ca-cert-file", str(tls.ca),
                 "--tls-auth-clients", "yes"]
    else:
        args += ["--port", str(port)]
    server = Server(args + list(extra), folder / f"{name}-{port}.log", port)
    server.wait_ready(lambda: port_open("127.0.0.1", port), 20, name)
    return server


# --------------------------------------------------------------- RabbitMQ
def rabbitmq_tls_node(folder: Path, certs: Certs) -> Server:
    """A second RabbitMQ node of our own (its own name, ports, mnesia and
    config in ``folder``) with a TLS listener and a plain one."""
    need("rabbitmq-server", "apt-get install rabbitmq-server")
    # The real script, not Debian's wrapper (which runs it as the rabbitmq
    # user with the machine's node settings).
    server_bin = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    if not os.path.exists(server_bin):
        server_bin = shutil.which("rabbitmq-server") or server_bin
    folder.mkdir(parents=True, exist_ok=True)
    amqp_port, tls_port, dist_port = free_port(), free_port(), free_port()
    name = f"console-tls-{os.getpid()}-{amqp_port}@localhost"
    conf = folder / "rabbitmq.conf"
    conf.write_text(f"""
listeners.tcp.default = 127.0.0.1:{amqp_port}
listeners.ssl.default = 127.0.0.1:{tls_port}
ssl_options.cacertfile = {certs.ca}
ssl_options.certfile = {certs.server_cert}
ssl_options.keyfile = {certs.server_key}
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true
loopback_users = none
management.tcp.port = {free_port()}
""")
    (folder / "enabled_plugins").write_text("[].\n")
    env = dict(os.environ)
    env.update({
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_CONFIG_FILE": str(conf),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        "RABBITMQ_ENABLED_PLUGINS": "",
        "RABBITMQ_PID_FILE": str(folder / "node.pid"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
        # Its own Erlang cookie, made in its own home: the machine's node
        # and its cookie are never touched.
        "HOME": str(folder),
    })
    (folder / "rabbitmq-env.conf").write_text("")
    server = Server([server_bin], folder / "rabbitmq.out", tls_port, env=env, cwd=folder)
    server.amqp_port = amqp_port  # type: ignore[attr-defined]
    server.nodename = name  # type: ignore[attr-defined]
    server.wait_ready(lambda: port_open("127.0.0.1", tls_port) and
                      port_open("127.0.0.1", amqp_port), 120, "the TLS RabbitMQ node")
    return server


def wait_port_closed(port: int, timeout: float = 20) -> bool:
    return wait_until(lambda: not port_open("127.0.0.1", port), timeout)


# ---------------------------------------------------------------- Sentinel
class SentinelSet:
    """A master, a replica and one sentinel watching them as ``mymaster``."""

    MASTER = "mymaster"

    def __init__(self, folder: Path):
        self.folder = folder
        self.master = redis_server(folder / "m", name="master") if _mk(folder / "m") else None
        assert self.master is not None
        self.replica = redis_server(folder / "r", "--replicaof", "127.0.0.1",
                                    str(self.master.port), name="replica") \
            if _mk(folder / "r") else None
        assert self.replica is not None
        binary = need("redis-server", "apt-get install redis-server")
        self.port = free_port()
        conf = folder / "sentinel.conf"
        conf.write_text(f"""port {self.port}
bind 127.0.0.1
dir {folder}
sentinel monitor {self.MASTER} 127.0.0.1 {self.master.port} 1
sentinel down-after-milliseconds {self.MASTER} 2000
sentinel failover-timeout {self.MASTER} 10000
sentinel parallel-syncs {self.MASTER} 1
""")
        # redis-server in sentinel mode is what the redis-sentinel package runs.
        self.sentinel = Server([binary, str(conf), "--sentinel"], folder / "sentinel.log",
                               self.port)
        self.sentinel.wait_ready(lambda: self.replicas_known() >= 1, 60,
                                 "the sentinel (with its replica)")

    def _client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def replicas_known(self) -> int:
        try:
            return sum(1 for r in self._client().sentinel_slaves(self.MASTER)
                       if "s_down" not in r.get("flags", "") and r.get("is_slave"))
        except Exception:
            return 0

    def master_port(self) -> int | None:
        try:
            address = self._client().sentinel_get_master_addr_by_name(self.MASTER)
        except Exception:
            return None
        return int(address[1]) if address else None

    def role(self, server: Server) -> str | None:
        import redis

        try:
            return redis.Redis(host="127.0.0.1", port=server.port,
                               socket_timeout=2).info("replication").get("role")
        except Exception:
            return None

    def failover(self) -> None:
        self._client().execute_command("SENTINEL", "FAILOVER", self.MASTER)

    def close(self) -> None:
        for server in (self.sentinel, self.replica, self.master):
            server.close()


def _mk(folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return True
