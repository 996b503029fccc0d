"""docs/audit.md shows one real, valid line of every event."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_gate.audit.records import record_hash
from mcp_gate.audit.schema import record_schema, schema_errors

DOC = Path(__file__).parents[2] / "docs" / "audit.md"


def test_the_docs_show_a_valid_example_of_every_event() -> None:
    examples = [json.loads(line) for line in DOC.read_text().splitlines() if line.startswith('{"v":1,')]
    assert sorted(record["event"] for record in examples) == sorted(record_schema()["properties"]["event"]["enum"])
    for record in examples:
        assert schema_errors(record) == [], record
        assert record_hash(record) == record["hash"], record["event"]
