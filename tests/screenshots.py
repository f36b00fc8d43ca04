"""Make the README's screenshots of the pages in the real headless Chromium (``scripts/screenshots``).

A small center on the simulator, with a morning of calls written into its database first (so the
day's figures are not empty), then live callers, reps talking and a rep on a break, as a screen on
the floor would show them. The PNG files go to ``docs/pages/`` (or the folder given).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from acd.core.effects import CallFinished, OutcomeReported
from acd.sim import members
from acd.store.migrate import prepare_database
from acd.store.upsert import RowUpserter
from tests.store_records import record
from tests.support.browser import Browser, LiveCenter, browser_missing, new_token
from tests.support.demo import read_banner, start_demo

REPS = [("1001", "Alice Martin"), ("1002", "Bob Keller"), ("1003", "Chen Wei"), ("1004", "Dana Ruiz")]
SALES = """
[sales]
strategy = rrmemory
timeout = 15
retry = 1
ringinuse = no
weight = 0
"""
NOTES = [
    "changed DSL-only to phone+DSL, order written",
    "router replaced, line tested with customer",
    "billing question answered, refund of 12.40 booked",
    "",
    "ok",
    "moved appointment to Thursday 10:00",
]


async def seed_morning(center: LiveCenter, now: float) -> None:
    """Calls since 07:00 today in both queues: answered, some abandoned, a few cut off and called
    back, outcomes with and without notes."""
    settings = center.settings(1)
    engine = await prepare_database(settings)
    store = RowUpserter(engine, settings.server_id, settings.credit_policy)
    rng = random.Random(7)
    effects: list[Any] = []
    start = now - 3 * 3600
    n = 0
    for minute in range(0, 3 * 60 - 10, 2):
        for queue in ("support", "sales"):
            if rng.random() < 0.35:
                continue
            n += 1
            uid = f"{start + minute * 60:.0f}.{n}"
            exten, name = rng.choice(REPS)
            agent = f"Local/{exten}@agents"
            abandoned = rng.random() < 0.08
            cut = not abandoned and rng.random() < 0.06
            wait = min(rng.expovariate(1 / 9), 90.0)
            rec = record(
                uid,
                queue=queue,
                joined_at=start + minute * 60,
                wait_seconds=wait,
                talk_seconds=rng.uniform(60, 400),
                outcome="abandoned" if abandoned else "answered",
                agent=None if abandoned else agent,
                agent_name=None if abandoned else name,
                caller_num=f"49151{rng.randrange(10**6, 10**7)}",
                caller_key=f"tel:49151{rng.randrange(10**6, 10**7)}",
                cut_off=cut,
                cut_off_reasons=("caller_cause_38",) if cut else (),
                ended_by="caller",
            )
            effects.append(CallFinished(rec))
            if not abandoned:
                effects.append(
                    OutcomeReported(
                        uid, uid, agent, rng.choice(["resolved", "sale", "follow_up"]), True,
                        rng.choice(NOTES) or None, None, rec.ended_at + 30,
                    )
                )  # fmt: skip
    await store.write(effects)
    await engine.dispose()


def _phase(browser: Browser) -> str:
    return str(browser.find("#current [data-phase]").get_attribute("data-phase"))


def desk_and_pop(center: LiveCenter, out: Path, alice_token: str, bob_token: str) -> list[Path]:
    """Alice's call is cut off mid-order; she writes her notes and goes on a break; the customer
    calls back and reaches Bob, whose desk pops the earlier call while he talks."""
    from selenium.webdriver.support.select import Select

    sim = center.sim
    assert sim is not None
    customer = "4915112345"
    alice = Browser(center.base_url, "screenshots-alice")
    bob = Browser(center.base_url, "screenshots-bob")
    pop = Browser(center.base_url, "screenshots-pop", width=480, height=820)
    try:
        alice.sign_in(alice_token)
        alice.wait_text("Alice")
        center.call(members.pause, sim.pbx, "Local/1002@agents", True, "training")
        time.sleep(1)
        center.call(
            sim.place_call,
            customer,
            "support",
            talk=5.0,
            ending="caller_cut",
            cause=38,
            context="acd-test-in",
        )
        alice.wait_text(customer, "#current", timeout=20)
        alice.wait_for(lambda: _phase(alice) == "ended", 30, what="the cut-off")
        Select(alice.find("#current select[name=disposition]")).select_by_value("follow_up")
        alice.find("#current textarea[name=notes]").send_keys(
            "Changing DSL-only to phone+DSL. Order half written: phone number port from the old "
            "provider still to confirm, router swap agreed for Thursday."
        )
        alice.find("#current input[name=order_status][value=open]").click()
        alice.find("#current input[name=order_ref]").send_keys("DSL-4471")
        alice.find("#current input[name=order_left]").send_keys("confirm the port; router swap Thursday")
        alice.find("#current form.outcome button").click()
        alice.wait_text("Outcome saved")
        center.call(members.pause, sim.pbx, "Local/1001@agents", True, "break")
        center.call(members.pause, sim.pbx, "Local/1002@agents", False)
        bob.sign_in(bob_token)
        bob.wait_text("Bob")
        center.call(sim.place_call, customer, "support", talk=120.0, context="acd-test-in")
        bob.wait_text("Order half written", "#current", timeout=20)
        bob.wait_for(lambda: _phase(bob) == "connected", 20, what="Bob answering")
        bob.find("#current textarea[name=notes]").send_keys("Customer confirms the number port; ")
        time.sleep(1)
        desk = out / "desk.png"
        bob.driver.save_screenshot(str(desk))
        pop.sign_in(bob_token)
        panel = bob.find("#current [data-call]").get_attribute("data-entry")
        pop.open(f"/pop/{panel}", "pop")
        target = out / "pop.png"
        pop.driver.save_screenshot(str(target))
        return [desk, target]
    finally:
        for browser in (alice, bob, pop):
            browser.close()


def demo_wallboard(out: Path, seconds: float = 40.0) -> list[Path]:
    """The wallboard while ``acd demo`` runs (README "Try it"): the demo started as a user starts
    it, its wallboard token from its banner. Its output goes to stderr, for the README's excerpt."""
    import signal

    out.mkdir(parents=True, exist_ok=True)

    async def run() -> list[Path]:
        with tempfile.TemporaryDirectory(prefix="acd-screenshots-demo-") as tmp:
            proc = await start_demo(Path(tmp))
            assert proc.stdout is not None
            try:
                banner = await read_banner(proc.stdout, time.monotonic() + 120)
                lines = list(banner.lines)
                until = time.monotonic() + seconds
                while time.monotonic() < until:
                    with contextlib.suppress(TimeoutError):
                        raw = await asyncio.wait_for(proc.stdout.readline(), until - time.monotonic())
                        lines.append(raw.decode().rstrip("\n"))
                board = Browser(banner.base, "screenshots-demo", width=1920, height=1080)
                try:
                    board.sign_in(banner.tokens["wallboard"], "/wallboard")
                    board.wait_text("support", "table.board")
                    time.sleep(2)
                    target = out / "demo-wallboard.png"
                    board.driver.save_screenshot(str(target))
                finally:
                    board.close()
                proc.send_signal(signal.SIGINT)
                rest, _ = await asyncio.wait_for(proc.communicate(), 60)
                lines += rest.decode().splitlines()
                # what the README's excerpt is taken from (the tokens are this run's, gone now)
                sys.stderr.write("\n".join(lines) + "\n")
                return [target]
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

    return asyncio.run(run())


