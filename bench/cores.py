"""Order path cores in process, no Kafka: microseconds of one core's work per order, and the whole path's rate.

    .venv/bin/python -m bench.cores [--orders 2000] [--accounts 50] [--flow-accounts 4] [--fills 2] [--batch 500]
                                    [--repeat 3] [--seed 7] [--skip-oms] [--skip-path] [--profile N] [--json]

Every input is generated before timing from the seeded ``connectors.order_flow.OrderFlow``.

- oms lifecycle, many accounts / one account: the flow's NewOrders (spread over ``--accounts`` accounts, then all
  in one account) as approved risk decisions, each followed by the venue's ACK and ``--fills`` fills, the last
  one filling the order (FILLED); orders go in windows of 100 (100 decisions, their ACKs, then their fills
  round by round) so a hundred orders are in flight. "apply" times ``OmsCore.apply`` alone; "with changelog"
  adds what the runtime asks of the core: ``state_changes()`` after every ``--batch`` events, JSON-encoded as
  the Kafka engine writes it. The changelog's bytes per order and largest record are in the detail.
- order path: the flow of ``tests.kit.flows.flow_events`` (each account's limits, then the commands with their
  cancels, amends and invalid commands, over ``--flow-accounts`` accounts) through the single-process order
  path (stage "orderpath": risk, oms, venue, portfolio) on ``processors.runtime.memory_engine.MemoryEngine``.
  The whole path is timed with a checkpoint (every core's ``state_changes()`` and broadcast state, through
  JSON) every ``--batch`` inputs, as a runtime batch commits, without checkpoints, and with checkpoints but
  its output lists emptied after every input (a worker keeps no outputs; the engine keeps them all, and the
  garbage collector's full passes over them cost more the longer the run); then each core alone on
  the inputs the pipeline handed it in that run (a fresh core each time, with ``state_changes()`` every
  ``--batch`` of its inputs); then each core's µs per input event by input schema (every ``apply`` timed
  alone, the clock's own cost taken off).
- bound: what the path's outputs cost with no logic at all: their number per order, making them again (each
  record copied, a fresh meta with a derived id, an Emit) and the events that hand them from core to core.

Figures are per NewOrder of the flow (µs per order, orders/s), the median of ``--repeat`` runs, in the process's
CPU time (``time.process_time``: single-threaded pure Python, so it equals wall time on a quiet machine and is
far steadier than wall time on a busy one). Figures are measured, never asserted.

``--profile N`` runs the whole path once more under cProfile (checkpoints every ``--batch`` inputs, outputs kept)
and prints its top N functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import pstats
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Reporter, machine_info, median_of_runs, runs_spread
from connectors.order_flow import FlowConfig, OrderFlow
from processors.core import Core, Emit, Event, Record, derived_event_id
from processors.runtime.memory_engine import MemoryEngine
from processors.runtime.pipeline import stage_spec
from processors.runtime.registry import core_class, new_core
from schemas.names import EXECUTION_REPORT, NEW_ORDER, RISK_DECISION
from settings import PROJECT_ROOT
from tests.kit.flows import flow_events
from topics.catalogue import RISK_DECISIONS, VENUE_EXECUTIONS

WINDOW = 100  # orders in flight at once in the oms lifecycle
PATH_STAGE = "orderpath"
PHASE_OMS = "oms in-process"
PHASE_PATH = "order path in-process"
PHASE_KINDS = "per input event"
PHASE_BOUND = "bound"


def _encode_state(state: Record | None) -> bytes | None:
    """The changelog value, as ``processors.runtime.changelog.encode_state`` writes it (without its Kafka imports)."""
    return None if state is None else json.dumps(state, separators=(",", ":")).encode()


# -- the oms lifecycle ------------------------------------------------------------------------------------


def _meta(event_id: str, t: int, producer: str, correlation_id: str) -> Record:
    return {
        "event_id": event_id,
        "producer": producer,
        "event_time_us": t,
        "ingest_time_us": t,
        "causation_id": None,
        "correlation_id": correlation_id,
    }


def _decision(command: Record) -> Event:
    """Risk's approval of a NewOrder, shaped as ``RiskCore`` shapes it."""
    meta = command["meta"]
    t = meta["event_time_us"]
    body = {
        "meta": _meta(f"{meta['event_id']}-decision", t, "risk", meta["correlation_id"]),
        "account": command["account"],
        "order_id": command["order_id"],
        "symbol": command["symbol"],
        "command_type": "NEW",
        "approved": True,
        "reason": None,
        "detail": "approved: all checks passed",
        "checks": [],
        "command": (NEW_ORDER, command),
    }
    return Event(RISK_DECISIONS, command["account"], RISK_DECISION, body, t)


