"""The gateway's HTTP face: streamable-HTTP MCP at ``/mcp`` behind bearer tokens, ``/healthz`` and ``/metrics``.

Every request to ``/mcp`` must present a configured bearer token; the principal it
maps to rides the ASGI scope into the MCP handlers.  A session started by one
principal cannot be continued with another principal's token.
"""

from __future__ import annotations

import json
import logging
import socket
from collections import OrderedDict

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_gate.approvals.slack import SlackChannel, slack_routes
from mcp_gate.approvals.web import approval_routes
from mcp_gate.gateway import Gateway
from mcp_gate.identity import PRINCIPAL_SCOPE_KEY, TokenTable
from mcp_gate.metrics import CONTENT_TYPE

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
MAX_TRACKED_SESSIONS = 10_000


class BearerAuth:
    """ASGI middleware: ``/mcp`` requests need a known bearer token; sessions stay with their principal."""

    def __init__(self, app: ASGIApp, tokens: TokenTable) -> None:
        self.app = app
        self.tokens = tokens
        self._session_owner: OrderedDict[str, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(MCP_PATH):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        principal = self.tokens.principal_for(token.strip()) if scheme.lower() == "bearer" and token else None
        if principal is None:
            await _refuse(send, 401, "a valid bearer token is required (Authorization: Bearer <token>)")
            return
        session = headers.get("mcp-session-id")
        if session is not None and self._session_owner.get(session, principal) != principal:
            logger.warning("refused: principal %r tried to use a session of another principal", principal)
            await _refuse(send, 403, "this MCP session belongs to another principal")
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal

        async def send_and_track(message: Message) -> None:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers", []):
                    if key.lower() == b"mcp-session-id":
                        self._own(value.decode("latin-1"), principal)
            await send(message)

        await self.app(scope, receive, send_and_track)

    def _own(self, session: str, principal: str) -> None:
        self._session_owner[session] = principal
        self._session_owner.move_to_end(session)
        while len(self._session_owner) > MAX_TRACKED_SESSIONS:
            self._session_owner.popitem(last=False)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="mcp-gate"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def approval_routes_of(gateway: Gateway, base_url: str) -> list[BaseRoute]:
    """The approval page and API, and Slack's interactivity callbacks, of this gateway."""
    approvals = gateway.config.approvals
    routes = approval_routes(gateway.broker, approvals.tokens, audit=gateway.audit, base_url=base_url)
    slack = gateway.notifier.channels.get("slack")
    if isinstance(slack, SlackChannel):
        routes += slack_routes(gateway.broker, slack, gateway.audit)
    return routes


def _operator_routes(gateway: Gateway) -> list[BaseRoute]:
    """Health and metrics for ops: no token, no PHI (keep them reachable by ops tooling only)."""

    async def healthz(request: Request) -> JSONResponse:
        states = gateway.upstream_states()
        healthy = all(state == "up" for state in states.values())
        return JSONResponse({"status": "ok" if healthy else "degraded", "upstreams": states})

    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.exposition(), media_type=CONTENT_TYPE)

    return [Route("/healthz", healthz), Route("/metrics", metrics)]


def build_app(gateway: Gateway, *, host: str, base_url: str) -> ASGIApp:
    """The gateway's one ASGI app: MCP (agents' tokens), approvals (approvers' tokens), health and metrics."""
    app = gateway.server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        host=host,
        custom_starlette_routes=[*_operator_routes(gateway), *approval_routes_of(gateway, base_url)],
    )
    return BearerAuth(app, TokenTable(gateway.config.identity.tokens))


def approvals_app(gateway: Gateway, base_url: str) -> ASGIApp:
    """On stdio the agent's MCP traffic has no HTTP side; approvers still need the page and API."""
    return Starlette(routes=[*_operator_routes(gateway), *approval_routes_of(gateway, base_url)])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; ``port`` 0 picks a free one (read it back with ``getsockname``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no Nagle delays
    sock.listen(128)  # connections queue from now on, before the server starts accepting them
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"


async def serve_asgi(app: ASGIApp, sock: socket.socket, *, lifespan: bool = True) -> None:
    """Serve an ASGI app on a bound socket until cancelled (``lifespan``: the app has startup work)."""
    config = uvicorn.Config(app, log_config=None, lifespan="on" if lifespan else "off", access_log=False)
    await uvicorn.Server(config).serve(sockets=[sock])
