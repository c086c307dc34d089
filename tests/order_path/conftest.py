"""Fixtures: one running order path per deployment and module, real worker processes against the real broker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from running_path import DEPLOYMENTS, RunningPath

from settings import Settings
from topics.admin import create_topics, delete_prefixed_topics
from topics.catalogue import CATALOGUE


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def path(request: pytest.FixtureRequest, infra_settings: Settings) -> Iterator[RunningPath]:
    settings = infra_settings.with_topic_prefix(f"p{uuid.uuid4().hex[:10]}.")
    create_topics(settings, CATALOGUE)
    running = RunningPath(settings, request.param)
    running.start()
    if request.param == "single":
        running.start(worker=1)  # a standby: it takes over when the active worker dies
    try:
        yield running
    finally:
        running.stop()
        delete_prefixed_topics(settings)


@pytest.fixture
def account() -> str:
    return f"ACC-{uuid.uuid4().hex[:8]}"
