"""Holding a call until a human decides: open (or resume) its approval, ask, wait, release.

The agent's own client is asked through MCP elicitation in its era: a
2025-11-25 client gets an ``elicitation/create`` request while the call is held;
a 2026-07-28 client gets ``input_required`` with a single-use, sealed
``requestState`` and answers by calling again.  Other channels are notified by
the ``Notifier``, and the call is held up to ``approvals.hold`` with progress
notifications; if nobody has decided by then, the agent is told the approval id
and that calling again with the same arguments resumes the wait.

Every path that is not a clear "approved" ends with the call not run.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp.shared.message import ServerMessageMetadata

from mcp_gate.approvals import (
    CLIENT,
    Approval,
    ApprovalRequest,
    Broker,
    DecisionRefused,
    request_digest,
)
from mcp_gate.approvals.notifier import Notifier
from mcp_gate.approvals.prompt import form_request, read_answer, url_request
from mcp_gate.call import Call, error_result
from mcp_gate.catalog import CatalogEntry
from mcp_gate.config import Config, Rule
from mcp_gate.relay import PARK_TTL, CallState, client_cannot_answer

logger = logging.getLogger(__name__)

PROMPT_KEY = "mcp-gate-approval"
"""The key of the approval question in an ``input_required`` result."""
PROGRESS_EVERY = 5.0


@dataclass(frozen=True)
class Hold:
    """A call the policy holds for approval, as the approval desk needs it."""

    entry: CatalogEntry
    rule: Rule
    rule_id: str
    arguments: dict[str, Any]
    """What the upstream will get if approved: the approval is bound to these."""
    shown_arguments: dict[str, Any]
    """What approvers see (masked unless the rule says otherwise)."""
    justification: str | None
    """The agent's reason, as approvers see it."""


@dataclass(frozen=True)
class Released:
    """The approval lets the call run."""

    approval: Approval


@dataclass(frozen=True)
class Refused:
    """The call does not run (now): the agent's answer, and the reason for the audit log."""

    result: types.CallToolResult
    reason: str


def _ended_message(approval: Approval) -> str:
    who = ", ".join(approval.decided_by) or "mcp-gate"
    if approval.state == "denied":
        why = f": {approval.outcome_reason}" if approval.outcome_reason else ""
        return f"mcp-gate: the call was not approved (approval {approval.id} denied by {who}{why}). Nothing was run."
    if approval.state == "expired":
        return f"mcp-gate: approval {approval.id} expired without a decision ({approval.outcome_reason}). Nothing was run."
    if approval.state == "cancelled":
        return f"mcp-gate: approval {approval.id} was cancelled ({approval.outcome_reason}). Nothing was run."
    return f"mcp-gate: approval {approval.id} was already used for an earlier call. Nothing was run; call again to ask anew."


def _pending_message(approval: Approval) -> str:
    asked = ", ".join(name for name, status in approval.channels.items() if status == "notified") or "the approval API"
    expiry = time.strftime("%H:%M:%S UTC", time.gmtime(approval.expires_at))
    return (
        f"mcp-gate: this call is waiting for approval {approval.id} (rule {approval.rule_id!r}); approvers were asked "
        f"via {asked}. It expires at {expiry}. Nothing has run yet. Call this tool again with exactly the same "
        "arguments to keep waiting for the decision."
    )


