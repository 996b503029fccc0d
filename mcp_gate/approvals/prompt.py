"""The approval question as the agent's client shows it (MCP elicitation), and reading the answer.

Form mode asks for an explicit ``decision`` (approve/deny) and a reason; an empty
schema is never sent, because some clients hang on one.  URL mode sends the
approval page instead, where an approver signs in and decides.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from mcp_gate.approvals.model import Approval, GrantScope, Verdict

FIELD_LIMIT = 600
GRANT_TITLES = {"once": "Only this call", "session": "This call for the rest of the session", "ttl": "This call for a while"}


def describe(approval: Approval, *, base_url: str | None = None) -> str:
    """Who, what, why and until when, as plain text for a prompt or a chat message."""
    arguments = json.dumps(approval.arguments, ensure_ascii=False, sort_keys=True)
    if len(arguments) > FIELD_LIMIT:
        arguments = arguments[:FIELD_LIMIT] + "…"
    remaining = max(0, round(approval.expires_at - time.time()))
    lines = [
        f"mcp-gate asks for approval (rule {approval.rule_id}).",
        f"Who: {approval.requester}" + (f" using {approval.client}" if approval.client else "") + f", session {approval.session}",
        f"What: {approval.server} → {approval.tool}",
        f"Arguments: {arguments}",
    ]
    if approval.rule_reason:
        lines.append(f"Why this needs approval: {approval.rule_reason}")
    lines.append(f"Agent's justification: {approval.justification or '(none given)'}")
    expiry = time.strftime("%H:%M:%S UTC", time.gmtime(approval.expires_at))
    lines.append(f"Expires: {expiry} (in {remaining // 60} min {remaining % 60} s); no answer means denied.")
    if base_url:
        lines.append(f"Details: {base_url}/approvals/{approval.id}")
    return "\n".join(lines)


def form_request(approval: Approval, *, base_url: str | None = None) -> types.ElicitRequest:
    """The form-mode elicitation: explicit decision, a reason, and a grant choice where the rule allows one."""
    properties: dict[str, Any] = {
        "decision": {
            "type": "string",
            "title": "Decision",
            "oneOf": [{"const": "approve", "title": "Approve"}, {"const": "deny", "title": "Deny"}],
        },
        "reason": {"type": "string", "title": "Reason (needed to deny)", "maxLength": 500},
    }
    if len(approval.grants) > 1:
        properties["grant"] = {
            "type": "string",
            "title": "Allow",
            "oneOf": [{"const": g, "title": GRANT_TITLES[g]} for g in approval.grants],
            "default": "once",
        }
    schema = {"type": "object", "properties": properties, "required": ["decision"]}
    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(message=describe(approval, base_url=base_url), requested_schema=schema)
    )


def url_request(approval: Approval, base_url: str) -> types.ElicitRequest:
    """The URL-mode elicitation: the approval page, where an approver signs in and decides."""
    return types.ElicitRequest(
        params=types.ElicitRequestURLParams(
            message=describe(approval),
            url=f"{base_url}/approvals/{approval.id}",
            elicitation_id=approval.id,
        )
    )


@dataclass(frozen=True)
class Answer:
    """What the person at the client said."""

    verdict: Verdict | None
    """None when the prompt was dismissed without a decision (cancel)."""
    reason: str | None
    grant: GrantScope


def read_answer(result: types.ElicitResult | types.ErrorData | Any) -> Answer:
    """Turn an elicitation result into a decision; anything unclear is a refusal, never an approval."""
    if not isinstance(result, types.ElicitResult):
        return Answer(None, "the client could not show the approval prompt", "once")
    if result.action == "decline":
        return Answer("deny", "declined in the agent's client", "once")
    if result.action != "accept" or not isinstance(result.content, dict):
        return Answer(None, "the approval prompt was dismissed", "once")
    content = result.content
    reason = content.get("reason")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    grant = content.get("grant", "once")
    grant = grant if grant in ("once", "session", "ttl") else "once"
    if content.get("decision") == "approve":
        return Answer("approve", reason, grant)
    if content.get("decision") == "deny":
        return Answer("deny", reason or "denied in the agent's client", "once")
    return Answer(None, "the approval prompt came back without a decision", "once")
