"""An ``ExecutionInstruction`` validated into a plan: the parameters each algorithm takes, checked on arrival.

A plan is a JSON-able dict (it lives in the router's changelog). ``plan_for`` raises ``InvalidInstruction`` with
the reason for anything it cannot work: a bad parameter, a parameter the algorithm does not take, or an
algorithm this router does not run yet, so no instruction is ever silently sent as a plain order.

Parameters (``params`` values are strings; quantities in units, e.g. "0.01"):

- every algorithm: ``start_time`` (default: the parent's event time), ``end_time`` (default: none). At the end
  time (or when a DAY or GTD parent's time in force ends) the router cancels what is left of the parent; the
  parent must be MARKET or LIMIT, GTC, DAY or GTD.
- TWAP: ``end_time`` or ``params.duration_s`` (exactly one), ``params.slices`` (default 10), ``params.min_slice``
  (a quantity: fewer, larger slices so that each is at least this; default none), ``params.randomise_pct`` (0 to
  50: each slice time moves by up to this share of the slice interval, seeded by the parent id; default 0).
- POV: ``participation_bps`` (1 to 5,000), ``params.min_bps`` / ``params.max_bps`` (a child is sent when the
  parent's placed quantity falls below ``min_bps`` of the traded volume since the start, sized up to the target,
  never above ``max_bps``; both default to the target), ``params.min_slice`` (default none).
- ICEBERG: a LIMIT parent; ``display_quantity`` (at most the parent's quantity), ``params.variance_pct`` (0 to 50:
  each shown slice is smaller by up to this share, seeded; never larger than the display), ``params.refresh_s``
  (delay before the next slice shows once one is filled; default 0).
- VWAP: the horizon as TWAP's; ``params.profile`` (comma-separated weights, one per slice, at most 1,000: each
  slice's share of the parent) or ``params.slices`` (default 10) over the shipped volume curve stretched over the
  horizon (``processors.algos.profile``).
- IMPLEMENTATION_SHORTFALL: the horizon as TWAP's; ``params.slices`` (default 10), ``params.volatility`` (sigma, daily
  return volatility, e.g. "0.03") and ``params.urgency`` (lambda/eta, risk aversion over temporary impact, per day; 0 is
  TWAP's straight line): the Almgren-Chriss trajectory with kappa = sigma * sqrt(urgency) per day. Without
  ``params.volatility`` the plan records sqrt(urgency) * horizon in days and the router fixes kappa*T from the
  symbol's ``md.analytics`` volatility when it first works the parent (capped, not rejected).
- PEG: a LIMIT parent (its price caps the peg); ``params.peg`` (primary: the near side, i.e. a buy's best bid;
  market: the far side; mid; default primary), ``peg_offset`` (a price, signed, default 0: a buy pegs at the
  reference plus the offset, a sell at the reference minus it, so a positive offset is more aggressive).
- SNIPER: a LIMIT parent; ``params.min_take`` (a quantity: take only when at least this shows, or the
  remainder; default none).
- SMART: no parameters. On each book change it sweeps the unplaced quantity over the named venues by displayed
  liquidity at or better than the parent's limit, net of taker fees, latency breaking ties
  (``processors.algos.smart``): one IOC child per venue; what the book does not show waits for the next change.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from processors.algos import profile
from processors.core import Record
from schemas.scales import QUANTITY_DECIMALS, to_fixed

SECOND_US: Final = 1_000_000
ALGO_VENUE_PREFIX: Final = "algo:"  # a parent's venue: the algorithm working it, e.g. "algo:TWAP"
PARENT_ORDER_TYPES: Final = frozenset({"MARKET", "LIMIT"})
PARENT_TIME_IN_FORCE: Final = frozenset({"GTC", "DAY", "GTD"})  # a DAY or GTD parent ends as its time in force does
TWAP_DEFAULT_SLICES: Final = 10
MAX_SLICES: Final = 10_000
MAX_RANDOMISE_PCT: Final = 50
MAX_PARTICIPATION_BPS: Final = 5_000
MAX_PROFILE_WEIGHTS: Final = 1_000  # VWAP: the curve lives in the parent's changelog record
PEG_REFERENCES: Final = frozenset({"PRIMARY", "MID", "MARKET"})
DAY_US: Final = 86_400 * SECOND_US
MAX_KAPPA_HORIZON: Final = 50.0  # IS: kappa*T beyond this front-loads all but nothing into the first slice


class InvalidInstruction(ValueError):
    """The reason an execution instruction cannot be worked (the parent is rejected with it)."""


def is_parent_venue(venue: str | None) -> bool:
    return venue is not None and venue.startswith(ALGO_VENUE_PREFIX)


def plan_for(order: Mapping[str, Any]) -> Record:
    """The plan of a NewOrder's execution instruction (raises ``InvalidInstruction``)."""
    instruction: Mapping[str, Any] = order["execution"]
    algo: str = instruction["algo"]
    builder = _BUILDERS.get(algo)
    if builder is None:
        raise InvalidInstruction(f"unknown algorithm {algo}")
    if order["order_type"] not in PARENT_ORDER_TYPES:
        raise InvalidInstruction(f"{algo} works MARKET or LIMIT parents, not {order['order_type']}")
    if order["time_in_force"] not in PARENT_TIME_IN_FORCE:
        raise InvalidInstruction(f"a parent works over time: GTC, DAY or GTD, not {order['time_in_force']}")
    params = _Params(algo, instruction.get("params") or {})
    start: int = instruction.get("start_time_us") or order["meta"]["event_time_us"]
    end: int | None = instruction.get("end_time_us")
    if end is not None and end <= start:
        raise InvalidInstruction(f"end_time ({end}) must be after the start ({start})")
    plan: Record = {"algo": algo, "start_us": start, "end_us": end}
    plan.update(builder(order, instruction, params, start, end))
    params.check_all_used()
    return plan


