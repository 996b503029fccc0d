"""Generic webhook: events a receiver can verify per Standard Webhooks, retried until taken, or a ChannelError."""

from __future__ import annotations

import base64
import hashlib
import hmac
import textwrap
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from channel_kit import PAGE_BASE, Received, Receiver, export_request, make_broker, posting_to

from mcp_gate.approvals import Broker, ChannelError
from mcp_gate.approvals.webhook import WebhookChannel, signature, signing_key
from mcp_gate.config import ConfigError, WebhookChannelConfig, parse_config

pytestmark = pytest.mark.anyio

SECRETS = {
    "whsec_ secret": "whsec_" + base64.b64encode(b"k3y-bytes-from-the-receiver-setup").decode(),
    "plain secret": "a-long-shared-secret-from-the-vault",
}


def verified(secret: str, received: Received) -> dict[str, Any]:
    """What a receiver does before trusting an event, written from the spec rather than our code."""
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode()
    message_id, timestamp = received.headers["webhook-id"], received.headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) <= 300
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + received.body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    assert any(hmac.compare_digest(given, expected) for given in received.headers["webhook-signature"].split(" "))
    event: dict[str, Any] = received.json()
    return event


@asynccontextmanager
async def webhook_to(
    tmp_path: Path,
    receiver: Receiver | None,
    *,
    secret: str = SECRETS["plain secret"],
    retries: int = 5,
    timeout: float = 600,
) -> AsyncIterator[tuple[WebhookChannel, Broker]]:
    """A webhook channel delivering to ``receiver`` (or to a port where nothing listens), with tiny backoff."""
    async with posting_to(receiver, tmp_path) as (url, http, audit), anyio.create_task_group() as tg:
        config = WebhookChannelConfig(url=f"{url}/hooks/mcp-gate", secret=secret, retries=retries)
        channel = WebhookChannel(config, http, base_url=PAGE_BASE, backoff=0.001)
        broker = make_broker(audit, timeout=timeout)
        broker.add_listener(channel.finished)
        await tg.start(broker.run)
        yield channel, broker
        tg.cancel_scope.cancel()


def test_signatures_match_the_published_standard_webhooks_vector() -> None:
    key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signed = signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}')
    assert signed == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("secret", SECRETS.values(), ids=SECRETS.keys())
async def test_the_request_event_is_signed_so_the_receiver_can_verify_it(tmp_path: Path, secret: str) -> None:
    receiver = Receiver(then=204)
    async with webhook_to(tmp_path, receiver, secret=secret) as (webhook, broker):
        approval, _ = broker.open(export_request())

        await webhook.notify(approval)

        [received] = receiver.requests
        assert received.path == "/hooks/mcp-gate"
        assert received.headers["content-type"] == "application/json"
        event = verified(secret, received)
        assert event["type"] == "approval.requested"
        data = event["data"]
        assert data["id"] == approval.id and data["state"] == "pending"
        assert data["url"] == f"{PAGE_BASE}/approvals/{approval.id}"
        assert data["arguments"] == {"mrns": ["[MRN_1a2b3c]", "[MRN_4d5e6f]"], "format": "csv"}
        assert (data["requester"], data["rule_id"], data["justification"]) == (
            "nurse.jones@example.com",
            "export",
            "Monthly diabetes registry report",
        )
        assert "refs" not in data


async def test_a_failed_delivery_is_retried_under_the_same_id_until_the_receiver_takes_it(tmp_path: Path) -> None:
    receiver = Receiver([500, 502], then=200)
    async with webhook_to(tmp_path, receiver) as (webhook, broker):
        approval, _ = broker.open(export_request())

        await webhook.notify(approval)

        assert len(receiver.requests) == 3
        assert len({received.headers["webhook-id"] for received in receiver.requests}) == 1, "receivers dedupe on it"
        assert all(
            verified(SECRETS["plain secret"], received)["data"]["id"] == approval.id for received in receiver.requests
        )
        assert approval.refs == {"webhook": "delivered"}


@pytest.mark.parametrize(("status", "problem"), [(503, "HTTP 503"), (None, "ConnectError")])
async def test_when_every_attempt_fails_the_channel_says_so(tmp_path: Path, status: int | None, problem: str) -> None:
    receiver = Receiver(then=status) if status else None
    async with webhook_to(tmp_path, receiver, retries=2) as (webhook, broker):
        approval, _ = broker.open(export_request())

        with pytest.raises(
            ChannelError, match=f"^webhook approval.requested not delivered after 3 attempts: {problem}$"
        ):
            await webhook.notify(approval)

        assert receiver is None or len(receiver.requests) == 3
        assert approval.refs == {}


async def test_outcomes_follow_for_the_approvals_the_receiver_was_told_about(tmp_path: Path) -> None:
    receiver = Receiver(then=200)
    async with webhook_to(tmp_path, receiver) as (webhook, broker):
        approved, _ = broker.open(export_request())
        cancelled, _ = broker.open(export_request(session="sess-43"))
        elsewhere, _ = broker.open(export_request(session="sess-44"))  # was sent to another channel
        await webhook.notify(approved)
        await webhook.notify(cancelled)

        await broker.decide(approved.id, "alice@example.com", "approve", via="api")
        await broker.cancel(cancelled, "the client cancelled the call")
        await broker.decide(elsewhere.id, "bob@example.com", "deny", via="api", reason="no")

        outcomes = [verified(SECRETS["plain secret"], received) for received in receiver.requests[2:]]
        assert [(e["type"], e["data"]["id"], e["data"]["state"]) for e in outcomes] == [
            ("approval.decided", approved.id, "approved"),
            ("approval.cancelled", cancelled.id, "cancelled"),
        ]
        assert outcomes[0]["data"]["decided_by"] == ["alice@example.com"]
        assert outcomes[1]["data"]["outcome_reason"] == "the client cancelled the call"


async def test_an_approval_nobody_decided_in_time_is_reported_expired(tmp_path: Path) -> None:
    receiver = Receiver(then=200)
    async with webhook_to(tmp_path, receiver, timeout=0.5) as (webhook, broker):
        approval, _ = broker.open(export_request())
        await webhook.notify(approval)

        await receiver.until(lambda: len(receiver.requests) == 2)

        expired = verified(SECRETS["plain secret"], receiver.requests[1])
        assert (expired["type"], expired["data"]["state"]) == ("approval.expired", "expired")
        assert expired["data"]["outcome_reason"] == "no decision in time"


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("whsec_not*base64!", "after `whsec_` the secret must be base64"),
        ("whsec_c2hvcnQ=", "a `whsec_` secret must decode to 24 bytes or more"),
        ("hunter2", "use a `whsec_…` secret or a string of 24 characters or more"),
    ],
)
def test_an_unusable_webhook_secret_stops_the_config_from_loading(secret: str, message: str) -> None:
    text = f"""\
        version: 1
        upstreams:
          ehr: {{command: python, args: [ehr.py]}}
        approvals:
          channels:
            webhook: {{url: "https://hooks.example.com/mcp-gate", secret: "{secret}"}}
        """
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), Path("policies.yaml"), environ={})
    assert caught.value.problems == [f"policies.yaml:6: approvals.channels.webhook.secret: {message}"]
    assert secret not in str(caught.value)
