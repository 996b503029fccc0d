"""Approvals end to end through the gateway: a real MCP client, the demo EHR upstream, real channels.

The person deciding is played by the SDK client's elicitation callback (the agent's
own client), by HTTP calls to the approval API, by a Slack user clicking in a local
fake Slack, and by a real headless Chromium on the approval page.  In every path
that is not a clear approval, the upstream never sees the call: checked by
reading the chart back afterwards.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from playwright.async_api import async_playwright, expect

from mcp_gate.approvals.configured import configured_channels
from mcp_gate.approvals.slack import APPROVE
from mcp_gate.audit import AuditLog
from mcp_gate.config import load_config
from mcp_gate.gateway import Gateway
from mcp_gate.http import approvals_app
from mcp_gate.identity import new_token, token_digest

from approvals_kit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from conftest import metric_samples, sample
from channel_kit import Receiver, closed_port_url, listening_socket, serving, serving_one
from fake_slack import FakeSlack, SlackUser

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EHR = {"command": sys.executable, "args": [str(ROOT / "examples" / "ehr_server.py")]}
REQUESTER = "dr.lee@example.com"
APPROVERS = ("alice@example.com", "bob@example.com")
MEDICATION_CHANGE = {"mrn": "MRN-004211", "medication": "insulin glargine", "dose": "10 units nightly", "reason": "A1c 7.9"}
EXPORT = {"mrns": ["MRN-004211"], "format": "csv", "justification": "Monthly diabetes registry upload."}
SLACK_TOKEN = "xoxb-test-bot-token"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def rule(tool: str, **settings: Any) -> dict[str, Any]:
    return {"id": tool, "match": {"tool": tool}, "action": "approve", **settings}


READS = {"id": "reads", "match": {"tool": ["get_*", "search_*"]}, "action": "allow"}


@dataclass
class Site:
    """A running gateway with its approval page and API on a real local port."""

    gateway: Gateway
    url: str
    tokens: dict[str, str]
    http: httpx2.AsyncClient
    audit_path: Path
    prompts: list[str] = field(default_factory=list)

    def client(self, era: str, answer: Callable[[types.ElicitRequestParams], types.ElicitResult] | None = None) -> Client:
        """The agent's client; with ``answer`` it supports elicitation and the person answers so."""
        if answer is None:
            return Client(self.gateway.server, mode=era, cache=None)

        async def elicit(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
            self.prompts.append(params.message)
            return answer(params)

        return Client(self.gateway.server, mode=era, cache=None, elicitation_callback=elicit)

    async def decide(self, approval_id: str, approver: str, verdict: str, **body: Any) -> httpx2.Response:
        return await self.http.post(
            f"{self.url}/approvals/{approval_id}/{verdict}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[approver]}"},
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.audit_path.read_text().splitlines()]
        return [r for r in records if r["event"] == name]

    def pending_id(self) -> str:
        pending = [a for a in self.gateway.broker.store.recent(10) if a.pending]
        assert len(pending) == 1
        return pending[0].id


@asynccontextmanager
async def approving_gateway(
    tmp_path: Path, rules: list[dict[str, Any]], *, approvals: dict[str, Any] | None = None, **top: Any
) -> AsyncIterator[Site]:
    tokens = {name: new_token()[0] for name in (*APPROVERS, REQUESTER)}
    sock, url = listening_socket()
    settings = {
        "hold": "20s",
        "url": url,
        "tokens": [{"approver": name, "sha256": token_digest(token)} for name, token in tokens.items()],
        **(approvals or {}),
    }
    body = {
        "version": 1,
        "identity": {"user": REQUESTER},
        "upstreams": {"ehr": EHR},
        "rules": [READS, *rules],
        "approvals": settings,
        "audit": {"path": "audit.jsonl"},
        **top,
    }
    (tmp_path / "policies.yaml").write_text(json.dumps(body))
    config = load_config(tmp_path / "policies.yaml")
    audit = AuditLog.from_config(config.audit, config.base_dir)
    audit.open()
    try:
        async with httpx2.AsyncClient(timeout=10) as http:
            gateway = Gateway(config, audit, page_url=url, channels=configured_channels(config.approvals, http, base_url=url))
            async with gateway.running(), serving((sock, approvals_app(gateway, url))):
                yield Site(gateway, url, tokens, http, tmp_path / "audit.jsonl")
    finally:
        audit.close()


