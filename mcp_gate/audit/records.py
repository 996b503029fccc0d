"""How one record becomes one line, and how its hash is computed.

``hash`` is the SHA-256 of the RFC 8785 canonical JSON of the record without
``hash``, so any JCS implementation can check it.  The line itself keeps the
fields in reading order (envelope first, ``prev``/``hash`` last) and encodes
every value exactly as in the canonical form, which lets the writer serialise
each value once and use the pieces for both the hash and the line.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from mcp_gate.canonical import encode_string, jcs_key_order, jcs_text, rfc8785

RECORD_VERSION = 1
GENESIS = "0" * 64
"""``prev`` of the very first record of a log."""

_second_cache: tuple[int, str] = (-1, "")
_MEMBER_PREFIXES: dict[str, str] = {}
_CANONICAL_ORDER: dict[tuple[str, ...], list[int]] = {}
"""``"key":`` per field name, and the RFC 8785 member order per sequence of field names:
both bounded, because the writer only accepts the schema's fields for each event."""


def utc_timestamp(ms: int | None = None) -> str:
    """UTC RFC 3339 with milliseconds, e.g. ``2026-12-04T15:33:14.123Z``.

    The date and time of day are formatted once per second: this runs for every record.
    """
    global _second_cache
    if ms is None:
        ms = time.time_ns() // 1_000_000
    second, millis = divmod(ms, 1000)
    cached_second, prefix = _second_cache
    if cached_second != second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second_cache = (second, prefix)
    return f"{prefix}.{millis:03d}Z"


def ts_ms(ts: str) -> int:
    """Milliseconds since the epoch of a record's ``ts``; ``ValueError`` if it is not one."""
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(ts[20:23])


def seal(record: dict[str, Any]) -> bytes:
    """Add ``hash`` to a record (which must end with ``prev``) and return its line.

    Raises ``ValueError`` when a value has no exact JSON form.
    """
    pieces = []
    for key, value in record.items():
        prefix = _MEMBER_PREFIXES.get(key)
        if prefix is None:
            prefix = _MEMBER_PREFIXES[key] = encode_string(key) + ":"
        pieces.append(prefix + (encode_string(value) if type(value) is str else jcs_text(value)))
    keys = tuple(record)
    order = _CANONICAL_ORDER.get(keys)
    if order is None:
        order = _CANONICAL_ORDER[keys] = [keys.index(name) for name in jcs_key_order(keys)]
    canonical = "{" + ",".join([pieces[index] for index in order]) + "}"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    record["hash"] = digest
    return ("{" + ",".join(pieces) + ',"hash":"' + digest + '"}\n').encode()


def record_hash(record: Mapping[str, Any]) -> str:
    """What ``hash`` must be for a parsed record."""
    return hashlib.sha256(rfc8785({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def signed_payload(record: Mapping[str, Any]) -> bytes:
    """What a checkpoint's ``sig`` covers: the record without ``sig`` and ``hash``.

    It includes ``prev``, so a signature vouches for every record before it.
    """
    return rfc8785({k: v for k, v in record.items() if k not in ("sig", "hash")})


def parse_line(line: bytes) -> dict[str, Any] | None:
    """A line's record if it is a JSON object with an integer ``seq`` and a string ``hash``."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    seq, digest = record.get("seq"), record.get("hash")
    if type(seq) is not int or not isinstance(digest, str):
        return None
    return record
