"""A real browser for the web console's tests: Debian's Chromium, driven by Playwright.

One Chromium process serves the whole session (started on first use, headless, from
``$LOCALVISION_CHROMIUM`` or ``/usr/bin/chromium``; never a browser Playwright downloads). Each
test module connects Playwright to it for its own duration only: Playwright's synchronous API
marks an event loop as running on the main thread while it is started, which would break any
later test that calls ``asyncio.run``. Screenshots go to ``$LOCALVISION_SCREENSHOTS`` (or a
temporary folder), printed at the end of the run so CI can keep them.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
START_TIMEOUT_S = 120.0
_SCREENSHOTS: list[Path] = []


def chromium_path() -> str | None:
    """Debian's Chromium (or ``$LOCALVISION_CHROMIUM``), if it is installed."""
    chosen = os.environ.get("LOCALVISION_CHROMIUM") or "/usr/bin/chromium"
    return chosen if Path(chosen).is_file() and os.access(chosen, os.X_OK) else None


@pytest.fixture(scope="session")
def chromium_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The DevTools address of one headless Chromium for the whole session."""
    pytest.importorskip("playwright.sync_api", reason="the console's browser tests need playwright")
    path = chromium_path()
    if path is None:
        pytest.skip(
            "no Chromium at /usr/bin/chromium (apt-get install chromium) or $LOCALVISION_CHROMIUM"
        )
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [path, *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: queue.Queue[str | None] = queue.Queue()

    def read_log() -> None:  # Chromium says where it listens, then keeps logging: read it all
        assert process.stderr is not None
        for line in process.stderr:
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            if found:
                said.put(found[1])
        said.put(None)

    threading.Thread(target=read_log, name="chromium-log", daemon=True).start()
    try:
        endpoint = said.get(timeout=START_TIMEOUT_S)
    except queue.Empty:
        endpoint = None
    if endpoint is None:
        process.kill()
        pytest.fail(f"Chromium at {path} did not start (exit status {process.poll()})")
    try:
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium_endpoint: str) -> Iterator[Any]:
    """Playwright connected to the session's Chromium for one module (a ``Browser``)."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        yield playwright.chromium.connect_over_cdp(chromium_endpoint)
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the console's tests write their screenshots (printed at the end of the run)."""
    chosen = os.environ.get("LOCALVISION_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    _SCREENSHOTS.append(folder)
    return folder


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in _SCREENSHOTS:
        terminalreporter.write_line(f"web console screenshots: {folder}")
