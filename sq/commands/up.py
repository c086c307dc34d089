"""`sq up [--topology single|split|cores] [--standby] [--engine kafka|faust] [--json]`: the whole stack until Ctrl-C.

Infra when local, topics, migrations, the topology's stages (supervised: restarted when they exit), the sink
and the API (deploy/stack.py). Progress goes to stderr; once the API answers /readyz a ready line (or, with
``--json``, one JSON document) goes to stdout. Ctrl-C or SIGTERM stop everything it started; a part that keeps
failing stops the rest, exit 1.
"""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING, Any

from processors.runtime.pipeline import DEFAULT_TOPOLOGY, TOPOLOGIES
from processors.runtime.worker import DEFAULT_ENGINE, ENGINES
from sq.errors import CommandError
from sq.output import emit_json, progress, say

if TYPE_CHECKING:
    from deploy.stack import Stack  # imported lazily: registering a command must stay light


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="run the whole stack (infra, topics, processors, sink, API) until Ctrl-C")
    add_deployment_options(parser)
    parser.add_argument("--json", action="store_true", help="print the ready document as JSON on stdout")
    parser.set_defaults(handler=run)


def add_deployment_options(parser: argparse.ArgumentParser) -> None:
    """How the stack runs: shared by `sq up` and `sq demo`."""
    parser.add_argument(
        "--topology",
        choices=TOPOLOGIES,
        default=DEFAULT_TOPOLOGY,
        help="how the order path's cores are deployed (docs/TOPOLOGIES.md; default: %(default)s)",
    )
    parser.add_argument("--standby", action="store_true", help="run a standby worker for the single topology's stage")
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE, help="faust runs the cores topology only")
    parser.add_argument(
        "--keep-infra",
        action="store_true",
        help="leave a broker and database that this command started running when it stops",
    )
    parser.add_argument(
        "--tick-interval",
        type=float,
        default=1.0,
        help="seconds between the clock ticks execution algorithms see time by (docs/EXECUTION.md; default: 1)",
    )


def start_stack(args: argparse.Namespace, stop: threading.Event) -> Stack:
    """A started Stack on the environment's settings; CommandError when it cannot start."""
    import psycopg

    from api.config import ApiSettings, ConfigError
    from connectors.postgres.migrate import MigrationError
    from deploy.stack import Interrupted, Stack, StackError, StackOptions

    try:
        api = ApiSettings.from_env()
    except ConfigError as error:
        raise CommandError(str(error)) from None
    try:
        options = StackOptions(
            engine=args.engine,
            topology=args.topology,
            standby=args.standby,
            keep_infra=args.keep_infra,
            tick_interval_s=args.tick_interval,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    stack = Stack(api.settings, api, options, progress, stop)
    try:
        stack.start()
    except Interrupted:
        raise KeyboardInterrupt from None
    except (StackError, MigrationError) as error:
        raise CommandError(str(error)) from None
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); try `sq infra status`") from None
    return stack


def ready_document(stack: Stack) -> dict[str, Any]:
    return {
        "ready": True,
        "api": stack.base_url,
        "docs": stack.docs_url,
        "console": stack.console_url,
        "engine": stack.options.engine,
        "topology": stack.options.topology,
        "processors": stack.supervisor.labels if stack.supervisor is not None else [],
        "kafka": stack.settings.bootstrap_servers,
        "topic_prefix": stack.settings.topic_prefix,
        "started_infra": stack.started_infra,
        "metrics": stack.metrics_ports(),
    }


def run(args: argparse.Namespace) -> int:
    from deploy.stack import stop_on_signals

    with stop_on_signals(threading.Event()) as stop:
        stack = start_stack(args, stop)
        try:
            if args.json:
                emit_json(ready_document(stack))
            else:
                say(
                    f"ready: API {stack.base_url}, console {stack.console_url}, docs {stack.docs_url}; "
                    "Ctrl-C stops everything"
                )
            failure = stack.run_until_stopped()
            if failure:
                progress(f"{failure}; stopping the rest")
        finally:
            stack.stop()
    progress("stopped")
    return 1 if failure else 0
