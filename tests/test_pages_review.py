"""The review pages over HTTP (no browser): one call's page with its chain's credit, and the
supervisor's audited credit adjustment as a form (the same write as the API's)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from acd.store.schema.base import table_of
from acd.store.schema.outcomes import CreditAdjustment
from acd.store.upsert import RowUpserter
from tests.store_records import BASE, finished, with_customer_calls
from tests.support.pages import Client, csrf_in, sign_in

SUPER, ALICE_TOKEN, BOB_TOKEN = "super-token-c0ff", "agent-token-a11c", "agent-token-b0b0"
A, B, C = "PJSIP/1001", "PJSIP/1002", "PJSIP/1003"
TOKENS = [
    {"token": SUPER, "role": "supervisor", "name": "Maria"},
    {"token": ALICE_TOKEN, "role": "agent", "agent": A},
    {"token": BOB_TOKEN, "role": "agent", "agent": B},
]
CUT, CALLBACK = "c1.0", "c2.0"


async def post_json(client: Client, token: str, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status in (200, 201), (response.status, await response.text())
    return await response.json()


@pytest.fixture
async def app(tmp_path: Path) -> Any:
    from tests.support.pages import pages_app

    async with pages_app(tmp_path, TOKENS, clock=BASE + 3600) as made:
        client, _, engine = made
        await RowUpserter(engine, "asterisk", "split").write(
            with_customer_calls([
                # Alice's call is cut off; Bob takes the callback; Carol has another caller.
                finished("c1.1", linkedid=CUT, agent=A, agent_name="Alice", cut_off=True,
                         cut_off_reasons=("caller_cause_38",)),
                finished("c2.1", linkedid=CALLBACK, agent=B, agent_name="Bob", joined_at=BASE + 600,
                         callback_of="c1.1"),
                finished("d1.1", linkedid="d1.0", agent=C, agent_name="Carol", caller_key="5559999",
                         joined_at=BASE + 60),
            ])
        )  # fmt: skip
        await post_json(client, ALICE_TOKEN, f"/api/v1/calls/{CUT}/outcome", {
            "disposition": "follow_up", "notes": "phone+DSL order half written",
            "order": {"ref": "O-1", "status": "open", "left": "porting date"},
        })  # fmt: skip
        await post_json(client, BOB_TOKEN, f"/api/v1/calls/{CALLBACK}/outcome", {
            "disposition": "sale", "points": 40, "notes": "order completed",
            "order": {"ref": "O-1", "status": "closed"},
        })  # fmt: skip
        yield made


async def adjustments_made(engine: Any) -> int:
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(table_of(CreditAdjustment)))).scalar_one()
        )


def form_fields(html: str, sale: str) -> dict[str, Any]:
    """What the browser would send from the sale's adjustment form, as the page fills it."""
    block = html.split(f'<div class="sale" data-sale="{sale}">', 1)[1].split("</form>", 1)[0]
    return {
        "csrf": csrf_in(block),
        "sale": sale,
        "agent": re.findall(r'name="agent" value="([^"]*)"', block),
        "name": re.findall(r'name="name" value="([^"]*)"', block),
        "points": re.findall(r'name="points" inputmode="decimal" size="6" value="([^"]*)"', block),
    }


