"""`sq up [--engine kafka|faust] [--json]`: the whole stack in the foreground until Ctrl-C.

Infra when local, topics, migrations, the processors, the sink and the API (sq/stack_runner.py). Progress
goes to stderr; once the API answers /readyz a ready line (or, with ``--json``, one JSON document) goes to
stdout. Ctrl-C or SIGTERM stop everything it started; a part that stops on its own stops the rest, exit 1.
"""

from __future__ import annotations

import argparse
import threading
from typing import TYPE_CHECKING, Any

from processors.runtime.worker import DEFAULT_ENGINE, ENGINES
from sq.errors import CommandError
from sq.output import emit_json, progress, say

if TYPE_CHECKING:
    from sq.stack_runner import Stack  # imported lazily: registering a command must stay light


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("up", help="run the whole stack (infra, topics, processors, sink, API) until Ctrl-C")
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE)
    parser.add_argument(
        "--keep-infra",
        action="store_true",
        help="leave a broker and database that this command started running when it stops",
    )
    parser.add_argument("--json", action="store_true", help="print the ready document as JSON on stdout")
    parser.set_defaults(handler=run)


def start_stack(engine: str, keep_infra: bool, stop: threading.Event) -> Stack:
    """A started Stack on the environment's settings; CommandError when it cannot start."""
    import psycopg

    from api.config import ApiSettings, ConfigError
    from connectors.postgres.migrate import MigrationError
    from sq.stack_runner import Interrupted, Stack, StackError, StackOptions

    try:
        api = ApiSettings.from_env()
    except ConfigError as error:
        raise CommandError(str(error)) from None
    stack = Stack(api.settings, api, StackOptions(engine=engine, keep_infra=keep_infra), progress, stop)
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
        "engine": stack.options.engine,
        "processors": [w.label for w in stack.workers],
        "kafka": stack.settings.bootstrap_servers,
        "topic_prefix": stack.settings.topic_prefix,
        "started_infra": stack.started_infra,
    }


def run(args: argparse.Namespace) -> int:
    from sq.stack_runner import stop_on_signals

    with stop_on_signals(threading.Event()) as stop:
        stack = start_stack(args.engine, args.keep_infra, stop)
        try:
            if args.json:
                emit_json(ready_document(stack))
            else:
                say(f"ready: API {stack.base_url}, docs {stack.docs_url}; Ctrl-C stops everything")
            failure = stack.run_until_stopped()
            if failure:
                progress(f"{failure}; stopping the rest")
        finally:
            stack.stop()
    progress("stopped")
    return 1 if failure else 0
