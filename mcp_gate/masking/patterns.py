"""Regular expressions for every built-in entity, arranged so that Python's ``re`` scans fast.

``re`` skips quickly over text only when a pattern begins with a single
character class or literal (it then jumps between those characters in C); an
alternation of branches that each start with a class makes it try every branch
at every position.  Each scan here therefore starts with its *lead* — digits,
capitals, separators, ``@``, ``http`` — and its branches continue after the lead
character, each guarded by a look-behind saying which lead it needs.  ``led``
builds such a pattern from branches written the ordinary way.
"""

from __future__ import annotations

import re

MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
ORDINAL = r"(?:st|nd|rd|th)?"
STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
).split()
STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|"
    r"Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Plaza|Plz|Alley|Loop|Run|Pike|Row|Crescent)"
)
_LEAD_ATOM = re.compile(r"^(\\d|\\\(|\\\+|\[:\.-\])(\{(\d+)(?:,(\d+))?\})?")


def _alternatives(branch: str) -> list[str]:
    """Split a pattern at its top-level ``|`` (not inside groups or character classes)."""
    parts, depth, start, i, in_class = [], 0, 0, 0, False
    while i < len(branch):
        ch = branch[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(branch[start:i])
            start = i + 1
        i += 1
    return [*parts, branch[start:]]


def _tail(alternative: str) -> str:
    r"""``\d{3}-\d{4}`` → ``(?<=\d)\d{2}-\d{4}``: the rest after a lead atom the scan already consumed."""
    match = _LEAD_ATOM.match(alternative)
    if match is None:
        raise ValueError(f"pattern must start with a lead atom (\\d, \\(, \\+ or [:.-]): {alternative!r}")
    atom, low, high = match.group(1), match.group(3), match.group(4)
    rest = alternative[match.end() :]
    if low is not None:
        low_n = int(low)
        if high is not None:
            rest = f"{atom}{{{max(low_n - 1, 0)},{int(high) - 1}}}" + rest
        elif low_n > 1:
            rest = f"{atom}{{{low_n - 1}}}" + rest
    return f"(?<={atom}){rest}"


def led(lead: str, boundary: str, branches: dict[str, str]) -> re.Pattern[str]:
    """One pattern whose first op is the character class ``lead``, so ``re`` skips fast.

    ``boundary`` is a look-behind checked once the lead character is consumed.
    Branches are written the ordinary way (starting with their lead atom) and
    become named groups, tried in order, so the caller knows which one matched.
    """
    parts = [f"(?P<{name}>{'|'.join(_tail(alt) for alt in _alternatives(branch))})" for name, branch in branches.items()]
    return re.compile(f"{lead}{boundary}(?:{'|'.join(parts)})", re.ASCII)


# --------------------------------------------------------------------------- digit-led

DIGIT_BOUNDARY = r"(?<![a-z0-9_.@/\\][\d(+])(?<!\d-\d)(?<!\w[(+])"
"""The lead may follow a space, punctuation or capitals (``DE89…``, ``MRN123``), not a
lower-case word, another number, a decimal point, a path or an e-mail."""

DIGIT_BRANCHES = {
    "ssn": r"\d{3}(?P<ssn_sep>[- ])\d{2}(?P=ssn_sep)\d{4}(?![\w-])",
    "iso_date": (
        r"\d{4}(?P<iso_sep>[-/.])\d{1,2}(?P=iso_sep)\d{1,2}"
        r"(?:T\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w.-]?\d)"
    ),
    "num_date": r"\d{1,2}(?P<num_sep>[-/.])\d{1,2}(?P=num_sep)(?:\d{4}|(?<=/)\d{2})(?![\w./-]?\d)",
    "day_month_date": rf"\d{{1,2}}{ORDINAL}(?:\s+of)?[\s-]+{MONTH}\.?,?[\s-]+(?:\d{{4}}|\d{{2}}(?!\d))",
    "ipv4": r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\d.]*\d)",
    "card": r"\d{4}(?P<card_sep>[ -]?)\d{4}(?P=card_sep)\d{4}(?P=card_sep)\d{4}(?:\d{3})?(?![\w-])|\d{4}[ -]?\d{6}[ -]?\d{5}(?![\w-])",
    "iban_spaced": r"\d{2}(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?(?![\w-])",
    "phone": (
        r"\d(?:-\d{3}-|[ .]\d{3}[ .])\d{3}[-. ]\d{4}(?![\w-])"  # 1-800-555-0199
        r"|\d{3}[-. ]\d{3}[-. ]\d{4}(?![\w-])"
    ),
    "national_phone": r"\d{2,5}[ -]\d{3,4}[ -]\d{3,4}(?![\w-])",
    "paren_phone": r"\(\d{3}\)[-. ]?\d{3}[-. ]?\d{4}(?![\w-])",
    "intl_phone": r"\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?![\w-])",
    "street": (
        rf"\d{{1,6}}[A-Z]?[ \t]+(?:(?:[NSEW]|North|South|East|West|NE|NW|SE|SW)\.?[ \t]+)?"
        rf"(?:(?:\d+(?:st|nd|rd|th)|[A-Z][a-z]+)\.?[ \t]+){{1,3}}{STREET_SUFFIX}\b\.?"
        r"(?:,?[ \t]*(?:Apt|Apartment|Suite|Ste|Unit|Room|Rm|Floor|Fl|Bldg)\.?[ \t]*#?[ \t]*[A-Za-z0-9-]+|[ \t]*#[ \t]*\d+[A-Z]?)?"
    ),
    "short_date": r"\d{1,2}/\d{1,2}(?![\d/.])",
    "age": r"\d{2,3}(?:[ -]?(?:years?|yrs?)[ -]?old\b|[ -]?(?:y/o|y\.o\.|yo)(?![a-z])|-year\b)",
    "age_context": r"\d(?:(?<=[Aa]ge \d)|(?<=[Aa]ge: \d)|(?<=[Aa]ged \d)|(?<=AGE \d)|(?<=AGE: \d))\d{1,2}(?!\d)",
    "token": r"\d(?:(?=[0-9A-Z]{3})|(?<=[A-Z]\d)|(?=[0-9A-Z]*+-[0-9A-Z]))[0-9A-Z]*+(?:-[0-9A-Z]+)*+",
}
DIGIT_SCAN = led(r"[0-9(+]", DIGIT_BOUNDARY, DIGIT_BRANCHES)


