"""Streamable HTTP on both sides: the gateway served over HTTP with bearer tokens, and HTTP upstreams."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from prometheus_client import CONTENT_TYPE_LATEST

from mcp_gate.identity import new_token, token_digest

from conftest import (
    EHR,
    EVERYTHING,
    FLAKY_SERVER,
    PEERS,
    Samples,
    gateway_client,
    metric_samples,
    policy,
    read_audit,
    sample,
    write_policy,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

INSPECTOR = PEERS / "node_modules" / ".bin" / "mcp-inspector"


@asynccontextmanager
async def process_announcing(args: list[str], pattern: str, cwd: Path | None = None) -> AsyncIterator[re.Match[str]]:
    """Start a process and wait (with a timeout) for a stderr line matching ``pattern``."""
    process: Process = await anyio.open_process(args, cwd=cwd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    found = anyio.Event()
    match: list[re.Match[str]] = []

    async def read_stderr() -> None:
        assert process.stderr is not None
        buffer = ""
        async for chunk in TextReceiveStream(process.stderr):
            buffer += chunk
            *lines, buffer = buffer.split("\n")
            for line in lines:
                if not found.is_set() and (m := re.search(pattern, line)):
                    match.append(m)
                    found.set()

    async with process, anyio.create_task_group() as tg:
        tg.start_soon(read_stderr)
        try:
            with anyio.fail_after(30):
                await found.wait()
            yield match[0]
        finally:
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()
            tg.cancel_scope.cancel()


@pytest.fixture
def tokens() -> dict[str, str]:
    return {"alice@example.com": new_token()[0], "bob@example.com": new_token()[0]}


@asynccontextmanager
async def http_gateway(
    tmp_path: Path,
    tokens: dict[str, str],
    upstreams: dict[str, object] | None = None,
    rules: list[object] | None = None,
    **top: Any,
) -> AsyncIterator[str]:
    identity = {"tokens": [{"principal": p, "sha256": token_digest(t)} for p, t in tokens.items()]}
    rules = rules or [{"id": "reads", "match": {"tool": "get_*"}, "action": "allow"}]
    path = write_policy(tmp_path, policy(upstreams or {"ehr": EHR}, rules, identity=identity, **top))
    args = [sys.executable, "-m", "mcp_gate", "run", "-c", str(path), "--transport", "http", "--port", "0"]
    async with process_announcing(args, r"listening on (http://\S+/mcp)") as announced:
        yield announced.group(1)


@asynccontextmanager
async def authorized_client(url: str, token: str, era: str, **options: Any) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=era, cache=None, **options) as client:
            yield client


async def test_http_gateway_needs_a_valid_token_and_knows_who_called(
    tmp_path: Path, tokens: dict[str, str], era: str
) -> None:
    async with http_gateway(tmp_path, tokens) as url:
        async with httpx2.AsyncClient(timeout=10) as http:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            anonymous = await http.post(url, json=body)
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            forged = await http.post(url, json=body, headers={"Authorization": "Bearer mgt_forged"})
            assert forged.status_code == 401
            health = await http.get(url.removesuffix("/mcp") + "/healthz")
            assert health.json() == {"status": "ok", "upstreams": {"ehr": "up"}}

        async with authorized_client(url, tokens["alice@example.com"], era) as client:
            result = await client.call_tool("get_patient", {"mrn": "MRN-007730"})
            assert not result.is_error
            assert result.structured_content is not None
            assert result.structured_content["medications"][0]["name"] == "lisinopril"
            held = await client.call_tool("export_records", {"mrns": ["MRN-007730"]})
            assert held.is_error

    called = [r for r in read_audit(tmp_path) if r["event"] == "tool.called"]
    assert [r["principal"] for r in called] == ["alice@example.com", "alice@example.com"]
    assert called[0]["session"] == called[1]["session"]


async def test_an_approval_in_the_agents_client_over_http(tmp_path: Path, tokens: dict[str, str], era: str) -> None:
    rules = [{"id": "export", "match": {"tool": "export_records"}, "action": "approve", "reason": "Exports leave the EHR."}]
    asked: list[str] = []

    async def the_user(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"decision": "approve"})

    async with http_gateway(tmp_path, tokens, rules=rules) as url:
        async with authorized_client(url, tokens["bob@example.com"], era, elicitation_callback=the_user) as client:
            exported = await client.call_tool("export_records", {"mrns": ["MRN-015908"], "format": "json"})
    assert not exported.is_error, exported
    assert len(asked) == 1 and "bob@example.com" in asked[0] and "Exports leave the EHR." in asked[0]
    decided = [r for r in read_audit(tmp_path) if r["event"] == "approval.decided" and r["outcome"] == "final"]
    assert decided[0]["approver"] == "bob@example.com" and decided[0]["decision"] == "approved"


async def scrape(http: httpx2.AsyncClient, base: str) -> tuple[str, Samples]:
    """``GET /metrics`` as Prometheus would (no token): the text and each sample's value by name and labels."""
    response = await http.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return response.text, metric_samples(response.text)


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """One metric's values keyed by one of its labels."""
    return {dict(labels)[label]: value for (found, labels), value in samples.items() if found == name}


