"""`sq demo [--orders N] [--exit] [--json]`: the main job (`make demo`).

Starts the whole stack as `sq up` does (deploy/stack.py), creates a demo API key (admin for this run's
accounts, stored hashed), drives a trading session through the API over HTTP (deploy/demo_session.py: several
accounts placing, amending and cancelling orders that cross, a kill switch episode), waits until the log
is settled (`sq verify`'s invariants hold) and the projections show it, then prints a summary: orders,
fills, positions, rejects by reason, the console's and the API docs' URLs and the demo key. Without ``--exit``
the stack keeps running for you to explore until Ctrl-C; with it, everything it started is stopped.

Each run has a fresh run id (``demo-xxxxxx``) prefixed to its accounts and client order ids, so the demo
runs again on the same topics and tables and its summary counts only its own run.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import psycopg

from schemas.codec import default_codec
from settings import Settings
from sq.errors import CommandError
from sq.output import emit_json, progress, say

if TYPE_CHECKING:
    from deploy.stack import Stack  # imported lazily: registering a command must stay light

SETTLE_TIMEOUT_S = 90.0  # after the last command: until the log is settled and the projections show it


def register(subparsers: Any) -> None:
    from sq.commands.up import add_deployment_options

    parser = subparsers.add_parser("demo", help="run the whole stack and drive a trading session through the API")
    parser.add_argument("--orders", type=int, default=400, help="new orders to place (cancels and amends on top)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the order flow")
    parser.add_argument("--rate", type=float, default=None, help="commands per second (default: as fast as taken)")
    parser.add_argument("--exit", action="store_true", help="stop everything after the summary")
    add_deployment_options(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from deploy.stack import stop_on_signals
    from sq.commands.up import start_stack

    if args.orders <= 0:
        raise CommandError("--orders must be positive")
    began = time.monotonic()
    with stop_on_signals(threading.Event()) as stop:
        stack = start_stack(args, stop)
        try:
            failures: list[str] = []
            watcher = threading.Thread(target=_watch, args=(stack, stop, failures), name="sq-watch", daemon=True)
            watcher.start()
            try:
                document, ok = _demo(args, stack, stop, began)
            except KeyboardInterrupt:
                if failures:  # the watcher stopped the session: say why, not "interrupted"
                    raise CommandError(f"{failures[0]}; the demo stopped") from None
                raise
            if failures:
                raise CommandError(f"{failures[0]}; the demo stopped")
            _print(document, args.json)
            if not args.exit:
                say(
                    "\nThe stack keeps running: watch it in the console, explore the API at the docs URL, "
                    "with the key. Ctrl-C stops it."
                )
                watcher.join()
                if failures:
                    progress(f"{failures[0]}; stopping the rest")
                    return 1
        finally:
            stop.set()  # the watcher ends rather than report the parts being stopped as failures
            stack.stop()
    progress("stopped")
    return 0 if ok else 1


def _watch(stack: Stack, stop: threading.Event, failures: list[str]) -> None:
    """Stop everything when a part of the stack stops on its own."""
    failure = stack.run_until_stopped()
    if failure:
        failures.append(failure)
        stop.set()


def _demo(args: argparse.Namespace, stack: Stack, stop: threading.Event, began: float) -> tuple[dict[str, Any], bool]:
    import httpx

    from deploy.demo_session import Session, SessionStopped, read_projection, summary
    from deploy.stack import Interrupted, StackError, wait_until_consumed
    from processors.runtime.pipeline import stage_of
    from processors.runtime.registry import consumer_group
    from topics.catalogue import RISK_LIMITS

    run_id = f"demo-{uuid.uuid4().hex[:6]}"
    session = Session(
        httpx.Client(base_url=stack.base_url, timeout=30), run_id, args.orders, stop, seed=args.seed, rate=args.rate
    )
    accounts = session.run_accounts()
    key = _create_demo_key(stack.settings, accounts, run_id)
    session.client.headers["X-API-Key"] = key
    progress(f"demo {run_id}: {args.orders} orders from {len(accounts)} accounts through {stack.base_url} …")
    with session.client:
        try:
            # Risk reads limits and commands as two topics, in no order between them: orders sent before it
            # applied the limits would be judged without reference prices (a market order: NOTIONAL_LIMIT).
            limits = session.set_limits()
            risk = consumer_group(stack.settings, stack.options.engine, stage_of("risk", stack.options.topology))
            wait_until_consumed(stack.settings, risk, RISK_LIMITS, limits, stop=stop)
            stats = session.drive()
        except (SessionStopped, Interrupted):
            raise KeyboardInterrupt from None
        except StackError as error:
            raise CommandError(str(error)) from None
        progress(
            f"  {stats.placed} orders accepted, {stats.cancels} cancels, {stats.amends} amends sent "
            f"in {time.monotonic() - began:.1f} s; waiting for the pipeline and the projections …"
        )
        report, caught_up = _settle(stack.settings, session, set(accounts), stop)
        projection = read_projection(session.client)
    document = {
        "run_id": run_id,
        "accounts": accounts,
        **summary(projection, stats),
        "caught_up": caught_up,
        "verify": report.as_json(),
        "api": stack.base_url,
        "docs": stack.docs_url,
        "console": stack.console_url,
        "key": key,
        "seconds": round(time.monotonic() - began, 1),
    }
    return document, caught_up and report.ok


def _create_demo_key(settings: Settings, accounts: list[str], run_id: str) -> str:
    from api import key_store
    from api.auth import Role

    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=5) as conn:
        return key_store.create_key(conn, Role.ADMIN, accounts, label=f"sq demo {run_id}").key


def _settle(settings: Settings, session: Any, accounts: set[str], stop: threading.Event) -> tuple[Any, bool]:
    """Wait until the log is settled (every invariant of `sq verify` holds) and the projections, read over
    the API, show exactly what the log says of the run's accounts. (report, caught up)."""
    from deploy.demo_session import expected_from_log, read_projection
    from replay.order_path_log import read_order_path_log
    from replay.verify import verify

    codec = default_codec()
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        log = read_order_path_log(settings, codec)
        report = verify(log)
        if report.ok and read_projection(session.client).shows(
            expected_from_log(log.order_events, log.positions, accounts)
        ):
            return report, True
        if time.monotonic() > deadline:
            progress(f"  not caught up within {SETTLE_TIMEOUT_S:.0f} s: reporting what is there")
            return report, False
        if stop.wait(0.5):
            raise KeyboardInterrupt


