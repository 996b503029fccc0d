"""The MCP server agents talk to: one catalog of upstream tools, every call checked.

A ``tools/call`` goes through identify → validate → policy → upstream, and every
step is written to the audit log before the next one runs.  Anything that goes
wrong on the way refuses the call with a message the agent can act on; nothing
that goes wrong lets a call through that the policy did not allow.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.connection import Connection
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_gate import __version__
from mcp_gate.approvals import Broker, Channel, open_store
from mcp_gate.approvals.notifier import Notifier
from mcp_gate.audit import AuditError, AuditLog
from mcp_gate.call import Call, CallAudit, error_result
from mcp_gate.canonical import sha256_hex
from mcp_gate.catalog import Catalog, CatalogEntry, build_catalog
from mcp_gate.config import Config, MaskOverride, Rule
from mcp_gate.holding import ApprovalDesk, Hold, Refused
from mcp_gate.identity import Identifier
from mcp_gate.masking import Masker, MaskingError, MaskingSession
from mcp_gate.metrics import Metrics
from mcp_gate.policy import CallFacts, Policy
from mcp_gate.relay import (
    MAX_INPUT_ROUNDS,
    PARK_TTL,
    CallState,
    ParkedCall,
    ParkedCalls,
    RelayError,
    answer_each,
    client_cannot_answer,
    client_relay,
)
from mcp_gate.upstreams import InputRelay, Upstream, UpstreamError, UpstreamRejected

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools here are proxied by mcp-gate. Some calls are denied or need a human's approval; "
    "a refused call says why. Do not retry a denied call with different wording."
)
STARTUP_GRACE = 5.0
"""Extra time, beyond the slowest upstream's connect timeout, to wait for start-up."""
MAX_MASKING_SESSIONS = 1024
DEFAULT_APPROVAL = Rule(action="approve")
"""The approval settings of calls no rule matched when ``default: approve``."""


class StartupError(Exception):
    """The gateway cannot start as configured (for example, two tools would share a name)."""


def _strip_server_stamp(result: types.Result) -> types.Result:
    """Drop the upstream's ``serverInfo`` stamp so the gateway's own replaces it."""
    meta = result.meta
    if not meta or types.SERVER_INFO_META_KEY not in meta:
        return result
    rest = {k: v for k, v in meta.items() if k != types.SERVER_INFO_META_KEY}
    return result.model_copy(update={"meta": rest or None})


