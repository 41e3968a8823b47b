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
    # Contexts and keymap (console/core/config.py): the file read, the
    # context attached to (None: -A/-b), the theme to start with and
    # whether a change of theme is remembered (off in tests).
    config: object = None
    context: str | None = None
    theme: str | None = None
    remember_theme: bool = False
    # The command line's own, kept for every context `:ctx` switches to.
    base_read_only: bool = False
    base_queues: tuple[str, ...] = ()
    base_audit_log: str | None = None
    export_dir: str | None = None
    record: str | None = None
    record_size: int = 256 * 2**20
    stuck_floor: float = 60.0
    stuck_factor: float = 5.0


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
@click.option("--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False),
              help="The config file (default: ~/.config/celery-console/config.toml, "
                   "or $CELERY_CONSOLE_CONFIG).")
@click.option("--context", "context_name", metavar="NAME",
              help="Attach to this named context of the config file "
                   "(`console contexts` lists them).")
@click.option("--record", metavar="FILE", type=click.Path(dir_okay=False),
              help="Append every event received to FILE, one JSON line each, as it "
                   "arrives (mode 0600; broker passwords masked). `console replay FILE` "
                   "plays it back.")
@click.option("--record-size", metavar="SIZE", default="256MB", show_default=True,
              help="Rotate the recording at this size: FILE becomes FILE.1 (replacing an "
                   "older one), so at most about twice SIZE is kept.")
@click.option("--export-dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Folder for ctrl+s exports (default: ~/celery-console-exports).")
@click.option("--stuck-floor", type=_Seconds(min=0), default=60.0, show_default=True,
              metavar="SECONDS", help="A task STARTED longer than the larger of this and "
              "--stuck-factor × its type's runtime p99 is flagged stuck.")
@click.option("--stuck-factor", type=_Seconds(min=0), default=5.0, show_default=True,
              metavar="K", help="See --stuck-floor.")
