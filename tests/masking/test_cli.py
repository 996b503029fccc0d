"""``mcp-gate mask``: stdin to stdout, with or without a policy file."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from mcp_gate.cli import main


def run(argv: list[str], stdin: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_masks_text_with_every_entity_by_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["mask"], "Patient: John Smith, SSN 123-45-6788\n", monkeypatch, capsys)
    assert code == 0
    assert out.startswith("Patient: [NAME_") and "SSN [SSN_" in out and "123-45-6788" not in out
    assert err == "masked: name=1, ssn=1\n"


def test_uses_the_policy_files_masking_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policies.yaml"
    policy.write_text("version: 1\nupstreams: {a: {command: x}}\nmasking: {entities: [ssn], operator: partial}\n")
    code, out, _ = run(["mask", "-c", str(policy)], "John Smith 123-45-6788", monkeypatch, capsys)
    assert (code, out) == (0, "John Smith ***-**-6788")


def test_json_mode_prints_masked_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["mask", "--json"], '{"dob": "1956-03-05", "status": "ok"}', monkeypatch, capsys)
    masked = json.loads(out)
    assert code == 0 and masked["status"] == "ok" and masked["dob"].startswith("[DATE_")


def test_json_mode_rejects_other_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["mask", "--json"], "SSN 123-45-6788", monkeypatch, capsys)
    assert (code, out) == (2, "") and "not JSON" in err


def test_explain_lists_findings_and_rejections(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["mask", "--explain", "--json"], "SSN 123-45-6788; order 900-12-3456", monkeypatch, capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["entity"], r["start"], r["end"], r["masked"], r["check"]) for r in rows] == [
        ("ssn", 4, 15, True, "ssn ranges ok"),
        ("ssn", 23, 34, False, "ssn ranges invalid"),
    ]


def test_too_large_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "policies.yaml"
    policy.write_text("version: 1\nupstreams: {a: {command: x}}\nmasking: {max_bytes: 10}\n")
    code, out, err = run(["mask", "-c", str(policy)], "SSN 123-45-6788", monkeypatch, capsys)
    assert (code, out) == (1, "") and "max_bytes" in err
