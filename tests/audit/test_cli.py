"""``mcp-gate audit verify | tail | query`` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_gate.audit import AuditLog, Checkpoints
from mcp_gate.audit.checkpoint import HmacKey
from mcp_gate.audit.view import format_record, parse_time
from mcp_gate.cli import main
from mcp_gate.config import RotateConfig, load_config

from .helpers import CALL, GATEWAY_EVENTS, HMAC_SECRET


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["audit", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def filled(log_path: Path) -> Path:
    with AuditLog(log_path, rotate=RotateConfig(size=3000), checkpoints=Checkpoints(HmacKey(HMAC_SECRET.encode()), every=4)) as log:
        for event, fields in GATEWAY_EVENTS.items():
            log.write(event, fields)
        log.write("policy.decided", {**CALL, "tool": "delete_patient", "rule": "no-deletes", "decision": "deny"})
    return log_path


def policy_file(tmp_path: Path, log_path: Path, checkpoint: str = "") -> Path:
    config = tmp_path / "policies.yaml"
    config.write_text(
        f"version: 1\nupstreams: {{ehr: {{command: python}}}}\naudit:\n  path: {log_path.relative_to(tmp_path)}\n{checkpoint}"
    )
    return config


# --------------------------------------------------------------------------- verify


def test_verify_an_intact_log(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    code, out, _ = run(capsys, "verify", str(filled))
    assert code == 0
    assert out.startswith(f"ok: {filled}: 2 file(s), ")
    assert "checkpoint(s) not verified: no key given" in out


def test_verify_reads_the_log_and_key_from_the_config(capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: Path) -> None:
    config = policy_file(tmp_path, filled, f"  checkpoint: {{hmac_key: {HMAC_SECRET}}}\n")
    code, out, _ = run(capsys, "verify", "-c", str(config))
    assert code == 0
    assert "checkpoint(s) verified" in out


def test_verify_with_a_public_key_file(capsys: pytest.CaptureFixture[str], tmp_path: Path, log_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    pem = tmp_path / "audit.pem"
    pem.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    config = policy_file(tmp_path, log_path, "  checkpoint: {ed25519_key: audit.pem, every: 3}\n")
    loaded = load_config(config)
    with AuditLog.from_config(loaded.audit, loaded.base_dir) as log:
        for event, fields in GATEWAY_EVENTS.items():
            log.write(event, fields)
    public = tmp_path / "audit.pub"
    public.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    code, out, _ = run(capsys, "verify", str(log_path), "--key", str(public))
    assert code == 0 and "checkpoint(s) verified" in out
    code, out, _ = run(capsys, "verify", str(log_path), "--key", str(tmp_path / "absent.pub"))
    assert code == 2


def test_verify_a_broken_log_prints_where(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    lines = filled.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"ehr"', b'"billing"')
    del lines[4]
    filled.write_bytes(b"".join(lines))
    code, out, _ = run(capsys, "verify", str(filled))
    assert code == 1
    first, *rest = out.splitlines()
    seq = json.loads(lines[2])["seq"]
    assert first == f"{filled}:3: seq {seq}: hash does not match the record: the record was altered"
    assert rest[0].startswith(f"BROKEN: {filled}: 2 problem(s)")
    code, out, _ = run(capsys, "verify", "--all", str(filled))
    assert [line.split(":")[1] for line in out.splitlines()[:2]] == ["3", "5"]


def test_verify_an_unreadable_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "verify", str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert "unreadable" in err and out == ""


# --------------------------------------------------------------------------- tail and query


def test_tail_shows_the_last_records_readably(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    code, out, _ = run(capsys, "tail", str(filled), "-n", "3", "--event", "tool.*")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert "tool.failed" in lines[-1] and "alice@example.com  ehr/get_patient" in lines[-1]
    assert 'error="upstream' in lines[-1] and "\033[" not in out  # no colour when not a terminal


def test_tail_reaches_into_closed_files_and_filters(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    _, out, _ = run(capsys, "tail", str(filled), "-n", "100", "--json", "--tool", "export_*", "--principal", "alice*")
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events == ["approval.requested", "approval.notified", "approval.decided", "approval.expired"]
    _code, out, _ = run(capsys, "tail", str(filled), "--outcome", "blocked", "--json")
    assert [json.loads(line)["rule"] for line in out.splitlines()] == ["no-deletes"]


def test_format_record_colours_by_outcome() -> None:
    blocked = {"ts": "2026-12-04T15:33:14.123Z", "seq": 8, "event": "tool.blocked", **GATEWAY_EVENTS["tool.blocked"]}
    plain = format_record(blocked)
    assert plain.startswith("2026-12-04 15:33:14.123        8  tool.blocked          alice@example.com  ehr/delete_patient  ")
    assert "masked" not in plain and "call=c-7f3a" in plain
    assert format_record(blocked, colour=True).count("\033[31m") == 1
    executed = {"event": "tool.executed", **GATEWAY_EVENTS["tool.executed"]}
    assert "masked=ssn:2,phone:1" in format_record(executed) and "\033[32m" in format_record(executed, colour=True)


def test_query_exports_a_time_range_as_csv(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    code, out, _ = run(
        capsys, "query", str(filled), "--since", "1h", "--until", "2999-01-01", "--event", "approval.decided", "--format", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 1
    assert (rows[0]["tool"], rows[0]["approver"], rows[0]["decision"]) == ("export_records", "bob@example.com", "approved")
    code, out, _ = run(capsys, "query", str(filled), "--until", "2000-01-01")
    assert (code, out) == (0, "")


def test_query_reads_the_config_and_rejects_bad_times(capsys: pytest.CaptureFixture[str], tmp_path: Path, filled: Path) -> None:
    config = policy_file(tmp_path, filled)
    code, out, _ = run(capsys, "query", "-c", str(config), "--decision", "deny")
    assert [json.loads(line)["event"] for line in out.splitlines()] == ["tool.blocked", "policy.decided"]
    code, _, err = run(capsys, "query", str(filled), "--since", "last tuesday")
    assert code == 2 and "neither a date" in err


def test_parse_time() -> None:
    assert parse_time("2026-11-01") == "2026-11-01T00:00:00.000Z"
    assert parse_time("2026-11-01T08:00:00+01:00") == "2026-11-01T07:00:00.000Z"
    assert parse_time("1h", now=1_780_000_000.5) == "2026-05-28T19:26:40.500Z"


@pytest.mark.slow
def test_tail_follow_continues_across_rotation(log_path: Path) -> None:
    log = AuditLog(log_path, rotate=RotateConfig(size=1200))
    log.open()
    process = subprocess.Popen(
        [sys.executable, "-m", "mcp_gate", "audit", "tail", "-f", "-n", "1", "--json", str(log_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in process.stdout or ():
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert json.loads(lines.get(timeout=20))["event"] == "log.opened"  # tail is following now
        written = [log.write("tool.called", GATEWAY_EVENTS["tool.called"])["seq"] for _ in range(40)]
        assert len(log.files.rotated()) >= 3
        seen = [json.loads(lines.get(timeout=20))]
        while seen[-1]["seq"] < written[-1]:
            seen.append(json.loads(lines.get(timeout=20)))
        # every record once and in order, through every rotation (log.rotated ones included)
        assert [record["seq"] for record in seen] == list(range(2, written[-1] + 1))
        assert {record["event"] for record in seen} == {"tool.called", "log.rotated"}
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_readers_report_lines_that_are_not_records(capsys: pytest.CaptureFixture[str], filled: Path) -> None:
    _, before, _ = run(capsys, "query", str(filled), "--event", "log.*")
    lines = filled.read_bytes().splitlines(keepends=True)
    filled.write_bytes(b"".join([*lines[:2], b"garbage\n", *lines[2:]]))
    code, out, err = run(capsys, "query", str(filled), "--event", "log.*")
    assert (code, out) == (0, before) and before.count("\n") >= 4
    assert f"{filled}:3: not an audit record" in err
