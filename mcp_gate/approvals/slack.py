"""Slack: post the request with Approve/Deny buttons, take the clicks back, show the outcome.

Outgoing, ``SlackChannel`` calls the Web API (``chat.postMessage``, ``chat.update``,
``views.open``) with the bot token.  Incoming, ``slack_routes`` serves the
interactivity URL: every callback must carry a valid v0 signature over the raw
body, fresh and never seen before; the clicking Slack user id (never a display
name) must map to an approver in the config; and the broker has the last word
on who may decide.  Anything else is answered without deciding, written to the
audit log as ``callback.rejected``, and explained to the person who clicked.

Slack wants an answer within 3 seconds, so the endpoint acknowledges first and
makes its own Slack calls (and the decision, whose listeners call Slack) after.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mcp_gate.approvals import render
from mcp_gate.approvals.broker import Broker, DecisionRefused
from mcp_gate.approvals.channel import ChannelError
from mcp_gate.approvals.model import Approval, GrantScope, Verdict
from mcp_gate.audit import AuditError, AuditLog
from mcp_gate.config import SlackChannelConfig
from mcp_gate.units import human_duration

logger = logging.getLogger(__name__)

VIA = "slack"
APPROVE = "mcp_gate_approve"
APPROVE_SESSION = "mcp_gate_approve_session"
APPROVE_TTL = "mcp_gate_approve_ttl"
ACTION_OF_GRANT: dict[GrantScope, str] = {"once": APPROVE, "session": APPROVE_SESSION, "ttl": APPROVE_TTL}
"""One Approve button per release the rule allows; the button says which, its value is only the approval id."""
GRANT_OF_ACTION = {action: grant for grant, action in ACTION_OF_GRANT.items()}
BUTTON_LABELS: dict[GrantScope, str] = {"once": "Approve", "session": "Approve for the session", "ttl": "Approve for {ttl}"}
DENY = "mcp_gate_deny"
DENY_VIEW = "mcp_gate_deny_reason"
REASON = "reason"
"""block_id and action_id of the reason input in the deny form."""
SIGNATURE_WINDOW = 300.0
"""Slack's own limit: callbacks older (or newer) than five minutes are refused."""
MAX_BODY = 1 << 20
"""Interactivity payloads are a few kilobytes; anything this large is not from Slack."""
ARGUMENTS_LIMIT = 2500

HEADINGS = {
    "pending": "Approval needed",
    "approved": "Approved",
    "denied": "Denied",
    "expired": "Expired",
    "cancelled": "Cancelled",
}
MARKS = {
    "approved": ":white_check_mark:",
    "denied": ":no_entry:",
    "expired": ":hourglass:",
    "cancelled": ":heavy_multiplication_x:",
}


