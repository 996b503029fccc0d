"""Fail closed: when a record cannot be written, ``write`` raises and nothing half-written stays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_gate.audit import AuditError, AuditLog
from mcp_gate.audit.segments import LogFiles
from mcp_gate.audit.verify import LogSelection, verify

from .helpers import GATEWAY_EVENTS

WRITER = Path(__file__).with_name("writer_process.py")


def test_a_log_that_cannot_be_created_fails_on_open(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    log = AuditLog(blocker / "mcp-gate.jsonl")
    with pytest.raises(AuditError, match="cannot open audit log"):
        log.open()
    with pytest.raises(AuditError, match="not open"):
        log.write("tool.called", GATEWAY_EVENTS["tool.called"])


def test_a_full_disk_makes_write_raise_and_leaves_the_file_intact(log_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = AuditLog(log_path)
    log.open()
    log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    before = log_path.read_bytes()
    assert log._fd is not None
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, log._fd)  # the kernel now answers every write with ENOSPC
    os.close(full)
    with pytest.raises(AuditError, match="No space left on device"):
        log.write("tool.executed", GATEWAY_EVENTS["tool.executed"])
    assert "AUDIT LOG WRITE FAILED" in caplog.text
    log.close()
    assert log_path.read_bytes() == before


@pytest.mark.slow
def test_a_write_cut_short_by_the_file_size_limit_is_undone(log_path: Path) -> None:
    limit = 64 * 1024
    result = subprocess.run(
        [sys.executable, str(WRITER), str(log_path), "--limit", str(limit), "--record-bytes", "1000"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    outcome = json.loads(result.stdout)
    assert "File too large" in outcome["error"]
    assert "AUDIT LOG WRITE FAILED" in result.stderr
    data = log_path.read_bytes()
    assert len(data) <= limit
    assert data.endswith(b"\n")  # the partly written record was cut off again
    events = [json.loads(line)["event"] for line in data.splitlines()]
    assert events.count("tool.failed") == outcome["written"]  # every accepted record, no refused one
    report = verify(LogSelection(str(log_path), LogFiles(log_path).segments(), whole=True))
    assert report.exit_code == 0, report.problems
