"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against the
real server behind Basic authentication. It lists queues with their depth, updates after
puts, and its purge, peek and delete buttons act on the server.

The set-up installs the `chromium` package with apt-get when it is missing (as root);
Playwright's own browser download is never used."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from .helpers import REPO, Api, Server, running

ARTIFACTS = Path(os.environ.get("DISQUEUE_TEST_ARTIFACTS", REPO / "test-artifacts"))
CONFIG = {
    "servers": [{"authentication": "default"}],
    "authentication": {"default": {"type": "plaintext", "file": "passwords"}},
    "storage": {"type": "sqlite", "path": "data/q.db"},
}
CREDENTIALS = ("ops", "secret")

# The first test may install Chromium (`make test` does that before pytest starts).
pytestmark = pytest.mark.timeout(900)


def system_chromium() -> str:
    """The path of Debian's Chromium, installed now if it is missing and we may."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, timeout=900)
        found = shutil.which("chromium")
    assert found is not None, "the dashboard tests need Debian's `chromium` package"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = system_chromium()
    with sync_playwright() as playwright:
        # As root, Chromium's sandbox cannot start; the page is our own.
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("dashboard")
    with running(folder, CONFIG, {"passwords": "ops:$plain$secret\n"}) as server:
        yield server


@pytest.fixture
def ops(server: Server) -> Iterator[Api]:
    with Api(server.url, auth=CREDENTIALS) as client:
        for name in client.queues():  # each test starts from an empty server
            client.call("DELETE", "/queue", data={"name": name}).ok()
        yield client


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    user, password = CREDENTIALS
    context = browser.new_context(
        http_credentials={"username": user, "password": password},
        viewport={"width": 1280, "height": 800},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"errors in the page's script: {errors}"


def cell(page: Page, queue: str, field: str) -> Locator:
    return page.locator(f'tr[data-queue="{queue}"] td[data-field="{field}"]')


def test_shows_queues_and_updates_after_puts(page: Page, ops: Api, server: Server) -> None:
    """The page lists each queue with its depth, follows puts and takes live, draws its
    charts; a screenshot is saved as a test artifact."""
    orders, emails = ops.new_queue(), ops.new_queue()
    for number in range(3):
        ops.put(orders, f"order-{number}")
    page.goto(f"{server.url}/ui")
    expect(page.locator(f'tr[data-queue="{orders}"] td.name')).to_have_text(orders)
    expect(cell(page, orders, "ready")).to_have_text("3")
    expect(cell(page, emails, "ready")).to_have_text("0")

    # Traffic over a few polls, so the rates and charts have something to show.
    stop = threading.Event()

    def traffic() -> None:
        with Api(server.url, auth=CREDENTIALS) as client:
            number = 0
            while not stop.is_set():
                number += 1
                client.put(emails, f"mail-{number}")
                if number % 3 == 0:
                    client.take_item(emails)
                time.sleep(0.02)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        ops.put(orders, "order-3")
        ops.put(orders, "order-4")
        expect(cell(page, orders, "ready")).to_have_text("5")
        expect(cell(page, emails, "put_rate")).not_to_have_text("0.0")
        page.locator(f'tr[data-queue="{emails}"] td.name').click()
        expect(page.locator("#detail-name")).to_have_text(emails)
        page.wait_for_function(
            "document.querySelectorAll('#chart-depth polyline')[0]"
            ".getAttribute('points').split(' ').length >= 4",
            timeout=15000,
        )
    finally:
        stop.set()
        worker.join()
    expect(page.locator("#chart-rate polyline")).to_have_count(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_purge_button_empties_the_queue(page: Page, ops: Api, server: Server) -> None:
    """Purge asks for confirmation; cancelled it changes nothing, confirmed the queue is
    empty on the server and on the page."""
    queue = ops.new_queue()
    for number in range(4):
        ops.put(queue, f"v{number}")
    page.goto(f"{server.url}/")
    expect(cell(page, queue, "ready")).to_have_text("4")
    purge = page.locator(f'tr[data-queue="{queue}"] button[data-action="purge"]')
    purge.click()
    expect(page.locator("#confirm")).to_be_visible()
    page.locator("#confirm-cancel").click()
    expect(page.locator("#confirm")).to_be_hidden()
    assert ops.info(queue)["size"] == 4
    purge.click()
    page.locator("#confirm-ok").click()
    expect(cell(page, queue, "ready")).to_have_text("0")
    assert ops.info(queue)["size"] == 0
    expect(page.locator("#toast")).to_contain_text("Purged 4 item(s)")


def test_peek_and_delete(page: Page, ops: Api, server: Server) -> None:
    """Peek shows the head item without taking it; delete (confirmed) removes the queue."""
    queue = ops.new_queue()
    ops.put(queue, "first value", key="k1")
    ops.put(queue, "second value")
    page.goto(f"{server.url}/")
    row = page.locator(f'tr[data-queue="{queue}"]')
    row.locator('button[data-action="peek"]').click()
    expect(page.locator("#peek-result")).to_contain_text('"value": "first value"')
    expect(page.locator("#peek-result")).to_contain_text('"key": "k1"')
    assert ops.info(queue)["size"] == 2
    row.locator('button[data-action="delete"]').click()
    page.locator("#confirm-ok").click()
    expect(row).to_have_count(0)
    assert queue not in ops.queues()
