"""Browser tests: Debian's chromium driven by Playwright at a phone's size, against a live server.

Each test gets a fresh live-server database (transactional, with the migrations' data restored
afterwards), phones that are logged in through the real login form, and a `shots` helper that
saves a screenshot of every step to test-artifacts/screenshots/<test name>/NN-step.png. The
folder is printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from it
# unless told that this is a plain synchronous test (the live server has its own thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_ROOT = PROJECT_ROOT / "test-artifacts" / "screenshots"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
# Where the mocked phone stands: about 25 m from the world's inspection point A.
PHONE_POSITION = {"latitude": 43.6502, "longitude": 122.2501, "accuracy": 12}

_written_folders: list[Path] = []


def pytest_terminal_summary(terminalreporter) -> None:
    if _written_folders:
        terminalreporter.write_sep("-", "browser screenshots")
        terminalreporter.write_line(f"Screenshots of every step are in {SCREENSHOT_ROOT}")
        for folder in _written_folders:
            count = len(list(folder.glob("*.png")))
            terminalreporter.write_line(f"  {folder}  ({count} screenshots)")


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: apt-get install chromium (./dev test does it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Screenshots:
    """Numbered screenshots of one test's steps."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def take(self, page, step: str) -> Path:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{slug}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(request) -> Screenshots:
    folder = SCREENSHOT_ROOT / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _written_folders.append(folder)
    return Screenshots(folder)


class Phones:
    """Opens a phone (a browser context) per person, logged in through the login form.

    Every page's console errors and uncaught exceptions are collected: a CSP violation or a
    script error fails the test.
    """

    def __init__(self, browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list = []
        self.problems: list[str] = []

    def open(
        self,
        username: str | None = None,
        *,
        locale: str = "zh-CN",
        javascript: bool = True,
        location_allowed: bool = True,
    ):
        context = self.browser.new_context(
            **PHONE,
            base_url=self.base_url,
            locale=locale,
            java_script_enabled=javascript,
            geolocation=PHONE_POSITION if location_allowed else None,
            permissions=["geolocation"] if location_allowed else [],
        )
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on(
            "pageerror", lambda error: self.problems.append(f"{page.url}: {error} {error.stack}")
        )
        if username:
            page.goto("/accounts/login/")
            page.fill("#id_username", username)
            page.fill("#id_password", "password")
            page.click("main button[type=submit]")
            page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    def _console(self, page, message) -> None:
        if message.type != "error":
            return
        # The browser asks for /favicon.ico on its own; that is not the page's doing.
        if "favicon" in (message.location or {}).get("url", ""):
            return
        self.problems.append(f"{page.url}: console error: {message.text}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def phones(browser, live_server) -> Iterator[Phones]:
    phones = Phones(browser, live_server.url)
    yield phones
    phones.close()
    assert phones.problems == [], "\n".join(phones.problems)


@pytest.fixture
def browser_world(transactional_db, django_db_serialized_rollback, settings, tmp_path):
    """The personas, with a category that has quick phrases; photos stored per test."""
    from tests.factories import build_world

    settings.MEDIA_ROOT = str(tmp_path / "media")
    world = build_world()
    world.category.quick_phrases = "桶边散落垃圾\n需要清运"
    world.category.save(update_fields=["quick_phrases"])
    world.point_a.latitude = Decimal("43.650000")
    world.point_a.longitude = Decimal("122.250000")
    world.point_a.save(update_fields=["latitude", "longitude"])
    return world
