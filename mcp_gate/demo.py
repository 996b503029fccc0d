"""``mcp-gate demo``: an agent's session with the demo EHR server, through the gateway.

It starts ``mcp-gate run`` exactly as a client such as Claude Desktop would (a
stdio subprocess with the policy file), then plays a short scripted agent:
a read the policy allows, an export that needs a human, a delete the policy
denies, and an argument mistake the gateway catches.  Each step prints what
the agent sent, what the gateway decided, and what came back; at the end it
shows the audit records the session produced.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client, StdioServerParameters

from mcp_gate.config import Config

STEPS: list[tuple[str, str, dict[str, Any]]] = [
    ("Look up a patient (the policy allows reads)", "get_patient", {"mrn": "MRN-004211"}),
    ("Export charts to a research share (needs a human)", "export_records", {"mrns": ["MRN-004211", "MRN-007730"]}),
    ("Delete a chart (the policy denies destructive tools)", "delete_patient", {"mrn": "MRN-007730", "reason": "duplicate"}),
    ("A call with a wrong argument type (the gateway checks schemas)", "get_lab_results", {"mrn": 4211}),
]


def _say(text: str = "", *, indent: int = 0) -> None:
    print(textwrap.indent(text, " " * indent), flush=True)


def _result_text(result: types.CallToolResult, limit: int = 900) -> str:
    if result.structured_content is not None:
        text = json.dumps(result.structured_content, indent=2)
    else:
        text = "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))
    return text if len(text) <= limit else text[:limit] + "\n…"


async def run_demo(config_path: Path, config: Config) -> int:
    """Play the scripted agent against a real ``mcp-gate run`` subprocess."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_gate", "run", "-c", str(config_path), "--log-level", "warning"],
        env={k: v for k, v in os.environ.items() if k.startswith("MCP_GATE_")} or None,
        cwd=str(config.base_dir),
    )
    audit_path = config.base_dir / config.audit.path
    already = audit_path.read_text().count("\n") if audit_path.exists() else 0
    _say("mcp-gate demo: an agent talks to a synthetic EHR through the gateway\n")
    async with Client(params, mode="auto", cache=None) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        _say(f"The agent sees {len(tools)} tools: {', '.join(tools)}")
        _say("(delete_patient is hidden: the policy denies it whatever the arguments.)\n")
        for number, (title, tool, arguments) in enumerate(STEPS, start=1):
            _say(f"{number}. {title}")
            _say(f"agent → {tool}({json.dumps(arguments)})", indent=3)
            result = await client.call_tool(tool, arguments)
            verdict = "refused" if result.is_error else "result"
            _say(f"gateway → {verdict}:", indent=3)
            _say(_result_text(result), indent=6)
            _say()
    lines = audit_path.read_text().splitlines()[already:] if audit_path.exists() else []
    _say(f"The audit log ({audit_path}) got {len(lines)} records for this session, e.g.:")
    for line in lines[:4]:
        record = json.loads(line)
        keys = ("seq", "event", "tool", "rule", "decision", "outcome", "args_sha256")
        _say(json.dumps({k: record[k] for k in keys if k in record}), indent=3)
    _say("\nArguments appear only as SHA-256 hashes. Try `mcp-gate tools` to see the whole catalog.")
    return 0
