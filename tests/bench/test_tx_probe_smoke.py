"""bench.tx_probe runs on tiny sizes, reports every call's figures for the four variants (values are not judged)
and deletes its topics."""

from __future__ import annotations

import pytest
from _bench_run import assert_no_topics_left, measured_figures, run_bench

from settings import Settings

pytestmark = pytest.mark.integration


@pytest.mark.timeout(90)
def test_tx_probe_reports_every_variant_and_leaves_no_topics(infra_settings: Settings) -> None:
    document = run_bench("bench.tx_probe", ["--transactions", "5", "--outputs", "2"], infra_settings, timeout_s=80)

    figures = measured_figures(document)
    stats = ("p50", "p99", "mean")
    expected = set()
    for offsets in ("send_offsets", "no send_offsets"):
        calls = ("send_offsets", "commit", "transaction") if offsets == "send_offsets" else ("commit", "transaction")
        for backoff in ("default retry.backoff.ms", "retry.backoff.ms=10"):
            expected |= {(f"{offsets}, {backoff}", f"{call} {stat}") for call in calls for stat in stats}
    assert set(figures) == expected
    assert len([name for name in document["notes"] if "CONCURRENT_TRANSACTIONS" in name]) == 4

    assert_no_topics_left(document, infra_settings)
