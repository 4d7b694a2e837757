"""A real headless browser for the tests that check what a user sees: Debian's Chromium, driven
through its chromedriver by the W3C WebDriver protocol (plain HTTP and JSON: no client library).

``.ci/run`` installs both packages, and sets ``HAFRAME_CI``: there, a missing browser fails the
test; elsewhere it skips with one line saying what to install.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

# installed before a page's own scripts run: every uncaught error and console.error, kept
COLLECT_ERRORS = """
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('unhandledrejection', e => window.__errors.push(String(e.reason)));
const consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.map(String).join(' ')); consoleError(...args); };
"""


def require_browser() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if missing:
        message = f"no {' or '.join(missing)}: `apt-get install chromium chromium-driver` (Debian)"
        if os.environ.get("HAFRAME_CI"):
            pytest.fail(message)
        pytest.skip(message)


class Browser:
    """One WebDriver session: ``open`` a URL, ``run`` a script, ``wait_for`` a condition."""

    def __init__(self, endpoint: str, session: str):
        self.endpoint, self.session = endpoint, session

    def _call(self, method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(
            f"{self.endpoint}/session/{self.session}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())["value"]

    def open(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def run(self, script: str, *args):
        """The value of ``script`` (a function body: ``return ...``) run in the page."""
        return self._call("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_for(self, script: str, seconds: float = 60.0):
        """Poll ``script`` until it returns a truthy value; that value (AssertionError at the end)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.run(script)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"not true within {seconds:.0f} s: {script}")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self._call("GET", "/screenshot")))
        return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 900) -> Iterator[Browser]:
    """A headless Chromium for the block (skipped or failed first where there is none)."""
    require_browser()
    port = _free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the driver is local
    urllib.request.install_opener(opener)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/status", timeout=5) as response:
                    if json.loads(response.read())["value"]["ready"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "chromedriver did not start"
            time.sleep(0.1)
        arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        capabilities = {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": arguments}}
        request = urllib.request.Request(
            f"{endpoint}/session",
            data=json.dumps({"capabilities": {"alwaysMatch": capabilities}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            session = json.loads(response.read())["value"]["sessionId"]
        page = Browser(endpoint, session)
        page._call("POST", "/window/rect", {"width": width, "height": height})
        # the error collector runs before each document's own scripts (Chrome DevTools Protocol)
        page._call(
            "POST",
            "/goog/cdp/execute",
            {"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": COLLECT_ERRORS}},
        )
        try:
            yield page
        finally:
            with contextlib.suppress(OSError):
                page._call("DELETE", "")
    finally:
        driver.terminate()
        driver.wait(timeout=30)
