"""Restart time of the exclusive order path stage with a long market data log behind it.

    python -m bench.restart [--records 1000000] [--orders 200] [--accounts 4] [--repeat 3] [--skip-cold]
                            [--engine-option NAME=VALUE ...] [--profile-dir DIR] [--json]

On the whole catalogue under ``bench-<run id>.restart.``:

1. one ``orderpath`` worker (risk + oms + venue + portfolio, ``python -m processors.runtime.worker orderpath``)
   is started and given each account's risk limits and a small flow (``--orders`` new orders with the flow's
   cancels, amends and invalid commands), so it has keyed state;
2. ``--records`` md.depth records (the synthetic session's DepthSnapshot and DepthUpdate records of BTCUSDT
   and ETHUSDT, ``connectors.marketdata.synthetic``, encoded as the feeds encode them) are produced while it
   runs: the venue keeps the market's books from them, and the stage's checkpoints (input positions in every
   transaction, a broadcast snapshot every few seconds) advance with them. The bench waits until the latest
   snapshot covers every record;
3. warm restart, ``--repeat`` times: SIGKILL the worker, start it again, and produce one fresh NewOrder (a new
   client order id) at once; the time from the process start to that order's ACCEPTED arriving on
   orders.events (read_committed), and to the worker's log saying it holds the lease (active). With
   ``--profile-dir``, one more warm restart (not counted) runs its worker under cProfile;
4. cold restart (unless ``--skip-cold``): SIGKILL, delete the stage's checkpoint topic (no snapshot, no
   positions: every input is read again from offset 0), start, a fresh order: the time to its ACCEPTED, how
   many md.depth records the worker had read again by then, and the time until it had read all of them.

Progress goes to stderr; with ``--json`` stdout holds one JSON document. Topics and groups are deleted at the
end.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from bench.common import BenchTopics, Reporter, busy_warning, interrupt_on_sigterm, load_average, open_report, rate
from bench.order_path import Gauge, check_alive, start_stage
from connectors.marketdata.messages import TradePrint
from connectors.marketdata.records import event_id_for, meta, to_emit
from connectors.marketdata.synthetic import VENUE, SessionConfig, generate_session
from connectors.order_flow import FlowConfig, OrderFlow
from processors.runtime.checkpoints import read_checkpoints
from processors.runtime.kafka_engine import EXCLUSIVE_OWNER
from processors.runtime.pipeline import stage_spec
from processors.runtime.supervisor import WorkerProcess, stop_workers
from schemas.codec import default_codec
from schemas.names import NEW_ORDER
from settings import Settings
from topics.admin import admin_client, create_topics, physical_name
from topics.catalogue import CATALOGUE, MD_DEPTH, ORDERS_COMMANDS, ORDERS_EVENTS, RISK_LIMITS, checkpoint_topic
from topics.client import AvroProducer

STAGE = "orderpath"
SYMBOLS = ("BTCUSDT", "ETHUSDT")  # the synthetic session's models (and the flow's symbols)
ACTIVE_LINE = "holds the lease: active"  # what the kafka engine logs when it becomes the active worker
CHECK_INTERVAL_S = 2.0


# -- market data --------------------------------------------------------------------------------------------


def depth_records(count: int, seed: int = 7) -> Iterator[tuple[str, bytes]]:
    """`count` (symbol, encoded md.depth record): the synthetic session's snapshots and depth updates, in order."""
    codec = default_codec()
    session = SessionConfig(seed=seed, symbols=SYMBOLS, seconds=10**9)  # ended by `count`, not by the clock
    made = 0
    for message in generate_session(session):
        if isinstance(message, TradePrint):
            continue
        event_id = event_id_for(f"{VENUE}|{message.symbol}|depth|{made}")
        emit = to_emit(message, VENUE, meta(event_id, "bench.restart", message.time_us, message.time_us, event_id))
        yield emit.key, codec.encode(emit.schema, emit.record)
        made += 1
        if made >= count:
            return


