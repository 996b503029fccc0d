"""The approval state machine: ``pending → approved | denied | expired | cancelled``.

The first terminal outcome wins and every later attempt is answered "already
decided" and recorded.  Who may decide is checked here, in one place, for every
channel: the configured approvers, the four-eyes rule (``separate_requester``),
the quorum of *distinct* approvers, and the rule that an answer from the
requesting session itself never counts when four eyes or a quorum are asked for.
All of it runs on the gateway's event loop without awaiting between checking
and recording a decision, so two approvers racing get exactly one winner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import anyio
import anyio.abc

from mcp_gate.approvals.model import (
    TERMINAL,
    Approval,
    ApprovalRequest,
    GrantScope,
    Verdict,
    Vote,
    new_approval_id,
)
from mcp_gate.approvals.store import Store
from mcp_gate.audit import AuditError, AuditLog
from mcp_gate.audit.records import utc_timestamp
from mcp_gate.config import ApprovalsConfig

logger = logging.getLogger(__name__)

CLIENT = "client"
"""The channel name of the agent's own client (elicitation)."""

SYSTEM = "mcp-gate"
"""Who "decided" when nobody could (no channel reachable, the client cancelled)."""

Listener = Callable[[Approval], Awaitable[None]]


class DecisionRefused(Exception):
    """A decision was not accepted; the message says why and is shown to whoever tried."""