async def test_metrics_count_what_the_audit_log_records(tmp_path: Path, tokens: dict[str, str], era: str) -> None:
    approver_token = new_token()[0]
    rules = [
        {"id": "reads", "match": {"tool": "get_*"}, "action": "allow"},
        {"id": "no-deletes", "match": {"tool": "delete_patient"}, "action": "deny"},
        {"id": "export", "match": {"tool": "export_records"}, "action": "approve", "via": ["api"]},
    ]
    approvals = {"hold": "100ms", "tokens": [{"approver": "carol@example.com", "sha256": token_digest(approver_token)}]}
    export = {"mrns": ["MRN-007730"], "format": "csv"}
    async with http_gateway(tmp_path, tokens, rules=rules, approvals=approvals) as url:
        base = url.removesuffix("/mcp")
        async with (
            httpx2.AsyncClient(timeout=10) as http,
            authorized_client(url, tokens["alice@example.com"], era) as client,
        ):
            assert not (await client.call_tool("get_patient", {"mrn": "MRN-007730"})).is_error
            assert (await client.call_tool("delete_patient", {"mrn": "MRN-007730", "reason": "duplicate"})).is_error
            assert (await client.call_tool("export_records", export)).is_error  # held, then "pending"
            _, waiting = await scrape(http, base)
            assert sample(waiting, "mcp_gate_approvals_pending") == 1
            [requested] = [r for r in read_audit(tmp_path) if r["event"] == "approval.requested"]
            decide = f"{base}/approvals/{requested['approval_id']}/approve"
            assert (await http.post(decide, json={})).status_code == 401  # no token: refused and counted
            approved = await http.post(decide, json={}, headers={"Authorization": f"Bearer {approver_token}"})
            assert approved.status_code == 200, approved.text
            assert not (await client.call_tool("export_records", export)).is_error
            text, samples = await scrape(http, base)

    def calls(tool: str, outcome: str) -> float | None:
        return sample(samples, "mcp_gate_tool_calls_total", server="ehr", tool=tool, outcome=outcome)

    assert calls("get_patient", "ok") == 1 and calls("get_patient", "blocked") is None
    assert calls("delete_patient", "blocked") == 1
    assert calls("export_records", "blocked") == 1 and calls("export_records", "ok") == 1
    denied = {"server": "ehr", "tool": "delete_patient", "rule": "no-deletes", "decision": "deny"}
    assert sample(samples, "mcp_gate_policy_decisions_total", **denied) == 1
    assert sample(samples, "mcp_gate_tool_call_duration_seconds_count", server="ehr", tool="get_patient") == 1
    assert sample(samples, "mcp_gate_approvals_total", state="approved") == 1
    assert sample(samples, "mcp_gate_approvals_pending") == 0
    assert sample(samples, "mcp_gate_callbacks_rejected_total", channel="api") == 1
    assert sample(samples, "mcp_gate_upstream_up", server="ehr") == 1

    records = read_audit(tmp_path)
    masked: dict[str, float] = {}
    for record in records:
        for entity, count in record.get("masked", {}).items():
            masked[entity] = masked.get(entity, 0) + count
    assert masked["ssn"] > 0
    assert by_label(samples, "mcp_gate_masked_entities_total", "entity") == masked
    events: dict[str, float] = {}
    for record in records:
        if record["event"] != "log.opened":  # written before the gateway, and so its metrics, existed
            events[record["event"]] = events.get(record["event"], 0) + 1
    assert by_label(samples, "mcp_gate_audit_records_total", "event") == events
    session = records[-1]["session"]
    for identifying in ("alice@example.com", "carol@example.com", session, requested["approval_id"], "286-44-1925"):
        assert identifying not in text