# -- the stage's checkpoints ----------------------------------------------------------------------------


def md_depth_read(settings: Settings, cores: list[str]) -> tuple[int, int | None, int]:
    """(md.depth records the stage's latest positions record says it read, the same in its latest complete
    snapshot or None, records in the checkpoint topic)."""
    topic = physical_name(settings, checkpoint_topic(STAGE))
    found = read_checkpoints(settings, topic, cores, timeout_s=60)
    positions = found.positions.get(EXCLUSIVE_OWNER, {})
    snapshot = found.snapshots.get(EXCLUSIVE_OWNER)
    read = sum(offset for (logical, _), offset in positions.items() if logical == MD_DEPTH)
    snapped = None if snapshot is None else sum(o for (t, _), o in snapshot.positions.items() if t == MD_DEPTH)
    consumer = Consumer(settings.kafka_config(**{"group.id": "bench-restart-watermarks"}))
    try:
        records = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()
    return read, snapped, records


class LogWatch:
    """When a line containing `needle` appears in a worker's log (polled every 10 ms in a thread): the engine's
    log lines carry no time of their own."""

    def __init__(self, path: Path, needle: str, started: float) -> None:
        self.path, self.needle, self.started = path, needle, started
        self.seconds: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bench-log-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                if self.needle in self.path.read_text(errors="replace"):
                    self.seconds = time.monotonic() - self.started
                    return
            except OSError:
                pass
            self._stop.wait(0.01)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join(1)
        return self.seconds


# -- one restart ------------------------------------------------------------------------------------------


@dataclass
class Restart:
    to_active_s: float | None
    to_accepted_s: float
    md_depth_read_at_accepted: int | None = None
    to_caught_up_s: float | None = None


