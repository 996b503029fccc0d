"""Canonical JSON and digests: the same value must always hash the same way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from json.encoder import encode_basestring as encode_string
from typing import Any

__all__ = ["canonical_json", "encode_string", "jcs_key_order", "jcs_text", "rfc8785", "sha256_hex"]


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: a stable byte form for hashing and signing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def sha256_hex(value: Any) -> str:
    """SHA-256 of a value's canonical JSON; how arguments appear in the audit log."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


# --------------------------------------------------------------------------- RFC 8785 (JCS)

_MAX_SAFE_INTEGER = 2**53 - 1


def jcs_text(value: Any) -> str:
    """RFC 8785 (JSON Canonicalization Scheme) text of a JSON value.

    The audit chain hashes this form so that anyone can recompute a record's
    hash with any JCS implementation, in any language.  Raises ``ValueError``
    for values JCS cannot represent exactly (NaN, infinities, integers beyond
    2**53, non-JSON types).
    """
    kind = type(value)
    if kind is str:
        return encode_string(value)
    if kind is int:
        if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER:
            return str(value)
        raise ValueError(f"integer {value} is outside the range JSON numbers represent exactly")
    if kind is dict:
        return "{" + ",".join([encode_string(k) + ":" + jcs_text(value[k]) for k in jcs_key_order(value)]) + "}"
    if kind is list or kind is tuple:
        return "[" + ",".join([jcs_text(item) for item in value]) + "]"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if kind is float:
        return _es_number(value)
    raise ValueError(f"a {kind.__name__} is not a JSON value")


def rfc8785(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    return jcs_text(value).encode()


def jcs_key_order(keys: Iterable[Any]) -> list[str]:
    """Object member names in RFC 8785 order: by UTF-16 code units, not code points."""
    names = list(keys)
    try:
        ascii_only = "".join(names).isascii()
    except TypeError:
        raise ValueError("object keys must be strings") from None
    if ascii_only:
        return sorted(names)
    return sorted(names, key=lambda name: name.encode("utf-16-be"))


def _es_number(value: float) -> str:
    """ECMAScript Number::toString, which RFC 8785 prescribes for every number."""
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("NaN and infinities are not JSON numbers")
    if value == 0:
        return "0"
    text = repr(value)  # the shortest digits that round-trip, as ECMAScript uses
    if "e" not in text:
        return text.removesuffix(".0")  # 1e-4 <= |value| < 1e16: ECMAScript's notation too
    sign = "-" if value < 0 else ""
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        body = digits + "0" * (point - count)
    elif 0 < point <= 21:
        body = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        power = point - 1
        exp = f"e{'+' if power > 0 else '-'}{abs(power)}"
        body = (digits[0] + "." + digits[1:] if count > 1 else digits) + exp
    return sign + body
