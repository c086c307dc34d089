"""Where a feed's records go: Kafka (one producer for every topic) and, optionally, a Parquet recording."""

from __future__ import annotations

from connectors.marketdata.tape import row_from_emit
from connectors.marketdata.tape_io import TapeRecorder
from processors.core import Emit
from processors.runtime.metrics import ProcessMetrics
from topics.client import AvroProducer


class KafkaSink:
    def __init__(
        self, producer: AvroProducer, recorder: TapeRecorder | None = None, metrics: ProcessMetrics | None = None
    ) -> None:
        self.producer = producer
        self.recorder = recorder
        self.metrics = metrics

    def publish(self, emit: Emit) -> None:
        self.producer.produce(emit.topic, emit.key, emit.schema, emit.record)
        if self.metrics is not None:  # a feed's events out per topic, its dead letters; alive while it publishes
            self.metrics.observe_emits((emit,))
            self.metrics.tick()
        if self.recorder is not None and (row := row_from_emit(emit)) is not None:
            self.recorder.add(row)

    def flush(self, timeout_s: float = 30.0) -> None:
        self.producer.flush(timeout_s)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self.recorder is not None:
                self.recorder.close()
