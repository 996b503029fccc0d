"""Slack approvals over real HTTP: our messages to a fake Slack, and signed clicks back to /hooks/slack."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx2
import pytest
from channel_kit import PAGE_BASE, audit_events, closed_port_url, export_request, listening_socket, make_broker, serving
from fake_slack import CHANNEL_ID, FakeSlack, Message, SlackUser, sign
from pydantic import SecretStr
from starlette.applications import Starlette

from mcp_gate.approvals import Approval, Broker, ChannelError
from mcp_gate.approvals.slack import APPROVE, APPROVE_SESSION, APPROVE_TTL, DENY, SlackChannel, slack_routes
from mcp_gate.audit import AuditLog
from mcp_gate.config import SlackChannelConfig

pytestmark = pytest.mark.anyio

BOT_TOKEN = "xoxb-1111-2222-" + "t0k3n" * 5
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
USERS = {"U0ALICE": "alice@example.com", "U0BOB": "bob@example.com", "U0JONES": "nurse.jones@example.com"}


@dataclass
class World:
    """A gateway's Slack side: broker, channel and /hooks/slack served over HTTP, talking to a fake Slack."""

    slack: FakeSlack
    broker: Broker
    channel: SlackChannel
    hooks_url: str
    http: httpx2.AsyncClient
    audit_path: Path

    def user(self, user_id: str, name: str) -> SlackUser:
        return SlackUser(
            user_id, name, slack=self.slack, hooks_url=self.hooks_url, signing_secret=SIGNING_SECRET, http=self.http
        )

    async def ask(self, **overrides: Any) -> tuple[Approval, Message]:
        """Open an approval and post it, as the gateway's notifier does; returns the message Slack shows."""
        approval, _ = self.broker.open(export_request(**overrides))
        await self.channel.notify(approval)
        return approval, self.slack.messages[approval.refs["slack.ts"]]

    async def note(self) -> dict[str, Any]:
        """The next message only the clicking user sees."""
        seen = len(self.slack.ephemeral)
        return await self.slack.until(lambda: self.slack.ephemeral[seen] if len(self.slack.ephemeral) > seen else None)

    def rejected(self) -> list[dict[str, Any]]:
        return audit_events(self.audit_path, "callback.rejected")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def slack_world(
    tmp_path: Path, *, timeout: float = 600.0, clock: Callable[[], float] = time.time
) -> AsyncIterator[World]:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.open()
    broker = make_broker(audit, timeout=timeout, clock=clock)
    slack = FakeSlack(BOT_TOKEN)
    slack_socket, slack.base_url = listening_socket()
    gateway_socket, gateway_url = listening_socket()
    config = SlackChannelConfig(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        channel="#phi-approvals",
        api_url=f"{slack.base_url}/api",
        users=USERS,
    )
    try:
        async with httpx2.AsyncClient(timeout=5) as http, anyio.create_task_group() as tg:
            channel = SlackChannel(config, http, base_url=PAGE_BASE)
            broker.add_listener(channel.finished)
            await tg.start(broker.run)
            gateway = Starlette(routes=slack_routes(broker, channel, audit))
            async with serving((slack_socket, slack.app), (gateway_socket, gateway)):
                yield World(slack, broker, channel, f"{gateway_url}/hooks/slack", http, tmp_path / "audit.jsonl")
            tg.cancel_scope.cancel()
    finally:
        audit.close()


