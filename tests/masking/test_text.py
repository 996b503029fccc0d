"""What the agent sees when a tool returns free text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mcp_gate.masking import Masker, MaskingSession

Factory = Callable[..., MaskingSession]

FOUND = [
    ("SSN: 123-45-6788 on file", "SSN: [SSN] on file"),
    ("SSN 123456788.", "SSN [SSN]."),
    ("Social Security Number: 123 45 6788", "Social Security Number: [SSN]"),
    ("Call (212) 555-0142 or 1-312-555-0199 ext. 12.", "Call [PHONE] or [PHONE]."),
    ("reach me at +44 20 7946 0958", "reach me at [PHONE]"),
    ("Mail jane.doe+portal@mercy-health.org now", "Mail [EMAIL] now"),
    ("See https://portal.example.org/p/123?x=1, then www.example.com.", "See [URL], then [URL]."),
    ("from 10.1.22.7 and fe80::1ff:fe23:4567:890a", "from [IP] and [IP]"),
    ("MAC 00:1A:2b:3c:4D:5e.", "MAC [MAC]."),
    ("DOB: 03/05/1956, seen 2024-03-05T10:22:01Z", "DOB: [DATE], seen [DATE]"),
    ("on March 5, 2024 and 5 Mar 2024 and 05.03.2024", "on [DATE] and [DATE] and [DATE]"),
    ("Next appointment 3/13 at 10:30", "Next appointment [DATE] at 10:30"),
    ("a 92-year-old woman, age 101", "a 90+-year-old woman, age 90+"),
    ("Lives at 12 N. Elm St., Apt 4B, Springfield, IL 62704-1234.", "Lives at [ADDRESS], [ADDRESS], IL [ZIP]."),
    ("MRN: 00123456. Acct #: 55-1234-88. Member ID: XYZ123456789.", "MRN: [MRN]. Acct #: [ACCOUNT]. Member ID: [HEALTH_PLAN]."),
    ("Export MRN-004211 and ACCT55501234 today", "Export [MRN] and [ACCOUNT] today"),
    ("DL# D1234567, pacemaker serial #PM-48213-A, VIN 1HGCM82633A004352", "DL# [LICENSE], pacemaker serial #[DEVICE], VIN [VIN]"),
    ("NPI 1234567893, DEA AB1234563, MBI 1EG4-TE5-MK73", "NPI [NPI], DEA [DEA], MBI [MBI]"),
    ("Card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32.", "Card [CREDIT_CARD], IBAN [IBAN]."),
    ("Patient: John Smith\nSeen with Dr. Alice Wong.", "Patient: [NAME]\nSeen with Dr. [NAME]."),
    ("Name: Smith, John   Electronically signed by Mary Okafor, MD", "Name: [NAME]   Electronically signed by [NAME], MD"),
    ("Pt's wife Mary called. Mrs. Jackson is fine; Jackson slept.", "Pt's wife [NAME] called. Mrs. [NAME] is fine; [NAME] slept."),
    ("John Smith is a 67-year-old man.", "[NAME] is a 67-year-old man."),
    ("Patient: José Müller-Øby; Müller called.", "Patient: [NAME]; [NAME] called."),
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_identifiers_in_text_are_masked(redact: MaskingSession, text: str, expected: str) -> None:
    assert redact.mask_text(text)[0] == expected


LOOK_ALIKES = [
    "Order #900-12-3456 and ref 666-01-2345 and 123-00-4567",  # SSN shapes in never-issued ranges
    "NPI 1234567890 on the fax (check digit wrong)",
    "DEA AB1234564 rejected",
    "Test card 4111 1111 1111 1112 declined",
    "Dx E11.9, I10, J45.909; CPT 99213, 80053",
    "metformin 500 mg BID, 2.5 mL PRN, Na 138 mmol/L, HbA1c 7.2%, BP 132/84",
    "ran 00:45:10, seen at 14:30, event ts=1709633000",
    "engine 3.11.7, HL7 v2.5.1, build v6.4.8.410",
    "trace 3f2a9c1e-7b4d-4e2a-9c1b-0d9e8f7a6b5c, sha a3f5c2e9b1d4f6a8c0e2b4d6f8a0c2e4",
    "a 67-year-old, age 45, in 2019, 1/2 tab",
    "NDC 12396-9485-96, lot W52645",
    "listening on 0.0.0.0:8080 and 127.0.0.1, [::1]; pid=48213",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_that_fail_their_checks_stay(redact: MaskingSession, text: str) -> None:
    assert redact.mask_text(text) == (text, {})


def test_counts_name_entities_never_values(redact: MaskingSession) -> None:
    _, counts = redact.mask_text("SSN 123-45-6788, SSN 234-56-7890, call (212) 555-0142")
    assert counts == {"ssn": 2, "phone": 1}


def test_allowlist_literals_and_regexes_are_never_masked(session_for: Factory) -> None:
    session = session_for(operator="redact", allow=["(212) 555-0100"], allow_regex=[r"info@clinic\.example"])
    text = "Clinic (212) 555-0100, info@clinic.example; patient (212) 555-0142, jo@mail.example"
    assert session.mask_text(text)[0] == "Clinic (212) 555-0100, info@clinic.example; patient [PHONE], [EMAIL]"


def test_only_configured_entities_are_masked(session_for: Factory) -> None:
    session = session_for(operator="redact", entities=["ssn"])
    assert session.mask_text("SSN 123-45-6788, call (212) 555-0142")[0] == "SSN [SSN], call (212) 555-0142"


def test_phone_region_comes_from_the_config(session_for: Factory) -> None:
    text = "ring 020 7946 0958"
    assert session_for(operator="redact", region="GB").mask_text(text)[0] == "ring [PHONE]"
    assert session_for(operator="redact").mask_text(text)[0] == text


def test_custom_entity_with_context_and_validator(session_for: Factory) -> None:
    session = session_for(
        operator="redact",
        custom=[{"name": "study_id", "regex": r"\bST-\d{6}\b", "context": ["study"], "validator": "luhn"}],
    )
    text = "Enrolled in study ST-123455 and study ST-123456 (bad check digit). Unrelated part number ST-123455."
    masked, counts = session.mask_text(text)
    assert masked == "Enrolled in study [STUDY_ID] and study ST-123456 (bad check digit). Unrelated part number ST-123455."
    assert counts == {"study_id": 1}


def test_csv_columns_named_as_identifiers_are_masked_whole(redact: MaskingSession) -> None:
    csv = 'patient_name,Last Name,icd10,visit\nJohn Smith,"Smith",E11.9,ok\n"Doe, Jane",Doe,I10,ok\n'
    assert redact.mask_text(csv)[0] == 'patient_name,Last Name,icd10,visit\n[NAME],"[NAME]",E11.9,ok\n"[NAME]",[NAME],I10,ok\n'


def test_a_name_column_is_a_person_only_next_to_person_columns(redact: MaskingSession) -> None:
    drugs = "name,dose\nLisinopril,10 mg\n"
    patients = "name,dob\nAnn Lee,1970-01-02\n"
    assert redact.mask_text(drugs)[0] == drugs
    assert redact.mask_text(patients)[0] == "name,dob\n[NAME],[DATE]\n"


def test_explain_lists_rejected_candidates_with_the_reason(masker_for: Callable[..., Masker]) -> None:
    findings = masker_for().explain("SSN 123-45-6788, order 900-12-3456, NPI 1234567890")
    rows = [(f.entity, f.masked, f.check) for f in findings]
    assert rows == [("ssn", True, "ssn ranges ok"), ("ssn", False, "ssn ranges invalid"), ("npi", False, "npi luhn failed")]
