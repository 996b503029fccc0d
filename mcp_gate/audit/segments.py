"""The files one audit log is made of, and reading them.

A log is its active file (the configured path, e.g. ``audit/mcp-gate.jsonl``,
which ``tail -F`` can follow) plus the closed files rotation left beside it,
named ``mcp-gate.<UTC time closed>.jsonl`` (``.gz`` when compressed), so that
sorting the names sorts them by time.  A torn tail moved aside on recovery is
``mcp-gate.<UTC time>.torn``: not a segment, never read as part of the chain.
"""

from __future__ import annotations

import calendar
import gzip
import os
import re
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_gate.audit.records import parse_line

_STAMP = r"\d{8}T\d{6}\.\d{3}Z"
_TAIL_CHUNK = 64 * 1024
_ANY_CLOSED = re.compile(rf".+\.{_STAMP}(\.[^.]+)?(\.gz)?")


class UnreadableError(Exception):
    """A log file could not be opened, read or decompressed."""


def stamp(ms: int) -> str:
    """``20261204T153314.123Z``: a UTC time that sorts as text and is safe in file names."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def stamp_ms(text: str) -> int:
    """The milliseconds since the epoch a ``stamp`` stands for."""
    seconds = calendar.timegm(time.strptime(text[:15], "%Y%m%dT%H%M%S"))
    return seconds * 1000 + int(text[16:19])


def is_closed_file(path: Path) -> bool:
    """Whether a name is that of a closed (rotated) file of some log."""
    return _ANY_CLOSED.fullmatch(path.name) is not None


@dataclass(frozen=True)
class LogFiles:
    """The names that belong to the log whose active file is ``active``."""

    active: Path

    @property
    def directory(self) -> Path:
        return self.active.parent

    @property
    def _rotated_pattern(self) -> re.Pattern[str]:
        return re.compile(rf"{re.escape(self.active.stem)}\.({_STAMP}){re.escape(self.active.suffix)}(\.gz)?")

    def rotated_stamp(self, path: Path) -> str | None:
        """The time stamp in a closed file's name, or None when ``path`` is not one of this log's."""
        match = self._rotated_pattern.fullmatch(path.name)
        return match.group(1) if match and path.parent == self.directory else None

    def rotated(self) -> list[Path]:
        """Closed files, oldest first.  When a crash left a file both plain and
        gzipped, the plain one counts (the gzip is redone on the next start)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        by_stamp: dict[str, Path] = {}
        pattern = self._rotated_pattern
        for name in names:
            match = pattern.fullmatch(name)
            if match and (match.group(2) is None or match.group(1) not in by_stamp):
                by_stamp[match.group(1)] = self.directory / name
        return [by_stamp[key] for key in sorted(by_stamp)]

    def segments(self) -> list[Path]:
        """Every file of the log in chain order: closed files, then the active one."""
        files = self.rotated()
        if self.active.exists():
            files.append(self.active)
        return files

    def rotated_path(self, ms: int) -> Path:
        """A name for the active file being closed now, later than every existing one."""
        existing = self.rotated()
        if existing:
            last = self.rotated_stamp(existing[-1])
            assert last is not None
            ms = max(ms, stamp_ms(last) + 1)
        return self.directory / f"{self.active.stem}.{stamp(ms)}{self.active.suffix}"

    def torn_path(self, ms: int) -> Path:
        return self.directory / f"{self.active.stem}.{stamp(ms)}.torn"

    @property
    def lock_path(self) -> Path:
        return self.directory / f".{self.active.name}.lock"


def read_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a plain or gzipped log file (the last one may lack its newline)."""
    try:
        opened = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UnreadableError(f"cannot open {path}: {exc.strerror or exc}") from exc
    with opened as stream:
        try:
            yield from stream
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableError(f"cannot read {path}: {exc}") from exc


def first_record(path: Path) -> dict[str, Any] | None:
    """The first record of a file, if its first line is one."""
    for line in read_lines(path):
        return parse_line(line)
    return None


def last_record(path: Path) -> dict[str, Any] | None:
    """The last intact record of a file (gzipped files are read through)."""
    if path.suffix == ".gz":
        last = None
        for line in read_lines(path):
            last = parse_line(line) if line.endswith(b"\n") else last
        return last
    with open(path, "rb") as stream:
        return intact_end(stream.fileno())[1]


def intact_end(fd: int) -> tuple[int, dict[str, Any] | None]:
    """Where the last intact record of a plain file ends, and that record.

    Intact means a complete line (newline included) holding a record.  What
    follows it is a torn write: a crash mid-line, or blocks of zeros a power
    loss can leave.  Reads backwards in growing chunks, so a large log costs
    only its tail.
    """
    size = os.fstat(fd).st_size
    chunk = _TAIL_CHUNK
    while True:
        start = max(0, size - chunk)
        data = os.pread(fd, size - start, start)
        end = data.rfind(b"\n")
        while end >= 0:
            begin = data.rfind(b"\n", 0, end) + 1
            if begin == 0 and start > 0:
                break  # this line may start before the chunk: read more
            record = parse_line(data[begin:end])
            if record is not None:
                return start + end + 1, record
            end = begin - 1
        if start == 0:
            return 0, None
        chunk *= 4
