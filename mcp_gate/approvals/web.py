"""The approval API and page: approvers see the context of a held call and decide it.

Two doors lead to the same broker:

* the JSON API, authenticated with ``Authorization: Bearer <approver token>``, for the
  CLI and scripts (``via="api"``);
* an HTML page per approval for people (``via="page"``): the approver signs in once by
  exchanging the same token for a session cookie, and every form carries a CSRF token
  bound to that session.

Only ``approvals.tokens`` are accepted.  The agents' ``identity.tokens`` are never
given to this module, so an agent's credentials can never decide its own call.
Every refused attempt to decide with bad credentials is audited as
``callback.rejected``; decisions themselves are audited by the broker.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, cast, get_args
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_gate.approvals import page
from mcp_gate.approvals.broker import Broker, DecisionRefused
from mcp_gate.approvals.model import Approval, GrantScope, State, Verdict
from mcp_gate.audit import AuditError, AuditLog
from mcp_gate.config import ApproverToken, BearerToken
from mcp_gate.identity import TokenTable

logger = logging.getLogger(__name__)

SESSION_COOKIE = "mcp_gate_approver"
SESSION_LIFETIME_S = 8 * 3600
"""A sign-in lasts about one shift; the cookie also dies when the gateway restarts."""
MAX_BODY = 16 * 1024
LIST_SCAN = 1000
"""How many of the most recent approvals ``GET /approvals`` looks through."""

STATES: frozenset[str] = frozenset(get_args(State))
GRANTS: frozenset[str] = frozenset(get_args(GrantScope))

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PAGE_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
}

ASSETS: dict[str, tuple[bytes, str]] = {
    name: ((files("mcp_gate.approvals") / "static" / name).read_bytes(), media_type)
    for name, media_type in (("page.css", "text/css"), ("page.js", "text/javascript"), ("favicon.svg", "image/svg+xml"))
}


class Sessions:
    """Signed sign-in cookies; the key lives only in this process, so a restart signs everyone out.

    The cookie holds the approver's name, a random session id and an expiry, never the
    token.  The CSRF token is an HMAC of the session id, so it is bound to the session
    without any server-side state.
    """

    def __init__(self, lifetime_s: float = SESSION_LIFETIME_S, clock: Callable[[], float] = time.time) -> None:
        self._key = secrets.token_bytes(32)
        self._lifetime_s = lifetime_s
        self._clock = clock

    def issue(self, approver: str) -> str:
        claims = {"approver": approver, "sid": secrets.token_urlsafe(16), "exp": int(self._clock() + self._lifetime_s)}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._mac(b'cookie', payload.encode()))}"

    def read(self, cookie: str | None) -> WebSession | None:
        """The session a cookie stands for, or None if it is missing, forged or expired."""
        payload, _, signature = (cookie or "").partition(".")
        try:
            valid = hmac.compare_digest(_unb64(signature), self._mac(b"cookie", payload.encode()))
            claims = json.loads(_unb64(payload)) if valid else None
        except (binascii.Error, ValueError):
            return None
        if not isinstance(claims, dict) or claims.get("exp", 0) <= self._clock():
            return None
        return WebSession(str(claims["approver"]), str(claims["sid"]))

    def csrf_token(self, session: WebSession) -> str:
        return _b64(self._mac(b"csrf", session.sid.encode()))

    def csrf_ok(self, session: WebSession, presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), self.csrf_token(session).encode())

    @property
    def lifetime_s(self) -> int:
        return int(self._lifetime_s)

    def _mac(self, label: bytes, message: bytes) -> bytes:
        return hmac.new(self._key, label + b"\x00" + message, hashlib.sha256).digest()


@dataclass(frozen=True)
class WebSession:
    approver: str
    sid: str


@dataclass(frozen=True)
class Outcome:
    """What became of a decision attempt: the HTTP status and the approval or why not."""

    status: int
    approval: Approval | None = None
    error: str | None = None


def approval_routes(broker: Broker, tokens: list[ApproverToken], *, audit: AuditLog, base_url: str) -> list[BaseRoute]:
    """The routes of the approval API and page, to mount in the gateway's Starlette app.

    ``tokens`` are the approvers' (``approvals.tokens``); ``base_url`` is the public
    address the gateway is reached at (``approvals.base_url``), used for the links in
    API answers, to accept form posts from that origin, and to mark the cookie Secure
    when it is https.
    """
    web = _ApprovalWeb(broker, tokens, audit, base_url)
    return [
        Route("/approvals", web.list_approvals, methods=["GET"]),
        Route("/approvals/assets/{name}", web.asset, methods=["GET"]),
        Route("/approvals/{approval_id}", web.show, methods=["GET"]),
        Route("/approvals/{approval_id}/approve", web.api_approve, methods=["POST"]),
        Route("/approvals/{approval_id}/deny", web.api_deny, methods=["POST"]),
        Route("/approvals/{approval_id}/sign-in", web.sign_in, methods=["POST"]),
        Route("/approvals/{approval_id}/sign-out", web.sign_out, methods=["POST"]),
        Route("/approvals/{approval_id}/decision", web.page_decide, methods=["POST"]),
    ]


class _ApprovalWeb:
    def __init__(self, broker: Broker, tokens: list[ApproverToken], audit: AuditLog, base_url: str) -> None:
        self.broker = broker
        self.tokens = TokenTable(BearerToken(principal=t.approver, sha256=t.sha256) for t in tokens)
        self.audit = audit
        self.base_url = base_url.rstrip("/")
        self.sessions = Sessions()
        self._secure_cookie = base_url.startswith("https://")

    # ------------------------------------------------------------------ API

    async def list_approvals(self, request: Request) -> Response:
        if self._bearer_approver(request) is None:
            return _unauthorized()
        query = request.query_params
        state = query.get("state")
        if state is not None and state not in STATES:
            return _json_error(400, f"state must be one of {', '.join(sorted(STATES))}")
        limit = query.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= LIST_SCAN:
            return _json_error(400, f"limit must be a number from 1 to {LIST_SCAN}")
        found = _listing(self.broker, state=state, tool=query.get("tool"), principal=query.get("principal"))
        return _json(200, {"approvals": [self._view(a) for a in found[: int(limit)]]})

    async def show(self, request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        if not _wants_json(request):
            return self._page(request, approval_id)
        if self._bearer_approver(request) is None:
            return _unauthorized()
        approval = self.broker.get(approval_id)
        if approval is None:
            return _json_error(404, f"no approval {approval_id!r}")
        return _json(200, self._view(approval))

    async def api_approve(self, request: Request) -> Response:
        return await self._api_decide(request, "approve")

    async def api_deny(self, request: Request) -> Response:
        return await self._api_decide(request, "deny")

    async def _api_decide(self, request: Request, verdict: Verdict) -> Response:
        approval_id = request.path_params["approval_id"]
        approver = self._bearer_approver(request)
        if approver is None:
            has_token = request.headers.get("authorization", "").strip() != ""
            self._reject(request, approval_id, "api", "unknown token" if has_token else "no token")
            return _unauthorized()
        body = await _read_body(request)
        if body is None:
            return _json_error(413, f"the body is larger than {MAX_BODY} bytes")
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return _json_error(400, 'the body must be JSON: {"reason": "...", "grant": "once"}')
        problem = _decision_fields_problem(data)
        if problem is not None:
            return _json_error(400, problem)
        outcome = await self._decide(
            approval_id, approver, verdict, "api", data.get("reason"), data.get("grant", "once")
        )
        if outcome.approval is None:
            return _json_error(outcome.status, outcome.error or "refused")
        return _json(200, self._view(outcome.approval))

    # ------------------------------------------------------------------ page

    def _page(self, request: Request, approval_id: str, *, error: str | None = None, status: int = 200) -> Response:
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return _html(401, page.sign_in(_base_path(request), approval_id))
        approval = self.broker.get(approval_id)
        if approval is None:
            return _html(404, page.not_found(_base_path(request), approval_id, session.approver))
        refusal = self.broker.refusal(approval, session.approver, "page") if approval.pending else None
        html = page.approval_page(
            _base_path(request),
            approval,
            viewer=session.approver,
            csrf=self.sessions.csrf_token(session),
            refusal=refusal,
            error=error,
            now=time.time(),
        )
        return _html(status, html)

    async def sign_in(self, request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        form = await _read_form(request)
        if form is None:
            return _html(400, page.sign_in(_base_path(request), approval_id, error="That form could not be read."))
        if not self._same_origin(request):
            self._reject(request, approval_id, "page", "cross-site sign-in")
            return _html(
                403, page.sign_in(_base_path(request), approval_id, error="Sign in from the approval page itself.")
            )
        approver = self.tokens.principal_for(form.get("token", "").strip())
        if approver is None:
            self._reject(request, approval_id, "page", "unknown token")
            return _html(401, page.sign_in(_base_path(request), approval_id, error="That is not an approver token."))
        logger.info("approver %s signed in to the approval page", approver)
        response = RedirectResponse(_page_path(request, approval_id), status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(approver),
            max_age=self.sessions.lifetime_s,
            path=_base_path(request),
            secure=self._secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    async def sign_out(self, request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        checked = await self._checked_session(request)
        if isinstance(checked, str):
            return self._page(request, approval_id, error="Sign out with the page's own button.", status=403)
        response = RedirectResponse(_page_path(request, approval_id), status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(
            SESSION_COOKIE, path=_base_path(request), secure=self._secure_cookie, httponly=True, samesite="strict"
        )
        return response

    async def page_decide(self, request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        checked = await self._checked_session(request)
        if isinstance(checked, str):
            session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
            self._reject(request, approval_id, "page", checked, approver=session.approver if session else None)
            return self._page(
                request,
                approval_id,
                error="The form expired or did not come from this page; nothing was decided.",
                status=403,
            )
        session, form = checked
        verdict, grant = form.get("verdict", ""), form.get("grant", "once")
        if verdict not in ("approve", "deny"):
            return self._page(request, approval_id, error="Choose Approve or Deny.", status=400)
        if grant not in GRANTS:
            return self._page(request, approval_id, error="Choose how long the approval lasts.", status=400)
        outcome = await self._decide(
            approval_id, session.approver, cast(Verdict, verdict), "page", form.get("reason"), cast(GrantScope, grant)
        )
        if outcome.approval is None:
            return self._page(request, approval_id, error=outcome.error, status=outcome.status)
        return RedirectResponse(_page_path(request, approval_id), status_code=303, headers=SECURITY_HEADERS)

    async def _checked_session(self, request: Request) -> tuple[WebSession, dict[str, str]] | str:
        """The signed-in session and its form, or why the post does not count (for the audit log)."""
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return "no signed-in session"
        form = await _read_form(request)
        if form is None or not self._same_origin(request) or not self.sessions.csrf_ok(session, form.get("csrf", "")):
            return "CSRF failure"
        return session, form

    async def asset(self, request: Request) -> Response:
        found = ASSETS.get(request.path_params["name"])
        if found is None:
            return Response(status_code=404)
        body, media_type = found
        headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type=media_type, headers=headers)

    # ------------------------------------------------------------------ shared

    async def _decide(
        self, approval_id: str, approver: str, verdict: Verdict, via: str, reason: str | None, grant: GrantScope
    ) -> Outcome:
        """Hand one decision to the broker and say, as an HTTP status, what became of it."""
        if self.broker.get(approval_id) is None:
            return Outcome(404, error=f"no approval {approval_id!r}")
        if verdict == "deny" and not (reason or "").strip():
            return Outcome(400, error="a denial needs a reason")
        try:
            approval = await self.broker.decide(approval_id, approver, verdict, via=via, reason=reason, grant=grant)
        except DecisionRefused as exc:
            current = self.broker.get(approval_id)
            settled = current is not None and (
                not current.pending or any(v.approver == approver for v in current.votes)
            )
            return Outcome(409 if settled else 403, error=str(exc))
        except AuditError:
            return Outcome(
                503, error="the audit log could not be written, so the gateway cannot vouch for this decision"
            )
        return Outcome(200, approval=approval)

    def _bearer_approver(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.tokens.principal_for(token.strip())

    def _same_origin(self, request: Request) -> bool:
        """Browsers name the site a form was posted from; it must be this gateway.

        (Under ``Referrer-Policy: same-origin`` a browser names it only to the same site:
        anything else arrives as ``null`` and is refused.)
        """
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser, or an old one: the CSRF token and SameSite still hold
        return urlsplit(origin).netloc in {request.headers.get("host"), urlsplit(self.base_url).netloc}

    def _reject(self, request: Request, approval_id: str, via: str, reason: str, **fields: Any) -> None:
        logger.warning("refused a decision attempt on %s via %s: %s", approval_id, via, reason)
        try:
            self.audit.write(
                "callback.rejected",
                {
                    "approval_id": approval_id,
                    "channel": via,
                    "reason": reason,
                    "remote": request.client.host if request.client else None,
                    **fields,
                },
            )
        except AuditError:
            logger.critical("could not record a rejected decision attempt on %s", approval_id)

    def _view(self, approval: Approval) -> dict[str, Any]:
        return {**approval.public_view(), "url": f"{self.base_url}/approvals/{approval.id}"}


def _listing(broker: Broker, *, state: str | None, tool: str | None, principal: str | None) -> list[Approval]:
    """Pending approvals first (soonest to expire first), then the rest, newest first."""
    found = {a.id: a for a in broker.store.recent(LIST_SCAN)}
    found.update((a.id, a) for a in broker.store.pending())
    chosen = [
        a
        for a in found.values()
        if (state is None or a.state == state)
        and (tool is None or fnmatch.fnmatchcase(a.tool, tool))
        and (principal is None or a.requester == principal)
    ]
    return sorted(chosen, key=lambda a: (0, a.expires_at) if a.pending else (1, -a.created_at))


def _decision_fields_problem(data: object) -> str | None:
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    unknown = set(data) - {"reason", "grant"}
    if unknown:
        return f"unknown field(s): {', '.join(sorted(unknown))} (use reason and grant)"
    if not isinstance(data.get("reason", ""), str | None):
        return "reason must be a string"
    if data.get("grant", "once") not in GRANTS:
        return f"grant must be one of {', '.join(sorted(GRANTS))}"
    return None


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _base_path(request: Request) -> str:
    """Where the approval routes live as the browser sees them (behind a proxy's root path too)."""
    return str(request.scope.get("root_path", "")) + "/approvals"


def _page_path(request: Request, approval_id: str) -> str:
    return f"{_base_path(request)}/{approval_id}"


async def _read_body(request: Request) -> bytes | None:
    """The request body, or None past ``MAX_BODY`` (a decision is a few hundred bytes)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return body


async def _read_form(request: Request) -> dict[str, str] | None:
    """A small url-encoded form, or None if it is something else or too large."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = await _read_body(request)
    try:
        return None if body is None else dict(parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=16))
    except ValueError:
        return None


def _json(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _json_error(status: int, message: str) -> JSONResponse:
    return _json(status, {"error": message})


def _unauthorized() -> JSONResponse:
    response = _json_error(401, "an approver token is required (Authorization: Bearer <token>)")
    response.headers["WWW-Authenticate"] = 'Bearer realm="mcp-gate approvals"'
    return response


def _html(status: int, body: str) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