def as_form(fields: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = [("csrf", fields["csrf"]), ("sale", fields["sale"]), ("reason", fields.get("reason", ""))]
    for agent, name, points in zip(fields["agent"], fields["name"], fields["points"], strict=True):
        pairs += [("agent", agent), ("name", name), ("points", points)]
    return pairs


async def test_the_call_page_shows_the_chain_and_its_credit(app: Any) -> None:
    client, _, _ = app
    await sign_in(client, SUPER)
    page = await client.get(f"/review/call/{CALLBACK}")
    html = await page.text()
    assert page.status == 200
    assert "Sale 1: 40 points" in html and "No adjustments" in html
    fields = form_fields(html, CUT)
    assert fields["agent"] == [A, B] and fields["points"] == ["20", "20"], fields
    assert "gets 50% of the points" in html  # the center's rule, in words


async def test_a_supervisor_adjusts_credit_with_a_reason_and_it_is_audited(app: Any) -> None:
    client, _, engine = app
    await sign_in(client, SUPER)
    fields = form_fields(await (await client.get(f"/review/call/{CALLBACK}")).text(), CUT)

    fields["points"] = ["30", "10"]
    blank = await client.post(f"/review/credit/{CALLBACK}", data=as_form(fields | {"reason": "  "}))
    assert blank.status == 422 and "reason: say why" in await blank.text()
    assert 'value="30"' in await blank.text(), "the typed points are kept"
    assert await adjustments_made(engine) == 0

    bad = await client.post(f"/review/credit/{CALLBACK}", data=as_form(fields | {"points": ["3O", "10"]}))
    assert bad.status == 422 and "points for Alice: a number" in await bad.text()

    done = await client.post(
        f"/review/credit/{CALLBACK}",
        data=as_form(fields | {"reason": "Bob only confirmed the <b>address</b>"}),
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"].startswith(f"/review/call/{CALLBACK}?adjusted=")
    assert await adjustments_made(engine) == 1
    html = await (await client.get(done.headers["Location"])).text()
    audit = html.split('id="audit"', 1)[1]
    assert "Alice 20, Bob 20" in audit and "Alice 30, Bob 10" in audit
    assert "<td>Maria</td>" in audit, "the token's holder is named in the audit trail"
    assert "Bob only confirmed the &lt;b&gt;address&lt;/b&gt;" in audit, "the reason is shown as text"
    assert "adjusted by a supervisor" in html

    # the API reads the same shares
    chain = await client.get(f"/api/v1/calls/{CUT}/chain", headers={"Authorization": f"Bearer {SUPER}"})
    shares = {s["agent"]: s["points"] for s in (await chain.json())["sales"][0]["shares"]}
    assert shares == {A: 30.0, B: 10.0}


async def test_a_rep_outside_the_chain_is_refused_and_nothing_written(app: Any) -> None:
    client, _, engine = app
    await sign_in(client, SUPER)
    fields = form_fields(await (await client.get(f"/review/call/{CALLBACK}")).text(), CUT)
    fields |= {"agent": [A, C], "name": ["Alice", "Carol"], "points": ["20", "20"], "reason": "Carol helped"}
    refused = await client.post(f"/review/credit/{CALLBACK}", data=as_form(fields))
    assert refused.status == 422 and "had no call in this sale&#39;s chain" in await refused.text()
    assert await adjustments_made(engine) == 0


async def test_only_a_supervisor_may_open_or_post_it(app: Any) -> None:
    client, _, engine = app
    await sign_in(client, SUPER)
    fields = form_fields(await (await client.get(f"/review/call/{CALLBACK}")).text(), CUT)
    await client.post("/logout", data={"csrf": fields["csrf"]})
    await sign_in(client, BOB_TOKEN)
    assert (await client.get(f"/review/call/{CALLBACK}")).status == 403
    csrf = csrf_in(await (await client.get("/desk")).text())
    posted = await client.post(
        f"/review/credit/{CALLBACK}",
        data=as_form(fields | {"csrf": csrf, "reason": "mine"}),
        allow_redirects=False,
    )
    assert posted.status == 403 and "Not for this sign-in" in await posted.text()
    assert await adjustments_made(engine) == 0


async def reviews_made(engine: Any) -> list[Any]:
    from acd.store.schema.outcomes import CallReview

    async with engine.connect() as conn:
        return list((await conn.execute(select(table_of(CallReview)))).all())


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-call="([^"]+)"', html)


