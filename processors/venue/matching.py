"""Matching: what a simulated venue does with a new order, a cancel or an amend, as plain data.

Every function here changes a ``Book`` and appends what happened to ``out``: ``Report`` items (one per
execution report) and ``TradePrint`` items (one per trade, placed right before the two FILL reports it
produces). The core turns them into records; nothing here knows about Kafka, ids or time sources.

Semantics (docs/ORDER_PATH.md, "venue"):

- Valid new orders are acknowledged (ACK) first, then matched. Invalid orders, duplicate order ids and
  post-only orders that would take are REJECTED without an ACK.
- A marketable order takes liquidity level by level from the best price, oldest order first at each level;
  every fill is at the maker's price. The taker pays ``taker_fee_bps``, the maker ``maker_fee_bps``.
- LIMIT (and triggered STOP_LIMIT) remainders rest, unless IOC or FOK. MARKET (and triggered STOP) never rest:
  the remainder is EXPIRED (reason NO_LIQUIDITY when nothing filled). IOC remainder: EXPIRED.
  FOK: EXPIRED with FOK_NOT_FILLABLE before any fill unless the whole quantity is available now.
- Post-only: only on LIMIT; REJECTED (POST_ONLY_WOULD_TAKE) when it would cross the opposite best price.
- STOP / STOP_LIMIT rest untriggered until a trade of this book prints at or through the stop price (buy:
  trade price >= stop, sell: <= stop), strictly after they arrived. Then TRIGGERED, then they behave as a
  MARKET / LIMIT order arriving at that moment (a new time priority). Trades made by triggered stops may
  trigger further stops; they are handled in trade order, and for one trade the stops the price passed
  first (buy stops lowest first, sell stops highest first; between the two sides, the older first).
- Amend: a quantity decrease at the same price keeps time priority; any other change (a price change or a
  quantity increase) re-queues the order at the back, and a new price that crosses makes it match at once.
  A new quantity below the filled quantity is AMEND_REJECTED (AMEND_BELOW_FILLED); equal to it, the order is
  done (AMENDED with leaves 0). A post-only order amended to a crossing price is AMEND_REJECTED and unchanged.
- Cancel or amend of an order the book does not hold (unknown, already done, or another account's):
  CANCEL_REJECTED / AMEND_REJECTED (UNKNOWN_ORDER).
- GTD orders expire (EXPIRED) once the book's clock (the latest event time seen) reaches their expire time;
  with no clock of its own the venue notices at the next message for the book. DAY orders arrive here with
  the end of their UTC day as expire time (the core sets it), so they expire the same way.
- An amend that loses priority re-queues a fresh ``Order`` object: the old one stays dead in its level's
  queue, where the lazy clean-up drops it (re-queuing the same object would leave it live twice).
- No self-trade prevention: an account's orders can trade with each other (each side gets its report).
- With a market book attached (``Book.market``, ``VenueConfig.market_liquidity``): matching walks our levels
  and the market's displayed, not yet taken, levels merged in price order, ours first at one price; a fill
  against the market is one TAKER report at the market level's price, and marks that quantity taken.
  Post-only and FOK look at both books. A limit order that comes to rest records the market quantity
  displayed at its price as its queue estimate (``processors.venue.market_fills`` uses it).

Fees: ``price x quantity x bps / 10,000`` computed from the exact product and rounded once, half-even, to
the cash scale. A negative bps is a rebate (negative fee).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from processors.portfolio.position import div_half_even
from processors.venue.book import BUY, SELL, Book, Order
from processors.venue.market import MarketBook
from schemas.scales import CASH_DECIMALS, PRICE_DECIMALS, QUANTITY_DECIMALS, Cash, Price, Quantity

MARKET = "MARKET"
LIMIT = "LIMIT"
STOP = "STOP"
STOP_LIMIT = "STOP_LIMIT"
ORDER_TYPES = frozenset((MARKET, LIMIT, STOP, STOP_LIMIT))
TIMES_IN_FORCE = frozenset(("GTC", "IOC", "FOK", "DAY", "GTD"))
MAKER = "MAKER"
TAKER = "TAKER"

_FEE_DIVISOR = 10 ** (PRICE_DECIMALS + QUANTITY_DECIMALS - CASH_DECIMALS) * 10_000
NO_FEE = Cash(0)


@dataclass(frozen=True, slots=True)
class Fees:
    """A venue's fees in basis points of notional (negative = rebate)."""

    maker_fee_bps: int = 0
    taker_fee_bps: int = 0