@click.version_option(__version__, "-V", "--version", prog_name="celery-console")
@click.pass_context
def cli(ctx, app_name, broker, demo, read_only, max_tasks, enable_events,
        inspect_interval, probe_interval, queues, audit_log, log_file, record,
        record_size, export_dir, stuck_floor, stuck_factor, config_path=None,
        context_name=None):
    """An operator console for Celery: live workers, tasks and queues, with
    remote control and purge behind confirmations."""
    celery_app = getattr(ctx.obj, "app", None)  # set by `celery -A proj`
    ctx.meta["console.connect"] = (app_name, broker, celery_app)
    ctx.meta["console.queues"] = queues
    ctx.meta["console.read_only"] = read_only
    ctx.meta["console.audit_log"] = audit_log
    ctx.meta["console.log_file"] = log_file
    ctx.meta["console.config"] = (config_path, context_name)
    ctx.meta["console.export_dir"] = export_dir
    ctx.meta["console.stuck"] = (stuck_floor, stuck_factor)
    if ctx.invoked_subcommand is not None:
        if demo:
            raise click.UsageError("--demo starts the console; it does not combine with a command.")
        if record:
            raise click.UsageError("--record goes with the console itself, not a command.")
        return
    from .core.record import parse_size
    try:
        size = parse_size(record_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--record-size") from None
    options = Options(read_only=read_only, max_tasks=max_tasks,
                      enable_events=enable_events, inspect_interval=inspect_interval,
                      probe_interval=probe_interval, queues=queues, demo=demo,
                      audit_log=audit_log, log_file=log_file, base_read_only=read_only,
                      base_queues=queues, base_audit_log=audit_log, export_dir=export_dir,
                      record=record, record_size=size,
                      stuck_floor=stuck_floor, stuck_factor=stuck_factor)
    if demo:
        from .demo import DemoCluster
        with DemoCluster() as cluster:
            _run_tui(cluster.target(), options)
        return
    target = _target(ctx)
    root = ctx.find_root().meta
    options.read_only = root["console.read_only"]
    options.queues = root["console.queues"]
    options.audit_log = root["console.audit_log"]
    options.config, options.context = root.get("console.loaded", (None, None))
    if options.config is None and root["console.config"][0]:
        from .core.config import load_config
        options.config = load_config(root["console.config"][0])
    _run_tui(target, options)


def connection_options(command):
    """``console status -b URL`` works as ``console -b URL status`` does: the
    connection options are taken after the command too (given in both
    places, the one after the command wins)."""

    @functools.wraps(command)
    def wrapper(*args, sub_app=None, sub_broker=None, sub_queues=(), sub_read_only=False,
                sub_audit_log=None, sub_log_file=None, sub_context=None, **kwargs):
        meta = click.get_current_context().find_root().meta
        if sub_context:
            meta["console.config"] = (meta["console.config"][0], sub_context)
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
        click.option("--context", "sub_context", metavar="NAME",
                     help="As before the command: a context of the config file."),
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
    meta = ctx.find_root().meta
    app_name, broker, celery_app = meta["console.connect"]
    if app_name:
        celery_app = None  # an explicit -A wins over the plugin's app
    opened = _open_context(meta, app_name, broker, celery_app)
    target = opened.target if opened else load_app(app_name, broker, app=celery_app)
    _setup_logging(meta.get("console.log_file"), target)
    return target


def _open_context(meta, app_name, broker, celery_app):
    """The context named by --context (or the file's default_context when
    neither -A, -b nor `celery -A` chose a cluster): its target, and its
    read-only flag, queues and audit file folded into the options."""
    from .core.config import load_config
    from .core.contexts import open_context

    config_path, name = meta.get("console.config", (None, None))
    if name is None and (app_name or broker or celery_app):
        return None  # -A/-b choose the cluster; the TUI still reads the keymap
    config = load_config(config_path)
    meta["console.loaded"] = (config, None)
    name = name or config.default_context
    if name is None:
        return None
    if app_name:
        raise click.UsageError("--context names the cluster: it does not combine with -A.")
    opened = open_context(config.context(name), read_only=meta["console.read_only"],
                          queues=meta["console.queues"], audit_log=meta["console.audit_log"],
                          broker=broker)
    meta["console.read_only"] = opened.read_only
    meta["console.queues"] = opened.queues
    meta["console.audit_log"] = opened.audit_log
    meta["console.loaded"] = (config, name)
    return opened


def _setup_logging(path: str | None, target: Target) -> None:
    from .core.logs import setup_logging

    try:
        setup_logging(path, target.broker_url)
    except OSError as exc:
        raise ConsoleError(f"cannot write the log file {path or '(default)'}: "
                           f"{exc.strerror or exc}", EX_SOFTWARE) from None


def _run_tui(target: Target, options: Options) -> None:
    from .core.config import load_config
    from .core.uistate import UiState
    from .ui.app import ConsoleApp  # Textual loads only for the TUI
    from .ui.keymap import check_keymap

    _setup_logging(options.log_file, target)
    if options.config is None:
        options.config = load_config(None)
    check_keymap(options.config)
    options.theme = UiState.load().theme
    options.remember_theme = True
    recorder = None
    if options.record:
        from .core.record import Recorder, RecordError
        try:
            recorder = Recorder(options.record, max_bytes=options.record_size,
                                broker_url=target.broker_url).open()
        except RecordError as exc:
            raise ConsoleError(str(exc), EX_SOFTWARE) from None
    from .core.heap import HEAP

    HEAP.install()
    try:
        ConsoleApp(target, options, recorder=recorder).run()
    finally:
        if recorder is not None:
            recorder.close()


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(dir_okay=False, exists=True))
@click.option("--speed", default="1", show_default=True, metavar="N|max",
              help="Times real time (10 plays a minute in 6 s), or max: as fast as "
                   "possible.")
@click.option("--paused", is_flag=True, help="Open paused on the first event "
              "(z resumes, . steps).")