async def test_the_message_shows_the_request_and_an_approve_click_decides_it(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask()
        shown = "\n".join(message.texts())
        for context in (
            "nurse.jones@example.com",
            "claude-code/2.1",
            "sess-42",
            "Export records (ehr / export_records)",
            "*Rule*\nexport",
            "Exports take PHI out of the EHR.",
            "Monthly diabetes registry report",
            '"[MRN_1a2b3c]"',
            f"<!date^{int(approval.expires_at)}^",
            f"<{PAGE_BASE}/approvals/{approval.id}|Open the approval page>",
        ):
            assert context in shown
        assert "[MRN_" not in message.text, "the notification text shows on lock screens"
        buttons = message.buttons()
        assert {button["value"] for button in buttons.values()} == {approval.id}
        assert buttons[APPROVE]["style"] == "primary" and "confirm" in buttons[APPROVE]
        assert buttons[DENY]["style"] == "danger"
        assert approval.refs == {"slack.channel": CHANNEL_ID, "slack.ts": message.ts}

        clicked = await world.user("U0ALICE", "alice").click(message, APPROVE)

        assert clicked.status_code == 200
        await world.slack.until(lambda: message.history)
        assert approval.state == "approved" and approval.decided_by == ["alice@example.com"]
        assert [(vote.via, vote.grant) for vote in approval.votes] == [("slack", "once")]
        assert message.buttons() == {}
        assert "mrkdwn::white_check_mark: *Approved by alice@example.com for this call only*" in message.texts()
        assert world.rejected() == []


async def test_each_grant_the_rule_allows_has_its_own_button_and_the_clicked_one_is_granted(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask(grants=["once", "session", "ttl"], grant_ttl=1800.0)
        buttons = message.buttons()
        assert list(buttons) == [APPROVE, APPROVE_SESSION, APPROVE_TTL, DENY]
        assert [buttons[a]["text"]["text"] for a in (APPROVE, APPROVE_SESSION, APPROVE_TTL)] == [
            "Approve",
            "Approve for the session",
            "Approve for 30 min",
        ]
        assert [b.get("style") for b in buttons.values()] == ["primary", None, None, "danger"]
        assert "This call for the rest of the agent's session." in buttons[APPROVE_SESSION]["confirm"]["text"]["text"]

        await world.user("U0ALICE", "alice").click(message, APPROVE_SESSION)

        await world.slack.until(lambda: message.history)
        assert approval.state == "approved" and approval.grant == "session"
        assert world.broker.standing_grant(approval.digest) is approval
        assert "mrkdwn::white_check_mark: *Approved by alice@example.com for the rest of the session*" in message.texts()


async def test_a_click_for_a_grant_the_rule_does_not_allow_decides_nothing(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask()  # grants: once
        assert APPROVE_SESSION not in message.buttons()
        alice = world.user("U0ALICE", "alice")
        forged = {**message.buttons()[APPROVE], "action_id": APPROVE_SESSION}

        assert (await alice.send(alice.block_actions(message, forged))).status_code == 200

        assert (await world.note())["text"] == "Nothing was decided: this rule allows granting once, not session."
        assert approval.pending and approval.votes == []
        assert [(r["approver"], r["reason"]) for r in world.rejected()] == [
            ("alice@example.com", "this rule allows granting once, not session")
        ]


async def test_deny_asks_for_a_reason_in_a_form_and_the_submitted_reason_denies(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask()
        bob = world.user("U0BOB", "bob")

        assert (await bob.click(message, DENY)).status_code == 200
        form = await world.slack.until(lambda: world.slack.views[-1] if world.slack.views else None)
        assert approval.pending and form["title"]["text"] == "Deny this call"

        blank = await bob.submit(form, {"reason": "   "})
        assert blank.json() == {"response_action": "errors", "errors": {"reason": "A denial needs a reason."}}
        assert approval.pending

        submitted = await bob.submit(form, {"reason": "Registry export is due next week, not today"})

        assert submitted.status_code == 200 and submitted.content == b"", "an empty 200 closes the form"
        await world.slack.until(lambda: message.history)
        assert approval.state == "denied" and approval.decided_by == ["bob@example.com"]
        assert approval.outcome_reason == "Registry export is due next week, not today"
        assert (
            "mrkdwn::no_entry: *Denied by bob@example.com: Registry export is due next week, not today*"
            in message.texts()
        )
        assert message.buttons() == {}


def _forged(kind: str, user: SlackUser, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    if kind == "wrong secret":
        return user.signed(payload, secret="a-guess-at-the-signing-secret-0000")
    if kind == "stale":
        return user.signed(payload, timestamp=int(time.time()) - 301)
    if kind == "from the future":
        return user.signed(payload, timestamp=int(time.time()) + 301)
    body, headers = user.signed(payload)
    if kind == "unsigned":
        return body, {"Content-Type": headers["Content-Type"]}
    assert kind == "user swapped after signing"
    return body.replace(b"U0MALLORY", b"U0ALICE"), headers


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("wrong secret", "bad signature"),
        ("stale", "stale timestamp"),
        ("from the future", "stale timestamp"),
        ("unsigned", "missing signature headers"),
        ("user swapped after signing", "bad signature"),
    ],
)
async def test_a_callback_not_signed_by_slack_decides_nothing(tmp_path: Path, kind: str, reason: str) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask()
        mallory = world.user("U0MALLORY", "mallory")

        response = await mallory.send_raw(
            *_forged(kind, mallory, mallory.block_actions(message, message.buttons()[APPROVE]))
        )

        assert response.status_code == 401
        assert SIGNING_SECRET not in response.text
        assert approval.pending and approval.votes == []
        assert [(r["reason"], r["channel"], r["remote"]) for r in world.rejected()] == [(reason, "slack", "127.0.0.1")]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"payload=" + b"x" * (1 << 20), 413, "body too large"),
        (b"payload=%7Bnot+json", 400, "malformed payload: payload is not JSON"),
        (
            urlencode(
                {"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": APPROVE, "value": "x"}]})}
            ).encode(),
            400,
            "malformed payload: no user.id",
        ),
    ],
    ids=["oversized", "not JSON", "no user"],
)
async def test_a_signed_body_that_is_not_a_usable_slack_payload_decides_nothing(
    tmp_path: Path, body: bytes, status: int, reason: str
) -> None:
    async with slack_world(tmp_path) as world:
        approval, _ = await world.ask()

        response = await world.user("U0ALICE", "alice").send_raw(*sign(body, SIGNING_SECRET))

        assert response.status_code == status
        assert approval.pending and approval.votes == []
        assert [r["reason"] for r in world.rejected()] == [reason]


