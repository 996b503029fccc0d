"""A person approves a held call on the page, in a real headless Chromium, and the call is released."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from playwright.async_api import ConsoleMessage, Response, async_playwright, expect

from mcp_gate.approvals import Approval

from approvals_kit import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, approval_site

pytestmark = [pytest.mark.anyio, pytest.mark.slow]



async def test_an_approver_signs_in_reads_the_context_approves_and_the_held_call_runs(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "the browser test needs Debian's chromium: apt-get install chromium"
    ARTIFACTS.mkdir(exist_ok=True)
    async with approval_site(tmp_path) as site:
        approval = site.open(
            tool_title="Export patient records",
            arguments={
                "patients": [
                    {"name": "[NAME_3a9f01]", "mrn": "[MRN_4f1c2a]"},
                    {"name": "[NAME_77c0d2]", "mrn": "[MRN_09be7d]"},
                ],
                "format": "csv",
                "destination": "sftp://registry.state.example/uploads",
            },
            requester="dr.lee@example.com",
            approvers=None,
            separate_requester=True,
            justification="Monthly cancer registry submission, due Friday. Covers the two patients discharged this week.",
            rule_reason="Bulk exports leave the EHR and need a second person.",
            grants=["once", "session"],
        )
        released: list[Approval] = []
        async with anyio.create_task_group() as tg, async_playwright() as playwright:

            async def held_call() -> None:
                released.append(await site.broker.wait(approval, timeout=120))

            tg.start_soon(held_call)
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            problems: list[str] = []
            page.on("console", lambda message: _collect(problems, message))
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("response", lambda response: _check_asset(problems, response))

            await page.goto(f"{site.url}/approvals/{approval.id}")
            await page.get_by_label("Approver token").fill(site.tokens["alice@example.com"])
            await page.get_by_role("button", name="Sign in").click()

            await expect(page.get_by_role("heading", level=1)).to_have_text("Export patient records")
            for shown in (
                "dr.lee@example.com",
                "export_records",
                "Monthly cancer registry submission, due Friday.",
                "[MRN_4f1c2a]",
                "[NAME_3a9f01]",
                "Bulk exports leave the EHR",
                "Waiting for a decision",
            ):
                await expect(page.get_by_text(shown, exact=False).first).to_be_visible()
            badge = await page.eval_on_selector(".badge", "el => getComputedStyle(el).backgroundColor")
            assert badge == "rgb(255, 244, 220)", "the stylesheet did not load under the page's CSP"
            screenshot = ARTIFACTS / "approval-page.png"
            await page.screenshot(path=str(screenshot), full_page=True)
            print(f"approval page screenshot: {screenshot}")

            await page.get_by_label("Reason").fill("Confirmed with the registry team.")
            await page.get_by_role("button", name="Approve").click()
            await expect(page.locator(".badge")).to_have_text("Approved")
            await expect(page.get_by_text("by alice@example.com")).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / "approval-page-approved.png"), full_page=True)
            await browser.close()
            assert problems == []

        assert released[0].state == "approved" and released[0].decided_by == ["alice@example.com"]
        assert released[0].votes[0].via == "page" and released[0].votes[0].reason == "Confirmed with the registry team."


def _collect(problems: list[str], message: ConsoleMessage) -> None:
    """Script errors and Content-Security-Policy violations show up as console errors."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        problems.append(message.text)


def _check_asset(problems: list[str], response: Response) -> None:
    """The stylesheet, script and icon must load (the sign-in page itself answers 401)."""
    if response.request.resource_type != "document" and response.status >= 400:
        problems.append(f"{response.url} answered {response.status}")
