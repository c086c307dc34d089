"""Replay and backtest through Kafka: how fast the real workers re-run a session or a backtest, an event at a time.

    python -m bench.replay_kafka [--orders N] [--backtest-to TIME] [--strategy NAME] [--json]

1. Replay into a namespace: a live `single` worker takes N orders of `sq flow` (default 200), then
   `replay_into_kafka` copies the session's inputs into a namespace of new topics in the live application
   order, paced by the worker's positions (replay/kafka_namespace.py): inputs/s, the waits for another
   partition, and the diff against the live outputs (it must be 0 differences). The baseline is the memory
   engine's replay of the same session (`replay_stage`).
2. Backtest via Kafka: the shipped sample up to --backtest-to (default its first minute) with --strategy
   (default market_maker), in the memory engine and through the workers (replay/backtest/via_kafka.py): the
   seconds of each, the events/s of the Kafka run, and whether the four result tables are equal.
The run's topics are deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time

from bench.common import Figure, Reporter, open_report
from processors.runtime.supervisor import start_worker, stop_workers
from replay.backtest.config import backtest_config
from replay.backtest.data import SAMPLE, data_paths, market_events
from replay.backtest.engine import run_backtest
from replay.backtest.results import build_results
from replay.backtest.via_kafka import run_backtest_via_kafka
from replay.kafka_namespace import namespace_stage, replay_into_kafka
from replay.session import diff_session, replay_stage
from replay.window import parse_bound
from schemas.codec import default_codec
from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE

STAGE = "orderpath"


def replay_phase(reporter: Reporter, settings: Settings, orders: int) -> None:
    create_topics(settings, CATALOGUE)
    workers = [start_worker(STAGE, env=settings.as_env(), stdout=subprocess.DEVNULL)]
    try:
        flow = [sys.executable, "-m", "sq.cli", "flow", "--orders", str(orders), "--seed", "3", "--accounts", "4"]
        subprocess.run(
            [*flow, "--rate", "100", "--no-limits", "--json"],
            env={**os.environ, **settings.as_env()},
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=600,
        )
        reporter.progress(f"{orders} orders through the live worker")
        memory = replay_stage(settings, STAGE, default_codec())
        time.sleep(2)  # the live worker's last transaction: the flow waited for its outcomes already
    finally:
        stop_workers(workers)
    began = time.monotonic()
    (replayed,) = replay_into_kafka(settings, "bench", "single", on_progress=lambda s, d, t: None)
    elapsed = time.monotonic() - began
    diff = diff_session([namespace_stage(settings, "bench", STAGE)])
    reporter.figure(
        Figure(
            "replay into Kafka",
            "inputs applied by the namespace's worker",
            replayed.copied / elapsed,
            "events/s",
            f"{replayed.copied:,} inputs in {elapsed:.1f} s, worker start included; {replayed.waits:,} waits for "
            f"another partition; {diff.differences} differences in {diff.compared:,}",
            extra={"differences": diff.differences, "compared": diff.compared, "waits": replayed.waits},
        )
    )
    reporter.figure(
        Figure(
            "replay into Kafka",
            "baseline: the memory engine's replay",
            memory.inputs / (memory.input_seconds + memory.apply_seconds),
            "events/s",
            f"{memory.inputs:,} inputs, reading included",
        )
    )


def backtest_phase(reporter: Reporter, settings: Settings, strategy: str, until: str) -> None:
    end_ms = parse_bound(until, "--backtest-to").time_ms
    if end_ms is None:
        raise SystemExit(f"--backtest-to {until}: give an ISO 8601 time")
    config = backtest_config(strategy, {}, params={}, end_us=end_ms * 1000)
    began = time.monotonic()
    memory = build_results(run_backtest(config, market_events(data_paths(SAMPLE))))
    memory_s = time.monotonic() - began
    began = time.monotonic()
    run = run_backtest_via_kafka(config, market_events(data_paths(SAMPLE)), settings, apply_timeout_s=60)
    kafka_s = time.monotonic() - began
    kafka = build_results(run)
    equal = all(kafka.tables()[name].equals(table) for name, table in memory.tables().items())
    sends = run.market_events + len(run.commands)
    reporter.figure(
        Figure(
            "backtest via Kafka",
            f"{strategy}, sample to {until}",
            sends / kafka_s,
            "events/s",
            f"{run.market_events:,} market events + {len(run.commands):,} commands in {kafka_s:.1f} s, workers' "
            f"start included; memory engine {memory_s:.2f} s (the whole sample read); tables equal: {equal}",
            extra={"equal": equal, "kafka_s": kafka_s, "memory_s": memory_s},
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--backtest-to", default="2026-01-01T00:01:00Z")
    parser.add_argument("--strategy", default="market_maker")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    reporter, server, _info = open_report("replay and backtest through Kafka", args.json)
    run = server.with_topic_prefix(f"bench-{random.randrange(16**8):08x}.")
    try:
        replay_phase(reporter, run.with_topic_prefix(f"{run.topic_prefix}replay."), args.orders)
        backtest_phase(reporter, run, args.strategy, args.backtest_to)
    finally:
        delete_prefixed_topics(run)
    reporter.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
