"""A stage's worker on a namespace of topics, and how far it has applied its inputs: what a replay or a
backtest through Kafka (replay/kafka_namespace.py, replay/backtest/via_kafka.py) waits on.

An exclusive stage writes its position in every input in each of its transactions (processors/runtime/
checkpoints.py): the latest positions record on its checkpoint topic says what it applied, outputs included
(they are in the same transaction). A group stage commits its offsets in its transactions
(``send_offsets_to_transaction``): its group's committed offsets say the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from processors.runtime.checkpoints import POSITIONS_KEY
from processors.runtime.pipeline import STAGES
from processors.runtime.registry import consumer_group
from processors.runtime.supervisor import WorkerProcess, stop_workers, worker_argv
from settings import Settings
from topics.admin import physical_name
from topics.catalogue import checkpoint_topic

Positions = dict[tuple[str, int], int]  # (logical topic, partition) -> the next offset to apply
POLL_S = 0.005


class StageWorker:
    """One kafka worker of ``stage`` on ``settings``' topics, its log kept in a temporary file (shown when it
    exits or stalls), and how far it applied each input. A context manager: the worker stops at the end."""

    def __init__(self, settings: Settings, stage: str) -> None:
        self.settings = settings
        self.stage = stage
        self.exclusive = STAGES[stage].exclusive
        self.positions: Positions = {}
        self._log = tempfile.NamedTemporaryFile("w+", prefix=f"sq-{stage}-", suffix=".log")  # noqa: SIM115
        self.worker = WorkerProcess(
            stage,
            0,
            "kafka",
            subprocess.Popen(
                worker_argv(stage),
                env={**os.environ, **settings.as_env()},
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            ),
        )
        group = consumer_group(settings, "kafka", stage)
        self._consumer = Consumer(
            settings.kafka_config(
                **{
                    # an exclusive stage: a reader of its checkpoint topic; a group stage: its group, never joined
                    "group.id": "sq-stage-progress" if self.exclusive else group,
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "enable.partition.eof": False,
                    "fetch.wait.max.ms": 10,
                }
            )
        )
        if self.exclusive:
            name = physical_name(settings, checkpoint_topic(stage))
            self._consumer.assign([TopicPartition(name, 0, OFFSET_BEGINNING)])

    def __enter__(self) -> StageWorker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        stop_workers([self.worker])
        self._consumer.close()
        self._log.close()

    def wait_ready(self, timeout_s: float) -> None:
        """Until the worker serves: its state rebuilt (its log says so). A broadcast record that reaches it while it
        rebuilds is applied without a transaction (it emits nothing then), so the inputs wait for this."""
        deadline = time.monotonic() + timeout_s
        while f"{self.stage}: restored " not in self._log_text():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the {self.stage} worker did not start serving within {timeout_s:.0f} s; its log ends: "
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def _check_alive(self) -> None:
        if self.worker.process.poll() is not None:
            code = self.worker.process.returncode
            raise RuntimeError(f"the {self.stage} worker exited ({code}); its log ends: {self.log_tail()}")

    def reached(self, wanted: Mapping[tuple[str, int], int]) -> bool:
        return all(self.positions.get(key, 0) >= offset for key, offset in wanted.items())

    def wait(self, wanted: Mapping[tuple[str, int], int], timeout_s: float) -> None:
        """Until the worker applied the inputs up to ``wanted`` (logical topic, partition -> next offset).
        Raises RuntimeError when the worker exits, TimeoutError after ``timeout_s``; both with its log's end."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._refresh(wanted)
            if self.reached(wanted):
                return
            self._check_alive()
            if time.monotonic() > deadline:
                behind = {f"{t}:{p}": [self.positions.get((t, p), 0), o] for (t, p), o in wanted.items()}
                raise TimeoutError(
                    f"the {self.stage} worker did not apply its inputs within {timeout_s:.0f} s (applied, wanted: "
                    f"{behind}); its log ends: {self.log_tail()}"
                )
            time.sleep(POLL_S)

    def _refresh(self, wanted: Mapping[tuple[str, int], int]) -> None:
        if self.exclusive:
            for message in self._consumer.consume(100, timeout=POLL_S):
                key, value = message.key(), message.value()
                if message.error() is not None or key is None or value is None:
                    continue
                if key.decode().rsplit("|", 1)[-1] == POSITIONS_KEY:
                    for topic, partition, offset in json.loads(value):
                        self.positions[topic, partition] = max(offset, self.positions.get((topic, partition), 0))
            return
        asked = [TopicPartition(physical_name(self.settings, t), p) for t, p in wanted]
        logical = {physical_name(self.settings, t): t for t, _ in wanted}
        for found in self._consumer.committed(asked, timeout=10) if asked else []:
            if found.offset >= 0:
                self.positions[logical[found.topic], found.partition] = found.offset

    def _log_text(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def log_tail(self) -> str:
        return self._log_text()[-1500:].strip() or "(empty)"