def escape(text: str) -> str:
    """Slack mrkdwn escaping: agent-supplied text cannot become a link, mention or ``<!channel>``."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = 3000) -> dict[str, Any]:
    """A text object Slack shows verbatim (no markup, no emoji codes)."""
    return {"type": "plain_text", "text": render.truncate(text, limit) or " ", "emoji": False}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


class SlackChannel:
    """Posts approval requests to one Slack channel and keeps those messages up to date."""

    name = VIA

    def __init__(self, config: SlackChannelConfig, http: httpx2.AsyncClient, *, base_url: str) -> None:
        self.config = config
        self.http = http
        self.base_url = base_url

    def approver_for(self, slack_user_id: str) -> str | None:
        """The approver identity a Slack user acts as, or None: only the configured mapping counts."""
        return self.config.users.get(slack_user_id)

    async def notify(self, approval: Approval) -> None:
        """Post the request; keeps the message's channel and ts in ``approval.refs`` for ``finished``."""
        data = await self._call(
            "chat.postMessage",
            {"channel": self.config.channel, "text": self._fallback(approval), "blocks": self.request_blocks(approval)},
        )
        channel, ts = data.get("channel"), data.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            raise ChannelError("Slack chat.postMessage answered without the message's channel and ts")
        approval.refs["slack.channel"] = channel
        approval.refs["slack.ts"] = ts

    async def finished(self, approval: Approval) -> None:
        """Replace the buttons with the outcome, on the message ``notify`` posted (if it did)."""
        channel, ts = approval.refs.get("slack.channel"), approval.refs.get("slack.ts")
        if channel is None or ts is None:
            return
        await self._call(
            "chat.update",
            {"channel": channel, "ts": ts, "text": self._fallback(approval), "blocks": self.outcome_blocks(approval)},
        )

    async def open_deny_form(self, trigger_id: str, approval: Approval, response_url: str) -> None:
        """Ask the approver why they deny; the answer comes back as a ``view_submission``."""
        await self._call("views.open", {"trigger_id": trigger_id, "view": self.deny_form(approval, response_url)})

    async def tell(self, response_url: str, text: str) -> None:
        """A message only the clicking user sees, next to the request (no token: the URL is the credential)."""
        body = {"response_type": "ephemeral", "replace_original": False, "text": escape(text)}
        try:
            response = await self.http.post(response_url, json=body)
        except httpx2.HTTPError as exc:
            raise ChannelError(f"Slack response_url failed: {exc.__class__.__name__}") from None
        if not response.is_success:
            raise ChannelError(f"Slack response_url answered HTTP {response.status_code}")

    # ------------------------------------------------------------------ what approvers see

    def request_blocks(self, approval: Approval) -> list[dict[str, Any]]:
        """The request with everything needed to decide, an Approve button per allowed grant, and Deny."""
        grants = render.grants_narrowest_first(approval)
        approve = [self._approve_button(approval, grant, primary=grant == grants[0]) for grant in grants]
        deny = {"type": "button", "action_id": DENY, "text": plain("Deny…"), "style": "danger", "value": approval.id}
        actions = {"type": "actions", "block_id": "mcp_gate_decision", "elements": [*approve, deny]}
        return [*self._context(approval), self._link(approval), actions]

    def _approve_button(self, approval: Approval, grant: GrantScope, *, primary: bool) -> dict[str, Any]:
        """An Approve button for one grant, with a confirmation that says what it releases."""
        label = BUTTON_LABELS[grant].format(ttl=human_duration(approval.grant_ttl))
        confirm_text = f"Run {render.subject(approval)} for {approval.requester}. {render.grant_label(approval, grant)}."
        button: dict[str, Any] = {
            "type": "button",
            "action_id": ACTION_OF_GRANT[grant],
            "text": plain(label, 75),
            "value": approval.id,
            "confirm": {
                "title": plain("Approve this call?", 100),
                "text": plain(confirm_text, 300),
                "confirm": plain(label, 30),
                "deny": plain("Back"),
                "style": "primary",
            },
        }
        if primary:  # the smallest release is the one Slack highlights
            button["style"] = "primary"
        return button

    def outcome_blocks(self, approval: Approval) -> list[dict[str, Any]]:
        """The same context, the outcome instead of the buttons."""
        line = f"{MARKS.get(approval.state, '')} *{escape(render.outcome(approval))}*".strip()
        return [*self._context(approval), {"type": "section", "text": mrkdwn(line)}, self._link(approval)]

    def deny_form(self, approval: Approval, response_url: str) -> dict[str, Any]:
        """A modal with a required reason; ``private_metadata`` says which approval and where to answer."""
        return {
            "type": "modal",
            "callback_id": DENY_VIEW,
            "private_metadata": json.dumps({"approval_id": approval.id, "response_url": response_url}),
            "title": plain("Deny this call", 24),
            "submit": plain("Deny"),
            "close": plain("Back"),
            "blocks": [
                {"type": "section", "text": plain(f"{approval.requester} asked to run {render.subject(approval)}.")},
                {
                    "type": "input",
                    "block_id": REASON,
                    "label": plain("Reason"),
                    "hint": plain("Recorded in the audit log with your name."),
                    "element": {"type": "plain_text_input", "action_id": REASON, "multiline": True, "max_length": 1000},
                },
            ],
        }

    def _context(self, approval: Approval) -> list[dict[str, Any]]:
        expires = int(approval.expires_at)
        facts = [
            ("Requester", approval.requester),
            ("Client", approval.client or "unknown"),
            ("Session", approval.session),
            ("Rule", approval.rule_id),
        ]
        fields = [mrkdwn(f"*{label}*\n{escape(render.truncate(value, 300))}") for label, value in facts]
        fields.append(
            mrkdwn(f"*Expires*\n<!date^{expires}^{{date_short_pretty}} at {{time}}|{render.expiry(approval)}>")
        )
        why = approval.rule_reason or f"Rule {approval.rule_id} asks a human to decide."
        return [
            {"type": "header", "text": plain(f"{HEADINGS[approval.state]}: {render.subject(approval)}", 150)},
            {"type": "section", "fields": fields},
            {"type": "section", "text": mrkdwn(f"*Why it needs approval*\n{escape(render.truncate(why, 2000))}")},
            {
                "type": "section",
                "text": plain(f"Justification from the agent: {approval.justification or '(none given)'}", 2000),
            },
            {"type": "section", "text": mrkdwn("*Arguments*")},
            {
                "type": "rich_text",
                "elements": [
                    {
                        "type": "rich_text_preformatted",
                        "elements": [{"type": "text", "text": render.arguments_text(approval, ARGUMENTS_LIMIT)}],
                    }
                ],
            },
        ]

    def _link(self, approval: Approval) -> dict[str, Any]:
        url = render.page_url(self.base_url, approval.id)
        return {"type": "context", "elements": [mrkdwn(f"<{url}|Open the approval page> · `{approval.id}`")]}

    def _fallback(self, approval: Approval) -> str:
        """Notification text: no arguments, since it shows on lock screens."""
        if approval.pending:
            return escape(f"Approval needed: {approval.requester} wants to run {render.subject(approval)}")
        return escape(f"{render.outcome(approval)} ({render.subject(approval)})")

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.config.api_url.rstrip('/')}/{method}"
        headers = {
            "Authorization": f"Bearer {self.config.bot_token.get_secret_value()}",
            "Content-Type": "application/json; charset=utf-8",
        }
        try:
            response = await self.http.post(url, content=json.dumps(body).encode(), headers=headers)
        except httpx2.HTTPError as exc:
            raise ChannelError(f"Slack {method} failed: {exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise ChannelError(f"Slack {method} answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise ChannelError(f"Slack {method} answered something other than JSON") from None
        if not isinstance(data, dict) or data.get("ok") is not True:
            error = data.get("error") if isinstance(data, dict) else None
            raise ChannelError(f"Slack {method} refused: {str(error or 'no reason given')[:100]}")
        return data


# ---------------------------------------------------------------------- interactivity


class SlackSignature:
    """Checks Slack's v0 request signatures, and remembers them so a captured callback cannot be replayed."""

    def __init__(self, signing_secret: str) -> None:
        self._key = signing_secret.encode()
        self._seen: dict[str, int] = {}

    def problem(self, timestamp: str | None, signature: str | None, body: bytes) -> str | None:
        """Why this request is not a fresh, authentic Slack callback, or None if it is."""
        if not timestamp or not signature:
            return "missing signature headers"
        if not re.fullmatch(r"[0-9]{1,12}", timestamp):
            return "malformed timestamp"
        now, sent = time.time(), int(timestamp)
        if abs(now - sent) > SIGNATURE_WINDOW:
            return "stale timestamp"
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._key, base, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("latin-1")):
            return "bad signature"
        # Outside the window the timestamp check refuses a signature anyway, so only recent ones are kept.
        self._seen = {seen: at for seen, at in self._seen.items() if at >= now - SIGNATURE_WINDOW}
        if signature in self._seen:
            return "replayed callback"
        self._seen[signature] = sent
        return None