async def test_mark_reviewed_with_a_comment_takes_the_call_off_the_list(app: Any) -> None:
    client, _, engine = app
    await sign_in(client, SUPER)
    assert "d1.0" in listed(await (await client.get("/review")).text())  # no outcome: no notes
    page = await (await client.get("/review/call/d1.0")).text()
    assert 'data-reason="notes"' in page.split('id="review"', 1)[1].split("</section>", 1)[0]
    csrf = csrf_in(page)

    blank = await client.post("/review/mark/d1.0", data={"csrf": csrf, "comment": "   "})
    assert blank.status == 422 and "comment: say what you found" in await blank.text()
    assert await reviews_made(engine) == []

    done = await client.post(
        "/review/mark/d1.0",
        data={"csrf": csrf, "comment": "Carol forgot the form; <i>talked</i> to her"},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/review?reviewed=d1.0"
    [row] = await reviews_made(engine)
    assert (row.linkedid, row.reviewed_by, row.reasons) == ("d1.0", "Maria", '["notes"]')
    assert row.reviewed_at == BASE + 3600  # the pages' clock

    assert "d1.0" not in listed(await (await client.get("/review")).text()), "reviewed: off the list"
    reviewed = await (await client.get("/review?status=reviewed")).text()
    assert listed(reviewed) == ["d1.0"] and "&lt;i&gt;talked&lt;/i&gt;" in reviewed
    assert "d1.0" in listed(await (await client.get("/review?status=all")).text())
    page = await (await client.get("/review/call/d1.0")).text()
    assert "Carol forgot the form" in page.split('id="review"', 1)[1]

    # the API's review queue reads the same
    api = await client.get("/api/v1/review?status=open&from=0", headers={"Authorization": f"Bearer {SUPER}"})
    assert "d1.0" not in [c["call_id"] for c in (await api.json())["calls"]]
    api = await client.get(
        "/api/v1/review?status=reviewed&from=0", headers={"Authorization": f"Bearer {SUPER}"}
    )
    [item] = (await api.json())["calls"]
    assert item["reviewed"] and item["review"]["comment"].startswith("Carol forgot")


async def test_a_review_for_other_reasons_leaves_the_call_on_the_list(app: Any) -> None:
    """A review covers the reasons the call had then: flagged for something new, it is back."""
    client, _, engine = app
    from acd.store.reviews import mark_reviewed

    async with engine.begin() as conn:
        await mark_reviewed(
            conn, "asterisk", "d1.0", by="supervisor", at=BASE, comment="ok", reasons=["short"]
        )
    await sign_in(client, SUPER)
    html = await (await client.get("/review")).text()
    assert "d1.0" in listed(html)
    assert 'data-reviewed="before"' in html


async def test_an_agent_may_not_mark_a_call_reviewed(app: Any) -> None:
    client, _, engine = app
    await sign_in(client, BOB_TOKEN)
    csrf = csrf_in(await (await client.get("/desk")).text())
    posted = await client.post(
        "/review/mark/d1.0", data={"csrf": csrf, "comment": "fine"}, allow_redirects=False
    )
    assert posted.status == 403
    assert await reviews_made(engine) == []


async def test_retention_erases_review_comments_and_keeps_the_review(app: Any) -> None:
    """A comment may name the customer: the purge that erases the call's notes empties it too."""
    client, _, engine = app
    from acd.store.purge import purge
    from acd.store.reviews import mark_reviewed

    async with engine.begin() as conn:
        await mark_reviewed(
            conn,
            "asterisk",
            "d1.0",
            by="Maria",
            at=BASE,
            comment="customer Jane D. was upset",
            reasons=["notes"],
        )
    await purge(engine, "asterisk", BASE + 86400, BASE + 86400)
    [row] = await reviews_made(engine)
    assert (row.comment, row.reviewed_by, row.reasons) == ("", "Maria", '["notes"]')
    await sign_in(client, SUPER)
    page = await (await client.get("/review/call/d1.0")).text()
    assert "comment erased by retention" in page and "Jane D." not in page


async def test_the_api_marks_a_call_reviewed_the_same_way(app: Any) -> None:
    client, _, engine = app
    sup = {"Authorization": f"Bearer {SUPER}"}
    path = "/api/v1/calls/d1.0/review"
    for body, headers, status, field in [
        ({"comment": "  "}, sup, 422, "comment"),
        ({"comment": 3}, sup, 422, "comment"),
        ({"comment": "x", "extra": 1}, sup, 422, "comment"),
        ({"comment": "fine"}, {"Authorization": f"Bearer {BOB_TOKEN}"}, 403, None),
    ]:
        response = await client.post(path, json=body, headers=headers)
        assert response.status == status, (body, await response.text())
        assert (await response.json()).get("field") == field
    missing = await client.post("/api/v1/calls/nope/review", json={"comment": "x"}, headers=sup)
    assert missing.status == 404
    assert await reviews_made(engine) == []
    done = await client.post(path, json={"comment": "Talked to Carol"}, headers=sup)
    assert done.status == 201
    assert await done.json() == {
        "call_id": "d1.0", "reasons": ["notes"], "by": "Maria", "at": BASE + 3600,
        "comment": "Talked to Carol",
    }  # fmt: skip
    listed_open = await client.get("/api/v1/review?status=open&from=0", headers=sup)
    assert "d1.0" not in [c["call_id"] for c in (await listed_open.json())["calls"]]
