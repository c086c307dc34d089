"""bench.cores runs on tiny sizes and reports every figure (values are not judged), and each core's inputs it
times alone are exactly what the memory engine handed that core."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _bench_run import measured_figures

from bench.cores import PATH_STAGE, main, path_engine, path_inputs
from connectors.order_flow import FlowConfig
from processors.runtime.pipeline import stage_spec
from processors.runtime.registry import new_core
from tests.kit.flows import flow_events


def test_the_bench_reports_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--orders", "60", "--accounts", "3", "--repeat", "1", "--batch", "40", "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    figures = measured_figures(document)
    names = {name for _, name in figures}
    assert {"risk", "oms", "venue", "portfolio"} <= names
    assert "whole path, memory engine, checkpoint every 40 inputs" in names
    assert {"risk: NewOrder", "oms: RiskDecision", "oms: ExecutionReport", "venue: VenueOrder"} <= names
    assert {"outputs", "handing outputs on in process (an Event each)"} <= names


def test_each_core_alone_on_its_handed_inputs_writes_what_it_wrote_in_the_engine() -> None:
    events = flow_events(FlowConfig(orders=200, seed=3, accounts=3))
    inputs = path_inputs(events)
    engine = path_engine(None).run(events)
    for name in stage_spec(PATH_STAGE).cores:
        core = new_core(name)
        alone = [emit for event in inputs[name] for emit in core.apply(event)]
        assert bool(alone) == (name != "router"), name  # the router works only algorithmic parents: none here
        for topic in core.outputs:  # each of its output topics has no other writer in the path: same order
            assert [emit for emit in alone if emit.topic == topic] == engine.outputs.get(topic, []), (name, topic)
