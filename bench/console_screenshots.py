"""Screenshots of each view of the console, taken in headless Chromium against a running stack.

    sq demo                       # prints the console's URL; keep it running
    sq feed file --sample --speed 5 &   # market data for the book and analytics views (optional)
    python -m bench.console_screenshots --url http://127.0.0.1:8000 --key sqk_… [--symbol BTCUSDT] [--out docs/console]

Logs in with the key (an admin or risk key for every account shows every view whole), waits on each view for
its data (rows in the blotter, a position, the ladder, the breakers' and kill switches' tables, the stage lag),
selects the newest filled order for the side panel, and writes blotter.png, positions.png, market.png,
risk.png and pipeline.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By

from tests.kit.browser import chromium, find, log_in, show, wait_until

WAIT_S = 30.0


def _settle(driver: Chrome, seconds: float) -> None:
    """Let live charts gather a few points (they sample every second or two)."""
    deadline = time.monotonic() + seconds
    wait_until(driver, lambda _: time.monotonic() >= deadline, seconds + 5, "the charts to fill")


def take(url: str, key: str, symbol: str, out: Path, settle_s: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def shot(driver: Chrome, name: str) -> None:
        path = out / f"{name}.png"
        driver.save_screenshot(str(path))
        written.append(path)
        print(f"wrote {path}", file=sys.stderr)

    with chromium(1600, 1400) as driver:
        log_in(driver, url, key)
        rows = wait_until(driver, lambda d: find(d, "#blotter tbody tr"), WAIT_S, "orders in the blotter")
        filled = find(driver, '#blotter tr[data-status="FILLED"]') or rows
        filled[0].click()
        wait_until(driver, lambda d: find(d, "#panel-events tbody tr"), WAIT_S, "the order's history")
        shot(driver, "blotter")

        show(driver, "positions")
        wait_until(driver, lambda d: find(d, "#positions tbody tr"), WAIT_S, "positions")
        _settle(driver, settle_s)
        shot(driver, "positions")

        show(driver, "market")
        driver.find_element(By.ID, "market-symbol").send_keys(symbol)
        driver.find_element(By.CSS_SELECTOR, "#symbol-form button").click()
        wait_until(driver, lambda d: find(d, "#ladder tbody tr"), WAIT_S, f"the book of {symbol}")
        _settle(driver, settle_s)
        shot(driver, "market")

        show(driver, "risk")
        wait_until(driver, lambda d: find(d, "#control-history tbody tr"), WAIT_S, "the control history")
        account = driver.find_element(By.ID, "limits-account")
        if not account.get_attribute("value"):  # a key for every account: show the first traded one's limits
            account.send_keys(find(driver, "#accounts tbody tr")[0].get_attribute("data-account") or "")
            driver.find_element(By.CSS_SELECTOR, "#limits-pick button").click()
        wait_until(driver, lambda d: not d.find_element(By.ID, "limits-form").get_attribute("hidden"), WAIT_S, "limits")
        shot(driver, "risk")

        show(driver, "pipeline")
        wait_until(driver, lambda d: find(d, "#stages tbody tr"), WAIT_S, "the stages' lag")
        _settle(driver, settle_s)
        shot(driver, "pipeline")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.console_screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the API's base URL (sq demo and sq up print it)")
    parser.add_argument("--key", required=True, help="an API key or JWT to log in with")
    parser.add_argument("--symbol", default="BTCUSDT", help="the symbol of the market view")
    parser.add_argument("--out", type=Path, default=Path("docs/console"), help="directory of the PNG files")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds live charts gather points before a shot")
    args = parser.parse_args(argv)
    written = take(args.url.rstrip("/"), args.key, args.symbol, args.out, args.settle)
    print(f"{len(written)} screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
