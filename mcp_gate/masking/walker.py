"""Mask a JSON value: keys and structure stay, identifier keys mask their whole value, strings are scanned.

The walk copies the value (the input is never changed).  Values under keys
that name an identifier (``ssn``, ``birthDate``, a person's ``name``) or that
the config lists in ``fields`` are replaced whole.  Every other string is
scanned on its own: all of them are joined with NUL separators, which no
detector matches across, and scanned in one pass, which is much faster than
thousands of small scans.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from mcp_gate.masking.keys import (
    PERSON_PARENTS,
    identifier_entity,
    key_entity,
    normalize_key,
)
from mcp_gate.masking.operators import Operators
from mcp_gate.masking.scanner import MAX_NAMES, Finding, Scanner
from mcp_gate.masking.schema import Schema, SchemaView

SEPARATOR = "\x00"
NOT_INHERITED = frozenset({"state", "country", "use", "type", "system", "period", "rank"})
"""Keys inside an identifier's object that are not part of it (an address's state, a name's use)."""
_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")


def apply(text: str, findings: list[Finding], operators: Operators, counts: Counter[str]) -> str:
    """``text`` with every finding replaced by its operator's rendering."""
    if not findings:
        return text
    parts = []
    pos = 0
    for f in findings:
        parts.append(text[pos : f.start])
        parts.append(operators.replace(f.entity, text[f.start : f.end]))
        counts[f.entity] += 1
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


class JsonMasker:
    """One masking pass over one JSON value."""

    def __init__(
        self,
        scanner: Scanner,
        operators: Operators,
        fields: frozenset[str],
        names: set[str],
        counts: Counter[str],
        columns: Callable[[str, list[str]], str | None],
    ) -> None:
        self.scanner = scanner
        self.operators = operators
        self.fields = fields
        self.names = names
        self.counts = counts
        self.columns = columns
        self._slots: list[tuple[dict[str, Any] | list[Any], Any, str]] = []

    def mask(self, value: Any, schema: Schema = None) -> Any:
        view = SchemaView(schema)
        holder: list[Any] = [None]
        self._put(holder, 0, value, view, schema, None, None)
        self._scan_strings()
        return holder[0]

    # ------------------------------------------------------------------ the walk

    def _put(self, container: dict[str, Any] | list[Any], slot: Any, value: Any, view: SchemaView, node: Schema, key: str | None, entity: str | None) -> None:
        """Store the masked form of ``value`` at ``container[slot]``.

        ``key`` is the normalised key the value sits under (list items inherit
        it); ``entity`` is set when that key masks scalar values whole.
        """
        if isinstance(value, dict):
            container[slot] = self._object(value, view, node, key, entity)
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            for i, item in enumerate(value):
                self._put(items, i, item, view, view.item(node, i), key, entity)
            container[slot] = items
        elif entity is not None and isinstance(value, str | int | float) and not isinstance(value, bool):
            container[slot] = self._whole(value, entity, view, node)
        elif isinstance(value, str) and value and not view.fixed(node):
            container[slot] = value
            self._slots.append((container, slot, value))
        else:
            container[slot] = value

    def _object(self, value: dict[str, Any], view: SchemaView, node: Schema, parent: str | None, inherited: str | None = None) -> dict[str, Any]:
        """``inherited``: the entity of the key above (``"name": {"first": …, "last": …}``)."""
        out: dict[str, Any] = {}
        siblings = [normalize_key(k) for k in value]
        identifier = parent in ("identifier", "identifiers") and "value" in value and ("system" in value or "type" in value)
        for (k, v), nk in zip(value.items(), siblings):
            child = view.property(node, k)
            if nk in self.fields:
                self._put_field(out, k, v, view, child, key_entity(nk) or "field")
                continue
            entity = identifier_entity(value) if identifier and k == "value" else key_entity(nk, parent, siblings)
            if entity is None and isinstance(v, str) and nk in PERSON_PARENTS:
                entity = "name"  # "patient": "Ann Lee" (but "patient": {…} is walked)
            elif entity is None and nk not in NOT_INHERITED:
                entity = inherited
            if entity is not None and entity not in self.scanner.entities:
                entity = None
            self._put(out, k, v, view, child, nk, entity)
        return out

    def _put_field(self, container: dict[str, Any] | list[Any], slot: Any, value: Any, view: SchemaView, node: Schema, entity: str) -> None:
        """A configured field: everything under it is masked, containers included."""
        if isinstance(value, dict):
            inner: dict[str, Any] = {}
            for k, v in value.items():
                self._put_field(inner, k, v, view, view.property(node, k), entity)
            container[slot] = inner
        elif isinstance(value, list):
            items: list[Any] = [None] * len(value)
            for i, item in enumerate(value):
                self._put_field(items, i, item, view, view.item(node, i), entity)
            container[slot] = items
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            container[slot] = self._whole(value, entity, view, node)
        else:
            container[slot] = value

    def _whole(self, value: str | int | float, entity: str, view: SchemaView, node: Schema) -> Any:
        text = value if isinstance(value, str) else str(value)
        if not text.strip() or self.scanner.allow.allows(text):
            return value
        if entity == "age":
            number = _NUMBER.match(text)
            if number is None or float(number.group(1)) < 90:
                return value  # ages under 90 are not PHI
        self.counts[entity] += 1
        if entity == "name" and len(self.names) < MAX_NAMES:
            self.names.update(word for word in text.replace(",", " ").split() if len(word) > 2 and word[:1].isupper())
        masked = self.operators.replace(entity, text, value)
        if isinstance(value, str) or view.allows_string(node):
            return masked
        return view.placeholder(node)

    # ------------------------------------------------------------------ strings, in one scan

    def _scan_strings(self) -> None:
        if not self._slots:
            return
        alone = [slot for slot in self._slots if SEPARATOR in slot[2] or _looks_like_csv(slot[2])]
        batch = [slot for slot in self._slots if not (SEPARATOR in slot[2] or _looks_like_csv(slot[2]))]
        if batch:
            joined = SEPARATOR.join(text for _, _, text in batch)
            findings = self.scanner.scan(joined, self.names)
            if any(SEPARATOR in joined[f.start : f.end] for f in findings):
                alone += batch  # a custom regex crossed from one value into the next
            else:
                for (container, slot, _), new in zip(batch, apply(joined, findings, self.operators, self.counts).split(SEPARATOR), strict=True):
                    container[slot] = new
        for container, slot, text in alone:
            findings = self.scanner.scan(text, self.names, columns=self.columns)
            container[slot] = apply(text, findings, self.operators, self.counts)


def _looks_like_csv(text: str) -> bool:
    """A multi-line string whose first line has a comma: scanned alone, so its header counts."""
    newline = text.find("\n")
    return newline > 0 and "," in text[:newline]
