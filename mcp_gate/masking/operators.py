"""What a finding is replaced with: ``redact``, ``token``, ``partial`` or ``hash``.

``partial`` keeps what HIPAA Safe Harbor lets through: the year of a date, the
first three digits of a ZIP code (``000`` for sparsely populated ZIP-3 areas),
ages over 89 as ``90+``; for numbers that identify (SSN, phone, card, MRN…) it
keeps the last four characters, the usual way to let a person recognise a
record.  Entities with no safe part (names, addresses, e-mail…) are redacted.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mcp_gate.masking.vault import TokenVault, canonical

_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|2[01]\d\d)(?!\d)")
_NO_PARTIAL = frozenset("name address email url ip mac".split())
"""Entities with no part that Safe Harbor lets through: ``partial`` redacts them."""


class Operators:
    """Renders replacements for one session: the operator per entity, the vault, the hash key."""

    def __init__(
        self,
        default: str,
        per_entity: Mapping[str, str],
        vault: TokenVault,
        hash_key: bytes,
        restricted_zip3: Iterable[str] = (),
    ) -> None:
        self.default = default
        self.per_entity = dict(per_entity)
        self.vault = vault
        self.hash_key = hash_key
        self.restricted_zip3 = frozenset(restricted_zip3)

    def replace(self, entity: str, value: str, original: Any = None) -> str:
        """The text that stands in for ``value`` (``original`` is the typed value, for unmasking)."""
        if entity == "age":
            return "90+"
        operator = self.per_entity.get(entity, self.default)
        if operator == "token":
            return self.vault.token(entity, value, original)
        if operator == "hash":
            digest = hmac.new(self.hash_key, f"{entity}\x00{canonical(entity, value)}".encode(), hashlib.sha256).hexdigest()
            return f"[{entity.upper()}:{digest[:12]}]"
        if operator == "partial":
            kept = self._partial(entity, value)
            if kept is not None:
                return kept
        return f"[{entity.upper()}]"

    def _partial(self, entity: str, value: str) -> str | None:
        if entity == "date":
            year = _YEAR.search(value)
            return year.group() if year else None
        if entity == "zip":
            zip3 = value[:3]
            return ("000" if zip3 in self.restricted_zip3 else zip3) + "**"
        if entity not in _NO_PARTIAL:  # identifying numbers, custom entities: the last four
            alnum = sum(ch.isalnum() for ch in value)
            if alnum < 8:
                return None
            seen = 0
            out = []
            for ch in value:
                if ch.isalnum():
                    seen += 1
                    out.append(ch if seen > alnum - 4 else "*")
                else:
                    out.append(ch)
            return "".join(out)
        return None

