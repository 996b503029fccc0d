"""Audit writer throughput and latency for each fsync mode, side by side.

    python benchmarks/audit.py [--seconds 2] [--dir DIR]

Each row writes realistic ``tool.executed`` records for a while, then closes the
log (so ``batch`` and ``never`` pay their final sync too) and reports records/s
and the latency of single ``write`` calls.  Put ``--dir`` on the disk the log
will live on: fsync costs are the disk's.

Further comparisons (the gateway's allow-path latency with audit on and off)
belong in ``ROWS`` as functions returning a ``Row``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mcp_gate.audit import AuditLog
from mcp_gate.audit.writer import FsyncMode

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


ROWS: list[Callable[[argparse.Namespace], Row]] = [writer_row("never"), writer_row("batch"), writer_row("always")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="how long each row writes (default 2)")
    parser.add_argument("--dir", default=".", help="where the temporary logs go (default: the current folder)")
    args = parser.parse_args()
    header = ["measurement", "records", "records/s", "p50 µs", "p99 µs"]
    table = [header] + [row(args).cells() for row in ROWS]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
