"""The synthetic session is seeded, consistent as a book, trades hit the book, and the shipped sample is it."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pyarrow.parquet as pq

from connectors.marketdata.book_sync import BookSync
from connectors.marketdata.messages import BookSnapshot, DepthDiff, TradePrint
from connectors.marketdata.sample import SAMPLE_DIR, SAMPLE_FILE, sample_rows
from connectors.marketdata.synthetic import START_US, SessionConfig, generate_session
from processors.orderbook.sequencing import BINANCE_SPOT, BINANCE_USDM_FUTURES

MINUTE = SessionConfig(seconds=60)


def test_same_seed_gives_the_same_session_and_another_seed_does_not() -> None:
    assert list(generate_session(MINUTE)) == list(generate_session(MINUTE))
    assert list(islice(generate_session(SessionConfig(seed=8, seconds=60)), 50)) != list(
        islice(generate_session(MINUTE), 50)
    )


def test_book_stays_uncrossed_with_the_configured_depth_and_trades_hit_its_best_levels() -> None:
    books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
    trades = 0
    for message in generate_session(SessionConfig(seconds=120)):
        if isinstance(message, BookSnapshot):
            books[message.symbol] = (dict(message.bids), dict(message.asks))
        elif isinstance(message, DepthDiff):
            bids, asks = books[message.symbol]
            for side, changes in ((bids, message.bids), (asks, message.asks)):
                for price, quantity in changes:
                    if quantity:
                        side[price] = quantity
                    else:
                        side.pop(price)
            assert len(bids) == len(asks) == 20
            assert max(bids) < min(asks)
        else:
            bids, asks = books[message.symbol]
            # The trade's level rests in the book it hit (before the step's depth change reports the fill).
            resting = asks if message.aggressor == "BUY" else bids
            assert message.price in resting and message.quantity <= resting[message.price]
            trades += 1
    assert trades > 100


def test_update_ids_chain_under_both_spot_and_futures_rules() -> None:
    for rule in (BINANCE_SPOT, BINANCE_USDM_FUTURES):
        syncs: dict[str, BookSync] = {}
        for message in generate_session(MINUTE):
            if isinstance(message, BookSnapshot):
                syncs[message.symbol] = sync = BookSync(rule)
                sync.on_diff(
                    DepthDiff(
                        message.symbol,
                        message.last_update_id,
                        message.last_update_id,
                        message.last_update_id - 1,
                        0,
                        (),
                        (),
                    )
                )
                sync.on_snapshot(message)
            elif isinstance(message, DepthDiff):
                step = syncs[message.symbol].on_diff(message)
                assert step.gaps == [] and step.publish == [message]


def test_volatility_clusters_absolute_returns_are_autocorrelated() -> None:
    last_price: dict[int, int] = {}
    for message in generate_session(SessionConfig(seconds=1200, symbols=("BTCUSDT",))):
        if isinstance(message, TradePrint):
            last_price[(message.time_us - START_US) // 10_000_000] = message.price
    prices = np.array([last_price[k] for k in sorted(last_price)], dtype=float)
    moves = np.abs(np.diff(np.log(prices)))
    assert np.corrcoef(moves[:-1], moves[1:])[0, 1] > 0.05


def test_shipped_sample_is_the_generator_output_an_hour_long_and_small() -> None:
    path = SAMPLE_DIR / SAMPLE_FILE
    assert path.stat().st_size < 4_000_000
    table = pq.read_table(path)
    times = table.column("time_us").to_pylist()
    assert times == sorted(times) and times[-1] - times[0] >= 3599 * 1_000_000
    assert set(table.column("symbol").to_pylist()) == {"BTCUSDT", "ETHUSDT"}
    assert set(table.column("kind").to_pylist()) == {"snapshot", "update", "trade"}
    # A shorter session is a prefix of the hour: the shipped file starts with exactly these rows.
    expected = [row for row in sample_rows(MINUTE) if row["time_us"] < START_US + 59_000_000]
    assert table.slice(0, len(expected)).to_pylist() == expected
