"""What the market's own events do to the orders resting at a venue that fills against the market.

A public trade (``md.trades``) fills our resting limit orders it prints through, as makers at their own price:

- strictly through (a buy resting above the trade price, a sell below): the order fills;
- at the order's price: the order fills only once the market queue estimated ahead of it is gone. The estimate
  (``Order.queue_ahead``) starts as the displayed quantity at that price when the order came to rest, drops
  by the quantity of every trade at that price, and never exceeds what the level still displays (an update
  that shrinks the level says that some of the queue was cancelled, ahead of us or not: we assume ahead).
- One trade fills at most its own quantity across our orders, best price first, then time priority; at the
  trade's price, the part of the trade that reaches past an order's queue estimate is what it can take.
- Only orders resting at the trade's event time: an order that came to rest later (by the venue's clock, the
  latest event time it has seen) is not filled by a trade printed before it, however late the trade arrives.
- The trade also counts as a print for stop orders (they trigger at or through their stop price).
- An order that came to rest before the venue had a market book for its symbol has no estimate (None): no
  queue is assumed ahead of it. Trades fill resting orders whether the market book is in sync or not: a
  trade is a fact, a stale book only stops orders from *taking* displayed liquidity.

Nothing here changes the market book: taking displayed liquidity is the taker's business (``matching``).
"""

from __future__ import annotations

from processors.venue.book import BUY, SELL, Book, Order
from processors.venue.market import LevelKey
from processors.venue.matching import MAKER, Fees, Output, Report, TradePrint, fee_for, run_stops
from schemas.scales import Price


def fill_on_trade(
    book: Book, fees: Fees, price: Price, quantity: int, *, aggressor: str | None, time_us: int, out: Output
) -> bool:
    """Our resting orders a public trade of ``quantity`` at ``price`` and event time ``time_us`` fills (see the
    module docstring); True when it reached any order or stop (fills, queue estimates or triggers changed)."""
    start = len(out)
    out.append(TradePrint(price, quantity, aggressor or ""))
    budget = quantity
    reached_any = False
    for side in (BUY, SELL):
        for order in _reached(book, side, price):
            if order.rested_us is not None and order.rested_us > time_us:
                continue  # it came to rest after the trade printed (the trades topic lagging the orders)
            reached_any = True
            if order.price == price:
                before = order.queue_ahead
                ahead = before or 0
                order.queue_ahead = ahead - quantity if ahead > quantity else 0
                if order.queue_ahead != before:  # None (no estimate) becomes 0 too
                    book.note_changed(order)
                past_queue = budget - ahead
                fill = order.leaves if order.leaves < past_queue else past_queue
            else:
                fill = order.leaves if order.leaves < budget else budget
            if fill <= 0:
                continue
            budget -= fill
            book.fill_resting(order, fill)
            assert order.price is not None  # a resting order has a price
            out.append(
                Report(
                    "FILL",
                    order,
                    last_quantity=fill,
                    last_price=order.price,
                    liquidity=MAKER,
                    fee=fee_for(order.price, fill, fees.maker_fee_bps),
                    detail=f"market trade at {price}",
                )
            )
    run_stops(book, fees, out, start)
    return reached_any or len(out) > start + 1


def _reached(book: Book, side: str, price: int) -> list[Order]:
    """``side``'s resting orders at or through ``price``, best price first, then time priority (a list: fills
    take orders out of their levels while we go)."""
    reached: list[Order] = []
    for level in book.levels(side):
        if level.price < price if side == BUY else level.price > price:
            break
        reached.extend(level.orders())
    return reached


def cap_queues(book: Book, levels: list[LevelKey] | None) -> bool:
    """Lower the queue estimates of our orders at market levels an update shrank (``None``: every level, after
    a snapshot); True when any changed."""
    market = book.market
    if market is None or not book.orders:
        return False
    if levels is None:
        levels = [(side, level.price) for side in (BUY, SELL) for level in book.levels(side)]
    changed = False
    for side, price in levels:
        level = (book.bids if side == BUY else book.asks).get(price)
        if level is None:
            continue
        displayed = market.displayed(side, price)
        for order in list(level.orders()):
            if order.queue_ahead is not None and order.queue_ahead > displayed:
                order.queue_ahead = displayed
                book.note_changed(order)
                changed = True
    return changed
