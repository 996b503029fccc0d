"""Append-only, hash-chained JSON-lines writer for audit events.

A write that fails raises ``AuditError``: the gateway then refuses the call it
belongs to, because an action nobody can account for must not happen.

``write`` hands each line to the kernel with one ``os.write`` before it
returns, so a record that ``write`` accepted is in the file (readers see whole
lines only) and a full disk or a missing permission surfaces on the call it
belongs to.  Getting it onto the disk is the ``fsync`` mode's business:
``always`` syncs inside ``write``; ``batch`` leaves it to a background thread
that syncs at least every 100 ms (and ``sync()`` does it at once for rules
with ``audit: sync``); ``never`` leaves it to the OS until rotation or close.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import logging
import os
import queue
import shutil
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

import anyio.to_thread

from mcp_gate import __version__
from mcp_gate.audit.checkpoint import KeyFileError, SigningKey, load_signing_key
from mcp_gate.audit.records import (
    GENESIS,
    RECORD_VERSION,
    seal,
    signed_payload,
    ts_ms,
    utc_timestamp,
)
from mcp_gate.audit.schema import event_fields
from mcp_gate.audit.segments import (
    LogFiles,
    UnreadableError,
    first_record,
    intact_end,
    last_record,
)
from mcp_gate.config import AuditConfig, RotateConfig

logger = logging.getLogger(__name__)

FsyncMode = Literal["always", "batch", "never"]
SYNC_INTERVAL = 0.1
"""Longest a record waits for fsync in ``batch`` mode (seconds)."""
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


class AuditError(RuntimeError):
    """The audit log could not be written; whatever it was recording must not proceed."""


@dataclass(frozen=True)
class Checkpoints:
    """Sign the chain with ``key`` after at most ``every`` records or ``interval`` seconds."""

    key: SigningKey
    every: int = 1000
    interval: float = 60.0


class RecordExport(Protocol):
    """Somewhere else each record goes once it is in the file (``otel.OtelExport``, a gateway's metrics)."""

    def __call__(self, record: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


class AuditLog:
    """The audit trail of one gateway: ``open()``, ``write()`` per event, ``close()``.

    ``open()`` recovers from a crash (a torn last line is moved aside and noted
    in a ``log.recovered`` record), continues the chain from the last intact
    record, and starts one daemon thread, ``mcp-gate-audit``, that syncs in
    ``batch`` mode and writes time-based checkpoints.  ``write`` rotates when due;
    gzip and retention's deletions then run in a second thread,
    ``mcp-gate-audit-files``, so ``write`` never waits for a compression.
    ``close()`` stops both.  ``write`` may be called from any thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncMode = "batch",
        rotate: RotateConfig | None = None,
        checkpoints: Checkpoints | None = None,
        exports: Sequence[RecordExport] = (),
    ) -> None:
        self.path = Path(path)
        self.files = LogFiles(self.path)
        self.fsync_mode: FsyncMode = fsync
        self.rotate = rotate or RotateConfig()
        self.checkpoints = checkpoints
        self.exports = list(exports)
        self._failing_exports: set[int] = set()
        """``id()`` of each export whose last call failed, so an outage is reported once."""
        self._event_fields = event_fields()
        self._lock = threading.Lock()
        """Guards the chain state and the file descriptor."""
        self._sync_lock = threading.Lock()
        """Held while an fsync runs outside ``_lock``, so rotation cannot close the fd under it."""
        self._fd: int | None = None
        self._generation = 0
        """Bumped whenever ``_fd`` is closed, so a pending fsync knows its fd is gone."""
        self._lock_fd: int | None = None
        self._seq = 0
        self._prev = GENESIS
        self._size = 0
        self._written = 0
        self._synced = 0
        self._failure: str | None = None
        self._unsigned = 0
        self._signed_at = 0.0
        self._rotate_at: float | None = None
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        self._jobs: queue.SimpleQueue[tuple[str, Path] | None] = queue.SimpleQueue()
        self._maintainer: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: AuditConfig, base_dir: Path) -> AuditLog:
        """The writer a policy file's ``audit:`` section describes; raises ``AuditError``
        when the checkpoint key cannot be loaded."""
        checkpoints = None
        if config.checkpoint is not None:
            secret = config.checkpoint.hmac_key
            try:
                key = load_signing_key(secret.get_secret_value() if secret else None, config.key_path(base_dir))
            except KeyFileError as exc:
                raise AuditError(f"audit checkpoint key: {exc}") from None
            checkpoints = Checkpoints(key, config.checkpoint.every, config.checkpoint.interval)
        exports: list[RecordExport] = []
        if config.otel:
            try:
                from mcp_gate.audit.otel import OtelExport
            except ImportError as exc:
                raise AuditError(f"audit.otel needs the otel extra (pip install 'mcp-gate[otel]'): {exc}") from None
            exports.append(OtelExport())
        return cls(config.log_path(base_dir), fsync=config.fsync, rotate=config.rotate, checkpoints=checkpoints, exports=exports)

    # ------------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Open (or create) the log, recover from a crash, and note that it was opened."""
        with self._lock:
            if self._fd is not None:
                raise AuditError("the audit log is already open")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._take_lock()
                last, torn = self._recover()
                self._fd = os.open(self.path, _OPEN_FLAGS, 0o640)
                self._size = os.fstat(self._fd).st_size
                _sync_directory(self.path.parent)
                self._rotate_at = self._next_rotation()
            except (OSError, UnreadableError) as exc:
                self._release()
                raise AuditError(f"cannot open audit log {self.path}: {_describe(exc)}") from exc
            self._failure = None
            self._written = self._synced = 0
            self._seq, self._prev = (last["seq"], last["hash"]) if last else (0, GENESIS)
            self._signed_at = time.monotonic()
            try:
                if self.checkpoints and last and last.get("event") != "log.checkpoint":
                    self._checkpoint()
                if torn:
                    self._append("log.recovered", torn)
                self._append(
                    "log.opened",
                    {"pid": os.getpid(), "host": socket.gethostname(), "version": __version__, "fsync": self.fsync_mode},
                )
            except AuditError:
                self._release()
                raise
        self._stop.clear()
        self._syncer = threading.Thread(target=self._sync_loop, name="mcp-gate-audit", daemon=True)
        self._syncer.start()
        self._maintainer = threading.Thread(target=self._maintain, name="mcp-gate-audit-files", daemon=True)
        self._maintainer.start()
        if self.rotate.compress:
            for path in self.files.rotated():
                if path.suffix != ".gz":
                    self._jobs.put(("compress", path))

    def close(self) -> None:
        """Sign and note the end of the log, sync it, and stop the background threads."""
        self._stop.set()
        if self._syncer is not None:
            self._syncer.join()
            self._syncer = None
        with self._lock:
            if self._fd is not None and self._failure is None:
                try:
                    self._append("log.closed", {})
                    if self.checkpoints and self._unsigned:
                        self._checkpoint()
                    _fsync(self._fd)
                except (AuditError, OSError) as exc:
                    logger.error("closing the audit log %s cleanly failed: %s", self.path, _describe(exc))
            self._release()
        if self._maintainer is not None:
            self._jobs.put(None)
            self._maintainer.join()
            self._maintainer = None
        for export in self.exports:
            export.close()

    def __enter__(self) -> AuditLog:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def write(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Append one record and return it; raises ``AuditError`` if it did not reach the file.

        Fields that are None are left out.  A field the schema does not list for
        ``event`` is refused, so nothing raw can be logged by accident.
        """
        with self._lock:
            # Housekeeping comes first, so that its failure means this record was not written.
            if self._rotate_at is not None and time.time() >= self._rotate_at:
                self._rotate("time")
            elif self.rotate.size is not None and self._size >= self.rotate.size:
                self._rotate("size")
            if self.checkpoints and self._unsigned >= self.checkpoints.every:
                self._checkpoint()
            return self._append(event, fields)

    def fsync(self) -> None:
        """Block until every record written so far is on disk."""
        with self._lock:
            self._check_usable()
            fd, generation, target = self._fd, self._generation, self._written
        assert fd is not None
        if self._synced >= target:
            return
        with self._sync_lock:
            if generation != self._generation or self._synced >= target:
                return  # rotation synced and closed that file, or another sync got there first
            try:
                _fsync(fd)
            except OSError as exc:
                # After a failed fsync the kernel may have dropped the dirty pages: never retry.
                raise self._fail(f"fsync failed: {_describe(exc)}") from exc
            self._synced = max(self._synced, target)

    @property
    def pending_sync(self) -> int:
        """Records in the current file written but not yet known to be on disk."""
        return self._written - self._synced

    async def sync(self) -> None:
        """``fsync()`` for the event loop, in a worker thread: for rules with ``audit: sync``."""
        await anyio.to_thread.run_sync(self.fsync)

    def _append(self, event: str, fields: Mapping[str, Any], *, sign: bool = False) -> dict[str, Any]:
        """Seal and write one record (``_lock`` held)."""
        if self._failure is not None or self._fd is None:
            self._check_usable()
        allowed = self._event_fields.get(event)
        if allowed is None:
            raise AuditError(f"unknown audit event {event!r}")
        record: dict[str, Any] = {"v": RECORD_VERSION, "seq": self._seq + 1, "ts": utc_timestamp(), "event": event}
        for key, value in fields.items():
            if value is None:
                continue
            if key not in allowed:
                raise AuditError(f"{key!r} is not a field of {event} records (see record.schema.json)")
            record[key] = value
        record["prev"] = self._prev
        try:
            if sign:
                assert self.checkpoints is not None
                record["sig"] = self.checkpoints.key.sign(signed_payload(record))
                record["prev"] = record.pop("prev")  # keep prev/hash last in the line
            line = seal(record)
        except (ValueError, UnicodeError) as exc:
            raise AuditError(f"cannot encode the {event} record: {exc}") from None
        self._write_line(line)
        self._seq += 1
        self._prev = record["hash"]
        self._unsigned = 0 if sign else self._unsigned + 1
        for export in self.exports:
            self._export(export, record)
        return record

    def add_export(self, export: RecordExport) -> None:
        """Hand every later record to ``export`` too (e.g. a gateway's metrics)."""
        with self._lock:
            self.exports.append(export)

    def _export(self, export: RecordExport, record: dict[str, Any]) -> None:
        """Best effort: the record is in the file already, so a failure here blocks nothing."""
        try:
            export(record)
        except Exception as exc:  # noqa: BLE001 - any exporter failure, reported once per outage
            if id(export) not in self._failing_exports:
                logger.error("exporting audit records failed (the log file is unaffected): %s", exc)
            self._failing_exports.add(id(export))
        else:
            self._failing_exports.discard(id(export))

    def _write_line(self, line: bytes) -> None:
        assert self._fd is not None
        done = 0
        try:
            while done < len(line):
                done += os.write(self._fd, line[done:])
        except OSError as exc:
            message = f"cannot write the audit log {self.path}: {_describe(exc)}"
            if done:
                self._undo_partial_write(message)
            logger.critical("AUDIT LOG WRITE FAILED (%s): refusing the call it belongs to", message)
            raise AuditError(message) from exc
        self._size += len(line)
        self._written += 1
        if self.fsync_mode == "always":
            try:
                _fsync(self._fd)
            except OSError as exc:
                raise self._fail(f"fsync failed: {_describe(exc)}") from exc
            self._synced = self._written

    def _undo_partial_write(self, message: str) -> None:
        """Cut a half-written line off again, so the next record starts on a fresh line."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
        except OSError as exc:
            raise self._fail(f"{message}; removing the partial line failed too: {_describe(exc)}") from exc

    def _checkpoint(self) -> None:
        assert self.checkpoints is not None
        key = self.checkpoints.key
        self._append("log.checkpoint", {"alg": key.alg, "key_id": key.key_id, "every": self.checkpoints.every}, sign=True)
        self._signed_at = time.monotonic()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise AuditError(f"the audit log {self.path} failed earlier ({self._failure}); restart the gateway")
        if self._fd is None:
            raise AuditError("the audit log is not open")

    def _fail(self, message: str) -> AuditError:
        """Stop accepting records for good: the file may no longer end where the chain does."""
        self._failure = message
        logger.critical("AUDIT LOG FAILED (%s): every further call will be refused", message)
        return AuditError(f"the audit log {self.path} failed: {message}")

    # ------------------------------------------------------------------ rotation

    def _next_rotation(self) -> float | None:
        """The next multiple of ``rotate.every`` after the active file's first record."""
        every = self.rotate.every
        if every is None:
            return None
        first = first_record(self.path) if self._size else None
        started = ts_ms(first["ts"]) / 1000 if first and isinstance(first.get("ts"), str) else time.time()
        return (started // every + 1) * every

    def _rotate(self, trigger: str) -> None:
        """Close the active file under a time-stamped name and start a new one (``_lock`` held)."""
        if self.checkpoints and self._unsigned:
            self._checkpoint()
        assert self._fd is not None
        try:
            with self._sync_lock:
                _fsync(self._fd)
                os.close(self._fd)
                self._fd = None
                self._generation += 1
            closed = self.files.rotated_path(time.time_ns() // 1_000_000)
            os.rename(self.path, closed)
            self._fd = os.open(self.path, _OPEN_FLAGS, 0o640)
            _sync_directory(self.path.parent)
        except OSError as exc:
            raise self._fail(f"rotating to a new file failed: {_describe(exc)}") from exc
        self._size = 0
        self._written = self._synced = 0
        self._rotate_at = self._next_rotation()
        doomed, retention = self._retention()
        self._append("log.rotated", {"file": closed.name, "trigger": trigger, "retention": retention})
        if self.rotate.compress:
            self._jobs.put(("compress", closed))
        for path in doomed:
            self._jobs.put(("delete", path))

    def _retention(self) -> tuple[list[Path], dict[str, Any] | None]:
        """The closed files ``rotate.keep`` lets go, and the record for the log saying so.

        The record names the first record that remains, so ``audit verify`` can tell
        a log shortened by retention from one whose oldest file was removed.
        """
        keep = self.rotate.keep
        closed = self.files.rotated()
        if keep is None or len(closed) <= keep:
            return [], None
        doomed, oldest = closed[:-keep], closed[-keep]
        try:
            first = first_record(oldest)
        except UnreadableError as exc:
            logger.error("audit retention skipped: %s", exc)
            return [], None
        if first is None:
            logger.error("audit retention skipped: %s does not start with a record", oldest)
            return [], None
        retention = {"deleted": [path.name for path in doomed], "oldest_seq": first["seq"], "oldest_prev": first.get("prev")}
        return doomed, retention

    # ------------------------------------------------------------------ recovery

    def _take_lock(self) -> None:
        """One writer per log: a second gateway on the same path would fork the chain."""
        self._lock_fd = os.open(self.files.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OSError(f"another process (pid in {self.files.lock_path}) is writing this log") from None
        os.ftruncate(self._lock_fd, 0)
        os.write(self._lock_fd, f"{os.getpid()}\n".encode())

    def _recover(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The last intact record, and what was done with a torn tail after it.

        A torn tail is moved to a ``.torn`` file beside the log, never deleted.
        """
        for leftover in self.path.parent.glob(f"{self.path.stem}.*.gz.tmp"):
            leftover.unlink()  # a compression interrupted by the crash; it is redone
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            fd = None
        torn = None
        last = None
        if fd is not None:
            try:
                end, last = intact_end(fd)
                size = os.fstat(fd).st_size
                if end < size:
                    torn = self._move_aside(fd, end, size)
            finally:
                os.close(fd)
        if last is None:
            closed = self.files.rotated()
            last = last_record(closed[-1]) if closed else None
        return last, torn

    def _move_aside(self, fd: int, end: int, size: int) -> dict[str, Any]:
        data = os.pread(fd, size - end, end)
        aside = self.files.torn_path(time.time_ns() // 1_000_000)
        with open(aside, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.ftruncate(fd, end)
        os.fsync(fd)
        logger.warning("audit log %s ended in a torn line (%d bytes); moved it to %s", self.path, len(data), aside.name)
        return {"moved_to": aside.name, "torn_bytes": len(data), "torn_sha256": hashlib.sha256(data).hexdigest()}

    def _release(self) -> None:
        """Close the file and give up the writer lock (``_lock`` held)."""
        for attribute in ("_fd", "_lock_fd"):
            fd = getattr(self, attribute)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError as exc:
                    logger.error("closing the audit log failed: %s", _describe(exc))
                setattr(self, attribute, None)
        self._generation += 1

    # ------------------------------------------------------------------ background threads

    def _sync_loop(self) -> None:
        """Sync every ``SYNC_INTERVAL`` in batch mode; sign idle unsigned records after ``interval``."""
        while not self._stop.wait(SYNC_INTERVAL):
            try:
                if self.fsync_mode == "batch":
                    self.fsync()
                if self.checkpoints and time.monotonic() - self._signed_at >= self.checkpoints.interval:
                    with self._lock:
                        if self._unsigned and self._fd is not None and self._failure is None:
                            self._checkpoint()
            except AuditError:
                pass  # already reported loudly; every later write raises it to its caller

    def _maintain(self) -> None:
        """Compress and delete closed files one at a time, in the order rotation asked."""
        while (job := self._jobs.get()) is not None:
            action, path = job
            try:
                if action == "compress":
                    _gzip(path)
                else:
                    for victim in (path, path.with_name(path.name + ".gz")):
                        victim.unlink(missing_ok=True)
            except OSError as exc:
                logger.error("audit file maintenance (%s %s) failed: %s", action, path.name, _describe(exc))


def _gzip(path: Path) -> None:
    """Replace a closed file by its gzip, atomically: the plain file goes only once the
    gzip is complete and on disk."""
    target = path.with_name(path.name + ".gz")
    partial = target.with_name(target.name + ".tmp")
    try:
        with open(path, "rb") as source, open(partial, "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
                shutil.copyfileobj(source, packed, 1024 * 1024)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
        _sync_directory(path.parent)
        path.unlink()
    finally:
        partial.unlink(missing_ok=True)


def _fsync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _sync_directory(directory: Path) -> None:
    """Make a created or renamed file's name durable, not only its data."""
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _describe(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or str(exc)
