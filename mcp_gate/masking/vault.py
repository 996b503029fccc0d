"""The token vault of one MCP session: consistent tokens out, original values back.

A token is a keyed HMAC of the value: the same value gets the same token for
the whole session (the agent can tell two patients apart and refer back to one),
another session gets another key and so other tokens, and nobody without the
gateway's key can recompute a token from a guessed SSN.  The vault keeps the
originals in memory only, so that tokens the agent sends back can be restored.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any

from mcp_gate.masking.validators import alnum_of

DIGEST_CHARS = 6
"""Hex characters in a token; a collision within a session lengthens the new token."""

_DIGIT_ENTITIES = frozenset("ssn phone npi credit_card mbi dea iban vin account mrn health_plan license device zip".split())


def canonical(entity: str, value: str) -> str:
    """One spelling per value: ``(212) 555-0142`` and ``212-555-0142`` are one phone number."""
    if entity in _DIGIT_ENTITIES:
        return alnum_of(value)
    return " ".join(value.casefold().split())


class TokenVault:
    """Maps values to tokens and tokens to values for one session."""

    def __init__(self, key: bytes) -> None:
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._tokens: dict[tuple[str, str], str] = {}
        self._seen: dict[tuple[str, str], str] = {}
        """The same mapping keyed by the value as written: repeats skip canonicalising."""
        self._originals: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._originals)

    def token(self, entity: str, value: str, original: Any = None) -> str:
        """``[SSN_1a2b3c]`` for this value; ``original`` (default: ``value``) is what unmasking returns."""
        known = self._seen.get((entity, value))
        if known is not None:
            return known
        key = (entity, canonical(entity, value))
        known = self._tokens.get(key)
        if known is not None:
            self._seen[(entity, value)] = known
            return known
        mac = self._mac.copy()  # keyed once: copying beats re-keying for every value
        mac.update(f"{key[0]}\x00{key[1]}".encode())
        digest = mac.hexdigest()
        label = entity.upper()
        with self._lock:
            token = next(
                candidate
                for candidate in (f"[{label}_{digest[:n]}]" for n in range(DIGEST_CHARS, len(digest) + 1, 2))
                if candidate not in self._originals
            )
            self._originals[token] = value if original is None else original
            self._tokens[key] = self._seen[(entity, value)] = token
        return token

    def original(self, token: str) -> tuple[bool, Any]:
        """``(True, value)`` for a token of this session, ``(False, None)`` for any other."""
        if token in self._originals:
            return True, self._originals[token]
        return False, None
