"""Just enough JSON Schema to keep a masked result valid against the tool's ``outputSchema``.

A masked value is a string (``[SSN_1a2b3c]``).  Where the schema allows a
string that is fine; where it demands a number, a boolean or null, the masked
value must be a placeholder of that type instead, or the client rejects the
whole result.  Values constrained by ``enum``/``const`` are vocabulary, not
PHI, and are left alone.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any] | bool | None
_COMBINATORS = ("anyOf", "oneOf", "allOf")


class SchemaView:
    """Navigates a schema with local ``$ref``s; every method accepts ``None`` (no schema)."""

    def __init__(self, root: Schema) -> None:
        self.root = root

    def resolve(self, node: Schema) -> Schema:
        for _ in range(32):
            if not isinstance(node, dict) or "$ref" not in node:
                return node
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                return None
            target: Any = self.root
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
            node = target
        return None

    def _members(self, node: Schema) -> list[dict[str, Any]]:
        """The node and the members of its anyOf/oneOf/allOf, resolved."""
        node = self.resolve(node)
        if not isinstance(node, dict):
            return []
        members = [node]
        for combinator in _COMBINATORS:
            for member in node.get(combinator, ()) or ():
                members.extend(self._members(member))
        return members

    def property(self, node: Schema, key: str) -> Schema:
        if node is None:
            return None
        for member in self._members(node):
            properties = member.get("properties")
            if isinstance(properties, dict) and key in properties:
                return properties[key]
        for member in self._members(node):
            additional = member.get("additionalProperties")
            if isinstance(additional, dict):
                return additional
        return None

    def item(self, node: Schema, index: int) -> Schema:
        if node is None:
            return None
        for member in self._members(node):
            prefix = member.get("prefixItems")
            if isinstance(prefix, list) and index < len(prefix):
                return prefix[index]
            items = member.get("items")
            if isinstance(items, dict):
                return items
            if isinstance(items, list) and index < len(items):
                return items[index]
        return None

    def types(self, node: Schema) -> set[str] | None:
        """The JSON types the node allows, or None for "anything"."""
        members = self._members(node)
        if not members:
            return None
        allowed: set[str] | None = None
        for member in members:
            declared = member.get("type")
            if declared is None:
                continue
            names = {declared} if isinstance(declared, str) else set(declared)
            allowed = names if allowed is None else allowed | names
        return allowed

    def fixed(self, node: Schema) -> bool:
        """Enumerated values are vocabulary (a status, a code), never masked."""
        return node is not None and any("enum" in member or "const" in member for member in self._members(node))

    def allows_string(self, node: Schema) -> bool:
        types = self.types(node)
        return types is None or "string" in types

    def placeholder(self, node: Schema) -> Any:
        """A value of an allowed non-string type that carries nothing: null, the minimum or 0, false."""
        types = self.types(node) or set()
        if "null" in types:
            return None
        if types & {"integer", "number"}:
            for member in self._members(node):
                if isinstance(member.get("minimum"), int | float):
                    return member["minimum"]
            return 0
        if "boolean" in types:
            return False
        if "array" in types:
            return []
        if "object" in types:
            return {}
        return None