class _GatewayServer(Server[Any]):
    """The SDK server, announcing ``tools.listChanged`` to handshake-era clients on every transport."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), experimental_capabilities, extensions
        )


class Gateway:
    """Upstream connections, the catalog, and the MCP server that exposes it."""

    def __init__(
        self,
        config: Config,
        audit: AuditLog,
        *,
        state_key: bytes | None = None,
        channels: Mapping[str, Channel] | None = None,
        page_url: str | None = None,
    ) -> None:
        self.config = config
        self.audit = audit
        self.policy = Policy.from_config(config)
        self.identifier = Identifier(config.identity.stdio_principal)
        self.upstreams = {
            name: Upstream(name, upstream, base_dir=config.base_dir, on_change=self._upstream_changed)
            for name, upstream in config.upstreams.items()
            if not upstream.disabled
        }
        self.catalog = Catalog()
        self._namespaced = len(self.upstreams) > 1
        self._started = False
        self._bus = InMemorySubscriptionBus()
        self._connections: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._parked = ParkedCalls()
        self._task_group: anyio.abc.TaskGroup | None = None
        self.broker = Broker(
            config.approvals,
            open_store(config.approvals.store, config.base_dir),
            audit,
            known_approvers=known_approvers(config),
        )
        self.notifier = Notifier(self.broker, channels or {}, page_url=page_url)
        self.desk = ApprovalDesk(config, self.broker, self.notifier, page_url=page_url)
        self.masker = Masker.from_config(config.masking, key=os.urandom(32))
        self._masking_sessions: OrderedDict[str, MaskingSession] = OrderedDict()
        self.server = self._build_server(state_key or os.urandom(32))
        self.metrics = Metrics(self.upstream_states, lambda: len(list(self.broker.store.pending())))
        audit.add_export(self.metrics)

    def _build_server(self, state_key: bytes) -> Server[Any]:
        server = _GatewayServer(
            "mcp-gate",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_subscriptions_listen=ListenHandler(self._bus),
        )
        security = RequestStateSecurity(keys=[state_key], ttl=PARK_TTL, bind_principal=self._state_owner)
        server.middleware.append(RequestStateBoundary(security, default_audience="mcp-gate"))
        return server

    def _state_owner(self, ctx: ServerRequestContext[Any, Any]) -> str:
        """Whose ``requestState`` this is: it only resumes for the same principal and session."""
        caller = self.identifier.caller(ctx)
        return f"{caller.principal}\x00{caller.session}"

    # ------------------------------------------------------------------ lifecycle

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Connect every upstream (concurrently), check the catalog, serve until the block exits."""
        collision: str | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._task_group = tg
                await tg.start(self.broker.run)
                for upstream in self.upstreams.values():
                    tg.start_soon(upstream.run)
                slowest = max((u.config.connect_timeout for u in self.upstreams.values()), default=0.0)
                with anyio.move_on_after(slowest + STARTUP_GRACE):
                    for upstream in self.upstreams.values():
                        await upstream.wait_first_attempt()
                self._rebuild_catalog()
                if self.catalog.collisions:
                    collision = _collision_message(self.catalog.collisions)
                    tg.cancel_scope.cancel()
                else:
                    down = [u.name for u in self.upstreams.values() if u.state != "up"]
                    if down:
                        logger.error("starting without upstream(s) %s; retried in the background", ", ".join(down))
                    self._started = True
                    try:
                        yield self
                    finally:
                        self._started = False
                        tg.cancel_scope.cancel()
        finally:
            self.broker.store.close()
        if collision is not None:
            raise StartupError(collision)

    def upstream_states(self) -> dict[str, str]:
        """Each upstream's state: ``starting``, ``up`` or ``down``."""
        return {name: upstream.state for name, upstream in self.upstreams.items()}

    async def _upstream_changed(self, upstream: Upstream) -> None:
        before = self.catalog.names_of(upstream.name)
        self._rebuild_catalog()
        after = self.catalog.names_of(upstream.name)
        if not self._started or before == after:
            return
        if self.catalog.collisions:
            logger.error("%s; those tools are withheld", _collision_message(self.catalog.collisions))
        try:
            self.audit.write(
                "tool.catalog_changed",
                {
                    "server": upstream.name,
                    "tools": len(after),
                    "added": sorted(after - before),
                    "removed": sorted(before - after),
                },
            )
        except AuditError:
            logger.exception("could not record the catalog change of upstream %r", upstream.name)
        await self._announce_tools_changed()

    def _rebuild_catalog(self) -> None:
        self.policy.forget_tools()
        self.catalog = build_catalog(
            ((u.name, u.tools) for u in self.upstreams.values()),
            namespaced=self._namespaced,
            separator=self.config.separator,
            policy=self.policy,
        )

    async def _announce_tools_changed(self) -> None:
        """Tell connected clients to list tools again, in whichever way their era listens."""
        for connection in list(self._connections):
            await connection.send_tool_list_changed()
        await self._bus.publish(ToolsListChanged())

    def _remember_connection(self, ctx: ServerRequestContext[Any, Any]) -> None:
        # Handshake-era clients hear about catalog changes on their connection's
        # standalone channel.  The SDK exposes no public handle to it from a
        # request context, so the session's connection is read here; the weak
        # set forgets it when the connection ends.
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            connection = getattr(ctx.session, "_connection", None)
            if isinstance(connection, Connection):
                self._connections.add(connection)

    # ------------------------------------------------------------------ tools/list

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        self._remember_connection(ctx)
        return types.ListToolsResult(tools=self.catalog.visible_tools(self.config.hide_denied))

    # ------------------------------------------------------------------ tools/call

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult:
        self._remember_connection(ctx)
        caller = self.identifier.caller(ctx)
        state = CallState.decode(params.request_state)
        entry = self.catalog.get(params.name)
        audit = CallAudit(
            self.audit,
            state.call_id if state else uuid.uuid4().hex,
            caller,
            entry.upstream if entry else None,
            entry.tool.name if entry else params.name,
        )
        call = Call(ctx, caller, params, params.arguments or {}, state, audit)
        try:
            if entry is None:
                if state is None:
                    audit.write("tool.called", args_sha256=sha256_hex(call.arguments))
                audit.write("tool.blocked", outcome="blocked", reason="unknown tool")
                raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name!r}")
            return await self._checked_call(call, entry)
        except AuditError as exc:
            logger.critical("refusing %r: %s", params.name, exc)
            return error_result("mcp-gate could not write its audit log, so the call was refused. Tell the operator.")

    async def _checked_call(
        self, call: Call, entry: CatalogEntry
    ) -> types.CallToolResult | types.InputRequiredResult:
        audit, first_round = call.audit, call.state is None
        if first_round:
            audit.write("tool.called", args_sha256=sha256_hex(call.arguments))
        justification, call.arguments = entry.split_justification(call.arguments)
        problem = entry.argument_problem(call.arguments)
        if problem is not None:
            audit.write("tool.blocked", outcome="blocked", reason="arguments do not match the tool's input schema")
            return error_result(f"mcp-gate refused the call: {problem}")

        caller = call.caller
        decision = entry.policy.decide(
            CallFacts(entry.upstream, entry.tool.name, call.arguments, caller.principal, caller.client_name)
        )
        call.rule = decision.rule
        if first_round:
            audit.write("policy.decided", rule=decision.rule_id, decision=decision.action, reason=decision.reason)
        if decision.action == "deny":
            reason = f"denied by rule {decision.rule_id!r}" + (f": {decision.reason}" if decision.reason else "")
            audit.write("tool.blocked", outcome="blocked", rule=decision.rule_id, decision="deny", reason=reason)
            return error_result(f"mcp-gate policy {reason}")
        if decision.action == "approve":
            rule = decision.rule or DEFAULT_APPROVAL
            if rule.justification == "required" and justification is None:
                audit.write("tool.blocked", outcome="blocked", rule=decision.rule_id, decision="approve", reason="no justification")
                return error_result(
                    "mcp-gate: this call needs approval, and approvers need to know why: call it again with a "
                    "`justification` argument saying why it is needed."
                )
            try:
                hold = self._hold_for(call, entry, rule, decision.rule_id, justification)
            except MaskingError as exc:
                audit.write("tool.blocked", outcome="blocked", rule=decision.rule_id, decision="approve", reason="masking failed")
                return error_result(f"mcp-gate could not prepare the approval request ({exc}); nothing was run.")
            held = await self.desk.settle(call, hold)
            if isinstance(held, Refused):
                audit.write("tool.blocked", outcome="blocked", rule=decision.rule_id, decision="approve", reason=held.reason)
                return held.result
            if isinstance(held, types.InputRequiredResult):
                return held

        masking = self.masking_for(caller.session)
        rule = decision.rule
        unmasked: dict[str, int] = {}
        unknown_tokens = 0
        if rule is not None and rule.unmask_args:
            call.arguments, report = masking.unmask_arguments(call.arguments)
            unmasked, unknown_tokens = report.replaced, report.unknown
        outcome_fields = {"unmasked": unmasked or None, "unknown_tokens": unknown_tokens or None}

        started = time.perf_counter()
        try:
            result = await self._forward(call, entry)
        except (UpstreamError, RelayError) as exc:
            audit.write("tool.failed", outcome="failed", error=str(exc), duration_ms=_elapsed_ms(started), **outcome_fields)
            if isinstance(exc, UpstreamRejected):
                error = exc.error
                message, _ = masking.mask_text(error.message, rule_override=call.mask)
                raise MCPError(code=error.code, message=message) from None
            return error_result(f"mcp-gate: {exc}")
        if isinstance(result, types.InputRequiredResult):
            return result
        try:
            result, counts = self._masked(result, entry, call.mask, masking)
        except MaskingError as exc:
            audit.write(
                "tool.failed",
                outcome="failed",
                error=f"the result could not be masked ({exc}), so it was withheld",
                duration_ms=_elapsed_ms(started),
                **outcome_fields,
            )
            return error_result("mcp-gate could not mask this result, so it was withheld. Nothing unmasked was shown.")
        audit.write(
            "tool.executed",
            outcome="error" if result.is_error else "ok",
            duration_ms=_elapsed_ms(started),
            masked=counts or None,
            **outcome_fields,
        )
        if rule is not None and rule.audit == "sync":
            await self.audit.sync()  # the rule wants the record on disk before the agent sees the result
        return result

    def _hold_for(self, call: Call, entry: CatalogEntry, rule: Rule, rule_id: str, justification: str | None) -> Hold:
        """The call as approvers will see it: arguments and justification masked unless the rule says raw."""
        shown, reason = call.arguments, justification
        if rule.show_arguments == "masked":
            masking = self.masking_for(call.caller.session)
            shown, _ = masking.mask_value(call.arguments, entry.tool.input_schema)
            if justification is not None:
                reason, _ = masking.mask_text(justification)
        return Hold(entry, rule, rule_id, call.arguments, shown, reason)

    def masking_for(self, session: str) -> MaskingSession:
        """The masking session (and its token vault) of one MCP session; the oldest are forgotten."""
        masking = self._masking_sessions.get(session)
        if masking is None:
            masking = self._masking_sessions[session] = self.masker.session(session)
            while len(self._masking_sessions) > MAX_MASKING_SESSIONS:
                self._masking_sessions.popitem(last=False)
        else:
            self._masking_sessions.move_to_end(session)
        return masking

    @staticmethod
    def _masked(
        result: types.CallToolResult, entry: CatalogEntry, override: MaskOverride | None, masking: MaskingSession
    ) -> tuple[types.CallToolResult, dict[str, int]]:
        wire = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        masked, counts = masking.mask_result(wire, entry.tool.output_schema, rule_override=override)
        if masked is wire:
            return result, counts
        return types.CallToolResult.model_validate(masked), counts

    async def _forward(self, call: Call, entry: CatalogEntry) -> types.CallToolResult | types.InputRequiredResult:
        """Run an allowed call upstream, carrying questions between the upstream and the client."""
        upstream = self.upstreams[entry.upstream]
        state = call.state
        if state is not None and state.parked is not None:
            parked = self._parked.get(state.parked)
            if parked is None or parked.session != call.caller.session:
                raise RelayError("the call these answers belong to is no longer waiting; call the tool again")
            parked.answer(call.params.input_responses or {})
            parked.end_round()
            return await self._await_parked(call.ctx, parked)
        if call.modern_client and upstream.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return await self._start_parked(call, entry, upstream)

        masking = self.masking_for(call.caller.session)
        relay = _masking_relay(client_relay(call.ctx), masking, call.mask)

        async def send(
            responses: types.InputResponses | None, upstream_state: str | None
        ) -> types.CallToolResult | types.InputRequiredResult:
            return await upstream.call_tool(
                entry.tool.name,
                call.arguments,
                session=call.caller.session,
                relay=relay,
                progress=call.ctx.session.report_progress,
                input_responses=responses,
                request_state=upstream_state,
            )

        if state is None:
            result = await send(None, None)
        else:
            result = await send(call.params.input_responses, state.upstream_state)
        rounds = 0
        while isinstance(result, types.InputRequiredResult):
            if call.modern_client:
                refusals = _unanswerable(call.ctx, result.input_requests or {})
                if refusals:
                    raise RelayError(next(iter(refusals.values())).message)
                return types.InputRequiredResult(
                    input_requests=_masked_questions(result.input_requests or {}, masking, call.mask),
                    request_state=CallState(call.audit.call_id, upstream_state=result.request_state).encode(),
                )
            rounds += 1
            if rounds > MAX_INPUT_ROUNDS:
                raise RelayError(f"the tool kept asking questions ({MAX_INPUT_ROUNDS} rounds); the call was stopped")
            result = await send(await answer_each(relay, result.input_requests or {}), result.request_state)
        return _strip_server_stamp(result)  # type: ignore[return-value]

    async def _start_parked(
        self, call: Call, entry: CatalogEntry, upstream: Upstream
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Run a handshake-era upstream's call in the background so a 2026 client can answer its questions."""
        assert self._task_group is not None, "the gateway is not running"
        session = call.caller.session
        parked = self._parked.new(call.audit.call_id, session, mask=call.mask)

        async def drive() -> None:
            with parked.scope:
                try:
                    outcome: types.CallToolResult | BaseException = await upstream.call_tool(
                        entry.tool.name, call.arguments, session=session, relay=parked.ask, progress=parked.progress
                    )  # type: ignore[assignment]
                except Exception as exc:  # noqa: BLE001 - handed to whoever waits for the call
                    outcome = exc
                parked.finish(outcome)
            if not parked.done.is_set():
                parked.finish(UpstreamError("the client did not come back with its answers in time"))
            self._parked.discard(parked)

        self._task_group.start_soon(drive)
        return await self._await_parked(call.ctx, parked)

    async def _await_parked(
        self, ctx: ServerRequestContext[Any, Any], parked: ParkedCall
    ) -> types.CallToolResult | types.InputRequiredResult:
        parked.scope.deadline = float("inf")
        parked.progress_ctx = ctx
        try:
            while (questions := await parked.next_questions()) is not None:
                # What the client declared no support for is refused at once; the rest goes to it.
                parked.answer(_unanswerable(ctx, questions))
                if parked.pending:
                    parked.scope.deadline = anyio.current_time() + PARK_TTL
                    return types.InputRequiredResult(
                        input_requests=_masked_questions(parked.pending, self.masking_for(parked.session), parked.mask),
                        request_state=CallState(parked.call_id, parked=parked.id).encode(),
                    )
        except BaseException:
            parked.cancel()  # the client went away while the call ran: stop it upstream too
            raise
        finally:
            parked.progress_ctx = None
        outcome = parked.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, types.CallToolResult)
        return _strip_server_stamp(outcome)  # type: ignore[return-value]