@click.pass_context
def replay(ctx, files, speed, paused):
    """Open the console's screens over a recording: FILES are `--record`
    files (give FILE.1 before FILE for a rotated one) or any JSON-lines
    event stream, played in turn.

    No broker is needed and none is asked: read-only, no inspections or
    probes. The model's clock follows the recording; z pauses and resumes,
    `.` applies the next event. Lines that are not JSON are counted and
    skipped."""
    from .core.replay import Recording, Replayer, parse_speed

    try:
        chosen = parse_speed(speed)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--speed") from None
    recording = Recording(files)
    try:
        recording.check()
    except OSError as exc:
        raise ConsoleError(f"cannot read the recording: {exc.strerror or exc}", 1) from None
    root = ctx.find_root()
    options = Options(read_only=True, max_tasks=root.params["max_tasks"],
                      audit_log=root.meta["console.audit_log"],
                      log_file=root.meta["console.log_file"],
                      export_dir=root.meta["console.export_dir"])
    target = replay_target()
    _setup_logging(options.log_file, target)
    stuck_floor, stuck_factor = root.meta["console.stuck"]
    player = Replayer(recording, speed=chosen, max_tasks=options.max_tasks,
                      stuck_floor=stuck_floor, stuck_factor=stuck_factor)
    player.paused = paused
    from .core.heap import HEAP
    from .ui.app import ConsoleApp

    HEAP.install()
    ConsoleApp(target, options, replay=player).run()


def replay_target() -> Target:
    """What a replay shows where the broker would be: the recording's name.
    Nothing connects to it (no capture, inspection or probe runs)."""
    from celery import Celery

    app = Celery("replay", set_as_current=False)
    app.conf.broker_url = "memory://"
    return Target(app=app, app_name=None, url="memory://")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def contexts(ctx, as_json):
    """List the config file's contexts: the broker (masked), where each
    password comes from (never the password), queues, read-only."""
    from .core.config import load_config
    from .core.contexts import context_rows

    config_path, current = ctx.find_root().meta["console.config"]
    config = load_config(config_path)
    rows = context_rows(config, current)
    if as_json:
        click.echo(json.dumps({"config": str(config.path), "exists": config.exists,
                               "contexts": rows}, indent=2))
        return
    if not rows:
        click.echo(f"No contexts in {config.path}"
                   + ("" if config.exists else " (no such file)")
                   + ": add [contexts.NAME] tables (see the README).")
        return
    click.echo(f"Contexts in {config.path}:")
    for row in rows:
        mark = "*" if row["default"] else " "
        where = f"-A {row['app']}" if row["app"] and not row["broker"] else row["broker"]
        extra = []
        if row["password"]:
            extra.append(f"password from {row['password']}")
        if row["queues"]:
            extra.append("queues " + ",".join(map(str, row["queues"])))
        extra.append("read-only" if row["read_only"] else "writable")
        click.echo(f"{mark} {one_line(str(row['name']), 30):<16} {one_line(str(where), 80)}"
                   f"  ({'; '.join(extra)})")


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
    floor, factor = ctx.find_root().meta["console.stuck"]
    report = collect_status(target, wait=wait, inspect_timeout=timeout,
                            extra_queues=ctx.find_root().meta["console.queues"],
                            stuck_floor=floor, stuck_factor=factor)
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


def _actions(ctx, target: Target):
    from .core.actions import Actions
    from .core.audit import AuditLog
    from .core.state import ClusterState

    root = ctx.find_root().meta
    return Actions(target, ClusterState(), AuditLog(root["console.audit_log"],
                   target.broker_url), read_only=root["console.read_only"])


