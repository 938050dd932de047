"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against the
real server behind Basic authentication. Every screen (the overview with its totals and
storage health, the queue table sorted and filtered, a queue's page with its settings,
dead-letter links, server history charts and head item) and every action (peek, pause,
resume, redrive, settings, purge, delete; each confirmed, and refused to a user without
the right) acts on the server. Screenshots go to test artifacts; `make screenshot`
makes the README's docs/dashboard.png with the same test. The page's render time with
1,000 queues is printed and saved (never asserted).

The set-up installs the `chromium` package with apt-get when it is missing (as root);
Playwright's own browser download is never used."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests import pg

from .helpers import REPO, Api, Server, running

ARTIFACTS = Path(os.environ.get("DISQUEUE_TEST_ARTIFACTS", REPO / "test-artifacts"))
#: `make screenshot` sets this to docs/dashboard.png (the README's image).
README_SCREENSHOT = os.environ.get("DISQUEUE_README_SCREENSHOT")
CONFIG = {
    "servers": [{"authentication": "default"}],
    "queue_names": "any",
    "authentication": {"default": {
        "type": "plaintext", "file": "passwords",
        "permissions": {"ops": {"*": "rwm"}, "viewer": {"*": "r"}},
    }},
    "storage": {"type": "sqlite", "path": "data/q.db"},
}  # fmt: skip
CREDENTIALS = ("ops", "secret")
VIEWER = ("viewer", "look")

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
    passwords = "ops:$plain$secret\nviewer:$plain$look\n"
    with running(folder, CONFIG, {"passwords": passwords}) as server:
        yield server


@pytest.fixture
def ops(server: Server) -> Iterator[Api]:
    with Api(server.url, auth=CREDENTIALS) as client:
        for name in client.queues():  # each test starts from an empty server
            client.call("DELETE", "/queue", data={"name": name}).ok()
        yield client


def open_page(browser: Browser, url: str, credentials: tuple[str, str] = CREDENTIALS) -> Page:
    user, password = credentials
    context = browser.new_context(
        http_credentials={"username": user, "password": password},
        viewport={"width": 1400, "height": 900},
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    page = open_page(browser, f"{server.url}/ui")
    yield page
    errors = page.errors  # type: ignore[attr-defined]
    page.context.close()
    assert errors == [], f"errors in the page's script: {errors}"


def cell(page: Page, queue: str, field: str) -> Locator:
    return page.locator(f'tr[data-queue="{queue}"] td[data-field="{field}"]')


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    assert path.stat().st_size > 10_000
    return path


def wait_for_line(page: Page, selector: str, points: int) -> None:
    """Until some polyline of `selector` has `points` points."""
    page.wait_for_function(
        "([selector, points]) => [...document.querySelectorAll(selector)]"
        ".some(p => (p.getAttribute('points') || '').split(' ').length >= points)",
        arg=[selector, points],
        timeout=30000,
    )


def confirm(page: Page, text: str) -> None:
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text(text)
    page.locator("#confirm-ok").click()
    expect(page.locator("#confirm")).to_be_hidden()


class Traffic:
    """Puts (and some takes) into `queues` from a thread, until stopped."""

    def __init__(self, url: str, queues: list[str]) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, queues))
        self.thread.start()

    def _run(self, url: str, queues: list[str]) -> None:
        with Api(url, auth=CREDENTIALS) as client:
            number = 0
            while not self.stop.is_set():
                number += 1
                for index, queue in enumerate(queues):
                    if number % (index + 1) == 0:
                        client.put(queue, f"item-{number}")
                    if number % 3 == 0:
                        client.take_item(queues[0])
                time.sleep(0.03)

    def __enter__(self) -> Traffic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def test_overview_shows_totals_storage_and_live_queues(
    page: Page, ops: Api, server: Server
) -> None:
    """The overview: totals, storage kind and health, each queue's depth followed live,
    rates, the sparklines' shared scale; no queue page open by default; the icon is
    served. Its screenshot is the README's (`make screenshot`)."""
    orders, emails = ops.new_queue("orders"), ops.new_queue("emails")
    ops.new_queue("orders-dead")
    for number in range(3):
        ops.put(orders, f"order-{number}")
    page.reload()
    expect(cell(page, orders, "ready")).to_have_text("3")
    expect(cell(page, emails, "ready")).to_have_text("0")
    expect(page.locator('[data-total="queues"]')).to_have_text("3")
    expect(page.locator("#storage-kind")).to_have_text("sqlite")
    expect(page.locator("#storage-health")).to_have_text("ready")
    expect(page.locator("#queue-page")).to_be_hidden()
    expect(page.locator("#nodes")).to_be_hidden()  # embedded storage: one node, not listed
    with Traffic(server.url, [emails, orders]):
        expect(cell(page, emails, "put_rate")).not_to_have_text("0.0", timeout=15000)
        expect(page.locator('[data-total="put_rate"]')).not_to_have_text("0.0")
        expect(page.locator("#spark-scale")).to_contain_text("1 min, 0\u2013")
        wait_for_line(page, 'tr[data-queue="emails"] polyline', 3)
        time.sleep(8)  # a few more seconds of traffic on the sparklines for the screenshot
        path = shot(page, "dashboard-overview.png")
    if README_SCREENSHOT:
        shutil.copy(path, REPO / README_SCREENSHOT)
        print(f"README screenshot: {REPO / README_SCREENSHOT}")
    icon = requests.get(f"{server.url}/favicon.ico", auth=CREDENTIALS, timeout=10)
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")


