"""One real browser: place an order in the shop and watch the intents page update by itself.

Headless Chromium from Debian's packages, driven by Selenium through the system chromedriver,
against the example shop served by ``manage.py runserver`` in a child process.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.example.helpers import EXAMPLE, shop_env
from tests.processes import running

pytestmark = pytest.mark.requires("chromium")

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def shop_url(new_shop_db: Callable[[], Path]) -> Iterator[str]:
    db = new_shop_db()
    port = free_port()
    argv = ["python", "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"]
    with running(argv, env=shop_env(db), cwd=EXAMPLE, ready=lambda _: answers(port)):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def test_placing_an_order_shows_up_on_the_intents_page(shop_url: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 30)  # generous: CI machines can be slow

    # Tab 1: the intents page, left open; it refreshes itself.
    driver.get(f"{shop_url}/airlock/")
    journal = driver.find_element(By.ID, "journal")
    assert "no requests yet" in journal.text
    intents_tab = driver.current_window_handle

    # Tab 2: the shop; place an order for a teapot.
    driver.switch_to.new_window("tab")
    driver.get(f"{shop_url}/")
    email = driver.find_element(By.NAME, "customer")
    email.clear()
    email.send_keys("grace@example.com")
    product = driver.find_element(By.NAME, "product")
    Select(product).select_by_visible_text("Teapot")
    driver.find_element(By.ID, "place-order").click()
    wait.until(
        lambda d: "receipt mailed to grace@example.com" in d.find_element(By.ID, "effects").text
    )

    # Back on tab 1, without reloading: the new request and its intents appear.
    driver.switch_to.window(intents_tab)
    wait.until(lambda d: "POST /checkout/" in d.find_element(By.ID, "journal").text)
    rows = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "#journal tr.intent")]
    checkout = [r for r in rows if "order_id=1" in r or "notify_warehouse(1)" in r]
    assert any("track_event('order_placed', order_id=1) dispatched" in r for r in checkout), rows
    assert any("send_receipt(order_id=1) dispatched" in r for r in checkout), rows
    assert any("notify_warehouse(1) dispatched" in r for r in checkout), rows
