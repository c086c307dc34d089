"""What the console's polling costs: the latency of the routes it reads every second or two.

    python -m bench.console_routes [--control N] [--dead-letters N] [--analytics N] [--requests R] [--json]

On a throwaway topic prefix and database: N kill switch records on control.events (engaged and released in
turn over 50 accounts), N dead letters on ops.deadletters and N analytics records of one symbol on
md.analytics; then the API starts in a process of its own (uvicorn, as `sq api` serves it) and one keep-alive
client sends R GETs of each route one after the other: ``/v1/me`` (no I/O: the floor), ``/v1/control``,
``/v1/dead-letters``, ``/v1/analytics/{symbol}/history`` and ``/v1/pipeline``. Each of the last four reads Kafka
on every request (a consumer, assigned to the partitions' tails), which is what the figures measure.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import httpx
import psycopg

from api import key_store
from api.auth import Role
from bench.common import BenchTopics, Reporter, busy_warning, latency_stats, machine_info
from bench.market_views import api_process, timed_gets
from connectors.postgres.databases import scratch_database
from schemas.examples import example_event
from schemas.names import DEAD_LETTER, KILL_SWITCH, MARKET_ANALYTICS
from settings import Settings, load_settings
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, CONTROL_EVENTS, DEAD_LETTERS, MD_ANALYTICS
from topics.client import AvroProducer

SYMBOL = "BENCHBTC"
ACCOUNTS = 50


def produce(settings: Settings, control: int, dead_letters: int, analytics: int) -> None:
    producer = AvroProducer(settings)
    for n in range(control):
        account = f"ACC-{n % ACCOUNTS:03d}"
        switch = example_event(KILL_SWITCH, n + 1, target=account, active=(n // ACCOUNTS) % 2 == 0)
        producer.produce(CONTROL_EVENTS, f"ACCOUNT|{account}", KILL_SWITCH, switch)
    for n in range(dead_letters):
        producer.produce(DEAD_LETTERS, "risk", DEAD_LETTER, example_event(DEAD_LETTER, n + 1, source_offset=n))
    base = example_event(MARKET_ANALYTICS)["window_end_us"]
    for n in range(analytics):
        record = example_event(MARKET_ANALYTICS, n + 1, symbol=SYMBOL, window_end_us=base + n * 1_000_000)
        producer.produce(MD_ANALYTICS, SYMBOL, MARKET_ANALYTICS, record)
    producer.flush(60)


def run(reporter: Reporter, control: int, dead_letters: int, analytics: int, requests: int) -> None:
    base = load_settings()
    info = machine_info(base)
    reporter.machine(info)
    if (warning := busy_warning(info)) is not None:
        reporter.line(warning)
    topics = BenchTopics(base)
    settings = base.with_topic_prefix(f"{topics.prefix}console.")
    try:
        create_topics(settings, CATALOGUE)
        produce(settings, control, dead_letters, analytics)
        with scratch_database(base.database_url, "bench_console", migrated=True) as url:
            with psycopg.connect(url, autocommit=True) as conn:
                key = key_store.create_key(conn, Role.ADMIN, ["*"], label="bench").key
            with api_process(settings.with_database_url(url)) as base_url:
                client = httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=30)
                routes = {
                    "GET /v1/me": ("/v1/me", {}),
                    "GET /v1/control": ("/v1/control", {"history": 100}),
                    "GET /v1/dead-letters": ("/v1/dead-letters", {"limit": 100}),
                    "GET /v1/analytics/{symbol}/history": (f"/v1/analytics/{SYMBOL}/history", {"limit": 300}),
                    "GET /v1/pipeline": ("/v1/pipeline", {}),
                }
                for path, params in routes.values():
                    timed_gets(client, path, min(requests, 20), params)  # warm-up
                samples = {name: timed_gets(client, path, requests, params) for name, (path, params) in routes.items()}
                client.close()
        detail = f"{control:,} control, {dead_letters:,} dead letters, {analytics:,} analytics records"
        for name, values in samples.items():
            reporter.add_latency(name, latency_stats(values), detail)
    finally:
        topics.cleanup(groups_wait_s=15.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench.console_routes", description=__doc__.split("\n")[0] if __doc__ else None
    )
    parser.add_argument("--control", type=int, default=10_000, help="kill switch records on control.events")
    parser.add_argument("--dead-letters", type=int, default=10_000, help="records on ops.deadletters")
    parser.add_argument("--analytics", type=int, default=10_000, help="analytics records of the symbol")
    parser.add_argument("--requests", type=int, default=200, help="GETs of each route")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if min(args.control, args.dead_letters, args.analytics, args.requests) <= 0:
        parser.error("--control, --dead-letters, --analytics and --requests must be positive")
    reporter = Reporter(args.json)
    run(reporter, args.control, args.dead_letters, args.analytics, args.requests)
    reporter.finish(benchmark="console_routes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
