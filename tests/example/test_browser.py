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
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    # Generous deadline (CI machines can be slow); pages are replaced while we poll them.
    wait = WebDriverWait(
        driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    )

    def journal_text(d: Any) -> str:
        # One in-page read: the page re-renders the journal every second, so a found element
        # can be replaced before its text is fetched (Chromium then reports a stale node).
        # Table cells come tab-separated; join them with spaces as WebElement.text does.
        text: str = d.execute_script(
            "return document.getElementById('journal').innerText.replace(/[ \\t]+/g, ' ')"
        )
        return text

    # Tab 1: the intents page, left open; it refreshes itself.
    driver.get(f"{shop_url}/airlock/")
    wait.until(lambda d: d.find_element(By.ID, "journal"), message="no journal on the page")
    first = journal_text(driver)
    assert "no requests yet" in first, first
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
        lambda d: "receipt mailed to grace@example.com" in d.find_element(By.ID, "effects").text,
        message="the shop page never showed the receipt the task sent",
    )

    # Back on tab 1, without reloading: the new request and its intents appear.
    driver.switch_to.window(intents_tab)

    def checkout_shown(d: Any) -> str | None:
        text = journal_text(d)
        return text if "POST /checkout/" in text else None

    shown = wait.until(checkout_shown, message="the intents page never showed the checkout")
    # The rows are re-rendered every second: read the table's text once, then check it.
    assert "POST /checkout/ 302" in shown, shown
    for call in (
        "track_event('order_placed', order_id=1)",
        "send_receipt(order_id=1)",
        "notify_warehouse(1)",
    ):
        assert f"{call} dispatched" in shown, shown


def test_the_debug_toolbar_panel_shows_each_intents_fate(shop_url: str, browser: Any) -> None:
    """After a checkout and after a declined card, the toolbar's Airlock panel shows the fates.

    Set ``AIRLOCK_SCREENSHOT`` to a file name to save the panel after the checkout as a PNG
    (docs/img/debug-toolbar.png was taken so).
    """
    pytest.importorskip("debug_toolbar")
    import os

    from selenium.common.exceptions import (
        DetachedShadowRootException,
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.set_window_size(1400, 900)
    # The toolbar re-renders as its panels load: an element found a moment ago may be gone.
    gone = (NoSuchElementException, StaleElementReferenceException, DetachedShadowRootException)
    wait = WebDriverWait(driver, 30, ignored_exceptions=gone)

    def order(card: str) -> None:
        driver.get(f"{shop_url}/")
        email = driver.find_element(By.NAME, "customer")
        email.clear()
        email.send_keys("grace@example.com")
        Select(driver.find_element(By.NAME, "product")).select_by_visible_text("Teapot")
        field = driver.find_element(By.NAME, "card")
        field.clear()
        field.send_keys(card)
        driver.find_element(By.ID, "place-order").click()

    def toolbar() -> Any:
        """The toolbar lives in a shadow root: query it with CSS selectors only."""
        try:
            return driver.find_element(By.ID, "djDebugRoot").shadow_root
        except WebDriverException as exc:
            # The page was replaced between finding the element and reading its shadow root;
            # Chrome says so in words WebDriver does not map to a stale element. Same thing.
            if "does not belong to the document" in str(exc):
                raise StaleElementReferenceException(str(exc)) from exc
            raise

    def click(selector: str) -> None:
        """Click a toolbar element, finding it again if the toolbar re-rendered meanwhile."""
        wait.until(lambda d: toolbar().find_element(By.CSS_SELECTOR, selector).click() or True)

    def open_panel() -> list[list[str]]:
        """Click the toolbar's Airlock button; return the cells of its table, row by row."""
        click("#djDebugToolbar a.AirlockPanel")
        wait.until(
            lambda d: toolbar().find_element(By.CSS_SELECTOR, "#AirlockPanel #airlock-intents"),
            message="the Airlock panel never loaded",
        )

        def cells(_: Any) -> list[list[str]]:
            rows = toolbar().find_elements(
                By.CSS_SELECTOR, "#AirlockPanel #airlock-intents tbody tr"
            )
            return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]

        return wait.until(cells, message="the Airlock panel's table stayed empty")

    def checkout_row(_: Any) -> Any:
        rows = toolbar().find_elements(By.CSS_SELECTOR, "#HistoryPanel tr[data-request-id]")
        return next((row for row in rows if "/checkout/" in row.text), None)

    # A checkout answers with a redirect: its toolbar is reached through the History panel.
    order("4242 4242 4242 4242")
    wait.until(lambda d: toolbar().find_element(By.ID, "djDebugToolbar").is_displayed())
    click("#djDebugToolbar a.HistoryPanel")
    row = wait.until(checkout_row, message="the History panel never listed the checkout")
    row.find_element(By.CSS_SELECTOR, "button.switchHistory").click()
    wait.until(
        lambda d: "djdt-highlighted" in (checkout_row(d).get_attribute("class") or ""),
        message="the toolbar never switched to the checkout",
    )
    shown = open_panel()
    # task, arguments, options, origin, scope, fate
    assert [(row[0], row[5]) for row in shown] == [
        ("track_event", "dispatched"),
        ("send_receipt", "dispatched"),
        ("notify_warehouse", "dispatched"),
    ], shown
    assert "shop/signals.py:" in shown[0][3], shown  # where post_save enqueued it
    if os.environ.get("AIRLOCK_SCREENSHOT"):
        driver.save_screenshot(os.environ["AIRLOCK_SCREENSHOT"])

    # A declined card: a 402 page, with the toolbar on it; the request's intents are discarded.
    order("4000 0000 0000 0002")
    wait.until(lambda d: "Payment declined" in d.find_element(By.TAG_NAME, "h1").text)
    shown = open_panel()
    assert shown and {row[5] for row in shown} == {"discarded"}, shown
