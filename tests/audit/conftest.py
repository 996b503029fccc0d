from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_gate.audit import AuditLog


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "mcp-gate.jsonl"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def log(log_path: Path) -> Iterator[AuditLog]:
    writer = AuditLog(log_path)
    writer.open()
    yield writer
    writer.close()
