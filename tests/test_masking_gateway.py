"""Masking in the gateway: what the agent sees, tokens it can use again, and failing closed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

from conftest import EHR, EVERYTHING, gateway_client, policy, read_audit, running_gateway, write_policy
from mcp_gate.config import load_config

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PLANTED = ["Maria Gonzalez", "532-71-4408", "(617) 555-0142", "maria.gonzalez@example.org", "44 Elm Street", "1234567893"]


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


async def test_phi_never_reaches_the_agent_or_the_log(tmp_path: Path, era: str) -> None:
    path = write_policy(tmp_path, policy({"ehr": EHR}, [{"id": "reads", "action": "allow"}]))
    async with gateway_client(path, era) as client:
        chart = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
        export = await client.call_tool("export_records", {"mrns": ["MRN-004211"], "format": "csv"})
    seen = json.dumps(chart.model_dump(mode="json")) + json.dumps(export.model_dump(mode="json"))
    for value in PLANTED:
        assert value not in seen
    assert "metformin" in seen  # clinical content is not an identifier
    executed = [r for r in read_audit(tmp_path) if r["event"] == "tool.executed"]
    assert executed[0]["masked"]["ssn"] == 1  # structured content and its JSON text twin are one finding
    log = (tmp_path / "audit.jsonl").read_text()
    assert not any(value in log for value in PLANTED)


async def test_tokens_the_agent_saw_are_unmasked_on_the_way_back(tmp_path: Path, era: str) -> None:
    rules = [{"id": "reads", "match": {"tool": ["search_*", "get_*"]}, "action": "allow", "unmask_args": True}]
    path = write_policy(tmp_path, policy({"ehr": EHR}, rules))
    async with gateway_client(path, era) as client:
        found = await client.call_tool("search_patients", {"query": "Gonzalez"})
        assert found.structured_content is not None
        token = found.structured_content["result"][0]["mrn"]
        assert token.startswith("[MRN_")
        chart = await client.call_tool("get_patient", {"mrn": token})
        assert not chart.is_error
        assert chart.structured_content is not None and chart.structured_content["mrn"] == token
        assert chart.structured_content["medications"] == [{"name": "metformin", "dose": "500 mg twice daily"}]
        # A token this session never issued is left as it is: the upstream does not know it.
        forged = await client.call_tool("get_patient", {"mrn": "[MRN_000000]"})
        assert forged.is_error
    executed = [r for r in read_audit(tmp_path) if r["event"] in ("tool.executed", "tool.failed")]
    assert executed[1]["unmasked"] == {"mrn": 1}
    assert executed[2]["unknown_tokens"] == 1


async def test_tokens_do_not_travel_between_sessions(tmp_path: Path) -> None:
    rules = [{"id": "reads", "action": "allow", "unmask_args": True}]
    config = load_config(write_policy(tmp_path, policy({"ehr": EHR}, rules)))
    async with running_gateway(config) as gateway:
        first = gateway.masking_for("session-a")
        second = gateway.masking_for("session-b")
        masked, _ = first.mask_value({"mrn": "MRN-004211"}, {"type": "object", "properties": {"mrn": {"type": "string"}}})
        token = masked["mrn"]
        assert second.mask_value({"mrn": "MRN-004211"})[0]["mrn"] != token
        arguments, report = second.unmask_arguments({"mrn": token})
        assert arguments == {"mrn": token} and report.unknown == 1


async def test_a_result_that_cannot_be_masked_is_withheld(tmp_path: Path, era: str) -> None:
    path = write_policy(tmp_path, {**policy({"ehr": EHR}, [{"action": "allow"}]), "masking": {"max_bytes": 200}})
    async with gateway_client(path, era) as client:
        result = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
    assert result.is_error
    assert text_of(result) == "mcp-gate could not mask this result, so it was withheld. Nothing unmasked was shown."
    assert "Gonzalez" not in result.model_dump_json()
    failed = [r for r in read_audit(tmp_path) if r["event"] == "tool.failed"]
    assert failed and "could not be masked" in failed[0]["error"]


async def test_a_rule_can_turn_masking_off(tmp_path: Path) -> None:
    rules: list[dict[str, Any]] = [{"id": "trusted", "action": "allow", "mask": False}]
    path = write_policy(tmp_path, policy({"ehr": EHR}, rules))
    async with gateway_client(path, "auto") as client:
        chart = await client.call_tool("get_patient", {"mrn": "MRN-004211"})
    assert chart.structured_content is not None and chart.structured_content["name"] == "Maria Gonzalez"


async def test_masking_runs_in_process_clients_too(tmp_path: Path) -> None:
    """The in-process path (no stdio) masks the same way: one code path for every transport."""
    path = write_policy(tmp_path, policy({"ehr": EHR}, [{"action": "allow"}]))
    async with running_gateway(load_config(path)) as gateway, Client(gateway.server, mode="legacy", cache=None) as client:
        result = await client.call_tool("get_lab_results", {"mrn": "MRN-015908"})
    assert result.structured_content is not None
    assert result.structured_content["patient"].startswith("[NAME_")
    assert result.structured_content["results"][0]["test"] == "INR"


async def test_sampling_requests_reach_the_clients_model_masked(tmp_path: Path, era: str) -> None:
    """An upstream's sampling request is read by the agent's model, so it is masked like a result."""
    everything = {"command": str(EVERYTHING), "args": ["stdio"]}
    path = write_policy(tmp_path, policy({"everything": everything}, [{"action": "allow"}]))
    prompts: list[str] = []

    async def model(ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        prompts.append(json.dumps(params.model_dump(mode="json")))
        return types.CreateMessageResult(role="assistant", content=types.TextContent(text="ok"), model="test-model")

    prompt = "Summarise the chart of Mr. Robert Chen, SSN 412-67-3305, phone (415) 555-0163."
    async with gateway_client(path, era, sampling_callback=model) as client:
        result = await client.call_tool("trigger-sampling-request", {"prompt": prompt})
    assert not result.is_error, text_of(result)
    [sent] = prompts
    assert "Summarise the chart of" in sent
    assert "412-67-3305" not in sent and "Robert Chen" not in sent and "555-0163" not in sent
