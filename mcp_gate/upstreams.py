"""Connections to the upstream MCP servers: start, list, call, watch, restart.

Each upstream gets a supervisor task that connects (stdio subprocess or
streamable HTTP), lists its tools, follows its ``tools/list_changed``
notifications, and, when the connection dies, drops its tools and reconnects
with exponential backoff.  Calls go through ``Upstream.call_tool``, which
applies the per-upstream timeout and turns transport failures into
``UpstreamError`` with a message fit to show the agent.

An upstream may ask the client something mid-call (elicitation, sampling,
roots).  On the 2026-07-28 protocol that comes back as the call's
``InputRequiredResult``; on 2025-11-25 it arrives as a separate request on the
shared connection, which carries no reference to the call it belongs to, so it
is routed to the only call in flight — and refused when there are several from
different client sessions, rather than risk showing one user's prompt to
another.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import TypeAdapter, ValidationError

from mcp_gate import __version__
from mcp_gate.config import UpstreamConfig

logger = logging.getLogger(__name__)

GATEWAY_INFO = types.Implementation(name="mcp-gate", version=__version__)
MAX_LIST_PAGES = 100
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0

_CALL_RESULT: TypeAdapter[types.CallToolResult | types.InputRequiredResult] = TypeAdapter(
    types.CallToolResult | types.InputRequiredResult
)

InputRelay = Callable[[types.InputRequest], Awaitable[types.InputResponse | types.ErrorData]]
"""Delivers an upstream's question (elicitation, sampling, roots) to the client that made the call."""

ProgressRelay = Callable[[float, float | None, str | None], Awaitable[None]]


class UpstreamError(Exception):
    """A call could not be completed on the upstream; the message is safe to show the agent."""


class UpstreamUnavailable(UpstreamError):
    """The upstream is not connected, or the connection died during the call."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer within its configured timeout."""


class UpstreamRejected(UpstreamError):
    """The upstream answered with a JSON-RPC error; ``error`` keeps its code and message."""

    def __init__(self, message: str, error: types.ErrorData) -> None:
        super().__init__(message)
        self.error = error


@dataclass(eq=False)
class CallTimer:
    """A call's deadline that stops running while the user is being asked something.

    Time a person spends answering an elicitation is not the upstream being slow.
    """

    seconds: float
    _scope: anyio.CancelScope | None = None
    _remaining: float = 0.0
    _paused: int = 0

    def start(self) -> anyio.CancelScope:
        self._scope = anyio.CancelScope(deadline=anyio.current_time() + self.seconds)
        return self._scope

    @asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        scope = self._scope
        if scope is None:
            yield
            return
        if self._paused == 0:
            self._remaining = max(scope.deadline - anyio.current_time(), 0.0)
            scope.deadline = math.inf
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1
            if self._paused == 0:
                scope.deadline = anyio.current_time() + self._remaining

    @property
    def expired(self) -> bool:
        return self._scope is not None and self._scope.cancelled_caught


@dataclass(eq=False)
class _InFlight:
    """A call in flight on the shared connection, for routing the upstream's questions."""

    session: str
    relay: InputRelay
    timer: CallTimer


