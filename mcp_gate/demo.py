"""``mcp-gate demo``: an agent's session with the demo EHR server, through the gateway.

It starts ``mcp-gate run`` exactly as a client such as Claude Desktop would (a
stdio subprocess with the policy file) and plays a short scripted agent: reads
the policy allows (with masked results, whose tokens the agent can use again),
an export that needs a human, a delete the policy denies, and an argument
mistake the gateway catches.  The approval question arrives in this terminal, as
the agent's client shows it (MCP elicitation); the page where approvers can also
decide is linked in it.  At the end the session's audit records are shown and
the log's hash chain is verified.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext

from mcp_gate.audit.verify import select, verify
from mcp_gate.config import Config

RULE = "─" * 78


def _say(text: str = "", *, indent: int = 0) -> None:
    print(textwrap.indent(text, " " * indent), flush=True)


def _result_text(result: types.CallToolResult, limit: int = 1200) -> str:
    if result.structured_content is not None:
        text = json.dumps(result.structured_content, indent=2)
    else:
        text = "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))
    return text if len(text) <= limit else text[:limit] + "\n…"


async def _ask_the_terminal(ctx: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The agent's client showing mcp-gate's approval question to its user: this terminal."""
    _say(RULE, indent=3)
    _say(params.message, indent=3)
    _say(RULE, indent=3)
    if not sys.stdin.isatty():
        _say("(no terminal to answer from: approving, as a clinician at the keyboard would)", indent=3)
        return types.ElicitResult(action="accept", content={"decision": "approve", "reason": "demo: approved"})
    answer = await anyio.to_thread.run_sync(input, "   Approve this call? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        reason = await anyio.to_thread.run_sync(input, "   Why not? ")
        return types.ElicitResult(action="accept", content={"decision": "deny", "reason": reason or "denied at the terminal"})
    return types.ElicitResult(action="accept", content={"decision": "approve", "reason": "approved at the terminal"})


async def _step(client: Client, number: int, title: str, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
    _say(f"{number}. {title}")
    _say(f"agent → {tool}({json.dumps(arguments)})", indent=3)
    result = await client.call_tool(tool, arguments)
    _say(f"gateway → {'refused' if result.is_error else 'result'}:", indent=3)
    _say(_result_text(result), indent=6)
    _say()
    return result


async def run_demo(config_path: Path, config: Config) -> int:
    """Play the scripted agent against a real ``mcp-gate run`` subprocess."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_gate", "run", "-c", str(config_path.absolute()), "--log-level", "warning"],
        env={k: v for k, v in os.environ.items() if k.startswith("MCP_GATE_")} or None,
        cwd=str(config.base_dir),
    )
    audit_path = config.audit.log_path(config.base_dir)
    already = audit_path.read_text().count("\n") if audit_path.exists() else 0
    _say("mcp-gate demo: an agent works with a synthetic EHR through the gateway\n")
    async with Client(params, mode="auto", cache=None, elicitation_callback=_ask_the_terminal) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        _say(f"The agent sees {len(tools)} tools: {', '.join(tools)}")
        _say("(delete_patient is hidden: the policy denies it whatever the arguments.)\n")

        found = await _step(client, 1, "Find a patient (allowed; identifiers come back masked)", "search_patients", {"query": "Gonzalez"})
        mrn = (found.structured_content or {}).get("result", [{}])[0].get("mrn", "MRN-004211")
        await _step(client, 2, "Open the chart with the token it got (the gateway swaps the real MRN back in)", "get_patient", {"mrn": mrn})
        await _step(
            client,
            3,
            "Export the chart for a registry (needs a human: the question comes to this terminal)",
            "export_records",
            {"mrns": [mrn], "format": "csv", "justification": "Quarterly diabetes registry submission."},
        )
        await _step(client, 4, "Delete a chart (the policy denies destructive tools)", "delete_patient", {"mrn": mrn, "reason": "duplicate"})
        await _step(client, 5, "A call with a wrong argument type (the gateway checks schemas)", "get_lab_results", {"mrn": 4211})

    lines = audit_path.read_text().splitlines()[already:] if audit_path.exists() else []
    _say(f"The audit log ({audit_path}) got {len(lines)} records for this session; the approval's:")
    keys = ("seq", "event", "tool", "rule", "decision", "approver", "channel", "outcome", "masked")
    for line in lines:
        record = json.loads(line)
        if record["event"].startswith("approval.") or record.get("tool") == "export_records":
            _say(json.dumps({k: record[k] for k in keys if k in record}), indent=3)
    reports = [verify(selection) for selection in select([audit_path])]
    for report in reports:
        _say(f"\n`mcp-gate audit verify`: {report.summary()}")
    _say("Arguments appear only as SHA-256 hashes; no value the agent or the EHR sent is in the log.")
    return max((report.exit_code for report in reports), default=0)
