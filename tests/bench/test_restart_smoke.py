"""bench.restart runs end to end on tiny sizes and reports every figure (values are not judged), and deletes its
topics."""

from __future__ import annotations

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration

EXPECTED_FIGURES = {
    ("market data", "md.depth records produced"),
    ("warm restart", "start → first ACCEPTED of a fresh order"),
    ("warm restart", "start → active (lease held)"),
    ("cold restart", "start → first ACCEPTED of a fresh order"),
    ("cold restart", "start → active (lease held)"),
    ("cold restart", "start → every md.depth record read again"),
}


@pytest.mark.timeout(150)
def test_restart_reports_every_figure_and_leaves_no_topics(infra_settings: Settings) -> None:
    args = ["--records", "3000", "--orders", "30", "--accounts", "2", "--repeat", "2"]
    document = run_bench("bench.restart", args, infra_settings, timeout_s=140)

    figures = measured_figures(document)
    assert set(figures) == EXPECTED_FIGURES
    assert len(figures[("warm restart", "start → first ACCEPTED of a fresh order")]["extra"]["runs_s"]) == 2
    assert (
        figures[("cold restart", "start → first ACCEPTED of a fresh order")]["extra"]["md_depth_read_at_accepted"] >= 0
    )

    assert_no_topics_left(document, infra_settings)
