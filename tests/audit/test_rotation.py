"""Rotation by size and time, gzip of closed files, retention, all without breaking the chain."""

from __future__ import annotations

import gzip
import itertools
import time
from pathlib import Path

from mcp_gate.audit import AuditLog
from mcp_gate.audit.segments import LogFiles, read_lines
from mcp_gate.audit.verify import LogSelection, verify
from mcp_gate.config import RotateConfig

from .helpers import GATEWAY_EVENTS, read_records, wait_until


def fill(log: AuditLog, closed_files: int) -> None:
    """Write until rotation has closed ``closed_files`` files."""
    while len(log.files.rotated()) < closed_files:
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])


def whole(log_path: Path) -> LogSelection:
    return LogSelection(str(log_path), LogFiles(log_path).segments(), whole=True)


def test_size_rotation_keeps_one_chain_across_files(log_path: Path) -> None:
    with AuditLog(log_path, rotate=RotateConfig(size=1500)) as log:
        fill(log, 3)
    files = LogFiles(log_path).segments()
    assert files[-1] == log_path
    assert [path.name for path in files[:-1]] == sorted(path.name for path in files[:-1])
    for closed, following in itertools.pairwise(files):
        last, first = read_records(closed)[-1], read_records(following)[0]
        assert first["event"] == "log.rotated"
        assert first["trigger"] == "size"
        assert first["file"] == closed.name
        assert (first["seq"], first["prev"]) == (last["seq"] + 1, last["hash"])
        assert closed.stat().st_size < 1500 + 400  # one record may go over the limit
    report = verify(whole(log_path))
    assert (report.exit_code, report.files) == (0, 4)


def test_time_rotation_happens_at_the_first_write_after_the_boundary(log_path: Path) -> None:
    with AuditLog(log_path, rotate=RotateConfig(every=0.2)) as log:
        boundary = (time.time() // 0.2 + 1) * 0.2
        wait_until(lambda: time.time() >= boundary, what="the rotation boundary")
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    assert len(LogFiles(log_path).rotated()) == 1
    assert read_records(log_path)[0]["trigger"] == "time"
    assert verify(whole(log_path)).exit_code == 0


def test_closed_files_are_gzipped_and_still_verify(log_path: Path) -> None:
    with AuditLog(log_path, rotate=RotateConfig(size=1500, compress=True)) as log:
        fill(log, 2)
    closed = LogFiles(log_path).rotated()
    assert [path.suffix for path in closed] == [".gz", ".gz"]  # close() waits for the compressions
    assert not list(log_path.parent.glob("*.tmp"))
    assert gzip.decompress(closed[0].read_bytes()).count(b"\n") == len(list(read_lines(closed[0])))
    assert verify(whole(log_path)).exit_code == 0


def test_a_compression_cut_short_by_a_crash_is_redone(log_path: Path) -> None:
    with AuditLog(log_path, rotate=RotateConfig(size=1500)) as log:
        fill(log, 1)
    (closed,) = LogFiles(log_path).rotated()
    leftover = closed.with_name(closed.name + ".gz.tmp")
    leftover.write_bytes(b"\x1f\x8b half a gzip")
    with AuditLog(log_path, rotate=RotateConfig(size=1500, compress=True)):
        pass
    assert not leftover.exists()
    assert [path.name for path in LogFiles(log_path).rotated()] == [closed.name + ".gz"]
    assert verify(whole(log_path)).exit_code == 0


def test_retention_deletes_old_files_and_says_so_in_the_log(log_path: Path) -> None:
    with AuditLog(log_path, rotate=RotateConfig(size=1500, keep=2)) as log:
        fill(log, 2)
        first_two = [path.name for path in log.files.rotated()]
        started = read_records(log_path)[0]["seq"]
        while read_records(log_path)[0]["seq"] == started:  # until the third rotation
            log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    closed = LogFiles(log_path).rotated()
    assert len(closed) == 2
    assert first_two[0] not in [path.name for path in closed]
    retention = [r["retention"] for path in LogFiles(log_path).segments() for r in read_records(path) if "retention" in r]
    assert retention[-1]["deleted"] == [first_two[0]]
    oldest = read_records(closed[0])[0]
    assert (retention[-1]["oldest_seq"], retention[-1]["oldest_prev"]) == (oldest["seq"], oldest["prev"])
    report = verify(whole(log_path))
    assert report.exit_code == 0, report.problems
    assert any("deleted by retention" in note for note in report.notes)


def test_rotated_names_sort_by_time_even_within_one_millisecond(tmp_path: Path) -> None:
    files = LogFiles(tmp_path / "mcp-gate.jsonl")
    first = files.rotated_path(1_780_000_000_000)
    first.touch()
    second = files.rotated_path(1_780_000_000_000)
    assert first.name == "mcp-gate.20260528T202640.000Z.jsonl"
    assert second.name == "mcp-gate.20260528T202640.001Z.jsonl"
    assert files.rotated_stamp(second) == "20260528T202640.001Z"
    assert files.rotated_stamp(tmp_path / "other.20260528T202640.001Z.jsonl") is None
