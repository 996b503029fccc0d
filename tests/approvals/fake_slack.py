"""A local stand-in for Slack: the Web API methods mcp-gate calls, and users who click.

``FakeSlack`` serves ``chat.postMessage``, ``chat.update`` and ``views.open`` the
way Slack does (bot token checked, ``ok:false`` errors, channel ids and message
timestamps, one-use trigger ids) and refuses messages Slack would refuse (unknown
block types, texts over Slack's limits).  It also serves ``response_url``s.
``SlackUser`` sends interactivity callbacks to the gateway signed exactly like
Slack, computed here independently of the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx2
from channel_kit import Recorder
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

CHANNEL_ID = "C0PHIAPPROVALS"
TEAM = {"id": "T0HOSPITAL", "domain": "hospital"}
LIMITS = {"header": 150, "section": 3000, "field": 2000, "button": 75, "value": 2000, "confirm_text": 300}
BLOCK_TYPES = {"header", "section", "context", "actions", "rich_text", "input", "divider"}


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    history: list[list[dict[str, Any]]] = field(default_factory=list)
    """Earlier versions of the blocks, oldest first."""

    def buttons(self) -> dict[str, dict[str, Any]]:
        return {
            element["action_id"]: element
            for block in self.blocks
            if block["type"] == "actions"
            for element in block["elements"]
            if element["type"] == "button"
        }

    def texts(self) -> list[str]:
        """Every text in the message, as Slack would render it, with the kind of text object."""
        found: list[str] = []
        _collect_texts(self.blocks, found)
        return found


class FakeSlack(Recorder):
    """Slack's Web API and response URLs, on a real local HTTP server (see ``channel_kit.serving``)."""

    def __init__(self, bot_token: str) -> None:
        super().__init__()
        self.bot_token = bot_token
        self.base_url = ""
        """Set once served; response URLs point here."""
        self.messages: dict[str, Message] = {}
        self.views: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.unauthorised_responses = 0
        """response_url posts that carried an Authorization header (a leaked bot token)."""
        self.error: str | None = None
        """When set, every API method answers ``{"ok": false, "error": <this>}``."""
        self.status = 200
        self._triggers: set[str] = set()
        self._ts = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/api/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/api/chat.update", self._update, methods=["POST"]),
                Route("/api/views.open", self._open_view, methods=["POST"]),
                Route("/actions/{key}", self._response_url, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------ for tests and SlackUser

    def only_message(self) -> Message | None:
        """The one message posted so far (None until there is one)."""
        assert len(self.messages) <= 1, "more than one message posted"
        return next(iter(self.messages.values()), None)

    def issue_trigger(self) -> str:
        trigger = f"{time.time():.0f}.{secrets.token_hex(8)}"
        self._triggers.add(trigger)
        return trigger

    def response_url(self) -> str:
        return f"{self.base_url}/actions/{secrets.token_urlsafe(12)}"

    # ------------------------------------------------------------ the API

    async def _api(self, request: Request) -> dict[str, Any] | Response:
        """The JSON body of an authorised API call, or the response Slack gives instead."""
        if self.status != 200:
            return PlainTextResponse("upstream connect error", status_code=self.status)
        if request.headers.get("authorization") != f"Bearer {self.bot_token}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"ok": False, "error": "invalid_arguments"})
        if self.error is not None:
            return JSONResponse({"ok": False, "error": self.error})
        body: dict[str, Any] = json.loads(await request.body())
        return body

    async def _post_message(self, request: Request) -> Response:
        body = await self._api(request)
        if isinstance(body, Response):
            return body
        problem = _text_problem(body.get("text")) or _blocks_problem(body.get("blocks"))
        if body.get("channel") != "#phi-approvals" or problem:
            return JSONResponse({"ok": False, "error": problem or "channel_not_found"})
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages[ts] = Message(CHANNEL_ID, ts, body["text"], body["blocks"])
        self.changed()
        return JSONResponse({"ok": True, "channel": CHANNEL_ID, "ts": ts})

    async def _update(self, request: Request) -> Response:
        body = await self._api(request)
        if isinstance(body, Response):
            return body
        message = self.messages.get(body.get("ts", ""))
        if message is None or body.get("channel") != message.channel:
            return JSONResponse({"ok": False, "error": "message_not_found"})
        problem = _text_problem(body.get("text")) or _blocks_problem(body.get("blocks"))
        if problem:
            return JSONResponse({"ok": False, "error": problem})
        message.history.append(message.blocks)
        message.text, message.blocks = body["text"], body["blocks"]
        self.changed()
        return JSONResponse({"ok": True, "channel": message.channel, "ts": message.ts})

    async def _open_view(self, request: Request) -> Response:
        body = await self._api(request)
        if isinstance(body, Response):
            return body
        trigger = body.get("trigger_id")
        if trigger not in self._triggers:
            return JSONResponse({"ok": False, "error": "invalid_trigger_id"})
        self._triggers.discard(trigger)  # a trigger opens one view
        view = body.get("view") or {}
        title = view.get("title", {})
        problem = _blocks_problem(view.get("blocks"))
        if view.get("type") != "modal" or title.get("type") != "plain_text" or len(title.get("text", "")) > 24:
            problem = "invalid_arguments"
        if problem or len(view.get("private_metadata", "")) > 3000:
            return JSONResponse({"ok": False, "error": problem or "invalid_arguments"})
        opened = {**view, "id": "V" + secrets.token_hex(5).upper(), "state": {"values": {}}}
        self.views.append(opened)
        self.changed()
        return JSONResponse({"ok": True, "view": opened})

    async def _response_url(self, request: Request) -> Response:
        if "authorization" in request.headers:
            self.unauthorised_responses += 1
        self.ephemeral.append(json.loads(await request.body()))
        self.changed()
        return PlainTextResponse("ok")


class SlackUser:
    """A person in the Slack workspace whose clicks reach the gateway as signed callbacks."""

    def __init__(
        self,
        user_id: str,
        name: str,
        *,
        slack: FakeSlack,
        hooks_url: str,
        signing_secret: str,
        http: httpx2.AsyncClient,
    ) -> None:
        self.user_id = user_id
        self.name = name
        self.slack = slack
        self.hooks_url = hooks_url
        self.signing_secret = signing_secret
        self.http = http

    async def click(
        self, message: Message, action_id: str, *, blocks: list[dict[str, Any]] | None = None
    ) -> httpx2.Response:
        """Click a button on ``message`` (as it looks now, or as ``blocks`` showed it earlier)."""
        shown = Message(message.channel, message.ts, message.text, blocks) if blocks is not None else message
        button = shown.buttons()[action_id]
        return await self.send(self.block_actions(shown, button))

    async def submit(self, view: dict[str, Any], values: dict[str, str]) -> httpx2.Response:
        """Fill in a modal's inputs (block_id → text) and press its submit button."""
        state = {
            block["block_id"]: {
                block["element"]["action_id"]: {
                    "type": block["element"]["type"],
                    "value": values.get(block["block_id"]),
                }
            }
            for block in view["blocks"]
            if block["type"] == "input"
        }
        payload = {
            "type": "view_submission",
            "team": TEAM,
            "user": self._user(),
            "api_app_id": "A0MCPGATE",
            "trigger_id": self.slack.issue_trigger(),
            "view": {**view, "state": {"values": state}},
        }
        return await self.send(payload)

    def block_actions(self, message: Message, button: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "block_actions",
            "team": TEAM,
            "user": self._user(),
            "api_app_id": "A0MCPGATE",
            "container": {
                "type": "message",
                "message_ts": message.ts,
                "channel_id": message.channel,
                "is_ephemeral": False,
            },
            "trigger_id": self.slack.issue_trigger(),
            "channel": {"id": message.channel, "name": "phi-approvals"},
            "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks},
            "response_url": self.slack.response_url(),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "mcp_gate_decision",
                    "text": button["text"],
                    "value": button["value"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }

    async def send(self, payload: dict[str, Any]) -> httpx2.Response:
        """POST ``payload`` the way Slack does."""
        return await self.send_raw(*self.signed(payload))

    def signed(
        self, payload: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The form body and headers Slack would send; ``timestamp``/``secret`` let a test sign it wrongly."""
        return sign(urlencode({"payload": json.dumps(payload)}).encode(), secret or self.signing_secret, timestamp)

    async def send_raw(self, body: bytes, headers: dict[str, str]) -> httpx2.Response:
        return await self.http.post(self.hooks_url, content=body, headers=headers)

    def _user(self) -> dict[str, str]:
        return {"id": self.user_id, "username": self.name, "name": self.name, "team_id": TEAM["id"]}


def sign(body: bytes, secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Slack's v0 signature, per https://api.slack.com/authentication/verifying-requests-from-slack."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }
    return body, headers


# ---------------------------------------------------------------- what Slack would refuse


def _text_problem(text: Any) -> str | None:
    return None if isinstance(text, str) and text.strip() else "no_text"


def _text_object_problem(obj: Any, limit: int, *, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in ({"plain_text"} if plain_only else {"plain_text", "mrkdwn"}):
        return "invalid_blocks"
    text = obj.get("text")
    return None if isinstance(text, str) and text and len(text) <= limit else "invalid_blocks"


def _blocks_problem(blocks: Any) -> str | None:
    if not isinstance(blocks, list) or not 0 < len(blocks) <= 50:
        return "invalid_blocks"
    problems = (_block_problem(block) for block in blocks)
    return next((problem for problem in problems if problem), None)


def _block_problem(block: Any) -> str | None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind not in BLOCK_TYPES:
        return "invalid_blocks"
    if kind == "header":
        return _text_object_problem(block.get("text"), LIMITS["header"], plain_only=True)
    if kind == "section":
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or len(fields) > 10:
                return "invalid_blocks"
            return next((p for f in fields if (p := _text_object_problem(f, LIMITS["field"]))), None)
        return _text_object_problem(block.get("text"), LIMITS["section"])
    if kind == "actions":
        return next((p for element in block.get("elements", []) if (p := _button_problem(element))), None)
    return None


def _button_problem(button: Any) -> str | None:
    if (
        not isinstance(button, dict)
        or button.get("type") != "button"
        or button.get("style") not in (None, "primary", "danger")
    ):
        return "invalid_blocks"
    if len(str(button.get("value", ""))) > LIMITS["value"]:
        return "invalid_blocks"
    confirm = button.get("confirm")
    if confirm is not None and _text_object_problem(confirm.get("text"), LIMITS["confirm_text"]):
        return "invalid_blocks"
    return _text_object_problem(button.get("text"), LIMITS["button"], plain_only=True)


def _collect_texts(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn", "text") and isinstance(node.get("text"), str):
            found.append(f"{node['type']}:{node['text']}")
        for value in node.values():
            _collect_texts(value, found)
    elif isinstance(node, list):
        for item in node:
            _collect_texts(item, found)