class _Params:
    """The string parameters of an instruction, parsed on use; any left unused is an error (never ignored)."""

    def __init__(self, algo: str, raw: Mapping[str, str]) -> None:
        self.algo = algo
        self.raw = dict(raw)
        self.used: set[str] = set()

    def text(self, name: str) -> str | None:
        self.used.add(name)
        return self.raw.get(name)

    def number(self, name: str, low: Decimal, high: Decimal, default: Decimal | None) -> Decimal | None:
        text = self.text(name)
        if text is None:
            return default
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise InvalidInstruction(f"params.{name} must be a number, not {text!r}") from None
        if not value.is_finite() or not low <= value <= high:
            raise InvalidInstruction(f"params.{name} must be between {low} and {high}, not {text}")
        return value

    def integer(self, name: str, low: int, high: int, default: int) -> int:
        value = self.number(name, Decimal(low), Decimal(high), Decimal(default))
        assert value is not None
        if value != value.to_integral_value():
            raise InvalidInstruction(f"params.{name} must be a whole number, not {value}")
        return int(value)

    def quantity(self, name: str) -> int:
        text = self.text(name)
        if text is None:
            return 0
        try:
            value = to_fixed(text, QUANTITY_DECIMALS)
        except (ValueError, ArithmeticError) as error:
            raise InvalidInstruction(f"params.{name} must be a quantity: {error}") from None
        if value <= 0:
            raise InvalidInstruction(f"params.{name} must be positive, not {text}")
        return value

    def check_all_used(self) -> None:
        unknown = sorted(self.raw.keys() - self.used)
        if unknown:
            raise InvalidInstruction(f"{self.algo} takes no parameter(s) {', '.join(unknown)}")


def _no_fields(algo: str, instruction: Mapping[str, Any], *fields: str) -> None:
    for field in fields:
        if instruction.get(field) is not None:
            raise InvalidInstruction(f"{algo} does not take {field}")


