"""Shared by the approval tests: a request to approve, and the approval API served over real HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette

from mcp_gate.approvals import Approval, ApprovalRequest, Broker, MemoryStore, request_digest
from mcp_gate.approvals.web import approval_routes
from mcp_gate.audit import AuditLog
from mcp_gate.config import ApprovalsConfig, ApproverToken, BearerToken, IdentityConfig
from mcp_gate.identity import new_token


CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium package; Playwright drives it instead of downloading a browser of its own."""
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def request(**overrides: Any) -> ApprovalRequest:
    """An export of patient records waiting for approval; ``overrides`` change any field."""
    fields: dict[str, Any] = {
        "call_id": "c1",
        "server": "ehr",
        "tool": "export_records",
        "tool_title": None,
        "arguments": {"mrns": ["MRN-1"]},
        "requester": "agent@example.com",
        "client": "claude-ai/1.0",
        "session": "s1",
        "rule_id": "export",
        "rule_reason": "Exports leave the EHR.",
        "justification": "monthly registry",
        "approvers": ["alice@example.com", "bob@example.com", "agent@example.com"],
        "quorum": 1,
        "separate_requester": False,
        "grants": ["once"],
        "grant_ttl": 3600.0,
    }
    fields.update(overrides)
    fields.setdefault(
        "digest",
        request_digest(fields["server"], fields["tool"], fields["arguments"], fields["requester"], fields["session"]),
    )
    return ApprovalRequest(**fields)


APPROVERS = ("alice@example.com", "bob@example.com", "dr.lee@example.com")
"""Who holds approver tokens; dr.lee also runs an agent, so some calls are dr.lee's own."""


@dataclass
class Site:
    """The approval API of one test, served on 127.0.0.1, and what a test needs to talk to it."""

    url: str
    broker: Broker
    tokens: dict[str, str]
    """Approver → their plain approver token."""
    agent_token: str
    """The agent's bearer token for the gateway: it must never decide anything here."""
    identity: IdentityConfig
    """The gateway's ``identity`` section, where the agent's token is configured."""
    audit_path: Path

    def open(self, **overrides: Any) -> Approval:
        approval, _ = self.broker.open(request(**overrides))
        return approval

    def bearer(self, approver: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[approver]}", "Accept": "application/json"}

    def audit(self, event: str) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.audit_path.read_text().splitlines()]
        return [r for r in records if r["event"] == event]


@asynccontextmanager
async def approval_site(tmp_path: Path, *, base_url: str = "http://gateway.example") -> AsyncIterator[Site]:
    """A broker and the approval routes, built from config models as the gateway builds them."""
    tokens = {approver: new_token() for approver in APPROVERS}
    agent_token, agent_digest = new_token()
    identity = IdentityConfig(tokens=[BearerToken(principal="agent@example.com", sha256=agent_digest)])
    config = ApprovalsConfig(
        tokens=[ApproverToken(approver=approver, sha256=digest) for approver, (_, digest) in tokens.items()],
        url=base_url,
    )
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.open()
    try:
        broker = Broker(config, MemoryStore(), audit, known_approvers=set(APPROVERS))
        app = Starlette(routes=approval_routes(broker, config.tokens, audit=audit, base_url=config.base_url))
        async with serving(app) as url:
            yield Site(url, broker, {a: t for a, (t, _) in tokens.items()}, agent_token, identity, audit.path)
    finally:
        audit.close()


class _Server(uvicorn.Server):
    """uvicorn, telling the test when it accepts connections, so no test sleeps to wait for it."""

    def __init__(self, config: uvicorn.Config, ready: anyio.Event) -> None:
        super().__init__(config)
        self.ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[str]:
    """Serve ``app`` on an ephemeral port of 127.0.0.1 for the duration of the block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    ready = anyio.Event()
    server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"), ready)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(15):
            await ready.wait()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
