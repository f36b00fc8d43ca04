"""The supervisor's pages over HTTP (no browser): /agents with its outliers, sorting and CSV."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from acd.core.effects import AgentOffer, CallFinished, OutcomeReported
from acd.store.upsert import RowUpserter
from tests.store_records import record
from tests.support.pages import pages_app, sign_in

SUPER, AGENT = "super-token-aa11", "agent-token-bb22"
TOKENS = [
    {"token": SUPER, "role": "supervisor"},
    {"token": AGENT, "role": "agent", "agent": "PJSIP/2001"},
]
NOW = 1_800_000_000.0
TEAM = ["2001", "2002", "2003", "2004", "2005", "2006"]


async def seed_team(engine: Any) -> None:
    """Six reps with ten calls each; 2006 has a cut-off on six of them; 2007 is rung and never answers."""
    effects: list[Any] = []
    n = 0
    for exten in TEAM:
        agent = f"PJSIP/{exten}"
        for i in range(10):
            n += 1
            uid = f"{NOW - 7200 + n * 30:.0f}.{n}"
            cut = exten == "2006" and i < 6
            rec = record(
                uid,
                queue="support",
                joined_at=NOW - 7200 + n * 30,
                agent=agent,
                agent_name=f"Rep {exten}",
                caller_num=f"49301{n:05d}",
                caller_key=f"tel:49301{n:05d}",
                cut_off=cut,
                cut_off_reasons=("caller_cause_38",) if cut else (),
                offers=(
                    AgentOffer("PJSIP/2007", "Rep 2007", NOW - 7200 + n * 30, "no_answer", 15.0),
                    AgentOffer(agent, f"Rep {exten}", NOW - 7200 + n * 30 + 16, "answered", 2.0),
                ),
            )
            effects.append(CallFinished(rec))
            effects.append(
                OutcomeReported(uid, uid, agent, "resolved", True, "fixed the thing for good", None, NOW - 60)
            )
    await RowUpserter(engine, "asterisk", "split").write(effects)


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    async with pages_app(tmp_path, TOKENS, clock=NOW) as made:
        await seed_team(made[2])
        yield made


async def test_agents_page_marks_the_rep_far_from_the_team(app: Any) -> None:
    client, _, _ = app
    await sign_in(client, SUPER)
    html = await (await client.get("/agents?period=today&sort=cut_off_rate")).text()
    rows = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr")[1:]
    assert "Rep 2006" in rows[0], "sorted by cut-off rate, highest first"
    assert 'class="outlier"' in rows[0] and "high" in rows[0]
    assert all('class="outlier"' not in row for row in rows[1:] if "Rep 2007" not in row)
    never = cells(next(row for row in rows if "Rep 2007" in row))
    assert never[:4] == ["Rep 2007", "60", "60", "0"]  # rung 60 times, missed them all, answered none
    ascending = await (await client.get("/agents?period=today&sort=cut_off_rate&dir=asc")).text()
    assert ascending.index("Rep 2006") > ascending.index("Rep 2001")


async def test_agents_csv(app: Any) -> None:
    client, _, _ = app
    await sign_in(client, SUPER)
    response = await client.get("/agents.csv?period=today")
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = {r["agent"]: r for r in csv.DictReader(io.StringIO(await response.text()))}
    assert rows["PJSIP/2006"]["cut_offs"] == "6" and rows["PJSIP/2006"]["outlier"] == "cut_off_rate:high"
    assert rows["PJSIP/2007"]["answered"] == "0" and rows["PJSIP/2007"]["missed"] == "60"
    assert rows["PJSIP/2001"]["outlier"] == ""


async def test_agents_are_for_supervisors(app: Any) -> None:
    client, _, _ = app
    await sign_in(client, AGENT)
    assert (await client.get("/agents", allow_redirects=False)).status == 403
    assert (await client.get("/agents.csv", allow_redirects=False)).status == 403
