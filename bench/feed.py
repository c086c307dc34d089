"""File-feed throughput: tape rows → Avro records on md.depth / md.trades, per second.

    python -m bench.feed [PATH …] [--json]

Plays the shipped sample session (connectors/marketdata/sample/session.parquet: an hour of synthetic
BTCUSDT and ETHUSDT trades and depth) or the tapes named, as fast as possible (``sq feed file --speed max``),
twice: into a sink that only encodes (the in-process ceiling: read, parse, build, encode) and into Kafka
under a run prefix (produce + final flush: every record acknowledged by the broker, acks=all). The topics
are deleted at the end. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import BenchTopics, machine_info, machine_lines, print_document
from connectors.marketdata.file_feed import play_files
from connectors.marketdata.sample import SAMPLE_DIR, SAMPLE_FILE
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.stats import FeedStats
from processors.core import Emit
from schemas.codec import default_codec
from settings import Settings, load_settings
from topics.catalogue import DEAD_LETTERS, MD_DEPTH, MD_TRADES
from topics.client import AvroProducer

PART = "feed"


class EncodeOnlySink:
    """Encodes every record like the Kafka sink would, and drops it: the cost of the feed without the broker."""

    def __init__(self) -> None:
        self.codec = default_codec()
        self.bytes = 0

    def publish(self, emit: Emit) -> None:
        self.bytes += len(self.codec.encode(emit.schema, emit.record))

    def flush(self) -> None:
        pass


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _timed(paths: list[Path], sink: Any) -> tuple[FeedStats, float]:
    began = time.monotonic()
    stats = play_files(paths, sink, on_progress=lambda s: _progress(f"  {s.line()}"))
    return stats, time.monotonic() - began


def run(paths: list[Path]) -> dict[str, Any]:
    base = load_settings()
    _progress(f"in process (encode only): {', '.join(map(str, paths))} …")
    encoder = EncodeOnlySink()
    local, local_s = _timed(paths, encoder)
    topics = BenchTopics(base)
    try:
        scoped: Settings = base
        for logical in (MD_DEPTH, MD_TRADES, DEAD_LETTERS):
            scoped, _ = topics.create(PART, logical)
        _progress("into Kafka …")
        kafka, kafka_s = _timed(paths, KafkaSink(AvroProducer(scoped)))
    finally:
        topics.cleanup()
    return {
        "files": [str(p) for p in paths],
        "messages": kafka.messages,
        "trades": kafka.trades,
        "depth": kafka.updates + kafka.snapshots,
        "dead_letters": kafka.dead_letters,
        "mean_record_bytes": round(encoder.bytes / max(local.messages, 1), 1),
        "in_process": {"seconds": round(local_s, 3), "messages_per_second": round(local.messages / local_s, 1)},
        "kafka": {"seconds": round(kafka_s, 3), "messages_per_second": round(kafka.messages / kafka_s, 1)},
        "machine": machine_info(base),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="tapes to play (default: the shipped sample)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.paths or [SAMPLE_DIR / SAMPLE_FILE])
    if args.json:
        print_document(result)
        return 0
    for line in machine_lines(result["machine"]):
        print(line)
    print(
        f"file feed: {result['messages']} rows ({result['trades']} trades, {result['depth']} depth, "
        f"{result['dead_letters']} dead letters), {result['mean_record_bytes']} bytes per record"
    )
    for name in ("in_process", "kafka"):
        figure = result[name]
        print(f"  {name.replace('_', ' ')}: {figure['messages_per_second']:.0f} messages/s ({figure['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
