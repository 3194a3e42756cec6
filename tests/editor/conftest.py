"""A real headless browser for the HTML pages: Debian's chromium, driven by Playwright
(scripts/bootstrap.sh installs both; Playwright's own browser downloads are never used).
One browser for the whole session; each test gets a fresh page."""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from tests.conftest import stop_process

CHROMIUM = os.environ.get("REGATE_CHROMIUM", "/usr/bin/chromium")
# Headless as root on a machine without outside network: no sandbox, no GPU, and none of
# the background connections Chromium makes on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no chromium at {CHROMIUM}: run scripts/bootstrap.sh (or set REGATE_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000
        )
        yield launched
        launched.close()


class Visit:
    """A page and every request it made."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        self.requests.append(request.url)


@pytest.fixture
def visit(browser: Browser) -> Iterator[Visit]:
    """A fresh page without JavaScript, as a report must read."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1200, "height": 900}
    )
    context.set_default_timeout(15_000)
    yield Visit(context.new_page())
    context.close()


@pytest.fixture
def scripted(browser: Browser) -> Iterator[Visit]:
    """A fresh page with JavaScript, for the playground."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(15_000)
    yield Visit(context.new_page())
    context.close()


class Served:
    """`regate playground` run as a user runs it, on a free port; stopped by the test."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            ["regate", "playground", "--port", "0", *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        line = ""
        while "http://" not in line:
            # Wait for a line only as long as the deadline allows: a server that neither
            # prints nor exits must not hang the test run.
            ready, _, _ = select.select([self.process.stderr], [], [], 1)
            line = self.process.stderr.readline() if ready else ""
            started = self.process.poll() is None
            if (ready and not line and not started) or time.monotonic() > deadline:
                stop_process(self.process)  # type: ignore[arg-type]
                raise RuntimeError(f"regate playground did not start: {line}")
        self.url = line.split()[-1]

    def stop(self) -> None:
        stop_process(self.process)  # type: ignore[arg-type]


@pytest.fixture
def playground() -> Iterator[type[Served]]:
    started: list[Served] = []

    class Started(Served):
        def __init__(self, *arguments: str) -> None:
            super().__init__(*arguments)
            started.append(self)

    yield Started
    for server in started:
        server.stop()
