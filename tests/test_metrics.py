"""Metrics counted from audit records: what they count, and that nothing identifying reaches a label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mcp_gate.audit import AuditLog
from mcp_gate.metrics import Metrics

from conftest import metric_samples, sample

SSN = "532-71-4408"
CALL = {
    "call_id": f"call-{SSN}",
    "principal": "jane.roe@example.org",
    "client": "claude-ai/1.0",
    "session": f"session-{SSN}",
    "server": "ehr",
    "tool": "get_patient",
}
APPROVAL = {**CALL, "tool": "export_records", "approval_id": f"apr-{SSN}", "rule": "export"}
RECORDS: list[tuple[str, dict[str, Any]]] = [
    ("tool.called", {**CALL, "args_sha256": "ab" * 32}),
    ("policy.decided", {**CALL, "rule": "reads", "decision": "allow", "reason": f"Jane Roe, SSN {SSN}"}),
    ("tool.executed", {**CALL, "outcome": "ok", "duration_ms": 12.5, "masked": {"ssn": 2, "name": 1}}),
    ("tool.failed", {**CALL, "outcome": "failed", "error": f"upstream said SSN {SSN} is invalid", "duration_ms": 40.0}),
    # An unknown tool: its name is the agent's own text.
    ("tool.blocked", {**CALL, "server": None, "tool": f"lookup_{SSN}", "outcome": "blocked", "reason": "unknown tool"}),
    (
        "approval.requested",
        {
            **APPROVAL,
            "expires": "2026-12-04T16:40:00.000Z",
            "approvers": ["dr.who@example.org"],
            "justification": f"Jane Roe {SSN}",
        },
    ),
    ("approval.notified", {**APPROVAL, "channel": "slack", "outcome": "failed", "error": f"channel_not_found {SSN}"}),
    (
        "approval.decided",
        {
            **APPROVAL,
            "approver": "dr.who@example.org",
            "decision": "approved",
            "reason": f"ok for Jane Roe {SSN}",
            "outcome": "final",
        },
    ),
    ("approval.expired", {**APPROVAL, "approval_id": f"apr2-{SSN}", "reason": "no decision in time"}),
    (
        "callback.rejected",
        {"channel": "slack", "reason": f"not an approver: {SSN}", "remote": "203.0.113.7", "slack_user": "UJANEROE"},
    ),
]
IDENTIFYING = (SSN, "Jane Roe", "jane.roe", "dr.who", "203.0.113.7", "UJANEROE", "claude-ai")


def test_records_are_counted_and_nothing_identifying_reaches_a_label(tmp_path: Path) -> None:
    metrics = Metrics(lambda: {"ehr": "up", "labs": "down"}, lambda: 3)
    with AuditLog(tmp_path / "audit.jsonl", exports=[metrics]) as log:  # refuses fields the schema does not list
        for event, fields in RECORDS:
            log.write(event, fields)
    text = metrics.exposition().decode()
    for value in IDENTIFYING:
        assert value not in text

    found = metric_samples(text)
    assert sample(found, "mcp_gate_tool_calls_total", outcome="ok", server="ehr", tool="get_patient") == 1
    assert sample(found, "mcp_gate_tool_calls_total", outcome="failed", server="ehr", tool="get_patient") == 1
    assert sample(found, "mcp_gate_tool_calls_total", outcome="blocked", server="", tool="") == 1
    assert sample(found, "mcp_gate_tool_call_duration_seconds_count", server="ehr", tool="get_patient") == 2
    duration_sum = sample(found, "mcp_gate_tool_call_duration_seconds_sum", server="ehr", tool="get_patient")
    assert duration_sum == pytest.approx(0.0525)
    decision = {"decision": "allow", "rule": "reads", "server": "ehr", "tool": "get_patient"}
    assert sample(found, "mcp_gate_policy_decisions_total", **decision) == 1
    assert sample(found, "mcp_gate_masked_entities_total", entity="ssn") == 2
    assert sample(found, "mcp_gate_masked_entities_total", entity="name") == 1
    assert sample(found, "mcp_gate_approvals_total", state="approved") == 1
    assert sample(found, "mcp_gate_approvals_total", state="expired") == 1
    assert sample(found, "mcp_gate_approval_notifications_total", channel="slack", outcome="failed") == 1
    assert sample(found, "mcp_gate_callbacks_rejected_total", channel="slack") == 1
    assert sample(found, "mcp_gate_audit_records_total", event="log.closed") == 1
    assert sample(found, "mcp_gate_upstream_up", server="ehr") == 1
    assert sample(found, "mcp_gate_upstream_up", server="labs") == 0
    assert sample(found, "mcp_gate_approvals_pending") == 3


def test_each_gateway_counts_in_a_registry_of_its_own(tmp_path: Path) -> None:
    first, second = Metrics(dict, lambda: 0), Metrics(dict, lambda: 0)
    first({"event": "tool.executed", **CALL, "outcome": "ok", "duration_ms": 1.0})
    assert any(name == "mcp_gate_tool_calls_total" for name, _ in metric_samples(first.exposition().decode()))
    assert not any(name == "mcp_gate_tool_calls_total" for name, _ in metric_samples(second.exposition().decode()))
