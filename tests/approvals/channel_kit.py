"""What the channel tests share: real HTTP servers on free local ports, and a sample approval."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mcp_gate.approvals import ApprovalRequest, Broker, MemoryStore, request_digest
from mcp_gate.audit import AuditLog
from mcp_gate.config import ApprovalsConfig

T = TypeVar("T")
PAGE_BASE = "https://gate.example.com"
"""Where the approval page is, as configured in ``approvals.url``."""
APPROVERS = ("alice@example.com", "bob@example.com", "nurse.jones@example.com")


def listening_socket() -> tuple[socket.socket, str]:
    """A socket already listening on a free 127.0.0.1 port, and its base URL.

    Requests made before a server takes the socket wait in its backlog instead of
    being refused, so nobody needs to poll for a server to be ready.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def closed_port_url() -> str:
    """A local URL where nothing listens: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serving(*sites: tuple[socket.socket, ASGIApp]) -> AsyncIterator[None]:
    """Serve each app over real HTTP on its socket; on exit, all shut down together."""
    servers = [
        uvicorn.Server(
            uvicorn.Config(app, log_config=None, lifespan="off", access_log=False, timeout_graceful_shutdown=5)
        )
        for _, app in sites
    ]
    async with anyio.create_task_group() as tg:
        for server, (sock, _) in zip(servers, sites, strict=True):
            tg.start_soon(server.serve, [sock])
        try:
            yield
        finally:
            for server in servers:
                server.should_exit = True


@asynccontextmanager
async def serving_one(app: ASGIApp) -> AsyncIterator[str]:
    """Serve ``app`` over real HTTP on a free local port; yields its base URL."""
    sock, url = listening_socket()
    async with serving((sock, app)):
        yield url


class Recorder:
    """Things a fake server received, and a way to wait (with a timeout) until one shows up."""

    def __init__(self) -> None:
        self._changed = anyio.Event()

    def changed(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, found: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``found()`` returns something truthy, and return it."""
        with anyio.fail_after(timeout):
            while not (result := found()):
                await self._changed.wait()
        return result


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver(Recorder):
    """A webhook endpoint (Teams' or anyone's) that records each POST and answers the statuses it is given."""

    def __init__(self, statuses: list[int] | None = None, *, then: int = 200) -> None:
        super().__init__()
        self.requests: list[Received] = []
        self.statuses = list(statuses or [])
        self.then = then
        """The status once ``statuses`` is used up."""
        self.app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.requests.append(Received(path, dict(request.headers), await request.body()))
        self.changed()
        return Response(status_code=self.statuses.pop(0) if self.statuses else self.then)


@asynccontextmanager
async def posting_to(
    receiver: Receiver | None, tmp_path: Path
) -> AsyncIterator[tuple[str, httpx2.AsyncClient, AuditLog]]:
    """The URL ``receiver`` is served at (or where nothing listens, for None), an HTTP client, an open audit log."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.open()
    try:
        async with AsyncExitStack() as stack:
            url = await stack.enter_async_context(serving_one(receiver.app)) if receiver else closed_port_url()
            yield url, await stack.enter_async_context(httpx2.AsyncClient(timeout=5)), audit
    finally:
        audit.close()


def export_request(**overrides: Any) -> ApprovalRequest:
    """A nurse's agent asking to export records, with masked arguments as the gateway hands them over."""
    arguments = overrides.pop("arguments", {"mrns": ["[MRN_1a2b3c]", "[MRN_4d5e6f]"], "format": "csv"})
    requester = overrides.pop("requester", "nurse.jones@example.com")
    fields: dict[str, Any] = {
        "digest": request_digest("ehr", "export_records", arguments, requester, "sess-42"),
        "call_id": "call-7",
        "server": "ehr",
        "tool": "export_records",
        "tool_title": "Export records",
        "arguments": arguments,
        "requester": requester,
        "client": "claude-code/2.1",
        "session": "sess-42",
        "rule_id": "export",
        "rule_reason": "Exports take PHI out of the EHR.",
        "justification": "Monthly diabetes registry report",
        "approvers": None,
        "quorum": 1,
        "separate_requester": False,
        "grants": ["once"],
        "grant_ttl": 3600.0,
    }
    fields.update(overrides)
    return ApprovalRequest(**fields)


def make_broker(audit: AuditLog, *, timeout: float = 600.0, clock: Callable[[], float] = time.time) -> Broker:
    """A broker in memory for which alice, bob and nurse Jones are the configured approvers."""
    return Broker(ApprovalsConfig(timeout=timeout), MemoryStore(), audit, known_approvers=set(APPROVERS), clock=clock)


def audit_events(path: Path, event: str) -> list[dict[str, Any]]:
    return [record for line in path.read_text().splitlines() if (record := json.loads(line))["event"] == event]