async def test_a_replayed_callback_is_refused_before_it_reaches_the_broker(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask(quorum=2)
        alice = world.user("U0ALICE", "alice")
        body, headers = alice.signed(alice.block_actions(message, message.buttons()[APPROVE]))

        assert (await alice.send_raw(body, headers)).status_code == 200
        assert (await world.note())["text"] == "Your approval is recorded (1 of 2 needed)."
        replayed = await alice.send_raw(body, headers)

        assert replayed.status_code == 401
        assert [r["reason"] for r in world.rejected()] == ["replayed callback"]
        assert approval.pending and [vote.approver for vote in approval.votes] == ["alice@example.com"]


async def test_a_slack_user_who_is_not_mapped_to_an_approver_decides_nothing(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask()
        impostor = world.user("U0MALLORY", "alice")  # a display name proves nothing

        assert (await impostor.click(message, APPROVE)).status_code == 200

        note = await world.note()
        assert note == {
            "response_type": "ephemeral",
            "replace_original": False,
            "text": "Nothing was decided: Slack user U0MALLORY is not mapped to an approver.",
        }
        assert approval.pending and approval.votes == []
        [rejected] = world.rejected()
        assert rejected["slack_user"] == "U0MALLORY" and rejected["approval_id"] == approval.id
        assert "approver" not in rejected
        assert world.slack.unauthorised_responses == 0, "the bot token must not go to response URLs"


async def test_the_requester_cannot_approve_their_own_call_when_the_rule_needs_four_eyes(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask(separate_requester=True)

        requester = world.user("U0JONES", "nurse.jones")

        await requester.click(message, APPROVE)
        assert (await world.note())["text"] == "Nothing was decided: the requester may not approve their own call."
        await requester.click(message, DENY)
        assert (await world.note())["text"] == "Nothing was decided: the requester may not approve their own call."

        assert world.slack.views == [], "no deny form for someone who may not decide"
        assert approval.pending and approval.votes == []
        assert [(r["approver"], r["reason"]) for r in world.rejected()] == [
            ("nurse.jones@example.com", "the requester may not approve their own call")
        ] * 2


async def test_a_click_on_an_already_decided_request_changes_nothing(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        approval, message = await world.ask()
        await world.user("U0ALICE", "alice").click(message, APPROVE)
        await world.slack.until(lambda: message.history)

        # Bob's Slack still shows the buttons from before the update.
        await world.user("U0BOB", "bob").click(message, DENY, blocks=message.history[0])

        assert (await world.note())["text"] == "Nothing was decided: already decided (approved)."
        assert world.slack.views == [], "no deny form for a decided request"
        assert approval.state == "approved" and approval.decided_by == ["alice@example.com"]
        assert [(r["approver"], r["reason"]) for r in world.rejected()] == [
            ("bob@example.com", "already decided (approved)")
        ]


async def test_a_click_after_the_approval_expired_decides_nothing(tmp_path: Path) -> None:
    clock = Clock()
    async with slack_world(tmp_path, clock=clock) as world:
        approval, message = await world.ask()
        clock.now = approval.expires_at + 1  # expired, though nothing has noticed yet

        await world.user("U0ALICE", "alice").click(message, APPROVE)

        assert (await world.note())["text"] == "Nothing was decided: already decided (expired)."
        assert approval.state == "expired" and approval.votes == []
        assert [r["reason"] for r in world.rejected()] == ["already decided (expired)"]


async def test_an_expired_request_shows_so_and_loses_its_buttons(tmp_path: Path) -> None:
    async with slack_world(tmp_path, timeout=0.3) as world:
        approval, message = await world.ask()

        await world.slack.until(lambda: message.history)

        assert approval.state == "expired"
        assert message.buttons() == {}
        assert "mrkdwn::hourglass: *Expired: no decision in time*" in message.texts()


async def test_text_from_the_agent_cannot_become_slack_markup_and_long_arguments_are_cut(tmp_path: Path) -> None:
    async with slack_world(tmp_path) as world:
        _, message = await world.ask(
            client="<!channel>",
            justification="Cleared by security, see <https://evil.example/approve|the approval page>",
            arguments={"note": "<@U0ALICE> please approve", "blob": "x" * 10_000},
        )

        texts = message.texts()
        markup = [text for text in texts if text.startswith("mrkdwn:")]
        assert not [text for text in markup if "<!channel>" in text or "<@U0ALICE>" in text or "evil.example" in text]
        assert "mrkdwn:*Client*\n&lt;!channel&gt;" in markup
        assert [text for text in texts if text.startswith("plain_text:") and "<https://evil.example/approve|" in text]
        [arguments] = [text for text in texts if text.startswith("text:") and '"blob"' in text]
        assert len(arguments) <= len("text:") + 2500
        assert arguments.endswith("… (cut short: the approval page shows all of it)")


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("channel archived", "Slack chat.postMessage refused: is_archived"),
        ("wrong token", "Slack chat.postMessage refused: invalid_auth"),
        ("HTTP 503", "Slack chat.postMessage answered HTTP 503"),
        ("Slack unreachable", "Slack chat.postMessage failed: ConnectError"),
    ],
)
async def test_a_message_slack_did_not_take_is_a_channel_error(tmp_path: Path, breakage: str, message: str) -> None:
    async with slack_world(tmp_path) as world:
        channel = world.channel
        if breakage == "channel archived":
            world.slack.error = "is_archived"
        elif breakage == "wrong token":
            channel = SlackChannel(
                world.channel.config.model_copy(update={"bot_token": SecretStr("xoxb-revoked")}),
                world.http,
                base_url=PAGE_BASE,
            )
        elif breakage == "HTTP 503":
            world.slack.status = 503
        else:
            channel = SlackChannel(
                world.channel.config.model_copy(update={"api_url": closed_port_url() + "/api"}),
                world.http,
                base_url=PAGE_BASE,
            )
        approval, _ = world.broker.open(export_request())

        with pytest.raises(ChannelError) as raised:
            await channel.notify(approval)

        assert str(raised.value) == message
        assert approval.refs == {}
        assert world.slack.messages == {}