def test_overview_lists_the_nodes_on_postgresql(browser: Browser, tmp_path: Path) -> None:
    """On PostgreSQL the overview lists the nodes sharing the schema, the one answering
    marked; a node stopped cleanly leaves the list."""
    passwords = {"passwords": "ops:$plain$secret\n"}
    with contextlib.ExitStack() as stack:
        config = {**CONFIG, "storage": pg.storage(stack.enter_context(pg.fresh_schema()))}
        a, b = (stack.enter_context(running(tmp_path / name, config, passwords)) for name in "ab")
        page = open_page(browser, f"{a.url}/ui")
        stack.callback(page.context.close)
        nodes = page.locator("#nodes-list li")
        expect(nodes).to_have_count(2, timeout=15000)
        expect(page.locator("#nodes-count")).to_have_text("2 nodes")
        expect(page.locator("#nodes-list li.this")).to_have_count(1)
        expect(page.locator("#nodes-list li.this")).to_contain_text(f"pid {a.proc.pid}")
        expect(page.locator("#nodes-list li.this")).to_contain_text("this node")
        expect(nodes.filter(has_text=f"pid {b.proc.pid}")).not_to_contain_text("this node")
        shot(page, "dashboard-nodes.png")
        b.shutdown()
        expect(nodes).to_have_count(1, timeout=15000)
        expect(page.locator("#nodes-count")).to_have_text("1 node")
        assert page.errors == []  # type: ignore[attr-defined]


def test_table_sorts_and_filters(page: Page, ops: Api) -> None:
    counts = (("alpha", 1), ("bravo", 5), ("charlie", 3))
    for name, items in counts:
        ops.new_queue(name)
        for number in range(items):
            ops.put(name, f"v{number}")
    rows = page.locator("#queues tbody tr")
    expect(rows).to_have_count(3)
    for name, items in counts:  # a poll may have caught a queue before all its puts
        expect(cell(page, name, "ready")).to_have_text(str(items))
    page.locator('th[data-sort="ready"]').click()  # most first
    expect(rows.first).to_have_attribute("data-queue", "bravo")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.queue)") == ["bravo", "charlie", "alpha"]
    page.locator('th[data-sort="ready"]').click()  # least first
    expect(rows.first).to_have_attribute("data-queue", "alpha")
    page.locator('th[data-sort="name"]').click()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.queue)") == ["alpha", "bravo", "charlie"]
    page.locator("#filter").fill("ra")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-queue", "bravo")
    expect(page.locator("#shown")).to_have_text("1 of 3 queues")
    page.locator("#filter").fill("")
    expect(rows).to_have_count(3)
    shot(page, "dashboard-sorted.png")