class ApprovalDesk:
    """The gateway's side of approvals: everything that needs the call's MCP context."""

    def __init__(self, config: Config, broker: Broker, notifier: Notifier, *, page_url: str | None) -> None:
        self.config = config
        self.broker = broker
        self.notifier = notifier
        self.page_url = page_url
        self._used_nonces: dict[str, float] = {}
        """Client-round nonces already answered (single use), with when, for pruning."""

    async def settle(self, call: Call, hold: Hold) -> Released | Refused | types.InputRequiredResult:
        """Decide whether a call the policy holds may run now."""
        caller, entry, rule = call.caller, hold.entry, hold.rule
        digest = request_digest(entry.upstream, entry.tool.name, hold.arguments, caller.principal, caller.session)
        if call.state is not None and call.state.approval is not None:
            approval = await self._take_client_answer(call, digest)
        else:
            standing = self.broker.standing_grant(digest)
            if standing is not None:
                return Released(standing)
            approval, created = self.broker.open(self._request(call, hold, digest))
            if created:
                via = rule.via or self.notifier.default_via()
                used = await self.notifier.ask(approval, via, client_problem=self._client_problem(call, approval, rule))
                if used is None:
                    await self.broker.refuse(approval, self.notifier.refusal_message(approval))
            if approval.pending and approval.channels.get(CLIENT) == "notified":
                if call.modern_client:
                    return self._client_round(call, approval, rule)
                approval = await self._ask_legacy_client(call, approval, rule)
            elif approval.pending:
                approval = await self._hold(call, approval, self.config.approvals.hold)
        return self._verdict(approval)

    def _verdict(self, approval: Approval) -> Released | Refused:
        if approval.pending:
            return Refused(error_result(_pending_message(approval)), f"approval {approval.id} pending")
        if approval.state == "approved" and self.broker.consume(approval):
            return Released(approval)
        state = approval.state if approval.state != "approved" else "already used"
        return Refused(error_result(_ended_message(approval)), f"approval {approval.id} {state}")

    def _request(self, call: Call, hold: Hold, digest: str) -> ApprovalRequest:
        rule, entry = hold.rule, hold.entry
        approvers = rule.approvers
        if isinstance(approvers, str):
            approvers = [CLIENT] if approvers == CLIENT else self.config.approvals.approvers[approvers]
        return ApprovalRequest(
            digest=digest,
            call_id=call.audit.call_id,
            server=entry.upstream,
            tool=entry.tool.name,
            tool_title=entry.tool.title,
            arguments=hold.shown_arguments,
            requester=call.caller.principal,
            client=call.caller.client,
            session=call.caller.session,
            rule_id=hold.rule_id,
            rule_reason=rule.reason,
            justification=hold.justification,
            approvers=list(approvers) if approvers is not None else None,
            quorum=rule.quorum,
            separate_requester=rule.separate_requester,
            grants=list(rule.grants),
            grant_ttl=rule.grant_ttl,
        )

    # ------------------------------------------------------------------ the agent's own client

    def _client_problem(self, call: Call, approval: Approval, rule: Rule) -> str | None:
        """Why the agent's client cannot be asked about this approval, or None if it can."""
        prompt, problem = self._choose_prompt(approval, rule, call)
        if prompt is None:
            return problem
        if isinstance(prompt.params, types.ElicitRequestFormParams):
            # In a form the person at the client decides; on the page an approver signs in.
            return self.broker.refusal(approval, call.caller.principal, CLIENT)
        return None

    def _choose_prompt(self, approval: Approval, rule: Rule, call: Call) -> tuple[types.ElicitRequest | None, str | None]:
        """The prompt to send (form, unless the rule wants the page or the client only takes URLs), or why none fits."""
        form = form_request(approval, base_url=self.page_url)
        form_problem = client_cannot_answer(call.ctx, form)
        if rule.elicitation == "form" and form_problem is None:
            return form, None
        if self.page_url is None:
            return None, form_problem or "the rule asks for the approval page, which is not served"
        link = url_request(approval, self.page_url)
        url_problem = client_cannot_answer(call.ctx, link)
        if url_problem is None:
            return link, None
        return None, form_problem or url_problem

    def _prompt(self, approval: Approval, rule: Rule, call: Call) -> types.ElicitRequest:
        request, problem = self._choose_prompt(approval, rule, call)
        assert request is not None, problem  # the client channel is only used when a prompt fits
        return request

    def _client_round(self, call: Call, approval: Approval, rule: Rule) -> types.InputRequiredResult:
        """Ask a 2026-07-28 client: the question rides back in ``input_required``; its retry answers."""
        request = self._prompt(approval, rule, call)
        state = CallState(call.audit.call_id, approval=approval.id, nonce=secrets.token_urlsafe(12))
        return types.InputRequiredResult(input_requests={PROMPT_KEY: request}, request_state=state.encode())

    async def _take_client_answer(self, call: Call, digest: str) -> Approval:
        """A 2026-07-28 client answered: check the round is this call's and unused, then decide."""
        state = call.state
        assert state is not None and state.approval is not None
        approval = self.broker.get(state.approval)
        if approval is None or approval.digest != digest:
            raise MCPError(code=types.INVALID_PARAMS, message="these answers belong to another call")
        if state.nonce is None or state.nonce in self._used_nonces:
            raise MCPError(code=types.INVALID_PARAMS, message="these answers were already used")
        self._remember_nonce(state.nonce)
        answer = (call.params.input_responses or {}).get(PROMPT_KEY)
        if isinstance(answer, types.ElicitResult) and approval.pending and self._is_url_prompt(answer):
            return await self._hold(call, approval, self.config.approvals.hold)
        await self._apply(approval, call, answer)
        return self.broker.get(approval.id) or approval

    def _remember_nonce(self, nonce: str) -> None:
        now = time.monotonic()
        if len(self._used_nonces) > 10_000:
            # A sealed state expires after PARK_TTL, so older nonces can never be presented again.
            self._used_nonces = {n: t for n, t in self._used_nonces.items() if now - t < PARK_TTL}
        self._used_nonces[nonce] = now

    @staticmethod
    def _is_url_prompt(answer: types.ElicitResult) -> bool:
        # A URL prompt is answered "accept" with no content: the decision is made on the page.
        return answer.action == "accept" and not answer.content

    async def _ask_legacy_client(self, call: Call, approval: Approval, rule: Rule) -> Approval:
        """Ask a 2025-11-25 client mid-call, while still listening for decisions from elsewhere."""
        request = self._prompt(approval, rule, call)

        async def prompt() -> None:
            try:
                result: Any = await call.ctx.session.send_request(
                    request, types.ElicitResult, metadata=ServerMessageMetadata(related_request_id=call.ctx.request_id)
                )
            except (MCPError, NoBackChannelError) as exc:
                logger.warning("approval %s: the client prompt failed: %s", approval.id, exc)
                result = None
            if isinstance(request.params, types.ElicitRequestURLParams) and self._is_url_prompt(result):
                return  # the decision comes from the page
            await self._apply(approval, call, result)

        async with anyio.create_task_group() as tg:
            tg.start_soon(prompt)
            # The person at the client is the one deciding: wait as long as the approval lives.
            approval = await self._hold(call, approval, max(0.0, approval.expires_at - time.time()))
            tg.cancel_scope.cancel()
        return approval

    async def _apply(self, approval: Approval, call: Call, result: Any) -> None:
        answer = read_answer(result)
        if not approval.pending:
            return
        if answer.verdict is None:
            await self.broker.cancel(approval, answer.reason or "no decision")
            return
        try:
            await self.broker.decide(
                approval.id, call.caller.principal, answer.verdict, via=CLIENT, reason=answer.reason, grant=answer.grant
            )
        except DecisionRefused as exc:
            logger.warning("approval %s: the client's answer was refused: %s", approval.id, exc)

    # ------------------------------------------------------------------ waiting

    async def _hold(self, call: Call, approval: Approval, limit: float) -> Approval:
        """Wait up to ``limit`` for a decision, telling the client we are still waiting."""
        started = time.monotonic()
        try:
            while approval.pending:
                elapsed = time.monotonic() - started
                if elapsed >= limit:
                    break
                await call.ctx.session.report_progress(
                    round(elapsed, 1), round(limit, 1), f"waiting for approval {approval.id}"
                )
                approval = await self.broker.wait(approval, min(PROGRESS_EVERY, limit - elapsed))
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.broker.cancel(approval, "the client cancelled the call")
            raise
        return approval
