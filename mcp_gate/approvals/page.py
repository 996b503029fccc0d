"""The approval page as HTML: what a nurse manager or an SRE needs in order to decide.

Every value on it came from an agent, an upstream or a configuration at some remove,
so every value goes through ``esc`` before it reaches the markup.  The page has no
inline script or style: the Content-Security-Policy allows only this gateway's own
stylesheet and a small script that makes times local and the countdown live (the
page is complete without it).
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

from mcp_gate import __version__
from mcp_gate.approvals import render
from mcp_gate.approvals.model import Approval, Vote
from mcp_gate.units import human_duration

MASKED = re.compile(r"\[[A-Z][A-Z_]*(?:_[0-9a-f]{4,})?\]")
"""What the gateway's masking leaves in place of a value: ``[SSN]`` or ``[SSN_1a2b3c]``."""

STATE_LABELS = {
    "pending": "Waiting for a decision",
    "approved": "Approved",
    "denied": "Denied",
    "expired": "Expired",
    "cancelled": "Cancelled",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def sign_in(base: str, approval_id: str, *, error: str | None = None) -> str:
    """The sign-in form: shows nothing about the approval until an approver has signed in."""
    body = f"""
<main class="wrap narrow" id="main">
  <section class="card signin" aria-labelledby="signin-title">
    <h1 id="signin-title">Sign in to review a request</h1>
    <p>An AI agent's tool call is on hold until an approver decides. Sign in with your
    approver token to see what it wants to do.</p>
    {_alert(error)}
    <form method="post" action="{esc(base)}/{esc(approval_id)}/sign-in">
      <label for="token">Approver token</label>
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
      <p class="hint">Your browser keeps a signed session for this gateway; the token itself is not stored.</p>
      <button type="submit" class="btn primary">Sign in</button>
    </form>
  </section>
  <p class="muted small">Request <code>{esc(approval_id)}</code></p>
</main>"""
    return _document(base, "Sign in · mcp-gate approvals", body)


def not_found(base: str, approval_id: str, viewer: str) -> str:
    body = f"""
<main class="wrap narrow" id="main">
  <section class="card" aria-labelledby="missing-title">
    <h1 id="missing-title">No such approval</h1>
    <p>There is no approval <code>{esc(approval_id)}</code> on this gateway. It may have been
    made by another gateway instance, or the link may be incomplete.</p>
  </section>
</main>"""
    return _document(base, "Not found · mcp-gate approvals", body, viewer=viewer)


def approval_page(
    base: str,
    approval: Approval,
    *,
    viewer: str,
    csrf: str,
    refusal: str | None,
    error: str | None,
    now: float,
) -> str:
    """One approval with its full context, and the decision form if ``viewer`` may decide."""
    tool = (
        f"{esc(approval.tool_title)} <code>{esc(approval.tool)}</code>"
        if approval.tool_title
        else f"<code>{esc(approval.tool)}</code>"
    )
    headline = esc(approval.tool_title) if approval.tool_title else f"<code>{esc(approval.tool)}</code>"
    body = f"""
<main class="wrap" id="main">
  <section class="summary state-{esc(approval.state)}" aria-labelledby="title">
    <p class="status-line">
      <span class="badge">{esc(STATE_LABELS[approval.state])}</span>{_status_detail(approval, now)}
    </p>
    <h1 id="title">{headline}</h1>
    <p class="target"><code>{esc(approval.server)}</code> › <code>{esc(approval.tool)}</code></p>
    <p class="lede">
      <strong>{esc(approval.requester)}</strong> asked for this{_via_client(approval)}. {esc(_lede(approval))}
    </p>
  </section>
  {_alert(error)}
  <div class="grid">
    <section class="card" aria-labelledby="who">
      <h2 id="who">Who is asking</h2>
      <dl>
        <dt>Requester</dt><dd>{esc(approval.requester)}</dd>
        <dt>Client</dt><dd>{esc(approval.client or "not reported")}</dd>
        <dt>Session</dt><dd><code>{esc(approval.session)}</code></dd>
      </dl>
    </section>
    <section class="card" aria-labelledby="when">
      <h2 id="when">When</h2>
      <dl>
        <dt>Requested</dt><dd>{_time(approval.created_at)}</dd>
        <dt>Expires</dt><dd>{_time(approval.expires_at)}{_countdown(approval, now)}</dd>
        {"<dt>Unanswered</dt><dd>counts as denied</dd>" if approval.pending else ""}
      </dl>
    </section>
  </div>
  <section class="card" aria-labelledby="what">
    <h2 id="what">What it will do</h2>
    <dl>
      <dt>Server</dt><dd><code>{esc(approval.server)}</code></dd>
      <dt>Tool</dt><dd>{tool}</dd>
    </dl>
    <h3>Arguments</h3>
    {_arguments(approval.arguments)}
  </section>
  <section class="card" aria-labelledby="why">
    <h2 id="why">Why it needs approval</h2>
    <dl>
      <dt>Rule</dt>
      <dd><code>{esc(approval.rule_id)}</code>{f" — {esc(approval.rule_reason)}" if approval.rule_reason else ""}</dd>
      <dt>Agent's justification</dt><dd>{_justification(approval.justification)}</dd>
    </dl>
  </section>
  <section class="card decision" aria-labelledby="decision">
    <h2 id="decision">Decision</h2>
    <p class="needs"><span class="muted">Needs</span> {esc(_needs(approval))}</p>
    {_votes(approval)}
    {_decision(base, approval, viewer=viewer, csrf=csrf, refusal=refusal)}
  </section>
  <footer class="muted small">
    Approval <code>{esc(approval.id)}</code> · call <code>{esc(approval.call_id)}</code> ·
    request digest <code title="{esc(approval.digest)}">{esc(approval.digest[:16])}…</code>
  </footer>
</main>"""
    title = f"{STATE_LABELS[approval.state]}: {approval.tool} · mcp-gate approvals"
    return _document(base, title, body, viewer=viewer, csrf=csrf, sign_out=f"{base}/{approval.id}/sign-out")


# --------------------------------------------------------------------------- parts


def _document(
    base: str, title: str, body: str, *, viewer: str | None = None, csrf: str | None = None, sign_out: str | None = None
) -> str:
    account = ""
    if viewer is not None:
        button = ""
        if csrf is not None and sign_out is not None:
            button = (
                f'<form method="post" action="{esc(sign_out)}" class="inline">'
                f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
                '<button type="submit" class="link">Sign out</button></form>'
            )
        account = f'<div class="account">Signed in as <strong>{esc(viewer)}</strong>{button}</div>'
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="icon" href="{esc(base)}/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{esc(base)}/assets/page.css?v={esc(__version__)}">
<script src="{esc(base)}/assets/page.js?v={esc(__version__)}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="topbar">
  <div class="wrap topbar-inner">
    <div class="brand">
      <span class="mark" aria-hidden="true"></span>mcp-gate <span class="brand-sub">Approvals</span>
    </div>
    {account}
  </div>
</header>
{body}
</body>
</html>
"""


def _alert(error: str | None) -> str:
    if not error:
        return ""
    return f'<div class="alert" role="alert"><strong>Not done.</strong> {esc(_sentence(error))}</div>'


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


def _lede(approval: Approval) -> str:
    return {
        "pending": "The gateway is holding the call: it runs only if it is approved.",
        "approved": "The gateway released the call.",
        "denied": "The gateway blocked the call.",
        "expired": "No one decided in time, so the gateway blocked the call.",
        "cancelled": "The agent withdrew the call before anyone decided.",
    }[approval.state]


def _needs(approval: Approval) -> str:
    """Who has to agree, in words: the quorum, the four-eyes rule and the listed approvers."""
    count = "1 approval" if approval.quorum == 1 else f"{approval.quorum} approvals from different people"
    who = "any configured approver" if approval.approvers is None else ", ".join(approval.approvers)
    four_eyes = ", not the requester" if approval.separate_requester else ""
    return f"{count} · from {who}{four_eyes} · one denial ends it"


def _via_client(approval: Approval) -> str:
    return f" through <strong>{esc(approval.client)}</strong>" if approval.client else ""


def _status_detail(approval: Approval, now: float) -> str:
    approvals = len({v.approver for v in approval.votes if v.verdict == "approve"})
    if approval.state == "pending":
        needed = f"{approvals} of {approval.quorum} approvals so far · " if approval.quorum > 1 else ""
        return f'<span class="detail">{needed}expires {_countdown(approval, now, bare=True)}</span>'
    last = approval.votes[-1] if approval.votes else None
    if approval.state == "approved":
        grant = _grant_text(approval)
        by = ", ".join(approval.decided_by)
        return f'<span class="detail">by {esc(by)}{_at(last)} · allowed: {esc(grant)}</span>'
    if approval.state == "denied":
        by = f"by {esc(', '.join(approval.decided_by))}{_at(last)}" if approval.decided_by else "by the gateway"
        reason = f": “{esc(approval.outcome_reason)}”" if approval.outcome_reason else ""
        return f'<span class="detail">{by}{reason}</span>'
    return f'<span class="detail">{esc(_sentence(approval.outcome_reason or "no decision in time"))}</span>'


def _at(vote: Vote | None) -> str:
    return f" at {_time(vote.at)}" if vote is not None else ""


def _grant_text(approval: Approval) -> str:
    if approval.grant == "ttl" and approval.grant_until is not None:
        return f"this call until {_utc(approval.grant_until)}"
    return render.grant_label(approval, approval.grant or "once").lower()


def _time(ts: float) -> str:
    iso = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return f'<time datetime="{iso}" data-local>{_utc(ts)}</time>'


def _utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _countdown(approval: Approval, now: float, *, bare: bool = False) -> str:
    if not approval.pending:
        return ""
    left = max(0, round(approval.expires_at - now))
    text = f"in {human_duration(left)}" if left else "now"
    countdown = f'<span class="countdown" data-countdown="{left}">{text}</span>'
    return countdown if bare else f" ({countdown})"


def _arguments(arguments: dict[str, Any]) -> str:
    if not arguments:
        return '<p class="muted">No arguments.</p>'
    rows = "".join(
        f'<tr><th scope="row"><code>{esc(key)}</code></th><td>{_value(value)}</td></tr>'
        for key, value in arguments.items()
    )
    masked = any(MASKED.search(json.dumps(value, ensure_ascii=False)) for value in arguments.values())
    table = f'<table class="args"><caption class="sr-only">Arguments of the call</caption><tbody>{rows}</tbody></table>'
    if not masked:
        return table
    return f'{table}<p class="hint"><span class="masked">Highlighted</span> values were masked by the gateway.</p>'


def _value(value: Any) -> str:
    if isinstance(value, str):
        return f'<span class="text">{_highlight(value)}</span>'
    if isinstance(value, dict | list):
        return f"<pre>{_highlight(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"
    return f"<code>{esc(json.dumps(value))}</code>"


def _highlight(text: str) -> str:
    """Escape ``text`` and mark the placeholders masking left in it."""
    return MASKED.sub(lambda m: f'<mark class="masked">{m.group(0)}</mark>', esc(text))


def _justification(text: str | None) -> str:
    if not text:
        return '<span class="muted">None given.</span>'
    return (
        f'<blockquote class="justification">{_highlight(text)}</blockquote>'
        '<p class="hint">Written by the agent; not verified by the gateway.</p>'
    )


def _votes(approval: Approval) -> str:
    if not approval.votes:
        return '<p class="muted">No one has decided yet.</p>' if approval.pending else ""
    items = "".join(_vote(vote) for vote in approval.votes)
    return f'<ul class="votes">{items}</ul>'


def _vote(vote: Vote) -> str:
    verb = "approved" if vote.verdict == "approve" else "denied"
    grant = f" ({esc(vote.grant)})" if vote.verdict == "approve" and vote.grant != "once" else ""
    reason = f"<q>{esc(vote.reason)}</q>" if vote.reason else ""
    return (
        f'<li class="vote vote-{esc(vote.verdict)}"><strong>{esc(vote.approver)}</strong> {verb}{grant} '
        f'<span class="muted">via {esc(vote.via)} at {_time(vote.at)}</span>{reason}</li>'
    )


def _decision(base: str, approval: Approval, *, viewer: str, csrf: str, refusal: str | None) -> str:
    if not approval.pending:
        return ""
    if any(vote.approver == viewer for vote in approval.votes):
        waiting = approval.quorum - len({v.approver for v in approval.votes if v.verdict == "approve"})
        more = f"{waiting} more approver{'s' if waiting != 1 else ''}"
        return f'<p class="notice">Your decision is recorded. Waiting for {more}.</p>'
    if refusal is not None:
        return f'<p class="notice">You cannot decide this request: {esc(refusal)}.</p>'
    return f"""
    <form method="post" action="{esc(base)}/{esc(approval.id)}/decision" class="decide">
      <input type="hidden" name="csrf" value="{esc(csrf)}">
      {_grant_choice(approval)}
      <label for="reason">Reason <span class="muted">(required to deny; an optional note when approving)</span></label>
      <textarea id="reason" name="reason" rows="3" maxlength="2000"></textarea>
      <div class="actions">
        <button type="submit" name="verdict" value="approve" class="btn approve">Approve</button>
        <button type="submit" name="verdict" value="deny" class="btn deny">Deny</button>
      </div>
      <p class="hint">Deciding as <strong>{esc(viewer)}</strong>.
      Your decision, reason and the time are written to the audit log.</p>
    </form>"""


def _grant_choice(approval: Approval) -> str:
    if len(approval.grants) < 2:
        only = approval.grants[0] if approval.grants else "once"
        return f'<input type="hidden" name="grant" value="{esc(only)}">'
    options = "".join(
        f'<label class="choice"><input type="radio" name="grant" value="{esc(grant)}"{" checked" if i == 0 else ""}> '
        f"{esc(render.grant_label(approval, grant))}</label>"
        for i, grant in enumerate(approval.grants)
    )
    return f'<fieldset class="grants"><legend>If approved, allow</legend>{options}</fieldset>'
