"""Canonical JSON and digests: the same value must always hash the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: a stable byte form for hashing and signing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(value: Any) -> str:
    """SHA-256 of a value's canonical JSON; how arguments appear in the audit log."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