def test_queue_page_settings_dead_letter_links_history_and_peek(
    page: Page, ops: Api, server: Server
) -> None:
    """A queue's page: its settings, its dead-letter queue linked, and from there back
    (both ways); charts drawn from the server's history; the head item by peek."""
    ops.new_queue("jobs-dead")
    ops.call("POST", "/queues", data={"name": "jobs", "dead_letter": "jobs-dead",
                                      "max_attempts": "3", "lease": "20"}).ok()  # fmt: skip
    ops.put("jobs", "first job", key="k1")
    ops.put("jobs", "second job")
    time.sleep(2.5)  # a few samples of the server's history before the page opens
    page.locator('tr[data-queue="jobs"] td.name a').click()
    expect(page.locator("#queue-page")).to_be_visible()
    expect(page.locator("#detail-name")).to_have_text("jobs")
    expect(page.locator('#settings input[name="lease"]')).to_have_value("20")
    expect(page.locator('#settings input[name="max_attempts"]')).to_have_value("3")
    expect(page.locator('#settings input[name="dead_letter"]')).to_have_value("jobs-dead")
    expect(page.locator('dd[data-fact="size"]')).to_have_text("2")
    expect(page.locator("#dlq-to a")).to_have_text("jobs-dead")
    wait_for_line(page, '#chart-depth polyline[data-series="ready"]', 2)
    page.locator('#queue-actions [data-action="peek"]').click()
    expect(page.locator("#peek-result")).to_contain_text('"value": "first job"')
    expect(page.locator("#peek-result")).to_contain_text('"key": "k1"')
    assert ops.info("jobs")["size"] == 2
    shot(page, "dashboard-queue.png")
    page.locator("#dlq-to a").click()
    expect(page.locator("#detail-name")).to_have_text("jobs-dead")
    expect(page.locator("#dlq-from a")).to_have_text("jobs")
    page.locator("#window").select_option("21600")
    expect(page.locator("#step")).to_have_text("60")
    page.locator("#queue-page a", has_text="all queues").click()
    expect(page.locator("#overview")).to_be_visible()


def test_actions_pause_resume_settings_redrive_purge_delete(
    page: Page, ops: Api, server: Server
) -> None:
    """Each action asks first (a cancel changes nothing), then acts on the server."""
    ops.new_queue("work-dead")
    ops.call("POST", "/queues", data={"name": "work", "dead_letter": "work-dead",
                                      "max_attempts": "1"}).ok()  # fmt: skip
    for number in range(4):
        ops.put("work", f"w{number}")
    taken = ops.call("POST", "/take", data={"name": "work", "lease": "30"}).ok()
    ops.call("POST", "/release", data={"name": "work", "id": taken["id"]}).ok()  # → dead letter
    assert ops.info("work-dead")["size"] == 1
    page.goto(page.url.split("#")[0] + "#queue=work")
    expect(page.locator("#detail-name")).to_have_text("work")

    pause = page.locator('#queue-actions [data-action="pause"]')
    pause.click()
    page.locator("#confirm-cancel").click()
    assert ops.info("work")["paused"] is False
    pause.click()
    confirm(page, "Pause work?")
    expect(page.locator("#toast")).to_contain_text("Paused work")
    assert ops.info("work")["paused"] is True
    expect(page.locator("#detail-paused")).to_be_visible()
    page.locator('#queue-actions [data-action="resume"]').click()
    confirm(page, "Resume work?")
    expect(page.locator("#toast")).to_contain_text("Resumed work")
    assert ops.info("work")["paused"] is False

    page.locator('#settings input[name="lease"]').fill("45")
    page.locator('#settings input[name="retry_delays"]').fill("1, 5")
    page.locator("#settings-save").click()
    confirm(page, "lease = 45, retry_delays = 1, 5")
    expect(page.locator("#toast")).to_contain_text("Changed")
    info = ops.info("work")
    assert info["lease"] == 45 and info["retry_delays"] == [1, 5]

    page.goto(page.url.split("#")[0] + "#queue=work-dead")
    expect(page.locator("#dlq-from a")).to_have_text("work")
    page.locator('#queue-actions [data-action="redrive"]').click()
    confirm(page, "Redrive the dead letters of work-dead?")
    expect(page.locator("#toast")).to_contain_text("Redrove 1 item(s) from work-dead")
    assert ops.info("work-dead")["size"] == 0 and ops.info("work")["size"] == 4

    page.goto(page.url.split("#")[0] + "#queue=work")
    purge = page.locator('#queue-actions [data-action="purge"]')
    purge.click()
    page.locator("#confirm-cancel").click()
    assert ops.info("work")["size"] == 4
    purge.click()
    confirm(page, "Purge queue work?")
    expect(page.locator("#toast")).to_contain_text("Purged 4 item(s) from work")
    assert ops.info("work")["size"] == 0
    shot(page, "dashboard-actions.png")

    page.locator('#queue-actions [data-action="delete"]').click()
    confirm(page, "Delete queue work")
    expect(page.locator("#overview")).to_be_visible()
    expect(page.locator('tr[data-queue="work"]')).to_have_count(0)
    assert "work" not in ops.queues()


