"""Browser tests of the pages: Playwright (Python) driving Debian's chromium (never a
downloaded browser) with fake camera and microphone, against real `callgrid serve` processes.

One browser per test process; a test opens a context per participant (each its own fake devices)
and leaves a screenshot of every page it opened in tests/artifacts/ (kept on failure too).
"""

import re
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


# One browser per test process, not per module: launching chromium (and Playwright's driver)
# costs a second or two each time; every test opens contexts of its own in it, which share
# nothing (cookies, storage, devices) with another's.
@pytest.fixture(scope="session")
async def browser():
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Pages:
    """Pages of one test, each in a browser context of its own; screenshots at the end."""

    def __init__(self, browser, test_name: str):
        self.browser = browser
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.opened: list[tuple[str, object, object]] = []
        self.errors: list[str] = []

    async def open(self, label: str, url: str):
        context = await self.browser.new_context(viewport={"width": 1280, "height": 760})
        context.set_default_timeout(20_000)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{label}: {error}"))
        self.opened.append((label, context, page))
        await page.goto(url)
        return page

    async def screenshot(self, page, label: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        await page.screenshot(path=str(path))
        return path

    async def close(self) -> None:
        opened, self.opened = self.opened, []
        try:
            for label, _, page in opened:  # every page as it is, before any of them goes
                if not page.is_closed():
                    await self.screenshot(page, label)
        finally:
            for _, context, _ in opened:
                await context.close()


@pytest.fixture
async def pages(browser, request):
    kept = Pages(browser, request.node.name)
    try:
        yield kept
    finally:
        await kept.close()
    assert not kept.errors, f"uncaught errors in the pages: {kept.errors}"
