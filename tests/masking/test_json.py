"""Structured results: keys and structure stay, identifiers go, the output still fits the schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import jsonschema

from mcp_gate.masking import MaskingSession

Factory = Callable[..., MaskingSession]

RECORD = {
    "patient_name": "John Smith",
    "dob": "1956-03-05",
    "mrn": 12345678,
    "age": 94,
    "contact": {"phone": "(212) 555-0142", "city": "Springfield", "state": "IL"},
    "medications": [{"name": "metformin", "dose": "500 mg"}],
    "provider": {"name": "Dr. Alice Wong", "npi": "1234567893"},
    "notes": ["Called John at (212) 555-0142.", "Smith doing well."],
    "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "123-45-6788"}, {"type": {"text": "MRN"}, "value": "A778899"}],
    "status": "active",
}


def test_values_are_masked_and_keys_and_structure_kept(redact: MaskingSession) -> None:
    masked, counts = redact.mask_value(RECORD)
    assert masked == {
        "patient_name": "[NAME]",
        "dob": "[DATE]",
        "mrn": "[MRN]",
        "age": "90+",
        "contact": {"phone": "[PHONE]", "city": "[ADDRESS]", "state": "IL"},
        "medications": [{"name": "metformin", "dose": "500 mg"}],
        "provider": {"name": "[NAME]", "npi": "[NPI]"},
        "notes": ["Called [NAME] at [PHONE].", "[NAME] doing well."],
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": "[SSN]"}, {"type": {"text": "MRN"}, "value": "[MRN]"}],
        "status": "active",
    }
    assert counts == {"name": 4, "date": 1, "mrn": 2, "age": 1, "phone": 2, "address": 1, "npi": 1, "ssn": 1}


def test_the_input_is_not_changed(redact: MaskingSession) -> None:
    original = copy.deepcopy(RECORD)
    redact.mask_value(RECORD)
    assert RECORD == original


def test_configured_fields_mask_whole_values_in_any_spelling(session_for: Factory) -> None:
    session = session_for(operator="redact", fields=["insurance_plan", "internal_code"])
    value = {"insurancePlan": {"carrier": "Aetna", "tier": 2}, "Internal-Code": "X1", "INTERNAL_CODE": 7, "other": "X1"}
    masked, _ = session.mask_value(value)
    assert masked == {"insurancePlan": {"carrier": "[FIELD]", "tier": "[FIELD]"}, "Internal-Code": "[FIELD]", "INTERNAL_CODE": "[FIELD]", "other": "X1"}


SCHEMA = {
    "type": "object",
    "properties": {
        "mrn": {"type": "integer"},
        "ssn": {"type": ["integer", "null"]},
        "npi": {"type": ["string", "integer"]},
        "zip": {"$ref": "#/$defs/zip"},
        "kind": {"enum": ["SSN 123-45-6788", "other"]},
    },
    "$defs": {"zip": {"type": "integer", "minimum": 501}},
    "required": ["mrn", "ssn", "npi", "zip", "kind"],
}


def test_masked_numbers_become_strings_only_where_the_schema_allows(redact: MaskingSession) -> None:
    value = {"mrn": 12345678, "ssn": 123456788, "npi": 1234567893, "zip": 62704, "kind": "SSN 123-45-6788"}
    jsonschema.validate(value, SCHEMA)
    masked, _ = redact.mask_value(value, SCHEMA)
    assert masked == {"mrn": 0, "ssn": None, "npi": "[NPI]", "zip": 501, "kind": "SSN 123-45-6788"}
    jsonschema.validate(masked, SCHEMA)


def test_json_text_stays_json(redact: MaskingSession) -> None:
    text = json.dumps({"ssn": "123-45-6788", "list": [1, "call (212) 555-0142"]}, indent=2)
    masked, _ = redact.mask_text(text)
    assert json.loads(masked) == {"ssn": "[SSN]", "list": [1, "call [PHONE]"]}
    assert masked.startswith("{\n  ")


def test_values_are_scanned_one_by_one_even_by_greedy_custom_regexes(session_for: Factory) -> None:
    session = session_for(operator="redact", entities=["study_id"], custom=[{"name": "study_id", "regex": r"ST-.*"}])
    masked, counts = session.mask_value({"a": "see ST-12", "b": "plain", "c": ["ST-9", "x"]})
    assert masked == {"a": "see [STUDY_ID]", "b": "plain", "c": ["[STUDY_ID]", "x"]}
    assert counts == {"study_id": 2}


def test_objects_under_identifier_keys_are_masked_inside(redact: MaskingSession) -> None:
    value = {
        "patient": {"name": {"first": "Ann", "last": "Lee", "use": "official"}, "age": "67"},
        "attending": "Bo Chan",
        "address": {"street": "12 Oak St", "town": "Salem", "state": "OR", "zip": "97301"},
    }
    masked, _ = redact.mask_value(value)
    assert masked == {
        "patient": {"name": {"first": "[NAME]", "last": "[NAME]", "use": "official"}, "age": "67"},
        "attending": "[NAME]",
        "address": {"street": "[ADDRESS]", "town": "[ADDRESS]", "state": "OR", "zip": "[ZIP]"},
    }


def test_a_plain_name_key_is_a_person_only_in_a_person_context(redact: MaskingSession) -> None:
    value = {"drug": {"name": "Lisinopril"}, "patient": {"name": "Ann Lee"}, "row": {"name": "Bo Chan", "dob": "1970-01-02"}}
    masked, _ = redact.mask_value(value)
    assert masked == {"drug": {"name": "Lisinopril"}, "patient": {"name": "[NAME]"}, "row": {"name": "[NAME]", "dob": "[DATE]"}}
