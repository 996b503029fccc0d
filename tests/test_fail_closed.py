"""Whatever goes wrong inside the gateway, a call it cannot account for does not run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from mcp_gate.audit import AuditError, AuditLog
from mcp_gate.config import load_config
from mcp_gate.gateway import Gateway

from conftest import EHR, policy, write_policy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class BreakableAudit(AuditLog):
    """A real audit log whose disk can be made to fail, as a full or lost disk would."""

    broken = False

    def write(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        if self.broken:
            raise AuditError("No space left on device")
        return super().write(event, fields)


@asynccontextmanager
async def serving(tmp_path: Path, audit: AuditLog) -> AsyncIterator[Gateway]:
    """The gateway in front of the EHR demo, allowing everything, on the given audit log."""
    path = write_policy(tmp_path, policy({"ehr": EHR}, [{"action": "allow"}]))
    audit.open()
    try:
        gateway = Gateway(load_config(path), audit)
        async with gateway.running():
            yield gateway
    finally:
        audit.close()


def chart_medications(result: types.CallToolResult) -> list[str]:
    assert result.structured_content is not None
    return [m["name"] for m in result.structured_content["medications"]]


async def test_a_call_whose_audit_record_cannot_be_written_is_not_run(tmp_path: Path, era: str) -> None:
    audit = BreakableAudit(tmp_path / "audit.jsonl")
    async with serving(tmp_path, audit) as gateway, Client(gateway.server, mode=era, cache=None) as client:
        audit.broken = True
        refused = await client.call_tool(
            "update_medication", {"mrn": "MRN-004211", "medication": "insulin", "dose": "10 units", "reason": "A1c"}
        )
        assert refused.is_error
        assert refused.content[0].text == (
            "mcp-gate could not write its audit log, so the call was refused. Tell the operator."
        )
        audit.broken = False
        chart = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
        assert chart_medications(chart) == ["metformin"]  # the update never reached the EHR


async def test_a_forged_request_state_is_refused(tmp_path: Path) -> None:
    async with serving(tmp_path, AuditLog(tmp_path / "audit.jsonl")) as gateway:
        async with Client(gateway.server, mode="auto", cache=None) as client:
            forged = '{"c":"x","u":null,"p":"guessed-parked-call"}'
            with pytest.raises(MCPError, match="Invalid or expired requestState"):
                await client.session.call_tool(
                    "schedule_followup", {"mrn": "MRN-004211"}, request_state=forged, allow_input_required=True
                )


async def test_request_state_only_resumes_the_call_it_was_issued_for(tmp_path: Path) -> None:
    async def never_called(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        raise AssertionError("this test answers by hand")

    async with (
        serving(tmp_path, AuditLog(tmp_path / "audit.jsonl")) as gateway,
        Client(gateway.server, mode="auto", cache=None, elicitation_callback=never_called) as client,
    ):
        asked = await client.session.call_tool("schedule_followup", {"mrn": "MRN-004211"}, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            # The same state presented for another patient's call.
            await client.session.call_tool(
                "schedule_followup",
                {"mrn": "MRN-007730"},
                request_state=asked.request_state,
                input_responses={key: types.ElicitResult(action="accept", content={"day": "2027-02-01"}) for key in asked.input_requests or {}},
                allow_input_required=True,
            )
