"""Tampering of every kind is found, at the right file and line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_gate.audit import AuditLog, Checkpoints
from mcp_gate.audit.checkpoint import Ed25519SigningKey, HmacKey, SigningKey, VerifyKey
from mcp_gate.audit.records import GENESIS, seal
from mcp_gate.audit.segments import LogFiles
from mcp_gate.audit.verify import LogSelection, Problem, Report, select, verify
from mcp_gate.config import RotateConfig

from .helpers import GATEWAY_EVENTS, HMAC_SECRET, read_records

KEY = HmacKey(HMAC_SECRET.encode())


def build(log_path: Path, closed_files: int = 2, key: SigningKey = KEY) -> list[Path]:
    """A log with ``closed_files`` rotated files and checkpoints every 5 records."""
    with AuditLog(log_path, rotate=RotateConfig(size=2500), checkpoints=Checkpoints(key, every=5)) as log:
        while len(log.files.rotated()) < closed_files:
            for event, fields in GATEWAY_EVENTS.items():
                log.write(event, fields)
    return LogFiles(log_path).segments()


def check(log_path: Path, key: VerifyKey | None = KEY) -> Report:
    return verify(LogSelection(str(log_path), LogFiles(log_path).segments(), whole=True), key)


def first_problem(report: Report) -> Problem:
    assert report.exit_code == 1, report.summary()
    return report.problems[0]


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_an_untouched_log_is_intact(log_path: Path) -> None:
    build(log_path)
    report = check(log_path)
    assert (report.exit_code, report.problems, report.files) == (0, [], 3)
    assert report.first_seq == 1 and report.last_seq == report.records
    assert report.checkpoints >= report.records // 6


def test_a_changed_field_is_found_on_its_line(log_path: Path) -> None:
    closed = build(log_path)[0]
    lines = lines_of(closed)
    seq = json.loads(lines[4])["seq"]
    lines[4] = lines[4].replace(b"alice@example.com", b"mallory@example.com")
    closed.write_bytes(b"".join(lines))
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line, problem.seq) == (closed, 5, seq)
    assert "altered" in problem.message
    assert str(problem).startswith(f"{closed}:5: seq {seq}: ")


def test_a_deleted_line_is_found_where_it_was(log_path: Path) -> None:
    closed = build(log_path)[1]
    lines = lines_of(closed)
    del lines[3]
    closed.write_bytes(b"".join(lines))
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (closed, 4)
    assert "1 record(s) missing" in problem.message


def test_a_swapped_pair_of_lines_is_found(log_path: Path) -> None:
    active = build(log_path)[-1]
    lines = lines_of(active)
    lines[2], lines[3] = lines[3], lines[2]
    active.write_bytes(b"".join(lines))
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (active, 3)
    assert "out of order" in problem.message


def test_a_record_forged_with_a_fresh_hash_breaks_the_next_link(log_path: Path) -> None:
    closed = build(log_path)[1]
    lines = lines_of(closed)
    index = next(i for i, line in enumerate(lines) if b'"principal"' in line)
    record = json.loads(lines[index])
    record.pop("hash")
    record["principal"] = "mallory@example.com"
    lines[index] = seal(record)
    closed.write_bytes(b"".join(lines))
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (closed, index + 2)
    assert "prev is not the hash" in problem.message


def test_a_file_cut_mid_line_is_found_at_its_end(log_path: Path) -> None:
    active = build(log_path)[-1]
    data = active.read_bytes()
    active.write_bytes(data[: len(data) - 40])
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (active, data.count(b"\n"))
    assert "incomplete last line" in problem.message


def test_a_closed_file_cut_at_a_line_is_found_at_the_start_of_the_next(log_path: Path) -> None:
    closed, following = build(log_path)[:2]
    closed.write_bytes(b"".join(lines_of(closed)[:-3]))
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (following, 1)
    assert f"after {closed.name}" in problem.message and "3 record(s) missing" in problem.message


def test_a_removed_closed_file_is_found(log_path: Path) -> None:
    files = build(log_path)
    files[1].unlink()
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (files[2], 1)
    assert "missing" in problem.message


def test_a_removed_oldest_file_is_found(log_path: Path) -> None:
    files = build(log_path)
    files[0].unlink()
    problem = first_problem(check(log_path))
    assert (problem.file, problem.line) == (files[1], 1)
    assert "an older file was removed" in problem.message


@pytest.mark.parametrize("key", [KEY, Ed25519SigningKey(Ed25519PrivateKey.generate())], ids=["hmac", "ed25519"])
def test_a_rewrite_with_a_fresh_chain_fails_the_checkpoints(log_path: Path, key: SigningKey) -> None:
    files = build(log_path, key=key)
    verify_key = key.verify_key if isinstance(key, Ed25519SigningKey) else key  # auditors hold only the public key
    assert check(log_path, verify_key).exit_code == 0
    prev = GENESIS
    altered_line = None
    for path in files:
        rewritten = []
        for number, line in enumerate(lines_of(path), 1):
            record = json.loads(line)
            if record.get("principal") == "alice@example.com" and altered_line is None:
                record["principal"], altered_line = "mallory@example.com", (path, number)
            record.pop("hash")
            record["prev"] = prev
            rewritten.append(seal(record))
            prev = record["hash"]
        path.write_bytes(b"".join(rewritten))
    assert check(log_path, None).exit_code == 0  # the chain alone cannot tell
    problem = first_problem(check(log_path, verify_key))
    assert altered_line is not None and problem.file == altered_line[0]
    assert problem.line > altered_line[1]  # the first checkpoint after the altered record
    assert json.loads(lines_of(problem.file)[problem.line - 1])["event"] == "log.checkpoint"
    assert "signature invalid" in problem.message


def test_a_rewrite_that_drops_the_checkpoints_is_found(log_path: Path) -> None:
    files = build(log_path)
    prev, seq = GENESIS, 0
    for path in files:
        rewritten = []
        for line in lines_of(path):
            record = json.loads(line)
            if record["event"] == "log.checkpoint":
                continue
            seq += 1
            record.pop("hash")
            record.update(seq=seq, prev=prev)
            record["prev"] = record.pop("prev")
            rewritten.append(seal(record))
            prev = record["hash"]
        path.write_bytes(b"".join(rewritten))
    assert check(log_path, None).exit_code == 0
    assert "no checkpoint signed" in first_problem(check(log_path)).message


def test_a_checkpoint_with_another_key_is_reported(log_path: Path) -> None:
    build(log_path)
    problem = first_problem(check(log_path, HmacKey(b"another-secret-0123456789abcdef-0123")))
    assert "not the given hmac-sha256 key" in problem.message


def test_schema_violations_are_reported(log_path: Path) -> None:
    active = build(log_path)[-1]
    lines = lines_of(active)
    record = json.loads(lines[-2])
    record.pop("hash")
    record["mood"] = "happy"
    lines[-2] = seal(record)
    lines[-1] = lines[-1].replace(json.loads(lines[-1])["prev"].encode(), record["hash"].encode())
    active.write_bytes(b"".join(lines))
    report = check(log_path, None)
    problem = first_problem(report)
    assert problem.line == len(lines) - 1
    assert "mood" in problem.message


def test_lines_that_are_not_records(log_path: Path) -> None:
    active = build(log_path)[-1]
    lines = lines_of(active)
    lines.insert(2, b"hello\n")
    lines.insert(4, b"[1, 2]\n")
    active.write_bytes(b"".join(lines))
    report = check(log_path)
    assert [(p.line, p.message) for p in report.problems] == [(3, "not JSON (Expecting value)"), (5, "not a JSON object")]


def test_unreadable_and_missing_logs(tmp_path: Path) -> None:
    assert check(tmp_path / "none.jsonl").exit_code == 2
    broken_gzip = tmp_path / "mcp-gate.20261204T153314.123Z.jsonl.gz"
    broken_gzip.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    report = verify(next(select([broken_gzip])))
    assert report.exit_code == 2 and "cannot read" in str(report.unreadable)


def test_closed_files_given_alone_form_a_chain_that_may_start_later(log_path: Path) -> None:
    files = build(log_path, closed_files=3)
    (selection,) = select(files[1:3])
    assert not selection.whole
    report = verify(selection, KEY)
    assert report.exit_code == 0, report.problems
    assert report.notes and "earlier records were not given" in report.notes[0]
    assert [s.whole for s in select([files[1], log_path])] == [False, True]


def test_a_plain_file_beside_its_gzip_counts_once(log_path: Path) -> None:
    closed = build(log_path)[0]
    os.link(closed, closed.with_name(closed.name + ".gz"))  # a crash left both; the plain one wins
    assert LogFiles(log_path).rotated()[0] == closed
    assert check(log_path).exit_code == 0
    assert read_records(closed)[0]["seq"] == 1
