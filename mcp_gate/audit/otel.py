"""Optional OpenTelemetry export of audit records as log records (``pip install 'mcp-gate[otel]'``).

Off by default; ``audit.otel: true`` turns it on, and the standard ``OTEL_EXPORTER_OTLP_*``
variables say where records go (OTLP over HTTP).  The file stays the record of truth:
records are exported after they are in it, in the SDK's batching thread, and an export
failure is logged but never blocks a call.  Each exported record carries the record itself
as its body (its hash still verifies: it is computed over the canonical form) and, as
attributes, the OpenTelemetry semantic-convention names where they exist (``gen_ai.tool.name``,
``mcp.method.name``, ``mcp.session.id``, ``user.id``) and ``mcp_gate.*`` for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.util.types import AttributeValue

from mcp_gate.audit.records import ts_ms

_SEMANTIC = {"tool": "gen_ai.tool.name", "session": "mcp.session.id", "principal": "user.id"}
_CALL_EVENTS = ("tool.", "policy.", "approval.")
_WARN = frozenset({"tool.blocked", "approval.expired"})
_ERROR = frozenset({"tool.failed", "callback.rejected", "log.recovered"})


def attributes(record: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """A record's fields as OpenTelemetry attributes (nested objects flattened with dots)."""
    found: dict[str, AttributeValue] = {}
    event = str(record.get("event", ""))
    if event.startswith(_CALL_EVENTS) and event != "tool.catalog_changed":
        found["mcp.method.name"] = "tools/call"
        found["gen_ai.operation.name"] = "execute_tool"
    for key, value in record.items():
        if key not in ("ts", "event"):
            _flatten(found, _SEMANTIC.get(key, f"mcp_gate.{key}"), value)
    return found


def _flatten(into: dict[str, AttributeValue], name: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(into, f"{name}.{key}", item)
    elif isinstance(value, list):
        into[name] = [str(item) for item in value]
    elif value is not None:
        into[name] = value


class OtelExport:
    """Emits each written record as an OpenTelemetry log record."""

    def __init__(self, provider: LoggerProvider | None = None) -> None:
        if provider is None:
            # Imported here: the OTLP exporter pulls in an HTTP stack a given provider does not need.
            from opentelemetry.exporter.otlp.proto.http._log_exporter import (
                OTLPLogExporter,
            )

            provider = LoggerProvider()
            provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
        self.provider = provider
        self._logger = provider.get_logger("mcp_gate.audit")

    def __call__(self, record: Mapping[str, Any]) -> None:
        event = str(record.get("event"))
        severity = SeverityNumber.ERROR if event in _ERROR else SeverityNumber.WARN if event in _WARN else SeverityNumber.INFO
        self._logger.emit(
            timestamp=ts_ms(str(record["ts"])) * 1_000_000,
            severity_number=severity,
            severity_text=severity.name,
            body=json.dumps(record, ensure_ascii=False, separators=(",", ":")),
            attributes=attributes(record),
            event_name=f"mcp_gate.{event}",
        )

    def close(self) -> None:
        """Flush what is batched and stop the exporter."""
        self.provider.shutdown()