def _twap(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("TWAP", instruction, "participation_bps", "display_quantity", "peg_offset")
    end = _horizon_end("TWAP", params, start, end)
    slices = params.integer("slices", 1, MAX_SLICES, TWAP_DEFAULT_SLICES)
    min_slice = params.quantity("min_slice")
    quantity: int = order["quantity"]
    if min_slice:
        slices = max(1, min(slices, quantity // min_slice))
    randomise = params.number("randomise_pct", Decimal(0), Decimal(MAX_RANDOMISE_PCT), Decimal(0))
    return {"end_us": end, "slices": slices, "min_slice": min_slice, "randomise_pct": float(randomise or 0)}


def _horizon_end(algo: str, params: _Params, start: int, end: int | None) -> int:
    """The end of a sliced algorithm's horizon: ``end_time`` or ``params.duration_s`` (exactly one)."""
    duration = params.number("duration_s", Decimal("0.001"), Decimal(7 * 86_400), None)
    if (end is None) == (duration is None):
        raise InvalidInstruction(f"{algo} needs end_time or params.duration_s (exactly one)")
    if duration is not None:
        end = start + int(duration * SECOND_US)
    assert end is not None
    return end


def _vwap(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("VWAP", instruction, "participation_bps", "display_quantity", "peg_offset")
    end = _horizon_end("VWAP", params, start, end)
    text = params.text("profile")
    if text is None:
        curve = list(profile.DEFAULT_PROFILE)
        slices = params.integer("slices", 1, MAX_SLICES, TWAP_DEFAULT_SLICES)
    else:
        curve = _weights(text)
        slices = params.integer("slices", len(curve), len(curve), len(curve))
    return {"end_us": end, "slices": slices, "randomise_pct": 0.0, "curve": curve}


def _weights(text: str) -> list[float]:
    try:
        weights = [Decimal(part) for part in text.split(",")]
    except InvalidOperation:
        raise InvalidInstruction(f"params.profile must be comma-separated numbers, not {text!r}") from None
    if not 1 <= len(weights) <= MAX_PROFILE_WEIGHTS:
        raise InvalidInstruction(f"params.profile takes 1 to {MAX_PROFILE_WEIGHTS} weights, not {len(weights)}")
    if not all(weight.is_finite() and weight >= 0 for weight in weights) or sum(weights) <= 0:
        raise InvalidInstruction(f"params.profile weights must be 0 or more with a positive sum, not {text!r}")
    return [float(weight) for weight in weights]


def _implementation_shortfall(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    algo = "IMPLEMENTATION_SHORTFALL"
    _no_fields(algo, instruction, "participation_bps", "display_quantity", "peg_offset")
    end = _horizon_end(algo, params, start, end)
    slices = params.integer("slices", 1, MAX_SLICES, TWAP_DEFAULT_SLICES)
    volatility = params.number("volatility", Decimal("0.000001"), Decimal(10), None)
    urgency = params.number("urgency", Decimal(0), Decimal(10) ** 12, None)
    if urgency is None:
        raise InvalidInstruction(f"{algo} needs params.urgency (0 or more)")
    urgency_horizon = math.sqrt(float(urgency)) * (end - start) / DAY_US
    if volatility is None:  # the router fixes kappa*T from the analytics' volatility when it first works it
        plan: Record = {"end_us": end, "slices": slices, "randomise_pct": 0.0, "kappa_horizon": None}
        return plan | {"urgency_horizon": urgency_horizon}
    kappa_horizon = float(volatility) * urgency_horizon
    if kappa_horizon > MAX_KAPPA_HORIZON:
        raise InvalidInstruction(
            f"{algo}: kappa*T = {kappa_horizon:.4g} (sigma * sqrt(urgency) * horizon in days) is above "
            f"{MAX_KAPPA_HORIZON}: all of the parent would go in the first slice; lower params.urgency"
        )
    return {"end_us": end, "slices": slices, "randomise_pct": 0.0, "kappa_horizon": kappa_horizon}


def analytics_kappa_horizon(plan: Mapping[str, Any], daily_volatility: float) -> float:
    """IS without ``params.volatility``: kappa*T from the symbol's daily volatility, clamped to the cap (the
    parent is already accepted: it is front-loaded rather than rejected)."""
    return min(MAX_KAPPA_HORIZON, daily_volatility * float(plan["urgency_horizon"]))


def _peg(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("PEG", instruction, "participation_bps", "display_quantity")
    if order["order_type"] != "LIMIT":
        raise InvalidInstruction("PEG works LIMIT parents only: the limit price caps the peg")
    reference = (params.text("peg") or "primary").upper()
    if reference not in PEG_REFERENCES:
        raise InvalidInstruction(f"params.peg must be primary, mid or market, not {params.raw['peg']!r}")
    offset: int = instruction.get("peg_offset") or 0
    return {"reference": reference, "offset": offset}


def _sniper(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("SNIPER", instruction, "participation_bps", "display_quantity", "peg_offset")
    if order["order_type"] != "LIMIT":
        raise InvalidInstruction("SNIPER works LIMIT parents only: it takes liquidity at or better than the limit")
    return {"min_take": params.quantity("min_take")}


def _pov(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("POV", instruction, "display_quantity", "peg_offset")
    target: int | None = instruction.get("participation_bps")
    if target is None or not 1 <= target <= MAX_PARTICIPATION_BPS:
        raise InvalidInstruction(f"POV needs participation_bps between 1 and {MAX_PARTICIPATION_BPS}, not {target}")
    low = params.integer("min_bps", 1, target, target)
    high = params.integer("max_bps", target, MAX_PARTICIPATION_BPS, target)
    return {"target_bps": target, "min_bps": low, "max_bps": high, "min_slice": params.quantity("min_slice")}


def _iceberg(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("ICEBERG", instruction, "participation_bps", "peg_offset")
    if order["order_type"] != "LIMIT":
        raise InvalidInstruction("ICEBERG works LIMIT parents only")
    display: int | None = instruction.get("display_quantity")
    if display is None or not 0 < display <= order["quantity"]:
        raise InvalidInstruction(
            f"ICEBERG needs display_quantity above 0 and at most the order's quantity, not {display}"
        )
    variance = params.number("variance_pct", Decimal(0), Decimal(MAX_RANDOMISE_PCT), Decimal(0))
    refresh = params.number("refresh_s", Decimal(0), Decimal(86_400), Decimal(0))
    return {"display": display, "variance_pct": float(variance or 0), "refresh_us": int((refresh or 0) * SECOND_US)}


def _smart(
    order: Mapping[str, Any], instruction: Mapping[str, Any], params: _Params, start: int, end: int | None
) -> Record:
    _no_fields("SMART", instruction, "participation_bps", "display_quantity", "peg_offset")
    return {}


_BUILDERS: Final[Mapping[str, Callable[[Mapping[str, Any], Mapping[str, Any], _Params, int, int | None], Record]]] = {
    "TWAP": _twap,
    "POV": _pov,
    "ICEBERG": _iceberg,
    "VWAP": _vwap,
    "IMPLEMENTATION_SHORTFALL": _implementation_shortfall,
    "PEG": _peg,
    "SNIPER": _sniper,
    "SMART": _smart,
}
