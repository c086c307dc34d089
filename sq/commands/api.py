"""`sq api [--host H] [--port P]`: serve the HTTP API with uvicorn (default 127.0.0.1:8000, or SQ_API_HOST /
SQ_API_PORT) until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from sq.errors import CommandError
from sq.output import progress


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("api", help="serve the HTTP API (commands, queries, streaming) until Ctrl-C")
    parser.add_argument("--host", default=None, help="listen address (default: SQ_API_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default: SQ_API_PORT or 8000)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: every `sq` command imports this module to register it.
    import psycopg
    import uvicorn

    from api.app import create_app
    from api.config import ApiSettings, ConfigError
    from api.server import server_config

    try:
        config = ApiSettings.from_env()
    except ConfigError as error:
        raise CommandError(str(error)) from None
    if args.host is not None:
        config = config.with_overrides(host=args.host)
    if args.port is not None:
        config = config.with_overrides(port=args.port)
    progress(f"API on {config.base_url} (docs: {config.base_url}/docs); Ctrl-C stops it")
    try:
        app = create_app(config)
        server = uvicorn.Server(server_config(app, log_level=args.log_level, host=config.host, port=config.port))
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it shut down on (as .run)
            server.run()
    except psycopg.OperationalError as error:
        raise CommandError(f"cannot reach PostgreSQL ({error}); is it running? try `sq infra status`") from None
    return 0
