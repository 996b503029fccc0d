"""What a JSON key or CSV column says about its value.

Structured results label their identifiers (``"ssn": …``, ``"birthDate": …``,
a ``DOB`` column); the key is better evidence than any pattern, and it is the
only evidence for names.  Keys are compared normalised — lower case, without
``_``, ``-``, spaces — so ``patient_name``, ``patientName`` and ``Patient Name``
are one key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

_NOT_ALNUM = re.compile(r"[^0-9a-z]")


@lru_cache(maxsize=4096)
def normalize_key(key: str) -> str:
    return _NOT_ALNUM.sub("", key.lower())


def _keys(entity: str, words: str) -> dict[str, str]:
    return {word: entity for word in words.split()}


KEY_ENTITIES: dict[str, str] = {
    **_keys("ssn", "ssn socialsecuritynumber socialsecurity socsec ssnumber"),
    **_keys("mrn", "mrn medicalrecordnumber medicalrecordno patientid patientnumber chartnumber empi"),
    **_keys("date", "dob dateofbirth birthdate birthday dateofdeath deathdate deceaseddatetime admitdate admissiondate dischargedate"),
    **_keys("phone", "phone phonenumber telephone tel mobile cell cellphone homephone workphone fax faxnumber"),
    **_keys("email", "email emailaddress mail"),
    **_keys("name", "firstname lastname middlename fullname patientname given family surname maidenname givenname familyname nickname preferredname mothersmaidenname"),
    **_keys("npi", "npi"),
    **_keys("dea", "dea deanumber"),
    **_keys("mbi", "mbi medicarebeneficiaryidentifier medicareid"),
    **_keys("zip", "zip zipcode postalcode postcode"),
    **_keys("address", "address streetaddress street address1 address2 addressline1 addressline2 city town county"),
    **_keys("health_plan", "memberid membernumber subscriberid subscribernumber policynumber policyid insuranceid groupnumber healthplanid beneficiaryid"),
    **_keys("account", "account accountnumber accountno acct acctnumber billingaccount"),
    **_keys("license", "licensenumber license driverslicense driverlicense dlnumber licenseno"),
    **_keys("device", "serialnumber serial deviceserial deviceid udi imei"),
    **_keys("vin", "vin vehicleidentificationnumber"),
    **_keys("ip", "ip ipaddress clientip remoteaddr"),
    **_keys("mac", "mac macaddress"),
    **_keys("credit_card", "creditcard cardnumber ccnumber pan"),
    **_keys("iban", "iban"),
    **_keys("url", "url website homepage"),
    **_keys("age", "age ageyears patientage"),
}
"""Keys whose scalar value is an identifier of that entity, whatever it looks like."""

SUFFIX_KEYS = ("ssn", "mrn", "npi", "dob", "phone", "email", "zip", "zipcode", "postalcode", "firstname", "lastname", "fullname", "memberid", "accountnumber")
"""Keys that still count at the end of a longer key (``attending_npi``, ``patientDob``)."""

PERSON_PARENTS = frozenset(
    "patient person provider practitioner contact guarantor subscriber physician doctor nurse member "
    "emergencycontact nextofkin relatedperson attending author user employee caregiver insured "
    "beneficiary spouse parent guardian referringprovider orderingprovider pcp requester".split()
)
PERSON_SIBLINGS = frozenset("dob birthdate dateofbirth gender sex ssn mrn firstname lastname email phone".split())
"""A plain ``name`` is a person's name under a person-like key or next to person-like keys,
and a drug's or a test's name elsewhere."""

IDENTIFIER_SYSTEMS = {
    "2.16.840.1.113883.4.1": "ssn",
    "2.16.840.1.113883.4.6": "npi",
    "2.16.840.1.113883.4.572": "mbi",
    "hl7.org/fhir/sid/us-ssn": "ssn",
    "hl7.org/fhir/sid/us-npi": "npi",
    "hl7.org/fhir/sid/us-mbi": "mbi",
}


def key_entity(key: str, parent: str | None = None, siblings: Iterable[str] = ()) -> str | None:
    """The entity a (normalised) key names, or None."""
    if key == "name":
        if parent in PERSON_PARENTS or not PERSON_SIBLINGS.isdisjoint(siblings):
            return "name"
        return None
    return _plain_key_entity(key)


@lru_cache(maxsize=4096)
def _plain_key_entity(key: str) -> str | None:
    """Keys repeat in every record of a result, so the suffix search runs once per key."""
    entity = KEY_ENTITIES.get(key)
    if entity is not None:
        return entity
    for suffix in SUFFIX_KEYS:
        if key.endswith(suffix) and len(key) > len(suffix):
            return KEY_ENTITIES[suffix]
    return None


IDENTIFIER_WORDS = {
    "ssn": "ssn", "social": "ssn", "npi": "npi", "medicare": "mbi", "mbi": "mbi", "member": "health_plan",
    "subscriber": "health_plan", "policy": "health_plan", "account": "account", "license": "license",
    "driver": "license", "serial": "device", "device": "device", "vin": "vin",
}  # fmt: skip


def identifier_entity(record: Mapping[str, object]) -> str:
    """The entity of a FHIR-style ``{"system": …, "type": …, "value": …}`` identifier.

    Unknown identifier types count as ``mrn``: the identifier of a patient's
    record is a unique identifying number whatever its system.
    """
    system = str(record.get("system", ""))
    for marker, entity in IDENTIFIER_SYSTEMS.items():
        if marker in system:
            return entity
    label = f"{system} {record.get('type', '')}".lower()
    for word, entity in IDENTIFIER_WORDS.items():
        if word in label:
            return entity
    return "mrn"
