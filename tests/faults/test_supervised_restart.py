"""Workers SIGKILLed mid-flow are restarted by their supervisor, as `sq up` and `sq run` run them.

No one restarts anything by hand here: the supervisor sees the exit, waits out its backoff and starts the
worker again, which rebuilds from its changelogs and checkpoints. Every invariant holds afterwards.
"""

from __future__ import annotations

import functools

import pytest

from connectors.order_flow import FlowConfig
from processors.runtime.pipeline import topology_stages
from processors.runtime.supervisor import Supervisor
from replay.order_path_log import verify_settled
from settings import Settings
from tests.kit.running import PacedFlow, send_limits, wait_for

pytestmark = pytest.mark.integration


def _sent_at_least(paced: PacedFlow, count: int) -> bool:
    return paced.sent >= count


@pytest.mark.timeout(600)
@pytest.mark.parametrize("topology", ["single", "split"])
def test_killed_workers_are_restarted_by_their_supervisor(catalogue_topics: Settings, topology: str) -> None:
    settings = catalogue_topics
    stages = topology_stages(topology)
    messages: list[str] = []
    supervisor = Supervisor(settings.as_env(), say=messages.append, first_backoff_s=0.2)
    for stage in stages:
        supervisor.start(stage)
    victims = [stages[0], stages[-1]]  # the single stage twice; the account stage, then the venue stage
    try:
        config = FlowConfig(orders=1_500, seed=9, accounts=4, run_id="supervised")
        paced, limits = PacedFlow.of(settings, config, rate=250)
        send_limits(settings, limits, stages[0])
        paced.start()
        for n, stage in enumerate(victims, start=1):
            share = n * len(paced.commands) // 3
            wait_for(functools.partial(_sent_at_least, paced, share), 60, f"{n} third(s) of the flow")
            victim = next(w for w in supervisor.workers if w.processor == stage)
            victim.process.kill()  # SIGKILL: a transaction may be open

            def restarted(n: int = n) -> bool:
                assert supervisor.check() is None, messages
                return sum(supervisor.restarts.values()) >= n

            wait_for(restarted, 30, f"the supervisor to restart {stage}")
        assert paced.done.wait(120) and paced.error is None, paced.error
        report = verify_settled(settings, settle_s=240)
        assert supervisor.check() is None, messages
    finally:
        supervisor.stop()
    assert sum(supervisor.restarts.values()) == len(victims), messages
    assert any("restarted" in message for message in messages)
    assert report.commands == len(paced.commands)
    assert report.ok, report.as_json()
