"""Fixtures for the masking tests; makes tests/phi_corpus.py importable."""

from __future__ import annotations

import sys
from pathlib import Path
from collections.abc import Callable

import pytest

from mcp_gate.config import MaskingConfig
from mcp_gate.masking import Masker, MaskingSession

# tests/phi_corpus.py, the labelled corpus, is shared with benchmarks/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEY = bytes(range(32))


@pytest.fixture
def masker_for() -> Callable[..., Masker]:
    """``masker_for(operator="redact", …)``: a masker with that masking config."""
    return lambda **config: Masker.from_config(MaskingConfig(**config), key=KEY)


@pytest.fixture
def session_for(masker_for: Callable[..., Masker]) -> Callable[..., MaskingSession]:
    """``session_for(session_id="s1", **config)``: a fresh session of such a masker."""
    return lambda session_id="s1", **config: masker_for(**config).session(session_id)


@pytest.fixture
def redact(session_for: Callable[..., MaskingSession]) -> MaskingSession:
    """A session that writes ``[ENTITY]``: easy to read in assertions."""
    return session_for(operator="redact")