def make(out: Path) -> list[Path]:
    missing = browser_missing()
    if missing:
        raise SystemExit(f"cannot make screenshots: {missing}")
    out.mkdir(parents=True, exist_ok=True)
    wall, alice, bob = new_token(), new_token(), new_token()
    tokens = [
        {"token": wall, "role": "wallboard"},
        {"token": alice, "role": "agent", "agent": "Local/1001@agents"},
        {"token": bob, "role": "agent", "agent": "Local/1002@agents"},
    ]
    with tempfile.TemporaryDirectory(prefix="acd-screenshots-") as tmp:
        center = LiveCenter(Path(tmp), tokens, routed=True, more_queues=SALES)
        asyncio.run(seed_morning(center, time.time()))
        center.start()
        made: list[Path] = []
        try:
            sim = center.sim
            assert sim is not None
            for queue, reps in (("support", REPS[:2]), ("sales", REPS[2:])):
                for exten, name in reps:
                    center.call(sim.add_agent, queue, exten, name.split()[0], answer_after=0.5)
            center.call(members.pause, sim.pbx, "Local/1004@agents", True, "lunch")
            made += desk_and_pop(center, out, alice, bob)
            for i in range(3):
                center.call(sim.place_call, f"4930555{i:04d}", "support", talk=600)
            for i in range(4):
                center.call(sim.place_call, f"4940555{i:04d}", "sales", talk=600)
            time.sleep(4)
            board = Browser(center.base_url, "screenshots", width=1920, height=1080)
            try:
                board.sign_in(wall, "/wallboard")
                board.wait_text("support", "table.board")
                time.sleep(2)
                target = out / "wallboard.png"
                board.driver.save_screenshot(str(target))
                made.append(target)
            finally:
                board.close()
        finally:
            center.stop()
    made += demo_wallboard(out)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="docs/pages", type=Path)
    parser.add_argument("--demo-only", action="store_true", help="only the wallboard during acd demo")
    args = parser.parse_args(argv)
    made = demo_wallboard(args.out) if args.demo_only else make(args.out)
    for path in made:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
