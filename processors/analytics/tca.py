"""Transaction cost analysis of one parent order: pure, no I/O. docs/TCA.md defines every figure.

Inputs are the order (side, quantity, the interval it worked over), its fills (a parent with children is
analysed on its children's fills, an order without children on its own) and the market over the interval:
book tops per venue (md.book.top) and public trades (md.trades). Costs are signed so that a positive number
is a cost to the order's owner, for buys and sells alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from schemas.scales import CASH_SCALE, PRICE_SCALE, QUANTITY_SCALE

BPS: Final = 10_000.0
UNKNOWN_VENUE: Final = "unknown"  # a fill whose event does not name its venue


@dataclass(frozen=True, slots=True)
class Fill:
    time_us: int
    venue: str | None
    quantity: int  # fixed point, as on the wire
    price: int
    fee: int  # cash fixed point; negative for a rebate
    decided_us: int | None = None  # when the filled order was decided (its creation); None: the fill's time


@dataclass(frozen=True, slots=True)
class Quote:
    """A venue's best bid and offer from one md.book.top record."""

    time_us: int
    venue: str
    bid: int | None
    ask: int | None
    stale: bool


@dataclass(frozen=True, slots=True)
class MarketTrade:
    time_us: int
    venue: str
    price: int
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderUnderAnalysis:
    order_id: str
    symbol: str
    side: str  # BUY or SELL
    quantity: int  # the parent's quantity (fixed point)
    start_us: int  # arrival: the order's first event
    end_us: int  # the interval's end: its last event or last fill, whichever is later
    status: str
    children: int = 0  # child orders whose fills are the order's (0: analysed on its own fills)


@dataclass(frozen=True, slots=True)
class VenueCosts:
    fills: int
    quantity: float
    notional: float
    fees: float
    fee_bps: float | None  # fees / notional
    price_improvement_bps: float | None = None  # against the consolidated BBO when each fill's order was decided


@dataclass(frozen=True, slots=True)
class TcaReport:
    order: OrderUnderAnalysis
    arrival_price: float | None
    arrival_source: str | None  # "mid" (consolidated book top) or "last_trade"; None: no market data before
    end_price: float | None
    end_source: str | None
    interval_vwap: float | None
    market_volume: float
    filled_quantity: float
    fill_ratio: float
    average_price: float | None
    participation: float | None
    slippage_vs_arrival_bps: float | None
    slippage_vs_vwap_bps: float | None
    execution_cost_bps: float | None
    opportunity_cost_bps: float | None
    fees_bps: float | None
    implementation_shortfall_bps: float | None
    fees: float
    fees_by_venue: dict[str, VenueCosts] = field(default_factory=dict)
    price_improvement_bps: float | None = None  # best execution: against the consolidated BBO at each decision
    at_or_better_than_bbo: float | None = None  # share of the measured quantity filled at or inside the BBO

    def as_json(self) -> dict[str, Any]:
        order = self.order
        return {
            "order_id": order.order_id,
            "symbol": order.symbol,
            "side": order.side,
            "status": order.status,
            "quantity": order.quantity / QUANTITY_SCALE,
            "children": order.children,
            "start_time_us": order.start_us,
            "end_time_us": order.end_us,
            "arrival_price": self.arrival_price,
            "arrival_source": self.arrival_source,
            "end_price": self.end_price,
            "end_source": self.end_source,
            "interval_vwap": self.interval_vwap,
            "market_volume": self.market_volume,
            "filled_quantity": self.filled_quantity,
            "fill_ratio": self.fill_ratio,
            "average_price": self.average_price,
            "participation": self.participation,
            "slippage_vs_arrival_bps": self.slippage_vs_arrival_bps,
            "slippage_vs_vwap_bps": self.slippage_vs_vwap_bps,
            "execution_cost_bps": self.execution_cost_bps,
            "opportunity_cost_bps": self.opportunity_cost_bps,
            "fees_bps": self.fees_bps,
            "implementation_shortfall_bps": self.implementation_shortfall_bps,
            "fees": self.fees,
            "price_improvement_bps": self.price_improvement_bps,
            "at_or_better_than_bbo": self.at_or_better_than_bbo,
            "fees_by_venue": {
                venue: {
                    "fills": costs.fills,
                    "quantity": costs.quantity,
                    "notional": costs.notional,
                    "fees": costs.fees,
                    "fee_bps": costs.fee_bps,
                    "price_improvement_bps": costs.price_improvement_bps,
                }
                for venue, costs in sorted(self.fees_by_venue.items())
            },
        }


