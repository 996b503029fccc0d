"""Microsoft Teams: an Adaptive Card with the request and a button to the approval page.

A Teams workflow webhook can post cards but cannot take button clicks back (that
needs a Bot Framework bot), so approvers decide on the gateway's approval page,
where they authenticate.  Webhook messages cannot be edited either: the outcome
is a second, short card.  The webhook URL carries its own signature, so it is a
secret: no error message or log line includes it.

Text goes into ``RichTextBlock`` runs, which Teams shows verbatim (``TextBlock``
would render Markdown), so nothing the agent wrote can become a link.
"""

from __future__ import annotations

from typing import Any

import httpx2

from mcp_gate.approvals import render
from mcp_gate.approvals.channel import ChannelError
from mcp_gate.approvals.model import Approval
from mcp_gate.config import TeamsChannelConfig

ARGUMENTS_LIMIT = 2500


class TeamsChannel:
    """Posts approval requests, and later their outcomes, to a Teams channel's workflow webhook."""

    name = "teams"

    def __init__(self, config: TeamsChannelConfig, http: httpx2.AsyncClient, *, base_url: str) -> None:
        self.config = config
        self.http = http
        self.base_url = base_url

    async def notify(self, approval: Approval) -> None:
        await self._post(self.request_card(approval))
        approval.refs["teams"] = "posted"

    async def finished(self, approval: Approval) -> None:
        """Post the outcome, if the request was posted here (a webhook cannot edit the first card)."""
        if approval.refs.get("teams") == "posted":
            await self._post(self.outcome_card(approval))

    def request_card(self, approval: Approval) -> dict[str, Any]:
        facts = {
            "Requester": approval.requester,
            "Client": approval.client or "unknown",
            "Session": approval.session,
            "Rule": approval.rule_id,
            "Why": approval.rule_reason or f"Rule {approval.rule_id} asks a human to decide.",
            "Justification": approval.justification or "(none given)",
            "Expires": render.expiry(approval),
        }
        lines = [
            _runs({"text": f"{title}: ", "weight": "Bolder"}, {"text": render.truncate(value, 500)})
            for title, value in facts.items()
        ]
        return self._card(
            [
                _runs({"text": f"Approval needed: {render.subject(approval)}", "weight": "Bolder", "size": "Medium"}),
                *lines,
                _runs({"text": "Arguments", "weight": "Bolder"}),
                _runs({"text": render.arguments_text(approval, ARGUMENTS_LIMIT), "fontType": "Monospace"}),
            ],
            approval,
            "Review and decide",
        )

    def outcome_card(self, approval: Approval) -> dict[str, Any]:
        return self._card(
            [
                _runs({"text": render.truncate(render.outcome(approval), 1000), "weight": "Bolder"}),
                _runs({"text": f"{render.subject(approval)} for {approval.requester}"}),
            ],
            approval,
            "Open the approval",
        )

    def _card(self, body: list[dict[str, Any]], approval: Approval, link_title: str) -> dict[str, Any]:
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": body,
            "actions": [
                {"type": "Action.OpenUrl", "title": link_title, "url": render.page_url(self.base_url, approval.id)}
            ],
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
            ],
        }

    async def _post(self, message: dict[str, Any]) -> None:
        try:
            response = await self.http.post(self.config.webhook_url.get_secret_value(), json=message)
        except httpx2.HTTPError as exc:
            raise ChannelError(f"Teams webhook unreachable: {exc.__class__.__name__}") from None
        if not response.is_success:
            raise ChannelError(f"Teams webhook answered HTTP {response.status_code}")


def _runs(*runs: dict[str, str]) -> dict[str, Any]:
    """One paragraph of verbatim text runs (each a dict of TextRun properties)."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", **run} for run in runs]}