async def medications(client: Client) -> list[str]:
    chart = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
    assert chart.structured_content is not None
    return [m["name"] for m in chart.structured_content["medications"]]


def form_answer(decision: str, reason: str = "", grant: str | None = None) -> Callable[..., types.ElicitResult]:
    content = {"decision": decision, "reason": reason} | ({"grant": grant} if grant else {})
    return lambda params: types.ElicitResult(action="accept", content=content)


# ---------------------------------------------------------------------- the agent's own client


async def test_the_agents_user_approves_in_their_own_client(tmp_path: Path, era: str) -> None:
    rules = [rule("export_records", reason="Exports leave the EHR.", justification="required")]
    async with approving_gateway(tmp_path, rules) as site, site.client(era, form_answer("approve")) as client:
        unexplained = await client.call_tool("export_records", {"mrns": ["MRN-004211"]})
        assert unexplained.is_error and "`justification`" in text_of(unexplained)
        schema = next(t for t in (await client.list_tools()).tools if t.name == "export_records").input_schema
        assert "justification" in schema["required"]

        exported = await client.call_tool("export_records", EXPORT)
        assert not exported.is_error, text_of(exported)
        assert exported.structured_content is not None and exported.structured_content["count"] == 1
        assert "532-71-4408" not in json.dumps(exported.structured_content)  # the result is masked too

        [prompt] = site.prompts
        assert "export_records" in prompt and "Monthly diabetes registry upload." in prompt
        assert "Exports leave the EHR." in prompt and REQUESTER in prompt
        assert "MRN-004211" not in prompt  # approvers see masked arguments
        approval = site.gateway.broker.store.recent(1)[0]
        assert "justification" not in approval.arguments  # stripped before the upstream and the digest
        assert approval.decided_by == [REQUESTER] and approval.votes[0].via == "client"
        assert [e["outcome"] for e in site.events("approval.decided")] == ["recorded", "final"]
        assert site.events("approval.notified")[0]["channel"] == "client"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (form_answer("deny", "Dose needs a pharmacist's check."), "denied by dr.lee@example.com: Dose needs a pharmacist"),
        (lambda params: types.ElicitResult(action="decline"), "declined in the agent's client"),
        (lambda params: types.ElicitResult(action="cancel"), "was cancelled (the approval prompt was dismissed)"),
    ],
    ids=["deny", "decline", "dismiss"],
)
async def test_anything_but_approve_in_the_client_runs_nothing(
    tmp_path: Path, era: str, answer: Callable[..., types.ElicitResult], expected: str
) -> None:
    async with approving_gateway(tmp_path, [rule("update_medication")]) as site, site.client(era, answer) as client:
        refused = await client.call_tool("update_medication", MEDICATION_CHANGE)
        assert refused.is_error and expected in text_of(refused)
        assert await medications(client) == ["metformin"]


async def test_a_2026_client_cannot_replay_its_approval_answer(tmp_path: Path) -> None:
    async with approving_gateway(tmp_path, [rule("update_medication")]) as site:
        async with site.client("auto", form_answer("approve")) as client:
            asked = await client.session.call_tool("update_medication", MEDICATION_CHANGE, allow_input_required=True)
            assert isinstance(asked, types.InputRequiredResult) and asked.input_requests is not None
            answers = {key: types.ElicitResult(action="accept", content={"decision": "approve"}) for key in asked.input_requests}

            async def resume() -> Any:
                return await client.session.call_tool(
                    "update_medication",
                    MEDICATION_CHANGE,
                    input_responses=answers,
                    request_state=asked.request_state,
                    allow_input_required=True,
                )

            first = await resume()
            assert isinstance(first, types.CallToolResult) and not first.is_error
            with pytest.raises(MCPError, match="already used"):
                await resume()
            assert (await medications(client)).count("insulin glargine") == 1


