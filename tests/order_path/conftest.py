"""Fixtures: one order path per engine and module, real worker processes against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from order_path_pipeline import ENGINES, Pipeline

from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE


@pytest.fixture(scope="module", params=ENGINES)
def pipeline(request: pytest.FixtureRequest, infra_settings: Settings) -> Iterator[Pipeline]:
    settings = infra_settings.with_topic_prefix(f"p{uuid.uuid4().hex[:10]}.")
    create_topics(settings, CATALOGUE)
    running = Pipeline(settings, request.param)
    running.start()
    try:
        yield running
    finally:
        running.stop()
        delete_prefixed_topics(settings)


@pytest.fixture
def account() -> str:
    return f"ACC-{uuid.uuid4().hex[:8]}"