async def test_a_session_cannot_be_continued_with_another_principals_token(
    tmp_path: Path, tokens: dict[str, str]
) -> None:
    async with http_gateway(tmp_path, tokens) as url:
        # A handshake as alice, then her session id presented with bob's token.
        async with httpx2.AsyncClient(timeout=10) as http:
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
            }
            headers = {"Accept": "application/json, text/event-stream"}
            started = await http.post(
                url, json=init, headers={**headers, "Authorization": f"Bearer {tokens['alice@example.com']}"}
            )
            assert started.status_code == 200
            session = started.headers["mcp-session-id"]
            hijack = await http.post(
                url,
                json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                headers={**headers, "Authorization": f"Bearer {tokens['bob@example.com']}", "mcp-session-id": session},
            )
            assert hijack.status_code == 403
            assert hijack.json() == {"error": "this MCP session belongs to another principal"}


async def test_a_2025_upstream_question_is_never_shown_to_another_session(
    tmp_path: Path, tokens: dict[str, str]
) -> None:
    """server-everything's elicitation carries no call reference; with two sessions in flight it is refused."""
    everything = {"everything": {"command": str(EVERYTHING), "args": ["stdio"]}}
    alice_asked, release_alice = anyio.Event(), anyio.Event()
    shown_to_bob: list[str] = []

    async def alice_answers(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        alice_asked.set()
        await release_alice.wait()
        return types.ElicitResult(action="decline")

    async def bob_answers(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        shown_to_bob.append(params.message)
        return types.ElicitResult(action="decline")

    async with http_gateway(tmp_path, tokens, everything, [{"action": "allow"}]) as url:
        async with (
            authorized_client(url, tokens["alice@example.com"], "legacy", elicitation_callback=alice_answers) as alice,
            authorized_client(url, tokens["bob@example.com"], "legacy", elicitation_callback=bob_answers) as bob,
            anyio.create_task_group() as tg,
        ):
            alice_result: list[types.CallToolResult] = []

            async def alice_calls() -> None:
                alice_result.append(await alice.call_tool("trigger-elicitation-request", {}))

            tg.start_soon(alice_calls)
            with anyio.fail_after(20):
                await alice_asked.wait()
            bob_result = await bob.call_tool("trigger-elicitation-request", {})
            release_alice.set()
    assert shown_to_bob == []
    assert "cannot tell which client" in bob_result.model_dump_json()
    assert "decline" in alice_result[0].model_dump_json()


async def test_an_http_upstream_is_proxied(tmp_path: Path, era: str) -> None:
    args = [sys.executable, str(FLAKY_SERVER), "--http"]
    async with process_announcing(args, r"listening on (\d+)") as announced:
        url = f"http://127.0.0.1:{announced.group(1)}/mcp"
        path = write_policy(tmp_path, policy({"remote": {"url": url}}, [{"action": "allow"}]))
        async with gateway_client(path, era) as client:
            result = await client.call_tool("echo", {"text": "over http"})
            assert [block.text for block in result.content if isinstance(block, types.TextContent)] == ["over http"]
            failed = await client.call_tool("fail", {"message": "nope"})
            assert failed.is_error


def test_a_third_party_client_drives_the_gateway(tmp_path: Path) -> None:
    """The MCP Inspector's CLI (Node, the TypeScript SDK) lists and calls tools through the gateway."""
    rules = [
        {"id": "reads", "match": {"tool": "get_*"}, "action": "allow"},
        {"id": "no-deletes", "match": {"annotations": {"destructiveHint": True}}, "action": "deny"},
    ]
    path = write_policy(tmp_path, policy({"ehr": EHR}, rules))
    gateway = [sys.executable, "-m", "mcp_gate", "run", "-c", str(path)]

    def inspector(*method: str, status: int = 0) -> dict[str, object]:
        done = subprocess.run(
            [str(INSPECTOR), "--cli", *gateway, *method], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert done.returncode == status, done.stderr
        return json.loads(done.stdout)

    listed = inspector("--method", "tools/list")
    names = [tool["name"] for tool in listed["tools"]]  # type: ignore[index]
    assert "get_patient" in names and "delete_patient" not in names
    called = inspector("--method", "tools/call", "--tool-name", "get_patient", "--tool-arg", "mrn=MRN-015908")
    assert called["structuredContent"]["medications"] == [{"name": "warfarin", "dose": "5 mg daily"}]  # type: ignore[index]
    assert "Robert Chen" not in json.dumps(called)  # masked before it left the gateway
    # The inspector exits 5 when a tool result says isError.
    held = inspector("--method", "tools/call", "--tool-name", "export_records", "--tool-arg", 'mrns=["MRN-015908"]', status=5)
    assert held["isError"] is True
    assert "no approval channel could take the request" in held["content"][0]["text"]  # type: ignore[index]