async def test_a_url_prompt_sends_the_user_to_the_page_where_an_approver_decides(tmp_path: Path, era: str) -> None:
    rules = [rule("update_medication", elicitation="url", approvers=["alice@example.com"])]
    links: list[str] = []
    opened = anyio.Event()

    def open_the_link(params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        links.append(params.url)
        opened.set()
        return types.ElicitResult(action="accept")

    async with approving_gateway(tmp_path, rules) as site, site.client(era, open_the_link) as client:
        results: list[types.CallToolResult] = []
        async with anyio.create_task_group() as tg:

            async def held_call() -> None:
                results.append(await client.call_tool("update_medication", MEDICATION_CHANGE))

            tg.start_soon(held_call)
            with anyio.fail_after(15):
                await opened.wait()
            [link] = links
            assert link.startswith(f"{site.url}/approvals/apr_")
            approved = await site.decide(link.rsplit("/", 1)[1], "alice@example.com", "approve")
            assert approved.status_code == 200, approved.text
        assert not results[0].is_error, text_of(results[0])
        assert "insulin glargine" in await medications(client)


# ---------------------------------------------------------------------- hold, resume, grants, expiry


async def test_a_held_call_resumes_after_an_approval_through_the_api(tmp_path: Path, era: str) -> None:
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("update_medication", via=["teams"], approvers=list(APPROVERS))]
        approvals = {"hold": "300ms", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client(era) as client:
            progress: list[str | None] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(message)

            pending = await client.call_tool("update_medication", MEDICATION_CHANGE, progress_callback=on_progress)
            approval_id = site.pending_id()
            assert pending.is_error and f"waiting for approval {approval_id}" in text_of(pending)
            assert "via teams" in text_of(pending) and "same arguments" in text_of(pending)
            assert progress and progress[0] == f"waiting for approval {approval_id}"
            card = receiver.requests[0].json()
            assert f"{site.url}/approvals/{approval_id}" in json.dumps(card)
            assert await medications(client) == ["metformin"]  # nothing ran while pending

            approved = await site.decide(approval_id, "alice@example.com", "approve", reason="Pharmacy agrees.")
            assert approved.status_code == 200, approved.text
            resumed = await client.call_tool("update_medication", MEDICATION_CHANGE)
            assert not resumed.is_error, text_of(resumed)
            assert "insulin glargine" in await medications(client)
            # A once-grant releases exactly one call: asking again starts a new approval.
            again = await client.call_tool("update_medication", MEDICATION_CHANGE)
            assert again.is_error and approval_id not in text_of(again)
            scraped = await site.http.get(f"{site.url}/metrics")  # beside stdio, the listener serves metrics too
        assert len(site.events("approval.requested")) == 2
        values = metric_samples(scraped.text)
        assert sample(values, "mcp_gate_approvals_total", state="approved") == 1
        assert sample(values, "mcp_gate_approvals_pending") == 1
        assert sample(values, "mcp_gate_approval_notifications_total", channel="teams", outcome="notified") == 2


async def test_a_session_grant_covers_the_same_call_but_not_a_changed_one(tmp_path: Path) -> None:
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("update_medication", via=["teams"], grants=["once", "session"])]
        approvals = {"hold": "200ms", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client("legacy") as client:
            await client.call_tool("update_medication", MEDICATION_CHANGE)
            response = await site.decide(site.pending_id(), "bob@example.com", "approve", grant="session")
            assert response.status_code == 200, response.text
            for _ in range(2):
                assert not (await client.call_tool("update_medication", MEDICATION_CHANGE)).is_error
            changed = await client.call_tool("update_medication", {**MEDICATION_CHANGE, "dose": "40 units nightly"})
            assert changed.is_error and "waiting for approval" in text_of(changed)
        assert len(site.events("approval.requested")) == 2


async def test_an_approval_that_expires_runs_nothing_and_takes_no_late_decision(tmp_path: Path, era: str) -> None:
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("update_medication", via=["teams"])]
        approvals = {"timeout": "500ms", "hold": "10s", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client(era) as client:
            expired = await client.call_tool("update_medication", MEDICATION_CHANGE)
            assert expired.is_error and "expired without a decision" in text_of(expired)
            approval_id = site.gateway.broker.store.recent(1)[0].id
            late = await site.decide(approval_id, "alice@example.com", "approve")
            assert late.status_code == 409
            assert await medications(client) == ["metformin"]
        assert site.events("approval.expired")[0]["approval_id"] == approval_id


async def test_the_requester_cannot_approve_a_four_eyes_call(tmp_path: Path) -> None:
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("update_medication", via=["client", "teams"], separate_requester=True)]
        approvals = {"hold": "200ms", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site:
            async with site.client("legacy", form_answer("approve")) as client:
                await client.call_tool("update_medication", MEDICATION_CHANGE)
                assert site.prompts == []  # the agent's own client is never asked for four eyes
                approval_id = site.pending_id()
                own = await site.decide(approval_id, REQUESTER, "approve")
                assert own.status_code == 403 and "the requester may not approve" in own.text
                assert await medications(client) == ["metformin"]
                assert (await site.decide(approval_id, "alice@example.com", "approve")).status_code == 200
                assert not (await client.call_tool("update_medication", MEDICATION_CHANGE)).is_error


async def test_when_every_channel_fails_the_call_is_denied(tmp_path: Path, era: str) -> None:
    slack = FakeSlack(SLACK_TOKEN)
    slack.error = "channel_not_found"
    async with serving_one(slack.app) as slack_url:
        channels = {
            "slack": {"bot_token": SLACK_TOKEN, "signing_secret": SLACK_SECRET, "channel": "#phi-approvals", "api_url": f"{slack_url}/api"},
            "webhook": {"url": closed_port_url(), "secret": "whsec_" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "retries": 0},
        }
        rules = [rule("update_medication", via=["slack", "webhook"])]
        async with approving_gateway(tmp_path, rules, approvals={"channels": channels}) as site, site.client(era) as client:
            refused = await client.call_tool("update_medication", MEDICATION_CHANGE)
            assert refused.is_error
            message = text_of(refused)
            assert "no approval channel could take the request" in message
            assert "slack: Slack chat.postMessage refused: channel_not_found" in message and "webhook:" in message
            assert await medications(client) == ["metformin"]
        assert [e["outcome"] for e in site.events("approval.notified")] == ["failed", "failed"]


async def test_cancelling_a_held_call_cancels_its_approval(tmp_path: Path) -> None:
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("update_medication", via=["teams"])]
        approvals = {"hold": "30s", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client("legacy") as client:
            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.call_tool("update_medication", MEDICATION_CHANGE))
                await receiver.until(lambda: receiver.requests)
                tg.cancel_scope.cancel()
            approval = site.gateway.broker.store.recent(1)[0]
            await site.gateway.broker.wait(approval, timeout=10)
            assert approval.state == "cancelled" and approval.outcome_reason == "the client cancelled the call"
            assert (await site.decide(approval.id, "alice@example.com", "approve")).status_code == 409
            assert await medications(client) == ["metformin"]


