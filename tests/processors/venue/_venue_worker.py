"""Entry point of a venue worker process on the kafka engine (spawned, so a test can stop it with SIGTERM)."""

from __future__ import annotations

from processors.runtime.kafka_engine import EngineOptions, KafkaEngine
from processors.venue import VenueCore
from settings import Settings


def run_venue_engine(settings: Settings, max_seconds: float) -> None:
    KafkaEngine([VenueCore], settings, EngineOptions(worker=0, batch_size=50)).run(max_seconds)
