"""Who is asking: the principal, the MCP client, and the session a call belongs to.

Over stdio the gateway serves exactly one client, run by the configured user.
Over HTTP every request must carry ``Authorization: Bearer <token>``; tokens are
configured only as SHA-256 digests, so the policy file never holds a usable
credential.  The principal the HTTP layer authenticated travels to the MCP
handlers in the ASGI scope.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mcp.server import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_gate.config import BearerToken

PRINCIPAL_SCOPE_KEY = "mcp_gate.principal"
"""Where the HTTP layer leaves the authenticated principal in the ASGI scope."""

TOKEN_PREFIX = "mgt_"


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity attached to every call, in policy decisions and audit records."""

    principal: str
    session: str
    client_name: str | None = None
    client_version: str | None = None
    protocol_version: str | None = None

    @property
    def client(self) -> str | None:
        """``name/version`` of the MCP client, as the audit log shows it."""
        if self.client_name is None:
            return None
        return f"{self.client_name}/{self.client_version}" if self.client_version else self.client_name


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random bearer token and the SHA-256 that goes into the policy file."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


class TokenTable:
    """Maps presented bearer tokens to principals by comparing SHA-256 digests."""

    def __init__(self, tokens: Iterable[BearerToken]) -> None:
        self._entries = [(t.sha256.encode(), t.principal) for t in tokens]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def principal_for(self, token: str) -> str | None:
        presented = token_digest(token).encode()
        found = None
        for digest, principal in self._entries:  # every entry is compared: no early exit to time
            if hmac.compare_digest(digest, presented):
                found = principal
        return found


class Identifier:
    """Builds the ``Caller`` for a request, from the transport and the MCP handshake."""

    def __init__(self, stdio_principal: str) -> None:
        self._stdio_principal = stdio_principal
        self._stdio_session = f"stdio-{uuid.uuid4().hex[:12]}"

    def caller(self, ctx: ServerRequestContext[Any, Any]) -> Caller:
        info = ctx.session.client_params.client_info if ctx.session.client_params else None
        name = info.name if info else None
        version = info.version if info else None
        request = ctx.request
        if request is None:
            principal, session = self._stdio_principal, self._stdio_session
        else:
            principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
            if not principal:
                # The HTTP layer authenticates every request; reaching here without a
                # principal means it was bypassed, so refuse rather than guess.
                raise PermissionError("request reached the gateway without an authenticated principal")
            session = request.headers.get("mcp-session-id") or _sessionless_key(principal, name, ctx.protocol_version)
        return Caller(principal, session, name, version, ctx.protocol_version)


def _sessionless_key(principal: str, client_name: str | None, protocol_version: str) -> str:
    """A stable stand-in session for 2026-07-28 HTTP clients, which have no session id.

    Those requests are self-contained, so calls are grouped by who makes them and
    with which client: enough to keep masking tokens and parked calls apart per user.
    """
    era = "modern" if protocol_version in MODERN_PROTOCOL_VERSIONS else "legacy"
    digest = hashlib.sha256(f"{principal}\x00{client_name or ''}\x00{era}".encode()).hexdigest()[:16]
    return f"http-{digest}"
