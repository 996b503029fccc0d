"""The checks that separate real identifiers from look-alikes."""

from __future__ import annotations

import pytest

from mcp_gate.masking import validators as V


@pytest.mark.parametrize("value", ["123-45-6788", "001-01-0001", "899-99-9999", "665 12 3456"])
def test_issued_ssns_pass(value: str) -> None:
    assert V.ssn(value)


@pytest.mark.parametrize(
    "value",
    ["000-12-3456", "666-12-3456", "900-12-3456", "999-12-3456", "123-00-4567", "123-45-0000", "078-05-1120", "123-45-6789", "111-11-1111"],
)
def test_never_issued_ssns_fail(value: str) -> None:
    assert not V.ssn(value)


def test_npi_uses_luhn_over_the_80840_prefix() -> None:
    assert V.npi("1234567893")  # the example in the CMS NPI check-digit note
    assert not V.npi("1234567890")
    assert not V.npi("3234567893")  # NPIs start with 1 or 2


def test_dea_check_digit() -> None:
    assert V.dea("AB1234563")
    assert not V.dea("AB1234564")
    assert not V.dea("IB1234563")  # I is no registrant type


def test_mbi_positions() -> None:
    assert V.mbi("1EG4-TE5-MK73")  # CMS's example
    assert not V.mbi("1EG4-TE5-MK7A")
    assert not V.mbi("1SG4-TE5-MK73")  # S is never used


def test_card_luhn_and_iban_mod97_and_vin_check_digit() -> None:
    assert V.credit_card("4111 1111 1111 1111")
    assert not V.credit_card("4111 1111 1111 1112")
    assert V.iban("GB82 WEST 1234 5698 7654 32") and V.iban("DE89370400440532013000")
    assert not V.iban("GB83WEST12345698765432")
    assert V.vin("1HGCM82633A004352")
    assert not V.vin("1HGCM82643A004352")


@pytest.mark.parametrize(("value", "ok"), [("(415) 829-3312", True), ("+1 617 253 1000", True), ("123-456-7890", False), ("+44 20 7946 0958", True), ("+44 20 7946 09", False)])
def test_phone_numbers_use_libphonenumber_metadata(value: str, ok: bool) -> None:
    assert V.PhoneValidator("US").valid(value) is ok


def test_phone_region_decides_national_numbers() -> None:
    assert V.PhoneValidator("GB").valid("020 7946 0958")
    assert not V.PhoneValidator("US").valid("020 7946 0958")
