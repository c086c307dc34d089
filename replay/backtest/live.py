"""A strategy live against the running pipeline (`sq strategy run`): the same ``StrategyRunner`` as the backtest,
fed from Kafka.

It reads ``md.book.top``, ``md.trades`` and ``orders.events`` (committed records only, every partition, no
consumer group: it keeps no offsets, a restart starts from the end again unless told to read from the
beginning) and produces what the strategy sends to ``orders.commands``. Time is the event time of the record
the strategy reacts to, as in a backtest at zero latency, so the same records give the same commands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from processors.core import Emit, Event
from replay.backtest.strategy import STRATEGY_INPUTS, StrategyRunner
from schemas.codec import Codec, default_codec
from settings import Settings
from topics.admin import physical_name
from topics.client import AvroProducer


@dataclass
class LiveStats:
    events: int = 0
    commands: int = 0
    fills: int = 0


class LiveStrategy:
    def __init__(
        self, settings: Settings, runner: StrategyRunner, *, from_beginning: bool, codec: Codec | None = None
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.codec = codec or default_codec()
        self.stats = LiveStats()
        self.producer = AvroProducer(settings, self.codec)
        self.consumer = Consumer(
            settings.kafka_config(
                **{
                    "group.id": f"sq.strategy.{runner.name}.{runner.ctx.account}",  # assigned, never committed
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                }
            )
        )
        self._logical = {physical_name(settings, topic): topic for topic in STRATEGY_INPUTS}
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        partitions = []
        for name in self._logical:
            metadata = self.consumer.list_topics(name, timeout=10).topics[name]
            if metadata.error is not None:
                raise RuntimeError(f"topic {name} cannot be read: {metadata.error}; did `sq topics create` run?")
            partitions += [TopicPartition(name, p, start) for p in metadata.partitions]
        self.consumer.assign(partitions)

    def run(self, should_stop: Callable[[], bool], on_progress: Callable[[LiveStats], None] | None = None) -> None:
        reported = time.monotonic()
        while not should_stop():
            for message in self.consumer.consume(500, timeout=0.2):
                value = message.value()
                if message.error() is not None or value is None:
                    continue
                decoded = self.codec.decode(value)
                key = message.key()
                topic = self._logical[message.topic() or ""]
                time_us = decoded.record["meta"]["event_time_us"]
                event = Event(topic, key.decode() if key else None, decoded.schema, decoded.record, time_us)
                self.stats.events += 1
                if not self.runner.started:
                    self._send(self.runner.start(time_us))
                if decoded.record.get("account") == self.runner.ctx.account and decoded.record.get("last_quantity"):
                    self.stats.fills += 1
                self._send(self.runner.on_event(event, time_us))
            if on_progress is not None and time.monotonic() - reported >= 5:
                reported = time.monotonic()
                on_progress(self.stats)

    def _send(self, commands: list[Emit]) -> None:
        for command in commands:
            self.producer.produce(command.topic, command.key, command.schema, command.record)
        if commands:
            self.producer.flush()
            self.stats.commands += len(commands)

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush()
