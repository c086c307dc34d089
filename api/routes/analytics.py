"""Portfolio analytics per account and transaction cost analysis per order (docs/PORTFOLIO_ANALYTICS.md,
docs/TCA.md): computed on request from the projections and the recorded market data
(``connectors.analytics``), with the numbers of ``processors.analytics``. Figures are floats; the quantities
and prices of rebalancing orders are decimal strings, as everywhere in the API.

A key sees only its accounts: naming another account is a 403, another account's order a 404. Submitting an
optimisation's orders needs a role that may place orders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.amounts import Cash, Quantity, fp, quantity_fp
from api.auth import Action
from api.commands import micros
from api.deps import Reader, Res, require_account
from api.errors import ApiProblem, responses
from api.models import AwareDatetime, OrderAccepted, Symbol, Text
from api.rebalance import new_order_records
from api.routes.orders import OrderId, known_order, produce_order_command
from connectors.analytics.portfolio import (
    DEFAULT_BENCHMARK,
    Optimization,
    Window,
    optimize,
    risk_document,
)
from connectors.analytics.tca import order_tca
from connectors.marketdata.views import MarketDataUnreadable
from processors.analytics.portfolio import DEFAULT_RISK_AVERSION, AnalyticsError
from schemas.names import NEW_ORDER

router = APIRouter(prefix="/v1", tags=["analytics"])

Account = Annotated[Text, Path(max_length=64, description="The account.")]
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    422: {
        "description": "ANALYTICS_UNAVAILABLE: the recorded data cannot give the figures (no position, too few "
        "bars, a price that never moved); `detail` says what to change. Also a request validation error.",
        # Either answer: a Problem, or FastAPI's validation error (its `detail` a list of the refused fields).
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {"$ref": "#/components/schemas/HTTPValidationError"},
                    ]
                }
            }
        },
    }
}


class VarFigures(BaseModel):
    var: float = Field(description="One bar's value at risk, a fraction of the gross exposure (positive: a loss).")
    es: float = Field(description="One bar's expected shortfall beyond the VaR, a fraction of the gross exposure.")
    var_cash: float
    es_cash: float


class RiskAnalytics(BaseModel):
    account: str
    window: dict[str, int]
    symbols: list[str]
    exposures: dict[str, float] = Field(description="Signed quantity x last recorded price, in cash.")
    weights: dict[str, float] = Field(description="Exposure / gross exposure (signed).")
    gross_exposure: float
    net_exposure: float
    observations: int = Field(description="Bar returns the figures are computed from.")
    bar_seconds: float
    volatility: dict[str, float | None]
    annualized_volatility: dict[str, float | None]
    portfolio_volatility: float
    portfolio_annualized_volatility: float
    benchmark: str | None
    beta: dict[str, float | None]
    portfolio_beta: float | None
    correlation: dict[str, dict[str, float | None]]
    confidence: float
    var: dict[Literal["historical", "parametric"], VarFigures]


class OptimizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not silently ignored

    method: Literal["min_variance", "mean_variance", "risk_parity"]
    lookback_s: int = Field(3600, ge=2, le=7 * 86_400, description="Seconds of recorded trades to use.")
    bar_s: int = Field(60, ge=1, le=86_400, description="Bar length (seconds) of the returns.")
    to: AwareDatetime | None = Field(None, description="End of the window (ISO 8601 with zone); default now.")
    risk_aversion: float | None = Field(
        None, gt=0, le=1e6, description=f"λ of mean_variance only (default {DEFAULT_RISK_AVERSION:g})."
    )
    long_only: bool = Field(False, description="No negative weight (risk_parity never has one).")
    symbols: list[Symbol] = Field(
        default_factory=list, max_length=50, description="Symbols to add to the account's positions (held 0)."
    )
    capital: Cash | None = Field(None, description="Cash to allocate; default the account's net exposure.")
    lot: Quantity = Field("0.00000001", description="Target quantities are rounded toward zero to this step.")
    submit: bool = Field(
        False,
        description="Also produce the rebalancing orders to orders.commands (needs a role that may place orders).",
    )

    @model_validator(mode="after")
    def _aversion_for_mean_variance(self) -> OptimizeRequest:
        if self.risk_aversion is not None and self.method != "mean_variance":
            raise ValueError(f"risk_aversion applies to mean_variance only, not {self.method}")
        return self


class RebalanceOrder(BaseModel):
    symbol: str
    side: Literal["BUY", "SELL"]
    quantity: str
    price: str = Field(description="The limit: the symbol's last recorded trade price.")
    current_quantity: str
    target_quantity: str
    target_weight: float


class OptimizationPublic(BaseModel):
    account: str
    method: str
    window: dict[str, int]
    capital: str
    current_weights: dict[str, float]
    target_weights: dict[str, float]
    orders: list[RebalanceOrder]
    submitted: list[OrderAccepted] | None = Field(None, description="With submit: each order's place in the log.")


class VenueCostsPublic(BaseModel):
    fills: int
    quantity: float
    notional: float
    fees: float
    fee_bps: float | None
    price_improvement_bps: float | None = Field(
        None, description="This venue's fills against the consolidated BBO when their orders were decided (bps)."
    )


class TcaPublic(BaseModel):
    order_id: str
    symbol: str
    side: str
    status: str
    quantity: float
    children: int = Field(description="Child orders whose fills are measured (0: the order's own fills).")
    start_time_us: int
    end_time_us: int
    arrival_price: float | None
    arrival_source: Literal["mid", "last_trade"] | None
    end_price: float | None
    end_source: Literal["mid", "last_trade"] | None
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
    fees_by_venue: dict[str, VenueCostsPublic]
    price_improvement_bps: float | None = Field(
        None,
        description="Best execution: the fills against the consolidated best offer (buy) or bid (sell) when "
        "each fill's order was decided, in bps; positive when they beat it.",
    )
    at_or_better_than_bbo: float | None = Field(
        None, description="Share of the measured quantity filled at or better than the consolidated BBO."
    )


def _unavailable(error: AnalyticsError) -> ApiProblem:
    return ApiProblem(422, str(error), "ANALYTICS_UNAVAILABLE")


def _broker(error: MarketDataUnreadable) -> ApiProblem:
    return ApiProblem(503, f"broker unavailable: {error}", "BROKER_UNAVAILABLE", headers={"Retry-After": "1"})


def _end_us(res: Res, to: datetime | None) -> int:
    return int(res.wall_clock() * 1_000_000) if to is None else micros(to)


@router.get(
    "/accounts/{account}/risk-analytics",
    response_model=RiskAnalytics,
    summary="An account's portfolio risk: volatility, beta, correlation, VaR and ES",
    responses={**responses(401, 403, 429, 503), **UNAVAILABLE},
)
def risk_analytics(
    *,
    account: Account,
    principal: Reader,
    res: Res,
    lookback_s: Annotated[int, Query(ge=2, le=7 * 86_400, description="Seconds of recorded trades.")] = 3600,
    bar_s: Annotated[int, Query(ge=1, le=86_400, description="Bar length (seconds).")] = 60,
    confidence: Annotated[float, Query(ge=0.5, lt=1, description="VaR and ES confidence.")] = 0.95,
    benchmark: Annotated[
        str,
        Query(
            max_length=32,
            pattern=r"^([A-Z0-9][A-Z0-9._\-]*|none)$",
            description=f"Symbol betas are measured against (default {DEFAULT_BENCHMARK}); `none` for no beta.",
        ),
    ] = DEFAULT_BENCHMARK,
    to: Annotated[
        AwareDatetime | None, Query(description="End of the window (ISO 8601 with zone); default now.")
    ] = None,
) -> RiskAnalytics:
    """The account's positions valued at their last recorded trade, its symbols' bar returns over the lookback
    (md.trades), and the figures of docs/PORTFOLIO_ANALYTICS.md."""
    require_account(principal, account)
    try:
        window = Window(_end_us(res, to), lookback_s, bar_s)
        with res.pool.connection() as conn:
            document = risk_document(
                conn,
                res.config.settings,
                account,
                window,
                confidence=confidence,
                benchmark=None if benchmark == "none" else benchmark,
            )
    except AnalyticsError as error:
        raise _unavailable(error) from None
    except MarketDataUnreadable as error:
        raise _broker(error) from None
    return RiskAnalytics(**document)


@router.post(
    "/accounts/{account}/optimize",
    response_model=OptimizationPublic,
    response_model_exclude_none=False,
    summary="Target weights and the rebalancing orders that reach them; submitted only when asked",
    responses={**responses(401, 403, 429, 503), **UNAVAILABLE},
)
def optimize_account(account: Account, body: OptimizeRequest, principal: Reader, res: Res) -> OptimizationPublic:
    """Target weights by minimum variance, mean-variance or risk parity over the account's symbols, and the
    limit orders that take its positions there. With ``submit`` the orders are produced to orders.commands as
    POST /v1/orders produces them (same client order ids for the same plan: never traded twice)."""
    require_account(principal, account)
    if body.submit and not principal.may(Action.PLACE_ORDER):
        raise ApiProblem(403, f"the {principal.role} role may not place orders (submit)", "FORBIDDEN")
    try:
        window = Window(_end_us(res, body.to), body.lookback_s, body.bar_s)
        with res.pool.connection() as conn:
            plan = optimize(
                conn,
                res.config.settings,
                account,
                window,
                method=body.method,
                symbols=body.symbols,
                risk_aversion=DEFAULT_RISK_AVERSION if body.risk_aversion is None else body.risk_aversion,
                long_only=body.long_only,
                capital=None if body.capital is None else fp(body.capital, "cash"),
                lot=quantity_fp(body.lot),
            )
    except AnalyticsError as error:
        raise _unavailable(error) from None
    except MarketDataUnreadable as error:
        raise _broker(error) from None
    public = OptimizationPublic(**plan.as_json())
    if body.submit:
        public.submitted = _submit(res, plan)
    return public


def _submit(res: Res, plan: Optimization) -> list[OrderAccepted]:
    accepted = []
    for record in new_order_records(plan, res.origin):
        delivered, _ = produce_order_command(res, NEW_ORDER, record)
        accepted.append(
            OrderAccepted(
                order_id=record["order_id"],
                client_order_id=record["client_order_id"],
                event_id=record["meta"]["event_id"],
                topic=delivered.topic,
                partition=delivered.partition,
                offset=delivered.offset,
            )
        )
    return accepted


@router.get(
    "/orders/{order_id}/tca",
    response_model=TcaPublic,
    summary="Transaction cost analysis of an order (a parent on its children's fills)",
    responses=responses(401, 403, 404, 409, 429, 503),
)
def order_tca_route(order_id: OrderId, principal: Reader, res: Res) -> TcaPublic:
    """Arrival price, interval VWAP, implementation shortfall, slippage, participation, fill ratio and fees
    per venue, as docs/TCA.md defines them; a figure whose benchmark has no market data is null."""
    order = known_order(res, principal, order_id, latest=True)
    try:
        with res.pool.connection() as conn:
            report = order_tca(conn, res.config.settings, order)
    except MarketDataUnreadable as error:
        raise _broker(error) from None
    return TcaPublic(**report.as_json())