class RestartBench:
    def __init__(self, args: argparse.Namespace, settings: Settings, reporter: Reporter, log_dir: Path) -> None:
        self.args, self.report, self.log_dir = args, reporter, log_dir
        self.topics = BenchTopics(settings)
        self.scoped = settings.with_topic_prefix(f"{self.topics.prefix}restart.")
        self.cores = list(stage_spec(STAGE).cores)
        self.worker: WorkerProcess | None = None
        self.producer = AvroProducer(self.scoped)
        self.codec = default_codec()
        self.fresh = 0
        self.starts = 0

    def start(self, profile_dir: Path | None = None) -> WorkerProcess:
        self.starts += 1
        label = f"restart{self.starts}"
        options = self.args.engine_option
        self.worker = start_stage(STAGE, "kafka", self.scoped, self.log_dir, label, profile_dir, options)
        return self.worker

    def log_of(self) -> Path:
        return self.log_dir / f"restart{self.starts}-{STAGE}.log"

    def kill(self) -> None:
        assert self.worker is not None
        self.worker.process.send_signal(signal.SIGKILL)
        self.worker.process.wait(10)

    # 1 -------------------------------------------------------------------------------------------------
    def setup(self) -> None:
        create_topics(self.scoped, CATALOGUE)
        flow = OrderFlow(
            FlowConfig(orders=self.args.orders, seed=7, accounts=self.args.accounts, run_id=f"{self.topics.prefix}flow")
        )
        for limits in flow.limits():
            self.producer.produce(RISK_LIMITS, limits.key, limits.schema, limits.record)
        self.producer.flush()
        worker = self.start()
        gauge = Gauge(self.scoped, "kafka", [STAGE])
        try:
            deadline = time.monotonic() + 120
            ends = {RISK_LIMITS: gauge.ends(RISK_LIMITS)}
            while not gauge.consumed(STAGE, ends, [RISK_LIMITS]):
                check_alive([worker])
                if time.monotonic() > deadline:
                    raise TimeoutError("the orderpath worker did not take the risk limits within 120 s")
                time.sleep(0.2)
        finally:
            gauge.close()
        for command in flow.commands():
            self.producer.produce(ORDERS_COMMANDS, command.key, command.schema, command.record)
        self.producer.flush()
        self.report.progress(f"orderpath worker active; {flow.placed:,} new orders sent for its keyed state")

    # 2 -------------------------------------------------------------------------------------------------
    def market_data(self) -> None:
        n = self.args.records
        self.report.progress(f"producing {n:,} md.depth records (synthetic session, {', '.join(SYMBOLS)})")
        producer = AvroProducer(self.scoped)
        started = time.perf_counter()
        sent = 0
        for key, value in depth_records(n):
            producer.produce_raw(MD_DEPTH, key, value)
            sent += 1
            if sent % 100_000 == 0:
                self.report.progress(f"  {sent:,} md.depth records produced")
                assert self.worker is not None
                check_alive([self.worker])
        producer.flush(120)
        seconds = time.perf_counter() - started
        self.report.add(
            "market data",
            "md.depth records produced",
            rate(sent, seconds),
            "records/s",
            f"{sent:,} records in {seconds:.1f} s (generated, encoded and produced by this process while the "
            "orderpath worker read them)",
            records=sent,
            seconds=seconds,
        )
        self.report.progress("waiting for the worker's snapshot to cover every md.depth record")
        deadline = time.monotonic() + 600
        while True:
            assert self.worker is not None
            check_alive([self.worker])
            read, snapped, records = md_depth_read(self.scoped, self.cores)
            if snapped is not None and snapped >= sent:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the worker read {read:,} of {sent:,} md.depth records in 600 s")
            time.sleep(CHECK_INTERVAL_S)
        waited = time.perf_counter() - started - seconds
        self.report.progress(
            f"snapshot covers all {sent:,} records {waited:.1f} s after the last was produced; "
            f"{records:,} records in the checkpoint topic"
        )
        self.report.notes["checkpoint records before the restarts"] = records

    # 3, 4 -----------------------------------------------------------------------------------------------
    def fresh_order(self) -> tuple[str, str, bytes]:
        """(account, order id, encoded NewOrder) of an order nobody has seen: the first NewOrder of a fresh flow."""
        self.fresh += 1
        flow = OrderFlow(
            FlowConfig(
                orders=1,
                seed=1000 + self.fresh,
                accounts=self.args.accounts,
                run_id=f"{self.topics.prefix}fresh-{self.fresh}",
                invalid_share=0.0,
                cancel_share=0.0,
                amend_share=0.0,
            )
        )
        command = next(c for c in flow.commands() if c.schema == NEW_ORDER)
        return command.key, command.record["order_id"], self.codec.encode(command.schema, command.record)

    def restart(self, cold: bool, profile_dir: Path | None = None) -> Restart:
        self.kill()
        if cold:
            self.delete_checkpoints()
        account, order_id, value = self.fresh_order()
        measurer = self._measurer()
        try:
            started = time.monotonic()
            worker = self.start(profile_dir)
            watch = LogWatch(self.log_of(), ACTIVE_LINE, started)
            self.producer.produce_raw(ORDERS_COMMANDS, account, value)
            self.producer.flush()
            accepted_at = self._await_accepted(measurer, order_id, worker, started + 600)
        finally:
            measurer.close()
        result = Restart(watch.stop(), accepted_at - started)
        if cold:
            read, _, _ = md_depth_read(self.scoped, self.cores)
            result.md_depth_read_at_accepted = read
            deadline = time.monotonic() + 600
            while read < self.args.records:
                check_alive([worker])
                if time.monotonic() > deadline:
                    raise TimeoutError(f"after a cold restart the worker read {read:,} md.depth records in 600 s")
                time.sleep(CHECK_INTERVAL_S / 4)
                read, _, _ = md_depth_read(self.scoped, self.cores)
            result.to_caught_up_s = time.monotonic() - started
        return result

    def delete_checkpoints(self) -> None:
        topic = physical_name(self.scoped, checkpoint_topic(STAGE))
        admin = admin_client(self.scoped)
        admin.delete_topics([topic], operation_timeout=30)[topic].result()
        deadline = time.monotonic() + 60
        while topic in admin.list_topics(timeout=10).topics:  # the worker creates it anew only once it is gone
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} still listed 60 s after its deletion")
            time.sleep(0.1)

    def _measurer(self) -> Consumer:
        consumer = Consumer(
            self.scoped.kafka_config(
                **{
                    "group.id": "bench-restart-measure",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 5,
                    "isolation.level": "read_committed",
                }
            )
        )
        name = physical_name(self.scoped, ORDERS_EVENTS)
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = [consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions]
        consumer.assign([TopicPartition(name, p, end) for p, end in zip(partitions, ends, strict=True)])
        consumer.poll(0.2)
        return consumer

    def _await_accepted(self, measurer: Consumer, order_id: str, worker: WorkerProcess, deadline: float) -> float:
        while time.monotonic() < deadline:
            for message in measurer.consume(500, 0.05):
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                record = self.codec.decode(value).record
                if record["order_id"] != order_id:
                    continue
                if record["event_type"] == "ACCEPTED":
                    return time.monotonic()
                if record["event_type"] in ("REJECTED", "DUPLICATE_REJECTED"):
                    raise RuntimeError(f"the fresh order {order_id} was {record['event_type']}")
            check_alive([worker])
        raise TimeoutError(f"no ACCEPTED for {order_id} within 600 s of the start")

    # the figures ---------------------------------------------------------------------------------------
    def run(self) -> None:
        self.setup()
        self.market_data()
        warm: list[Restart] = []
        for index in range(self.args.repeat):
            result = self.restart(cold=False)
            warm.append(result)
            self.report.progress(
                f"warm restart {index + 1}: active after {_seconds(result.to_active_s)}, fresh order ACCEPTED "
                f"after {result.to_accepted_s:.2f} s"
            )
        accepted = [r.to_accepted_s for r in warm]
        active = [r.to_active_s for r in warm if r.to_active_s is not None]
        spread = ", ".join(f"{s:.2f}" for s in accepted)
        self.report.add(
            "warm restart",
            "start → first ACCEPTED of a fresh order",
            statistics.median(accepted),
            "s",
            f"median of {len(accepted)} (each: {spread} s); SIGKILL, start, one fresh NewOrder produced at once; "
            f"{self.args.records:,} md.depth records behind, the snapshot covering them",
            runs_s=accepted,
        )
        if active:
            self.report.add(
                "warm restart",
                "start → active (lease held)",
                statistics.median(active),
                "s",
                f"median of {len(active)}: the worker's log line '{ACTIVE_LINE}' seen by this process; the rest "
                "up to ACCEPTED is rebuilding (checkpoints, snapshot, changelogs) and the first transaction",
                runs_s=active,
            )
        if self.args.profile_dir is not None:
            self.profiled_restart(self.args.profile_dir)
        if self.args.skip_cold:
            return
        _, _, records = md_depth_read(self.scoped, self.cores)
        self.report.notes["checkpoint records before the cold restart"] = records
        cold = self.restart(cold=True)
        self.report.add(
            "cold restart",
            "start → first ACCEPTED of a fresh order",
            cold.to_accepted_s,
            "s",
            f"the checkpoint topic deleted first (no positions, no snapshot: every input from offset 0); "
            f"{cold.md_depth_read_at_accepted or 0:,} of the {self.args.records:,} md.depth records read again "
            "by then",
            md_depth_read_at_accepted=cold.md_depth_read_at_accepted,
        )
        if cold.to_active_s is not None:
            self.report.add("cold restart", "start → active (lease held)", cold.to_active_s, "s")
        assert cold.to_caught_up_s is not None
        self.report.add(
            "cold restart",
            "start → every md.depth record read again",
            cold.to_caught_up_s,
            "s",
            f"until the stage's positions record says it read all {self.args.records:,} md.depth records "
            f"({rate(self.args.records, cold.to_caught_up_s):,.0f} records/s)",
        )

    def profiled_restart(self, profile_dir: Path) -> None:
        """One more warm restart (not counted), its worker under cProfile (wall clock: waits show), stopped with
        SIGTERM once its fresh order is ACCEPTED so the profile is written; then a plain worker again."""
        result = self.restart(cold=False, profile_dir=profile_dir)
        assert self.worker is not None
        stop_workers([self.worker])
        profile = profile_dir / f"restart{self.starts}-{STAGE}.prof"
        self.report.notes["profiled warm restart"] = {
            "to_accepted_s": result.to_accepted_s,
            "to_active_s": result.to_active_s,
            "profile": str(profile),
        }
        self.report.progress(
            f"profiled warm restart (not counted): ACCEPTED after {result.to_accepted_s:.2f} s; {profile}"
        )
        started = time.monotonic()
        worker = self.start()
        watch = LogWatch(self.log_of(), ACTIVE_LINE, started)
        while watch.seconds is None and time.monotonic() - started < 120:
            check_alive([worker])
            time.sleep(0.05)
        watch.stop()
        time.sleep(1.0)  # its rebuild done and a transaction or two: the cold restart kills a settled worker

    def close(self) -> None:
        if self.worker is not None:
            stop_workers([self.worker])


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f} s"


