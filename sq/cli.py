"""The single command-line entry point: ``sq <command> …``.

Each command lives in ``sq/commands/<name>.py`` with ``register(subparsers)`` and is found there (a new
command is a new module, no list to edit); a command's handler returns an exit code. Expected failures
raise ``CommandError`` or ``InfraError`` and print one line that says what to do next, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from infra.process import InfraError
from processors.runtime.logs import configure_logging
from settings import load_settings
from sq import commands
from sq.errors import CommandError


def command_modules() -> list[ModuleType]:
    """Every ``sq/commands/<name>.py`` that defines ``register``, in name order."""
    found = (importlib.import_module(f"{commands.__name__}.{m.name}") for m in pkgutil.iter_modules(commands.__path__))
    return [module for module in found if hasattr(module, "register")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sq", description="ShrivenQuant: an event-sourced trading backbone.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in command_modules():
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(load_settings(), f"sq {args.command}")
    except ValueError as error:  # a setting that cannot be read (SQ_LOG_FORMAT=…)
        print(f"sq {args.command}: {error}", file=sys.stderr)
        return 2
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