async def test_a_restarted_gateway_expires_what_was_pending(tmp_path: Path) -> None:
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("update_medication", via=["teams"])]
        approvals = {"hold": "200ms", "store": "sqlite:///approvals.db", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client("legacy") as client:
            await client.call_tool("update_medication", MEDICATION_CHANGE)
            approval_id = site.pending_id()
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client("legacy") as client:
            before = site.gateway.broker.get(approval_id)
            assert before is not None and before.state == "expired"
            assert "the gateway restarted" in (before.outcome_reason or "")
            assert (await site.decide(approval_id, "alice@example.com", "approve")).status_code == 409
            again = await client.call_tool("update_medication", MEDICATION_CHANGE)
            assert again.is_error and approval_id not in text_of(again)
            assert await medications(client) == ["metformin"]


# ---------------------------------------------------------------------- Slack and the page


async def test_a_slack_approval_releases_the_held_call(tmp_path: Path, era: str) -> None:
    slack = FakeSlack(SLACK_TOKEN)
    async with serving_one(slack.app) as slack_url:
        slack.base_url = slack_url
        channels = {
            "slack": {
                "bot_token": SLACK_TOKEN,
                "signing_secret": SLACK_SECRET,
                "channel": "#phi-approvals",
                "api_url": f"{slack_url}/api",
                "users": {"U0ALICE": "alice@example.com"},
            }
        }
        rules = [rule("update_medication", via=["slack"])]
        async with approving_gateway(tmp_path, rules, approvals={"channels": channels}) as site, site.client(era) as client:
            alice = SlackUser(
                "U0ALICE", "alice", slack=slack, hooks_url=f"{site.url}/hooks/slack", signing_secret=SLACK_SECRET, http=site.http
            )
            results: list[types.CallToolResult] = []
            async with anyio.create_task_group() as tg:

                async def held_call() -> None:
                    results.append(await client.call_tool("update_medication", MEDICATION_CHANGE))

                tg.start_soon(held_call)
                message = await slack.until(slack.only_message)
                assert "update_medication" in " ".join(message.texts())
                assert (await alice.click(message, APPROVE)).status_code == 200
            assert not results[0].is_error, text_of(results[0])
            assert "insulin glargine" in await medications(client)
            updated = await slack.until(lambda: "Approved" in " ".join(slack.only_message().texts()) and slack.only_message())
            assert "alice@example.com" in " ".join(updated.texts())


async def test_an_approver_approves_on_the_page_in_a_real_browser(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "the browser test needs Debian's chromium: apt-get install chromium"
    receiver = Receiver()
    async with serving_one(receiver.app) as teams_url:
        rules = [rule("export_records", via=["teams"], justification="required", reason="Exports leave the EHR.")]
        approvals = {"hold": "60s", "channels": {"teams": {"webhook_url": teams_url}}}
        async with approving_gateway(tmp_path, rules, approvals=approvals) as site, site.client("legacy") as client:
            results: list[types.CallToolResult] = []
            async with anyio.create_task_group() as tg, async_playwright() as playwright:

                async def held_call() -> None:
                    results.append(await client.call_tool("export_records", EXPORT))

                tg.start_soon(held_call)
                await receiver.until(lambda: receiver.requests)
                browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = await browser.new_page(viewport={"width": 1100, "height": 900})
                await page.goto(f"{site.url}/approvals/{site.pending_id()}")
                await page.get_by_label("Approver token").fill(site.tokens["alice@example.com"])
                await page.get_by_role("button", name="Sign in").click()
                for shown in ("export_records", REQUESTER, "Monthly diabetes registry upload.", "[MRN_"):
                    await expect(page.get_by_text(shown, exact=False).first).to_be_visible()
                await expect(page.get_by_text("MRN-004211")).to_have_count(0)
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "gateway-approval-page.png"), full_page=True)
                await page.get_by_role("button", name="Approve").click()
                await expect(page.locator(".badge")).to_have_text("Approved")
                await browser.close()
            assert not results[0].is_error, text_of(results[0])
            assert results[0].structured_content is not None and results[0].structured_content["count"] == 1
