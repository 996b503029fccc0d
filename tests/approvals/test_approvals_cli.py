"""``mcp-gate approvals …`` as a real subprocess against the live approval API."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from anyio import run_process

from approvals_kit import approval_site
from conftest import EHR, policy, write_policy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def mcp_gate(*args: str, token: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m mcp_gate approvals ARGS`` with ``token`` as the approver token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_GATE_")}
    if token is not None:
        env["MCP_GATE_APPROVER_TOKEN"] = token
    return await run_process([sys.executable, "-m", "mcp_gate", "approvals", *args], env=env, cwd=cwd, check=False)


def out(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stdout.decode()


def err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode()


async def test_list_show_approve_from_a_terminal(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site:
        pending = site.open(requester="dr.lee@example.com", approvers=None)
        done = site.open(tool="delete_note", session="s2")
        await site.broker.decide(done.id, "bob@example.com", "deny", via="api", reason="keep the note")
        alice = site.tokens["alice@example.com"]

        listed = await mcp_gate("list", "--url", site.url, token=alice)
        assert listed.returncode == 0, err(listed)
        header, first, second = out(listed).splitlines()
        assert header.split() == ["ID", "STATE", "TOOL", "REQUESTER", "RULE", "DETAIL"]
        assert first.split()[:5] == [pending.id, "pending", "ehr/export_records", "dr.lee@example.com", "export"]
        assert re.search(r"expires in (10 min|9 min \d+ s)$", first), first
        assert second.split()[:2] == [done.id, "denied"] and second.endswith("by bob@example.com: keep the note")

        shown = await mcp_gate("show", pending.id, "--url", site.url, "--json", token=alice)
        assert shown.returncode == 0 and json.loads(out(shown))["arguments"] == {"mrns": ["MRN-1"]}

        approved = await mcp_gate("approve", pending.id, "--url", site.url, "--reason", "registry due", token=alice)
        assert approved.returncode == 0, err(approved)
        assert out(approved).strip() == f"{pending.id}: approved by alice@example.com (grant once)"
        assert pending.state == "approved" and pending.votes[0].reason == "registry due"

        late = await mcp_gate(
            "deny", pending.id, "--url", site.url, "--reason", "no", token=site.tokens["bob@example.com"]
        )
        assert late.returncode == 1 and "already decided (approved)" in err(late)


async def test_refusals_and_mistakes_have_clear_messages_and_exit_codes(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site:
        own = site.open(requester="dr.lee@example.com", approvers=None, separate_requester=True)
        lee = site.tokens["dr.lee@example.com"]

        refused = await mcp_gate("approve", own.id, "--url", site.url, token=lee)
        assert refused.returncode == 1
        assert "refused: the requester may not approve their own call" in err(refused)
        missing = await mcp_gate("show", "apr_missing", "--url", site.url, token=lee)
        assert missing.returncode == 1 and "no approval 'apr_missing'" in err(missing)

        agent = await mcp_gate("approve", own.id, "--url", site.url, token=site.agent_token)
        assert agent.returncode == 2 and "did not accept the token" in err(agent)
        assert site.agent_token not in err(agent) + out(agent)
        no_token = await mcp_gate("list", "--url", site.url)
        assert no_token.returncode == 2 and "MCP_GATE_APPROVER_TOKEN" in err(no_token)
        no_reason = await mcp_gate("deny", own.id, "--url", site.url, token=lee)
        assert no_reason.returncode == 2 and "--reason" in err(no_reason)
        assert own.pending

        token_file = tmp_path / "bob.token"
        token_file.write_text(site.tokens["bob@example.com"] + "\n")
        denied = await mcp_gate(
            "deny", own.id, "--url", site.url, "--reason", "not today", "--token-file", str(token_file)
        )
        assert denied.returncode == 0 and out(denied).strip() == f"{own.id}: denied by bob@example.com: not today"


async def test_the_url_comes_from_the_policy_file_and_a_dead_gateway_is_exit_2(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site:
        config = write_policy(tmp_path, policy({"ehr": EHR}, approvals={"url": site.url}))
        listed = await mcp_gate("list", "-c", str(config), token=site.tokens["bob@example.com"])
        assert listed.returncode == 0 and out(listed).strip() == "no approvals match"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    unconfigured = await mcp_gate("list", token="mgt_x", cwd=elsewhere)
    assert unconfigured.returncode == 2 and "pass --url" in err(unconfigured)
    dead = await mcp_gate("list", "--url", f"http://127.0.0.1:{closed_port()}", token="mgt_x")
    assert dead.returncode == 2 and "cannot reach the approval API" in err(dead)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
