"""Scale-out: end-to-end orders/s of the split topology with 1, 2 and 3 workers per stage on a 3-node cluster.

    python -m bench.scale_out [--workers 1,2,3] [--partitions 6] [--baseline-partitions 1] [--orders 10000]
                              [--accounts 24] [--cluster-home DIR] [--json]

A three-node KRaft cluster (infra/kafka_cluster.py: replication 3, min.insync.replicas 2) of the bench's own,
or the running one in ``--cluster-home``. Each configuration runs in a child process of its own, because the
keyed topics' partition count is read from the environment when the catalogue is imported
(``SQ_ACCOUNT_PARTITIONS`` / ``SQ_SYMBOL_PARTITIONS``): on topics of its own, W workers of the ``account`` stage
and W of the ``venue`` stage (``processors.runtime.worker``, as ``sq run --worker N`` starts them) join their
groups; each account's risk limits are consumed; then the seeded flow's backlog (``--orders`` new orders plus
its cancels, amends and invalid commands, over every symbol the flow knows) is produced as fast as the producer
goes. Measured as bench.order_path measures it: Kafka CreateTime of the first risk decision → the last order
event or position update, once every stage's group has committed the end of its inputs; CPU seconds of the
workers and of the three nodes (/proc) over the backlog.

Figures per configuration: new orders/s; the workers' and the nodes' CPU per new order. Then: the speed-up
over one worker per stage, the cost of the partitions (one worker per stage on ``--baseline-partitions`` against
``--partitions``: what the extra partitions cost in CPU per order) and the sizing guide: the new orders/s one
worker process sustains per core it is given (1 / its CPU per order), and per partition at the largest
configuration. On a machine with fewer cores than processes the curve shows the CPU bound, not the design's:
the report says how many CPUs there are and how busy the machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import interrupt_on_sigterm, load_average, machine_cpu_s, open_report, process_cpu_s, rate
from bench.order_path import Gauge, read_back, wait_idle
from deploy.chaos import ChaosOptions, apply_limits
from deploy.chaos_cluster import flow_for, local_cluster, on_cluster, wait_for_members
from processors.runtime.registry import consumer_group
from processors.runtime.supervisor import WorkerProcess, stop_workers, worker_argv
from settings import PROJECT_ROOT, Settings, load_settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import (
    ACCOUNT_PARTITIONS,
    CATALOGUE,
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    PORTFOLIO_POSITIONS,
    RISK_DECISIONS,
    SYMBOL_PARTITIONS,
)
from topics.client import AvroProducer

STAGES = ("account", "venue")  # the split topology: the stages that scale by partition
HEAD = "account"  # the stage the commands enter


# -- one configuration (a child process) ------------------------------------------------------------------
def start_workers(settings: Settings, workers: int, log_dir: Path) -> list[WorkerProcess]:
    started = []
    for stage in STAGES:
        for worker in range(workers):
            log = (log_dir / f"{stage}-{worker}.log").open("wb")
            process = subprocess.Popen(
                worker_argv(stage, worker),
                env={**os.environ, **settings.as_env()},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
            )
            log.close()
            started.append(WorkerProcess(stage, worker, "kafka", process))
    return started


def cpu_s(pids: list[int]) -> float:
    return sum(process_cpu_s(pid) for pid in pids)


def stage_cpu_s(workers: list[WorkerProcess]) -> dict[str, float]:
    return {stage: cpu_s([w.process.pid for w in workers if w.processor == stage]) for stage in STAGES}


def measure_one(settings: Settings, args: argparse.Namespace, progress: Any) -> dict[str, Any]:
    """One configuration: its workers, the backlog through them, the figures."""
    scoped = settings.with_topic_prefix(f"bench-scale-{uuid.uuid4().hex[:6]}.")
    create_topics(scoped, CATALOGUE)
    options = ChaosOptions(orders=args.orders, seed=7, accounts=args.accounts, workers=args.workers)
    flow = flow_for(options, f"{scoped.topic_prefix}backlog")
    log_dir = Path(tempfile.mkdtemp(prefix="sq-bench-scale-"))
    workers = start_workers(scoped, args.workers, log_dir)
    try:
        started = time.monotonic()
        for stage in STAGES:
            wait_for_members(scoped, consumer_group(scoped, "kafka", stage), args.workers)
        apply_limits(scoped, flow.limits(), "split")
        progress(f"{args.workers} worker(s) per stage ready in {time.monotonic() - started:.1f} s")
        producer = AvroProducer(scoped, None, **{"linger.ms": 20})
        commands = [(c.key, producer.codec.encode(c.schema, c.record)) for c in flow.commands()]
        before = (stage_cpu_s(workers), cpu_s(args.broker_pids), machine_cpu_s())
        for key, value in commands:
            producer.produce_raw(ORDERS_COMMANDS, key, value)
        producer.flush(120)
        gauge = Gauge(scoped, "kafka", STAGES)
        try:
            how = wait_idle(gauge, HEAD, workers, 300 + len(commands) / 50, progress)
        finally:
            gauge.close()
        after = (stage_cpu_s(workers), cpu_s(args.broker_pids), machine_cpu_s())
        back = read_back(scoped)
    finally:
        stop_workers(workers)
        delete_prefixed_topics(scoped)
    decisions, events, positions = (back.spans[t] for t in (RISK_DECISIONS, ORDERS_EVENTS, PORTFOLIO_POSITIONS))
    if decisions.first_ms is None or events.last_ms is None or positions.last_ms is None:
        raise RuntimeError("the backlog left nothing on the path's topics")
    seconds = (max(events.last_ms, positions.last_ms) - decisions.first_ms) / 1000
    busy = after[2][0] - before[2][0]
    total = after[2][1] - before[2][1]
    return {
        "workers_per_stage": args.workers,
        "partitions": ACCOUNT_PARTITIONS,
        "symbol_partitions": SYMBOL_PARTITIONS,
        "commands": len(commands),
        "new_orders": flow.placed,
        "seconds": seconds,
        "orders_per_s": rate(flow.placed, seconds),
        "workers_cpu_us_per_order": (sum(after[0].values()) - sum(before[0].values())) / flow.placed * 1e6,
        "stage_cpu_us_per_order": {stage: (after[0][stage] - before[0][stage]) / flow.placed * 1e6 for stage in STAGES},
        "nodes_cpu_us_per_order": (after[1] - before[1]) / flow.placed * 1e6,
        "machine_busy_share": busy / total if total else None,
        "idle_check": how,
    }


# -- the curve (the parent) -------------------------------------------------------------------------------
def run_child(
    cluster_env: dict[str, str], node_pids: list[int], configuration: tuple[int, int], args: argparse.Namespace
) -> dict[str, Any]:
    """One configuration, (partitions, workers per stage), in a child process on the cluster; its figures."""
    partitions, workers = configuration
    env = {
        **os.environ,
        **cluster_env,
        "SQ_ACCOUNT_PARTITIONS": str(partitions),
        "SQ_SYMBOL_PARTITIONS": str(partitions),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale_out",
            "--one",
            f"--workers={workers}",
            f"--orders={args.orders}",
            f"--accounts={args.accounts}",
            f"--broker-pids={','.join(map(str, node_pids))}",
        ],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the run with {workers} worker(s) on {partitions} partitions failed (see above)")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,3", help="workers per stage, a run each (default: %(default)s)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the keyed topics (default: 6)")
    parser.add_argument(
        "--baseline-partitions", type=int, default=1, help="one worker per stage on this many too (0: skip)"
    )
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=24)
    parser.add_argument("--cluster-home", type=Path, default=None, help="a running local cluster's folder")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child: one configuration
    parser.add_argument("--broker-pids", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    interrupt_on_sigterm()
    if args.one:
        args.workers = int(args.workers)
        args.broker_pids = [int(pid) for pid in args.broker_pids.split(",") if pid]
        result = measure_one(load_settings(), args, lambda text: print(f"    {text}", file=sys.stderr, flush=True))
        print(json.dumps(result))
        return 0

    reporter, settings, info = open_report("Scale-out: the split topology, W workers per stage", args.json)
    counts = [int(w) for w in args.workers.split(",")]
    if max(counts) > args.partitions:
        parser.error("more workers per stage than partitions: the extra ones would stand idle")
    configurations = [(args.partitions, w) for w in counts]
    if args.baseline_partitions:
        configurations.insert(0, (args.baseline_partitions, 1))
    results: list[dict[str, Any]] = []
    with local_cluster(settings, args.cluster_home, reporter.progress) as cluster:
        cluster_env = on_cluster(settings, cluster).as_env()
        node_pids = [pid for node in cluster.nodes if (pid := node.pid()) is not None]
        for partitions, workers in configurations:
            reporter.progress(f"{workers} worker(s) per stage on {partitions} partition(s), load {load_average()}")
            result = run_child(cluster_env, node_pids, (partitions, workers), args)
            results.append(result)
            phase = f"{workers} worker(s)/stage, {partitions} partition(s)"
            reporter.add(
                phase,
                "throughput, new orders",
                result["orders_per_s"],
                "orders/s",
                f"{result['new_orders']:,} new orders ({result['commands']:,} commands) in {result['seconds']:.2f} s; "
                f"machine busy {100 * (result['machine_busy_share'] or 0):.0f} %",
                **result,
            )
            reporter.add(phase, "CPU per new order, workers", result["workers_cpu_us_per_order"], "µs")
            reporter.add(phase, "CPU per new order, 3 nodes", result["nodes_cpu_us_per_order"], "µs")
    summarise(reporter, results, args, os.cpu_count() or 1)
    reporter.finish(machine=info, configurations=results)
    return 0


def summarise(reporter: Any, results: list[dict[str, Any]], args: argparse.Namespace, cpus: int) -> None:
    """Speed-ups, the partitions' cost and the sizing guide."""
    scaled = [r for r in results if r["partitions"] == args.partitions]
    one = next((r for r in scaled if r["workers_per_stage"] == 1), None)
    for result in scaled:
        if one is not None and result is not one:
            reporter.add(
                "curve",
                f"speed-up, {result['workers_per_stage']} workers/stage",
                result["orders_per_s"] / one["orders_per_s"],
                "x",
                f"over 1 worker/stage; {cpus} CPU(s) for {2 * result['workers_per_stage']} workers and 3 nodes",
            )
    baseline = next((r for r in results if r["partitions"] == args.baseline_partitions), None)
    if baseline is not None and one is not None and args.baseline_partitions != args.partitions:
        extra = args.partitions - args.baseline_partitions
        reporter.add(
            "partitions",
            "worker CPU per order per extra partition",
            (one["workers_cpu_us_per_order"] - baseline["workers_cpu_us_per_order"]) / extra,
            "µs",
            f"1 worker/stage: {baseline['workers_cpu_us_per_order']:,.0f} µs on {args.baseline_partitions}, "
            f"{one['workers_cpu_us_per_order']:,.0f} µs on {args.partitions} partitions",
        )
        reporter.add(
            "partitions",
            "nodes' CPU per order per extra partition",
            (one["nodes_cpu_us_per_order"] - baseline["nodes_cpu_us_per_order"]) / extra,
            "µs",
        )
    if one is not None:
        for stage, us in one["stage_cpu_us_per_order"].items():
            reporter.add(
                "sizing",
                f"new orders/s per core, {stage} stage",
                1e6 / us,
                "orders/s",
                f"1 / its workers' CPU per order ({us:,.0f} µs, one worker per stage): what one partition's worker "
                "does on a core of its own (a worker is one process, one GIL: at most one core)",
            )
        reporter.add(
            "sizing",
            "nodes' CPU per new order",
            one["nodes_cpu_us_per_order"],
            "µs",
            "the three nodes together (replication 3), on top of the workers'",
        )
        best = max(scaled, key=lambda r: r["orders_per_s"])
        reporter.add(
            "sizing",
            "new orders/s per partition (best run)",
            best["orders_per_s"] / args.partitions,
            "orders/s",
            f"{best['workers_per_stage']} workers/stage on {args.partitions} partitions",
        )


if __name__ == "__main__":
    raise SystemExit(main())
