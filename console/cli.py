"""Command line: `console`, `console status`, and `celery -A proj console`."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from dataclasses import dataclass

import click

from . import __version__
from .core.connection import EX_SOFTWARE, ConsoleError, Target, load_app
from .core.secrets import scrub
from .text import one_line, safe_block


@dataclass
class Options:
    """What the TUI needs from the command line."""

    read_only: bool = False
    max_tasks: int = 100_000
    enable_events: bool = True
    inspect_interval: float = 10.0
    probe_interval: float = 2.0
    queues: tuple[str, ...] = ()
    demo: bool = False
    audit_log: str | None = None
    log_file: str | None = None


class _Seconds(click.FloatRange):
    """A FloatRange that also refuses nan and inf, which pass its bounds
    check: `--wait inf` never returned and a nan interval started the TUI."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return number


def _split_queues(ctx, param, value) -> tuple[str, ...]:
    names: list[str] = []
    for item in value or ():
        names.extend(q.strip() for q in item.split(",") if q.strip())
    return tuple(dict.fromkeys(names))


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"],
                      "max_content_width": 100},
    epilog="Run `console --demo` to try it on an embedded cluster that needs "
           "no broker. As a Celery plugin: `celery -A proj console`.")
@click.option("-A", "--app", "app_name", metavar="MODULE",
              help="Celery app, as `celery -A` resolves it (proj, proj.celery, proj:app).")
@click.option("-b", "--broker", metavar="URL",
              help="Broker URL (default: the app's broker_url, CELERY_BROKER_URL, "
                   "or Celery's default amqp://guest@localhost//).")
@click.option("--demo", is_flag=True,
              help="Start an embedded demo cluster (workers + load, no broker needed) "
                   "and attach to it.")
@click.option("--read-only", is_flag=True,
              help="Monitor only: every action that changes the cluster is refused.")
@click.option("--max-tasks", type=click.IntRange(min=1), default=100_000,
              show_default=True, help="Tasks held in memory (least recently updated go first).")
@click.option("--enable-events/--no-enable-events", default=True, show_default=True,
              help="Broadcast enable_events every 5 s so workers send events.")
@click.option("--inspect-interval", type=_Seconds(min=0.5), default=10.0,
              show_default=True, metavar="SECONDS", help="Seconds between inspection rounds.")
@click.option("--probe-interval", type=_Seconds(min=0.5), default=2.0,
              show_default=True, metavar="SECONDS", help="Seconds between queue depth probes.")
@click.option("-Q", "--queues", multiple=True, callback=_split_queues, metavar="NAMES",
              help="Extra queue names to watch (comma-separated, repeatable).")
@click.option("--audit-log", metavar="PATH", type=click.Path(dir_okay=False),
              help="Audit file, one JSON line per action "
                   "(default: ~/.local/state/celery-console/audit.jsonl).")
@click.option("--log-file", metavar="PATH", type=click.Path(dir_okay=False),
              help="The console's own log: internal errors with tracebacks "
                   "(default: ~/.local/state/celery-console/console.log).")
@click.version_option(__version__, "-V", "--version", prog_name="celery-console")
@click.pass_context
def cli(ctx, app_name, broker, demo, read_only, max_tasks, enable_events,
        inspect_interval, probe_interval, queues, audit_log, log_file):
    """An operator console for Celery: live workers, tasks and queues, with
    remote control and purge behind confirmations."""
    celery_app = getattr(ctx.obj, "app", None)  # set by `celery -A proj`
    ctx.meta["console.connect"] = (app_name, broker, celery_app)
    ctx.meta["console.queues"] = queues
    ctx.meta["console.read_only"] = read_only
    ctx.meta["console.audit_log"] = audit_log
    ctx.meta["console.log_file"] = log_file
    if ctx.invoked_subcommand is not None:
        if demo:
            raise click.UsageError("--demo starts the console; it does not combine with a command.")
        return
    options = Options(read_only=read_only, max_tasks=max_tasks,
                      enable_events=enable_events, inspect_interval=inspect_interval,
                      probe_interval=probe_interval, queues=queues, demo=demo,
                      audit_log=audit_log, log_file=log_file)
    if demo:
        from .demo import DemoCluster
        with DemoCluster() as cluster:
            _run_tui(cluster.target(), options)
        return
    _run_tui(_target(ctx), options)


def connection_options(command):
    """``console status -b URL`` works as ``console -b URL status`` does: the
    connection options are taken after the command too (given in both
    places, the one after the command wins)."""

    @functools.wraps(command)
    def wrapper(*args, sub_app=None, sub_broker=None, sub_queues=(), sub_read_only=False,
                sub_audit_log=None, sub_log_file=None, **kwargs):
        meta = click.get_current_context().find_root().meta
        app_name, broker, celery_app = meta["console.connect"]
        meta["console.connect"] = (sub_app or app_name, sub_broker or broker, celery_app)
        if sub_queues:
            meta["console.queues"] = tuple(dict.fromkeys((*meta["console.queues"],
                                                          *sub_queues)))
        meta["console.read_only"] = meta["console.read_only"] or sub_read_only
        meta["console.audit_log"] = sub_audit_log or meta["console.audit_log"]
        meta["console.log_file"] = sub_log_file or meta["console.log_file"]
        return command(*args, **kwargs)

    for option in (
        click.option("--log-file", "sub_log_file", metavar="PATH",
                     type=click.Path(dir_okay=False), help="As before the command."),
        click.option("--audit-log", "sub_audit_log", metavar="PATH",
                     type=click.Path(dir_okay=False), help="As before the command."),
        click.option("--read-only", "sub_read_only", is_flag=True,
                     help="As before the command."),
        click.option("-Q", "--queues", "sub_queues", multiple=True, callback=_split_queues,
                     metavar="NAMES", help="As before the command."),
        click.option("-b", "--broker", "sub_broker", metavar="URL",
                     help="As before the command: the broker URL."),
        click.option("-A", "--app", "sub_app", metavar="MODULE",
                     help="As before the command: the Celery app."),
    ):
        wrapper = option(wrapper)
    return wrapper


