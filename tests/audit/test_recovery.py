"""Crash recovery: a torn last line is moved aside, noted, and the chain continues."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_gate.audit import AuditLog, Checkpoints
from mcp_gate.audit.checkpoint import HmacKey
from mcp_gate.audit.segments import LogFiles
from mcp_gate.audit.verify import LogSelection, verify
from mcp_gate.config import RotateConfig

from .helpers import GATEWAY_EVENTS, HMAC_SECRET, read_records, wait_until

WRITER = Path(__file__).with_name("writer_process.py")


def intact(log_path: Path, key: HmacKey | None = None) -> bool:
    report = verify(LogSelection(str(log_path), LogFiles(log_path).segments(), whole=True), key)
    return report.exit_code == 0 and not report.problems


def write_some(log_path: Path, count: int = 3) -> None:
    with AuditLog(log_path) as log:
        for _ in range(count):
            log.write("tool.called", GATEWAY_EVENTS["tool.called"])


@pytest.mark.parametrize("torn", [b'{"v":1,"seq":6,"ts":"2026-', b"\0" * 4096, b"\n\n", b'{"v":1}\n'])
def test_a_torn_tail_is_moved_aside_and_noted(log_path: Path, torn: bytes) -> None:
    write_some(log_path)
    good = log_path.read_bytes()
    log_path.write_bytes(good + torn)
    write_some(log_path, 1)

    records = read_records(log_path)
    recovered = records[len(good.splitlines())]
    assert recovered["event"] == "log.recovered"
    assert recovered["torn_bytes"] == len(torn)
    assert recovered["torn_sha256"] == hashlib.sha256(torn).hexdigest()
    aside = log_path.parent / recovered["moved_to"]
    assert aside.read_bytes() == torn
    assert LogFiles(log_path).rotated() == []  # the torn file is not part of the log
    assert log_path.read_bytes().startswith(good)
    assert records[len(good.splitlines()) + 1]["event"] == "log.opened"
    assert intact(log_path)


def test_an_altered_last_record_is_not_mistaken_for_a_torn_write(log_path: Path) -> None:
    write_some(log_path)
    lines = log_path.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b'"log.closed"', b'"log.closed","x":1')
    log_path.write_bytes(b"".join(lines))
    write_some(log_path, 1)
    assert not any(r["event"] == "log.recovered" for r in read_records(log_path))
    assert not intact(log_path)  # the alteration stays visible to verify


def test_a_log_whose_active_file_vanished_continues_from_the_last_closed_file(log_path: Path) -> None:
    with AuditLog(log_path, rotate=RotateConfig(size=1000)) as log:
        while not log.files.rotated():
            log.write("tool.called", GATEWAY_EVENTS["tool.called"])
    os.rename(log_path, LogFiles(log_path).rotated_path(0))  # as if a crash hit between rename and reopen
    write_some(log_path, 1)
    assert read_records(log_path)[0]["event"] == "log.opened"
    assert intact(log_path)


def test_checkpoints_resume_after_a_crash(log_path: Path) -> None:
    key = HmacKey(HMAC_SECRET.encode())
    with AuditLog(log_path, checkpoints=Checkpoints(key, every=4)) as log:
        for _ in range(6):
            log.write("tool.called", GATEWAY_EVENTS["tool.called"])
        crashed = log_path.read_bytes()  # as the file stood before close() signed the rest
    log_path.write_bytes(crashed)
    with AuditLog(log_path, checkpoints=Checkpoints(key, every=4)):
        pass
    events = [r["event"] for r in read_records(log_path)]
    assert events[len(crashed.splitlines())] == "log.checkpoint"  # signs what the crash left unsigned
    assert intact(log_path, key)


@pytest.mark.slow
def test_recovery_after_sigkill_under_load(log_path: Path) -> None:
    """Kill a real writer process mid-stream, twice; every restart recovers and the chain holds."""
    for round_ in range(2):
        start = log_path.stat().st_size if log_path.exists() else 0
        process = subprocess.Popen([sys.executable, str(WRITER), str(log_path), "--record-bytes", "3000"])
        try:
            grown = start + 500_000
            wait_until(lambda: log_path.exists() and log_path.stat().st_size > grown, what="the writer to write under load")  # noqa: B023
        finally:
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=10) == -signal.SIGKILL
        data = log_path.read_bytes()
        if data.endswith(b"\n"):
            # The kill landed between two writes; cut the last line as a torn write would.
            last_start = data.rstrip(b"\n").rfind(b"\n") + 1
            log_path.write_bytes(data[: last_start + (len(data) - last_start) // 2])
        torn = log_path.read_bytes()[log_path.read_bytes().rfind(b"\n") + 1 :]

        with AuditLog(log_path) as log:
            notes = [r for r in read_records(log_path) if r["event"] == "log.recovered"]
            assert len(notes) == round_ + 1
            assert (log.path.parent / notes[-1]["moved_to"]).read_bytes() == torn
    assert intact(log_path)
