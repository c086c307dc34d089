"""`sq infra up | down | status`."""

from __future__ import annotations

import argparse
from typing import Any

from infra import stack
from settings import load_settings
from sq.output import emit_json, say, table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("infra", help="start, stop or inspect the Kafka broker and PostgreSQL")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, handler, text in (
        ("up", _up, "start the local broker and database (unless configured elsewhere) and wait until ready"),
        ("down", _down, "stop what `sq infra up` started"),
        ("status", _status, "say what runs where"),
        ("fetch", _fetch, "download the broker's jars with Maven (done by `make install`)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--json", action="store_true", help="print one JSON document")
        action.set_defaults(handler=handler)


def _up(args: argparse.Namespace) -> int:
    reports = stack.up(load_settings())
    if args.json:
        emit_json({r.name: {**r.as_json(), "started": r.started, "seconds": round(r.seconds, 2)} for r in reports})
        return 0
    for r in reports:
        where = "external" if not r.managed else ("started" if r.started else "already running")
        say(f"{r.name:9} {r.address}  ready ({where}, {r.seconds:.1f} s)")
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = stack.down(load_settings())
    if args.json:
        emit_json({name: {"stopped": value} for name, value in stopped.items()})
        return 0
    for name, value in stopped.items():
        say(f"{name:9} {'stopped' if value else 'not started by sq infra here: left alone'}")
    return 0


def _status(args: argparse.Namespace) -> int:
    reports = stack.status(load_settings())
    if args.json:
        emit_json({r.name: r.as_json() for r in reports})
    else:
        table(
            ("service", "address", "state", "managed by"),
            [
                (r.name, r.address, "running" if r.running else "not running", "sq infra" if r.managed else "external")
                for r in reports
            ],
        )
    return 0 if all(r.running for r in reports) else 1


def _fetch(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.external_kafka:
        return 0
    fetched = stack.local_broker(settings).fetch_jars()
    if fetched and not args.json:
        say("fetched the Kafka broker's jars")
    return 0
