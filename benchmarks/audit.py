"""Audit writer throughput and latency for each fsync mode, side by side.

    python benchmarks/audit.py [--seconds 2] [--dir DIR]

Each row writes realistic ``tool.executed`` records for a while, then closes the
log (so ``batch`` and ``never`` pay their final sync too) and reports records/s
and the latency of single ``write`` calls.  Put ``--dir`` on the disk the log
will live on: fsync costs are the disk's.

The last two rows are the gateway's allow path (an in-process MCP client, the demo
EHR server as a real subprocess upstream, masking off): once with the real audit
writer (``batch``), once with a writer that writes nothing — the difference is
what auditing costs a call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from mcp_gate.audit import AuditLog
from mcp_gate.audit.writer import FsyncMode
from mcp_gate.config import load_config
from mcp_gate.gateway import Gateway

ROOT = Path(__file__).resolve().parents[1]

FIELDS = {
    "call_id": "c-7f3a0b2e",
    "principal": "alice@example.com",
    "client": "claude-code/2.1.0",
    "session": "s-91b2c4d5",
    "server": "ehr",
    "tool": "get_patient",
    "outcome": "ok",
    "duration_ms": 12.5,
    "masked": {"ssn": 2, "phone": 1},
}


@dataclass(frozen=True)
class Row:
    name: str
    count: int
    seconds: float
    latencies: list[float]

    def cells(self) -> list[str]:
        ordered = sorted(self.latencies)
        p99 = ordered[int(len(ordered) * 0.99)] if ordered else 0.0
        return [
            self.name,
            f"{self.count:,}",
            f"{self.count / self.seconds:,.0f}",
            f"{statistics.median(ordered) * 1e6:,.1f}" if ordered else "-",
            f"{p99 * 1e6:,.1f}",
        ]


def writer_row(mode: FsyncMode) -> Callable[[argparse.Namespace], Row]:
    def measure(args: argparse.Namespace) -> Row:
        with tempfile.TemporaryDirectory(dir=args.dir) as folder:
            log = AuditLog(Path(folder) / "mcp-gate.jsonl", fsync=mode)
            log.open()
            latencies = []
            clock = time.perf_counter
            started = clock()
            deadline = started + args.seconds
            while (before := clock()) < deadline:
                log.write("tool.executed", FIELDS)
                latencies.append(clock() - before)
            log.close()
            return Row(f"audit write, fsync={mode}", len(latencies), clock() - started, latencies)

    return measure


class _NoAudit(AuditLog):
    """Writes nothing: only for measuring what the real writer costs a call."""

    def open(self) -> None:
        pass

    def write(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


def allow_path_row(audited: bool) -> Callable[[argparse.Namespace], Row]:
    def measure(args: argparse.Namespace) -> Row:
        return anyio.run(_allow_path, args, audited)

    return measure


async def _allow_path(args: argparse.Namespace, audited: bool) -> Row:
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        upstream = {"command": sys.executable, "args": [str(ROOT / "examples" / "ehr_server.py")]}
        policy = Path(folder) / "policies.yaml"
        policy.write_text(json.dumps({"version": 1, "upstreams": {"ehr": upstream}, "rules": [{"action": "allow", "mask": False}]}))
        config = load_config(policy)
        log = AuditLog(Path(folder) / "mcp-gate.jsonl") if audited else _NoAudit(Path(folder) / "unused.jsonl")
        log.open()
        latencies = []
        gateway = Gateway(config, log)
        async with gateway.running(), Client(gateway.server, mode="legacy", cache=None) as client:
            arguments = {"mrn": "MRN-007730"}
            for _ in range(50):
                await client.call_tool("get_lab_results", arguments)
            clock = time.perf_counter
            started = clock()
            deadline = started + args.seconds
            while (before := clock()) < deadline:
                await client.call_tool("get_lab_results", arguments)
                latencies.append(clock() - before)
        log.close()
        name = "gateway allow path, audit " + ("on (batch)" if audited else "off")
        return Row(name, len(latencies), clock() - started, latencies)


ROWS: list[Callable[[argparse.Namespace], Row]] = [
    writer_row("never"),
    writer_row("batch"),
    writer_row("always"),
    allow_path_row(audited=False),
    allow_path_row(audited=True),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each row writes (default 2)")
    parser.add_argument("--dir", default=".", help="where the temporary logs go (default: the current folder)")
    args = parser.parse_args()
    header = ["measurement", "records", "records/s", "p50 µs", "p99 µs"]
    measured = [row(args) for row in ROWS]
    table = [header] + [row.cells() for row in measured]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))))
    off, on = (statistics.median(row.latencies) for row in measured[-2:])
    print(f"\naudit adds {(on - off) * 1e6:,.0f} µs p50 to an allow-path call ({(on / off - 1) * 100:+.1f}%; goal ≤ 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
