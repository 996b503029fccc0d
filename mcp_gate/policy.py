"""Rules compiled once into a per-tool shortlist, so deciding a call is cheap.

A gateway sees the same few tools called over and over, and a real policy can
hold a thousand rules keyed by server and tool.  So the rules that *could*
apply to a tool (its server and tool globs and its annotations match) are
worked out once per tool, using an index for the rules that name servers and
tools literally; deciding a call then only walks that shortlist, testing the
parts that depend on the call itself (arguments, principal, client).
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mcp_gate.config import TOOL_ANNOTATION_DEFAULTS, Action, ArgCondition, Config, Rule

_GLOB_CHARS = frozenset("*?[")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the policy may look at when deciding one call."""

    server: str
    tool: str
    arguments: Mapping[str, Any]
    principal: str
    client: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one call: the action and the rule (or default) that chose it."""

    action: Action
    rule_id: str
    """The deciding rule's id, or ``"default"``."""
    reason: str | None = None
    rule: Rule | None = None


def _is_literal(pattern: str) -> bool:
    return not (_GLOB_CHARS & set(pattern))


def _glob_matcher(patterns: Sequence[str] | None) -> Callable[[str], bool] | None:
    if patterns is None:
        return None
    regex = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return lambda value: regex.match(value) is not None


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _same(a: Any, b: Any) -> bool:
    """JSON equality: ``true`` is not ``1``, ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def resolve_path(arguments: Any, parts: Sequence[str]) -> list[Any]:
    """Every value at a dotted path; ``*`` stands for any list element or object key."""
    values = [arguments]
    for part in parts:
        found: list[Any] = []
        for value in values:
            if isinstance(value, Mapping):
                if part == "*":
                    found.extend(value.values())
                elif part in value:
                    found.append(value[part])
            elif isinstance(value, list):
                if part == "*":
                    found.extend(value)
                elif part.isdigit() and int(part) < len(value):
                    found.append(value[int(part)])
        values = found
        if not values:
            break
    return values


def _condition_test(condition: ArgCondition) -> Callable[[list[Any]], bool]:
    """One predicate over the values found at a path; every given test must hold."""
    tests: list[Callable[[list[Any]], bool]] = []
    given = condition.model_fields_set
    if "exists" in given:
        wanted = bool(condition.exists)
        tests.append(lambda values: bool(values) == wanted)
    if "equals" in given:
        expected = condition.equals
        tests.append(lambda values: any(_same(v, expected) for v in values))
    if "in_" in given:
        options = list(condition.in_ or [])
        tests.append(lambda values: any(_same(v, o) for v in values for o in options))
    if condition.regex is not None:
        regex = re.compile(condition.regex)
        tests.append(lambda values: any(regex.search(_json_text(v)) for v in values))
    if condition.glob is not None:
        glob = re.compile(fnmatch.translate(condition.glob))
        tests.append(lambda values: any(glob.match(_json_text(v)) for v in values))
    if condition.gt is not None:
        bound_gt = condition.gt
        tests.append(lambda values: any((n := _as_number(v)) is not None and n > bound_gt for v in values))
    if condition.lt is not None:
        bound_lt = condition.lt
        tests.append(lambda values: any((n := _as_number(v)) is not None and n < bound_lt for v in values))
    return lambda values: all(test(values) for test in tests)


@dataclass(slots=True)
class CompiledRule:
    """A rule split into its per-tool (static) and per-call (dynamic) tests."""

    index: int
    id: str
    rule: Rule
    server: Callable[[str], bool] | None
    tool: Callable[[str], bool] | None
    annotations: dict[str, Any]
    arg_tests: list[tuple[tuple[str, ...], Callable[[list[Any]], bool]]]
    principal: Callable[[str], bool] | None
    client: Callable[[str], bool] | None

    @classmethod
    def compile(cls, index: int, rule_id: str, rule: Rule) -> CompiledRule:
        match = rule.match
        return cls(
            index=index,
            id=rule_id,
            rule=rule,
            server=_glob_matcher(match.server),
            tool=_glob_matcher(match.tool),
            annotations=dict(match.annotations),
            arg_tests=[(tuple(path.split(".")), _condition_test(cond)) for path, cond in match.args.items()],
            principal=_glob_matcher(match.principal),
            client=_glob_matcher(match.client),
        )

    @property
    def is_dynamic(self) -> bool:
        """Whether the outcome depends on the call (arguments or caller), not just the tool."""
        return bool(self.arg_tests) or self.principal is not None or self.client is not None

    def fits_tool(self, server: str, tool: str, annotations: Mapping[str, Any]) -> bool:
        if self.server is not None and not self.server(server):
            return False
        if self.tool is not None and not self.tool(tool):
            return False
        for name, expected in self.annotations.items():
            actual = annotations.get(name)
            if actual is None:
                actual = TOOL_ANNOTATION_DEFAULTS[name]
            if not _same(actual, expected):
                return False
        return True

    def fits_call(self, facts: CallFacts) -> bool:
        if self.principal is not None and not self.principal(facts.principal):
            return False
        if self.client is not None and not self.client(facts.client or ""):
            return False
        return all(test(resolve_path(facts.arguments, path)) for path, test in self.arg_tests)


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """The rules that can apply to one tool, in order, and the default behind them."""

    server: str
    tool: str
    rules: tuple[CompiledRule, ...]
    default: Action

    def decide(self, facts: CallFacts) -> Decision:
        for compiled in self.rules:
            if not compiled.is_dynamic or compiled.fits_call(facts):
                return Decision(compiled.rule.action, compiled.id, compiled.rule.reason, compiled.rule)
        return Decision(self.default, "default")

    @property
    def always_denied(self) -> bool:
        """True when no call to this tool could be anything but denied."""
        for compiled in self.rules:
            if compiled.rule.action != "deny":
                return False
            if not compiled.is_dynamic:
                return True
        return self.default == "deny"

    @property
    def justification(self) -> Literal["required", "optional"] | None:
        """Whether calls must or may say why: ``required`` only if every way this tool can be
        decided is an approval rule that requires it."""
        deciding: list[Rule | None] = []
        for compiled in self.rules:
            deciding.append(compiled.rule)
            if not compiled.is_dynamic:
                break
        else:
            deciding.append(None)  # the default decides what no rule matched
        asked = [r.justification for r in deciding if r is not None and r.action == "approve" and r.justification]
        if not asked:
            return None
        if all(r is not None and r.action == "approve" and r.justification == "required" for r in deciding):
            return "required"
        return "optional"

    def summary(self) -> list[tuple[str, str, bool]]:
        """``(action, rule id, conditional)`` for each rule that may decide, ending at the first unconditional one."""
        lines: list[tuple[str, str, bool]] = []
        for compiled in self.rules:
            lines.append((compiled.rule.action, compiled.id, compiled.is_dynamic))
            if not compiled.is_dynamic:
                return lines
        lines.append((self.default, "default", False))
        return lines


@dataclass
class Policy:
    """All rules of a config, indexed by the servers and tools they name literally."""

    rules: list[CompiledRule]
    default: Action
    _by_server_tool: dict[tuple[str, str], list[CompiledRule]] = field(default_factory=dict)
    _by_server: dict[str, list[CompiledRule]] = field(default_factory=dict)
    _unkeyed: list[CompiledRule] = field(default_factory=list)
    _cache: dict[tuple[str, str, tuple[tuple[str, Any], ...]], ToolPolicy] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        compiled = [CompiledRule.compile(i, config.rule_id(i), rule) for i, rule in enumerate(config.rules)]
        policy = cls(rules=compiled, default=config.default)
        for rule in compiled:
            servers, tools = rule.rule.match.server, rule.rule.match.tool
            if servers and all(map(_is_literal, servers)):
                if tools and all(map(_is_literal, tools)):
                    for server in servers:
                        for tool in tools:
                            policy._by_server_tool.setdefault((server, tool), []).append(rule)
                else:
                    for server in servers:
                        policy._by_server.setdefault(server, []).append(rule)
            else:
                policy._unkeyed.append(rule)
        return policy

    def for_tool(self, server: str, tool: str, annotations: Mapping[str, Any] | None = None) -> ToolPolicy:
        """The shortlist of rules for one tool (cached; annotations are part of the key)."""
        annotations = annotations or {}
        key = (server, tool, tuple(sorted((k, v) for k, v in annotations.items() if k in TOOL_ANNOTATION_DEFAULTS)))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        candidates: Iterable[CompiledRule] = (
            *self._by_server_tool.get((server, tool), ()),
            *self._by_server.get(server, ()),
            *self._unkeyed,
        )
        shortlist = sorted(
            {r.index: r for r in candidates if r.fits_tool(server, tool, annotations)}.values(),
            key=lambda r: r.index,
        )
        tool_policy = ToolPolicy(server, tool, tuple(shortlist), self.default)
        self._cache[key] = tool_policy
        return tool_policy

    def forget_tools(self) -> None:
        """Drop the per-tool cache (after the catalog changed) so it cannot grow without bound."""
        self._cache.clear()

    def decide(self, facts: CallFacts, annotations: Mapping[str, Any] | None = None) -> Decision:
        return self.for_tool(facts.server, facts.tool, annotations).decide(facts)
