"""The approval page over real HTTP: sign-in, the session cookie, CSRF, escaping and headers."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pytest

from mcp_gate.approvals.web import Sessions

from approvals_kit import Site, approval_site

pytestmark = pytest.mark.anyio

HOSTILE = "<script>alert('pwned')</script>"


async def sign_in(http: httpx2.AsyncClient, site: Site, approval_id: str, approver: str) -> str:
    """Sign in on the page as ``approver``; returns the session cookie's value (the client keeps none)."""
    answer = await http.post(f"/approvals/{approval_id}/sign-in", data={"token": site.tokens[approver]})
    http.cookies.clear()
    assert answer.status_code == 303 and answer.headers["location"] == f"/approvals/{approval_id}"
    match = re.match(r"mcp_gate_approver=([^;]+)", answer.headers["set-cookie"])
    assert match is not None
    return match.group(1)


async def page_with_csrf(http: httpx2.AsyncClient, approval_id: str, cookie: str) -> tuple[str, str]:
    page = await http.get(f"/approvals/{approval_id}", headers={"Cookie": f"mcp_gate_approver={cookie}"})
    assert page.status_code == 200
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match is not None
    return page.text, match.group(1)


async def test_the_page_shows_nothing_until_an_approver_signs_in(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open(justification="monthly registry for the state")
        anonymous = await http.get(f"/approvals/{approval.id}")
        assert anonymous.status_code == 401 and 'name="token"' in anonymous.text
        assert "MRN-1" not in anonymous.text and "monthly registry" not in anonymous.text

        agent = await http.post(f"/approvals/{approval.id}/sign-in", data={"token": site.agent_token})
        assert agent.status_code == 401 and "That is not an approver token." in agent.text
        assert "set-cookie" not in agent.headers
        assert site.audit("callback.rejected")[-1]["reason"] == "unknown token"

        answer = await http.post(f"/approvals/{approval.id}/sign-in", data={"token": site.tokens["alice@example.com"]})
        http.cookies.clear()
        cookie = answer.headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/approvals"):
            assert attribute.lower() in cookie.lower()
        assert site.tokens["alice@example.com"] not in cookie
        page = await http.get(answer.headers["location"], headers={"Cookie": cookie.split(";")[0]})
        assert page.status_code == 200
        assert "monthly registry for the state" in page.text and "MRN-1" in page.text
        assert "Signed in as <strong>alice@example.com</strong>" in page.text


async def test_a_tampered_cookie_or_a_cross_site_sign_in_is_not_a_session(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open()
        cookie = await sign_in(http, site, approval.id, "bob@example.com")
        payload, signature = cookie.split(".")
        forged = payload.replace("b", "c", 1) + "." + signature
        page = await http.get(f"/approvals/{approval.id}", headers={"Cookie": f"mcp_gate_approver={forged}"})
        assert page.status_code == 401 and 'name="token"' in page.text

        cross_site = await http.post(
            f"/approvals/{approval.id}/sign-in",
            data={"token": site.tokens["bob@example.com"]},
            headers={"Origin": "https://evil.example"},
        )
        assert cross_site.status_code == 403 and "set-cookie" not in cross_site.headers
        assert site.audit("callback.rejected")[-1]["reason"] == "cross-site sign-in"


async def test_the_page_escapes_every_value_it_shows(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open(
            tool_title=HOSTILE,
            arguments={"note": HOSTILE, HOSTILE: ["<img src=x onerror=alert(1)>"], "ssn": "[SSN_9c1e44]"},
            justification=f'"><b>urgent</b>{HOSTILE}',
            rule_reason=HOSTILE,
            client=HOSTILE,
        )
        cookie = await sign_in(http, site, approval.id, "alice@example.com")
        page = await http.get(f"/approvals/{approval.id}", headers={"Cookie": f"mcp_gate_approver={cookie}"})
        assert "<script>alert" not in page.text and "<img" not in page.text and "<b>urgent" not in page.text
        assert page.text.count("&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;") >= 5
        assert '<mark class="masked">[SSN_9c1e44]</mark>' in page.text

        headers = page.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert headers["cache-control"] == "no-store" and headers["x-frame-options"] == "DENY"
        assert "<script>" not in page.text and "style=" not in page.text
        stylesheet = await http.get("/approvals/assets/page.css")
        assert stylesheet.status_code == 200 and stylesheet.headers["content-type"].startswith("text/css")


async def test_a_form_post_without_the_sessions_csrf_token_decides_nothing(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        approval = site.open()
        alice = await sign_in(http, site, approval.id, "alice@example.com")
        bob = await sign_in(http, site, approval.id, "bob@example.com")
        _, bobs_csrf = await page_with_csrf(http, approval.id, bob)
        url = f"/approvals/{approval.id}/decision"
        for form in ({"verdict": "approve"}, {"verdict": "approve", "csrf": bobs_csrf}):
            answer = await http.post(url, data=form, headers={"Cookie": f"mcp_gate_approver={alice}"})
            assert answer.status_code == 403 and "nothing was decided" in answer.text
        no_session = await http.post(url, data={"verdict": "approve", "csrf": bobs_csrf})
        assert no_session.status_code == 401
        assert approval.pending and approval.votes == []
        rejected = site.audit("callback.rejected")
        assert [(r["reason"], r.get("approver")) for r in rejected] == [
            ("CSRF failure", "alice@example.com"),
            ("CSRF failure", "alice@example.com"),
            ("no signed-in session", None),
        ]

        _, csrf = await page_with_csrf(http, approval.id, alice)
        answer = await http.post(
            url, data={"verdict": "approve", "csrf": csrf}, headers={"Cookie": f"mcp_gate_approver={alice}"}
        )
        assert answer.status_code == 303 and approval.state == "approved"
        assert approval.votes[0].via == "page" and approval.votes[0].approver == "alice@example.com"


async def test_the_page_explains_refusals_and_shows_the_outcome(tmp_path: Path) -> None:
    async with approval_site(tmp_path) as site, httpx2.AsyncClient(base_url=site.url) as http:
        own = site.open(requester="dr.lee@example.com", approvers=None, separate_requester=True)
        lee = await sign_in(http, site, own.id, "dr.lee@example.com")
        page, _ = await page_with_csrf(http, own.id, lee)
        assert "You cannot decide this request: the requester may not approve their own call." in page

        approval = site.open(session="s2", grants=["once", "session", "ttl"])
        bob = await sign_in(http, site, approval.id, "bob@example.com")
        page, csrf = await page_with_csrf(http, approval.id, bob)
        assert 'value="session"' in page and "This call for 1 h" in page
        cookie = {"Cookie": f"mcp_gate_approver={bob}"}
        url = f"/approvals/{approval.id}/decision"
        blank = await http.post(url, data={"verdict": "deny", "reason": "", "csrf": csrf}, headers=cookie)
        assert blank.status_code == 400 and "A denial needs a reason." in blank.text and approval.pending
        denied = await http.post(
            url, data={"verdict": "deny", "reason": "wrong <patient> list", "csrf": csrf}, headers=cookie
        )
        assert denied.status_code == 303
        outcome = await http.get(denied.headers["location"], headers=cookie)
        assert "state-denied" in outcome.text and "wrong &lt;patient&gt; list" in outcome.text
        assert 'name="verdict"' not in outcome.text


async def test_a_session_ends_after_its_lifetime_and_its_csrf_token_is_its_own() -> None:
    clock = [1_000_000.0]
    sessions = Sessions(lifetime_s=8 * 3600, clock=lambda: clock[0])
    cookie = sessions.issue("alice@example.com")
    session = sessions.read(cookie)
    assert session is not None and session.approver == "alice@example.com"
    assert sessions.csrf_ok(session, sessions.csrf_token(session))
    other = sessions.read(sessions.issue("alice@example.com"))
    assert other is not None and not sessions.csrf_ok(session, sessions.csrf_token(other))
    assert Sessions().read(cookie) is None, "another gateway process must not accept this cookie"
    clock[0] += 8 * 3600
    assert sessions.read(cookie) is None