def fee_for(price: Price, quantity: int, bps: int) -> Cash:
    """Fee in cash scale for a fill: price x quantity x bps / 10,000, rounded half-even from the exact value."""
    return div_half_even(price * quantity * bps, _FEE_DIVISOR)  # type: ignore[return-value]  # made here (scales)


class Report:
    """One execution report about one order, with the order's cum/leaves at that moment."""

    __slots__ = (
        "account",
        "correlation_id",
        "cum",
        "detail",
        "exec_type",
        "fee",
        "last_price",
        "last_quantity",
        "leaves",
        "liquidity",
        "order_id",
        "reject_reason",
    )

    def __init__(
        self,
        exec_type: str,
        order: Order,
        *,
        reject_reason: str | None = None,
        detail: str = "",
        last_quantity: int = 0,
        last_price: Price | None = None,
        liquidity: str | None = None,
        fee: Cash = NO_FEE,
    ) -> None:
        self.exec_type = exec_type
        self.order_id = order.order_id
        self.account = order.account
        self.correlation_id = order.correlation_id
        self.cum = order.cum
        self.leaves = order.leaves if order.live or exec_type in ("ACK", "TRIGGERED", "FILL", "AMENDED") else 0
        self.reject_reason = reject_reason
        self.detail = detail
        self.last_quantity = last_quantity
        self.last_price = last_price
        self.liquidity = liquidity
        self.fee = fee

    def __repr__(self) -> str:
        return (
            f"Report({self.exec_type} {self.order_id} cum={self.cum} leaves={self.leaves}"
            f" last={self.last_quantity}@{self.last_price} {self.liquidity or ''} {self.reject_reason or ''})"
        )


class TradePrint:
    """A trade: price (the maker's), quantity and the taker's side."""

    __slots__ = ("aggressor", "price", "quantity")

    def __init__(self, price: Price, quantity: int, aggressor: str) -> None:
        self.price = price
        self.quantity = quantity
        self.aggressor = aggressor

    def __repr__(self) -> str:
        return f"TradePrint({self.quantity}@{self.price} {self.aggressor})"


Output = list[Report | TradePrint]


# -- validation -------------------------------------------------------------------------------------


def invalid_reason(order: Order) -> str | None:  # noqa: PLR0911  one return per rule, in the order they are told
    """Why a new order cannot be accepted (detail text), or None when it is valid."""
    if order.side not in (BUY, SELL):
        return f"unknown side {order.side!r}"
    if order.order_type not in ORDER_TYPES:
        return f"unknown order type {order.order_type!r}"
    if order.time_in_force not in TIMES_IN_FORCE:
        return f"unknown time in force {order.time_in_force!r}"
    if order.quantity <= 0:
        return "quantity must be positive"
    if order.order_type in (LIMIT, STOP_LIMIT) and (order.price is None or order.price <= 0):
        return f"{order.order_type} needs a positive price"
    if order.order_type in (STOP, STOP_LIMIT) and (order.stop_price is None or order.stop_price <= 0):
        return f"{order.order_type} needs a positive stop price"
    if order.post_only and order.order_type != LIMIT:
        return "post-only is only for LIMIT orders"
    if order.time_in_force == "GTD" and order.expire_time_us is None:
        return "GTD needs an expire time"
    return None


