"""The policy engine decides calls exactly as the rules say, first match wins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mcp_gate.config import parse_config
from mcp_gate.policy import CallFacts, Policy


def compile_policy(rules: list[dict[str, Any]], default: str = "approve") -> Policy:
    config = parse_config(
        json.dumps({"version": 1, "upstreams": {"ehr": {"command": "x"}, "db": {"command": "y"}}, "rules": rules, "default": default}),
        Path("p.yaml"),
    )
    return Policy.from_config(config)


def decide(policy: Policy, tool: str, args: dict[str, Any] | None = None, *, server: str = "ehr", **facts: Any) -> str:
    annotations = facts.pop("annotations", None)
    call = CallFacts(server, tool, args or {}, facts.get("principal", "alice"), facts.get("client"))
    decision = policy.decide(call, annotations)
    return f"{decision.action}:{decision.rule_id}"


def test_first_matching_rule_wins_and_default_catches_the_rest() -> None:
    policy = compile_policy(
        [
            {"id": "reads", "match": {"server": "ehr", "tool": "get_*"}, "action": "allow"},
            {"id": "all-ehr", "match": {"server": "ehr"}, "action": "deny"},
        ]
    )
    assert decide(policy, "get_patient") == "allow:reads"
    assert decide(policy, "delete_patient") == "deny:all-ehr"
    assert decide(policy, "anything", server="db") == "approve:default"


def test_tool_globs_accept_lists_and_character_classes() -> None:
    policy = compile_policy([{"id": "r", "match": {"tool": ["list_*", "get_[ab]"]}, "action": "allow"}], default="deny")
    assert decide(policy, "list_users") == "allow:r"
    assert decide(policy, "get_a") == "allow:r"
    assert decide(policy, "get_c") == "deny:default"


def test_sql_write_regex_from_the_design_holds_for_any_case() -> None:
    policy = compile_policy(
        [
            {
                "id": "sql-writes",
                "match": {"server": "db", "tool": "run_sql", "args": {"query": {"regex": r"(?i)\b(update|delete|drop)\b"}}},
                "action": "approve",
            },
            {"id": "sql", "match": {"server": "db"}, "action": "allow"},
        ]
    )
    assert decide(policy, "run_sql", {"query": "select * from t"}, server="db") == "allow:sql"
    assert decide(policy, "run_sql", {"query": "DeLeTe from t"}, server="db") == "approve:sql-writes"
    # Wrapping the statement in a list must not slip past the regex.
    assert decide(policy, "run_sql", {"query": ["drop table t"]}, server="db") == "approve:sql-writes"


@pytest.mark.parametrize(
    ("condition", "args", "matches"),
    [
        ({"equals": 5}, {"n": 5}, True),
        ({"equals": 5}, {"n": 5.0}, True),
        ({"equals": True}, {"n": 1}, False),
        ({"in": ["a", "b"]}, {"n": "b"}, True),
        ({"in": ["a", "b"]}, {"n": "c"}, False),
        ({"glob": "*.csv"}, {"n": "export.csv"}, True),
        ({"glob": "*.csv"}, {"n": "export.json"}, False),
        ({"exists": True}, {"n": None}, True),
        ({"exists": True}, {}, False),
        ({"exists": False}, {}, True),
        ({"gt": 100}, {"n": 101}, True),
        ({"gt": 100}, {"n": "250"}, True),
        ({"gt": 100}, {"n": 100}, False),
        ({"lt": 10}, {"n": 3}, True),
        ({"gt": 1, "lt": 10}, {"n": 11}, False),
        ({"gt": 1}, {"n": True}, False),
        ("literal", {"n": "literal"}, True),
    ],
)
def test_argument_conditions(condition: Any, args: dict[str, Any], matches: bool) -> None:
    policy = compile_policy([{"id": "c", "match": {"args": {"n": condition}}, "action": "deny"}], default="allow")
    assert decide(policy, "t", args) == ("deny:c" if matches else "allow:default")


def test_dotted_paths_reach_into_objects_lists_and_wildcards() -> None:
    policy = compile_policy(
        [
            {"id": "deep", "match": {"args": {"filter.patient.state": {"equals": "CA"}}}, "action": "deny"},
            {"id": "index", "match": {"args": {"mrns.0": {"equals": "MRN-1"}}}, "action": "deny"},
            {"id": "any", "match": {"args": {"rows.*.ssn": {"exists": True}}}, "action": "approve"},
        ],
        default="allow",
    )
    assert decide(policy, "t", {"filter": {"patient": {"state": "CA"}}}) == "deny:deep"
    assert decide(policy, "t", {"mrns": ["MRN-1", "MRN-2"]}) == "deny:index"
    assert decide(policy, "t", {"rows": [{"id": 1}, {"id": 2, "ssn": "x"}]}) == "approve:any"
    assert decide(policy, "t", {"rows": [{"id": 1}]}) == "allow:default"


def test_annotations_missing_from_a_tool_take_the_spec_defaults() -> None:
    policy = compile_policy([{"id": "no-destroy", "match": {"annotations": {"destructiveHint": True}}, "action": "deny"}], default="allow")
    assert decide(policy, "drop", annotations={"destructiveHint": True}) == "deny:no-destroy"
    assert decide(policy, "read", annotations={"readOnlyHint": True, "destructiveHint": False}) == "allow:default"
    # A server that says nothing may be destructive (MCP default destructiveHint: true).
    assert decide(policy, "unknown", annotations={}) == "deny:no-destroy"


def test_principal_and_client_globs() -> None:
    policy = compile_policy(
        [
            {"id": "oncall", "match": {"principal": "*@oncall.example.com"}, "action": "allow"},
            {"id": "cursor", "match": {"client": "cursor*"}, "action": "deny"},
        ]
    )
    assert decide(policy, "t", principal="bob@oncall.example.com") == "allow:oncall"
    assert decide(policy, "t", principal="eve@example.com", client="cursor-vscode") == "deny:cursor"
    assert decide(policy, "t", principal="eve@example.com", client=None) == "approve:default"


def test_always_denied_only_when_no_call_could_pass() -> None:
    policy = compile_policy(
        [
            {"id": "maybe", "match": {"tool": "a", "args": {"x": {"equals": 1}}}, "action": "allow"},
            {"id": "never", "match": {"tool": ["a", "b"]}, "action": "deny"},
            {"id": "cond-deny", "match": {"tool": "c", "args": {"x": {"equals": 1}}}, "action": "deny"},
        ],
        default="deny",
    )
    assert not policy.for_tool("ehr", "a").always_denied  # some arguments are allowed
    assert policy.for_tool("ehr", "b").always_denied
    assert policy.for_tool("ehr", "c").always_denied  # denied either way: by the rule or by default
    assert not compile_policy([], default="approve").for_tool("ehr", "z").always_denied


def test_a_thousand_keyed_rules_leave_a_short_list_per_tool() -> None:
    rules = [{"id": f"r{i}", "match": {"server": "ehr", "tool": f"tool_{i}"}, "action": "allow"} for i in range(1000)]
    rules.append({"id": "catch", "match": {"annotations": {"readOnlyHint": False}}, "action": "deny"})
    policy = compile_policy(rules)
    shortlist = policy.for_tool("ehr", "tool_777", {"readOnlyHint": True})
    assert [r.id for r in shortlist.rules] == ["r777"]
    assert decide(policy, "tool_777") == "allow:r777"
    assert decide(policy, "tool_1000", annotations={"readOnlyHint": False}) == "deny:catch"
