"""Browser tests: headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright.

The whole product runs on loopback (the ``stack`` fixture of ``tests/integration``:
HAPI FHIR, the EHR sandbox and the app). One browser is started per test session; each
test gets a fresh browser context (its own cookies) and page.

Every test in this folder is marked ``browser`` (and ``integration``). Each page visited
is kept as a screenshot in ``test-artifacts/screenshots/<test>-<step>.png``; a failing
test also leaves ``<test>-failure.png``.

The browser console is watched: a JavaScript error, an uncaught exception or a
Content-Security-Policy violation fails the test, unless the test declared it expected
with ``page_watch.expect(...)``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

PETER = "mbt-example-peter"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]

#: Playwright's waits (auto-waiting locators, navigations) give up after this long.
ACTION_TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000

#: Console messages that are not problems: the browser asking for a favicon nobody serves.
_HARMLESS = [re.compile(r"Failed to load resource: .*404")]
_HARMLESS_URL = re.compile(r"/favicon\.ico$")
_CSP = re.compile(r"Content Security Policy|Content-Security-Policy", re.I)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class PageWatch:
    """What the page said in its console, and the screenshots taken of it."""

    name: str
    problems: list[str] = field(default_factory=list)
    expected: list[re.Pattern] = field(default_factory=list)
    seen_expected: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        """Declare a console error this test provokes on purpose (a regex)."""
        self.expected.append(re.compile(pattern, re.I))

    def on_console(self, msg) -> None:
        text = msg.text
        url = (msg.location or {}).get("url", "")
        is_csp = bool(_CSP.search(text))
        if msg.type != "error" and not is_csp:
            return
        if any(p.search(text) for p in self.expected):
            self.seen_expected.append(text)
            return
        if _HARMLESS_URL.search(url) and any(p.search(text) for p in _HARMLESS):
            return
        kind = "CSP violation" if is_csp else f"console.{msg.type}"
        self.problems.append(f"{kind}: {text} (at {url or 'unknown'})")

    def on_pageerror(self, error) -> None:
        text = str(error)
        if any(p.search(text) for p in self.expected):
            self.seen_expected.append(text)
            return
        self.problems.append(f"uncaught JavaScript error: {text}")


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver):
    """One headless Debian Chromium for the whole session (fresh profile, loopback only)."""
    instance = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000
    )
    try:
        yield instance
    finally:
        instance.close()


def _test_name(request) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)


@pytest.fixture
def page_watch(request) -> PageWatch:
    name = _test_name(request)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob(f"{name}-*.png"):
        old.unlink()
    return PageWatch(name)


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context, page_watch, request):
    """A new page in a fresh context; its console is watched (see the module docstring)."""
    pg = context.new_page()
    _watch(pg, page_watch)
    context.on("page", lambda popup: _watch(popup, page_watch))
    request.node._browser_page = pg
    request.node._page_watch = page_watch
    yield pg


def _watch(pg, watch: PageWatch) -> None:
    pg.on("console", watch.on_console)
    pg.on("pageerror", watch.on_pageerror)


@contextlib.contextmanager
def watched_page(browser, page_watch: PageWatch, request, **context_options):
    """A page in a fresh context of its own (``context_options``: viewport, is_mobile, ...),
    watched like ``page`` and screenshotted on failure; the context is closed afterwards."""
    ctx = browser.new_context(locale="en-GB", **context_options)
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    pg = ctx.new_page()
    _watch(pg, page_watch)
    request.node._browser_page = pg
    request.node._page_watch = page_watch
    try:
        yield pg
    finally:
        ctx.close()


@pytest.fixture
def shot(page, page_watch):
    """``shot("step")`` saves a full-page screenshot as ``<test>-<NN>-<step>.png``;
    ``shot("step", locator)`` one of that element only."""

    def take(step: str, element=None) -> Path:
        """The whole page, or only ``element`` (a Locator) when given."""
        return take_shot(page, page_watch, step, element)

    return take


def take_shot(page, page_watch: PageWatch, step: str, element=None, *, full_page: bool = True) -> Path:
    """Save ``<test>-<NN>-<step>.png``: the page (whole, or its first screen), or ``element`` only."""
    path = SCREENSHOTS / f"{page_watch.name}-{len(page_watch.shots) + 1:02d}-{step}.png"
    if element is None:
        page.screenshot(path=str(path), full_page=full_page)
    else:
        element.screenshot(path=str(path))
    page_watch.shots.append(path)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    watch: PageWatch | None = getattr(item, "_page_watch", None)
    if watch is not None and watch.problems:
        pytest.fail("the browser reported problems:\n  " + "\n  ".join(watch.problems), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        pg = getattr(item, "_browser_page", None)
        watch = getattr(item, "_page_watch", None)
        if pg is not None and watch is not None and not pg.is_closed():
            try:
                pg.screenshot(path=str(SCREENSHOTS / f"{watch.name}-failure.png"), full_page=True)
            except Exception:  # noqa: BLE001 - a failure screenshot is best effort
                pass
    return report


@pytest.fixture
def launched(page, stack, shot):
    """The app launched from the sandbox for Peter Example and the first practitioner,
    sitting on the dashboard."""
    launch_from_sandbox(page, stack, shot)
    return page


def launch_from_sandbox(page, stack, shot) -> str:
    """Open the sandbox's launch page, pick Peter and a practitioner, Launch; wait for the
    app's dashboard. Returns the practitioner's id."""
    page.goto(stack.launch_page)
    page.locator("#patient").select_option(PETER)
    practitioner = page.locator("#practitioner option").first.get_attribute("value")
    assert practitioner, "the sandbox offers no practitioner to sign in as"
    page.locator("#practitioner").select_option(practitioner)
    shot("sandbox-launch-page")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(f"{stack.app_base}/dashboard**")
    shot("dashboard-after-launch")
    return practitioner
