"""RFC 8785 canonical JSON, which every record hash is computed over."""

from __future__ import annotations

import hashlib
import json
import math
import random
import struct
from pathlib import Path

import pytest
import rfc8785 as reference

from mcp_gate.audit import AuditLog
from mcp_gate.audit.records import record_hash, seal
from mcp_gate.canonical import jcs_text, rfc8785

from .helpers import GATEWAY_EVENTS, read_records


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        # RFC 8785 appendix B
        (0.0, "0"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (-5e-324, "-5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (-1.7976931348623157e308, "-1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (-9007199254740992.0, "-9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (9.999999999999997e22, "9.999999999999997e+22"),
        (1e23, "1e+23"),
        (1e21, "1e+21"),
        (999999999999999700000.0, "999999999999999700000"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (333333333.3333333, "333333333.3333333"),
        (12.5, "12.5"),
        (100.0, "100"),
    ],
)
def test_numbers_follow_ecmascript(number: float, expected: str) -> None:
    assert jcs_text(number) == expected


def test_keys_sort_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: a non-BMP character sorts before U+FB33 in UTF-16.
    value = {"\u20ac": "Euro", "\r": "CR", "\ufb33": "Hebrew", "1": "One", "\U0001f600": "Smiley", "\u0080": "Control", "\u00f6": "o"}
    names = [json.loads(f'"{part.split(":")[0][1:-1]}"') for part in jcs_text(value)[1:-1].split(",")]
    assert names == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_strings_escape_only_what_ecmascript_escapes() -> None:
    assert jcs_text('a"b\\c\n\t\x01\x7f\u2028é') == '"a\\"b\\\\c\\n\\t\\u0001\x7f\u2028é"'
    assert rfc8785({"b": [1, True, None], "a": "é"}) == '{"a":"é","b":[1,true,null]}'.encode()


@pytest.mark.parametrize("value", [math.nan, math.inf, 2**53, {1: "x"}, b"bytes", object()])
def test_values_without_an_exact_form_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        jcs_text(value)


def test_sealed_line_hashes_the_canonical_form_and_parses_back() -> None:
    record = {
        "v": 1,
        "seq": 7,
        "ts": "2026-12-04T15:33:14.123Z",
        "event": "tool.executed",
        "masked": {"ssn": 2, "phone": 1},
        "duration_ms": 1.5,
        "prev": "0" * 64,
    }
    line = seal(record)
    parsed = json.loads(line)
    assert list(parsed) == ["v", "seq", "ts", "event", "masked", "duration_ms", "prev", "hash"]
    body = {k: v for k, v in parsed.items() if k != "hash"}
    assert parsed["hash"] == hashlib.sha256(rfc8785(body)).hexdigest() == record_hash(parsed) == record["hash"]


def test_numbers_match_an_independent_implementation() -> None:
    numbers = random.Random(8785)
    for _ in range(20_000):
        value = struct.unpack("<d", numbers.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(value):
            assert rfc8785(value) == reference.dumps(value), value


def test_written_hashes_can_be_recomputed_with_an_independent_implementation(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        for event, fields in GATEWAY_EVENTS.items():
            log.write(event, {**fields, "principal": "zoë@example.com"} if "principal" in fields else fields)
    for record in read_records(log_path):
        claimed = record.pop("hash")
        assert hashlib.sha256(reference.dumps(record)).hexdigest() == claimed
