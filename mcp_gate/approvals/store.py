"""Where approvals are kept: in memory (default) or in SQLite, so they survive a restart.

The broker is the only writer; a store only saves and finds records.  SQLite
keeps each approval as one JSON row (plus the columns it is searched by), written
in its own transaction, so a crash loses at most the change being written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from mcp_gate.approvals.model import Approval


class Store(Protocol):
    def save(self, approval: Approval) -> None: ...
    def get(self, approval_id: str) -> Approval | None: ...
    def pending(self) -> Iterable[Approval]: ...
    def recent(self, limit: int) -> list[Approval]: ...
    def close(self) -> None: ...


class MemoryStore:
    """Approvals in this process only; a restart forgets them."""

    def __init__(self) -> None:
        self._items: dict[str, Approval] = {}

    def save(self, approval: Approval) -> None:
        self._items[approval.id] = approval

    def get(self, approval_id: str) -> Approval | None:
        return self._items.get(approval_id)

    def pending(self) -> Iterable[Approval]:
        return [a for a in self._items.values() if a.pending]

    def recent(self, limit: int) -> list[Approval]:
        return sorted(self._items.values(), key=lambda a: a.created_at, reverse=True)[:limit]

    def close(self) -> None:
        self._items.clear()


class SQLiteStore:
    """Approvals in a SQLite file: pending ones and decisions outlive the gateway process."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS approvals ("
            " id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at REAL NOT NULL, data TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state)")
        self._cache: dict[str, Approval] = {}

    def save(self, approval: Approval) -> None:
        self._db.execute(
            "INSERT INTO approvals (id, state, created_at, data) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET state = excluded.state, data = excluded.data",
            (approval.id, approval.state, approval.created_at, json.dumps(approval.to_dict())),
        )
        self._cache[approval.id] = approval

    def get(self, approval_id: str) -> Approval | None:
        if approval_id in self._cache:
            return self._cache[approval_id]
        row = self._db.execute("SELECT data FROM approvals WHERE id = ?", (approval_id,)).fetchone()
        if row is None:
            return None
        approval = Approval.from_dict(json.loads(row[0]))
        self._cache[approval.id] = approval
        return approval

    def pending(self) -> Iterable[Approval]:
        rows = self._db.execute("SELECT id FROM approvals WHERE state = 'pending'").fetchall()
        return [a for (approval_id,) in rows if (a := self.get(approval_id)) is not None]

    def recent(self, limit: int) -> list[Approval]:
        rows = self._db.execute("SELECT id FROM approvals ORDER BY created_at DESC LIMIT ?", (limit,)).fetchall()
        return [a for (approval_id,) in rows if (a := self.get(approval_id)) is not None]

    def close(self) -> None:
        self._db.close()


def open_store(spec: str, base_dir: Path) -> Store:
    """``memory`` or ``sqlite:///path`` (relative paths are relative to the policy file)."""
    if spec == "memory":
        return MemoryStore()
    return SQLiteStore(base_dir / spec.removeprefix("sqlite:///"))
