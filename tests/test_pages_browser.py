"""The pages in a real headless Chromium against the daemon on the simulator.

Each test signs in as the people it plays (tokens of the agent, supervisor and wallboard roles),
drives the simulated call center, and checks what the pages show, as a rep or a supervisor would
see it. Every page visited is saved as a screenshot (see tests/browser_harness.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_harness import Browser, LiveCenter, needs_browser, new_token

pytestmark = needs_browser()

ALICE = "Local/1001@agents"
BOB = "Local/1002@agents"


class People:
    def __init__(self) -> None:
        self.alice = new_token()
        self.bob = new_token()
        self.boss = new_token()
        self.wall = new_token()

    def tokens(self) -> list[dict[str, str]]:
        return [
            {"token": self.alice, "role": "agent", "agent": ALICE},
            {"token": self.bob, "role": "agent", "agent": BOB},
            {"token": self.boss, "role": "supervisor"},
            {"token": self.wall, "role": "wallboard"},
        ]


@pytest.fixture
def people() -> People:
    return People()


@pytest.fixture
def center(tmp_path: Path, people: People) -> Iterator[LiveCenter]:
    live = LiveCenter(tmp_path, people.tokens())
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def browsers(request: pytest.FixtureRequest, center: LiveCenter) -> Iterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        browser.close()


def open_browser(opened: list[Browser], center: LiveCenter, name: str, **size: int) -> Browser:
    browser = Browser(center.base_url, name, **size)
    opened.append(browser)
    return browser


def test_wallboard_updates_live_and_shows_when_asterisk_is_lost(
    center: LiveCenter, people: People, browsers: list[Browser]
) -> None:
    assert center.sim is not None
    sim = center.sim
    center.call(sim.add_agent, "support", "1001", "Alice", answer_after=None, paused=True, reason="break")
    center.call(sim.add_agent, "support", "1002", "Bob", answer_after=None, paused=True, reason="break")
    board = open_browser(browsers, center, "wallboard", width=1920, height=1080)
    board.sign_in(people.wall, "/wallboard")
    assert board.path == "/wallboard"
    board.wait_text("support", "table.board")
    board.driver.execute_script("window.acdNotReloaded = true;")
    waiting = "[data-f='support.waiting']"
    assert board.find(waiting).text == "0"
    center.call(sim.place_call, "4915112345", "support")
    center.call(sim.place_call, "4915112346", "support")
    took = board.wait_for(lambda: board.find(waiting).text == "2", 5.0, what="two callers shown waiting")
    board.shot("two-waiting")
    assert board.driver.execute_script("return window.acdNotReloaded === true;"), "the page was reloaded"
    assert board.find("[data-f='support.paused']").text == "2"
    assert took < 5.0
    center.stop_simulator()
    board.wait_for(lambda: board.find("#lost").is_displayed(), 10.0, what="the lost-Asterisk banner")
    board.shot("asterisk-lost")
    assert "acd has lost Asterisk since" in board.find("#lost").text
    assert board.find(waiting).text == "-", "no frozen live numbers while Asterisk is lost"
    assert board.driver.execute_script("return window.acdNotReloaded === true;")
