"""Append-only JSON-lines writer for audit events.

A write that fails raises ``AuditError``: the gateway then refuses the call it
belongs to, because an action nobody can account for must not happen.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

RECORD_VERSION = 1


class AuditError(RuntimeError):
    """The audit log could not be written; whatever it was recording must not proceed."""


def utc_timestamp() -> str:
    """UTC RFC 3339 with milliseconds, e.g. ``2026-12-04T15:33:14.123Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AuditLog:
    """Writes one JSON object per line to ``path``; ``seq`` counts records in this file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None
        self._seq = 0

    def open(self) -> None:
        """Open (or create) the log and note that it was opened."""
        if self.path.exists() and not self.path.is_file():
            raise AuditError(f"audit log {self.path} is not a regular file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._seq = _count_lines(self.path)
            self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the gateway's lifetime
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self.path}: {exc.strerror or exc}") from exc
        self.write("log.opened", {"pid": os.getpid()})

    def write(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record; raises ``AuditError`` if it did not reach the file."""
        if self._file is None:
            raise AuditError("the audit log is not open")
        record: dict[str, Any] = {"v": RECORD_VERSION, "seq": self._seq + 1, "ts": utc_timestamp(), "event": event}
        record.update((k, v) for k, v in fields.items() if v is not None)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            self._file.write(line.encode())
            self._file.flush()
        except (OSError, ValueError) as exc:
            logger.critical("AUDIT LOG WRITE FAILED (%s): refusing the call it belongs to", exc)
            raise AuditError(f"cannot write the audit log {self.path}: {exc}") from exc
        self._seq += 1
        return record

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError as exc:
                logger.error("flushing the audit log on close failed: %s", exc)
            finally:
                self._file.close()
                self._file = None


def _count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as existing:
            return sum(1 for _ in existing)
    except FileNotFoundError:
        return 0
