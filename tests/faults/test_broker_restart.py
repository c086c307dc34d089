"""The broker SIGKILLed mid-flow and started again 15 s later: no worker exits, and every invariant holds.

Each topology's workers run under a supervisor (as `sq up` runs them) against a broker of the test's own;
while a paced flow is being produced, the broker dies without a clean shutdown and comes back. The workers
ride it out (retriable errors retried, aborted transactions rewound) without exiting: the supervisor counts
no restart. Then every command has exactly one outcome, nothing is duplicated, positions equal the fills.
"""

from __future__ import annotations

import time

import pytest

from connectors.order_flow import FlowConfig
from processors.runtime.pipeline import topology_stages
from processors.runtime.supervisor import Supervisor
from replay.order_path_log import verify_settled
from tests.kit.brokers import OwnBroker
from tests.kit.running import PacedFlow, send_limits, wait_for
from topics.admin import create_topics
from topics.catalogue import CATALOGUE, ORDERS_EVENTS
from topics.client import read_topic

pytestmark = pytest.mark.integration

OUTAGE_S = 15.0


@pytest.mark.timeout(600)
@pytest.mark.parametrize("topology", ["single", "split"])
def test_a_broker_restart_mid_flow_stops_no_worker_and_loses_nothing(own_broker: OwnBroker, topology: str) -> None:
    settings = own_broker.settings
    create_topics(settings, CATALOGUE)
    stages = topology_stages(topology)
    messages: list[str] = []
    supervisor = Supervisor(settings.as_env(), say=messages.append)
    for stage in stages:
        supervisor.start(stage)
    try:
        paced, limits = PacedFlow.of(settings, FlowConfig(orders=2_000, seed=3, accounts=4, run_id="broker"), rate=150)
        send_limits(settings, limits, stages[0])
        paced.start()
        wait_for(lambda: paced.sent >= len(paced.commands) // 3, 60, "a third of the flow")
        wait_for(lambda: sum(1 for _ in read_topic(settings, ORDERS_EVENTS)) > 200, 60, "the path to be busy")
        own_broker.kill()
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < OUTAGE_S:
            assert supervisor.check() is None
            time.sleep(0.5)
        own_broker.start()
        assert paced.done.wait(300), "the flow was not produced within 300 s of the restart"
        assert paced.error is None, paced.error
        report = verify_settled(settings, settle_s=240)
        assert supervisor.check() is None
        assert sum(supervisor.restarts.values()) == 0, messages  # no worker exited
    finally:
        supervisor.stop()
    assert report.commands == len(paced.commands), report.as_json()
    assert report.ok, report.as_json()
    assert report.lost == 0 and report.duplicated == 0 and report.duplicate_fills == 0
