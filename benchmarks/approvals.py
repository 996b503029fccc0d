"""How quickly does a decision release a held call, with 1,000 calls waiting at once?

One gateway (in this process) holds N concurrent ``update_medication`` calls from
an MCP client, each with different arguments, so N approvals are pending at once
(``via: [api]``: no notification, approvers use the API).  Then every approval is
decided through the approval API over real HTTP, one after another, and for each
call we note when the broker recorded the decision and when the gateway started
the upstream call.  Printed: decision-to-upstream latency p50/p99, API decision
round-trip, and the memory the pending approvals took.

    .venv/bin/python benchmarks/approvals.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client

from mcp_gate.audit import AuditLog
from mcp_gate.config import load_config
from mcp_gate.gateway import Gateway
from mcp_gate.http import approvals_app, bind, serve_asgi
from mcp_gate.identity import new_token, token_digest
from mcp_gate.upstreams import Upstream

ROOT = Path(__file__).resolve().parents[1]
APPROVER = "pharmacist@example.org"


def policy(directory: Path, token: str, url: str) -> Path:
    body = {
        "version": 1,
        "upstreams": {"ehr": {"command": sys.executable, "args": [str(ROOT / "examples" / "ehr_server.py")], "timeout": "5m"}},
        "rules": [{"id": "meds", "match": {"tool": "update_medication"}, "action": "approve", "via": ["api"]}],
        "approvals": {"hold": "10m", "url": url, "tokens": [{"approver": APPROVER, "sha256": token_digest(token)}]},
        "audit": {"path": str(directory / "audit.jsonl")},
    }
    path = directory / "policies.yaml"
    path.write_text(json.dumps(body))
    return path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sock = bind("127.0.0.1", 0)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        token = new_token()[0]
        config = load_config(policy(Path(tmp), token, url))
        audit = AuditLog.from_config(config.audit, config.base_dir)
        audit.open()
        decided_at: dict[str, float] = {}
        started_at: dict[str, float] = {}
        original_call = Upstream.call_tool

        async def timed_call(self: Upstream, tool: str, arguments: dict[str, Any] | None, **kw: Any) -> Any:
            started_at[str((arguments or {}).get("dose"))] = time.perf_counter()
            return await original_call(self, tool, arguments, **kw)

        Upstream.call_tool = timed_call  # type: ignore[method-assign]
        gateway = Gateway(config, audit, page_url=url)

        async def on_decided(approval: Any) -> None:
            decided_at[str(approval.arguments.get("dose"))] = time.perf_counter()

        gateway.broker.add_listener(on_decided)
        try:
            async with gateway.running(), anyio.create_task_group() as tg:
                tg.start_soon(lambda: serve_asgi(approvals_app(gateway, url), sock, lifespan=False))
                async with Client(gateway.server, mode="legacy", cache=None) as client, httpx2.AsyncClient(timeout=60) as http:
                    tracemalloc.start()
                    before = tracemalloc.get_traced_memory()[0]
                    async with anyio.create_task_group() as calls_group:
                        for n in range(calls):
                            arguments = {"mrn": "MRN-004211", "medication": "insulin", "dose": f"{n} units", "reason": "bench"}
                            calls_group.start_soon(client.call_tool, "update_medication", arguments)
                        with anyio.fail_after(120):
                            while len([a for a in gateway.broker.store.pending()]) < calls:
                                await anyio.sleep(0.05)
                        held_bytes = tracemalloc.get_traced_memory()[0] - before
                        tracemalloc.stop()
                        pending = list(gateway.broker.store.pending())
                        round_trips = []
                        for approval in pending:
                            t0 = time.perf_counter()
                            response = await http.post(
                                f"{url}/approvals/{approval.id}/approve",
                                json={"reason": "ok"},
                                headers={"Authorization": f"Bearer {token}"},
                            )
                            round_trips.append(time.perf_counter() - t0)
                            assert response.status_code == 200, response.text
                tg.cancel_scope.cancel()
        finally:
            Upstream.call_tool = original_call  # type: ignore[method-assign]
            audit.close()
        latencies = [(started_at[dose] - decided_at[dose]) * 1000 for dose in decided_at if dose in started_at]
        print(f"{calls} calls held at once, then approved one by one through the API over HTTP\n")
        print(f"decision → upstream call started: p50 {statistics.median(latencies):.2f} ms, p99 {percentile(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms ({len(latencies)} calls)")
        print(f"API approve round trip:           p50 {statistics.median(round_trips) * 1000:.2f} ms, p99 {percentile(round_trips, 0.99) * 1000:.2f} ms")
        print(f"memory while {calls} calls were held (Python allocations): {held_bytes / 1e6:.1f} MB ({held_bytes / calls / 1000:.1f} KB per held call)")
        print("goal: p99 < 50 ms from decision to the upstream call starting")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    anyio.run(main, parser.parse_args().calls)