def test_row_buttons_purge_and_delete(page: Page, ops: Api) -> None:
    queue = ops.new_queue("row")
    for number in range(2):
        ops.put(queue, f"v{number}")
    expect(cell(page, queue, "ready")).to_have_text("2")
    row = page.locator(f'tr[data-queue="{queue}"]')
    row.locator('button[data-action="purge"]').click()
    confirm(page, "Purge queue row?")
    expect(cell(page, queue, "ready")).to_have_text("0")
    row.locator('button[data-action="delete"]').click()
    confirm(page, "Delete queue row")
    expect(row).to_have_count(0)
    assert queue not in ops.queues()


def test_actions_refused_to_a_user_without_the_right(
    browser: Browser, ops: Api, server: Server
) -> None:
    """A user who may only read sees the queues; pause, purge and settings are refused
    with the server's 403 said in the page, and nothing changes."""
    ops.new_queue("guarded")
    ops.put("guarded", "v")
    page = open_page(browser, f"{server.url}/ui#queue=guarded", VIEWER)
    try:
        expect(page.locator("#detail-name")).to_have_text("guarded")
        page.locator('#queue-actions [data-action="pause"]').click()
        confirm(page, "Pause guarded?")
        expect(page.locator("#toast")).to_contain_text("Pause failed: refused: permission denied")
        page.locator('#queue-actions [data-action="purge"]').click()
        confirm(page, "Purge queue guarded?")
        expect(page.locator("#toast")).to_contain_text("Purge failed: refused: permission denied")
        page.locator('#settings input[name="lease"]').fill("5")
        page.locator("#settings-save").click()
        confirm(page, "lease = 5")
        expect(page.locator("#toast")).to_contain_text("refused: permission denied")
        shot(page, "dashboard-refused.png")
        info = ops.info("guarded")
        assert info["paused"] is False and info["size"] == 1 and info["lease"] is None
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        page.context.close()


def test_render_time_with_1000_queues(browser: Browser, tmp_path: Path) -> None:
    """1,000 queues: the page lists them all and keeps polling. Its render times (first
    render since navigation, one poll's update, and reading the server's history of every
    queue's depth for the sparklines) are printed and saved as an artifact; figures, not
    assertions."""
    with running(tmp_path / "many", {"storage": {"type": "memory"}}) as many:
        with Api(many.url) as api:
            names = [api.new_queue() for _ in range(1000)]
            for name in names[:50]:
                api.put(name, "v")
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            started = time.perf_counter()
            page.goto(f"{many.url}/ui")
            expect(page.locator("#queues tbody tr")).to_have_count(1000, timeout=60000)
            shown = time.perf_counter() - started
            first = page.locator("body").get_attribute("data-first-render-ms")
            page.wait_for_function("document.body.dataset.firstPaintMs !== undefined")
            painted = page.locator("body").get_attribute("data-first-paint-ms")
            updates, painted_updates = [], []
            for _ in range(5):  # five polls' updates: their median
                updated = page.locator("body").get_attribute("data-updated")
                page.wait_for_function(
                    f"document.body.dataset.updated !== '{updated}'", timeout=30000
                )
                time.sleep(0.5)  # its frame painted
                updates.append(float(page.locator("body").get_attribute("data-render-ms") or 0))
                painted_updates.append(
                    float(page.locator("body").get_attribute("data-paint-ms") or 0)
                )
            page.wait_for_function("document.body.dataset.seededMs !== undefined")
            seeded = page.locator("body").get_attribute("data-seeded-ms")
            fetched = page.locator("body").get_attribute("data-seed-fetch-ms")
            figures = {
                "queues": 1000,
                "first_render_ms_since_navigation": float(first or 0),
                "first_paint_ms_since_navigation": float(painted or 0),
                "poll_update_ms_median": statistics.median(updates),
                "poll_update_painted_ms_median": statistics.median(painted_updates),
                "history_seed_and_render_ms": float(seeded or 0),
                "history_seed_fetch_ms": float(fetched or 0),
                "table_shown_s": round(shown, 3),
            }
            print(f"dashboard with 1,000 queues: {figures}")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / "dashboard-1000-queues.json").write_text(json.dumps(figures))
            shot(page, "dashboard-1000-queues.png", full_page=False)
        finally:
            context.close()
