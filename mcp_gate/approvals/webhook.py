"""Generic webhook: approval events POSTed as JSON, signed per the Standard Webhooks spec.

Any receiver (a ticketing bridge, a pager, a SIEM) can verify where an event came
from with the shared secret: ``webhook-signature`` is ``v1,`` and the base64
HMAC-SHA256 of ``"{webhook-id}.{webhook-timestamp}.{body}"``.  A message keeps
its ``webhook-id`` across retries, so receivers can drop duplicates; each attempt
is signed with its own timestamp, so a late retry still passes their freshness
check.  Decisions do not come back this way but through the approval API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

import anyio
import httpx2

from mcp_gate.approvals import render
from mcp_gate.approvals.channel import ChannelError
from mcp_gate.approvals.model import Approval
from mcp_gate.audit.writer import utc_timestamp
from mcp_gate.config import WebhookChannelConfig

logger = logging.getLogger(__name__)

EVENTS = {
    "approved": "approval.decided",
    "denied": "approval.decided",
    "expired": "approval.expired",
    "cancelled": "approval.cancelled",
}
MAX_DELAY = 60.0
"""Longest wait between two attempts, however many retries are configured."""


def signing_key(secret: str) -> bytes:
    """The HMAC key: a ``whsec_`` secret is base64 key bytes (as Standard Webhooks libraries read it)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def signature(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookChannel:
    """Delivers signed approval events to one URL, retrying with exponential backoff."""

    name = "webhook"

    def __init__(
        self,
        config: WebhookChannelConfig,
        http: httpx2.AsyncClient,
        *,
        base_url: str,
        backoff: float = 1.0,
    ) -> None:
        """``backoff`` is the first wait between attempts in seconds; it doubles each retry."""
        self.config = config
        self.http = http
        self.base_url = base_url
        self.backoff = backoff
        self._key = signing_key(config.secret.get_secret_value())

    async def notify(self, approval: Approval) -> None:
        await self._deliver("approval.requested", approval)
        approval.refs["webhook"] = "delivered"

    async def finished(self, approval: Approval) -> None:
        """Send the outcome event for approvals whose request this receiver got."""
        if approval.refs.get("webhook") == "delivered" and approval.state in EVENTS:
            await self._deliver(EVENTS[approval.state], approval)

    def event(self, event_type: str, approval: Approval) -> dict[str, Any]:
        """The JSON body: the approval as the API shows it, plus the page to decide on."""
        data = approval.public_view()
        data["url"] = render.page_url(self.base_url, approval.id)
        return {"type": event_type, "timestamp": utc_timestamp(), "data": data}

    async def _deliver(self, event_type: str, approval: Approval) -> None:
        message_id = "msg_" + secrets.token_urlsafe(16)
        body = json.dumps(self.event(event_type, approval), ensure_ascii=False, separators=(",", ":")).encode()
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            if attempt:
                await anyio.sleep(min(MAX_DELAY, self.backoff * 2 ** (attempt - 1)))
            problem = await self._attempt(message_id, body)
            if problem is None:
                return
            logger.warning(
                "webhook %s %s: attempt %d of %d failed: %s", event_type, message_id, attempt + 1, attempts, problem
            )
        raise ChannelError(f"webhook {event_type} not delivered after {attempts} attempts: {problem}")

    async def _attempt(self, message_id: str, body: bytes) -> str | None:
        """Why one POST failed, or None if the receiver took it (any 2xx)."""
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": signature(self._key, message_id, timestamp, body),
        }
        try:
            response = await self.http.post(self.config.url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            return exc.__class__.__name__
        return None if response.is_success else f"HTTP {response.status_code}"
