"""The masker the gateway holds, and the per-MCP-session state (token vault, names seen).

Everything that can go wrong while masking becomes ``MaskingError``: the
gateway then returns an error to the agent instead of the result, so a bug in a
detector can never let a raw result through.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mcp_gate.config import MASKING_ENTITIES, MaskingConfig, MaskOverride
from mcp_gate.masking import patterns as P
from mcp_gate.masking.keys import key_entity, normalize_key
from mcp_gate.masking.operators import Operators
from mcp_gate.masking.scanner import Allowlist, Finding, Scanner
from mcp_gate.masking.schema import Schema
from mcp_gate.masking.vault import TokenVault
from mcp_gate.masking.walker import JsonMasker, apply


class MaskingError(Exception):
    """Masking could not be done; the caller must not use the unmasked value."""


@dataclass(frozen=True)
class UnmaskReport:
    """What unmasking did to a call's arguments (counts only, never values)."""

    replaced: dict[str, int] = field(default_factory=dict)
    """Tokens of this session replaced by their original, per entity."""
    unknown: int = 0
    """Token-shaped strings left alone: from another session, or made up."""


@dataclass(frozen=True)
class Plan:
    """Scanner and operators for one combination of entities and operator."""

    scanner: Scanner
    operator: str
    per_entity: dict[str, str]


