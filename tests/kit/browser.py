"""Headless Chromium driven by Selenium, for the console's browser tests and its screenshots (bench): the
system's browser and driver (Debian's chromium and chromium-driver, installed by infra/install-system-deps.sh)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

T = TypeVar("T")
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


class BrowserMissing(RuntimeError):
    """No Chromium or chromedriver on PATH."""


@contextmanager
def chromium(width: int = 1440, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium session, quit afterwards."""
    binary = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        raise BrowserMissing("chromium and chromedriver are needed: run `make install` (infra/install-system-deps.sh)")
    options = Options()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(
    driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], T | None], timeout_s: float, what: str
) -> T:
    """``condition``'s first truthy answer, polled; an AssertionError naming ``what`` after ``timeout_s``."""

    def attempt(d: webdriver.Chrome) -> T | None:
        try:
            return condition(d)
        except StaleElementReferenceException:  # the page re-rendered the element between find and read
            return None

    try:
        found = WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(attempt)
    except TimeoutException:
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from None
    assert found is not None  # until returns only a truthy answer
    return found


def find(driver: webdriver.Chrome, css: str) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, css)


def log_in(driver: webdriver.Chrome, base_url: str, secret: str, timeout_s: float = 20.0) -> None:
    """Open the console and log in with a key or token; returns once the live stream is connected."""
    driver.get(f"{base_url}/console")
    field = wait_until(driver, lambda d: d.find_element(By.ID, "login-secret"), timeout_s, "the login form")
    field.send_keys(secret)
    driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait_until(driver, lambda d: d.find_element(By.ID, "stream-state").text == "live", timeout_s, "the live stream")


def show(driver: webdriver.Chrome, view: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'#tabs button[data-view="{view}"]').click()
