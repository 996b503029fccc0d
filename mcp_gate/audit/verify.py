"""Checking a log: JSON, schema, ``seq``, the hash chain and signed checkpoints, across files.

What each check catches: an edited field breaks that record's ``hash``; a
deleted, repeated or reordered line breaks ``seq``; a removed or cut rotated
file breaks ``seq``/``prev`` at the start of the next one; a removed oldest file
leaves a log that starts mid-chain with no retention record explaining it; and
a rewrite that recomputes every hash fails the next checkpoint's signature.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_gate.audit.checkpoint import VerifyKey
from mcp_gate.audit.records import GENESIS, record_hash, signed_payload
from mcp_gate.audit.schema import schema_errors
from mcp_gate.audit.segments import (
    LogFiles,
    UnreadableError,
    is_closed_file,
    read_lines,
)


@dataclass(frozen=True)
class Problem:
    """One place where the log is not what the writer wrote."""

    file: Path
    line: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: seq {self.seq}: {self.message}" if self.seq is not None else f"{where}: {self.message}"


@dataclass
class Report:
    """What verifying one log found."""

    label: str
    files: int = 0
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    unverified_checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unreadable: str | None = None

    @property
    def exit_code(self) -> int:
        """0 intact, 1 broken, 2 unreadable (the CLI's contract)."""
        return 2 if self.unreadable else 1 if self.problems else 0

    def summary(self) -> str:
        span = f", seq {self.first_seq}–{self.last_seq}" if self.first_seq is not None else ""
        counted = f"{self.files} file(s), {self.records} record(s){span}"
        signed = f", {self.checkpoints} checkpoint(s) verified" if self.checkpoints else ""
        if self.unreadable:
            return f"unreadable: {self.label}: {self.unreadable} (after {counted})"
        if self.problems:
            return f"BROKEN: {self.label}: {len(self.problems)} problem(s) in {counted}{signed}"
        return f"ok: {self.label}: {counted}, chain intact{signed}"


@dataclass(frozen=True)
class LogSelection:
    """Files to verify as one chain; ``whole`` when they are a whole log, which must
    start at its first record (or where retention says it now starts)."""

    label: str
    files: list[Path]
    whole: bool


def select(paths: Iterable[Path]) -> Iterator[LogSelection]:
    """Group command-line paths: a log's path means all its files; closed files
    given one by one form one chain, in the order given."""
    loose: list[Path] = []
    for path in paths:
        if is_closed_file(path):
            loose.append(path)
            continue
        if loose:
            yield LogSelection(" ".join(map(str, loose)), loose, whole=False)
            loose = []
        yield LogSelection(str(path), LogFiles(path).segments(), whole=True)
    if loose:
        yield LogSelection(" ".join(map(str, loose)), loose, whole=False)


class _Verifier:
    """Walks records in chain order, remembering just enough to check the next one."""

    def __init__(self, report: Report, key: VerifyKey | None) -> None:
        self.report = report
        self.key = key
        self.expected_seq: int | None = None
        self.prev: str | None = None
        self.first: tuple[Path, int, Any, Any] | None = None
        self.retained_from: set[tuple[Any, Any]] = set()
        self.signed_seq: int | None = None
        self.every: int | None = None
        self.unsigned = 0
        self.last_place: tuple[Path, int, int | None] | None = None

    def problem(self, path: Path, line: int, seq: int | None, message: str) -> None:
        self.report.problems.append(Problem(path, line, seq, message))

    def file(self, path: Path, previous: Path | None) -> None:
        self.report.files += 1
        for number, raw in enumerate(read_lines(path), 1):
            self.line(path, number, raw, previous if number == 1 else None)

    def line(self, path: Path, number: int, raw: bytes, after_file: Path | None) -> None:
        if not raw.endswith(b"\n"):
            self.problem(path, number, self.expected_seq, "incomplete last line (a torn write or a truncated file)")
            return
        try:
            record = json.loads(raw)
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            self.problem(path, number, self.expected_seq, f"not JSON ({reason})")
            return
        if not isinstance(record, dict):
            self.problem(path, number, self.expected_seq, "not a JSON object")
            return
        seq = record.get("seq") if type(record.get("seq")) is int else None
        self.report.records += 1
        if self.first is None:
            self.first = (path, number, record.get("seq"), record.get("prev"))
            self.report.first_seq = seq
        self.last_place = (path, number, seq)
        message = self.chain_break(record, seq, after_file) or self.schema_break(record) or self.checkpoint_break(record)
        if message:
            self.problem(path, number, seq, message)
        if record.get("event") == "log.rotated" and isinstance(record.get("retention"), dict):
            retention = record["retention"]
            self.retained_from.add((retention.get("oldest_seq"), retention.get("oldest_prev")))
        self.expected_seq = seq + 1 if seq is not None else None
        self.prev = record.get("hash") if isinstance(record.get("hash"), str) else None
        self.report.last_seq = seq if seq is not None else self.report.last_seq

    def chain_break(self, record: dict[str, Any], seq: int | None, after_file: Path | None) -> str | None:
        if seq is None:
            return "no integer seq"
        if self.expected_seq is not None and seq != self.expected_seq:
            where = f" at the start of a file after {after_file.name}" if after_file else ""
            if seq > self.expected_seq:
                missing = seq - self.expected_seq
                return f"expected seq {self.expected_seq}{where}, found {seq}: {missing} record(s) missing or out of order"
            return f"expected seq {self.expected_seq}{where}, found {seq}: a record repeated or out of order"
        if self.prev is not None and record.get("prev") != self.prev:
            return f"prev is not the hash of seq {seq - 1}: that record was altered or records before this one are missing"
        if record_hash(record) != record.get("hash"):
            return "hash does not match the record: the record was altered"
        return None

    def schema_break(self, record: dict[str, Any]) -> str | None:
        errors = schema_errors(record)
        return f"not a valid record: {errors[0]}" if errors else None

    def checkpoint_break(self, record: dict[str, Any]) -> str | None:
        if record.get("event") != "log.checkpoint":
            self.unsigned += 1
            return None
        if self.key is None:
            self.report.unverified_checkpoints += 1
            return None
        if record.get("key_id") != self.key.key_id or record.get("alg") != self.key.alg:
            signer = f"{record.get('alg')} key {record.get('key_id')}"
            return f"checkpoint signed with {signer}, not the given {self.key.alg} key {self.key.key_id}"
        if not self.key.verify(signed_payload(record), str(record.get("sig"))):
            since = f"seq {self.signed_seq}" if self.signed_seq is not None else "the start"
            return f"checkpoint signature invalid: records after {since} up to here were rewritten"
        self.report.checkpoints += 1
        self.signed_seq = record["seq"]
        self.every = record.get("every") if type(record.get("every")) is int else None
        self.unsigned = 0
        return None

    def finish(self, whole: bool) -> None:
        if self.first is None:
            return
        path, line, seq, prev = self.first
        if seq == 1 and prev == GENESIS:
            pass
        elif not whole:
            self.report.notes.append(f"the chain starts at seq {seq}; earlier records were not given")
        elif (seq, prev) in self.retained_from:
            self.report.notes.append(f"records before seq {seq} were deleted by retention, as the log records")
        else:
            message = "the log starts mid-chain and no retention record accounts for the earlier records: an older file was removed"
            self.problem(path, line, seq if type(seq) is int else None, message)
        if self.key is not None and self.last_place is not None:
            end_path, end_line, end_seq = self.last_place
            if self.signed_seq is None:
                self.problem(end_path, end_line, end_seq, f"no checkpoint signed with the given key ({self.key.key_id})")
            elif self.every is not None and self.unsigned > self.every:
                self.problem(
                    end_path,
                    end_line,
                    end_seq,
                    f"{self.unsigned} records after the last checkpoint (seq {self.signed_seq}), "
                    f"at most {self.every} expected: checkpoints were removed",
                )


def verify(selection: LogSelection, key: VerifyKey | None = None) -> Report:
    """Verify one log (or one run of closed files) and report every problem found."""
    report = Report(selection.label)
    if not selection.files:
        report.unreadable = "no such log file"
        return report
    verifier = _Verifier(report, key)
    previous = None
    try:
        for path in selection.files:
            verifier.file(path, previous)
            previous = path
    except UnreadableError as exc:
        report.unreadable = str(exc)
        return report
    verifier.finish(selection.whole)
    if report.unverified_checkpoints:
        report.notes.append(f"{report.unverified_checkpoints} checkpoint(s) not verified: no key given")
    return report