# -- the command ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.restart", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="md.depth records behind (1,000,000)")
    parser.add_argument("--orders", type=int, default=200, help="new orders of the flow before (200)")
    parser.add_argument("--accounts", type=int, default=4, help="accounts of the flow (4)")
    parser.add_argument("--repeat", type=int, default=3, help="warm restarts (3; the median is the figure)")
    parser.add_argument("--skip-cold", action="store_true", help="no restart without the checkpoint topic")
    parser.add_argument(
        "--profile-dir", type=Path, default=None, help="one more warm restart under cProfile (not counted), .prof here"
    )
    parser.add_argument(
        "--engine-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="passed to the worker's command line (processors.runtime.kafka_engine.EngineOptions)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout (progress on stderr)")
    args = parser.parse_args(argv)
    if args.profile_dir is not None:
        args.profile_dir = args.profile_dir.resolve()
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    if min(args.records, args.orders, args.accounts, args.repeat) < 1:
        parser.error("--records, --orders, --accounts and --repeat must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reporter, settings, info = open_report(
        "ShrivenQuant restart time of the orderpath stage (bench/restart.py)", args.json
    )
    if busy := busy_warning(info):
        reporter.line(busy)
    interrupt_on_sigterm()
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        bench = RestartBench(args, settings, reporter, Path(tmp))
        reporter.line(f"topics: {bench.topics.prefix}* (deleted at the end)")
        try:
            bench.run()
        except KeyboardInterrupt:
            interrupted = True
            reporter.line("interrupted")
        except Exception as error:
            reporter.failed("restart", "run", f"{type(error).__name__}: {error}")
            log = bench.log_of()
            if log.exists():
                reporter.notes["worker log tail"] = log.read_text(errors="replace")[-3000:]
        finally:
            bench.close()
            deleted = bench.topics.cleanup(groups_wait_s=15.0)
            reporter.progress(f"deleted {len(deleted)} bench topics and their consumer groups")
    end_load = load_average()
    reporter.summary()
    reporter.line(f"load average (1, 5, 15 min) after the run: {', '.join(map(str, end_load))}")
    if args.json:
        reporter.print_json(
            benchmark="bench.restart",
            command="python -m bench.restart " + " ".join(argv if argv is not None else sys.argv[1:]),
            machine=info,
            load_average_at_end=end_load,
            topic_prefix=bench.topics.prefix,
            parameters={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        )
    if interrupted:
        return 130
    return 1 if any(f.error is not None for f in reporter.figures) else 0


if __name__ == "__main__":
    sys.exit(main())