def _target(ctx) -> Target:
    app_name, broker, celery_app = ctx.find_root().meta["console.connect"]
    if app_name:
        celery_app = None  # an explicit -A wins over the plugin's app
    target = load_app(app_name, broker, app=celery_app)
    _setup_logging(ctx.find_root().meta.get("console.log_file"), target)
    return target


def _setup_logging(path: str | None, target: Target) -> None:
    from .core.logs import setup_logging

    try:
        setup_logging(path, target.broker_url)
    except OSError as exc:
        raise ConsoleError(f"cannot write the log file {path or '(default)'}: "
                           f"{exc.strerror or exc}", EX_SOFTWARE) from None


def _run_tui(target: Target, options: Options) -> None:
    from .ui.app import ConsoleApp  # Textual loads only for the TUI

    _setup_logging(options.log_file, target)
    ConsoleApp(target, options).run()


@cli.command()
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--wait", type=_Seconds(min=0), default=3.0, show_default=True,
              metavar="SECONDS", help="Seconds to listen for events before answering.")
@click.option("--timeout", type=_Seconds(min=0.1), default=1.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for workers' replies.")
@click.pass_context
def status(ctx, as_json, wait, timeout):
    """Print workers, task counts and queue depths, then exit.

    Exit 0 when at least one worker answers, 69 when none does."""
    from .core.connection import EX_UNAVAILABLE
    from .core.status import collect_status

    target = _target(ctx)
    report = collect_status(target, wait=wait, inspect_timeout=timeout,
                            extra_queues=ctx.find_root().meta["console.queues"])
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        from .report import render_status
        render_status(report)
    if not report["workers_online"] and not report["workers_replied"]:
        raise ConsoleError(
            f"No worker answered within {wait + timeout:g} s on {target.masked_url}. "
            "Start one (e.g. `celery -A console.companion worker`) or check that "
            "workers use this broker and vhost/db.", EX_UNAVAILABLE)


@cli.command()
@connection_options
@click.argument("queues", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask: purge at once (for scripts).")
@click.pass_context
def purge(ctx, queues, yes):
    """Purge QUEUES (one or more names) and print what was removed from each.

    Refuses queues the broker does not have; asks on a terminal unless --yes.
    Exit 0 when every queue was purged, 1 otherwise."""
    from .core.actions import Actions, InvalidInput, valid_queue
    from .core.audit import AuditLog
    from .core.broker import QueueProbe
    from .core.connection import check_broker
    from .core.state import ClusterState

    root = ctx.find_root().meta
    target = _target(ctx)
    try:
        names = [valid_queue(q) for q in dict.fromkeys(queues)]
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    actions = Actions(target, ClusterState(), AuditLog(root["console.audit_log"],
                      target.broker_url), read_only=root["console.read_only"])
    if actions.read_only:
        actions.purge(names)  # refused (and audited) in core
    check_broker(target)
    depths = QueueProbe(target).probe(names)
    missing = [n for n, d in depths.items() if d.exists is False]
    broken = {n: d.error for n, d in depths.items() if d.error}
    if missing or broken:
        problems = [f"{n}: no such queue on {target.masked_url}" for n in missing]
        problems += [f"{n}: {e}" for n, e in broken.items()]
        raise ConsoleError("Nothing purged. " + "; ".join(problems)
                           + ". Check the name (`console status` lists known queues).", 1)
    for name in names:
        click.echo(f"{name}: {depths[name].messages:,} messages")
    if not yes:
        if not sys.stdin.isatty():
            raise ConsoleError("Not purging: no terminal to confirm on. Pass --yes.", 1)
        click.confirm(f"Purge {len(names)} queue(s) listed above?", abort=True)
    outcome = actions.purge(names)
    for name, result in outcome.results.items():
        if result.ok:
            click.echo(f"{name}: purged {result.count or 0:,}")
        else:
            click.echo(f"{name}: FAILED ({result.kind.value}): {one_line(result.text)}",
                       err=True)
    if outcome.status != "ok":
        raise ConsoleError(outcome.summary, 1)


def main(argv=None) -> None:
    """The `console` script: clear messages, never a traceback."""
    try:
        cli.main(args=argv, prog_name="console", standalone_mode=False)
    except ConsoleError as exc:
        click.echo(f"console: {safe_block(exc.message)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("CONSOLE_DEBUG"):
            raise
        broker = os.environ.get("CELERY_BROKER_URL", "")
        click.echo(f"console: unexpected error: {type(exc).__name__}: "
                   f"{one_line(scrub(exc, broker))} (set CONSOLE_DEBUG=1 for a traceback)",
                   err=True)
        sys.exit(EX_SOFTWARE)
    else:
        sys.exit(0)


class _CeleryPlugin(click.Group):
    """`celery -A proj console`: the same commands, with errors printed as
    `console` prints them instead of as tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConsoleError as exc:
            click.echo(f"console: {safe_block(exc.message)}", err=True)
            ctx.exit(exc.exit_code)


celery_command = _CeleryPlugin(
    name="console", callback=cli.callback, params=cli.params,
    commands=cli.commands, invoke_without_command=True,
    help=cli.help, epilog=cli.epilog, context_settings=cli.context_settings)
