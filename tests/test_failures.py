"""Upstreams that crash, never start, hang, change or fail: clear errors, and the rest keeps serving."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client

from mcp_gate.config import load_config
from mcp_gate.gateway import Gateway

from conftest import EHR, FLAKY_SERVER, Waiter, python_upstream, read_audit, running_gateway, write_policy, policy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ALLOW_ALL = [{"id": "all", "action": "allow"}]


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


@asynccontextmanager
async def gateway_for(tmp_path: Path, upstreams: dict[str, Any]) -> AsyncIterator[Gateway]:
    path = write_policy(tmp_path, policy(upstreams, ALLOW_ALL))
    async with running_gateway(load_config(path)) as gateway:
        yield gateway


@asynccontextmanager
async def watching_client(gateway: Gateway, era: str) -> AsyncIterator[tuple[Client, Waiter]]:
    """A client that counts ``tools/list_changed``, however its era receives them."""
    changes = Waiter()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changes.hit()

    async with Client(gateway.server, mode=era, cache=None, message_handler=on_message) as client:
        await client.list_tools()  # clients subscribe to changes once they have listed tools
        if era == "legacy":
            yield client, changes
            return
        async with client.listen(tools_list_changed=True) as subscription, anyio.create_task_group() as tg:

            async def follow() -> None:
                async for _event in subscription:
                    changes.hit()

            tg.start_soon(follow)
            yield client, changes
            tg.cancel_scope.cancel()


async def tool_names(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def test_an_upstream_that_dies_mid_call_is_reported_dropped_and_restarted(tmp_path: Path, era: str) -> None:
    async with gateway_for(tmp_path, {"flaky": python_upstream(FLAKY_SERVER), "ehr": EHR}) as gateway:
        async with watching_client(gateway, era) as (client, changes):
            assert "flaky__crash" in await tool_names(client)

            crashed = await client.call_tool("flaky__crash", {})
            assert crashed.is_error
            assert text_of(crashed) == "mcp-gate: upstream 'flaky' disconnected during the call; it is being restarted"
            # The rest of the gateway keeps serving…
            still = await client.call_tool("ehr__get_patient", {"mrn": "MRN-004211"})
            assert not still.is_error
            # …while the dead upstream's tools are withdrawn, and come back once it restarted.
            await changes.wait()
            while "flaky__echo" not in await tool_names(client):
                await changes.wait()
            echoed = await client.call_tool("flaky__echo", {"text": "back again"})
            assert text_of(echoed) == "back again"
    records = read_audit(tmp_path)
    assert any(r["event"] == "tool.failed" and r["tool"] == "crash" for r in records)
    changes_seen = [r for r in records if r["event"] == "tool.catalog_changed"]
    assert "flaky__echo" in changes_seen[0]["removed"] and "flaky__echo" in changes_seen[-1]["added"]


async def test_an_upstream_that_never_starts_does_not_stop_the_others(tmp_path: Path, era: str) -> None:
    upstreams = {
        "missing": {"command": str(tmp_path / "no-such-server")},
        "mute": {"command": sys.executable, "args": ["-c", "import time; time.sleep(120)"], "connect_timeout": "1s"},
        "ehr": EHR,
    }
    async with gateway_for(tmp_path, upstreams) as gateway:
        assert gateway.upstreams["missing"].state == "down"
        assert gateway.upstreams["missing"].last_error == f"command not found: {tmp_path / 'no-such-server'}"
        assert gateway.upstreams["mute"].state == "down"
        assert gateway.upstreams["mute"].last_error == "no answer to the MCP handshake within 1s"
        async with Client(gateway.server, mode=era, cache=None) as client:
            names = await tool_names(client)
            assert names and all(name.startswith("ehr__") for name in names)
            result = await client.call_tool("ehr__search_patients", {"query": "Chen"})
            assert not result.is_error


async def test_a_slow_upstream_times_out_and_the_next_call_works(tmp_path: Path, era: str) -> None:
    async with gateway_for(tmp_path, {"flaky": python_upstream(FLAKY_SERVER, timeout="500ms")}) as gateway:
        async with Client(gateway.server, mode=era, cache=None) as client:
            slow = await client.call_tool("slow", {"seconds": 30})
            assert slow.is_error
            assert text_of(slow) == "mcp-gate: upstream 'flaky' did not answer within 0.5s"
            quick = await client.call_tool("echo", {"text": "still here"})
            assert text_of(quick) == "still here"
            # The abandoned call was cancelled upstream, not left running.
            assert (await client.call_tool("was_cancelled", {})).structured_content == {"result": True}


async def test_cancelling_a_call_cancels_it_upstream(tmp_path: Path, era: str) -> None:
    async with gateway_for(tmp_path, {"flaky": python_upstream(FLAKY_SERVER)}) as gateway:
        async with Client(gateway.server, mode=era, cache=None) as client:
            started = anyio.Event()

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                started.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(lambda: client.call_tool("slow", {"seconds": 60}, progress_callback=on_progress))
                with anyio.fail_after(15):
                    await started.wait()
                tg.cancel_scope.cancel()
            assert (await client.call_tool("was_cancelled", {})).structured_content == {"result": True}


async def test_tool_list_changes_upstream_reach_the_client(tmp_path: Path, era: str) -> None:
    async with gateway_for(tmp_path, {"flaky": python_upstream(FLAKY_SERVER), "ehr": EHR}) as gateway:
        async with watching_client(gateway, era) as (client, changes):
            await client.call_tool("flaky__grow", {"name": "sprouted"})
            await changes.wait()
            assert "flaky__sprouted" in await tool_names(client)
            result = await client.call_tool("flaky__sprouted", {})
            assert text_of(result) == "I am sprouted"
    changed = [r for r in read_audit(tmp_path) if r["event"] == "tool.catalog_changed"]
    assert changed[-1]["added"] == ["flaky__sprouted"] and changed[-1]["server"] == "flaky"


async def test_tool_errors_keep_is_error(tmp_path: Path, era: str) -> None:
    async with gateway_for(tmp_path, {"flaky": python_upstream(FLAKY_SERVER)}) as gateway:
        async with Client(gateway.server, mode=era, cache=None) as client:
            result = await client.call_tool("fail", {"message": "the chart is locked"})
    assert result.is_error
    assert "the chart is locked" in text_of(result)
    executed = [r for r in read_audit(tmp_path) if r["event"] == "tool.executed"]
    assert executed[-1]["outcome"] == "error"