def _confirm(yes: bool, question: str, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise ConsoleError(f"Not {what}: no terminal to confirm on. Pass --yes.", 1)
    click.confirm(question, abort=True)


def _print_selection(selection, match_text: str, verb: str) -> None:
    """What a selective purge or move will take, before it asks."""
    click.echo(f"{one_line(selection.queue)}: {selection.depth or 0:,} messages; "
               f"of {selection.scope}, {selection.matched:,} match "
               f"{one_line(match_text) or '(everything)'} and will be {verb}, "
               f"{selection.kept:,} stay")
    for name, n in sorted(selection.by_name.items(), key=lambda kv: -kv[1])[:10]:
        click.echo(f"  {n:>9,}  {one_line(name, 80)}")
    held = selection.held
    if held is not None and held.error is None and held.tasks:
        click.echo(f"  workers already hold {len(held.tasks):,} tasks of this queue "
                   f"({held.source}): out of this operation's reach")


@cli.command()
@connection_options
@click.argument("queue")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="Messages to list (the next a worker will get).")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Messages to count and group (default: the whole queue on Redis, "
                   "the first 10,000 on RabbitMQ).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def peek(ctx, queue, limit, window, as_json):
    """Show what QUEUE holds, without consuming it: the messages grouped by
    task name, and the first ones a worker will get.

    On RabbitMQ the messages read are held for the moment of the read and
    then returned to their places (flagged redelivered). Exit 1 when the
    queue cannot be read."""
    from .core.actions import InvalidInput, valid_queue
    from .core.connection import check_broker
    from .core.surgery import Surgeon

    target = _target(ctx)
    try:
        name = valid_queue(queue)
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    check_broker(target)
    result = Surgeon(target).peek(name, limit=limit, window=window)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        from .report import render_peek
        render_peek(result)
    if result.error:
        raise ConsoleError(f"{one_line(name)}: {one_line(result.error)}", 1)


@cli.command()
@connection_options
@click.argument("queues", nargs=-1, required=True)
@click.option("--match", "match", metavar="TERMS",
              help="Remove only the messages matching these terms (the Tasks filter "
                   "language: name:, id:, args:, kwargs:, eta:, retries:, text); the "
                   "rest stay. One queue only.")
@click.option("--revoke-held", is_flag=True,
              help="With --match: also revoke the matching tasks workers already hold.")
@click.option("--yes", is_flag=True, help="Do not ask: purge at once (for scripts).")
@click.pass_context
def purge(ctx, queues, match, revoke_held, yes):
    """Purge QUEUES (one or more names) and print what was removed from each.

    Refuses queues the broker does not have; asks on a terminal unless --yes.
    Exit 0 when every queue was purged, 1 otherwise."""
    from .core.actions import InvalidInput, valid_queue
    from .core.broker import QueueProbe
    from .core.connection import check_broker

    target = _target(ctx)
    try:
        names = [valid_queue(q) for q in dict.fromkeys(queues)]
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    if match is not None:
        if len(names) != 1:
            raise click.UsageError("--match purges one queue at a time.")
        _purge_matching(ctx, target, names[0], match, revoke_held, yes)
        return
    if revoke_held:
        raise click.UsageError("--revoke-held goes with --match.")
    actions = _actions(ctx, target)
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
    _confirm(yes, f"Purge {len(names)} queue(s) listed above?", "purging")
    outcome = actions.purge(names)
    for name, result in outcome.results.items():
        if result.ok:
            click.echo(f"{name}: purged {result.count or 0:,}")
        else:
            click.echo(f"{name}: FAILED ({result.kind.value}): {one_line(result.text)}",
                       err=True)
    if outcome.status != "ok":
        raise ConsoleError(outcome.summary, 1)


def _surgery_check(ctx, target: Target, names: list[str], match: str | None):
    """Validate before anything is read: names, the match, read-only."""
    from .core.actions import InvalidInput, valid_match, valid_queue

    try:
        checked = [valid_queue(n) for n in names]
        chosen = valid_match(match)
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    return checked, chosen


def _report_surgery(outcome) -> None:
    if outcome.status == "ok":
        click.echo(one_line(outcome.summary))
        return
    for name, result in outcome.results.items():
        failed = "" if result.ok else f"FAILED ({result.kind.value}): "
        click.echo(f"{one_line(name)}: {failed}{one_line(result.text)}", err=not result.ok)
    raise ConsoleError(f"{outcome.action} {outcome.status.value}: the line above is what "
                       "is known (the audit log has it too)", 1)


def _purge_matching(ctx, target: Target, name: str, match: str, revoke_held: bool,
                    yes: bool) -> None:
    from .core.connection import check_broker
    from .core.surgery import Surgeon

    (name,), chosen = _surgery_check(ctx, target, [name], match)
    if chosen is None:
        raise click.UsageError("--match needs terms (name:…, args:…); a whole-queue purge "
                               "has no --match.")
    actions = _actions(ctx, target)
    if actions.read_only:
        actions.purge_matching(name, match)  # refused (and audited) in core
    check_broker(target)
    selection = Surgeon(target).select(name, chosen)
    if selection.error:
        raise ConsoleError(f"Nothing removed. {one_line(name)}: {one_line(selection.error)}", 1)
    _print_selection(selection, chosen.text, "removed")
    if not selection.matched:
        click.echo("Nothing matches: nothing to remove.")
        return
    _confirm(yes, f"Remove the matching messages from {one_line(name)}?", "removing")
    _report_surgery(actions.purge_matching(name, match, revoke_held=revoke_held))


@cli.command()
@connection_options
@click.argument("source")
@click.argument("destination", required=False)
@click.option("--match", "match", metavar="TERMS",
              help="Move only the messages matching these terms (as purge --match); "
                   "without it, every message.")
@click.option("--yes", is_flag=True, help="Do not ask: move at once (for scripts).")
@click.pass_context
def move(ctx, source, destination, match, yes):
    """Move messages from SOURCE to DESTINATION (default SOURCE.quarantine,
    declared like SOURCE when missing; from X.quarantine the default is X).

    Every message not moved stays in SOURCE; nothing is ever held only by
    the console. Exit 0 when the pass completed, 1 otherwise."""
    from .core.connection import check_broker
    from .core.surgery import Surgeon, default_destination

    destination = destination or default_destination(source)
    (source, destination), chosen = _surgery_check(ctx, target := _target(ctx),
                                                   [source, destination], match)
    if source == destination:
        raise click.UsageError("the destination is the source queue")
    actions = _actions(ctx, target)
    if actions.read_only:
        actions.move(source, destination, match)  # refused (and audited) in core
    check_broker(target)
    surgeon = Surgeon(target)
    selection = surgeon.select(source, chosen)
    if selection.error:
        raise ConsoleError(f"Nothing moved. {one_line(source)}: {one_line(selection.error)}", 1)
    _print_selection(selection, chosen.text if chosen else "", f"moved to {destination}")
    if surgeon.destination_exists(destination) is False:
        click.echo(f"{one_line(destination)} does not exist: it will be declared like "
                   f"{one_line(source)}")
    if not selection.matched:
        click.echo("Nothing matches: nothing to move.")
        return
    _confirm(yes, f"Move them to {one_line(destination)}?", "moving")
    _report_surgery(actions.move(source, destination, match))


@cli.command()
@connection_options
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--timeout", type=_Seconds(min=0.1), default=1.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for workers' replies.")
@click.pass_context
def task(ctx, task_id, as_json, timeout):
    """Look TASK_ID up: what the result backend knows (state, result,
    traceback, date done; name, args and worker with result_extended) and
    whether a worker still holds it.

    Exit 0 when the task is known, 1 when neither knows it."""
    from .core.connection import check_broker
    from .core.lookup import lookup

    target = _target(ctx)
    check_broker(target)
    found = lookup(target, str(task_id), timeout=timeout)
    if as_json:
        click.echo(json.dumps(found.as_dict(), indent=2, default=str))
    else:
        for label, value in found.lines():
            text = safe_block(value) if label == "traceback" else one_line(value, 2000)
            click.echo(f"{one_line(label, 40):>16}  {text}")
    if not found.known:
        raise ConsoleError(f"{one_line(task_id)}: not known to the result backend or to "
                           "any worker", 1)


