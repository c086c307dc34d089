from __future__ import annotations

from topics.catalogue import ACCOUNT_PARTITIONS, CATALOGUE, FOREVER, spec_for


def test_topic_names_are_unique() -> None:
    names = [spec.name for spec in CATALOGUE]
    assert len(names) == len(set(names))


def test_account_keyed_topics_share_one_partition_count_so_joins_stay_local() -> None:
    counts = {
        spec.partitions for spec in CATALOGUE if spec.key == "account"
    }  # account|symbol keys are not co-partitioned
    assert counts == {ACCOUNT_PARTITIONS}


def test_audit_topics_keep_everything() -> None:
    for name in (
        "orders.commands",
        "risk.decisions",
        "orders.events",
        "venue.orders",
        "venue.executions",
        "control.events",
        "ops.deadletters",
    ):
        spec = spec_for(name)
        assert spec.retention_ms == FOREVER and spec.cleanup_policy == "delete", name


def test_state_topics_are_compacted() -> None:
    assert spec_for("risk.limits").cleanup_policy == "compact"
    assert spec_for("portfolio.positions").cleanup_policy == "compact"


def test_unknown_topic_names_the_known_ones() -> None:
    try:
        spec_for("orders.typo")
    except KeyError as error:
        assert "orders.commands" in str(error)
    else:
        raise AssertionError("expected a KeyError")
