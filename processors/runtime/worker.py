"""One worker of one processor in this process: ``python -m processors.runtime.worker oms --engine kafka``."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from processors.runtime.registry import PROCESSORS, core_class
from settings import load_settings

ENGINES = ("kafka", "faust")
DEFAULT_ENGINE = "kafka"


def run_worker(name: str, engine: str, worker: int, max_seconds: float | None = None) -> None:
    settings = load_settings()
    factory = core_class(name)
    if engine == "kafka":
        from processors.runtime.kafka_engine import EngineOptions, EngineStats, KafkaEngine

        last_report = [time.monotonic()]

        def report(stats: EngineStats) -> None:
            if time.monotonic() - last_report[0] >= 10:
                last_report[0] = time.monotonic()
                print(
                    f"[{name}#{worker}] consumed {stats.consumed} produced {stats.produced} "
                    f"dead letters {stats.dead_letters} transactions {stats.transactions}",
                    file=sys.stderr,
                    flush=True,
                )

        KafkaEngine(factory, settings, EngineOptions(worker=worker)).run(max_seconds, on_batch=report)
    elif engine == "faust":
        from processors.runtime.faust_engine import run_faust_worker

        run_faust_worker(factory, settings, worker, max_seconds)
    else:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run one worker of one processor")
    parser.add_argument("processor", choices=sorted(PROCESSORS))
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE)
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"[{args.processor}#{args.worker}] %(levelname)s %(message)s")
    run_worker(args.processor, args.engine, args.worker, args.max_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
