"""policies.yaml: every kind of mistake is reported with its file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mcp_gate.config import ConfigError, load_config, parse_config

GOOD_UPSTREAM = "upstreams:\n  ehr: {command: python, args: [ehr.py]}\n"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text), Path("policies.yaml"), environ=env or {})
    return caught.value.problems


def test_unknown_key_is_an_error_with_its_line() -> None:
    found = problems(
        """\
        version: 1
        upstreams:
          ehr: {command: python}
        rules:
          - id: reads
            match: {tool: "get_*"}
            acton: allow
        """
    )
    assert "policies.yaml:7: rules[0].acton: unknown key 'acton'" in found
    assert "policies.yaml:5: rules[0].action: required" in found


def test_nested_typo_in_a_match_is_reported_not_ignored() -> None:
    found = problems("version: 1\n" + GOOD_UPSTREAM + "rules:\n  - match: {tools: get_*}\n    action: deny\n")
    assert found == ["policies.yaml:5: rules[0].match.tools: unknown key 'tools'"]


def test_wrong_enum_value_names_the_choices() -> None:
    found = problems("version: 1\n" + GOOD_UPSTREAM + "default: maybe\n")
    assert found == ["policies.yaml:4: default: Input should be 'allow', 'deny' or 'approve'"]


def test_missing_environment_variable_is_an_error_not_an_empty_string() -> None:
    found = problems(
        """\
        version: 1
        upstreams:
          tickets:
            url: http://127.0.0.1:9000/mcp
            headers: {Authorization: "Bearer ${TICKETS_TOKEN}"}
        """
    )
    assert found == [
        "policies.yaml:5: upstreams.tickets.headers.Authorization: environment variable TICKETS_TOKEN is not set "
        "(write ${TICKETS_TOKEN:-default} for a default)"
    ]


def test_environment_variables_and_defaults_are_expanded() -> None:
    config = parse_config(
        "version: 1\nidentity: {user: '${WHO:-${USER_FALLBACK:-nobody}}'}\n"
        "upstreams:\n  t: {url: 'http://h/mcp', headers: {X-Key: '${KEY}', X-Cost: '$$5'}}\n",
        Path("p.yaml"),
        environ={"KEY": "s3cret"},
    )
    assert config.identity.user == "nobody"
    headers = config.upstreams["t"].headers
    assert headers["X-Key"].get_secret_value() == "s3cret"
    assert headers["X-Cost"].get_secret_value() == "$5"


def test_secret_values_never_appear_in_error_messages() -> None:
    found = problems(
        "version: 1\n" + GOOD_UPSTREAM.replace("[ehr.py]}", "[ehr.py], timeout: '${API_SECRET}'}"),
        env={"API_SECRET": "tok-9f8e7d6c"},
    )
    assert found == ["policies.yaml:3: upstreams.ehr.timeout: not a duration; use e.g. 30s, 10m, 1h or 1h30m"]
    assert not any("tok-9f8e7d6c" in line for line in found)


def test_duplicate_keys_are_refused() -> None:
    found = problems("version: 1\n" + GOOD_UPSTREAM + "default: allow\ndefault: deny\n")
    assert found == ["policies.yaml:5: default: duplicate key 'default' (first given on line 4)"]


def test_yaml_syntax_error_points_at_the_line() -> None:
    found = problems("version: 1\nupstreams:\n  ehr: {command: python\nrules: []\n")
    assert len(found) == 1 and found[0].startswith("policies.yaml:4: invalid YAML")


def test_upstream_needs_exactly_one_transport() -> None:
    found = problems("version: 1\nupstreams:\n  a: {command: x, url: 'http://h/mcp'}\n  b: {args: [x]}\n")
    assert found == [
        "policies.yaml:3: upstreams.a: give either `command` (a stdio server) or `url` (a streamable HTTP server)",
        "policies.yaml:4: upstreams.b: give either `command` (a stdio server) or `url` (a streamable HTTP server)",
    ]


def test_claude_desktop_block_is_accepted_and_errors_quote_its_key() -> None:
    ok = parse_config('{"version": 1, "mcpServers": {"fs": {"command": "npx", "args": ["-y", "x"]}}}', Path("c.json"))
    assert ok.upstreams["fs"].command == "npx"
    found = problems('{"version": 1,\n "mcpServers": {"fs": {"comand": "npx"}}}')
    assert "policies.yaml:2: mcpServers.fs.comand: unknown key 'comand'" in found


def test_vs_code_servers_block_with_type_is_accepted() -> None:
    config = parse_config(
        "version: 1\nservers:\n  remote: {type: http, url: 'https://mcp.example.com/mcp'}\n", Path("p.yaml")
    )
    assert config.upstreams["remote"].transport == "http"


def test_giving_upstreams_twice_is_an_error() -> None:
    found = problems("version: 1\n" + GOOD_UPSTREAM + "mcpServers: {}\n")
    assert found == ["policies.yaml:4: mcpServers: give upstreams once: found both 'upstreams' and 'mcpServers'"]


def test_sse_upstreams_get_a_clear_refusal() -> None:
    found = problems("version: 1\nupstreams:\n  old: {type: sse, url: 'http://h/sse'}\n")
    assert found[0].startswith("policies.yaml:3: upstreams.old.type: the SSE transport is deprecated")


def test_invalid_regex_in_an_argument_condition() -> None:
    found = problems(
        "version: 1\n" + GOOD_UPSTREAM + "rules:\n  - match: {args: {query: {regex: '(unclosed'}}}\n    action: approve\n"
    )
    assert found == [
        "policies.yaml:5: rules[0].match.args.query.regex: invalid regular expression '(unclosed': "
        "missing ), unterminated subpattern at position 0"
    ]


def test_duplicate_rule_ids_are_refused() -> None:
    found = problems(
        "version: 1\n" + GOOD_UPSTREAM + "rules:\n  - {id: a, action: allow}\n  - {id: a, action: deny}\n"
    )
    assert found == ["policies.yaml:6: rules[1].id: rule id 'a' is already used by rules[0]"]


def test_unknown_annotation_hint_is_refused() -> None:
    found = problems(
        "version: 1\n" + GOOD_UPSTREAM + "rules:\n  - match: {annotations: {destructivehint: true}}\n    action: deny\n"
    )
    assert len(found) == 1 and "unknown tool annotation 'destructivehint'" in found[0]
    assert found[0].startswith("policies.yaml:5: rules[0].match.annotations")


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        """\
        version: 2
        upstreams:
          bad name!: {command: x}
        hide_denied: sometimes
        """
    )
    assert found == [
        "policies.yaml:1: version: this mcp-gate reads policy files of version 1 (write `version: 1`)",
        "policies.yaml:2: upstreams: upstream name 'bad name!' may use only letters, digits, '_', '-' and '.'",
        "policies.yaml:4: hide_denied: Input should be a valid boolean, unable to interpret input",
    ]


def test_durations_accept_units_and_sizes_bytes() -> None:
    config = parse_config(
        "version: 1\nupstreams:\n  a: {command: x, timeout: 1h30m, connect_timeout: 250ms}\naudit: {rotate: 100MB}\n",
        Path("p.yaml"),
    )
    assert config.upstreams["a"].timeout == 5400
    assert config.upstreams["a"].connect_timeout == 0.25
    assert config.audit.rotate.size == 100_000_000


def test_defaults_fail_towards_a_human() -> None:
    config = parse_config("version: 1\n" + GOOD_UPSTREAM, Path("p.yaml"))
    assert config.default == "approve"
    assert config.hide_denied is True
    assert config.separator == "__"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.problems == [f"{tmp_path / 'nope.yaml'}: no such file (pass -c PATH or create policies.yaml)"]


def test_bearer_tokens_must_be_digests_never_plain_tokens() -> None:
    found = problems("version: 1\n" + GOOD_UPSTREAM + "identity:\n  tokens: [{principal: a, sha256: mgt_plaintext}]\n")
    assert found == [
        "policies.yaml:5: identity.tokens[0].sha256: must be the 64-character hex SHA-256 of the token "
        "(run `mcp-gate token`)"
    ]


def test_the_shipped_example_policy_is_valid() -> None:
    config = load_config(Path(__file__).parents[1] / "policies.yaml")
    assert [rule.id for rule in config.rules] == ["reads", "export", "medication-changes", "no-deletes"]