def _masked_question(
    request: types.InputRequest, masking: MaskingSession, override: MaskOverride | None
) -> types.InputRequest:
    """A sampling request goes to the agent's model: mask its messages like any result.

    Elicitation is shown to the person at the client, not the model, and passes as it is.
    Raises ``MaskingError``; the caller refuses the question then.
    """
    if not isinstance(request, types.CreateMessageRequest):
        return request
    params = request.params.model_dump(by_alias=True, mode="json", exclude_none=True)
    params["messages"], _ = masking.mask_value(params["messages"], rule_override=override)
    if "systemPrompt" in params:
        params["systemPrompt"], _ = masking.mask_text(params["systemPrompt"], rule_override=override)
    return types.CreateMessageRequest(params=types.CreateMessageRequestParams.model_validate(params))


def _masked_questions(
    requests: types.InputRequests, masking: MaskingSession, override: MaskOverride | None
) -> types.InputRequests:
    """Each question masked; one that cannot be masked is not asked (the call fails instead)."""
    try:
        return {key: _masked_question(request, masking, override) for key, request in requests.items()}
    except MaskingError as exc:
        raise RelayError(f"a question from the tool could not be masked ({exc}), so it was not asked") from None


def _masking_relay(relay: InputRelay, masking: MaskingSession, override: MaskOverride | None) -> InputRelay:
    async def masked(request: types.InputRequest) -> types.InputResponse | types.ErrorData:
        try:
            question = _masked_question(request, masking, override)
        except MaskingError as exc:
            return types.ErrorData(code=types.INTERNAL_ERROR, message=f"the question could not be masked ({exc})")
        return await relay(question)

    return masked


def _unanswerable(ctx: ServerRequestContext[Any, Any], requests: types.InputRequests) -> dict[str, types.ErrorData]:
    """The questions this client declared no support for, each with the reason."""
    refusals = {}
    for key, request in requests.items():
        problem = client_cannot_answer(ctx, request)
        if problem is not None:
            refusals[key] = types.ErrorData(code=types.INVALID_REQUEST, message=problem)
    return refusals


def known_approvers(config: Config) -> set[str]:
    """Everyone the config names as an approver (groups, API tokens, Slack users)."""
    approvals = config.approvals
    names = {member for members in approvals.approvers.values() for member in members}
    names |= {token.approver for token in approvals.tokens}
    if approvals.channels.slack is not None:
        names |= set(approvals.channels.slack.users.values())
    return names


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _collision_message(collisions: dict[str, list[str]]) -> str:
    parts = [f"{name!r} ({' and '.join(owners)})" for name, owners in sorted(collisions.items())]
    return "tool name collision: " + "; ".join(parts)
