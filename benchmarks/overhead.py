"""What does the gateway cost per tool call?  Side by side, in one run, over stdio:

  direct    the demo EHR server, called without anything in between
  mcp-gate  the same server behind ``mcp-gate run`` (allow path, audit log on, masking off)
  +masking  the same, with PHI masking of every result on (the gateway's default)
  fastmcp   the same server behind FastMCP's proxy (``fastmcp.server.create_proxy``)

Each is called sequentially with the same tool and arguments, for a small result
(~0.3 KB on the wire) and a ~4 KB one, by a 2026-07-28 client and a 2025-11-25
client.  FastMCP lives in its own virtualenv (``benchmarks/.venv-fastmcp``,
created on first use) so it never enters the project's dependencies.

    .venv/bin/python benchmarks/overhead.py [--calls 400] [--no-fastmcp]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]
EHR = ROOT / "examples" / "ehr_server.py"
FASTMCP_VENV = ROOT / "benchmarks" / ".venv-fastmcp"
PAYLOADS = {
    "small": ("get_lab_results", {"mrn": "MRN-007730"}),
    "4KB": ("export_records", {"mrns": ["MRN-004211", "MRN-007730", "MRN-011562", "MRN-015908"], "format": "json"}),
}
ERAS = {"2026-07-28": "auto", "2025-11-25": "legacy"}


@dataclass
class Figures:
    p50_ms: float
    p99_ms: float
    calls_per_s: float


def fastmcp_python() -> Path | None:
    """The FastMCP virtualenv's interpreter, creating it if needed; None if it cannot be had."""
    python = FASTMCP_VENV / "bin" / "python"
    if not python.exists():
        print("creating benchmarks/.venv-fastmcp (fastmcp>=4.2,<5) …", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(FASTMCP_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", "fastmcp>=4.2,<5"], check=True)
        except subprocess.CalledProcessError as exc:
            print(f"FastMCP could not be installed ({exc}); its column is left out", file=sys.stderr)
            return None
    return python


def _gateway(workdir: Path, name: str, upstream: dict[str, object], *, masking: bool) -> StdioServerParameters:
    policy = workdir / f"{name}.yaml"
    rule: dict[str, object] = {"id": "bench", "action": "allow"} | ({} if masking else {"mask": False})
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "upstreams": {"ehr": upstream},
                "rules": [rule],
                "audit": {"path": str(workdir / f"{name}.jsonl")},
            }
        )
    )
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_gate", "run", "-c", str(policy), "--log-level", "warning"]
    )


def targets(workdir: Path, with_fastmcp: bool) -> dict[str, StdioServerParameters]:
    upstream = {"command": sys.executable, "args": [str(EHR)]}
    found = {
        "direct": StdioServerParameters(command=sys.executable, args=[str(EHR)]),
        "mcp-gate": _gateway(workdir, "plain", upstream, masking=False),
        "+masking": _gateway(workdir, "masking", upstream, masking=True),
    }
    python = fastmcp_python() if with_fastmcp else None
    if python is not None:
        proxy = workdir / "fastmcp_proxy.py"
        proxy.write_text(
            "from fastmcp.server import create_proxy\n"
            f"create_proxy({{'mcpServers': {{'ehr': {upstream!r}}}}}, name='proxy').run(show_banner=False)\n"
        )
        found["fastmcp"] = StdioServerParameters(command=str(python), args=[str(proxy)])
    return found


async def measure_together(
    found: dict[str, StdioServerParameters], mode: str, tool: str, arguments: dict, calls: int
) -> dict[str, Figures]:
    """Call every target in turn, call after call, so machine noise falls on all of them alike."""
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(Client(params, mode=mode, cache=None)) for name, params in found.items()
        }
        for _ in range(max(20, calls // 10)):  # warm up: imports, caches, first connections
            for client in clients.values():
                await client.call_tool(tool, arguments)
        latencies: dict[str, list[float]] = {name: [] for name in clients}
        for _ in range(calls):
            for name, client in clients.items():
                t0 = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                latencies[name].append(time.perf_counter() - t0)
                assert not result.is_error, result
    figures = {}
    for name, values in latencies.items():
        values.sort()
        figures[name] = Figures(
            p50_ms=statistics.median(values) * 1000,
            p99_ms=values[int(len(values) * 0.99) - 1] * 1000,
            calls_per_s=len(values) / sum(values),
        )
    return figures


async def main(calls: int, with_fastmcp: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        found = targets(Path(tmp), with_fastmcp)
        print(f"{calls} sequential calls per cell, targets interleaved call by call, stdio, Python {sys.version.split()[0]}\n")
        header = f"{'era':<11} {'payload':<7} {'target':<9} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8}"
        print(header)
        print("-" * len(header))
        summary = []
        for era, mode in ERAS.items():
            for payload, (tool, arguments) in PAYLOADS.items():
                row = await measure_together(found, mode, tool, arguments, calls)
                for name, figures in row.items():
                    print(
                        f"{era:<11} {payload:<7} {name:<9} {figures.p50_ms:8.3f} {figures.p99_ms:8.3f} "
                        f"{figures.calls_per_s:8.0f}"
                    )
                summary.append((era, payload, row))
        print("\nmcp-gate against the others (p50):")
        for era, payload, row in summary:
            added = row["mcp-gate"].p50_ms - row["direct"].p50_ms
            masking = row["+masking"].p50_ms - row["mcp-gate"].p50_ms
            line = f"  {era} {payload:<5}: adds {added:+.3f} ms over direct (masking {masking:+.3f} ms more)"
            if "fastmcp" in row:
                ratio = row["fastmcp"].p50_ms / row["mcp-gate"].p50_ms
                line += f"; FastMCP proxy p50 is {ratio:.2f}x mcp-gate's"
            print(line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--no-fastmcp", action="store_true", help="leave FastMCP's proxy out")
    options = parser.parse_args()
    anyio.run(main, options.calls, not options.no_fastmcp)
