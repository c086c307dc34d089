"""`sq topics create | list`."""

from __future__ import annotations

import argparse
from typing import Any

from settings import load_settings
from sq.output import emit_json, say, table
from topics.admin import create_topics, list_topics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("topics", help="create or list the catalogue's topics")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create missing topics; report those whose config differs")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="the catalogue and what the cluster has")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)


def _create(args: argparse.Namespace) -> int:
    reports = create_topics(load_settings())
    if args.json:
        emit_json([r.as_json() for r in reports])
    else:
        for r in reports:
            say(f"{r.topic:28} {r.outcome}" + "".join(f"\n    {d}" for d in r.differences))
        counts = {o: sum(r.outcome == o for r in reports) for o in ("created", "exists", "differs")}
        say(
            f"{len(reports)} topics: {counts['created']} created, {counts['exists']} already there, "
            f"{counts['differs']} differ from the catalogue"
        )
    return 1 if any(r.outcome == "differs" for r in reports) else 0


def _list(args: argparse.Namespace) -> int:
    rows = list_topics(load_settings())
    if args.json:
        emit_json(rows)
        return 0
    table(
        ("topic", "key", "cleanup", "on the cluster", "schema"),
        [
            (
                row["name"],
                row["key"],
                row["cleanup_policy"],
                "missing" if not row["exists"] else f"{row['live_partitions']} partitions",
                ", ".join(row["schema"]),
            )
            for row in rows
        ],
    )
    return 0