ID_SHAPES = {
    "dea": re.compile(r"[A-Z]{2}\d{7}"),
    "iban": re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}"),
    "mbi": re.compile(r"[1-9][A-Z0-9]{3}-?[A-Z0-9]{3}-?[A-Z0-9]{4}"),
    "vin": re.compile(r"[A-HJ-NPR-Z0-9]{17}"),
}
"""Shapes of identifiers found by the digit scan's generic token (after extending left)."""

# --------------------------------------------------------------------------- separators (MAC, IPv6)

HEX_SCAN = led(
    r"[:.-]",
    "",
    {
        "colon": r"[:.-](?<=[0-9A-Fa-f]:)[0-9A-Fa-f]{0,4}:",
        "dash": r"[:.-](?<=(?<![0-9A-Za-z])[0-9A-Fa-f]{2}-)[0-9A-Fa-f]{2}-[0-9A-Fa-f]{2}-",
        "dot": r"[:.-](?<=(?<![0-9A-Za-z])[0-9A-Fa-f]{4}\.)[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}(?![0-9A-Za-z])",
    },
)
MAC = re.compile(r"[0-9A-Fa-f]{2}(?P<sep>[:-])[0-9A-Fa-f]{2}(?:(?P=sep)[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}")

# --------------------------------------------------------------------------- e-mail, URL

EMAIL_DOMAIN = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b")
EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
URL_SCANS = (re.compile(r"https?://[^\s<>\"`\x00]+"), re.compile(r"www\.[^\s<>\"`\x00]+"))
"""Each starts with a literal, which ``re`` finds fastest; a ``www.`` inside a word is dropped later."""
URL_TRAILING = ".,;:!?)]}'\""

# --------------------------------------------------------------------------- names

UPPER = "A-ZÀ-ÖØ-Þ"
LOWER = "a-zß-öø-ÿ"
"""Latin letters with Latin-1 accents: "José Müller" is a name too."""
NAME_TOKEN = rf"(?:[{UPPER}][{LOWER}]*['’][{UPPER}][{LOWER}]+|(?:Mc|Mac)[{UPPER}][{LOWER}]+|[{UPPER}][{LOWER}]+(?:-[{UPPER}][{LOWER}]+)?)"
NAME_PARTICLE = r"(?:de la|de|del|della|van der|van|von|der|da|di|le|bin|ibn|al)"
_NAME_REST = rf"(?:[ \t]+(?:[A-Z]\.?[ \t]+)?(?:{NAME_PARTICLE}[ \t]+)?(?P<more>{NAME_TOKEN}))"
UPPER_TOKEN = rf"[{UPPER}][{UPPER}'’-]+"
NAME_AFTER_CUE = re.compile(
    rf"(?P<last_first>{NAME_TOKEN},[ \t]*{NAME_TOKEN}(?:[ \t]+[A-Z]\.)?|{UPPER_TOKEN},[ \t]*{UPPER_TOKEN})"
    rf"|(?P<upper>{UPPER_TOKEN}[ \t]+{UPPER_TOKEN}(?![a-z]))"
    rf"|(?P<first>(?:[A-Z]\.[ \t]*)?(?:{NAME_PARTICLE}[ \t]+)?{NAME_TOKEN})"
)
NAME_CONTINUATION = re.compile(_NAME_REST)
NAME_BEFORE = re.compile(rf"(?:^|(?<=[\s(\[\"',;:]))((?:{NAME_TOKEN}[ \t]+(?:[A-Z]\.[ \t]+)?(?:{NAME_PARTICLE}[ \t]+)?){{0,2}}{NAME_TOKEN}),?[ \t]*\(?$")
"""A name that ends right at the end of a short slice (used before "MD", "is a 45-year-old")."""

