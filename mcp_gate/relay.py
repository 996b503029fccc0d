"""Carrying an upstream's questions (elicitation, sampling, roots) to the agent's client.

The two protocol eras ask differently.  A 2025-11-25 client takes a request from
the server mid-call; a 2026-07-28 client instead gets an ``input_required``
result and calls again with the answers.  Upstreams and clients can be of
either era, so the gateway translates:

* client 2025 ← any upstream: questions are sent to the client as requests
  (``client_relay``); a 2026 upstream's ``input_required`` result is answered
  that way and the call retried upstream.
* client 2026 ← upstream 2026: the ``input_required`` result passes through,
  the upstream's ``requestState`` wrapped in ours.
* client 2026 ← upstream 2025: the upstream call keeps running in the
  background (``ParkedCall``) while the question goes back to the client as
  ``input_required``; the client's retry delivers the answer to the waiting call.

Our ``requestState`` is sealed (encrypted, bound to tool, arguments and caller,
expiring) by the SDK's ``RequestStateBoundary`` before it leaves the gateway,
so what ``CallState`` holds here is never seen or forged by a client.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata

from mcp_gate.config import MaskOverride
from mcp_gate.upstreams import InputRelay

logger = logging.getLogger(__name__)

MAX_INPUT_ROUNDS = 10
"""How many question rounds one call may take before the gateway gives up on it."""

PARK_TTL = 600.0
"""How long a call waits for a 2026-07-28 client to come back with its answers."""


def _question_kind(request: types.InputRequest) -> str:
    if isinstance(request, types.ElicitRequest):
        return "elicitation"
    if isinstance(request, types.CreateMessageRequest):
        return "sampling"
    return "roots"


def client_cannot_answer(ctx: ServerRequestContext[Any, Any], request: types.InputRequest) -> str | None:
    """Why the calling client cannot take this question, or None if it declared support."""
    if isinstance(request, types.ElicitRequest):
        mode = "url" if isinstance(request.params, types.ElicitRequestURLParams) else "form"
        capability = types.ElicitationCapability(**{mode: {}})
        if ctx.session.check_client_capability(types.ClientCapabilities(elicitation=capability)):
            return None
        # A client that declares bare `elicitation: {}` supports form mode (2025-06-18 shape).
        caps = ctx.session.client_capabilities
        if mode == "form" and caps is not None and caps.elicitation is not None and caps.elicitation.url is None:
            return None
        return f"the tool asked the user a question ({mode} elicitation), but the agent's client does not support that"
    if isinstance(request, types.CreateMessageRequest):
        if ctx.session.check_client_capability(types.ClientCapabilities(sampling=types.SamplingCapability())):
            return None
        return "the tool asked the client's model for a completion (sampling), but the agent's client does not support that"
    if ctx.session.check_client_capability(types.ClientCapabilities(roots=types.RootsCapability())):
        return None
    return "the tool asked for the client's roots, but the agent's client does not support that"


def client_relay(ctx: ServerRequestContext[Any, Any]) -> InputRelay:
    """Send an upstream's question to a 2025-11-25 client as a request tied to this call."""

    async def relay(request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        problem = client_cannot_answer(ctx, request)
        if problem is not None:
            return types.ErrorData(code=types.INVALID_REQUEST, message=problem)
        result_type: type[Any]
        if isinstance(request, types.ElicitRequest):
            result_type = types.ElicitResult
        elif isinstance(request, types.CreateMessageRequest):
            result_type = types.CreateMessageResultWithTools if request.params.tools else types.CreateMessageResult
        else:
            result_type = types.ListRootsResult
        try:
            return await ctx.session.send_request(
                request, result_type, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
            )
        except MCPError as exc:
            return exc.error

    return relay


async def answer_each(relay: InputRelay, requests: types.InputRequests) -> types.InputResponses:
    """Put every question of an ``input_required`` round to the client; fail if one cannot be answered."""
    responses: types.InputResponses = {}
    for key, request in requests.items():
        answer = await relay(request)
        if isinstance(answer, types.ErrorData):
            raise RelayError(f"the tool needed an answer the client could not give: {answer.message}")
        responses[key] = answer
    return responses


class RelayError(Exception):
    """A question from the upstream could not be answered; the message is for the agent."""


@dataclass(frozen=True, slots=True)
class CallState:
    """What the gateway keeps in a call's ``requestState`` between rounds."""

    call_id: str
    upstream_state: str | None = None
    parked: str | None = None
    approval: str | None = None
    """The approval whose question (asked of the client) this round answers."""
    nonce: str | None = None
    """Makes an approval round's state single-use."""

    def encode(self) -> str:
        data = {"c": self.call_id, "u": self.upstream_state, "p": self.parked, "a": self.approval, "n": self.nonce}
        return json.dumps({k: v for k, v in data.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str | None) -> CallState | None:
        """Read a state the boundary already verified; anything else is not ours."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(
                call_id=str(data["c"]),
                upstream_state=data.get("u"),
                parked=data.get("p"),
                approval=data.get("a"),
                nonce=data.get("n"),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(eq=False)
class _Question:
    key: str
    request: types.InputRequest
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: types.InputResponse | types.ErrorData | None = None


@dataclass(eq=False)
class ParkedCall:
    """An upstream call that runs on while a 2026-07-28 client answers its questions.

    ``ask`` is the relay the upstream's questions go through; the handler that
    currently owns the call reads them with ``next_event`` and returns them to
    the client, and the client's retry delivers the answers with ``answer``.
    """

    id: str
    call_id: str
    session: str
    mask: MaskOverride | None = None
    """The deciding rule's masking override, for the questions this call asks."""
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    done: anyio.Event = field(default_factory=anyio.Event)
    outcome: types.CallToolResult | BaseException | None = None
    progress_ctx: ServerRequestContext[Any, Any] | None = None
    _pending: dict[str, _Question] = field(default_factory=dict)
    _count: int = 0
    _send: MemoryObjectSendStream[_Question] = field(init=False)
    _receive: MemoryObjectReceiveStream[_Question] = field(init=False)

    def __post_init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[_Question](MAX_INPUT_ROUNDS)

    async def ask(self, request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        """The upstream's question: hand it to whoever serves the client, wait for the answer."""
        self._count += 1
        if self._count > MAX_INPUT_ROUNDS:
            return types.ErrorData(code=types.INVALID_REQUEST, message="too many questions in one call")
        question = _Question(f"{_question_kind(request)}-{self._count}", request)
        await self._send.send(question)
        await question.answered.wait()
        assert question.answer is not None
        return question.answer

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        if self.progress_ctx is not None:
            await self.progress_ctx.session.report_progress(progress, total, message)

    async def next_questions(self) -> dict[str, types.InputRequest] | None:
        """Wait for the call to finish (None) or to ask something (every question asked so far)."""
        try:
            first = await self._receive.receive()
        except anyio.EndOfStream:  # `finish` closed the stream: the call is over
            return None
        questions = [first]
        while True:
            try:
                questions.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        self._pending = {q.key: q for q in questions}
        return {q.key: q.request for q in questions}

    def answer(self, responses: Mapping[str, types.InputResponse | types.ErrorData]) -> None:
        """Deliver answers to some of the pending questions."""
        for key in [k for k in self._pending if k in responses]:
            question = self._pending.pop(key)
            question.answer = responses[key]
            question.answered.set()

    def end_round(self) -> None:
        """The client's retry is in: whatever it left unanswered counts as refused."""
        self.answer({key: types.ErrorData(code=types.INVALID_REQUEST, message="the client did not answer") for key in self._pending})

    @property
    def pending(self) -> dict[str, types.InputRequest]:
        return {key: question.request for key, question in self._pending.items()}

    def finish(self, outcome: types.CallToolResult | BaseException) -> None:
        self.outcome = outcome
        self.done.set()
        self._send.close()

    def cancel(self) -> None:
        self.scope.cancel()


class ParkedCalls:
    """The parked calls of this gateway process, by id."""

    def __init__(self) -> None:
        self._calls: dict[str, ParkedCall] = {}

    def new(self, call_id: str, session: str, *, mask: MaskOverride | None) -> ParkedCall:
        call = ParkedCall(id=secrets.token_urlsafe(12), call_id=call_id, session=session, mask=mask)
        self._calls[call.id] = call
        return call

    def get(self, parked_id: str) -> ParkedCall | None:
        return self._calls.get(parked_id)

    def discard(self, call: ParkedCall) -> None:
        self._calls.pop(call.id, None)

    def __len__(self) -> int:
        return len(self._calls)
