"""`sq feed binance|file|sample-generate`: market data into md.depth / md.trades (connectors/marketdata).

- ``sq feed binance --market spot|futures|coinm --symbols BTCUSDT,ETHUSDT [--rest-url …] [--ws-url …]
  [--record DIR] [--max-seconds N] [--stall-seconds S] [--resync-interval S] [--json]``: the live feed with
  Binance's local-book procedure, gap resynchronisation, reconnection, and new snapshots when the order book
  processor asks for one on md.feed.status (at most one per symbol every ``--resync-interval`` seconds);
  ``--record`` also writes what it publishes as Parquet. ``futures`` is USD-M futures, ``coinm`` COIN-M.
- ``sq feed file PATH… [--speed max|N] [--json]`` or ``sq feed file --sample``: plays CSV/Parquet tapes.
- ``sq feed sample-generate [--out FILE] [--seed S] [--seconds N]``: writes the synthetic sample session.
Progress goes to stderr; the summary (messages, snapshots, updates, trades, gaps, resyncs, reconnects,
dead letters) to stdout, as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from connectors.marketdata import sample
from connectors.marketdata.binance_client import BinanceClient, BinanceConfig
from connectors.marketdata.binance_messages import MARKETS, venue_of
from connectors.marketdata.file_feed import play_files
from connectors.marketdata.sink import KafkaSink
from connectors.marketdata.stats import FeedStats
from connectors.marketdata.status_watch import FeedStatusWatch
from connectors.marketdata.tape_io import TapeRecorder
from processors.runtime.metrics import ProcessMetrics, serving_probes
from settings import Settings, load_settings
from sq.errors import CommandError
from sq.output import Activity, emit_json, progress, say
from topics.admin import create_topics
from topics.catalogue import DEAD_LETTERS, MD_DEPTH, MD_FEED_STATUS, MD_TRADES, spec_for
from topics.client import AvroProducer

FEED_TOPICS = (MD_DEPTH, MD_TRADES, MD_FEED_STATUS, DEAD_LETTERS)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("feed", help="market data in: Binance spot/futures, recorded files, the sample")
    feeds = parser.add_subparsers(dest="feed", required=True, metavar="FEED")

    binance = feeds.add_parser("binance", help="the live Binance diff-depth and trade streams")
    binance.add_argument(
        "--market", choices=MARKETS, default="spot", help="spot, futures (USD-M) or coinm (COIN-M futures)"
    )
    binance.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    binance.add_argument("--ws-url", default=None, help="WebSocket base URL (default: Binance's public one)")
    binance.add_argument("--rest-url", default=None, help="REST base URL (default: Binance's public one)")
    binance.add_argument("--record", type=Path, default=None, metavar="DIR", help="also write Parquet tapes here")
    binance.add_argument("--max-seconds", type=float, default=None, help="stop after this long (default: never)")
    binance.add_argument("--stall-seconds", type=float, default=30.0, help="silence that counts as a disconnect")
    binance.add_argument(
        "--resync-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="answer the order book's resync requests for a symbol at most this often (default 5 s)",
    )
    binance.add_argument("--json", action="store_true")
    binance.set_defaults(handler=run_binance)

    files = feeds.add_parser("file", help="play recorded CSV/Parquet trades and depth")
    files.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files or directories of tapes")
    files.add_argument("--sample", action="store_true", help="play the shipped synthetic sample session")
    files.add_argument("--speed", default="max", help="'max' (default) or N times recorded speed")
    files.add_argument("--json", action="store_true")
    files.set_defaults(handler=run_file)

    generate = feeds.add_parser("sample-generate", help="write the synthetic sample session")
    sample.add_arguments(generate)
    generate.add_argument("--json", action="store_true")
    generate.set_defaults(handler=run_sample_generate)


def _ensure_topics(settings: Settings) -> None:
    create_topics(settings, [spec_for(name) for name in FEED_TOPICS])


def _summary(stats: FeedStats, seconds: float, **extra: Any) -> dict[str, Any]:
    rate = round(stats.messages / seconds, 1) if seconds > 0 else None
    return {**stats.as_json(), "seconds": round(seconds, 3), "messages_per_second": rate, **extra}


def _finish(args: argparse.Namespace, summary: dict[str, Any], what: str) -> int:
    if args.json:
        emit_json(summary)
    else:
        counts = ", ".join(f"{summary[k]} {k.replace('_', ' ')}" for k in FeedStats().as_json())
        say(f"{what}: {counts} in {summary['seconds']:.2f} s")
    return 0


def parse_speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise CommandError(f"--speed must be 'max' or a positive number, got {text!r}") from None
    if not speed > 0:
        raise CommandError(f"--speed must be positive, got {text}")
    return speed


def run_file(args: argparse.Namespace) -> int:
    speed = parse_speed(args.speed)
    paths: list[Path] = list(args.paths)
    if args.sample:
        paths.append(sample.SAMPLE_DIR / sample.SAMPLE_FILE)
    if not paths:
        raise CommandError("name a file or directory to play, or pass --sample")
    settings = load_settings()
    _ensure_topics(settings)
    metrics = ProcessMetrics("feed-file")
    sink = KafkaSink(AvroProducer(settings), metrics=metrics)
    began = time.monotonic()
    stats = FeedStats()
    interrupted = False
    try:
        with Activity("playing") as activity, serving_probes(settings, metrics):
            play_files(paths, sink, speed=speed, on_progress=lambda s: activity.status(s.line()), stats=stats)
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from None
    except KeyboardInterrupt:  # a long paced replay stopped by hand: deliver what was sent, then the summary
        interrupted = True
        sink.flush()
    summary = _summary(stats, time.monotonic() - began, files=[str(p) for p in paths], interrupted=interrupted)
    _finish(args, summary, "interrupted after playing" if interrupted else "played")
    return 130 if interrupted else 0


def run_binance(args: argparse.Namespace) -> int:
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    try:
        config = BinanceConfig(
            args.market,
            symbols,
            ws_url=args.ws_url,
            rest_url=args.rest_url,
            stall_s=args.stall_seconds,
            max_seconds=args.max_seconds,
            resync_interval_s=args.resync_interval,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    if not symbols:
        raise CommandError("--symbols names no symbol")
    settings = load_settings()
    _ensure_topics(settings)
    session_id = uuid.uuid4().hex[:12]
    label = f"{venue_of(args.market)}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{session_id}"
    recorder = TapeRecorder(args.record, label) if args.record else None
    metrics = ProcessMetrics(f"feed-{venue_of(args.market)}")
    sink = KafkaSink(AvroProducer(settings), recorder, metrics)
    try:
        watch = FeedStatusWatch(settings)
    except (KafkaException, RuntimeError) as error:
        sink.close()
        raise CommandError(f"cannot listen to {MD_FEED_STATUS} for resync requests: {error}") from None
    progress(f"feeding {', '.join(symbols)} from {config.stream_url} (session {session_id})")
    began = time.monotonic()
    client = BinanceClient(config, sink, session_id, on_progress=lambda line: progress(f"  {line}"), watch=watch)
    try:
        with serving_probes(settings, metrics):
            asyncio.run(_run_until_signal(client))
    finally:
        watch.close()
        sink.close()
    extra: dict[str, Any] = {"session": session_id, "venue": venue_of(args.market)}
    if recorder is not None:
        extra["recorded"] = {"rows": recorder.rows, "files": [str(p) for p in recorder.files]}
    return _finish(args, _summary(client.stats, time.monotonic() - began, **extra), "fed")


async def _run_until_signal(client: BinanceClient) -> FeedStats:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform or thread
            loop.add_signal_handler(sig, client.stop)
    return await client.run()


def run_sample_generate(args: argparse.Namespace) -> int:
    try:
        out, size = sample.generate(args)
    except ValueError as error:
        raise CommandError(str(error)) from None
    if args.json:
        emit_json({"path": str(out), "bytes": size})
    else:
        say(f"wrote {out} ({size / 1e6:.2f} MB)")
    return 0
