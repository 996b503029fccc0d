"""mask_result: every place of a CallToolResult that reaches the agent, and failing closed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from mcp_gate.config import MaskOverride
from mcp_gate.masking import MaskingError, MaskingSession
from mcp_gate.masking.scanner import Scanner

Factory = Callable[..., MaskingSession]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def result() -> dict:
    return {
        "content": [
            {"type": "text", "text": "Patient: John Smith, SSN 123-45-6788"},
            {"type": "text", "text": json.dumps({"mrn": "A1234567", "phone": "(212) 555-0142"})},
            {"type": "image", "data": PNG, "mimeType": "image/png"},
            {"type": "audio", "data": "UklGRiQAAABXQVZF", "mimeType": "audio/wav"},
            {"type": "resource", "resource": {"uri": "ehr://notes/1", "mimeType": "text/plain", "text": "DOB 03/05/1956"}},
            {"type": "resource", "resource": {"uri": "ehr://scan/1", "mimeType": "application/pdf", "blob": "JVBERi0xLjQK"}},
            {"type": "resource_link", "uri": "ehr://patients/123-45-6788", "name": "Chart of John Smith", "mimeType": "text/plain"},
        ],
        "structuredContent": {"mrn": "A1234567", "phone": "(212) 555-0142"},
        "isError": False,
        "_meta": {"trace": "abc"},
    }


def test_every_text_part_is_masked_and_binary_left_alone(redact: MaskingSession) -> None:
    original = result()
    masked, counts = redact.mask_result(original, {"type": "object"})
    content = masked["content"]
    assert content[0]["text"] == "Patient: [NAME], SSN [SSN]"
    assert json.loads(content[1]["text"]) == {"mrn": "[MRN]", "phone": "[PHONE]"}
    assert content[2] == original["content"][2] and content[3] == original["content"][3]
    assert content[4]["resource"] == {"uri": "ehr://notes/1", "mimeType": "text/plain", "text": "DOB [DATE]"}
    assert content[5] == original["content"][5]
    assert content[6]["name"] == "Chart of [NAME]" and content[6]["uri"] == "ehr://patients/123-45-6788"
    assert masked["structuredContent"] == {"mrn": "[MRN]", "phone": "[PHONE]"}
    assert masked["isError"] is False and masked["_meta"] == {"trace": "abc"}
    assert counts == {"name": 2, "ssn": 1, "mrn": 1, "phone": 1, "date": 1}  # the JSON text repeats structuredContent
    assert original == result()


def test_json_text_next_to_different_structured_content_is_masked_on_its_own(redact: MaskingSession) -> None:
    result = {"content": [{"type": "text", "text": '{"ssn": "123-45-6788"}'}], "structuredContent": {"mrn": "A1234567"}}
    masked, counts = redact.mask_result(result)
    assert masked["content"][0]["text"] == '{"ssn": "[SSN]"}' and masked["structuredContent"] == {"mrn": "[MRN]"}
    assert counts == {"ssn": 1, "mrn": 1}


def test_resource_reads_mask_text_and_keep_uris_and_blobs(redact: MaskingSession) -> None:
    read = {"contents": [{"uri": "ehr://p/123-45-6788", "mimeType": "text/plain", "text": "SSN 123-45-6788"}, {"uri": "ehr://scan", "blob": "JVBERi0xLjQK"}]}
    masked, counts = redact.mask_resource_result(read)
    assert masked == {"contents": [{"uri": "ehr://p/123-45-6788", "mimeType": "text/plain", "text": "SSN [SSN]"}, {"uri": "ehr://scan", "blob": "JVBERi0xLjQK"}]}
    assert counts == {"ssn": 1}


def test_rule_can_turn_masking_off_or_narrow_it(redact: MaskingSession) -> None:
    original = result()
    assert redact.mask_result(original, None, MaskOverride(enabled=False)) == (original, {})
    masked, counts = redact.mask_result(original, None, MaskOverride(entities=["ssn"], operator="partial"))
    assert masked["content"][0]["text"] == "Patient: John Smith, SSN ***-**-6788"
    assert counts == {"ssn": 1}


def test_rule_naming_an_unknown_entity_fails_closed(redact: MaskingSession) -> None:
    with pytest.raises(MaskingError, match="unknown entities: study_id"):
        redact.mask_result(result(), None, MaskOverride(entities=["study_id"]))


def test_result_over_max_bytes_is_refused(session_for: Factory) -> None:
    session = session_for(max_bytes="1KB")
    big = {"content": [{"type": "text", "text": "x" * 1001}]}
    with pytest.raises(MaskingError, match="more than masking.max_bytes"):
        session.mask_result(big)


def test_a_detector_crash_becomes_masking_error(redact: MaskingSession, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(Scanner, "scan", boom)
    with pytest.raises(MaskingError, match="masking failed: RuntimeError"):
        redact.mask_result(result())


def test_unknown_content_types_fail_closed(redact: MaskingSession) -> None:
    with pytest.raises(MaskingError, match="type 'hologram'"):
        redact.mask_result({"content": [{"type": "hologram", "text": "SSN 123-45-6788"}]})
