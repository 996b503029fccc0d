"""Optional OpenTelemetry export: every record, best effort, with semantic attribute names."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from mcp_gate.audit import AuditLog
from mcp_gate.audit.otel import OtelExport, attributes
from mcp_gate.audit.records import record_hash, ts_ms

from .helpers import GATEWAY_EVENTS, audit_config, read_records


def test_attributes_use_semantic_names_and_flatten_objects() -> None:
    record = {"v": 1, "seq": 5, "ts": "2026-12-04T16:04:32.615Z", "event": "tool.executed", **GATEWAY_EVENTS["tool.executed"]}
    found = attributes(record)
    assert found["gen_ai.tool.name"] == "get_patient"
    assert found["gen_ai.operation.name"] == "execute_tool"
    assert found["mcp.method.name"] == "tools/call"
    assert found["mcp.session.id"] == "s-91b2"
    assert found["user.id"] == "alice@example.com"
    assert (found["mcp_gate.masked.ssn"], found["mcp_gate.server"], found["mcp_gate.seq"]) == (2, "ehr", 5)
    assert "mcp_gate.ts" not in found and "mcp_gate.event" not in found
    opened = attributes({"event": "log.opened", "pid": 7, "added": ["a"]})
    assert "mcp.method.name" not in opened and opened["mcp_gate.added"] == ["a"]


def test_every_record_is_exported_and_still_verifies(log_path: Path) -> None:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    with AuditLog(log_path, exports=[OtelExport(provider)]) as log:
        for event, fields in GATEWAY_EVENTS.items():
            log.write(event, fields)
    exported = [item.log_record for item in memory.get_finished_logs()]
    written = read_records(log_path)
    assert [json.loads(str(item.body)) for item in exported] == written
    assert all(record_hash(json.loads(str(item.body))) == item_record["hash"] for item, item_record in zip(exported, written, strict=True))
    by_event = {str(item.event_name): item for item in exported}
    assert by_event["mcp_gate.tool.blocked"].severity_number == SeverityNumber.WARN
    assert by_event["mcp_gate.tool.failed"].severity_number == SeverityNumber.ERROR
    called = next(record for record in written if record["event"] == "tool.called")
    assert by_event["mcp_gate.tool.called"].timestamp == ts_ms(called["ts"]) * 1_000_000


def test_a_failing_export_blocks_nothing(log_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def __call__(self, record: Mapping[str, Any]) -> None:
            raise ConnectionError("collector down")

        def close(self) -> None:
            pass

    class Kept(list[str]):
        def __call__(self, record: Mapping[str, Any]) -> None:
            self.append(str(record["event"]))

        def close(self) -> None:
            pass

    kept = Kept()
    with AuditLog(log_path, exports=[Broken()]) as log:
        log.add_export(kept)
        for _ in range(3):
            assert log.write("tool.called", GATEWAY_EVENTS["tool.called"])["seq"] >= 2
    assert caplog.text.count("exporting audit records failed") == 1
    assert len(read_records(log_path)) == 5
    assert kept == ["tool.called"] * 3 + ["log.closed"]


def test_the_config_turns_export_on(tmp_path: Path) -> None:
    assert AuditLog.from_config(audit_config({}), tmp_path).exports == []
    log = AuditLog.from_config(audit_config({"otel": True}), tmp_path)
    [export] = log.exports
    assert isinstance(export, OtelExport)
    export.close()
