"""Checksums and structural rules that tell a real identifier from a look-alike.

A pattern alone cannot tell an order number from an SSN or a random ten-digit
number from an NPI; these checks can, and they are what keeps precision high
without giving up recall.  Each takes the matched text and returns a bool.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneMetadata

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def alnum_of(text: str) -> str:
    return _NON_ALNUM.sub("", text).upper()


def luhn(digits: str) -> bool:
    """Mod-10 (Luhn) check over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def ssn(text: str) -> bool:
    """Area 000, 666 and 900-999, group 00 and serial 0000 were never issued; two samples were abused."""
    d = digits_of(text)
    if len(d) != 9 or d in ("078051120", "123456789", "219099999") or len(set(d)) == 1:
        return False
    area, group, serial = d[:3], d[3:5], d[5:]
    return area != "000" and area != "666" and area[0] != "9" and group != "00" and serial != "0000"


def npi(text: str) -> bool:
    """CMS NPI: 10 digits starting 1 or 2, Luhn over the digits prefixed with 80840."""
    d = digits_of(text)
    return len(d) == 10 and d[0] in "12" and len(set(d[1:])) > 1 and luhn("80840" + d)


def dea(text: str) -> bool:
    """DEA registration: two letters, six digits and a check digit.

    The check digit is the last digit of (d1+d3+d5) + 2*(d2+d4+d6).
    """
    value = alnum_of(text)
    if len(value) != 9 or not value[:2].isalpha() or not value[2:].isdigit():
        return False
    if value[0] not in "ABCDEFGHJKLMPRSTUX" or value[1] not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ9":
        return False
    d = [ord(ch) - 48 for ch in value[2:]]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


_MBI = re.compile(r"[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y]{2}\d\d")


def mbi(text: str) -> bool:
    """Medicare Beneficiary Identifier positions per CMS (letters never S, L, O, I, B, Z)."""
    return _MBI.fullmatch(alnum_of(text)) is not None


def credit_card(text: str) -> bool:
    d = digits_of(text)
    return 13 <= len(d) <= 19 and d[0] in "3456" and len(set(d)) > 1 and luhn(d)


_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31,
    "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def iban(text: str) -> bool:
    """ISO 13616: the country's length, and mod-97 of the rearranged number equals 1."""
    value = alnum_of(text)
    if _IBAN_LENGTHS.get(value[:2]) != len(value) or not value[2:4].isdigit():
        return False
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


_VIN_VALUE = {ch: v for ch, v in zip("ABCDEFGHJKLMNPRSTUVWXYZ", (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin(text: str) -> bool:
    """17 characters without I, O, Q and the North American check digit in position 9."""
    value = text.upper()
    if len(value) != 17 or not value.isalnum() or value.isdigit() or value.isalpha():
        return False
    total = 0
    for ch, weight in zip(value, _VIN_WEIGHTS):
        if ch.isdigit():
            total += (ord(ch) - 48) * weight
        elif ch in _VIN_VALUE:
            total += _VIN_VALUE[ch] * weight
        else:
            return False
    check = total % 11
    return value[8] == ("X" if check == 10 else str(check))


def ipv4(text: str) -> bool:
    """A dotted quad that could name a host: not 0.0.0.0, loopback or broadcast."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts):
        return False
    return _identifies_host(ipaddress.IPv4Address(text))


def ipv6(text: str) -> bool:
    if text.count(":") < 2:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return _identifies_host(address)


def _identifies_host(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (address.is_unspecified or address.is_loopback or str(address) == "255.255.255.255")


def date_parts(year: int, month: int, day: int) -> bool:
    """A calendar-plausible date: month 1-12, day within the month (leap years allowed for Feb 29)."""
    if not 1 <= month <= 12 or day < 1:
        return False
    return day <= (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]


class PhoneValidator:
    """Phone numbers valid for a region, by libphonenumber's metadata.

    ``phonenumbers.parse`` + ``is_valid_number`` costs ~40 µs a number; matching
    the region's national-number patterns directly gives the same answer for
    national numbers in a few µs.  Numbers with another country code go through
    ``phonenumbers`` itself.
    """

    _TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip", "pager", "uan", "voicemail")

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region.upper())
        if metadata is None or metadata.general_desc is None or not metadata.general_desc.national_number_pattern:
            raise ValueError(f"unknown phone region {region!r}")
        self.region = region.upper()
        self.country_code = str(metadata.country_code)
        self.national_prefix = metadata.national_prefix or ""
        self._general = re.compile(metadata.general_desc.national_number_pattern)
        self._types = [
            re.compile(desc.national_number_pattern)
            for desc in (getattr(metadata, name) for name in self._TYPES)
            if desc is not None and desc.national_number_pattern
        ]
        self.valid = lru_cache(maxsize=4096)(self._valid)

    def _valid(self, text: str) -> bool:
        """``text`` is the number without its extension."""
        digits = digits_of(text)
        if text.lstrip().startswith("+"):
            if not digits.startswith(self.country_code):
                return self._other_country(text)
            digits = digits[len(self.country_code) :]
        elif self.national_prefix and digits.startswith(self.national_prefix) and not self._national(digits):
            digits = digits[len(self.national_prefix) :]
        return self._national(digits)

    def _national(self, digits: str) -> bool:
        return self._general.fullmatch(digits) is not None and any(t.fullmatch(digits) for t in self._types)

    def _other_country(self, text: str) -> bool:
        try:
            number = phonenumbers.parse(text, self.region)
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.is_valid_number(number)


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "luhn": lambda text: luhn(digits_of(text)) and len(digits_of(text)) > 1,
    "mod97": iban,
    "ssn": ssn,
    "npi": npi,
    "dea": dea,
    "mbi": mbi,
    "vin": vin,
    "credit_card": credit_card,
}
"""Validators a custom entity may name in the config (``validator: luhn``)."""