TITLES = ("Mr", "Mrs", "Ms", "Mx", "Miss", "Dr", "Prof")
LABELS: tuple[str, ...] = (
    "Patient Name", "Patient name", "Patient", "Pt", "Name", "Full Name", "Full name", "RE", "Re",
    "Attending Physician", "Attending", "Ordering Provider", "Ordering Physician", "Referring Physician",
    "Referring Provider", "Provider", "Physician", "Surgeon", "PCP", "Guarantor", "Subscriber", "Insured",
    "Emergency Contact", "Emergency contact", "Contact", "Next of Kin", "Next of kin", "NOK", "Caregiver",
    "Guardian", "Parent", "Author", "Nurse", "Therapist", "Pharmacist", "Resident",
)  # fmt: skip
LABELS = LABELS + tuple(label.upper() for label in LABELS if label.upper() != label)
"""Labels that name a person when followed by a colon or dash."""
BY_VERBS = ("signed", "seen", "dictated", "referred", "reviewed", "examined", "treated", "evaluated", "transcribed", "cosigned")
RELATIONS = (
    "wife", "husband", "son", "daughter", "mother", "father", "sister", "brother", "spouse", "partner",
    "grandson", "granddaughter", "grandmother", "grandfather", "niece", "nephew", "aunt", "uncle",
    "friend", "fiance", "fiancee", "girlfriend", "boyfriend", "stepson", "stepdaughter",
)  # fmt: skip
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December", "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec")
CREDENTIALS = ("MD", "M.D.", "DO", "D.O.", "RN", "NP", "PA-C", "DDS", "DMD", "PhD", "FNP", "FNP-C", "CNM", "LPN", "APRN", "MBBS", "PharmD", "LCSW", "DPM")


def _by_first_letter(words: tuple[str, ...]) -> str:
    """Words as "first letter already consumed" alternatives: one look-behind per first letter."""
    groups: dict[str, list[str]] = {}
    for word in sorted(words, key=len, reverse=True):  # longest first: "Mrs" before "Mr"
        groups.setdefault(word[0], []).append(re.escape(word[1:]))
    return "(?:" + "|".join(f"(?<={re.escape(first)})(?:{'|'.join(rests)})" for first, rests in groups.items()) + ")"


def _preceded_by(words: tuple[str, ...]) -> str:
    """Look-behinds for "one of these words, a space or comma, then the capital just consumed"."""
    return "|".join(f"(?<=[{w[0].upper()}{w[0]}]{re.escape(w[1:])}{sep}[A-Z])" for w in words for sep in ("[ \t]", ",[ \t]"))


