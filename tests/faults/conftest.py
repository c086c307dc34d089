"""Fixtures for fault tests: a broker of the test's own, so killing it disturbs no other test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from settings import Settings
from tests.kit.brokers import OwnBroker
from tests.kit.brokers import own_broker as start_own_broker


@pytest.fixture
def own_broker(infra_settings: Settings) -> Iterator[OwnBroker]:
    if infra_settings.external_kafka:
        pytest.skip("needs the local broker's jars: the session runs against an external cluster")
    with start_own_broker(infra_settings) as broker:
        yield broker
