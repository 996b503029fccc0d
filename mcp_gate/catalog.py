"""The tools the gateway exposes: upstream tools under their (namespaced) names.

With one upstream its tools keep their names; with several, each becomes
``server__tool`` (the separator is configurable).  Two tools that would end up
with the same exposed name are both withheld and reported, never one silently
shadowing the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from jsonschema import SchemaError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry

from mcp_gate.policy import Policy, ToolPolicy

JUSTIFICATION = "justification"
JUSTIFICATION_SCHEMA = {
    "type": "string",
    "description": "Why this call is needed; shown to the people who approve it.",
    "maxLength": 2000,
}


def tool_annotations(tool: types.Tool) -> dict[str, Any]:
    """A tool's MCP annotations as the wire names (``destructiveHint`` …) the policy matches on."""
    if tool.annotations is None:
        return {}
    return tool.annotations.model_dump(by_alias=True, exclude_none=True)


@dataclass(eq=False)
class CatalogEntry:
    """One exposed tool: where it lives, how it is shown, and the rules that may apply to it."""

    name: str
    upstream: str
    tool: types.Tool
    policy: ToolPolicy
    _validator: Validator | None = field(default=None, repr=False)

    @property
    def asks_justification(self) -> bool:
        """Whether the gateway adds a ``justification`` argument (the upstream never sees it)."""
        return self.policy.justification is not None and JUSTIFICATION not in self.tool.input_schema.get("properties", {})

    @property
    def exposed(self) -> types.Tool:
        """The upstream's tool as the agent sees it: same schemas and annotations, gateway name,
        plus a ``justification`` argument when approvers want to know why."""
        update: dict[str, Any] = {}
        if self.tool.name != self.name:
            update["name"] = self.name
        if self.asks_justification:
            schema = dict(self.tool.input_schema)
            schema["properties"] = {**schema.get("properties", {}), JUSTIFICATION: JUSTIFICATION_SCHEMA}
            if self.policy.justification == "required":
                schema["required"] = [*schema.get("required", []), JUSTIFICATION]
            update["input_schema"] = schema
        return self.tool.model_copy(update=update) if update else self.tool

    def split_justification(self, arguments: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """The agent's justification (if the gateway asked for one) and the arguments for the upstream."""
        if not self.asks_justification or JUSTIFICATION not in arguments:
            return None, arguments
        rest = dict(arguments)
        value = rest.pop(JUSTIFICATION)
        return (value.strip() or None) if isinstance(value, str) else None, rest

    def argument_problem(self, arguments: Mapping[str, Any]) -> str | None:
        """Why ``arguments`` do not fit the tool's ``inputSchema``, or None when they do."""
        if self._validator is None:
            schema = self.tool.input_schema
            cls = validator_for(schema)
            try:
                cls.check_schema(schema)
            except SchemaError as exc:
                return f"the upstream's input schema for this tool is invalid ({exc.message}); the call was not sent"
            self._validator = cls(schema, registry=Registry())
        error = best_match(self._validator.iter_errors(dict(arguments)))
        if error is None:
            return None
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        return f"invalid arguments{' at ' + where.lstrip('.') if where else ''}: {error.message}"


@dataclass
class Catalog:
    """Exposed name → entry, plus the names withheld because two tools wanted them."""

    entries: dict[str, CatalogEntry] = field(default_factory=dict)
    collisions: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> CatalogEntry | None:
        return self.entries.get(name)

    def visible_tools(self, hide_denied: bool) -> list[types.Tool]:
        return [e.exposed for e in self.entries.values() if not (hide_denied and e.policy.always_denied)]

    def names_of(self, upstream: str) -> set[str]:
        return {name for name, entry in self.entries.items() if entry.upstream == upstream}


def build_catalog(
    listings: Iterable[tuple[str, Iterable[types.Tool]]],
    *,
    namespaced: bool,
    separator: str,
    policy: Policy,
) -> Catalog:
    """Combine the upstreams' listings (in config order) into one catalog."""
    claims: dict[str, list[tuple[str, types.Tool]]] = {}
    for upstream, tools in listings:
        for tool in tools:
            name = f"{upstream}{separator}{tool.name}" if namespaced else tool.name
            claims.setdefault(name, []).append((upstream, tool))
    catalog = Catalog()
    for name, owners in claims.items():
        if len(owners) > 1:
            catalog.collisions[name] = [f"{upstream}:{tool.name}" for upstream, tool in owners]
            continue
        upstream, tool = owners[0]
        catalog.entries[name] = CatalogEntry(
            name=name,
            upstream=upstream,
            tool=tool,
            policy=policy.for_tool(upstream, tool.name, tool_annotations(tool)),
        )
    return catalog