CAPS_SCAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9_][A-Z])(?:"
    rf"(?P<title>{_by_first_letter(TITLES)}(?![A-Za-z])\.?[ \t]+(?=[A-Z]))"
    rf"|(?P<label>{_by_first_letter(LABELS)}[ \t]*[:\-–][ \t]*(?=[A-Z]))"
    rf"|(?P<credential>(?:(?<=[a-z.], [A-Z])|(?<=[a-z.] [A-Z])|(?<=[a-z] \([A-Z])){_by_first_letter(CREDENTIALS)}(?![A-Za-z])(?![ \t]+\d{{5}}))"
    rf"|(?P<month>{_by_first_letter(MONTHS)}\.?(?![A-Za-z]),?[ \t]+(?:\d{{1,2}}{ORDINAL},?[ \t]+\d{{4}}|\d{{4}}|\d{{1,2}}{ORDINAL})(?![\d:]))"
    r"|(?P<po_box>(?<=P)(?:\.[ \t]?O\.|O)[ \t]*Box[ \t]+#?\d+)"
    rf"|(?P<after_word>(?:(?<=[a-z][ \t][A-Z])|(?<=[a-z],[ \t][A-Z]))(?:{_preceded_by(RELATIONS + tuple(v + ' by' for v in BY_VERBS))}))"
    ")",
    re.ASCII,
)
"""One capital-led scan for the cues of names (titles, labels, credentials, "wife Mary",
"signed by …") and for dates that start with a month name."""
NAME_STOP = frozenset(
    (
        "The This That These Those Patient Pt Name Date Dob DOB MRN SSN Unknown None Not No Yes He She They "
        "His Her Their Him It We You I On In At For From With And Or Of To By As Is Was Has Had Be Seen See "
        "Called Call Follow Admitted Discharged Discharge Admission Lab Labs Test Result Results Hospital "
        "Clinic Center Medical Medicine Health Care Department Dept Unit Room Floor Street Avenue Road Mr Mrs "
        "Ms Dr Prof Miss Phone Tel Fax Email Address Home Work Cell Mobile Male Female Sex Age Years Old New "
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July "
        "August September October November December Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec Today "
        "Tomorrow Yesterday Medicare Medicaid Insurance Member Subscriber Account Acct Provider Physician "
        "Attending Primary Emergency Contact Reason History Plan Assessment Impression Diagnosis Dx Rx "
        "Medications Allergies Vitals Exam Review Note Notes Report Summary Signed Electronically Per Please "
        "Thank Thanks Dear Hi Hello Regards Sincerely Mother Father Wife Husband Son Daughter Sister Brother "
        "Spouse Partner Friend Family Self Other Same Both All Any Some Each Which Who What When Where Why How "
        "Will Would Should Could Can May Might Must Also Then Than There Here Now Today Ok OK Okay"
    ).split()
)
"""Capitalised words that start sentences and labels, never a name on their own."""

# --------------------------------------------------------------------------- context words

def _terms(entity: str, words: str) -> dict[str, str]:
    return {word.replace("_", " "): entity for word in words.split()}


CONTEXT_TERMS = {
    **_terms("ssn", "ssn ssn# social_security soc_sec soc._sec ss# ss_# ssa"),
    **_terms("npi", "npi npi#"),
    **_terms("dea", "dea dea#"),
    **_terms("mrn", "mrn mrn# mr# mr_# medical_record med_rec chart patient_id pt_id hospital_number hospital_no hospital_# hospital_id empi"),
    **_terms("account", "acct acct# account acc# acc_# acc_no billing_id billing_number billing_no billing_#"),
    **_terms("health_plan", "member subscriber policy beneficiary medicaid hicn insurance_id insurance_number insurance_no insurance_# plan_id plan_number plan_no plan_# group_id group_number group_no group_#"),
    **_terms("license", "license licence licensed dl# dl_# dl: lic# lic_# lic. lic: certificate cert# permit"),
    **_terms("device", "serial s/n sn sn# device_id udi imei esn model# model_#"),
    **_terms("vin", "vin vin# vehicle_id"),
    **_terms("zip", "zip zipcode zip_code postal postcode"),
    **_terms("age", "age aged"),
    **_terms("dob", "dob d.o.b date_of_birth birth_date birthdate born"),
}
"""Words that say what the number after them is, lower case, hyphens read as spaces."""
CONTEXT_SCAN = re.compile(
    r"[a-z](?<![a-z0-9][a-z])"
    + _by_first_letter(tuple(CONTEXT_TERMS))
    + r"(?![a-z])"
)
"""All context words in lower-cased text; one look-behind per first letter keeps it fast."""
DATE_CUE_BEFORE = re.compile(r"\b(?:on|appointment|appt|seen|visit|since|until|through|dated|due|scheduled|admitted|discharged|f/u|follow-up|return|rtc|dos|date|from|to|by)[ \t:]*\Z", re.IGNORECASE)
"""Words before a month/day without a year ("seen 3/5") that make it a date, not a fraction."""
LABEL_FILLER = re.compile(r"[\s:#.=\-(]*(?:(?:number|num|nbr|no|id|code|value|#)\b[\s:#.=\-]*)*(?:is|was|of|:)?[\s:#.=\-]*\Z")
"""What may stand between a context word and its value for the word to be the value's label."""
STATE_BEFORE = re.compile(rf"(?<![A-Za-z])(?:{'|'.join(STATES)}),?[ \t]+\Z")
CITY_BEFORE = re.compile(r"(?<![A-Za-z])((?:[A-Z][a-z]+|[A-Z]\.)(?:[ \t-](?:[A-Z][a-z]+|[A-Z]\.)){0,2}),[ \t]*\Z")

# --------------------------------------------------------------------------- tokens written by operators

MASK_TOKEN = re.compile(r"\[(?P<label>[A-Z][A-Z0-9_]*)_(?P<digest>[0-9a-f]{6,16})\]")