def _print(document: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(document)
        return
    statuses = ", ".join(f"{k} {v}" for k, v in document["orders_by_status"].items())
    session = document["session"]
    kill = document["kill_switch"]
    verify = document["verify"]
    say(f"\ndemo {document['run_id']}: accounts {', '.join(document['accounts'])}")
    say(f"  orders     {document['orders']:6}  ({statuses})")
    say(f"  fills      {document['fills']:6}")
    say(f"  positions  {document['positions']:6}")
    say(
        f"  rejects    {sum(document['rejects'].values()):6}  "
        f"({', '.join(f'{k} {v}' for k, v in document['rejects'].items()) or 'none'})"
    )
    say(
        f"  via HTTP   {session['placed']} orders accepted, {session['cancels']} cancels, {session['amends']} amends; "
        f"refused: {_refusals(session['http_refusals'])}"
    )
    say(
        f"  kill switch on {kill['account']}: {kill['orders_sent']} orders sent while on, "
        f"{kill['denied']} denied KILL_SWITCH; then released, its orders flow again"
    )
    say(
        f"  verify     {'OK' if verify['ok'] else 'VIOLATED'}: {verify['commands']} commands, {verify['lost']} lost, "
        f"{verify['duplicated']} duplicated, {verify['position_mismatches']} position mismatches"
    )
    if not document["caught_up"]:
        say("  the projections had not caught up with the log when the summary was taken")
    say(f"\nconsole: {document['console']} (log in with the demo key)")
    say(f"API docs: {document['docs']}")
    say(f"demo key (admin for the demo accounts): {document['key']}")
    say(f"  curl -H 'X-API-Key: {document['key']}' {document['api']}/v1/positions")


def _refusals(counts: dict[str, int]) -> str:
    meaning = {"422": "invalid", "404": "unknown order", "409": "order already finished"}
    return ", ".join(f"{n} x {status} {meaning.get(status, '')}".rstrip() for status, n in counts.items()) or "none"