def consolidated_bbo(quotes: Iterable[Quote], at_us: int) -> tuple[int | None, int | None]:
    """The consolidated best bid and offer at ``at_us`` (fixed point): each venue's latest quote at or before it,
    stale quotes and empty sides left out; the best bid over venues and the best offer over venues (None for a
    side no venue quotes then)."""
    latest: dict[str, Quote] = {}
    for quote in quotes:
        if quote.time_us <= at_us and (quote.venue not in latest or latest[quote.venue].time_us <= quote.time_us):
            latest[quote.venue] = quote
    bids = [q.bid for q in latest.values() if not q.stale and q.bid is not None]
    asks = [q.ask for q in latest.values() if not q.stale and q.ask is not None]
    return (max(bids) if bids else None, min(asks) if asks else None)


def consolidated_mid(quotes: Iterable[Quote], at_us: int) -> float | None:
    """The mid of the consolidated best bid and offer at ``at_us``; None when a side is missing."""
    bid, ask = consolidated_bbo(quotes, at_us)
    if bid is None or ask is None:
        return None
    return (bid + ask) / 2 / PRICE_SCALE


class _Improvement:
    """Best execution: each fill against the consolidated best offer (a buy) or bid (a sell) when its order was
    decided (else at the fill's time)."""

    __slots__ = ("at_or_better", "base", "gain", "measured")

    def __init__(self) -> None:
        self.gain = 0.0  # sum of q x s x (reference - p): positive when the fills beat the consolidated best
        self.base = 0.0  # sum of q x reference
        self.measured = 0.0  # quantity of the fills that had a reference price
        self.at_or_better = 0.0

    def add(self, fill: Fill, sign: float, quotes: Sequence[Quote]) -> None:
        bid, ask = consolidated_bbo(quotes, fill.time_us if fill.decided_us is None else fill.decided_us)
        reference = ask if sign > 0 else bid
        if reference is None:
            return
        quantity = fill.quantity / QUANTITY_SCALE
        gain = sign * (reference - fill.price) / PRICE_SCALE
        self.gain += quantity * gain
        self.base += quantity * reference / PRICE_SCALE
        self.measured += quantity
        if gain >= 0:
            self.at_or_better += quantity

    def bps(self) -> float | None:
        return _bps(self.gain, self.base) if self.measured else None

    def share(self) -> float | None:
        return self.at_or_better / self.measured if self.measured else None


def price_improvement(
    fills: Iterable[Fill], side: str, quotes: Sequence[Quote]
) -> tuple[float | None, float | None, dict[str, float | None]]:
    """(price improvement in bps, share of the quantity at or better than the consolidated BBO, improvement in
    bps per venue) of ``fills``; None where no fill met a consolidated quote on its side (docs/TCA.md)."""
    sign = 1.0 if side == "BUY" else -1.0
    overall = _Improvement()
    by_venue: dict[str, _Improvement] = {}
    for fill in fills:
        overall.add(fill, sign, quotes)
        by_venue.setdefault(fill.venue or UNKNOWN_VENUE, _Improvement()).add(fill, sign, quotes)
    return overall.bps(), overall.share(), {venue: measure.bps() for venue, measure in by_venue.items()}


def last_trade_price(trades: Iterable[MarketTrade], at_us: int) -> float | None:
    """The price of the latest public trade at or before ``at_us`` (the later one in input order on a tie)."""
    found: MarketTrade | None = None
    for trade in trades:
        if trade.time_us <= at_us and (found is None or trade.time_us >= found.time_us):
            found = trade
    return None if found is None else found.price / PRICE_SCALE


def benchmark_price(
    quotes: Sequence[Quote], trades: Sequence[MarketTrade], at_us: int
) -> tuple[float | None, str | None]:
    """The consolidated mid at ``at_us``, else the last trade price before it; with which one it is."""
    mid = consolidated_mid(quotes, at_us)
    if mid is not None:
        return mid, "mid"
    last = last_trade_price(trades, at_us)
    return (last, "last_trade") if last is not None else (None, None)


