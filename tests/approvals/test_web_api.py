"""The approval API over real HTTP: who may list and decide, and what each refusal answers."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import pytest

from mcp_gate.approvals import Approval
from mcp_gate.identity import TokenTable

from approvals_kit import approval_site

pytestmark = pytest.mark.anyio


async def test_list_puts_pending_first_and_filters_by_state_tool_and_principal(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        export = site.open(session="s1")
        decided = site.open(tool="delete_note", session="s2")
        other = site.open(tool="export_labs", requester="dr.lee@example.com", session="s3")
        await site.broker.decide(decided.id, "alice@example.com", "approve", via="api")

        listed = (await http.get("/approvals", headers=site.bearer("bob@example.com"))).json()["approvals"]
        assert [a["id"] for a in listed][-1] == decided.id
        assert {a["id"] for a in listed[:2]} == {export.id, other.id}
        assert listed[0]["url"] == f"http://gateway.example/approvals/{listed[0]['id']}"

        async def ids(**query: str) -> list[str]:
            answer = await http.get("/approvals", params=query, headers=site.bearer("bob@example.com"))
            return [a["id"] for a in answer.json()["approvals"]]

        assert await ids(state="approved") == [decided.id]
        assert sorted(await ids(tool="export_*")) == sorted([export.id, other.id])
        assert await ids(principal="dr.lee@example.com") == [other.id]
        assert await ids(state="pending", tool="delete_*") == []
        bad = await http.get("/approvals", params={"state": "maybe"}, headers=site.bearer("bob@example.com"))
        assert bad.status_code == 400 and "state must be one of" in bad.json()["error"]


async def test_an_approval_through_the_api_releases_the_waiting_call(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open(arguments={"mrns": ["[MRN_4f1c2a]"]})
        shown = await http.get(f"/approvals/{approval.id}", headers=site.bearer("alice@example.com"))
        assert shown.status_code == 200 and shown.json()["arguments"] == {"mrns": ["[MRN_4f1c2a]"]}
        assert shown.headers["cache-control"] == "no-store"

        released: list[Approval] = []
        async with anyio.create_task_group() as tg:

            async def held_call() -> None:
                released.append(await site.broker.wait(approval, timeout=30))

            tg.start_soon(held_call)
            answer = await http.post(
                f"/approvals/{approval.id}/approve",
                json={"reason": "registry is due"},
                headers=site.bearer("alice@example.com"),
            )
        assert answer.status_code == 200
        assert answer.json()["state"] == "approved" and answer.json()["decided_by"] == ["alice@example.com"]
        assert released[0].state == "approved"
        recorded = [e for e in site.audit("approval.decided") if e.get("outcome") == "recorded"]
        assert recorded[0]["channel"] == "api" and recorded[0]["approver"] == "alice@example.com"


async def test_a_denial_needs_a_reason(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open()
        url, headers = f"/approvals/{approval.id}/deny", site.bearer("bob@example.com")
        for body in ({}, {"reason": "   "}):
            answer = await http.post(url, json=body, headers=headers)
            assert answer.status_code == 400 and answer.json()["error"] == "a denial needs a reason"
        assert approval.pending
        answer = await http.post(url, json={"reason": "not during the audit freeze"}, headers=headers)
        assert answer.status_code == 200
        assert answer.json()["state"] == "denied" and answer.json()["outcome_reason"] == "not during the audit freeze"


async def test_no_token_a_wrong_token_or_the_agents_token_is_401_and_audited(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open()
        assert TokenTable(site.identity.tokens).principal_for(site.agent_token) == "agent@example.com"
        for headers in ({}, {"Authorization": f"Bearer {site.agent_token}"}):
            answer = await http.post(f"/approvals/{approval.id}/approve", json={}, headers=headers)
            assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer")
            listing = await http.get("/approvals", headers=headers)
            assert listing.status_code == 401 and "approvals" not in listing.json()
        forged = await http.post(f"/approvals/{approval.id}/approve", headers={"Authorization": "Bearer mgt_guess"})
        assert forged.status_code == 401
        assert approval.pending and approval.votes == []
        rejected = site.audit("callback.rejected")
        assert [r["reason"] for r in rejected] == ["no token", "unknown token", "unknown token"]
        assert {r["approval_id"] for r in rejected} == {approval.id} and {r["channel"] for r in rejected} == {"api"}
        assert site.agent_token not in site.audit_path.read_text()


async def test_refusals_by_the_broker_are_403_with_its_reason(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        own = site.open(requester="dr.lee@example.com", approvers=None, separate_requester=True)
        answer = await http.post(f"/approvals/{own.id}/approve", json={}, headers=site.bearer("dr.lee@example.com"))
        assert answer.status_code == 403 and answer.json()["error"] == "the requester may not approve their own call"

        not_listed = site.open(approvers=["alice@example.com"], session="s2")
        answer = await http.post(
            f"/approvals/{not_listed.id}/deny", json={"reason": "no"}, headers=site.bearer("bob@example.com")
        )
        assert (
            answer.status_code == 403 and answer.json()["error"] == "bob@example.com is not an approver for this rule"
        )

        answer = await http.post(
            f"/approvals/{not_listed.id}/approve", json={"grant": "session"}, headers=site.bearer("alice@example.com")
        )
        assert answer.status_code == 403 and "allows granting once, not session" in answer.json()["error"]
        assert own.pending and not_listed.pending


async def test_a_decided_approval_is_409_and_an_unknown_one_404(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open()
        first = await http.post(f"/approvals/{approval.id}/approve", headers=site.bearer("alice@example.com"))
        assert first.status_code == 200
        late = await http.post(
            f"/approvals/{approval.id}/deny", json={"reason": "too late"}, headers=site.bearer("bob@example.com")
        )
        assert late.status_code == 409 and late.json()["error"] == "already decided (approved)"
        assert approval.state == "approved"

        missing = await http.post("/approvals/apr_nope/approve", headers=site.bearer("alice@example.com"))
        assert missing.status_code == 404 and "apr_nope" in missing.json()["error"]
        shown = await http.get("/approvals/apr_nope", headers=site.bearer("alice@example.com"))
        assert shown.status_code == 404


async def test_malformed_decisions_are_400_and_change_nothing(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open()
        url, headers = f"/approvals/{approval.id}/approve", site.bearer("alice@example.com")
        assert (await http.post(url, content=b"approve!", headers=headers)).status_code == 400
        wrong = await http.post(url, json={"grant": "forever"}, headers=headers)
        assert wrong.status_code == 400 and "grant must be one of" in wrong.json()["error"]
        typo = await http.post(url, json={"reson": "x"}, headers=headers)
        assert typo.status_code == 400 and "reson" in typo.json()["error"]
        huge = await http.post(url, json={"reason": "x" * 20_000}, headers=headers)
        assert huge.status_code == 413
        assert approval.pending and approval.votes == []
