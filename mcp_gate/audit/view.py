"""Reading a log for people: filters, one readable line per record, tail -f across rotation, export.

Readers never take the writer's lock: the writer only ever appends whole lines
and rotates by renaming, so a follower drains the renamed file and reopens the
path.  It tracks ``seq``, so when several rotations pass between two polls it
reads the records in between from the closed files, and shows each record once.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mcp_gate.audit.records import utc_timestamp
from mcp_gate.audit.segments import LogFiles, first_record, read_lines
from mcp_gate.units import parse_duration

Record = dict[str, Any]

FILTER_FIELDS = ("event", "tool", "server", "principal", "outcome", "decision", "rule", "approver", "call_id")
"""Record fields the CLI can filter on (``--call-id`` for ``call_id``); values are globs."""

CSV_COLUMNS = (
    "ts", "seq", "event", "call_id", "principal", "client", "session", "server", "tool", "rule", "decision",
    "outcome", "approval_id", "approver", "grant", "reason", "error", "duration_ms", "masked", "args_sha256",
)  # fmt: skip

_HIDDEN = frozenset({"v", "seq", "ts", "event", "principal", "server", "tool", "prev", "hash", "sig", "call_id"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RED, _YELLOW, _GREEN, _DIM, _RESET = "\033[31m", "\033[33m", "\033[32m", "\033[2m", "\033[0m"


@dataclass(frozen=True)
class RecordFilter:
    """Which records to show: every given field must match one of its globs; ``since``
    (inclusive) and ``until`` (exclusive) are ``ts`` values."""

    globs: Mapping[str, Sequence[str]]
    since: str | None = None
    until: str | None = None

    def __call__(self, record: Record) -> bool:
        ts = record.get("ts")
        if self.since is not None and not (isinstance(ts, str) and ts >= self.since):
            return False
        if self.until is not None and not (isinstance(ts, str) and ts < self.until):
            return False
        for name, patterns in self.globs.items():
            value = record.get(name)
            if value is None or not any(fnmatch.fnmatchcase(str(value), pattern) for pattern in patterns):
                return False
        return True


def parse_time(text: str, now: float | None = None) -> str:
    """A ``ts`` bound from ``2026-11-01``, ``2026-11-01T08:00:00+01:00`` (no zone means UTC)
    or a duration ago such as ``24h`` or ``7d``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            ago = parse_duration(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither a date/time (2026-11-01, 2026-11-01T08:00Z) nor a duration (24h, 7d)") from None
        return utc_timestamp(int(((time.time() if now is None else now) - ago) * 1000))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return utc_timestamp(int(moment.timestamp() * 1000))


def records(path: Path) -> Iterator[Record]:
    """The records of one file; a line that is not one is reported on stderr and skipped."""
    for number, line in enumerate(read_lines(path), 1):
        record = _parse(line)
        if record is None:
            print(f"{path}:{number}: not an audit record (run `mcp-gate audit verify`)", file=sys.stderr)
        else:
            yield record


def _parse(line: bytes) -> Record | None:
    if not line.endswith(b"\n"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


# --------------------------------------------------------------------------- formatting


def format_record(record: Record, colour: bool = False) -> str:
    """One readable line: time, seq, event, who, which tool, then the event's own fields."""
    ts = str(record.get("ts", "?")).replace("T", " ").removesuffix("Z")
    event = str(record.get("event", "?"))
    server, tool = record.get("server"), record.get("tool")
    target = f"{server}/{tool}" if server and tool else str(tool or server or "-")
    details = " ".join(f"{key}={_show(value)}" for key, value in record.items() if key not in _HIDDEN)
    call = f" call={str(record['call_id'])[:12]}" if record.get("call_id") else ""
    shade = _shade(record) if colour else None
    label = f"{shade}{event:<20}{_RESET}" if shade else f"{event:<20}"
    return f"{ts}  {record.get('seq', '?')!s:>7}  {label}  {record.get('principal', '-')}  {target}  {details}{call}".rstrip()


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{key}:{_show(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ",".join(map(_show, value)) or "[]"
    text = str(value)
    if _SHA256.fullmatch(text):
        return text[:12] + "…"  # enough to tell digests apart by eye
    return json.dumps(text) if " " in text or not text else text


def _shade(record: Record) -> str | None:
    event = record.get("event", "")
    verdict = record.get("outcome") or record.get("decision")
    if event in ("tool.blocked", "tool.failed", "callback.rejected", "log.recovered") or verdict in ("deny", "denied", "error"):
        return _RED
    if event.startswith("approval.") or verdict == "approve":
        return _YELLOW
    if verdict in ("ok", "allow", "approved"):
        return _GREEN
    return _DIM if event.startswith("log.") else None


# --------------------------------------------------------------------------- tail


def tail(
    files: LogFiles,
    keep: RecordFilter,
    emit: Callable[[Record], None],
    count: int,
    follow: bool,
    poll: float = 0.2,
) -> None:
    """Emit the last ``count`` matching records, then (``follow``) every new one,
    continuing into the next file when the writer rotates."""
    stream = _open_if_exists(files.active)
    current: list[Record] = []
    if stream is not None:
        data = stream.read()
        offset = data.rfind(b"\n") + 1
        stream.seek(offset)
        current = [record for record in map(_parse, data[:offset].splitlines(keepends=True)) if record]
    for record in _last(files, [r for r in current if keep(r)], keep, count):
        emit(record)
    if follow:
        last_seq = next((r["seq"] for r in reversed(current) if type(r.get("seq")) is int), None)
        _Follower(files, keep, emit, last_seq).run(stream, poll)


def _last(files: LogFiles, newest: list[Record], keep: RecordFilter, count: int) -> list[Record]:
    """The last ``count`` matching records, reaching into closed files only when needed."""
    if count <= 0:
        return []
    found = newest[-count:]
    for path in reversed(files.rotated()):
        missing = count - len(found)
        if missing <= 0:
            break
        found = [record for record in records(path) if keep(record)][-missing:] + found
    return found


def _open_if_exists(path: Path) -> IO[bytes] | None:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


@dataclass
class _Follower:
    """Follows the active file by ``seq``: a record at or below ``last_seq`` was shown
    already, and a jump past ``last_seq + 1`` means rotations happened between two
    polls, so the records in between are read from the closed files first."""

    files: LogFiles
    keep: RecordFilter
    emit: Callable[[Record], None]
    last_seq: int | None

    def run(self, stream: IO[bytes] | None, poll: float) -> None:
        pending = b""
        while True:
            if stream is None:
                stream, pending = _open_if_exists(self.files.active), b""
                if stream is None:
                    time.sleep(poll)
                    continue
            chunk = stream.read()
            if chunk:
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                for line in pending[:cut].splitlines(keepends=True):
                    record = _parse(line)
                    if record is not None:
                        self.show(record)
                pending = pending[cut:]
            elif _replaced(self.files.active, stream):
                stream.close()  # the writer closed it before renaming: nothing more will come
                stream = None
            else:
                time.sleep(poll)

    def show(self, record: Record) -> None:
        seq = record.get("seq")
        if type(seq) is int and self.last_seq is not None:
            if seq <= self.last_seq:
                return
            if seq > self.last_seq + 1:
                for missed in self.closed_between(self.last_seq, seq):
                    self.show(missed)
        if type(seq) is int:
            self.last_seq = seq
        if self.keep(record):
            self.emit(record)

    def closed_between(self, low: int, high: int) -> list[Record]:
        """Records with ``low < seq < high`` from the closed files, oldest first."""
        needed: list[Path] = []
        for path in reversed(self.files.rotated()):
            first = first_record(path)
            start = first.get("seq") if first else None
            if type(start) is not int or start >= high:
                continue
            needed.append(path)
            if start <= low + 1:
                break
        return [r for path in reversed(needed) for r in records(path) if type(r.get("seq")) is int and low < r["seq"] < high]


def _replaced(path: Path, stream: IO[bytes]) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(stream.fileno()).st_ino
    except FileNotFoundError:
        return True


# --------------------------------------------------------------------------- query


def export(files: Sequence[Path], keep: RecordFilter, out: IO[str], fmt: str) -> int:
    """Write the matching records of ``files`` as JSON lines or CSV; returns how many."""
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for path in files:
        for record in records(path):
            if not keep(record):
                continue
            count += 1
            if writer is not None:
                writer.writerow([_cell(record.get(column)) for column in CSV_COLUMNS])
            else:
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return _show(value)
    return str(value)
