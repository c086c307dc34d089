"""The single command-line entry point: ``sq <command> …``.

Each command lives in ``sq/commands/<name>.py`` with ``register(subparsers)``; a command's handler returns
an exit code. Expected failures raise ``CommandError`` or ``InfraError`` and print one line that says what
to do next, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from infra.process import InfraError
from sq.commands import demo, flow, infra, run, topics, verify
from sq.errors import CommandError

COMMANDS = (infra, topics, run, flow, verify, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sq", description="ShrivenQuant: an event-sourced trading backbone.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (CommandError, InfraError) as error:
        print(f"sq {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sq {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    raise SystemExit(main())
