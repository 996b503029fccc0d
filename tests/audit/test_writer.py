"""The writer: records, the chain, field checks, fsync modes, configuration."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_gate.audit import AuditError, AuditLog, Checkpoints
from mcp_gate.audit.checkpoint import HmacKey
from mcp_gate.audit.records import GENESIS, record_hash
from mcp_gate.audit.schema import event_fields, record_schema, schema_errors
from mcp_gate.audit.segments import LogFiles
from mcp_gate.audit.verify import LogSelection, verify
from mcp_gate.config import ConfigError

from .helpers import (
    CALL,
    GATEWAY_EVENTS,
    HMAC_SECRET,
    audit_config,
    read_records,
    wait_until,
)


def test_every_event_type_is_written_schema_valid_and_chained(log_path: Path) -> None:
    def writer() -> AuditLog:
        checkpoints = Checkpoints(HmacKey(HMAC_SECRET.encode()), every=5)
        return AuditLog(log_path, rotate=audit_config({"rotate": "2KB"}).rotate, checkpoints=checkpoints)

    with writer() as log:
        for event, fields in GATEWAY_EVENTS.items():
            log.write(event, fields)
    with log_path.open("ab") as tail:
        tail.write(b'{"v":1,"seq":')  # a torn write, for log.recovered
    with writer() as log:
        while len(LogFiles(log_path).rotated()) < 2:
            log.write("tool.called", GATEWAY_EVENTS["tool.called"])

    files = LogFiles(log_path).segments()
    records = [record for path in files for record in read_records(path)]
    assert {record["event"] for record in records} == set(record_schema()["properties"]["event"]["enum"])
    for record in records:
        assert schema_errors(record) == [], record
    assert [record["seq"] for record in records] == list(range(1, len(records) + 1))
    assert records[0]["prev"] == GENESIS
    assert all(later["prev"] == earlier["hash"] for earlier, later in itertools.pairwise(records))
    assert verify(LogSelection("log", files, whole=True), HmacKey(HMAC_SECRET.encode())).exit_code == 0


def test_write_returns_the_record_and_leaves_out_none(log: AuditLog, log_path: Path) -> None:
    record = log.write("tool.called", {**CALL, "client": None, "args_sha256": "a" * 64})
    assert "client" not in record
    assert record["seq"] == 2  # after log.opened
    assert record["hash"] == record_hash(record)
    assert read_records(log_path)[-1] == record


def test_opening_notes_the_process(log_path: Path) -> None:
    with AuditLog(log_path, fsync="always") as log:
        opened = read_records(log.path)[0]
    assert opened["event"] == "log.opened"
    assert opened["fsync"] == "always"
    assert isinstance(opened["pid"], int)
    assert read_records(log_path)[-1]["event"] == "log.closed"


def test_raw_values_cannot_reach_the_log_under_any_key(log: AuditLog, log_path: Path) -> None:
    planted = "123-45-6789"
    for fields in ({**CALL, "args_sha256": "a" * 64, "arguments": {"ssn": planted}}, {**CALL, "result": planted, "args_sha256": "a" * 64}):
        with pytest.raises(AuditError, match=r"is not a field of tool\.called"):
            log.write("tool.called", fields)
    with pytest.raises(AuditError, match="not a field"):
        log.write("tool.called", {**CALL, "seq": 99, "args_sha256": "a" * 64})
    with pytest.raises(AuditError, match="unknown audit event"):
        log.write("tool.debug", {"ssn": planted})
    assert planted.encode() not in log_path.read_bytes()
    assert log.write("tool.called", {**CALL, "args_sha256": "a" * 64})["seq"] == 2


def test_every_schema_event_has_fields_the_writer_knows() -> None:
    assert set(event_fields()) == set(record_schema()["properties"]["event"]["enum"])
    assert "args_sha256" in event_fields()["tool.called"]
    assert "principal" in event_fields()["approval.decided"]
    assert "principal" not in event_fields()["log.opened"]


@pytest.mark.parametrize("value", [float("nan"), 2**60, b"bytes"])
def test_a_value_without_exact_json_is_refused_and_the_log_stays_usable(log: AuditLog, value: object) -> None:
    with pytest.raises(AuditError, match="cannot encode"):
        log.write("tool.executed", {**CALL, "outcome": "ok", "duration_ms": value})
    assert log.write("tool.executed", {**CALL, "outcome": "ok", "duration_ms": 1})["seq"] == 2


def test_the_chain_continues_when_the_log_is_reopened(log_path: Path) -> None:
    for _ in range(3):
        with AuditLog(log_path) as log:
            log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    records = read_records(log_path)
    assert [r["seq"] for r in records] == list(range(1, 10))
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(records))


def test_writing_needs_an_open_log(log_path: Path) -> None:
    log = AuditLog(log_path)
    with pytest.raises(AuditError, match="not open"):
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    log.open()
    with pytest.raises(AuditError, match="already open"):
        log.open()
    log.close()
    with pytest.raises(AuditError, match="not open"):
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])


def test_a_second_writer_on_the_same_log_is_refused(log: AuditLog, log_path: Path) -> None:
    with pytest.raises(AuditError, match="another process"):
        AuditLog(log_path).open()


def test_always_mode_syncs_inside_write(log_path: Path) -> None:
    with AuditLog(log_path, fsync="always") as log:
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])
        assert log.pending_sync == 0


def test_batch_mode_syncs_in_the_background(log: AuditLog) -> None:
    for _ in range(100):
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    wait_until(lambda: log.pending_sync == 0, timeout=5, what="the background sync")


@pytest.mark.anyio
async def test_sync_puts_records_on_disk_for_audit_sync_rules(log_path: Path) -> None:
    with AuditLog(log_path, fsync="never") as log:
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])
        assert log.pending_sync == 2
        await log.sync()
        assert log.pending_sync == 0


def test_from_config_resolves_paths_and_loads_an_ed25519_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "audit.pem").write_bytes(pem)
    config = audit_config(
        {
            "path": "logs/gate.jsonl",
            "fsync": "never",
            "rotate": {"size": "1MB", "keep": 3},
            "checkpoint": {"ed25519_key": "audit.pem", "every": 10},
        }
    )
    log = AuditLog.from_config(config, tmp_path)
    assert log.path == tmp_path / "logs" / "gate.jsonl"
    assert log.fsync_mode == "never"
    assert log.rotate.keep == 3
    assert log.checkpoints is not None and log.checkpoints.every == 10
    assert log.checkpoints.key.alg == "ed25519"


def test_from_config_fails_on_an_unusable_key(tmp_path: Path) -> None:
    (tmp_path / "audit.pem").write_text("not a key")
    config = audit_config({"checkpoint": {"ed25519_key": "audit.pem"}})
    with pytest.raises(AuditError, match=r"audit\.pem"):
        AuditLog.from_config(config, tmp_path)


@pytest.mark.parametrize(
    ("audit", "message"),
    [
        ({"fsync": "sometimes"}, "audit.fsync"),
        ({"rotate": {"size": "1MB", "evry": "1d"}}, "unknown key 'evry'"),
        ({"checkpoint": {"hmac_key": "short"}}, "at least 32 characters"),
        ({"checkpoint": {"every": 10}}, "exactly one of"),
    ],
)
def test_config_mistakes_are_errors(audit: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        audit_config(audit)


def test_config_shorthands() -> None:
    assert audit_config({"rotate": "100MB"}).rotate.size == 100_000_000
    assert audit_config({"rotate": None}).rotate.size is None
    assert audit_config({}).fsync == "batch"


def test_idle_records_are_signed_after_the_checkpoint_interval(log_path: Path) -> None:
    key = HmacKey(HMAC_SECRET.encode())
    with AuditLog(log_path, checkpoints=Checkpoints(key, every=1000, interval=0.2)) as log:
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])
        wait_until(lambda: read_records(log_path)[-1]["event"] == "log.checkpoint", what="a time-based checkpoint")
        checkpoint = read_records(log_path)[-1]
    assert checkpoint["seq"] == 3 and checkpoint["key_id"] == key.key_id
