"""Teams approvals: an Adaptive Card posted to a real local webhook endpoint, and the outcome after it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from channel_kit import PAGE_BASE, Receiver, export_request, make_broker, posting_to
from pydantic import SecretStr

from mcp_gate.approvals import Broker, ChannelError
from mcp_gate.approvals.teams import TeamsChannel
from mcp_gate.config import TeamsChannelConfig

pytestmark = pytest.mark.anyio

WORKFLOW_PATH = "/workflows/7f3a/triggers/manual/paths/invoke?api-version=1&sig=Zm9yZ2VkLWJ5LW5vYm9keQ"
"""Shaped like a Teams workflow URL: the ``sig`` query parameter is what makes it a secret."""


@asynccontextmanager
async def teams_at(tmp_path: Path, receiver: Receiver | None) -> AsyncIterator[tuple[TeamsChannel, Broker]]:
    """A Teams channel posting to ``receiver``, or to a port where nothing listens."""
    async with posting_to(receiver, tmp_path) as (url, http, audit):
        channel = TeamsChannel(TeamsChannelConfig(webhook_url=SecretStr(url + WORKFLOW_PATH)), http, base_url=PAGE_BASE)
        broker = make_broker(audit)
        broker.add_listener(channel.finished)
        yield channel, broker


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    return card


def lines_of(card: dict[str, Any]) -> list[str]:
    """Each paragraph of the card as Teams shows it, its runs joined."""
    return ["".join(run["text"] for run in block["inlines"]) for block in card["body"]]


async def test_the_card_shows_the_request_and_links_to_the_approval_page(tmp_path: Path) -> None:
    receiver = Receiver(then=202)
    async with teams_at(tmp_path, receiver) as (teams, broker):
        approval, _ = broker.open(
            export_request(justification="Registry report, see [the request](https://evil.example)")
        )

        await teams.notify(approval)

        [posted] = receiver.requests
        assert posted.path == WORKFLOW_PATH
        card = card_of(posted.json())
        assert card["actions"] == [
            {"type": "Action.OpenUrl", "title": "Review and decide", "url": f"{PAGE_BASE}/approvals/{approval.id}"}
        ]
        lines = lines_of(card)
        assert lines[0] == "Approval needed: Export records (ehr / export_records)"
        for fact in (
            "Requester: nurse.jones@example.com",
            "Client: claude-code/2.1",
            "Session: sess-42",
            "Rule: export",
            "Why: Exports take PHI out of the EHR.",
            "Justification: Registry report, see [the request](https://evil.example)",
        ):
            assert fact in lines
        assert '"[MRN_1a2b3c]"' in lines[-1]
        assert {block["type"] for block in card["body"]} == {"RichTextBlock"}, (
            "TextBlock would render the agent's Markdown"
        )


async def test_the_outcome_follows_as_a_second_card_only_where_the_request_was_posted(tmp_path: Path) -> None:
    receiver = Receiver(then=202)
    async with teams_at(tmp_path, receiver) as (teams, broker):
        posted, _ = broker.open(export_request())
        await teams.notify(posted)
        elsewhere, _ = broker.open(export_request(session="sess-43"))  # went to another channel

        await broker.decide(posted.id, "bob@example.com", "deny", via="api", reason="Not before the audit")
        await broker.decide(elsewhere.id, "bob@example.com", "deny", via="api", reason="Not before the audit")

        assert len(receiver.requests) == 2
        outcome = card_of(receiver.requests[1].json())
        assert lines_of(outcome)[0] == "Denied by bob@example.com: Not before the audit"
        assert outcome["actions"][0]["url"] == f"{PAGE_BASE}/approvals/{posted.id}"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Teams webhook answered HTTP 400"),
        (503, "Teams webhook answered HTTP 503"),
        (None, "Teams webhook unreachable: ConnectError"),
    ],
)
async def test_a_card_the_webhook_did_not_take_is_a_channel_error_without_the_secret_url(
    tmp_path: Path, status: int | None, message: str
) -> None:
    async with teams_at(tmp_path, Receiver(then=status) if status else None) as (teams, broker):
        approval, _ = broker.open(export_request())

        with pytest.raises(ChannelError) as raised:
            await teams.notify(approval)

    assert str(raised.value) == message, "the message names the failure, never the URL with its sig"
    assert approval.refs == {}