# -- commands ---------------------------------------------------------------------------------------


def new_order(book: Book, fees: Fees, order: Order, out: Output) -> None:
    """Accept, match and rest (or expire) a new order, then run any stops its trades trigger."""
    detail = invalid_reason(order)
    if detail is not None:
        order.live = False
        out.append(Report("REJECTED", order, reject_reason="INVALID_ORDER", detail=detail))
        return
    if order.order_id in book.orders:
        order.live = False
        out.append(
            Report("REJECTED", order, reject_reason="DUPLICATE_CLIENT_ORDER_ID", detail="order id already working")
        )
        return
    order.triggered = False
    if order.order_type not in (STOP, STOP_LIMIT):
        order.stop_price = None  # a stray stop price must not make a plain order wait as a stop
    if order.post_only and _crosses(book, order):
        order.live = False
        out.append(Report("REJECTED", order, reject_reason="POST_ONLY_WOULD_TAKE", detail="would take liquidity"))
        return
    first_trade = len(out)
    order.live = False
    out.append(Report("ACK", order))
    if order.expire_time_us is not None and order.expire_time_us <= book.clock_us:
        out.append(Report("EXPIRED", order, detail="expire time already passed"))
        return
    if order.stop_price is not None:
        order.seq = book.take_seq()
        book.add_stop(order)
        return
    _execute(book, fees, order, out)
    run_stops(book, fees, out, first_trade)


def cancel(book: Book, order_id: str, account: str, out: Output) -> None:
    """Take a working order of ``account`` out of the book; CANCEL_REJECTED when it holds no such order."""
    order = book.orders.get(order_id)
    if order is None or order.account != account:
        out.append(_unknown("CANCEL_REJECTED", order_id, account))
        return
    book.remove(order)
    out.append(Report("CANCELLED", order))
    order.leaves = 0


def amend(
    book: Book,
    fees: Fees,
    order_id: str,
    account: str,
    *,
    quantity: Quantity,
    price: Price | None,
    stop_price: Price | None,
    out: Output,
) -> None:
    """Change a working order's quantity, price or stop price (see the module docstring for priority)."""
    order = book.orders.get(order_id)
    if order is None or order.account != account:
        out.append(_unknown("AMEND_REJECTED", order_id, account))
        return
    new_price = order.price if price is None or order.order_type in (MARKET, STOP) else price
    refusal = _amend_refusal(order, quantity, new_price)
    if refusal is not None:
        out.append(refusal)
        return

    if order.is_stop:
        _amend_stop(book, order, out, quantity=quantity, new_price=new_price, stop_price=stop_price)
        return

    if new_price == order.price and quantity <= order.quantity:
        if quantity == order.cum:
            book.remove(order)
            order.quantity, order.leaves = quantity, 0
            out.append(Report("AMENDED", order, detail="nothing left to fill"))
        else:
            book.reduce_in_place(order, quantity)
            out.append(Report("AMENDED", order, detail="priority kept"))
        return

    if order.post_only and _crosses(book, order, new_price):
        out.append(Report("AMEND_REJECTED", order, reject_reason="POST_ONLY_WOULD_TAKE", detail="would take"))
        return
    book.remove(order)
    order = order.clone()
    order.live = False
    order.quantity, order.leaves, order.price = quantity, quantity - order.cum, new_price
    out.append(Report("AMENDED", order, detail="priority lost"))
    if order.leaves:
        first_trade = len(out)
        _execute(book, fees, order, out)
        run_stops(book, fees, out, first_trade)


def _amend_refusal(order: Order, quantity: Quantity, new_price: Price | None) -> Report | None:
    """The AMEND_REJECTED for terms no order may have, or None."""
    if quantity <= 0:
        return Report("AMEND_REJECTED", order, reject_reason="INVALID_ORDER", detail="quantity must be positive")
    if quantity < order.cum:
        return Report("AMEND_REJECTED", order, reject_reason="AMEND_BELOW_FILLED", detail="below filled quantity")
    if new_price is not None and new_price <= 0:
        return Report("AMEND_REJECTED", order, reject_reason="INVALID_ORDER", detail="price must be positive")
    return None