@cli.command()
@connection_options
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--queue", metavar="NAME", help="Send to this queue instead of the original's.")
@click.option("--countdown", type=_Seconds(min=0), default=None, metavar="SECONDS",
              help="Run after this many seconds.")
@click.option("--yes", is_flag=True, help="Do not ask: send at once (for scripts).")
@click.pass_context
def rerun(ctx, task_ids, queue, countdown, yes):
    """Re-run TASK_IDS with the same name, args and kwargs, and print each
    new task id.

    The arguments come from the result backend (the app needs
    result_extended=True: a command has no events to read them from).
    Exit 0 when every task was sent, 1 otherwise."""
    from .core.actions import InvalidInput
    from .core.connection import check_broker
    from .core.rerun import plan

    target = _target(ctx)
    actions = _actions(ctx, target)
    check_broker(target)
    plans = [plan(target, None, str(t)) for t in dict.fromkeys(task_ids)]
    for p in plans:
        state = "as it was, from " + p.source if p.ready else "cannot: " + (p.problem or "")
        click.echo(f"{one_line(p.uuid)}  {one_line(p.name or '?')}  {one_line(state)}")
    ready = [p for p in plans if p.ready]
    if not ready:
        raise ConsoleError("Nothing re-run: no task's arguments are known.", 1)
    _confirm(yes, f"Re-run {len(ready)} task(s)?", "re-running")
    try:
        outcome = actions.rerun(ready, queue=queue, countdown=countdown)
    except InvalidInput as exc:
        raise click.UsageError(str(exc)) from None
    for uuid, result in outcome.results.items():
        if result.ok:
            click.echo(f"{uuid}: {result.text}")
        else:
            click.echo(f"{uuid}: FAILED ({result.kind.value}): {one_line(result.text)}",
                       err=True)
    if outcome.status != "ok" or len(ready) < len(plans):
        raise ConsoleError(outcome.summary if outcome.status != "ok"
                           else f"{len(plans) - len(ready)} task(s) could not be re-run", 1)


