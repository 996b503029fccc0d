"""Text every channel shows about an approval, worded once so Slack, Teams and webhooks agree.

Everything here is plain text; each channel escapes it for its own markup,
because the arguments, the justification and the client name come from the
agent and must never turn into links, mentions or formatting.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

from mcp_gate.approvals.model import Approval, GrantScope
from mcp_gate.units import human_duration

CUT = "… (cut short: the approval page shows all of it)"
NARROWEST_FIRST: tuple[GrantScope, ...] = ("once", "session", "ttl")
GRANT_LABELS: dict[GrantScope, str] = {
    "once": "Just this one call",
    "session": "This call for the rest of the agent's session",
    "ttl": "This call for {ttl}",
}


def page_url(base_url: str, approval_id: str) -> str:
    """The approval page, where an approver authenticates and decides."""
    return f"{base_url.rstrip('/')}/approvals/{quote(approval_id, safe='')}"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, saying so when it had to be cut."""
    if len(text) <= limit:
        return text
    if len(CUT) >= limit:
        return text[: limit - 1] + "…"
    return text[: limit - len(CUT)] + CUT


def arguments_text(approval: Approval, limit: int) -> str:
    """The (already masked) arguments as indented JSON, cut to fit a chat message."""
    text = json.dumps(approval.arguments, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return truncate(text, limit)


def subject(approval: Approval) -> str:
    """What is being asked to run, e.g. ``Export records (ehr / export_records)``."""
    name = f"{approval.server} / {approval.tool}"
    return f"{approval.tool_title} ({name})" if approval.tool_title else name


def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def expiry(approval: Approval) -> str:
    """When an undecided approval turns into a denial, in absolute time (messages are read later)."""
    minutes = max(0, round((approval.expires_at - approval.created_at) / 60))
    return f"{utc(approval.expires_at)} ({minutes} min after it was asked)"


def grants_narrowest_first(approval: Approval) -> list[GrantScope]:
    """The releases the rule lets an approver choose, the smallest first."""
    return [scope for scope in NARROWEST_FIRST if scope in approval.grants] or ["once"]


def grant_label(approval: Approval, grant: GrantScope) -> str:
    """What approving with ``grant`` allows, e.g. ``This call for 30 min``."""
    return GRANT_LABELS[grant].format(ttl=human_duration(approval.grant_ttl))


def outcome(approval: Approval) -> str:
    """One line saying how it ended, e.g. ``Denied by bob@example.com: not this month``."""
    who = ", ".join(approval.decided_by)
    reason = approval.outcome_reason
    if approval.state == "approved":
        if approval.grant == "session":
            return f"Approved by {who} for the rest of the session"
        if approval.grant == "ttl" and approval.grant_until is not None:
            return f"Approved by {who} until {utc(approval.grant_until)}"
        return f"Approved by {who} for this call only"
    if approval.state == "denied":
        line = f"Denied by {who}" if who else "Denied"
        return f"{line}: {reason}" if reason else line
    if approval.state == "expired":
        return f"Expired: {reason or 'no decision in time'}"
    if approval.state == "cancelled":
        return f"Cancelled: {reason or 'the caller withdrew the request'}"
    return "Still waiting for a decision"
