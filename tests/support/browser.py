"""The pages' test harness: the simulator and the daemon in a thread of their own, and a real
headless Chromium driven by selenium from the test.

Selenium's calls block, so the center cannot share the test's event loop: :class:`LiveCenter`
runs the simulator (in real time, scripted by the test) and the whole daemon on their own loop in
a background thread; the test drives the simulated center through :meth:`LiveCenter.run`.

Chromium is Debian's (``chromium`` and ``chromium-driver``, installed by ``scripts/test``);
selenium is pointed at ``/usr/bin/chromedriver`` because Selenium Manager would try to download a
driver. Every page a test visits is saved as a PNG into a temporary folder (``ACD_TEST_ARTIFACTS``
or a fresh one under the system's temp directory; never the work tree), named in the test report.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest

from acd.daemon import Daemon
from acd.settings import Settings
from acd.sim import SimConfig, Simulator
from tests.support.credentials import random_secret
from tests.support.waiting import until

T = TypeVar("T")

CHROMIUM = os.environ.get("ACD_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ACD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
_ARTIFACTS: list[Path] = []


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            return f"{path} missing: install Debian's {package} (./scripts/test does, as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def needs_browser() -> pytest.MarkDecorator:
    missing = browser_missing()
    return pytest.mark.skipif(missing is not None, reason=f"browser tests skipped: {missing}")


def artifacts_dir() -> Path:
    """One folder per test session for screenshots, outside the work tree."""
    if not _ARTIFACTS:
        base = os.environ.get("ACD_TEST_ARTIFACTS")
        folder = Path(base) if base else Path(tempfile.mkdtemp(prefix="acd-pages-"))
        folder.mkdir(parents=True, exist_ok=True)
        _ARTIFACTS.append(folder)
    return _ARTIFACTS[0]


def artifacts_made() -> Path | None:
    return _ARTIFACTS[0] if _ARTIFACTS else None


_MEASURED: list[str] = []


def measured(line: str) -> None:
    """A figure a browser test measured: printed in the test report's summary and kept beside the
    screenshots (``measured.txt``)."""
    _MEASURED.append(line)
    with (artifacts_dir() / "measured.txt").open("a") as fh:
        fh.write(line + "\n")


def measurements() -> list[str]:
    return list(_MEASURED)


class Browser:
    """A headless Chromium kept off the network, with a screenshot of every page it visits."""

    def __init__(self, base_url: str, test_name: str, *, width: int = 1366, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.base_url = base_url.rstrip("/")
        self.profile = tempfile.mkdtemp(prefix="acd-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless",
            "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--metrics-recording-only",
            f"--user-data-dir={self.profile}",
            f"--window-size={width},{height}",
        ):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        # the page's own size (a window's would include the browser's frame)
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.folder = artifacts_dir() / test_name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shots: list[Path] = []

    def open(self, path: str, name: str | None = None) -> None:
        self.driver.get(self.base_url + path)
        self.shot(name or path.strip("/").replace("/", "_") or "index")

    def shot(self, name: str) -> Path:
        target = self.folder / f"{len(self.shots) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(target))
        self.shots.append(target)
        return target

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    def text(self, css: str = "body") -> str:
        from selenium.webdriver.common.by import By

        return "\n".join(e.text for e in self.driver.find_elements(By.CSS_SELECTOR, css))

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def wait_for(self, check: Callable[[], bool], timeout: float = 20.0, what: str = "the page") -> float:
        """Poll ``check`` until it holds; returns the seconds it took (fails after ``timeout``)."""
        start = time.monotonic()
        while True:
            try:
                if check():
                    return time.monotonic() - start
            except Exception:  # the page is being replaced under us: look again
                pass
            if time.monotonic() - start > timeout:
                self.shot("timeout")
                trace = self.driver.execute_script(
                    "var d = document.getElementById('desk'); return d ? d.getAttribute('data-trace') : null;"
                )
                raise AssertionError(
                    (f"desk trace: {trace}\n" if trace else "")
                    + f"{what} did not happen within {timeout:g}s; page says:\n{self.text()[:2000]}"
                )
            time.sleep(0.05)

    def wait_text(self, text: str, css: str = "body", timeout: float = 20.0) -> float:
        return self.wait_for(lambda: text in self.text(css), timeout, what=f"{text!r} on the page")

    def sign_in(self, token: str, path: str = "/") -> None:
        self.open(path, "login")
        self.find("#token").send_keys(token)
        self.find("form[action='/login'] button").click()
        self.wait_for(lambda: not self.path.startswith("/login"), what="signing in")
        self.shot(self.path.strip("/").split("?")[0].replace("/", "_") or "index")

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


class LiveCenter:
    """The simulator (real time, scripted) and the daemon on their own event loop and thread."""

    def __init__(
        self,
        tmp_path: Path,
        tokens: list[dict[str, str]],
        *,
        routed: bool = False,
        more_queues: str = "",
        **settings: Any,
    ) -> None:
        """``routed``: callers placed with ``context="acd-test-in"`` run the shipped ``acd-route``
        dialplan (the bounded lookup, personal queues), so callbacks carry a routing decision;
        ``more_queues``: queues.conf sections beside the shared ``support`` queue."""
        self.tmp_path = tmp_path
        self.routed = routed
        self.lookup_port = 0
        self.more_queues = more_queues
        self.tokens = tokens
        self.extra = settings
        self.user = "acd-pages"
        self.secret = random_secret()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="live-center", daemon=True)
        self.sim: Simulator | None = None
        self.daemon: Daemon | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the center's loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a plain function (the simulator's scenario API) on the center's loop."""

        async def wrapped() -> T:
            return fn(*args, **kwargs)

        return self.run(wrapped())

    def start(self) -> None:
        self.thread.start()
        self.run(self._start(), timeout=60)

    async def _start(self) -> None:
        plan: dict[str, Any] = {}
        if self.routed:
            from tests.test_affinity_e2e import DEPLOY, INBOUND, SHARED_QUEUES, free_port, shipped_dialplan

            self.lookup_port = free_port()
            (self.tmp_path / "extensions.conf").write_text(INBOUND + shipped_dialplan(self.lookup_port))
            queues = SHARED_QUEUES + self.more_queues + (DEPLOY / "queues-acd.conf").read_text()
            (self.tmp_path / "queues.conf").write_text(queues)
            plan = {
                "dialplan": self.tmp_path / "extensions.conf",
                "queues_conf": self.tmp_path / "queues.conf",
            }
        self.sim = Simulator(
            SimConfig(
                port=0,
                speed=1.0,
                traffic=False,
                seed=3,
                username=self.user,
                secret=self.secret,
                truth=self.tmp_path / "truth.jsonl",
                queue_log=self.tmp_path / "queue_log",
                **plan,
            )
        )
        _host, port = await self.sim.start()
        self.daemon = Daemon(self.settings(port))
        await self.daemon.start()
        daemon = self.daemon
        # Until the start's gap is filled from queue_log too: the daemon logs from this thread, and
        # a line logged after the fixture's setup ends and before the test begins is printed
        # outside any test.
        await until(
            lambda: (
                daemon.stats.resyncs >= 1
                and daemon.ami.connected
                and (daemon.core.gapfill is None or not daemon.core.gapfill.pending)
            ),
            20.0,
            what="the daemon connecting to the simulator and reading its queue_log",
        )

    def settings(self, ami_port: int) -> Settings:
        return Settings(
            ami={
                "host": "127.0.0.1",
                "port": ami_port,
                "username": self.user,
                "secret": self.secret,  # type: ignore[arg-type]
                "reconnect_min": 0.1,
                "reconnect_max": 0.5,
            },
            database={
                "url": f"sqlite+aiosqlite:///{self.tmp_path / 'acd.db'}",  # type: ignore[arg-type]
                "spool_dir": str(self.tmp_path / "spool"),
            },
            http={"host": "127.0.0.1", "port": 0},  # type: ignore[arg-type]
            routing={"host": "127.0.0.1", "port": self.lookup_port},  # type: ignore[arg-type]
            queue_log={"path": str(self.tmp_path / "queue_log")},  # the simulator's, not the machine's
            api_tokens=self.tokens,  # type: ignore[arg-type]
            time_zone="Europe/Berlin",
            **self.extra,
        )

    @property
    def base_url(self) -> str:
        assert self.daemon is not None
        return f"http://127.0.0.1:{self.daemon.http_port}"

    def stop_simulator(self) -> None:
        assert self.sim is not None
        self.run(self.sim.stop())

    def stop(self) -> None:
        """Stop the daemon, then the simulator, then the loop. Safe to call again."""
        if self.loop.is_closed():
            return

        async def _stop() -> None:
            if self.daemon is not None:
                await self.daemon.stop()
            if self.sim is not None:
                await self.sim.stop()

        try:
            self.run(_stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def new_token() -> str:
    return random_secret()