@cli.command()
@connection_options
@click.argument("what", metavar="TASK_ID|WORKER")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--timeout", type=_Seconds(min=1.0), default=3.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for the workers' stacks.")
@click.pass_context
def stack(ctx, what, as_json, timeout):
    """Print the live Python stack of the process running task TASK_ID, or
    of every process of WORKER (a name with @). Needs the companion
    extension on the worker; changes nothing there.

    Exit 0 when a stack was printed, 1 otherwise."""
    from .core.connection import check_broker
    from .core.insight import read_stacks, report_lines

    target = _target(ctx)
    check_broker(target)
    is_worker = "@" in what
    reports = read_stacks(target, [what] if is_worker else None,
                          task_id=None if is_worker else what, timeout=timeout)
    shown = reports if is_worker else [r for r in reports if not r.task_missing]
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in shown], indent=2, default=str))
    else:
        for report in shown:
            for _kind, text in report_lines(report):
                click.echo(one_line(text, 4000))
    if not any(r.processes for r in shown):
        missing = [r.hostname for r in reports if not r.installed]
        hint = (f" (without the companion extension: {', '.join(missing)})"
                if missing and not is_worker else "")
        raise ConsoleError(f"{one_line(what)}: no stack — "
                           + (one_line(shown[0].message) if shown and is_worker else
                              f"no worker with the companion extension runs it{hint}"), 1)


@cli.command()
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--timeout", type=_Seconds(min=0.1), default=1.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for workers' replies.")
@click.pass_context
def doctor(ctx, as_json, timeout):
    """Examine every worker's settings (inspect conf/stats/report/
    active_queues/registered, and the companion extension's versions) and
    print what will hurt, each finding with its evidence.

    Exit 0 with no findings, 1 with findings, 69 when no worker answers."""
    from .core.connection import EX_UNAVAILABLE, check_broker
    from .core.doctor import diagnosis_lines, examine

    target = _target(ctx)
    check_broker(target)
    diagnosis = examine(target, timeout=timeout)
    if as_json:
        click.echo(json.dumps(diagnosis.as_dict(), indent=2, default=str))
    else:
        marks = {"warning": "⚠ ", "error": "✖ ", "ok": "✔ "}
        for kind, text in diagnosis_lines(diagnosis):
            click.echo(marks.get(kind, "") + one_line(text, 4000))
    if not diagnosis.workers:
        raise ConsoleError(f"No worker answered within {timeout * 2:g} s on "
                           f"{target.masked_url}.", EX_UNAVAILABLE)
    if diagnosis.findings:
        raise ConsoleError(f"{len(diagnosis.findings)} finding(s)", 1)


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
