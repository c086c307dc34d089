"""`sq chaos broker` and `sq chaos rebalance` on a three-node KRaft cluster (replication 3, min.insync.replicas 2)
that clients reach over SASL (PLAIN), as a managed cluster: every client the order path creates must take the
settings' KAFKA_* security properties, or it cannot connect at all.

One cluster for the module (three JVMs are heavy on two cores), started by the fixture and removed at the end;
each run makes topics and a database of its own. Sizes are bounded for `make test`; `make soak` raises them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_cli import WORKTREE, assert_clean, run_chaos

from infra.kafka_broker import LocalBroker
from infra.kafka_cluster import LocalCluster
from settings import Settings

pytestmark = pytest.mark.integration

BROKER_ORDERS = int(os.environ.get("SQ_CHAOS_BROKER_ORDERS", "1000"))
BROKER_KILLS = int(os.environ.get("SQ_CHAOS_BROKER_KILLS", "1"))
REBALANCE_ORDERS = int(os.environ.get("SQ_CHAOS_REBALANCE_ORDERS", "2000"))
REBALANCE_KILLS = int(os.environ.get("SQ_CHAOS_REBALANCE_KILLS", "1"))
PARTITIONS = 6
WORKERS = 3
RATE = 200  # commands/s: the faults (a node restart takes 8-15 s here) land while the flow goes on


def _budget_s(orders: int) -> float:
    """Seconds a run may take: starting, the faults one after another (the flow waits for each), settling and the
    rebuild, plus the flow (about 1.3 commands per order) twice over."""
    return 600 + 2 * 1.4 * orders / RATE


@pytest.fixture(scope="module")
def cluster(infra_settings: Settings) -> Iterator[LocalCluster]:
    if infra_settings.external_kafka:
        pytest.skip("needs the local broker's jars: the session runs against an external cluster")
    libs = LocalBroker(infra_settings.home, infra_settings.kafka_port).libs
    home = Path(tempfile.mkdtemp(prefix="sq-test-cluster-"))
    started = LocalCluster.create(home, libs, size=3, sasl=("sq-test", "sq-test-secret"))
    try:
        started.start()
        yield started
    finally:
        started.remove()


@pytest.mark.timeout(_budget_s(BROKER_ORDERS) + 60)
def test_broker_nodes_the_controller_and_a_rolling_restart_lose_nothing(
    infra_settings: Settings, cluster: LocalCluster
) -> None:
    """Nodes SIGKILLed mid-flow, then the active controller, then each node restarted in turn: no worker
    exits, every command has exactly one outcome, the projections equal a rebuild from the log."""
    code, report, stderr = run_chaos(
        infra_settings.as_env(),
        "broker",
        f"--orders={BROKER_ORDERS}",
        f"--kills={BROKER_KILLS}",
        f"--rate={RATE}",
        "--seed=3",
        f"--cluster-home={cluster.home}",
        timeout_s=_budget_s(BROKER_ORDERS),
    )
    assert code == 0, stderr[-4000:]
    assert_clean(report, faults=BROKER_KILLS + 1 + 3)
    details = report["details"]
    assert isinstance(details, dict)
    kinds = [fault["fault"] for fault in details["faults"]]
    assert kinds == ["node killed"] * BROKER_KILLS + ["active controller killed"] + ["rolling restart"] * 3
    controller = details["faults"][BROKER_KILLS]
    assert controller["next_controller"] != controller["node"]
    assert details["worker_restarts"] == {}
    assert details["cluster"] == {"nodes": 3, "replication": 3, "min_insync_replicas": 2}
    assert details["projections"]["rows"]["fills"] > 0


@pytest.mark.timeout(_budget_s(REBALANCE_ORDERS) + 60)
def test_three_workers_per_stage_rebalance_around_a_killed_one(infra_settings: Settings, cluster: LocalCluster) -> None:
    """The split topology with three workers per stage on six partitions, over SASL: one worker of each stage
    killed and held down until its group has handed its partitions to the other two, then started again."""
    env = {
        **infra_settings.with_kafka(cluster.bootstrap_servers, cluster.client_properties()).as_env(),
        "SQ_ACCOUNT_PARTITIONS": str(PARTITIONS),
        "SQ_SYMBOL_PARTITIONS": str(PARTITIONS),
    }
    code, report, stderr = run_chaos(
        env,
        "rebalance",
        f"--orders={REBALANCE_ORDERS}",
        f"--kills={REBALANCE_KILLS}",
        f"--workers={WORKERS}",
        "--accounts=12",
        f"--rate={RATE}",
        "--seed=3",
        timeout_s=_budget_s(REBALANCE_ORDERS),
    )
    assert code == 0, stderr[-4000:]
    assert_clean(report, faults=2 * REBALANCE_KILLS)
    details = report["details"]
    assert isinstance(details, dict)
    assert details["partitions"] == {"account_keyed": PARTITIONS, "symbol_keyed": PARTITIONS}
    for fault in details["faults"]:
        members = fault["partitions_per_member"]
        # every partition owned before, without the killed worker and after it came back
        assert len(members["before"]) == WORKERS and len(members["without_it"]) == WORKERS - 1
        assert sum(members["before"]) == sum(members["without_it"]) == sum(members["after"])
    assert details["worker_restarts"] == {}


def test_a_cluster_without_jars_says_how_to_get_them(tmp_path: Path) -> None:
    from infra.process import InfraError

    with pytest.raises(InfraError, match="sq infra fetch"):
        LocalCluster.create(tmp_path / "cluster", tmp_path / "no-libs")


@pytest.mark.timeout(600)
def test_the_scale_out_bench_runs_on_the_cluster(infra_settings: Settings, cluster: LocalCluster) -> None:
    """bench.scale_out at its smallest on the module's cluster: every figure it reports is there and positive."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale_out",
            "--workers=1,2",
            "--partitions=2",
            "--baseline-partitions=1",
            "--orders=300",
            "--accounts=8",
            f"--cluster-home={cluster.home}",
            "--json",
        ],
        cwd=WORKTREE,
        env={**os.environ, **infra_settings.as_env(), "PYTHONPATH": str(WORKTREE)},
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    document = json.loads(done.stdout)
    runs = [(c["partitions"], c["workers_per_stage"]) for c in document["configurations"]]
    assert runs == [(1, 1), (2, 1), (2, 2)]
    names = {figure["name"] for figure in document["figures"]}
    assert {"throughput, new orders", "speed-up, 2 workers/stage", "new orders/s per core, account stage"} <= names
    assert all(c["orders_per_s"] > 0 and c["new_orders"] > 0 for c in document["configurations"])
