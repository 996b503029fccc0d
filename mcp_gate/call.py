"""One ``tools/call`` as it moves through the gateway, and the audit records it writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_gate.audit import AuditLog
from mcp_gate.config import MaskOverride, Rule
from mcp_gate.identity import Caller
from mcp_gate.relay import CallState


class CallAudit:
    """Writes one call's audit events, each carrying the call's identity fields."""

    def __init__(self, audit: AuditLog, call_id: str, caller: Caller, server: str | None, tool: str) -> None:
        self._audit = audit
        self.call_id = call_id
        self._common = {
            "call_id": call_id,
            "principal": caller.principal,
            "client": caller.client,
            "session": caller.session,
            "server": server,
            "tool": tool,
        }

    def write(self, event: str, **fields: Any) -> None:
        self._audit.write(event, {**self._common, **fields})


def error_result(message: str) -> types.CallToolResult:
    """A tool result the agent reads as a failure, with a message it can act on."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


@dataclass(eq=False)
class Call:
    """One ``tools/call`` as it moves through the pipeline."""

    ctx: ServerRequestContext[Any, Any]
    caller: Caller
    params: types.CallToolRequestParams
    arguments: dict[str, Any]
    state: CallState | None
    """Set when this request continues an earlier round (answers to questions)."""
    audit: CallAudit
    rule: Rule | None = None
    """The rule that decided the call (None: the default), once the policy has."""

    @property
    def mask(self) -> MaskOverride | None:
        """The rule's masking override for what this call sends toward the agent."""
        return self.rule.mask if self.rule is not None else None

    @property
    def modern_client(self) -> bool:
        return self.ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
