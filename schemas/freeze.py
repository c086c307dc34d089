"""Keeps the current version of event schemas as history, before they change:

    python -m schemas.freeze shrivenquant.orders.OrderEvent   # writes avro/history/<name>.v<N>.avsc

then edit the schema (compatibly: new fields need defaults) and bump its "version". The snapshot is
self-contained (every referenced type inlined), so later changes to shared types such as EventMeta cannot
alter it: it keeps describing exactly the bytes written before the change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from schemas.errors import SchemaError
from schemas.registry import AVRO_DIR, HISTORY_DIRNAME, SchemaRegistry


def freeze(registry: SchemaRegistry, full_name: str) -> Path:
    """Writes the current version of `full_name` to the history directory and returns the file."""
    schema = registry.get(full_name)
    if schema.version is None:
        raise SchemaError(f"{full_name} has no version: freeze the event schemas that use it instead")
    path = registry.directory / HISTORY_DIRNAME / f"{full_name}.v{schema.version}.avsc"
    if path.exists():
        raise SchemaError(f"{path} exists already; bump the version of {full_name} before freezing it again")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(registry.self_contained(full_name), indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Keep current event schema versions in avro/history/.")
    parser.add_argument("names", nargs="+", help="schema names (full, or unambiguous short names)")
    parser.add_argument("--dir", type=Path, default=AVRO_DIR, help="schema directory (default: the shipped one)")
    args = parser.parse_args(argv)
    registry = SchemaRegistry.load(args.dir)
    try:
        for name in args.names:
            print(f"wrote {freeze(registry, registry.resolve_name(name))}")
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print('now change the schema compatibly and bump its "version"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