def _amend_stop(
    book: Book, order: Order, out: Output, *, quantity: Quantity, new_price: Price | None, stop_price: Price | None
) -> None:
    """Amend a stop waiting for its trigger: priority kept unless it moves or grows."""
    new_stop = order.stop_price if stop_price is None else stop_price
    if new_stop is None or new_stop <= 0:
        out.append(Report("AMEND_REJECTED", order, reject_reason="INVALID_ORDER", detail="bad stop price"))
        return
    keep = new_stop == order.stop_price and new_price == order.price and quantity <= order.quantity
    book.remove(order)
    order.quantity, order.leaves = quantity, quantity - order.cum
    order.price, order.stop_price = new_price, new_stop
    if not keep:
        order.seq = book.take_seq()
    book.add_stop(order)  # untriggered stops have nothing filled: leaves = quantity > 0
    out.append(Report("AMENDED", order, detail="priority kept" if keep else "priority lost"))


def expire_due(book: Book, out: Output) -> None:
    """EXPIRED for every GTD/DAY order whose expire time the book's clock has reached."""
    if not book.expiry_due(book.clock_us):
        return
    while (order := book.pop_expired(book.clock_us)) is not None:
        out.append(Report("EXPIRED", order, detail=f"{order.time_in_force} expire time reached"))
        order.leaves = 0


def run_stops(book: Book, fees: Fees, out: Output, start: int) -> None:
    """Trigger and execute the stops that the trades in ``out[start:]`` (and their own trades) print through."""
    if not book.has_stops():
        return
    i = start
    while i < len(out):
        item = out[i]
        i += 1
        if not isinstance(item, TradePrint):
            continue
        while (stop := book.pop_triggered_stop(item.price)) is not None:
            stop.triggered = True
            stop.live = False
            out.append(Report("TRIGGERED", stop, detail=f"trade at {item.price} through stop {stop.stop_price}"))
            _execute(book, fees, stop, out)


# -- the matching itself ----------------------------------------------------------------------------


def _execute(book: Book, fees: Fees, order: Order, out: Output) -> None:
    """Match an incoming (or re-queued, or triggered) order; then rest or expire what is left."""
    takes_any_price = order.order_type in (MARKET, STOP)
    tif = order.time_in_force
    if tif == "FOK" and _available(book, order, takes_any_price) < order.leaves:
        out.append(Report("EXPIRED", order, reject_reason="FOK_NOT_FILLABLE", detail="not fillable in full"))
        return
    _match(book, fees, order, takes_any_price, out)
    if not order.leaves:
        return
    if takes_any_price:
        reason = None if order.cum else "NO_LIQUIDITY"
        out.append(Report("EXPIRED", order, reject_reason=reason, detail="market order remainder"))
        order.leaves = 0
    elif tif in ("IOC", "FOK"):
        out.append(Report("EXPIRED", order, detail=f"{tif} remainder"))
        order.leaves = 0
    else:
        order.seq = book.take_seq()
        book.rest(order)
        market = book.market
        if market is not None:
            assert order.price is not None  # only limit orders rest
            order.queue_ahead = market.displayed(order.side, order.price)
            order.rested_us = book.clock_us


