"""Results, progress and upstream questions pass through the gateway unchanged, in both eras.

The upstreams are servers we did not write: ``@modelcontextprotocol/server-everything``
(npm, speaks 2025-11-25) and ``mcp-server-time`` (PyPI, speaks 2026-07-28), plus
the demo EHR server (2026-07-28).
"""

from __future__ import annotations

import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext

from mcp_gate.config import load_config
from mcp_gate.gateway import Gateway

from conftest import EHR, EVERYTHING, gateway_client, gateway_subprocess, policy, running_gateway, write_policy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

EVERYTHING_UPSTREAM = {"command": str(EVERYTHING), "args": ["stdio"]}
TIME_UPSTREAM = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}
ALLOW_ALL = [{"id": "all", "action": "allow", "mask": False}]
"""These tests are about the protocol, so masking is off: results must arrive byte for byte."""


def comparable(result: types.CallToolResult) -> str:
    """A result without its ``_meta`` (the gateway replaces the upstream's server stamp) or clock times."""
    dumped = result.model_dump_json(by_alias=True, exclude_none=True, exclude={"meta", "result_type"})
    return re.sub(r"\d{1,2}:\d{2}:\d{2}\s?[AP]M", "<time>", dumped)


async def answer_elicitation(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    assert isinstance(params, types.ElicitRequestFormParams)
    properties = params.requested_schema.get("properties", {})
    if "day" in properties:
        return types.ElicitResult(action="accept", content={"day": "2027-01-15", "notes": "mornings"})
    return types.ElicitResult(action="accept", content={name: _sample_answer(spec) for name, spec in properties.items()})


def _sample_answer(spec: dict[str, Any]) -> Any:
    if "enum" in spec:
        return spec["enum"][0]
    if "oneOf" in spec:
        return spec["oneOf"][0]["const"]
    return {"string": "Ada", "integer": 36, "number": 1.5, "boolean": True}.get(spec.get("type"), "x")


async def answer_sampling(
    ctx: ClientRequestContext, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(text="sampled: forty-two"), model="test-model"
    )


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def everything(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """One gateway in front of server-everything, shared by this module's tests."""
    path = write_policy(tmp_path_factory.mktemp("everything"), policy({"everything": EVERYTHING_UPSTREAM}, ALLOW_ALL))
    async with running_gateway(load_config(path)) as gateway:
        yield gateway


@pytest.fixture(scope="module")
async def direct_everything() -> AsyncIterator[Client]:
    """server-everything without the gateway, for the expected results."""
    async with Client(StdioServerParameters(command=str(EVERYTHING), args=["stdio"]), cache=None) as client:
        yield client


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("echo", {"message": "hello through the gate"}),
        ("get-sum", {"a": 2, "b": 40}),
        ("get-tiny-image", {}),
        ("get-annotated-message", {"messageType": "error", "includeImage": True}),
        ("get-resource-links", {"count": 3}),
        ("get-resource-reference", {"resourceType": "Text", "resourceId": 2}),
        ("get-structured-content", {"location": "Chicago"}),
    ],
)
async def test_server_everything_results_are_unchanged(
    everything: Gateway, direct_everything: Client, era: str, tool: str, arguments: dict[str, Any]
) -> None:
    expected = await direct_everything.call_tool(tool, arguments)
    async with Client(everything.server, mode=era, cache=None) as client:
        through = await client.call_tool(tool, arguments)
    assert comparable(through) == comparable(expected)


async def test_progress_from_a_2025_upstream_reaches_the_client(everything: Gateway, era: str) -> None:
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with Client(everything.server, mode=era, cache=None) as client:
        result = await client.call_tool(
            "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_callback=on_progress
        )
    assert not result.is_error
    assert seen == [(1, 3), (2, 3), (3, 3)]


async def test_progress_from_a_2026_upstream_reaches_the_client(tmp_path: Path, era: str) -> None:
    path = write_policy(tmp_path, policy({"ehr": EHR}, ALLOW_ALL))
    messages: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with gateway_client(path, era) as client:
        await client.call_tool("generate_discharge_summary", {"mrn": "MRN-004211"}, progress_callback=on_progress)
    assert messages == ["writing history", "writing medications", "writing follow-up"]


async def test_elicitation_from_a_2025_upstream_reaches_the_client(everything: Gateway, era: str) -> None:
    asked: list[str] = []

    async def answer(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return await answer_elicitation(ctx, params)

    async with Client(everything.server, mode=era, cache=None, elicitation_callback=answer) as client:
        result = await client.call_tool("trigger-elicitation-request", {})
    assert len(asked) == 1
    text = "".join(block.text for block in result.content if isinstance(block, types.TextContent))
    assert "accept" in text and "Ada" in text


async def test_sampling_from_a_2025_upstream_reaches_the_client(everything: Gateway, era: str) -> None:
    async with Client(everything.server, mode=era, cache=None, sampling_callback=answer_sampling) as client:
        result = await client.call_tool("trigger-sampling-request", {"prompt": "What is six times seven?"})
    text = "".join(block.text for block in result.content if isinstance(block, types.TextContent))
    assert "sampled: forty-two" in text


async def test_elicitation_from_a_2026_upstream_reaches_the_client(tmp_path: Path, era: str) -> None:
    path = write_policy(tmp_path, policy({"ehr": EHR}, ALLOW_ALL))
    async with gateway_subprocess(path, era, elicitation_callback=answer_elicitation) as client:
        result = await client.call_tool("schedule_followup", {"mrn": "MRN-011562"})
    assert result.content[0].text == "Follow-up for MRN-011562 booked on 2027-01-15. Notes: mornings"


async def test_a_client_without_elicitation_gets_a_clear_error(everything: Gateway, era: str) -> None:
    async with Client(everything.server, mode=era, cache=None) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "trigger-elicitation-request" in tools
        result = await client.call_tool("trigger-elicitation-request", {})
    text = "".join(block.text for block in result.content if isinstance(block, types.TextContent))
    assert result.is_error
    assert "does not support" in text


async def test_mcp_server_time_structured_results_and_tool_errors(tmp_path: Path, era: str) -> None:
    path = write_policy(tmp_path, policy({"time": TIME_UPSTREAM}, ALLOW_ALL))
    params = StdioServerParameters(command=TIME_UPSTREAM["command"], args=TIME_UPSTREAM["args"])
    async with Client(params, cache=None) as direct:
        assert direct.protocol_version == "2026-07-28"
        expected_error = await direct.call_tool("convert_time", {"source_timezone": "Mars/Olympus", "time": "12:00", "target_timezone": "UTC"})
    async with gateway_client(path, era) as client:
        now = await client.call_tool("get_current_time", {"timezone": "Europe/Warsaw"})
        assert not now.is_error
        assert now.structured_content is not None and now.structured_content["timezone"] == "Europe/Warsaw"
        failed = await client.call_tool(
            "convert_time", {"source_timezone": "Mars/Olympus", "time": "12:00", "target_timezone": "UTC"}
        )
    assert failed.is_error
    assert comparable(failed) == comparable(expected_error)