class Broker:
    """Holds approvals, applies decisions, expires them, and wakes whoever waits on them."""

    def __init__(
        self,
        config: ApprovalsConfig,
        store: Store,
        audit: AuditLog,
        *,
        known_approvers: set[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.audit = audit
        self.known_approvers = known_approvers
        self._clock = clock
        self._changed: dict[str, anyio.Event] = {}
        self._latest: dict[tuple[str, str], str] = {}
        """(digest, session) → the newest approval for that call."""
        self._grants: dict[str, str] = {}
        """digest → an approval whose session or ttl grant covers that call."""
        self._listeners: list[Listener] = []
        self._task_group: anyio.abc.TaskGroup | None = None

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Expire what a previous run left pending, then time out approvals until cancelled."""
        for approval in list(self.store.pending()):
            self._end(approval, "expired", "the gateway restarted, so the call that asked for it is gone")
            await self._tell_listeners(approval)  # e.g. take the buttons off its Slack message
        async with anyio.create_task_group() as tg:
            self._task_group = tg
            task_status.started()
            await anyio.sleep_forever()

    def add_listener(self, listener: Listener) -> None:
        """Called with each approval that reaches a final state (e.g. to update a Slack message)."""
        self._listeners.append(listener)

    # ------------------------------------------------------------------ opening

    def open(self, request: ApprovalRequest) -> tuple[Approval, bool]:
        """The approval already covering this exact call in this session, or a new pending one.

        A call asked again (the agent resuming after "pending") attaches to its
        pending approval, takes an approval granted meanwhile, and hears a recent
        denial again instead of asking approvers a second time.
        """
        existing = self._current(request.digest, request.session)
        if existing is not None:
            return existing, False
        now = self._clock()
        approval = Approval(
            id=new_approval_id(),
            created_at=now,
            expires_at=now + self.config.timeout,
            **asdict(request),
        )
        self.store.save(approval)
        self._latest[(approval.digest, approval.session)] = approval.id
        self.record(
            "approval.requested",
            approval,
            expires=utc_timestamp(int(approval.expires_at * 1000)),
            request_digest=approval.digest,
            approvers=approval.approvers,
            quorum=approval.quorum,
            justification=approval.justification,
        )
        if self._task_group is not None:
            self._task_group.start_soon(self._expire_later, approval.id)
        return approval, True

    def _current(self, digest: str, session: str) -> Approval | None:
        approval_id = self._latest.get((digest, session))
        approval = self.store.get(approval_id) if approval_id else None
        if approval is None or approval.created_at < self._clock() - self.config.timeout:
            return None
        if approval.pending or approval.state == "denied" or (approval.state == "approved" and not approval.consumed):
            return approval
        return None

    def standing_grant(self, digest: str) -> Approval | None:
        """An earlier approval whose session or ttl grant still covers this exact call."""
        approval_id = self._grants.get(digest)
        approval = self.store.get(approval_id) if approval_id else None
        if approval is None or (approval.grant_until is not None and approval.grant_until <= self._clock()):
            return None
        return approval

    def consume(self, approval: Approval) -> bool:
        """Take the release an approval grants; a ``once`` grant releases exactly one call."""
        if approval.state != "approved":
            return False
        if approval.grant == "once":
            if approval.consumed:
                return False
            approval.consumed = True
            self.store.save(approval)
            return True
        return approval.grant_until is None or approval.grant_until > self._clock()

    def get(self, approval_id: str) -> Approval | None:
        return self.store.get(approval_id)

    # ------------------------------------------------------------------ deciding

    def refusal(self, approval: Approval, approver: str, via: str) -> str | None:
        """Why ``approver`` may not decide this approval over ``via``, or None if they may."""
        if via == CLIENT:
            if approval.separate_requester:
                return "this rule needs someone other than the requester to decide"
            if approval.quorum > 1:
                return f"this rule needs {approval.quorum} approvers; the requester's own answer does not count"
            if approval.approvers is not None and approval.approvers != [CLIENT] and approver not in approval.approvers:
                return f"{approver} is not an approver for this rule"
            return None
        if approval.approvers is not None:
            if approver not in approval.approvers:
                return f"{approver} is not an approver for this rule"
        elif approver not in self.known_approvers:
            return f"{approver} is not a configured approver"
        if approval.separate_requester and approver == approval.requester:
            return "the requester may not approve their own call"
        return None

    async def decide(
        self,
        approval_id: str,
        approver: str,
        verdict: Verdict,
        *,
        via: str,
        reason: str | None = None,
        grant: GrantScope = "once",
    ) -> Approval:
        """Record one approver's decision; raises ``DecisionRefused`` saying why it did not count."""
        approval = self.store.get(approval_id)
        if approval is None:
            raise DecisionRefused(f"no approval {approval_id!r}")
        reason = (reason or "").strip() or None
        was_pending = approval.pending
        problem = self._decision_problem(approval, approver, verdict, via, reason, grant)
        if was_pending and not approval.pending:
            await self._tell_listeners(approval)  # it expired just now, on this late decision
        if problem is not None:
            self.record(
                "approval.decided", approval, approver=approver, decision=verdict, channel=via, outcome="refused", reason=problem
            )
            raise DecisionRefused(problem)
        # Recorded before it counts: a vote the audit log does not have must not release anything.
        self.record(
            "approval.decided",
            approval,
            approver=approver,
            decision=verdict,
            channel=via,
            reason=reason,
            grant=grant if verdict == "approve" else None,
            outcome="recorded",
        )
        approval.votes.append(Vote(approver, verdict, via, self._clock(), reason, grant))
        if verdict == "deny":
            self._end(approval, "denied", reason, decided_by=[approver])
        else:
            approving = [v for v in approval.votes if v.verdict == "approve"]
            if len({v.approver for v in approving}) >= approval.quorum:
                chosen = {v.grant for v in approving}
                grant_chosen = chosen.pop() if len(chosen) == 1 else "once"
                self._end(
                    approval,
                    "approved",
                    None,
                    decided_by=sorted({v.approver for v in approving}),
                    grant=grant_chosen,
                )
            else:
                self.store.save(approval)
        await self._tell_listeners(approval)
        return approval

    def _decision_problem(
        self, approval: Approval, approver: str, verdict: Verdict, via: str, reason: str | None, grant: GrantScope
    ) -> str | None:
        if approval.state != "pending":
            return f"already decided ({approval.state})"
        if approval.expires_at <= self._clock():
            self._end(approval, "expired", "no decision in time")
            return "already decided (expired)"
        refusal = self.refusal(approval, approver, via)
        if refusal is not None:
            return refusal
        if any(vote.approver == approver for vote in approval.votes):
            return f"{approver} has already decided on this approval"
        if verdict == "deny" and reason is None:
            return "a denial needs a reason"
        if verdict == "approve" and grant not in approval.grants:
            return f"this rule allows granting {', '.join(approval.grants)}, not {grant}"
        return None

    async def cancel(self, approval: Approval, reason: str) -> None:
        """The call that asked is gone (the client cancelled it): nobody needs to decide any more."""
        if approval.pending:
            self._end(approval, "cancelled", reason)
            await self._tell_listeners(approval)

    async def refuse(self, approval: Approval, reason: str) -> None:
        """End an approval no channel could carry: denied, saying why."""
        if approval.pending:
            self._end(approval, "denied", reason)
            await self._tell_listeners(approval)

    # ------------------------------------------------------------------ waiting

    async def wait(self, approval: Approval, timeout: float) -> Approval:
        """Wait until the approval is final or ``timeout`` passes; returns its latest state."""
        with anyio.move_on_after(timeout):
            while approval.pending:
                await self._event(approval.id).wait()
                approval = self.store.get(approval.id) or approval
        return approval

    def _event(self, approval_id: str) -> anyio.Event:
        event = self._changed.get(approval_id)
        if event is None:
            event = self._changed[approval_id] = anyio.Event()
        return event

    def _end(
        self,
        approval: Approval,
        state: str,
        reason: str | None,
        *,
        decided_by: list[str] | None = None,
        grant: GrantScope | None = None,
    ) -> None:
        """Make an approval final: the record is written first, so nothing is released unaudited."""
        grant_until = self._clock() + approval.grant_ttl if grant == "ttl" else None
        if state == "expired":
            self.record("approval.expired", approval, reason=reason)
        else:
            self.record(
                "approval.decided",
                approval,
                decision=state,
                approver=",".join(decided_by or []) or SYSTEM,
                reason=reason,
                grant=grant,
                grant_expires=utc_timestamp(int(grant_until * 1000)) if grant_until else None,
                outcome="final",
            )
        approval.state = state  # type: ignore[assignment]
        approval.outcome_reason = reason
        approval.decided_by = decided_by or []
        approval.grant = grant
        approval.grant_until = grant_until
        self.store.save(approval)
        if grant in ("session", "ttl"):
            self._grants[approval.digest] = approval.id
        event = self._changed.pop(approval.id, None)
        if event is not None:
            event.set()

    async def _expire_later(self, approval_id: str) -> None:
        approval = self.store.get(approval_id)
        if approval is None:
            return
        await anyio.sleep(max(0.0, approval.expires_at - self._clock()))
        approval = self.store.get(approval_id)
        if approval is not None and approval.pending:
            try:
                self._end(approval, "expired", "no decision in time")
            except AuditError:
                # Already logged loudly; an approval that cannot be recorded as expired still
                # must not be decided later, so it ends anyway (which releases nothing).
                approval.state = "expired"
                approval.outcome_reason = "no decision in time"
                self.store.save(approval)
            await self._tell_listeners(approval)

    async def _tell_listeners(self, approval: Approval) -> None:
        if approval.state not in TERMINAL:
            return
        for listener in self._listeners:
            try:
                await listener(approval)
            except Exception:  # noqa: BLE001 - an outcome update must not undo the decision
                logger.exception("updating a channel about approval %s failed", approval.id)

    def record(self, event: str, approval: Approval, **fields: Any) -> None:
        """Write an approval event to the audit log, with the call it belongs to."""
        try:
            self.audit.write(
                event,
                {
                    "call_id": approval.call_id,
                    "approval_id": approval.id,
                    "principal": approval.requester,
                    "client": approval.client,
                    "session": approval.session,
                    "server": approval.server,
                    "tool": approval.tool,
                    "rule": approval.rule_id,
                    **fields,
                },
            )
        except AuditError:
            logger.critical("could not record %s for approval %s", event, approval.id)
            raise