def slack_routes(broker: Broker, channel: SlackChannel, audit: AuditLog, *, path: str = "/hooks/slack") -> list[Route]:
    """The interactivity endpoint to mount in the gateway's HTTP app (Slack's "Request URL")."""
    hook = SlackHook(broker, channel, audit, SlackSignature(channel.config.signing_secret.get_secret_value()))
    return [Route(path, hook.handle, methods=["POST"])]


class SlackHook:
    """Turns authentic clicks by mapped approvers into broker decisions; refuses and records the rest."""

    def __init__(self, broker: Broker, channel: SlackChannel, audit: AuditLog, signature: SlackSignature) -> None:
        self.broker = broker
        self.channel = channel
        self.audit = audit
        self.signature = signature

    async def handle(self, request: Request) -> Response:
        remote = request.client.host if request.client else None
        body = await _read_at_most(request, MAX_BODY)
        if body is None:
            self._reject("body too large", remote=remote)
            return PlainTextResponse("payload too large", status_code=413)
        problem = self.signature.problem(
            request.headers.get("x-slack-request-timestamp"), request.headers.get("x-slack-signature"), body
        )
        if problem is not None:
            self._reject(problem, remote=remote)
            return PlainTextResponse("invalid request signature", status_code=401)
        try:
            payload = _payload(body)
            if payload.get("type") == "block_actions":
                return self._clicked(payload)
            if payload.get("type") == "view_submission" and _dig(payload, "view", "callback_id") == DENY_VIEW:
                return self._submitted(payload)
        except ValueError as exc:
            self._reject(f"malformed payload: {exc}", remote=remote)
            return PlainTextResponse("malformed payload", status_code=400)
        return Response(status_code=200)  # a closed form or some other interaction: nothing to decide

    def _clicked(self, payload: dict[str, Any]) -> Response:
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        action_id = action.get("action_id")
        if action_id not in GRANT_OF_ACTION and action_id != DENY:
            return Response(status_code=200)
        approval_id, user_id = _dig(action, "value"), _dig(payload, "user", "id")
        response_url = _dig(payload, "response_url")
        try:
            approver, approval = self._check(user_id, approval_id)
        except Refused as refused:
            self._reject(str(refused), approval_id=approval_id, approver=refused.approver, slack_user=user_id)
            return self._ack(self.channel.tell, response_url, f"Nothing was decided: {refused}.")
        if action_id == DENY:
            return self._ack(self._ask_reason, _dig(payload, "trigger_id"), approval, response_url)
        grant = GRANT_OF_ACTION[action_id]
        return self._ack(self._decide, approval_id, approver, "approve", None, user_id, response_url, grant)

    def _submitted(self, payload: dict[str, Any]) -> Response:
        view = payload["view"]
        try:
            meta = json.loads(_dig(view, "private_metadata"))
        except json.JSONDecodeError:
            raise ValueError("private_metadata is not JSON") from None
        approval_id, response_url = _dig(meta, "approval_id"), _dig(meta, "response_url")
        reason = _dig(view, "state", "values", REASON, REASON, "value").strip()
        user_id = _dig(payload, "user", "id")
        try:
            approver, _ = self._check(user_id, approval_id)
        except Refused as refused:
            self._reject(str(refused), approval_id=approval_id, approver=refused.approver, slack_user=user_id)
            return _form_error(f"Nothing was decided: {refused}.")
        if not reason:
            return _form_error("A denial needs a reason.")
        return self._ack(self._decide, approval_id, approver, "deny", reason, user_id, response_url)

    def _check(self, user_id: str, approval_id: str) -> tuple[str, Approval]:
        """The approver a click acts as and the approval it is for; the broker checks again when deciding."""
        approver = self.channel.approver_for(user_id)
        if approver is None:
            raise Refused(f"Slack user {user_id} is not mapped to an approver")
        approval = self.broker.get(approval_id)
        if approval is None:
            raise Refused(f"no approval {approval_id!r}", approver)
        if not approval.pending:
            raise Refused(f"already decided ({approval.state})", approver)
        refusal = self.broker.refusal(approval, approver, VIA)
        if refusal is not None:
            raise Refused(refusal, approver)
        return approver, approval

    async def _decide(
        self,
        approval_id: str,
        approver: str,
        verdict: Verdict,
        reason: str | None,
        user_id: str,
        response_url: str,
        grant: GrantScope = "once",
    ) -> None:
        """Hand the decision to the broker; tell the clicking user when it did not count."""
        try:
            approval = await self.broker.decide(approval_id, approver, verdict, via=VIA, reason=reason, grant=grant)
        except DecisionRefused as exc:
            self._reject(str(exc), approval_id=approval_id, approver=approver, slack_user=user_id)
            await self.channel.tell(response_url, f"Nothing was decided: {exc}.")
            return
        if approval.pending:  # a quorum: the message only changes once enough approvers agreed
            votes = len({vote.approver for vote in approval.votes})
            await self.channel.tell(response_url, f"Your approval is recorded ({votes} of {approval.quorum} needed).")

    async def _ask_reason(self, trigger_id: str, approval: Approval, response_url: str) -> None:
        try:
            await self.channel.open_deny_form(trigger_id, approval, response_url)
        except ChannelError as exc:
            logger.warning("could not open the Slack deny form: %s", exc)
            page = render.page_url(self.channel.base_url, approval.id)
            await self.channel.tell(
                response_url, f"The deny form did not open ({exc}); deny on the approval page: {page}"
            )

    def _ack(self, work: Callable[..., Awaitable[None]], *args: Any) -> Response:
        """Answer Slack now; ``work`` runs once the answer is sent."""
        return Response(status_code=200, background=BackgroundTask(_after_ack, work, *args))

    def _reject(self, reason: str, **fields: str | None) -> None:
        logger.warning("Slack callback rejected: %s", reason)
        try:
            self.audit.write("callback.rejected", {"channel": VIA, "reason": reason, **fields})
        except AuditError:
            # The callback is refused either way; the failure itself is already logged as critical.
            logger.critical("could not record a rejected Slack callback (%s)", reason)


