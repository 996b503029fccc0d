"""What an approval is: the call it is bound to, who may decide it, and what was decided.

An approval is bound to a ``request_digest`` (SHA-256 of the canonical JSON of
server, tool, arguments, requester and session), so a decision can only ever
release the exact call it was asked for; a changed argument is a new call.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mcp_gate.canonical import sha256_hex

State = Literal["pending", "approved", "denied", "expired", "cancelled"]
Verdict = Literal["approve", "deny"]
GrantScope = Literal["once", "session", "ttl"]
TERMINAL: frozenset[str] = frozenset({"approved", "denied", "expired", "cancelled"})


def request_digest(server: str, tool: str, arguments: dict[str, Any], requester: str, session: str) -> str:
    """The identity of a call for approval purposes."""
    return sha256_hex(
        {"server": server, "tool": tool, "arguments": arguments, "requester": requester, "session": session}
    )


def new_approval_id() -> str:
    return "apr_" + secrets.token_urlsafe(9)


@dataclass
class Vote:
    """One approver's decision, as recorded."""

    approver: str
    verdict: Verdict
    via: str
    at: float
    reason: str | None = None
    grant: GrantScope = "once"


@dataclass
class ApprovalRequest:
    """Everything a reviewer needs to decide on a held call, as the gateway hands it over."""

    digest: str
    call_id: str
    server: str
    tool: str
    tool_title: str | None
    arguments: dict[str, Any]
    """As shown to approvers: masked unless the rule says otherwise."""
    requester: str
    client: str | None
    session: str
    rule_id: str
    rule_reason: str | None
    justification: str | None
    approvers: list[str] | None
    """Who may decide; None means any known approver (and, over the client channel, the requester)."""
    quorum: int
    separate_requester: bool
    grants: list[GrantScope]
    grant_ttl: float


@dataclass
class Approval(ApprovalRequest):
    """One request for a human decision, and what has been decided about it."""

    id: str
    created_at: float
    expires_at: float
    state: State = "pending"
    votes: list[Vote] = field(default_factory=list)
    outcome_reason: str | None = None
    """Why it ended (the deny reason, "expired", "the caller is gone", …)."""
    decided_by: list[str] = field(default_factory=list)
    grant: GrantScope | None = None
    grant_until: float | None = None
    channels: dict[str, str] = field(default_factory=dict)
    """Channel name → "notified" or the reason it could not be used."""
    consumed: bool = False
    """A ``once`` grant releases one call; this marks it used."""
    refs: dict[str, str] = field(default_factory=dict)
    """Where channels put the request (e.g. a Slack message's channel and ts), so they can show the outcome there.

    Internal: records written before this field existed load with it empty, and
    ``public_view`` leaves it out.
    """

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Approval:
        data = dict(data)
        data["votes"] = [Vote(**vote) for vote in data.get("votes", [])]
        return cls(**data)

    def public_view(self) -> dict[str, Any]:
        """What the API and pages show about an approval (never raw values unless the rule allows)."""
        view = self.to_dict()
        del view["refs"]
        view["expires_in_s"] = max(0, round(self.expires_at - time.time()))
        return view
