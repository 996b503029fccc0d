"""Namespacing, collisions and argument validation of the exposed catalog."""

from __future__ import annotations

from pathlib import Path

import mcp_types as types

from mcp_gate.catalog import build_catalog
from mcp_gate.config import parse_config
from mcp_gate.policy import Policy

POLICY = Policy.from_config(parse_config("version: 1\nupstreams: {a: {command: x}}\ndefault: allow\n", Path("p.yaml")))


def tool(name: str, **schema: object) -> types.Tool:
    return types.Tool(
        name=name,
        input_schema={"type": "object", "properties": schema.get("properties", {}), "required": schema.get("required", [])},
        output_schema={"type": "object"},
        annotations=types.ToolAnnotations(readOnlyHint=True),
    )


def test_single_upstream_keeps_tool_names() -> None:
    catalog = build_catalog([("ehr", [tool("get_patient")])], namespaced=False, separator="__", policy=POLICY)
    assert [t.name for t in catalog.visible_tools(hide_denied=True)] == ["get_patient"]


def test_several_upstreams_are_namespaced_with_the_separator() -> None:
    catalog = build_catalog(
        [("ehr", [tool("search")]), ("files", [tool("search")])], namespaced=True, separator=".", policy=POLICY
    )
    exposed = catalog.visible_tools(hide_denied=True)
    assert [t.name for t in exposed] == ["ehr.search", "files.search"]
    # Everything but the name passes through untouched.
    assert exposed[0].input_schema == tool("search").input_schema
    assert exposed[0].output_schema == {"type": "object"}
    assert exposed[0].annotations == types.ToolAnnotations(readOnlyHint=True)
    assert catalog.get("files.search").tool.name == "search"


def test_colliding_names_are_withheld_not_shadowed() -> None:
    catalog = build_catalog(
        [("a", [tool("b__c"), tool("ok")]), ("a__b", [tool("c")])], namespaced=True, separator="__", policy=POLICY
    )
    assert catalog.get("a__b__c") is None
    assert catalog.collisions == {"a__b__c": ["a:b__c", "a__b:c"]}
    assert [t.name for t in catalog.visible_tools(hide_denied=True)] == ["a__ok"]


def test_arguments_are_checked_against_the_input_schema() -> None:
    catalog = build_catalog(
        [("ehr", [tool("get", properties={"mrn": {"type": "string"}, "n": {"type": "integer", "maximum": 5}}, required=["mrn"])])],
        namespaced=False,
        separator="__",
        policy=POLICY,
    )
    entry = catalog.get("get")
    assert entry.argument_problem({"mrn": "MRN-1"}) is None
    assert entry.argument_problem({}) == "invalid arguments: 'mrn' is a required property"
    assert entry.argument_problem({"mrn": "x", "n": 9}) == "invalid arguments at n: 9 is greater than the maximum of 5"


def test_an_invalid_upstream_schema_refuses_calls() -> None:
    broken = types.Tool(name="t", input_schema={"type": "object", "properties": {"x": {"type": "no-such-type"}}})
    catalog = build_catalog([("ehr", [broken])], namespaced=False, separator="__", policy=POLICY)
    problem = catalog.get("t").argument_problem({"x": 1})
    assert problem is not None and problem.startswith("the upstream's input schema for this tool is invalid")
