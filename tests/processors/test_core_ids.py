"""Derived ids are uuid5 of the cause, stage and index: stable across live, replay and backtest."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from processors.core import _ID_NAMESPACE, derived_event_id, order_id_for


@given(st.text(), st.text(), st.integers(min_value=0, max_value=10**9))
def test_derived_event_id_is_the_uuid5_of_cause_stage_and_index(cause: str, stage: str, index: int) -> None:
    assert derived_event_id(cause, stage, index) == str(uuid.uuid5(_ID_NAMESPACE, f"{cause}|{stage}|{index}"))


@given(st.text(), st.text())
def test_order_id_is_the_uuid5_of_account_and_client_order_id(account: str, client_order_id: str) -> None:
    assert order_id_for(account, client_order_id) == str(
        uuid.uuid5(_ID_NAMESPACE, f"order|{account}|{client_order_id}")
    )


def test_order_id_is_deterministic_per_account_and_client_order_id() -> None:
    assert order_id_for("A", "c1") == order_id_for("A", "c1") != order_id_for("B", "c1")
