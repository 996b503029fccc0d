"""The masking keys of policies.yaml: valid settings load, mistakes name the line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_gate.config import ConfigError, parse_config

HEAD = "version: 1\nupstreams: {ehr: {command: python}}\n"


def load(text: str):
    return parse_config(HEAD + text, Path("policies.yaml"))


def test_masking_and_rule_settings_load() -> None:
    config = load(
        "masking:\n"
        "  entities: [ssn, name, study_id]\n"
        "  operators: {date: partial}\n"
        "  allow_regex: ['555-01\\d\\d']\n"
        "  region: gb\n"
        "  max_bytes: 2MB\n"
        "  custom: [{name: study_id, regex: 'ST-\\d{6}', context: [study], validator: luhn}]\n"
        "rules:\n"
        "  - {id: raw, action: allow, mask: false}\n"
        "  - {id: ssn-only, action: allow, mask: {entities: [ssn], operator: redact}, unmask_args: true}\n"
    )
    assert config.masking.region == "GB" and config.masking.max_bytes == 2_000_000
    assert config.masking.custom[0].validator == "luhn"
    assert config.rules[0].mask is not None and config.rules[0].mask.enabled is False
    assert config.rules[1].mask is not None and config.rules[1].mask.entities == ["ssn"] and config.rules[1].unmask_args


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("masking: {entities: [sn]}", "policies.yaml:3: masking: unknown masking entity 'sn'"),
        ("masking: {operatr: token}", "policies.yaml:3: masking.operatr: unknown key 'operatr'"),
        ("masking: {custom: [{name: ssn, regex: x}]}", "masking.custom[0].name: 'ssn' is a built-in entity"),
        ("masking: {custom: [{name: a, regex: 'x*'}]}", "masking.custom[0].regex: the regex matches the empty string"),
        ("masking: {allow_regex: ['(']}", "masking.allow_regex: invalid regular expression '('"),
        ("masking: {region: USA}", "masking.region: region 'USA' is not a two-letter country code"),
        ("masking: {region: XX}", "masking.region: region 'XX' is not a two-letter country code"),
        ("rules: [{action: allow, mask: 3}]", "rules[0].mask: Input should be a valid dictionary"),
        ("rules: [{action: allow, mask: {operator: blur}}]", "rules[0].mask.operator: Input should be"),
    ],
)
def test_mistakes_are_reported_with_line_and_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load(text)
    assert message in str(error.value)