def _report(command: Record, exec_type: str, n: int, **fields: Any) -> Event:
    t = command["meta"]["event_time_us"] + n
    record = {
        "meta": _meta(f"{command['meta']['event_id']}-venue-{n}", t, "venue", command["meta"]["correlation_id"]),
        "venue": "sim",
        "symbol": command["symbol"],
        "account": command["account"],
        "order_id": command["order_id"],
        "exec_type": exec_type,
        "fill_id": None,
        "last_quantity": 0,
        "last_price": None,
        "liquidity": None,
        "fee": 0,
        "cum_quantity": 0,
        "leaves_quantity": command["quantity"],
        "reject_reason": None,
        "detail": "",
    }
    record.update(fields)
    return Event(VENUE_EXECUTIONS, command["account"], EXECUTION_REPORT, record, t)


def _fills(command: Record, count: int) -> list[Event]:
    """``count`` fills (fewer when the quantity has fewer units) adding up to the order's quantity."""
    quantity = command["quantity"]
    price = command["price"] or 1
    parts = [quantity // count] * (count - 1)
    parts.append(quantity - sum(parts))
    parts = [part for part in parts if part > 0]
    events, cum = [], 0
    for n, part in enumerate(parts, start=1):
        cum += part
        events.append(
            _report(
                command,
                "FILL",
                n + 1,
                fill_id=f"{command['order_id']}-fill-{n}",
                last_quantity=part,
                last_price=price,
                liquidity="MAKER",
                fee=1,
                cum_quantity=cum,
                leaves_quantity=quantity - cum,
            )
        )
    return events


def lifecycle_events(orders: int, accounts: int, fills: int, seed: int) -> list[Event]:
    """The flow's NewOrders, each approved, acknowledged and filled in ``fills`` parts, in windows of WINDOW."""
    flow = OrderFlow(
        FlowConfig(
            orders=orders,
            seed=seed,
            accounts=accounts,
            run_id=f"oms-{accounts}",
            invalid_share=0.0,
            cancel_share=0.0,
            amend_share=0.0,
        )
    )
    commands = [dict(c.record) for c in flow.commands() if c.schema == NEW_ORDER]
    for command in commands:  # a market order has no price: give it one so its fills have one
        if command["price"] is None:
            command["order_type"], command["time_in_force"] = "LIMIT", "GTC"
            command["price"] = 60_000 * 10**8
    events: list[Event] = []
    for start in range(0, len(commands), WINDOW):
        window = commands[start : start + WINDOW]
        events += [_decision(command) for command in window]
        events += [_report(command, "ACK", 1) for command in window]
        rounds = [_fills(command, fills) for command in window]
        for n in range(max(map(len, rounds))):
            events += [own[n] for own in rounds if n < len(own)]
    return events


@dataclass
class Timed:
    seconds: float
    changelog_bytes: int = 0
    changelog_records: int = 0
    largest_record: int = 0
    outputs: int = 0


def time_core(factory: Callable[[], Core], events: Sequence[Event], batch: int | None) -> Timed:
    """Feed ``events`` to a fresh core; with ``batch``, encode its state changes every ``batch`` events."""
    core = factory()
    timed = Timed(0.0)
    gc.collect()
    began = time.process_time()
    outputs = 0
    for n, event in enumerate(events, start=1):
        outputs += len(core.apply(event))
        if batch is not None and n % batch == 0:
            _changelog(core, timed)
    if batch is not None:
        _changelog(core, timed)
    timed.seconds = time.process_time() - began
    timed.outputs = outputs
    return timed


def _changelog(core: Core, timed: Timed) -> None:
    for key, state in core.state_changes().items():
        value = _encode_state(state)
        size = len(key) + (len(value) if value is not None else 0)
        timed.changelog_bytes += size
        timed.changelog_records += 1
        timed.largest_record = max(timed.largest_record, size)


# -- the order path ---------------------------------------------------------------------------------------


def path_engine(batch: int | None) -> MemoryEngine:
    """The single-process order path (stage "orderpath") on the memory engine, checkpointing every ``batch``
    input events as a runtime batch would (None: never)."""
    cores = [core_class(name) for name in stage_spec(PATH_STAGE).cores]
    return MemoryEngine(cores, name=PATH_STAGE, checkpoint_every=batch)


Sent = list[tuple[Event, list[Emit]]]  # each input event and the outputs it caused, in order


def path_outputs(events: Sequence[Event]) -> tuple[Sent, frozenset[str]]:
    """Every input with the outputs it caused on a fresh path, and the topics the path hands in process."""
    engine = path_engine(None)
    return [(event, engine.send(event)) for event in events], engine.pipeline.internal


def path_inputs(events: Sequence[Event]) -> dict[str, list[Event]]:
    """What each core of the path is handed when ``events`` go through the memory engine, in the order handed.

    The pipeline hands an input to every core that takes its topic, then each output on an internal topic,
    in the order the outputs come (breadth first), so every core's inputs are that sequence filtered by its
    topics; a handed record carries the input's ingest time.
    """
    sent, internal = path_outputs(events)
    classes = [core_class(name) for name in stage_spec(PATH_STAGE).cores]
    taken = {cls.name: {*cls.inputs, *cls.broadcast_inputs} for cls in classes}
    inputs: dict[str, list[Event]] = {name: [] for name in taken}
    for event, emits in sent:
        handed = [event]
        handed += [
            Event(emit.topic, emit.key, emit.schema, emit.record, event.ingest_time_us)
            for emit in emits
            if emit.topic in internal
        ]
        for current in handed:
            for name, topics in taken.items():
                if current.topic in topics:
                    inputs[name].append(current)
    return inputs


@dataclass
class PathRun:
    seconds: float
    collections: list[int]  # the garbage collector's passes during the run, by generation


def time_path(events: Sequence[Event], batch: int | None, keep_outputs: bool = True) -> PathRun:
    """CPU seconds to run ``events`` through a fresh path. ``keep_outputs=False`` empties the engine's output
    lists after every input, as a worker forgets what it produced: the memory engine keeps every output for
    its readers, and the garbage collector's full passes over those records grow with the run."""
    engine = path_engine(batch)
    gc.collect()
    before = [generation["collections"] for generation in gc.get_stats()]
    began = time.process_time()
    if keep_outputs:
        engine.run(events)
    else:
        for event in events:
            engine.send(event)
            engine.outputs.clear()
    seconds = time.process_time() - began
    return PathRun(seconds, [g["collections"] - n for g, n in zip(gc.get_stats(), before, strict=True)])


def time_rebuilding(sent: Sent) -> float:
    """CPU seconds to make the path's outputs again with no logic at all: each record copied, a fresh meta with a
    derived id, an Emit (a lower bound on what the cores spend on outputs: copies are cheaper than literals)."""
    outputs = [emit for _, emits in sent for emit in emits]
    gc.collect()
    began = time.process_time()
    for n, emit in enumerate(outputs):
        meta = emit.record["meta"]
        record = dict(emit.record)
        record["meta"] = {**meta, "event_id": derived_event_id(meta["event_id"], "bound", n)}
        Emit(emit.topic, emit.key, emit.schema, record)
    return time.process_time() - began


def time_handing(sent: Sent, internal: frozenset[str]) -> float:
    """CPU seconds to make the events the pipeline hands on (one per output on an internal topic)."""
    gc.collect()
    began = time.process_time()
    for event, emits in sent:
        for emit in emits:
            if emit.topic in internal:
                Event(emit.topic, emit.key, emit.schema, emit.record, event.ingest_time_us)
    return time.process_time() - began


def per_kind(factory: Callable[[], Core], events: Sequence[Event]) -> dict[str, tuple[int, float]]:
    """Per input schema: (events, CPU µs per event), each ``apply`` timed alone on a fresh core.

    The clock's own cost (two reads around an empty statement, measured here) is taken off every event.
    """
    clock = time.process_time_ns
    calibration = []
    for _ in range(len(events) or 1):
        began = clock()
        calibration.append(clock() - began)
    overhead = statistics.median(calibration)
    core = factory()
    spent: dict[str, list[int]] = {}
    gc.collect()
    for event in events:
        began = clock()
        core.apply(event)
        took = clock() - began
        spent.setdefault(event.schema.rpartition(".")[2], []).append(took)
    return {kind: (len(ns), (sum(ns) / len(ns) - overhead) / 1000) for kind, ns in spent.items()}


def profile_path(events: Sequence[Event], args: argparse.Namespace) -> str:
    """The top ``args.profile`` functions by own time of one whole-path run under cProfile."""
    engine = path_engine(args.batch)
    profile = cProfile.Profile()
    gc.collect()
    profile.runcall(engine.run, events)
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(args.profile)
    report = text.getvalue()
    for folder, name in ((PROJECT_ROOT, ""), (Path(sysconfig.get_paths()["stdlib"]), "<stdlib>/")):
        report = report.replace(f"{folder}/", name)  # paths relative to the project and the standard library
    return f"cProfile of one whole-path run ({args.orders} orders):\n{report}"


def median_of(
    factory: Callable[[], Core], events: Sequence[Event], batch: int | None, repeat: int
) -> tuple[Timed, str]:
    """The median of ``repeat`` timed runs of a core, and the runs' spread."""
    runs = sorted((time_core(factory, events, batch) for _ in range(repeat)), key=lambda run: run.seconds)
    return runs[len(runs) // 2], runs_spread([run.seconds for run in runs])


def oms_figures(args: argparse.Namespace, reporter: Reporter) -> None:
    """The OMS's order lifecycle in many accounts and in one: apply alone, then with the changelog."""
    oms = functools.partial(new_core, "oms")
    for accounts in (args.accounts, 1):
        label = f"{accounts} accounts" if accounts > 1 else "one account"
        reporter.progress(f"oms lifecycle: {args.orders} orders in {label}")
        events = lifecycle_events(args.orders, accounts, args.fills, args.seed)
        per_order = len(events) / args.orders
        applied, spread = median_of(oms, events, None, args.repeat)
        reporter.add(
            PHASE_OMS,
            f"{label}: apply",
            applied.seconds / args.orders * 1e6,
            "µs/order",
            f"{per_order:.1f} events/order, {applied.seconds / len(events) * 1e6:.2f} µs/event; {spread}",
        )
        logged, spread = median_of(oms, events, args.batch, args.repeat)
        reporter.add(
            PHASE_OMS,
            f"{label}: apply + changelog",
            logged.seconds / args.orders * 1e6,
            "µs/order",
            f"state_changes() every {args.batch} events, JSON-encoded: {logged.changelog_records} records, "
            f"{logged.changelog_bytes / args.orders:,.0f} bytes/order, largest "
            f"{logged.largest_record:,} bytes; {spread}",
            changelog_bytes=logged.changelog_bytes,
            largest_record=logged.largest_record,
        )


def path_figures(args: argparse.Namespace, reporter: Reporter) -> None:
    """The whole order path on the memory engine, the bounds of handing outputs on, each core, each kind."""
    reporter.progress(f"order path: {args.orders} orders of the flow over {args.flow_accounts} accounts")
    events = flow_events(FlowConfig(orders=args.orders, seed=args.seed, accounts=args.flow_accounts))
    variants = (
        (args.batch, True, f"checkpoint every {args.batch} inputs"),
        (None, True, "no checkpoints"),
        (args.batch, False, f"checkpoint every {args.batch} inputs, outputs not kept"),
    )
    for batch, keep, label in variants:
        path_runs = sorted((time_path(events, batch, keep) for _ in range(args.repeat)), key=lambda r: r.seconds)
        median = path_runs[len(path_runs) // 2]
        collections = "/".join(map(str, median.collections))
        reporter.add(
            PHASE_PATH,
            f"whole path, memory engine, {label}",
            args.orders / median.seconds,
            "orders/s",
            f"{median.seconds / args.orders * 1e6:.1f} µs/order; {len(events)} input events; gc passes by "
            f"generation {collections}; {runs_spread([run.seconds for run in path_runs])}",
        )
    sent, internal = path_outputs(events)
    outputs = sum(len(emits) for _, emits in sent)
    reporter.add(PHASE_BOUND, "outputs", outputs / args.orders, "per order", f"{outputs} outputs")
    seconds, spread = median_of_runs(functools.partial(time_rebuilding, sent), args.repeat)
    reporter.add(
        PHASE_BOUND,
        "making the outputs again, no logic (record copy, meta with a derived id, Emit)",
        seconds / args.orders * 1e6,
        "µs/order",
        spread,
    )
    seconds, spread = median_of_runs(functools.partial(time_handing, sent, internal), args.repeat)
    reporter.add(
        PHASE_BOUND,
        "handing outputs on in process (an Event each)",
        seconds / args.orders * 1e6,
        "µs/order",
        spread,
    )
    inputs = path_inputs(events)
    for name in stage_spec(PATH_STAGE).cores:
        handed = inputs[name]
        timed, spread = median_of(functools.partial(new_core, name), handed, args.batch, args.repeat)
        reporter.add(
            PHASE_PATH,
            name,
            timed.seconds / args.orders * 1e6,
            "µs/order",
            f"{len(handed)} inputs, {timed.outputs} outputs, "
            f"{timed.seconds / max(len(handed), 1) * 1e6:.2f} µs/input; {spread}",
        )
    for name in stage_spec(PATH_STAGE).cores:
        runs = [per_kind(functools.partial(new_core, name), inputs[name]) for _ in range(args.repeat)]
        for kind, (count, _) in runs[0].items():
            micros = statistics.median(run[kind][1] for run in runs)
            reporter.add(PHASE_KINDS, f"{name}: {kind}", micros, "µs/event", f"{count} events")


# -- main -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cores", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=2000, help="NewOrders of the flow")
    parser.add_argument("--accounts", type=int, default=50, help="accounts of the oms many-accounts lifecycle")
    parser.add_argument("--flow-accounts", type=int, default=4, help="accounts of the order path flow")
    parser.add_argument("--fills", type=int, default=2, help="fills per order in the oms lifecycle")
    parser.add_argument("--batch", type=int, default=500, help="events per runtime batch (state_changes)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-oms", action="store_true", help="the order path only")
    parser.add_argument("--skip-path", action="store_true", help="the oms lifecycle only")
    parser.add_argument("--profile", type=int, metavar="N", help="print the path's top N functions by own time")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reporter = Reporter(args.json)
    info = machine_info()
    reporter.machine(info)
    reporter.notes.update(
        orders=args.orders,
        accounts=args.accounts,
        flow_accounts=args.flow_accounts,
        fills=args.fills,
        batch=args.batch,
        seed=args.seed,
        repeat=args.repeat,
    )

    if not args.skip_oms:
        oms_figures(args, reporter)
    if not args.skip_path:
        path_figures(args, reporter)
    if args.profile and not args.skip_path:
        print(profile_path(flow_events(FlowConfig(args.orders, args.seed, args.flow_accounts)), args), file=sys.stderr)
    reporter.finish(machine=info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