def _match(book: Book, fees: Fees, taker: Order, takes_any_price: bool, out: Output) -> None:
    side = taker.side
    maker_side = SELL if side == BUY else BUY
    limit = taker.price
    maker_bps, taker_bps = fees.maker_fee_bps, fees.taker_fee_bps
    append = out.append
    market = book.market
    while taker.leaves:
        level = book.best_level(maker_side)
        if market is not None:
            outside = market.best_available(maker_side)
            # The market's level when it is strictly better than ours: at one price our makers go first
            if outside is not None and (
                level is None or (outside[0] < level.price if side == BUY else outside[0] > level.price)
            ):
                if not _take_market(market, fees, taker, outside, takes_any_price, out=out):
                    return
                continue
        if level is None:
            return
        price = level.price
        if not takes_any_price and (price > limit if side == BUY else price < limit):  # type: ignore[operator]
            return
        maker = level.front()
        assert maker is not None  # a level in the book has live orders
        quantity = taker.leaves if taker.leaves < maker.leaves else maker.leaves
        book.fill_resting(maker, quantity)
        taker.cum += quantity
        taker.leaves -= quantity
        append(TradePrint(price, quantity, side))
        append(
            Report(
                "FILL",
                taker,
                last_quantity=quantity,
                last_price=price,
                liquidity=TAKER,
                fee=fee_for(price, quantity, taker_bps),
            )
        )
        append(
            Report(
                "FILL",
                maker,
                last_quantity=quantity,
                last_price=price,
                liquidity=MAKER,
                fee=fee_for(price, quantity, maker_bps),
            )
        )


def _crosses(book: Book, order: Order, price: Price | None = None) -> bool:
    """Whether a limit order at ``price`` (default: its own) would take liquidity now."""
    price = order.price if price is None else price
    assert price is not None
    market = book.market
    if order.side == BUY:
        best_ask = book.best_ask()
        outside = None if market is None else market.best_available(SELL)
        return (best_ask is not None and price >= best_ask) or (outside is not None and price >= outside[0])
    best_bid = book.best_bid()
    outside = None if market is None else market.best_available(BUY)
    return (best_bid is not None and price <= best_bid) or (outside is not None and price <= outside[0])


def _available(book: Book, order: Order, takes_any_price: bool) -> int:
    """Quantity the order could take right now (stops counting once it covers the order)."""
    total = 0
    limit = order.price
    maker_side = SELL if order.side == BUY else BUY
    levels: Iterable[tuple[int, int]] = ((level.price, level.quantity) for level in book.levels(maker_side))
    if book.market is not None:  # the two books' levels merged: walked in price order, as _match does
        levels = sorted(
            (*levels, *book.market.available_levels(maker_side)), key=lambda pq: pq[0], reverse=maker_side == BUY
        )
    for price, quantity in levels:
        if not takes_any_price and (price > limit if order.side == BUY else price < limit):  # type: ignore[operator]
            break
        total += quantity
        if total >= order.leaves:
            break
    return total


def _take_market(
    market: MarketBook, fees: Fees, taker: Order, level: tuple[int, int], takes_any_price: bool, *, out: Output
) -> bool:
    """Fill the taker against one market level (it takes what is displayed and not yet taken); False when
    the level is beyond the taker's limit."""
    price: Price = level[0]  # type: ignore[assignment]  # the market book's levels are plain ints (market.py)
    available = level[1]
    side = taker.side
    if not takes_any_price and (price > taker.price if side == BUY else price < taker.price):  # type: ignore[operator]
        return False
    quantity = taker.leaves if taker.leaves < available else available
    market.take(SELL if side == BUY else BUY, price, quantity)
    taker.cum += quantity
    taker.leaves -= quantity
    out.append(TradePrint(price, quantity, side))
    out.append(
        Report(
            "FILL",
            taker,
            last_quantity=quantity,
            last_price=price,
            liquidity=TAKER,
            fee=fee_for(price, quantity, fees.taker_fee_bps),
            detail="against the market book",
        )
    )
    return True


def _unknown(exec_type: str, order_id: str, account: str) -> Report:
    ghost = Order(order_id, account, BUY, LIMIT, "GTC", quantity=Quantity(0), price=None)
    ghost.live = False
    return Report(exec_type, ghost, reject_reason="UNKNOWN_ORDER", detail="no such working order")
