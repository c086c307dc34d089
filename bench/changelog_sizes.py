"""What the order path's changelog costs per transaction once its state has grown, in process (no Kafka).

    python -m bench.changelog_sizes [--orders 20000] [--accounts 16] [--batches 1,5,20,100,500] [--json]

The seeded flow of ``--orders`` new orders (with its cancels, amends and invalid commands) goes through the stage
"orderpath" on the memory engine, as ``bench.order_path``'s backlog goes through the worker. Then batches of a
second flow's commands (the same accounts) are applied, and after each batch every core's ``state_changes()``
is encoded as the kafka engine writes it to the changelog (``processors.runtime.state_codec.encode_state``,
one record per changed key, in the same transaction as the batch's outputs): records, bytes and encoding time
per batch, per core. A transaction of one command writes what a batch of hundreds writes, minus the keys it
does not touch: at low rates every command pays for whole records.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench.common import Reporter, machine_info
from connectors.order_flow import FlowConfig
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import stage_spec
from processors.runtime.registry import core_class
from processors.runtime.state_codec import encode_state
from tests.kit.flows import flow_events
from topics.catalogue import ORDERS_COMMANDS

STAGE = "orderpath"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.changelog_sizes", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=20_000, help="new orders of the flow first (20,000)")
    parser.add_argument("--accounts", type=int, default=16, help="accounts of the flow (16)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batches", default="1,5,20,100,500", help="commands per batch, in turn (1,5,20,100,500)")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout (progress on stderr)")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batches.split(",") if b.strip()]
    if min(args.orders, args.accounts, *args.batch_sizes) < 1:
        parser.error("--orders, --accounts and --batches must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reporter = Reporter(json_output=args.json)
    info = machine_info()
    reporter.line("ShrivenQuant changelog records per transaction (bench/changelog_sizes.py)")
    reporter.machine(info)
    engine = MemoryEngine([core_class(n) for n in stage_spec(STAGE).cores], name=STAGE, checkpoint_every=500)
    reporter.progress(f"the flow of {args.orders:,} new orders over {args.accounts} accounts through {STAGE}")
    for event in flow_events(FlowConfig(orders=args.orders, seed=args.seed, accounts=args.accounts)):
        engine.send(event)
    pipeline = engine.pipeline
    for core in pipeline.cores:
        core.state_changes()  # what the backlog's last transaction wrote
    needed = sum(args.batch_sizes)
    more = FlowConfig(orders=needed, seed=args.seed + 1, accounts=args.accounts, run_id="changelog-sizes")
    commands = [e for e in flow_events(more) if e.topic == ORDERS_COMMANDS][:needed]
    for size in args.batch_sizes:
        batch, commands = commands[:size], commands[size:]
        for event in batch:
            pipeline.apply(event)
        keys = 0
        total_bytes = 0
        seconds = 0.0
        per_core = {}
        for core in pipeline.cores:
            started = time.perf_counter()
            changes = core.state_changes()
            values = [encode_state(state) for state in changes.values()]
            spent = time.perf_counter() - started
            size_bytes = sum(len(v) for v in values if v is not None)  # None: a tombstone
            per_core[core.name] = {"keys": len(changes), "bytes": size_bytes, "ms": spent * 1000}
            keys += len(changes)
            total_bytes += size_bytes
            seconds += spent
        detail = "; ".join(
            f"{name} {c['keys']} keys, {c['bytes'] / 1024:,.0f} KiB, {c['ms']:.2f} ms" for name, c in per_core.items()
        )
        phase = f"batch of {size} command{'s' if size > 1 else ''}"
        reporter.add(phase, "changelog bytes per command", total_bytes / size, "bytes", detail, per_core=per_core)
        reporter.add(phase, "changelog records", keys, "records")
        reporter.add(phase, "state_changes + encoding per command", seconds / size * 1e6, "µs")
    reporter.finish(benchmark="bench.changelog_sizes", machine=info, parameters=vars(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