class _WatchedReadStream:
    """Wraps a transport's read stream to notice when the server goes away (EOF)."""

    def __init__(self, inner: Any, closed: anyio.Event) -> None:
        self._inner = inner
        self._closed = closed

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._closed.set()
            raise

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Upstream:
    """One upstream server: its live connection, its current tools, and its supervisor."""

    def __init__(
        self,
        name: str,
        config: UpstreamConfig,
        *,
        base_dir: Path,
        on_change: Callable[[Upstream], Awaitable[None]],
    ) -> None:
        self.name = name
        self.config = config
        self.base_dir = base_dir
        self.tools: tuple[types.Tool, ...] = ()
        self.state: Literal["starting", "up", "down"] = "starting"
        self.last_error: str | None = None
        self.protocol_version: str | None = None
        self._on_change = on_change
        self._client: Client | None = None
        self._closed = anyio.Event()
        self._relist = anyio.Event()
        self._first_attempt = anyio.Event()
        self._inflight: dict[int, _InFlight] = {}

    # ------------------------------------------------------------------ supervision

    async def wait_first_attempt(self) -> None:
        """Wait until the first connection attempt has succeeded or failed."""
        await self._first_attempt.wait()

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled."""
        backoff = BACKOFF_START
        while True:
            self._closed = anyio.Event()
            try:
                await self._connect_and_serve()
                backoff = BACKOFF_START
            except Exception as exc:  # noqa: BLE001 - a supervisor must outlive any failure
                self.last_error = _describe(exc)
                logger.error("upstream %r failed: %s", self.name, self.last_error)
            finally:
                was_up = self.state == "up"
                self._client = None
                self.state = "down"
                self.tools = ()
                self._first_attempt.set()
                if was_up:
                    with anyio.CancelScope(shield=True):
                        await self._on_change(self)
            logger.warning("upstream %r is down; reconnecting in %.1fs", self.name, backoff)
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    async def _connect_and_serve(self) -> None:
        with anyio.CancelScope(deadline=anyio.current_time() + self.config.connect_timeout) as handshake:
            async with self._client_for() as client:
                self._client = client
                self.protocol_version = client.protocol_version
                await self._list_tools(client)
                handshake.deadline = math.inf
                self.state = "up"
                self.last_error = None
                logger.info(
                    "upstream %r connected (%s, protocol %s, %d tools)",
                    self.name,
                    self.config.transport,
                    client.protocol_version,
                    len(self.tools),
                )
                self._first_attempt.set()
                await self._on_change(self)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._follow_list_changes, client)
                    if client.protocol_version in MODERN_PROTOCOL_VERSIONS:
                        tg.start_soon(self._listen_for_changes, client)
                    await self._closed.wait()
                    tg.cancel_scope.cancel()
                self.last_error = "the connection closed"
        if handshake.cancelled_caught:
            raise TimeoutError(f"no answer to the MCP handshake within {self.config.connect_timeout:g}s")

    def _client_for(self) -> Client:
        mode = {"auto": "auto", "legacy": "legacy", "2026-07-28": "2026-07-28"}[self.config.protocol]
        return Client(
            self._transport(),
            mode=mode,
            cache=None,
            client_info=GATEWAY_INFO,
            elicitation_callback=self._on_elicitation,
            sampling_callback=self._on_sampling,
            list_roots_callback=self._on_list_roots,
            message_handler=self._on_message,
        )

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        config = self.config
        if config.command is not None:
            params = StdioServerParameters(
                command=config.command,
                args=list(config.args),
                env={k: v.get_secret_value() for k, v in config.env.items()} or None,
                cwd=str(self.base_dir / config.cwd) if config.cwd is not None else str(self.base_dir),
            )
            async with stdio_client(params) as (read, write):
                yield _WatchedReadStream(read, self._closed), write
            return
        assert config.url is not None
        headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        timeout = httpx2.Timeout(30.0, read=max(config.timeout, 300.0))
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
            async with streamable_http_client(config.url, http_client=http) as (read, write):
                yield _WatchedReadStream(read, self._closed), write

    async def _list_tools(self, client: Client) -> None:
        tools: list[types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            page = await client.session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            tools.extend(page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        else:
            logger.warning("upstream %r: tools/list still paginating after %d pages; using what arrived", self.name, MAX_LIST_PAGES)
        self.tools = tuple(tools)

    async def _follow_list_changes(self, client: Client) -> None:
        """Re-list whenever the upstream says its tools changed (coalescing bursts)."""
        while True:
            await self._relist.wait()
            self._relist = anyio.Event()
            try:
                with anyio.fail_after(self.config.connect_timeout):
                    await self._list_tools(client)
            except (MCPError, TimeoutError, ValidationError) as exc:
                logger.error("upstream %r: re-listing tools failed: %s", self.name, _describe(exc))
                self._closed.set()
                return
            await self._on_change(self)

    async def _listen_for_changes(self, client: Client) -> None:
        """On 2026-07-28 change notices come only on a ``subscriptions/listen`` stream."""
        capability = client.server_capabilities.tools
        if capability is None or not capability.list_changed:
            return
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._relist.set()
        except Exception as exc:  # noqa: BLE001 - a lost subscription only costs change notices
            logger.warning("upstream %r: change subscription ended: %s", self.name, _describe(exc))

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._relist.set()
        elif isinstance(message, Exception):
            logger.warning("upstream %r: transport error: %s", self.name, _describe(message))

    # ------------------------------------------------------------------ questions from the upstream

    async def _on_elicitation(
        self, ctx: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        return await self._route(types.ElicitRequest(params=params))  # type: ignore[return-value]

    async def _on_sampling(
        self, ctx: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        return await self._route(types.CreateMessageRequest(params=params))  # type: ignore[return-value]

    async def _on_list_roots(self, ctx: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        return await self._route(types.ListRootsRequest())  # type: ignore[return-value]

    async def _route(self, request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        calls = list(self._inflight.values())
        if not calls:
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message=f"{request.method} outside a tool call is not relayed by mcp-gate",
            )
        if len({call.session for call in calls}) > 1:
            logger.warning(
                "upstream %r sent %s while calls from several sessions were in flight; refused",
                self.name,
                request.method,
            )
            return types.ErrorData(
                code=types.INVALID_REQUEST,
                message="mcp-gate cannot tell which client this request is for (several calls are in flight)",
            )
        call = calls[-1]
        async with call.timer.paused():
            return await call.relay(request)

    # ------------------------------------------------------------------ calls

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        session: str,
        relay: InputRelay,
        progress: ProgressRelay | None = None,
        input_responses: types.InputResponses | None = None,
        request_state: str | None = None,
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Call a tool; raises ``UpstreamError`` subclasses with agent-readable messages."""
        client = self._client
        if client is None or self.state != "up":
            reason = f" ({self.last_error})" if self.last_error else ""
            raise UpstreamUnavailable(f"upstream {self.name!r} is not connected{reason}; it is being restarted")
        timer = CallTimer(self.config.timeout)
        key = id(timer)
        self._inflight[key] = _InFlight(session, relay, timer)
        try:
            request = types.CallToolRequest(
                params=types.CallToolRequestParams(
                    name=tool, arguments=arguments, input_responses=input_responses, request_state=request_state
                )
            )
            with timer.start():
                # Sent as a plain request: the result is relayed as the upstream gave it (the
                # agent's client checks it against the tool's outputSchema), not re-validated here.
                result = await client.session.send_request(request, _CALL_RESULT, progress_callback=progress)
        except MCPError as exc:
            if exc.error.code == types.CONNECTION_CLOSED:
                self._closed.set()
                raise UpstreamUnavailable(
                    f"upstream {self.name!r} disconnected during the call; it is being restarted"
                ) from exc
            raise UpstreamRejected(f"upstream {self.name!r} returned an error: {exc.error.message}", exc.error) from exc
        except (RuntimeError, ValidationError) as exc:
            raise UpstreamError(f"upstream {self.name!r} returned an invalid result: {_describe(exc)}") from exc
        finally:
            del self._inflight[key]
        if timer.expired:
            raise UpstreamTimeout(f"upstream {self.name!r} did not answer within {self.config.timeout:g}s")
        if not isinstance(result, types.CallToolResult | types.InputRequiredResult):
            raise UpstreamError(f"upstream {self.name!r} returned a result type mcp-gate does not understand")
        return result


def _describe(exc: BaseException) -> str:
    """A one-line, secret-free description of a connection failure for logs and the agent."""
    if isinstance(exc, MCPError):
        return exc.error.message
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename}"
    if isinstance(exc, httpx2.HTTPError):
        return f"HTTP error: {type(exc).__name__}"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]

