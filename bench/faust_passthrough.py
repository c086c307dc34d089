"""The plain loop's pass-through as a faust-streaming agent, run as its own process by the benchmarks.

    python -m bench.faust_passthrough worker --broker kafka://127.0.0.1:19092 --app-id ID \\
        --source A --sink B --backlog N --result-file F [--fetch-wait-ms MS] [--lifetime S] [--datadir D]

One agent (concurrency 1) reads raw bytes from A, decodes them with the project's codec, sets
``meta.producer``, encodes and sends to B with ``topic.send``. The worker appends JSON lines to the result
file: ``started`` (with the consumer's effective fetch wait), ``backlog`` once the first N records are sent
and the producer flushed (throughput), ``error`` if the agent fails. It stops itself after ``--lifetime``
seconds; the parent normally terminates it sooner.

Fetch wait: faust 0.15 creates its worker consumer with ``fetch_max_wait_ms=1500`` hard-coded and has no
setting for it. ``--fetch-wait-ms`` applies the runtime's own fix
(``processors.runtime.faust_engine.lower_fetch_wait``); the ``started`` line reports the value the running
fetcher holds, so the figure says which wait it was measured with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

FAUST_DEFAULT_FETCH_WAIT_MS = 1500
PRODUCER_NAME = "bench.faust"


def effective_fetch_wait_ms(app: Any) -> int | None:
    try:
        consumer = app.consumer._thread._consumer
        fetcher = getattr(consumer, "_fetcher", None)
        return int(fetcher._fetch_max_wait_ms if fetcher is not None else consumer._fetch_max_wait_ms)
    except AttributeError:
        return None


def build_app(args: argparse.Namespace) -> Any:
    import faust

    from schemas.codec import default_codec

    if args.fetch_wait_ms is not None:
        from processors.runtime.faust_engine import lower_fetch_wait

        lower_fetch_wait(args.fetch_wait_ms)
    codec = default_codec()
    result_file = Path(args.result_file)

    def report(event: str, **fields: Any) -> None:
        with result_file.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")

    app = faust.App(
        args.app_id,
        broker=args.broker,
        web_enabled=False,
        value_serializer="raw",
        key_serializer="raw",
        topic_replication_factor=1,
        datadir=args.datadir,
        store="memory://",
    )
    source = app.topic(args.source, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")
    sink = app.topic(args.sink, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")

    @app.agent(source, concurrency=1)
    async def passthrough(stream: Any) -> None:
        decode, encode = codec.decode, codec.encode
        forwarded = 0
        first: float | None = None
        reported = args.backlog <= 0
        try:
            async for key, value in stream.items():
                if first is None:
                    first = time.perf_counter()
                    report("started", fetch_max_wait_ms=effective_fetch_wait_ms(app))
                decoded = decode(value)
                record = decoded.record
                record["meta"]["producer"] = PRODUCER_NAME  # the transform
                await sink.send(key=key, value=encode(decoded.schema, record))
                forwarded += 1
                if not reported and forwarded >= args.backlog:
                    await app.producer.flush()
                    report("backlog", count=forwarded, seconds=time.perf_counter() - first)
                    reported = True
        except Exception as error:
            report("error", error=f"{type(error).__name__}: {error}")
            raise

    @app.task  # type: ignore[untyped-decorator]  # faust's decorators are untyped
    async def lifetime() -> None:
        await asyncio.sleep(args.lifetime)
        report("lifetime", seconds=args.lifetime)
        os.kill(os.getpid(), signal.SIGTERM)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faust_passthrough", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run the pass-through agent")
    worker.add_argument("--broker", required=True, help="faust broker URL, e.g. kafka://127.0.0.1:19092")
    worker.add_argument("--app-id", required=True, help="faust app id (also the consumer group id)")
    worker.add_argument("--source", required=True, help="physical topic to read")
    worker.add_argument("--sink", required=True, help="physical topic to write")
    worker.add_argument("--backlog", type=int, default=0, help="report throughput once this many are forwarded")
    worker.add_argument("--result-file", required=True, help="JSON lines: started, backlog, error")
    worker.add_argument("--fetch-wait-ms", type=int, default=None, help="replace faust's hard-coded 1500 ms")
    worker.add_argument("--lifetime", type=float, default=120.0, help="seconds before the worker stops itself")
    worker.add_argument("--datadir", default=None, help="faust data directory (default: a temporary one)")
    worker.add_argument("--loglevel", default="warning")
    args = parser.parse_args(argv)

    import tempfile

    from faust import Worker

    with tempfile.TemporaryDirectory(prefix="bench-faust-") as tmp:
        args.datadir = args.datadir or tmp
        app = build_app(args)
        logging.getLogger("faust").setLevel(args.loglevel.upper())
        Worker(app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
