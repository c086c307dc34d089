"""Which client errors make the kafka engine renew its clients."""

from __future__ import annotations

from confluent_kafka import KafkaError

from processors.runtime.kafka_engine import is_fatal


def test_a_fatal_record_is_fatal_even_without_its_fatal_flag() -> None:
    # what a static consumer fenced after its session timed out hands back from consume()
    assert is_fatal(KafkaError(KafkaError._FATAL, "Static consumer fenced by other consumer"))
    assert is_fatal(KafkaError(KafkaError._TIMED_OUT, "stuck", fatal=True))


def test_transient_errors_are_not_fatal() -> None:
    assert not is_fatal(KafkaError(KafkaError._TRANSPORT, "broker down"))
    assert not is_fatal(KafkaError(KafkaError.NOT_COORDINATOR, "moved"))
    assert not is_fatal(KafkaError(KafkaError._PARTITION_EOF))
