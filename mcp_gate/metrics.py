"""Prometheus metrics of one gateway, counted from the records it writes to its audit log.

What is audited is what is counted: ``Metrics`` is an export of the gateway's audit
log, so it counts each record the gateway writes, once it is in the file.
Whether upstreams are up and how many approvals wait is read when Prometheus scrapes.

Labels only carry values the policy file or the record schema bounds (server, tool,
rule, decision, outcome, state, entity, event, channel), never principals, sessions,
approval ids, arguments or reasons: ``/metrics`` shows no PHI, and the number of
series stays as small as the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds, up to the default upstream call timeout (2m)."""
_CALL_ENDS = frozenset({"tool.executed", "tool.failed", "tool.blocked"})


class Metrics:
    """The counters of one gateway in a registry of its own, fed one audit record at a time."""

    def __init__(self, upstream_states: Callable[[], Mapping[str, str]], pending_approvals: Callable[[], int]) -> None:
        self.registry = registry = CollectorRegistry()
        self.records = Counter(
            "mcp_gate_audit_records", "Audit records written since the gateway started, by event.",
            ["event"], registry=registry,
        )
        self.calls = Counter(
            "mcp_gate_tool_calls",
            "Tool calls that ended: ok, error (tool said isError), failed (upstream or masking), blocked (not run).",
            ["server", "tool", "outcome"], registry=registry,
        )
        self.durations = Histogram(
            "mcp_gate_tool_call_duration_seconds",
            "Time from forwarding a call upstream to its masked result or failure (approval waits excluded).",
            ["server", "tool"], buckets=DURATION_BUCKETS, registry=registry,
        )
        self.decisions = Counter(
            "mcp_gate_policy_decisions", "Policy decisions, by deciding rule.",
            ["server", "tool", "rule", "decision"], registry=registry,
        )
        self.approvals = Counter(
            "mcp_gate_approvals", "Approvals that reached a final state.", ["state"], registry=registry
        )
        self.notifications = Counter(
            "mcp_gate_approval_notifications", "Attempts to put an approval in front of approvers, by channel.",
            ["channel", "outcome"], registry=registry,
        )
        self.masked = Counter(
            "mcp_gate_masked_entities", "Values masked in results, by entity.", ["entity"], registry=registry
        )
        self.rejected = Counter(
            "mcp_gate_callbacks_rejected", "Refused decision attempts (forged, unsigned, not an approver).",
            ["channel"], registry=registry,
        )
        registry.register(_LiveState(upstream_states, pending_approvals))

    def __call__(self, record: Mapping[str, Any]) -> None:
        """Count one audit record."""
        event = record["event"]
        self.records.labels(event).inc()
        if event in _CALL_ENDS:
            self._call_ended(record)
        elif event == "policy.decided":
            self.decisions.labels(*_call_labels(record), record["rule"], record["decision"]).inc()
        elif event == "approval.decided" and record.get("outcome") == "final":
            self.approvals.labels(record["decision"]).inc()
        elif event == "approval.expired":
            self.approvals.labels("expired").inc()
        elif event == "approval.notified":
            self.notifications.labels(record["channel"], record.get("outcome", "notified")).inc()
        elif event == "callback.rejected":
            self.rejected.labels(record["channel"]).inc()

    def _call_ended(self, record: Mapping[str, Any]) -> None:
        labels = _call_labels(record)
        self.calls.labels(*labels, record["outcome"]).inc()
        if "duration_ms" in record:
            self.durations.labels(*labels).observe(record["duration_ms"] / 1000)
        for entity, count in record.get("masked", {}).items():
            self.masked.labels(entity).inc(count)

    def close(self) -> None:
        """Nothing to flush: Prometheus reads the counts when it scrapes."""

    def exposition(self) -> bytes:
        """Every metric in Prometheus's text format (served as ``CONTENT_TYPE``)."""
        return generate_latest(self.registry)


def _call_labels(record: Mapping[str, Any]) -> tuple[str, str]:
    """A call's server and tool.  A call to an unknown tool has no server, and its tool
    name is whatever the agent sent, so it is counted under empty labels instead."""
    server = record.get("server")
    return (server, record["tool"]) if server else ("", "")


class _LiveState(Collector):
    """What is read at scrape time rather than counted: upstreams up, approvals waiting."""

    def __init__(self, upstream_states: Callable[[], Mapping[str, str]], pending_approvals: Callable[[], int]) -> None:
        self._upstream_states = upstream_states
        self._pending_approvals = pending_approvals

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "mcp_gate_upstream_up", "1 when the upstream is connected, 0 while it starts or restarts.", labels=["server"]
        )
        for server, state in sorted(self._upstream_states().items()):
            up.add_metric([server], 1.0 if state == "up" else 0.0)
        yield up
        pending = self._pending_approvals()
        yield GaugeMetricFamily("mcp_gate_approvals_pending", "Approvals waiting for a decision.", value=pending)