class Refused(Exception):
    """A callback that must not decide anything; the message says why and is shown to the clicker."""

    def __init__(self, reason: str, approver: str | None = None) -> None:
        super().__init__(reason)
        self.approver = approver


def _form_error(message: str) -> JSONResponse:
    """Keeps the deny form open with ``message`` under the reason field."""
    return JSONResponse({"response_action": "errors", "errors": {REASON: message}})


async def _after_ack(work: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Slack already has its answer, so a failure here can only be logged."""
    try:
        await work(*args)
    except Exception:  # noqa: BLE001 - nobody is left to tell but the log
        logger.exception("Slack follow-up %s failed", getattr(work, "__name__", work))


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _payload(body: bytes) -> dict[str, Any]:
    """The JSON in the form field ``payload`` that Slack posts."""
    values = parse_qs(body.decode("utf-8", "replace")).get("payload")
    if not values:
        raise ValueError("no payload field")
    try:
        payload = json.loads(values[0])
    except json.JSONDecodeError:
        raise ValueError("payload is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("payload is not an object")
    return payload


def _dig(data: Any, *path: str) -> str:
    """The string at ``path`` in a payload; ``ValueError`` if the payload has another shape."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            raise ValueError(f"no {'.'.join(path)}")
        data = data[key]
    if not isinstance(data, str):
        raise ValueError(f"{'.'.join(path)} is not a string")
    return data
