"""One worker of one stage in this process: ``python -m processors.runtime.worker orderpath --worker 0``.

A stage is one core (``risk``, ``oms``, ``venue``, ``portfolio``, ``orderbook``) or a pipeline of them
(``orderpath``, ``account``; processors.runtime.pipeline.STAGES). Exit codes: 0 when stopped (SIGTERM or
``--max-seconds``), 1 on an unexpected error (Kafka's own errors, fatal ones included, do not end a worker: the
engine retries, rewinds or renews its clients).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace

from processors.runtime.logs import configure_logging
from processors.runtime.metrics import ProcessMetrics, serving_probes
from processors.runtime.pipeline import STAGES, stage_spec
from processors.runtime.registry import stage_factories
from settings import load_settings
from topics.admin import MissingTopicsError

ENGINES = ("kafka", "faust")
DEFAULT_ENGINE = "kafka"
REPORT_EVERY_S = 10.0


def run_worker(
    stage: str, engine: str, worker: int, max_seconds: float | None = None, engine_options: Sequence[str] = ()
) -> None:
    settings = load_settings()
    spec = stage_spec(stage)
    factories = stage_factories(spec, settings)
    if engine == "kafka":
        metrics = ProcessMetrics(spec.name, worker)
        from processors.runtime.kafka_engine import EngineStats, KafkaEngine, parse_options

        last_report = [time.monotonic()]

        def report(stats: EngineStats) -> None:
            if time.monotonic() - last_report[0] >= REPORT_EVERY_S:
                last_report[0] = time.monotonic()
                print(
                    f"[{stage}#{worker}] {'active' if stats.active else 'standing by'}: consumed {stats.consumed} "
                    f"produced {stats.produced} dead letters {stats.dead_letters} transactions {stats.transactions} "
                    f"aborts {stats.aborts} retries {stats.retries} rebuilds {stats.rebuilds} (broadcast records "
                    f"re-read {stats.replayed_broadcast}, keys restored {stats.restored_keys}) client restarts "
                    f"{stats.client_restarts}",
                    file=sys.stderr,
                    flush=True,
                )

        options = replace(parse_options(engine_options), worker=worker)
        engine_ = KafkaEngine(factories, settings, options, name=spec.name, exclusive=spec.exclusive, metrics=metrics)
        with serving_probes(settings, metrics):
            engine_.run(max_seconds, on_batch=report)
    elif engine == "faust":
        if engine_options:
            raise ValueError("--engine-option sets the kafka engine's options; faust has none of them")
        if settings.metrics_port is not None:
            raise ValueError("SQ_METRICS_PORT: the faust engine serves no metrics; run the kafka engine for them")
        if len(factories) != 1:
            raise ValueError(f"the faust engine runs one core per stage; {stage} has {len(factories)}")
        from processors.runtime.faust_engine import run_faust_worker

        run_faust_worker(factories[0], settings, worker, max_seconds)
    else:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run one worker of one stage")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE)
    parser.add_argument("--worker", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a kafka engine option (processors.runtime.kafka_engine.EngineOptions), e.g. batch_size=100",
    )
    args = parser.parse_args(argv)
    configure_logging(load_settings(), f"{args.stage}#{args.worker}")
    try:
        run_worker(args.stage, args.engine, args.worker, args.max_seconds, args.engine_option)
    except ValueError as error:
        parser.error(str(error))
    except MissingTopicsError as error:  # an operator's step is missing: say which, without a traceback
        logging.getLogger(__name__).error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
