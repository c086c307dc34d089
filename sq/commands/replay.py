"""`sq replay rebuild-projections [--json]`: drop the PostgreSQL projections and rebuild them from the topics;
`sq replay run|diff [--from B] [--to E] [--topology T] [--json]`: replay the stages from their inputs, compare
(replay/session.py), inside a window of the log (replay/window.py)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import psycopg

from connectors.audit.story import jsonable
from connectors.postgres.migrate import MigrationError
from connectors.postgres.sink import SinkBusy, SinkError
from infra.local_state import kafka_cluster_id, record_binding
from processors.runtime.pipeline import DEFAULT_TOPOLOGY, TOPOLOGIES
from replay.kafka_namespace import NamespaceError, namespace_stage, replay_into_kafka, replayable_stages
from replay.projections import rebuild_projections
from replay.session import StageReplay, diff_session, replay_topology, stage_json, state_compared
from replay.window import BEGIN, END, Window, WindowError, parse_window
from settings import load_settings
from sq.commands.sink import sink_status
from sq.errors import CommandError
from sq.output import Activity, emit_json, progress, say


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("replay", help="rebuild state from the log")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild-projections", help="drop the PostgreSQL projections and rebuild them from the topics"
    )
    rebuild.add_argument("--batch-size", type=int, default=5000)
    rebuild.add_argument("--json", action="store_true")
    rebuild.set_defaults(handler=run_rebuild)
    register_session(actions)


def run_rebuild(args: argparse.Namespace) -> int:
    if args.batch_size <= 0:
        raise CommandError("--batch-size must be positive")
    progress("rebuilding the projections from the topics …")
    settings = load_settings()
    try:
        with Activity("rebuilding") as activity:
            report = rebuild_projections(
                settings, args.batch_size, on_progress=lambda s: activity.status(sink_status(s))
            )
        if report.complete and not (settings.external_kafka or settings.external_database_url):
            record_binding(settings, kafka_cluster_id(settings))  # `sq up` then finds them of this log
    except SinkBusy:
        raise CommandError("a sink is running on this database (sq sink / sq up); stop it, then rebuild") from None
    except (SinkError, MigrationError) as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    if args.json:
        emit_json(report.as_json())
        return 0 if report.complete else 1
    if not report.complete:
        say("the rebuild did not reach the end of the topics; it was rolled back, the projections are unchanged")
        return 1
    stats = report.stats
    say(
        f"rebuilt from {stats.consumed} records in {stats.seconds:.2f} s "
        f"({stats.dead_letters} dead letters): " + ", ".join(f"{n} {t}" for t, n in report.tables.items())
    )
    return 0


def register_session(actions: Any) -> None:
    for name, handler, text in (
        ("run", run_replay, "re-run the cores of each stage from their input topics in the memory engine"),
        ("diff", run_diff, "replay, then compare the replayed outputs with the live ones, event by event"),
    ):
        parser = actions.add_parser(name, help=text)
        parser.add_argument(
            "--topology",
            default=DEFAULT_TOPOLOGY,
            choices=sorted(TOPOLOGIES),
            help="the topology the live session ran (its stages are replayed one by one)",
        )
        parser.add_argument(
            "--from",
            dest="begin",
            default=BEGIN,
            help="BEGIN (default), an ISO 8601 broker time (UTC if no zone) or TOPIC:PARTITION:OFFSET; inclusive",
        )
        parser.add_argument("--to", dest="end", default=END, help="END (default), a time or an offset; exclusive")
        if name == "run":
            parser.add_argument(
                "--into-kafka",
                metavar="NAMESPACE",
                default=None,
                help="re-run through Kafka instead: a worker on new topics <prefix>NAMESPACE.*, fed the live inputs",
            )
        else:
            parser.add_argument(
                "--namespace",
                default=None,
                help="compare the outputs of `sq replay run --into-kafka NAMESPACE` (nothing is replayed again)",
            )
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(handler=handler)


def _whole_log_for(window: Window, option: str) -> None:
    if not window.whole:
        raise CommandError(
            f"{option} replays the whole log: leave out --from/--to (a window is replayed in the memory engine)"
        )


def _into_kafka(args: argparse.Namespace) -> int:
    _whole_log_for(_window(args), "--into-kafka")
    settings = load_settings()
    try:
        with Activity("replaying through Kafka", total=None) as activity:
            replays = replay_into_kafka(
                settings,
                args.into_kafka,
                args.topology,
                on_progress=lambda stage, done, total: activity.status(f"stage {stage}: {done:,}/{total:,} inputs"),
            )
            stages = [namespace_stage(settings, args.into_kafka, r.stage) for r in replays]
    except NamespaceError as error:
        raise CommandError(str(error)) from None
    except TimeoutError as error:
        raise CommandError(f"{error}; is the broker up (`sq infra status`)? run again into a new namespace") from None
    except RuntimeError as error:
        raise CommandError(f"{error}; fix what the worker says, then run again into a new namespace") from None
    if args.json:
        emit_json({r.stage: {**r.as_json(), **stage_json(s)} for r, s in zip(replays, stages, strict=True)})
        return 0
    for replay, stage in zip(replays, stages, strict=True):
        rate = replay.copied / replay.seconds if replay.seconds else 0.0
        say(
            f"stage {replay.stage}: {replay.copied:,} input records copied into {replay.topic_prefix}* and applied "
            f"by a kafka worker in {replay.seconds:.2f} s ({rate:,.0f} records/s; {replay.waits:,} waits for "
            f"another partition; {replay.own_records:,} of its own records left to it) → {stage.produced:,} outputs"
        )
        _say_states(stage, "  ")
    say(f"compare with the live outputs: sq replay diff --namespace {args.into_kafka}")
    return 0


def _window(args: argparse.Namespace) -> Window:
    try:
        return parse_window(args.begin, args.end)
    except WindowError as error:
        raise CommandError(str(error)) from None


def _replayed(topology: str, window: Window) -> list[StageReplay]:
    try:
        with Activity("replaying") as activity:
            return replay_topology(
                load_settings(), topology, window=window, on_stage=lambda s: activity.status(f"stage {s}")
            )
    except WindowError as error:
        raise CommandError(str(error)) from None
    except (RuntimeError, TimeoutError) as error:
        raise CommandError(f"cannot read the log ({error}); is the broker up (`sq infra status`)?") from None


def _say_window(window: Window) -> None:
    if not window.whole:
        say(
            f"window [{window.begin.text}, {window.end.text}): replayed from the beginning of the log (the state at "
            "--from is rebuilt by replaying what came before it), compared only inside the window"
        )


def run_replay(args: argparse.Namespace) -> int:
    if args.into_kafka is not None:
        return _into_kafka(args)
    window = _window(args)
    stages = _replayed(args.topology, window)
    if args.json:
        emit_json({s.stage: {**stage_json(s), "window": window.as_json()} for s in stages})
        return 0
    _say_window(window)
    for replayed in stages:
        rate = replayed.inputs / replayed.apply_seconds if replayed.apply_seconds else 0.0
        say(
            f"stage {replayed.stage}: {replayed.inputs:,} input records → {replayed.produced:,} outputs "
            f"in {replayed.apply_seconds:.2f} s ({rate:,.0f} records/s; reading {replayed.read_seconds:.2f} s)"
        )
        if not window.whole:
            say(f"  {replayed.span.stop - replayed.span.start:,} of them inside the window")
        _say_states(replayed, "  ")
    return 0


def _say_states(replayed: StageReplay, indent: str) -> None:
    if not state_compared(replayed):
        ends_before = replayed.span.stop < replayed.inputs
        why = "the window ends before the end of the log" if ends_before else "no live changelog"
        say(f"{indent}{replayed.stage}: states not compared with the live changelogs ({why})")
    for core, digest in replayed.state_hashes.items():
        live = replayed.live_state_hashes.get(core)
        verdict = ("same" if live == digest else "DIFFERENT") if state_compared(replayed) else ""
        say(f"{indent}{replayed.stage}/{core:<10} state {digest}  live changelog {live}  {verdict}")


def _from_namespace(topology: str, namespace: str) -> list[StageReplay]:
    settings = load_settings()
    try:
        with Activity("reading the namespace and the live outputs"):
            return [namespace_stage(settings, namespace, stage) for stage in replayable_stages(topology)]
    except NamespaceError as error:
        raise CommandError(str(error)) from None
    except (RuntimeError, TimeoutError) as error:
        raise CommandError(f"cannot read the log ({error}); is the broker up (`sq infra status`)?") from None


def run_diff(args: argparse.Namespace) -> int:
    window = _window(args)
    if args.namespace is not None:
        _whole_log_for(window, "--namespace")
        diff = diff_session(_from_namespace(args.topology, args.namespace), window)
    else:
        diff = diff_session(_replayed(args.topology, window), window)
    if args.json:
        emit_json(diff.as_json())
        return 0 if diff.ok else 1
    _say_window(window)
    for replayed in diff.stages:
        _say_states(replayed, "")
    say(f"{diff.compared:,} events compared, {diff.differences:,} differences")
    if diff.first is not None:
        first = diff.first
        say(f"first divergence: {first.topic} [{first.partition}] @{first.live_offset} (event {first.index} there)")
        say(f"  live:     {json.dumps(jsonable(first.live), default=str)[:2000]}")
        say(f"  replayed: {json.dumps(jsonable(first.replayed), default=str)[:2000]}")
    say("OK: the replay reproduces the live session" if diff.ok else "DIFFERENT: see above")
    return 0 if diff.ok else 1
