"""Shared fixtures: policy files in tmp dirs, the gateway in-process or as a real subprocess."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from prometheus_client.parser import text_string_to_metric_families

from mcp_gate.audit import AuditLog
from mcp_gate.config import Config, load_config
from mcp_gate.gateway import Gateway

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "tests" / "peers"
EHR_SERVER = ROOT / "examples" / "ehr_server.py"
FLAKY_SERVER = PEERS / "flaky_server.py"
EVERYTHING = PEERS / "node_modules" / ".bin" / "mcp-server-everything"
ERAS = ("auto", "legacy")
"""Every end-to-end path runs with a 2026-07-28 client ("auto") and a 2025-11-25 client ("legacy")."""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=ERAS)
def era(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def python_upstream(script: Path, *args: str, **extra: Any) -> dict[str, Any]:
    """An upstream entry that runs one of our Python servers with this interpreter."""
    return {"command": sys.executable, "args": [str(script), *args], **extra}


EHR = python_upstream(EHR_SERVER)


def write_policy(directory: Path, body: str | dict[str, Any]) -> Path:
    """Write a policies.yaml (YAML text, or a dict written as JSON, which is YAML too)."""
    path = directory / "policies.yaml"
    text = json.dumps(body, indent=2) if isinstance(body, dict) else textwrap.dedent(body)
    path.write_text(text)
    return path


def policy(upstreams: dict[str, Any], rules: list[dict[str, Any]] | None = None, **top: Any) -> dict[str, Any]:
    """A policy dict with the audit log kept inside the test's directory."""
    return {"version": 1, "upstreams": upstreams, "rules": rules or [], "audit": {"path": "audit.jsonl"}, **top}


def read_audit(directory: Path) -> list[dict[str, Any]]:
    path = directory / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Scraped metrics: each sample's value by its name and labels."""


def metric_samples(text: str) -> Samples:
    """Parse a ``/metrics`` body as Prometheus does."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None if that series is not there."""
    return samples.get((name, frozenset(labels.items())))


@asynccontextmanager
async def running_gateway(config: Config) -> AsyncIterator[Gateway]:
    """The gateway in this process, with its audit log open, upstreams connected."""
    audit = AuditLog.from_config(config.audit, config.base_dir)
    audit.open()
    try:
        gateway = Gateway(config, audit)
        async with gateway.running():
            yield gateway
    finally:
        audit.close()


@asynccontextmanager
async def gateway_client(policy_path: Path, era: str, **client_options: Any) -> AsyncIterator[Client]:
    """A real MCP client session with the gateway served in-process (fast; real upstreams)."""
    async with running_gateway(load_config(policy_path)) as gateway:
        async with Client(gateway.server, mode=era, cache=None, **client_options) as client:
            yield client


@asynccontextmanager
async def gateway_subprocess(policy_path: Path, era: str, **client_options: Any) -> AsyncIterator[Client]:
    """A real MCP client session with ``mcp-gate run`` as a stdio subprocess."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_gate", "run", "-c", str(policy_path), "--log-level", "warning"],
        cwd=str(policy_path.parent),
    )
    async with Client(params, mode=era, cache=None, **client_options) as client:
        yield client


class Waiter:
    """Counts notifications and lets a test wait (with a timeout) until one arrives."""

    def __init__(self) -> None:
        self.count = 0
        self._event = anyio.Event()

    def hit(self) -> None:
        self.count += 1
        self._event.set()

    async def wait(self, timeout: float = 15.0) -> None:
        with anyio.fail_after(timeout):
            await self._event.wait()
        self._event = anyio.Event()