def _bps(cost: float, base: float | None) -> float | None:
    return None if base is None or base == 0 else cost / base * BPS


def _slippage_bps(sign: float, average: float | None, benchmark: float | None) -> float | None:
    """sign x (average fill price - benchmark) / benchmark in bps: positive when the fills were worse."""
    if average is None or benchmark is None:
        return None
    return _bps(sign * (average - benchmark), benchmark)


def analyse(
    order: OrderUnderAnalysis, fills: Sequence[Fill], quotes: Sequence[Quote], trades: Sequence[MarketTrade]
) -> TcaReport:
    """Every figure of docs/TCA.md for ``order``; a figure whose benchmark is missing is None."""
    if order.side not in ("BUY", "SELL"):
        raise ValueError(f"side must be BUY or SELL, not {order.side!r}")
    sign = 1.0 if order.side == "BUY" else -1.0
    ordered = order.quantity / QUANTITY_SCALE
    filled = sum(f.quantity for f in fills) / QUANTITY_SCALE
    notional = sum(f.quantity / QUANTITY_SCALE * (f.price / PRICE_SCALE) for f in fills)
    fees = sum(f.fee for f in fills) / CASH_SCALE
    average = notional / filled if filled else None

    arrival, arrival_source = benchmark_price(quotes, trades, order.start_us)
    end, end_source = benchmark_price(quotes, trades, order.end_us)
    window = [t for t in trades if order.start_us <= t.time_us <= order.end_us]
    volume = sum(t.quantity for t in window) / QUANTITY_SCALE
    vwap = sum(t.quantity / QUANTITY_SCALE * (t.price / PRICE_SCALE) for t in window) / volume if volume else None

    paper = None if arrival is None else ordered * arrival  # the order's value at arrival: the bps base
    execution = opportunity = None
    if arrival is not None:
        execution = sign * (notional - filled * arrival)
        unfilled_end = end if end is not None else arrival
        opportunity = sign * (ordered - filled) * (unfilled_end - arrival)
    shortfall = None if execution is None or opportunity is None else execution + opportunity + fees
    improvement, at_or_better, improvement_by_venue = price_improvement(fills, order.side, quotes)
    return TcaReport(
        order=order,
        arrival_price=arrival,
        arrival_source=arrival_source,
        end_price=end,
        end_source=end_source,
        interval_vwap=vwap,
        market_volume=volume,
        filled_quantity=filled,
        fill_ratio=filled / ordered if ordered else 0.0,
        average_price=average,
        participation=filled / volume if volume else None,
        slippage_vs_arrival_bps=_slippage_bps(sign, average, arrival),
        slippage_vs_vwap_bps=_slippage_bps(sign, average, vwap),
        execution_cost_bps=None if execution is None else _bps(execution, paper),
        opportunity_cost_bps=None if opportunity is None else _bps(opportunity, paper),
        fees_bps=_bps(fees, paper),
        implementation_shortfall_bps=None if shortfall is None else _bps(shortfall, paper),
        fees=fees,
        fees_by_venue={
            venue: replace(costs, price_improvement_bps=improvement_by_venue[venue])
            for venue, costs in costs_by_venue(fills).items()
        },
        price_improvement_bps=improvement,
        at_or_better_than_bbo=at_or_better,
    )


def costs_by_venue(fills: Iterable[Fill]) -> dict[str, VenueCosts]:
    """Fills, quantity, notional and fees per venue (a fill without a venue under ``unknown``)."""
    grouped: dict[str, list[Fill]] = {}
    for fill in fills:
        grouped.setdefault(fill.venue or UNKNOWN_VENUE, []).append(fill)
    costs = {}
    for venue, venue_fills in grouped.items():
        notional = sum(f.quantity / QUANTITY_SCALE * (f.price / PRICE_SCALE) for f in venue_fills)
        fees = sum(f.fee for f in venue_fills) / CASH_SCALE
        costs[venue] = VenueCosts(
            fills=len(venue_fills),
            quantity=sum(f.quantity for f in venue_fills) / QUANTITY_SCALE,
            notional=notional,
            fees=fees,
            fee_bps=_bps(fees, notional),
        )
    return costs
