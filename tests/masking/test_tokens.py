"""Operators, consistent session tokens and unmask-on-return."""

from __future__ import annotations

import re
from collections.abc import Callable

from mcp_gate.masking import MaskingSession

Factory = Callable[..., MaskingSession]
TEXT = "SSN 123-45-6788, DOB 03/05/1956, ZIP: 03601, ZIP: 62704, phone (212) 555-0142, Patient: John Smith"


def test_same_value_same_token_within_a_session_and_other_tokens_in_another(session_for: Factory) -> None:
    one = session_for("one")
    first, _ = one.mask_text("SSN 123-45-6788 and again 123 45 6788")
    tokens = re.findall(r"\[SSN_[0-9a-f]{6}\]", first)
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert one.mask_text("SSN 123456788")[0] == f"SSN {tokens[0]}"
    assert session_for("two").mask_text("SSN 123-45-6788")[0] != f"SSN {tokens[0]}"
    assert one.mask_text("SSN 234-56-7890")[0] != f"SSN {tokens[0]}"


def test_partial_keeps_what_safe_harbor_allows(session_for: Factory) -> None:
    masked, _ = session_for(operator="partial").mask_text(TEXT)
    assert masked == "SSN ***-**-6788, DOB 1956, ZIP: 000**, ZIP: 627**, phone (***) ***-0142, Patient: [NAME]"


def test_hash_is_stable_across_sessions_and_per_entity_operators_apply(session_for: Factory) -> None:
    a, _ = session_for("a", operator="hash", operators={"date": "partial"}).mask_text(TEXT)
    b, _ = session_for("b", operator="hash", operators={"date": "partial"}).mask_text(TEXT)
    assert a == b
    assert re.fullmatch(r"SSN \[SSN:[0-9a-f]{12}\], DOB 1956, .*", a)


def test_unmask_restores_this_sessions_tokens_with_their_type(session_for: Factory) -> None:
    session = session_for()
    masked, _ = session.mask_value({"mrn": 12345678, "note": "call (212) 555-0142"})
    other, _ = session_for("other").mask_value({"mrn": 12345678})
    args = {"mrn": masked["mrn"], "message": f"Please call {masked['note'][5:]} today", "foreign": other["mrn"], "made_up": "[SSN_abcdef]"}
    restored, report = session.unmask_arguments(args)
    assert restored == {"mrn": 12345678, "message": "Please call (212) 555-0142 today", "foreign": other["mrn"], "made_up": "[SSN_abcdef]"}
    assert report.replaced == {"mrn": 1, "phone": 1}
    assert report.unknown == 2


def test_redacted_and_hashed_values_cannot_be_unmasked(session_for: Factory) -> None:
    session = session_for(operator="hash")
    masked, _ = session.mask_text("SSN 123-45-6788")
    restored, report = session.unmask_arguments({"q": masked})
    assert restored == {"q": masked} and report.replaced == {} and report.unknown == 0
