"""Reconnection delays grow exponentially up to a cap, with seeded jitter below the ceiling."""

from __future__ import annotations

import random

import pytest

from connectors.marketdata.backoff import Backoff


def test_delays_double_until_the_cap_and_stay_within_the_jitter_band() -> None:
    backoff = Backoff(base_s=0.5, factor=2.0, cap_s=4.0, jitter=0.5, rng=random.Random(3))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.next_delay() for _ in ceilings]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.5 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not in lockstep


def test_same_seed_gives_the_same_delays_and_reset_starts_over() -> None:
    first = Backoff(rng=random.Random(11))
    second = Backoff(rng=random.Random(11))
    assert [first.next_delay() for _ in range(5)] == [second.next_delay() for _ in range(5)]
    first.reset()
    assert first.next_delay() <= first.base_s


def test_no_jitter_gives_the_exact_ceiling() -> None:
    backoff = Backoff(base_s=1.0, cap_s=3.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(4)] == [1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("kwargs", [{"base_s": 0}, {"base_s": 2, "cap_s": 1}, {"factor": 0.5}, {"jitter": 1.5}])
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)  # type: ignore[arg-type]