class Masker:
    """Masking as configured; one per gateway process, shared by all sessions."""

    def __init__(self, config: MaskingConfig, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the masking key must be at least 16 random bytes")
        self.config = config
        self._key = key
        self.hash_key = hmac.new(key, b"mcp-gate masking hash", hashlib.sha256).digest()
        self._allow = Allowlist(config.allow, config.allow_regex)
        self._known = MASKING_ENTITIES + tuple(c.name for c in config.custom)
        self.fields = frozenset(normalize_key(f) for f in config.fields)
        self._plans: dict[tuple[frozenset[str], str], Plan] = {}
        self._default = self._plan(frozenset(config.entities or self._known), config.operator, dict(config.operators))

    @classmethod
    def from_config(cls, config: MaskingConfig, key: bytes) -> Masker:
        return cls(config, key)

    def session(self, session_id: str) -> MaskingSession:
        """Masking state for one MCP client session (its own token key and vault)."""
        session_key = hmac.new(self._key, b"mcp-gate session\x00" + session_id.encode(), hashlib.sha256).digest()
        return MaskingSession(self, session_id, session_key)

    def explain(self, text: str) -> list[Finding]:
        """Every candidate in ``text``: what would be masked, and what was rejected and why."""
        return self._default.scanner.scan(text, set(), columns=self.column_entity, explain=True)

    def column_entity(self, header: str, headers: list[str]) -> str | None:
        """The entity of the CSV column ``header`` (among ``headers``), if it masks whole values."""
        key = normalize_key(header)
        if key in self.fields:
            return key_entity(key) or "field"
        return key_entity(key, None, [normalize_key(h) for h in headers])

    def plan_for(self, override: MaskOverride | None) -> Plan | None:
        """The plan a rule's ``mask`` setting asks for; None when it turns masking off."""
        if override is None or (override.enabled and override.entities is None and override.operator is None):
            return self._default
        if not override.enabled:
            return None
        unknown = [name for name in override.entities or () if name not in self._known]
        if unknown:
            raise MaskingError(f"rule asks to mask unknown entities: {', '.join(unknown)}")
        entities = frozenset(override.entities) if override.entities is not None else self._default.scanner.entities
        if override.operator is not None:
            return self._plan(entities, override.operator, {})
        return self._plan(entities, self.config.operator, dict(self.config.operators))

    def _plan(self, entities: frozenset[str], operator: str, per_entity: dict[str, str]) -> Plan:
        cache_key = (entities, operator + repr(sorted(per_entity.items())))
        plan = self._plans.get(cache_key)
        if plan is None:
            scanner = Scanner(entities, region=self.config.region, custom=self.config.custom, allow=self._allow)
            plan = self._plans[cache_key] = Plan(scanner, operator, per_entity)
        return plan


class MaskingSession:
    """One MCP session's masking: consistent tokens, the way back, names already seen."""

    def __init__(self, masker: Masker, session_id: str, key: bytes) -> None:
        self.masker = masker
        self.session_id = session_id
        self._vault = TokenVault(key)
        self._names: set[str] = set()

    # ------------------------------------------------------------------ masking

    def mask_result(self, result: dict[str, Any], output_schema: Schema = None, rule_override: MaskOverride | None = None) -> tuple[dict[str, Any], dict[str, int]]:
        """A masked copy of a CallToolResult (wire form) and the count of masked entities."""
        plan = self._plan(rule_override)
        if plan is None:
            return result, {}
        counts: Counter[str] = Counter()
        with _failing_closed():
            if not isinstance(result, dict):
                raise MaskingError("a tool result must be a JSON object")
            self._check_size(_result_size(result))
            out = dict(result)
            structured = result.get("structuredContent")
            twin = None
            if structured is not None:
                out["structuredContent"] = self._json(plan, counts).mask(structured, output_schema)
                twin = (structured, out["structuredContent"])
            if "content" in result:
                out["content"] = [self._block(block, plan, counts, twin) for block in result["content"]]
        return out, dict(counts)

    def mask_resource_result(self, result: dict[str, Any], rule_override: MaskOverride | None = None) -> tuple[dict[str, Any], dict[str, int]]:
        """A masked copy of a ``resources/read`` result: each content's ``text``; blobs and URIs stay."""
        plan = self._plan(rule_override)
        if plan is None:
            return result, {}
        counts: Counter[str] = Counter()
        with _failing_closed():
            contents = result.get("contents") or []
            self._check_size(sum(len(c["text"].encode()) for c in contents if isinstance(c, dict) and isinstance(c.get("text"), str)))
            out = dict(result)
            out["contents"] = [
                {**c, "text": self._text(c["text"], plan, counts)} if isinstance(c, dict) and isinstance(c.get("text"), str) else c for c in contents
            ]
        return out, dict(counts)

    def mask_value(self, value: Any, schema: Schema = None, rule_override: MaskOverride | None = None) -> tuple[Any, dict[str, int]]:
        """A masked copy of any JSON value (arguments shown to approvers, audit copies)."""
        plan = self._plan(rule_override)
        if plan is None:
            return value, {}
        counts: Counter[str] = Counter()
        with _failing_closed():
            if isinstance(value, str):
                self._check_size(len(value.encode()))
                masked = self._text(value, plan, counts)
            else:
                self._check_size(len(json.dumps(value, ensure_ascii=False, default=str)))
                masked = self._json(plan, counts).mask(value, schema)
        return masked, dict(counts)

    def mask_text(self, text: str, rule_override: MaskOverride | None = None) -> tuple[str, dict[str, int]]:
        """Masked text (JSON text stays JSON, CSV columns are honoured) and the counts."""
        plan = self._plan(rule_override)
        if plan is None:
            return text, {}
        counts: Counter[str] = Counter()
        with _failing_closed():
            self._check_size(len(text.encode()))
            masked = self._text(text, plan, counts)
        return masked, dict(counts)

    # ------------------------------------------------------------------ unmasking

    def unmask_arguments(self, arguments: dict[str, Any]) -> tuple[dict[str, Any], UnmaskReport]:
        """Arguments with this session's tokens replaced by the values they stand for.

        A string that is exactly one token becomes the original value with its
        type (an MRN that was a number is a number again); tokens inside longer
        text are replaced by the original's text.  Tokens this session did not
        issue are left as they are and counted as ``unknown``.
        """
        replaced: Counter[str] = Counter()
        unknown = 0

        def restore(value: Any) -> Any:
            nonlocal unknown
            if isinstance(value, dict):
                return {k: restore(v) for k, v in value.items()}
            if isinstance(value, list):
                return [restore(v) for v in value]
            if not isinstance(value, str) or "[" not in value:
                return value
            whole = P.MASK_TOKEN.fullmatch(value)
            if whole is not None:
                known, original = self._vault.original(value)
                if known:
                    replaced[whole.group("label").lower()] += 1
                    return original
                unknown += 1
                return value

            def one(m: Any) -> str:
                nonlocal unknown
                known, original = self._vault.original(m.group())
                if not known:
                    unknown += 1
                    return str(m.group())
                replaced[m.group("label").lower()] += 1
                return original if isinstance(original, str) else json.dumps(original)

            return P.MASK_TOKEN.sub(one, value)

        restored = restore(arguments)
        return restored, UnmaskReport(dict(replaced), unknown)

    # ------------------------------------------------------------------ internals

    def _plan(self, override: MaskOverride | None) -> Plan | None:
        with _failing_closed():
            return self.masker.plan_for(override)

    def _operators(self, plan: Plan) -> Operators:
        return Operators(plan.operator, plan.per_entity, self._vault, self.masker.hash_key, self.masker.config.restricted_zip3)

    def _json(self, plan: Plan, counts: Counter[str]) -> JsonMasker:
        return JsonMasker(plan.scanner, self._operators(plan), self.masker.fields, self._names, counts, self.masker.column_entity)

    def _text(self, text: str, plan: Plan, counts: Counter[str], twin: tuple[Any, Any] | None = None) -> str:
        """Text: JSON inside is walked and re-serialised; anything else is scanned.

        ``twin`` is (structuredContent, its masked form): tools usually send the same
        JSON as text too, which then gets the same masked form without a second pass.
        """
        stripped = text.strip()
        if stripped[:1] in ("{", "[") and stripped[-1:] in ("}", "]"):
            try:
                value = json.loads(stripped)
            except ValueError:
                pass
            else:
                masked = twin[1] if twin is not None and value == twin[0] else self._json(plan, counts).mask(value)
                return json.dumps(masked, ensure_ascii=False, indent=2 if "\n" in stripped else None)
        findings = plan.scanner.scan(text, self._names, columns=self.masker.column_entity)
        return apply(text, findings, self._operators(plan), counts)

    def _block(self, block: Any, plan: Plan, counts: Counter[str], twin: tuple[Any, Any] | None) -> Any:
        if not isinstance(block, dict):
            raise MaskingError("a content block must be a JSON object")
        kind = block.get("type")
        if kind in ("image", "audio"):
            return block
        out = dict(block)
        if kind == "text":
            out["text"] = self._text(str(block.get("text", "")), plan, counts, twin)
        elif kind == "resource":
            resource = block.get("resource")
            if isinstance(resource, dict) and isinstance(resource.get("text"), str):
                out["resource"] = {**resource, "text": self._text(resource["text"], plan, counts)}
        elif kind == "resource_link":
            for name in ("name", "title", "description"):
                if isinstance(block.get(name), str):
                    out[name] = self._text(block[name], plan, counts)
        else:
            raise MaskingError(f"cannot mask a content block of type {kind!r}")
        return out

    def _check_size(self, size: int) -> None:
        limit = self.masker.config.max_bytes
        if size > limit:
            raise MaskingError(f"the result is {size} bytes, more than masking.max_bytes ({limit}); it was not passed on")


def _result_size(result: dict[str, Any]) -> int:
    """Bytes that masking would have to read: text blocks, embedded text, structured content."""
    size = 0
    for block in result.get("content") or ():
        if isinstance(block, dict):
            text = block.get("text")
            resource = block.get("resource")
            if isinstance(resource, dict):
                text = resource.get("text")
            if isinstance(text, str):
                size += len(text.encode())
    if result.get("structuredContent") is not None:
        size += len(json.dumps(result["structuredContent"], ensure_ascii=False, default=str).encode())
    return size


class _failing_closed:
    """Turns any exception into ``MaskingError`` (which passes through unchanged)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, MaskingError) or not isinstance(exc, Exception):
            return None  # nothing to do, or already the right error: let it propagate
        raise MaskingError(f"masking failed: {type(exc).__name__}") from exc
