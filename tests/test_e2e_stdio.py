"""The gateway as users run it: ``mcp-gate run`` over stdio, the demo EHR server behind it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from mcp_gate.config import load_config
from mcp_gate.identity import TokenTable

from conftest import EHR, EHR_SERVER, FLAKY_SERVER, python_upstream, gateway_subprocess, policy, read_audit, write_policy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

RULES = [
    {"id": "reads", "match": {"server": "ehr", "tool": ["get_*", "search_*"]}, "action": "allow"},
    {"id": "export", "match": {"tool": "export_records"}, "action": "approve"},
    {
        "id": "no-deletes",
        "match": {"annotations": {"destructiveHint": True}},
        "action": "deny",
        "reason": "Destructive tools are not available to agents.",
    },
]


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def direct_call(tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    params = StdioServerParameters(command=sys.executable, args=[str(EHR_SERVER)])
    async with Client(params, mode="legacy", cache=None) as client:
        return await client.call_tool(tool, arguments)


async def test_allow_deny_approve_and_refusals_through_a_real_stdio_gateway(tmp_path: Path, era: str) -> None:
    path = write_policy(tmp_path, policy({"ehr": EHR}, RULES))
    async with gateway_subprocess(path, era) as client:
        assert client.server_info is not None and client.server_info.name == "mcp-gate"
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "get_patient" in names and "export_records" in names
        assert "delete_patient" not in names  # always denied, so hidden

        allowed = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
        expected = await direct_call("get_patient", {"mrn": "MRN-004211"})
        assert not allowed.is_error
        chart, raw = allowed.structured_content, expected.structured_content
        assert chart is not None and raw is not None and chart.keys() == raw.keys()
        # Identifiers are masked before the agent sees them; the clinical content is not.
        assert chart["medications"] == raw["medications"]
        for field in ("name", "dob", "ssn", "phone", "email", "address", "mrn"):
            assert chart[field] != raw[field] and chart[field].startswith("[")
        assert raw["ssn"] not in text_of(allowed) and raw["name"] not in text_of(allowed)

        denied = await client.call_tool("delete_patient", {"mrn": "MRN-004211", "reason": "cleanup"})
        assert denied.is_error
        assert text_of(denied) == (
            "mcp-gate policy denied by rule 'no-deletes': Destructive tools are not available to agents."
        )

        held = await client.call_tool("export_records", {"mrns": ["MRN-004211"]})
        assert held.is_error
        # No channel is configured and this client cannot be asked: refused, saying what to configure.
        assert "no approval channel could take the request" in text_of(held)
        assert "does not support that" in text_of(held)

        invalid = await client.call_tool("get_patient", {"mrn": 42})
        assert invalid.is_error
        assert text_of(invalid) == "mcp-gate refused the call: invalid arguments at mrn: 42 is not of type 'string'"

        with pytest.raises(MCPError, match="Unknown tool: 'no_such_tool'"):
            await client.call_tool("no_such_tool", {})

        # The patient was not deleted: the denial never reached the upstream.
        still_there = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
        assert not still_there.is_error


async def test_every_call_is_audited_with_hashes_never_raw_arguments(tmp_path: Path) -> None:
    path = write_policy(tmp_path, policy({"ehr": EHR}, RULES, identity={"user": "dr.house@example.org"}))
    async with gateway_subprocess(path, "legacy") as client:
        await client.call_tool("search_patients", {"query": "Gonzalez"})
        await client.call_tool("delete_patient", {"mrn": "MRN-007730", "reason": "secret-reason-7731"})

    records = read_audit(tmp_path)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert records[0]["event"] == "log.opened"
    calls: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if "call_id" in record:
            calls.setdefault(record["call_id"], []).append(record)
    assert records[-1]["event"] == "log.closed"
    search, delete = calls.values()
    assert [r["event"] for r in search] == ["tool.called", "policy.decided", "tool.executed"]
    assert [r["event"] for r in delete] == ["tool.called", "policy.decided", "tool.blocked"]
    first = search[0]
    assert first["principal"] == "dr.house@example.org"
    assert first["server"] == "ehr" and first["tool"] == "search_patients"
    assert first["client"].startswith("mcp/")
    assert first["session"].startswith("stdio-")
    assert len(first["args_sha256"]) == 64
    assert search[1]["rule"] == "reads" and search[1]["decision"] == "allow"
    assert search[2]["outcome"] == "ok" and search[2]["duration_ms"] >= 0
    assert delete[2]["rule"] == "no-deletes" and delete[2]["outcome"] == "blocked"
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "Gonzalez" not in raw and "secret-reason-7731" not in raw and "MRN-007730" not in raw
    verified = run_cli("audit", "verify", str(tmp_path / "audit.jsonl"), cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_the_agents_user_approves_over_stdio(tmp_path: Path, era: str) -> None:
    rules = [
        {"id": "export", "match": {"tool": "export_records"}, "action": "approve"},
        {"id": "meds", "match": {"tool": "update_medication"}, "action": "approve"},
        {"id": "reads", "match": {"tool": "get_*"}, "action": "allow"},
    ]
    path = write_policy(tmp_path, policy({"ehr": EHR}, rules))
    asked: list[str] = []

    async def the_user(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        decision = "approve" if "export_records" in params.message else "deny"
        return types.ElicitResult(action="accept", content={"decision": decision, "reason": "checked at the desk"})

    async with gateway_subprocess(path, era, elicitation_callback=the_user) as client:
        exported = await client.call_tool("export_records", {"mrns": ["MRN-011562"]})
        assert not exported.is_error and exported.structured_content is not None
        assert exported.structured_content["count"] == 1
        change = {"mrn": "MRN-011562", "medication": "levothyroxine", "dose": "100 mcg", "reason": "TSH high"}
        refused = await client.call_tool("update_medication", change)
        assert refused.is_error and "checked at the desk" in text_of(refused)
        chart = await client.call_tool("get_patient", {"mrn": "MRN-011562"})
        assert chart.structured_content is not None
        assert chart.structured_content["medications"] == [{"name": "levothyroxine", "dose": "75 mcg daily"}]
    assert len(asked) == 2 and all("MRN-011562" not in message for message in asked)


def test_the_demo_runs_end_to_end(tmp_path: Path) -> None:
    """The README's first command: the scripted session, answered without a terminal."""
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "ehr_server.py").write_text((root / "examples" / "ehr_server.py").read_text())
    (tmp_path / "policies.yaml").write_text((root / "policies.yaml").read_text())
    done = subprocess.run(
        [sys.executable, "-m", "mcp_gate", "demo"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "mcp-gate asks for approval (rule export)" in out
    assert '"count": 1' in out  # the export ran once approved
    assert "denied by rule 'no-deletes'" in out
    assert "[SSN_" in out and "532-71-4408" not in out and "Maria Gonzalez" not in out
    assert "chain intact" in out


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcp_gate", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_a_malformed_config_stops_the_gateway_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "policies.yaml").write_text("version: 1\nupstreams:\n  ehr: {command: python, timeout: soon}\n")
    done = run_cli("run", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == "policies.yaml:3: upstreams.ehr.timeout: not a duration; use e.g. 30s, 10m, 1h or 1h30m"


def test_two_tools_claiming_one_name_stop_the_gateway(tmp_path: Path) -> None:
    upstreams = {
        "a": python_upstream(FLAKY_SERVER, "--tool", "b__echo"),
        "a__b": python_upstream(FLAKY_SERVER),
    }
    write_policy(tmp_path, policy(upstreams, [{"action": "allow"}]))
    done = run_cli("run", cwd=tmp_path)
    assert done.returncode == 1
    assert "mcp-gate: tool name collision: 'a__b__echo' (a:b__echo and a__b:echo)" in done.stderr


def test_an_unwritable_audit_log_stops_the_gateway(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the audit folder should be")
    write_policy(tmp_path, {**policy({"ehr": EHR}), "audit": {"path": "blocker/audit.jsonl"}})
    done = run_cli("run", cwd=tmp_path)
    assert done.returncode == 1
    assert f"cannot open audit log {tmp_path / 'blocker/audit.jsonl'}" in done.stderr


def test_check_and_tools_commands(tmp_path: Path) -> None:
    write_policy(tmp_path, policy({"ehr": EHR}, RULES))
    checked = run_cli("check", cwd=tmp_path)
    assert checked.returncode == 0
    assert checked.stdout.strip() == "policies.yaml: OK: 1 upstream(s), 3 rule(s), default approve, 0 HTTP token(s)"

    listed = run_cli("tools", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    catalog = {row["name"]: row for row in json.loads(listed.stdout)["tools"]}
    assert catalog["get_patient"]["decision"] == "allow"
    assert catalog["export_records"]["decision"] == "approve"
    assert catalog["delete_patient"]["decision"] == "deny" and catalog["delete_patient"]["hidden"]
    assert catalog["update_medication"]["rules"] == [{"action": "approve", "rule": "default", "conditional": False}]

    table = run_cli("tools", cwd=tmp_path).stdout.splitlines()
    assert table[0].split() == ["TOOL", "UPSTREAM", "DECISION"]
    assert any(line.split()[:4] == ["delete_patient", "ehr", "deny", "(rule"] for line in table)


def test_token_command_prints_a_token_whose_digest_the_config_accepts(tmp_path: Path) -> None:
    done = run_cli("token", "--principal", "ci-bot", cwd=tmp_path)
    token = done.stdout.splitlines()[0].rsplit(" ", 1)[1]
    snippet = "\n".join(done.stdout.splitlines()[2:])
    write_policy(tmp_path, "version: 1\nupstreams: {a: {command: x}}\n" + snippet + "\n")
    checked = run_cli("check", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert TokenTable(load_config(tmp_path / "policies.yaml").identity.tokens).principal_for(token) == "ci-bot"
