"""Shared test helpers: realistic fields for every gateway event, reading logs, waiting."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_gate.config import AuditConfig, parse_config

CALL = {
    "call_id": "c-7f3a",
    "principal": "alice@example.com",
    "client": "claude-code/2.1.0",
    "session": "s-91b2",
    "server": "ehr",
    "tool": "get_patient",
}
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

GATEWAY_EVENTS: dict[str, dict[str, Any]] = {
    "tool.catalog_changed": {"server": "ehr", "tools": 4, "added": ["get_patient", "export_records"], "removed": []},
    "tool.called": {**CALL, "args_sha256": SHA},
    "policy.decided": {**CALL, "rule": "reads", "decision": "allow"},
    "tool.executed": {**CALL, "outcome": "ok", "duration_ms": 12.5, "masked": {"ssn": 2, "phone": 1}},
    "tool.blocked": {
        **CALL,
        "tool": "delete_patient",
        "outcome": "blocked",
        "rule": "no-deletes",
        "decision": "deny",
        "reason": "denied by rule 'no-deletes': Destructive tools are not available to agents.",
    },
    "tool.failed": {**CALL, "outcome": "failed", "error": "upstream 'ehr' did not answer within 120s", "duration_ms": 120000},
    "approval.requested": {
        **CALL,
        "tool": "export_records",
        "approval_id": "apr-5d21",
        "rule": "export",
        "request_digest": SHA,
        "approvers": ["oncall"],
        "via": ["slack", "client"],
        "expires": "2026-12-04T16:40:00.000Z",
    },
    "approval.notified": {**CALL, "tool": "export_records", "approval_id": "apr-5d21", "channel": "slack", "recipient": "#phi-approvals"},
    "approval.decided": {
        **CALL,
        "tool": "export_records",
        "approval_id": "apr-5d21",
        "approver": "bob@example.com",
        "decision": "approved",
        "reason": "ticket OPS-1234",
        "channel": "slack",
        "grant": "once",
    },
    "approval.expired": {**CALL, "tool": "export_records", "approval_id": "apr-6e30"},
    "callback.rejected": {"channel": "slack", "reason": "signature does not match", "remote": "203.0.113.7"},
}
"""One realistic record of every event the gateway and its approvals write."""

HMAC_SECRET = "test-only-secret-0123456789abcdef0123456789"


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def wait_until(condition: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll an observable condition until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def audit_config(audit: dict[str, Any]) -> AuditConfig:
    """The ``audit:`` section of a minimal policy file, validated as the gateway would."""
    text = json.dumps({"version": 1, "upstreams": {"a": {"command": "x"}}, "audit": audit})
    return parse_config(text, Path("policies.yaml")).audit
