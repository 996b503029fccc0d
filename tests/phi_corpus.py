"""A labelled synthetic PHI corpus with a fixed seed, and the scoring used by tests and benchmarks.

Every document is built piece by piece, so each identifier's character span is
known exactly: ``Doc.spans`` are the PHI a masker must hide, ``Doc.negatives``
are look-alikes it must leave alone (order numbers shaped like SSNs, NPIs with a
wrong check digit, ICD-10/CPT codes, dosages, lab values, clock times, version
strings, hex ids).  Values are random but valid where a real identifier is
(NPI Luhn, DEA check digit, MBI positions, card Luhn, IBAN mod-97, VIN check
digit, real US area codes), and formats vary the way real notes and exports do.
"""

from __future__ import annotations

import json
import re
import random
import string
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

SEED = 20240305

# Identifier kinds with a checksum or a strict shape: the 0.99 recall floor.
VALIDATED = ("ssn", "npi", "dea", "mbi", "phone", "email", "credit_card", "iban")
# Negative kinds whose value fails the validator of the identifier it looks like.
VALIDATOR_FAILING = ("invalid_ssn", "invalid_npi", "invalid_dea", "invalid_card", "invalid_iban", "invalid_vin")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str


@dataclass
class Doc:
    kind: str
    text: str
    spans: list[Span] = field(default_factory=list)
    negatives: list[Span] = field(default_factory=list)


# --------------------------------------------------------------------------- vocabulary

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty "
    "Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Aisha Wei "
    "Priya Mohammed Olga Hiroshi Fatima Carlos Ngozi Dmitri Mei Santiago Ananya Kwame Ingrid Tomasz "
    "Lucia Rahul Yuki Omar Chloe Mateo Siobhan Arjun Zainab Ewa"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts O'Brien McDonald "
    "Kowalski Okafor Patel Nakamura Haddad Ivanova Chen Okonkwo Schmidt Lindqvist Fitzgerald "
    "Abernathy Castellanos Dubois Yamamoto Al-Sayed Kaur Mensah Novak Rossi Petrov"
).split() + ["Van Buren", "de la Cruz"]
STREETS = (
    "Main Oak Maple Cedar Elm Pine Washington Lake Hill Park Sunset Highland Jefferson Lincoln "
    "Madison Franklin Chestnut Walnut Willow Spring Church Mill River Meadow Ridge Forest Valley "
    "Harbor Prospect Summit Birch Magnolia Cherry"
).split()
SUFFIXES = (
    "Street St St. Avenue Ave Ave. Road Rd Boulevard Blvd Lane Ln Drive Dr Court Ct Way Place Pl "
    "Terrace Circle Parkway Highway"
).split()
CITIES = (
    "Springfield|Riverside|Franklin|Greenville|Bristol|Clinton|Fairview|Salem|Madison|Georgetown|"
    "Arlington|Ashland|Burlington|Manchester|Oxford|Jackson|Milton|Newport|Auburn|Dayton|Lexington|"
    "Cedar Rapids|Santa Clara|Ann Arbor|Fort Collins|Baton Rouge|Eau Claire|Palo Alto|Boise|Tulsa"
).split("|")
STATES = "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
AREA_CODES = (
    "201 202 205 206 207 208 212 213 214 215 216 217 218 219 224 225 228 229 231 234 239 240 248 251 "
    "252 253 254 256 260 262 267 269 270 281 301 302 303 304 305 307 308 309 310 312 313 314 315 316 "
    "317 318 319 320 321 323 330 334 336 337 339 347 351 352 360 361 386 401 402 404 405 406 407 408 "
    "409 410 412 413 414 415 417 419 423 424 425 432 434 435 440 443 469 478 479 480 484 501 502 503 "
    "504 505 507 508 509 510 512 513 515 516 517 518 520 530 540 541 559 561 562 563 567 570 571 573 "
    "574 580 585 586 601 602 603 605 606 607 608 609 610 612 614 615 616 617 618 619 620 623 626 630 "
    "631 636 641 646 650 651 660 661 662 678 682 702 703 704 706 707 708 712 713 714 715 716 717 718 "
    "719 720 724 727 731 732 734 740 754 757 760 763 765 770 772 773 774 775 781 785 786 801 802 803 "
    "804 805 806 808 810 812 813 814 815 816 817 818 828 830 831 832 843 845 847 848 850 856 857 858 "
    "859 860 862 863 864 865 870 901 903 904 907 908 909 910 912 913 914 915 916 917 918 919 920 925 "
    "928 931 936 937 940 941 949 951 952 954 956 970 971 972 973 978 979 980 985 989"
).split()
DOMAINS = "gmail.com yahoo.com outlook.com icloud.com protonmail.com comcast.net mercyhealth.org stlukes-hospital.org med.example.edu aol.com".split()
MONTHS = "January February March April May June July August September October November December".split()
DRUGS = "metformin lisinopril atorvastatin amlodipine levothyroxine omeprazole albuterol gabapentin sertraline furosemide warfarin insulin prednisone apixaban".split()
ICD10 = "E11.9 I10 J45.909 Z79.4 N18.3 F32.A I25.10 K21.9 M54.5 E78.5 J44.1 R07.9 Z00.00 I48.91 C50.911".split()
CPT = "99213 99214 80053 85025 93000 71046 36415 99285 45378 81001 83036 90471".split()
CONDITIONS = "type 2 diabetes|hypertension|atrial fibrillation|COPD|chronic kidney disease stage 3|major depressive disorder|hyperlipidemia|asthma|GERD|osteoarthritis".split("|")
RELATIONS = "wife husband daughter son mother father sister brother spouse partner".split()
MBI_LETTERS = [c for c in string.ascii_uppercase if c not in "SLOIBZ"]
VIN_CHARS = [c for c in string.ascii_uppercase + string.digits if c not in "IOQ"]
IBAN_COUNTRIES = {"DE": 18, "GB": 18, "FR": 23, "ES": 20, "IT": 23, "NL": 14, "CH": 17, "BE": 12, "IE": 18, "PL": 24}


# --------------------------------------------------------------------------- value generators


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_complete(r: random.Random, body: str, *, prefix: str = "") -> str:
    """Append the digit that makes ``prefix + body + digit`` pass Luhn."""
    return body + next(str(d) for d in range(10) if luhn_ok(prefix + body + str(d)))


def _digits(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def ssn_parts(r: random.Random) -> tuple[str, str, str]:
    area = r.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"


def gen_ssn(r: random.Random) -> tuple[str, str]:
    a, g, s = ssn_parts(r)
    fmt = r.random()
    if fmt < 0.6:
        return f"{a}-{g}-{s}", "SSN: "
    if fmt < 0.8:
        return f"{a} {g} {s}", r.choice(["SSN ", "Social Security Number: ", "SS# "])
    return f"{a}{g}{s}", r.choice(["SSN: ", "ssn ", "Social Security #"])


def gen_invalid_ssn(r: random.Random) -> str:
    a, g, s = ssn_parts(r)
    broken = r.choice(["area0", "area666", "area9", "group", "serial"])
    a = {"area0": "000", "area666": "666", "area9": str(r.randint(900, 999))}.get(broken, a)
    g = "00" if broken == "group" else g
    s = "0000" if broken == "serial" else s
    return f"{a}-{g}-{s}"


def gen_npi(r: random.Random) -> str:
    return _luhn_complete(r, r.choice("12") + _digits(r, 8), prefix="80840")


def gen_invalid_npi(r: random.Random) -> str:
    npi = gen_npi(r)
    return npi[:-1] + str((int(npi[-1]) + r.randint(1, 9)) % 10)


def dea_check(digits6: str) -> str:
    d = [int(c) for c in digits6]
    return str((d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10)


def gen_dea(r: random.Random, surname: str | None = None) -> str:
    body = _digits(r, 6)
    initial = (surname or r.choice(LAST))[0].upper()
    return r.choice("ABFGMPRX") + initial + body + dea_check(body)


def gen_invalid_dea(r: random.Random) -> str:
    dea = gen_dea(r)
    return dea[:-1] + str((int(dea[-1]) + r.randint(1, 9)) % 10)


def gen_mbi(r: random.Random) -> str:
    alnum = MBI_LETTERS + list(string.digits)
    chars = [
        r.choice("123456789"),
        r.choice(MBI_LETTERS),
        r.choice(alnum),
        r.choice(string.digits),
        r.choice(MBI_LETTERS),
        r.choice(alnum),
        r.choice(string.digits),
        r.choice(MBI_LETTERS),
        r.choice(MBI_LETTERS),
        r.choice(string.digits),
        r.choice(string.digits),
    ]
    mbi = "".join(chars)
    return f"{mbi[:4]}-{mbi[4:7]}-{mbi[7:]}" if r.random() < 0.4 else mbi


def gen_card(r: random.Random) -> str:
    kind = r.choice(["visa", "mc", "amex", "discover"])
    if kind == "amex":
        number = _luhn_complete(r, r.choice(["34", "37"]) + _digits(r, 12))
        return f"{number[:4]} {number[4:10]} {number[10:]}" if r.random() < 0.5 else number
    prefix = {"visa": "4", "mc": str(r.randint(51, 55)), "discover": "6011"}[kind]
    number = _luhn_complete(r, prefix + _digits(r, 15 - len(prefix)))
    sep = r.choice([" ", "-", ""])
    return sep.join(number[i : i + 4] for i in range(0, 16, 4))


def gen_invalid_card(r: random.Random) -> str:
    number = _luhn_complete(r, "4" + _digits(r, 14))
    number = number[:-1] + str((int(number[-1]) + r.randint(1, 9)) % 10)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def iban_check(country: str, bban: str) -> str:
    rearranged = bban + country + "00"
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return f"{98 - int(numeric) % 97:02d}"


def gen_iban(r: random.Random, *, valid: bool = True) -> str:
    country = r.choice(sorted(IBAN_COUNTRIES))
    length = IBAN_COUNTRIES[country]
    bban = (r.choice(string.ascii_uppercase) * 4 + _digits(r, length - 4)) if country in ("GB", "NL", "IE") else _digits(r, length)
    check = iban_check(country, bban)
    if not valid:
        check = f"{(int(check) + r.randint(1, 50)) % 100:02d}"
    iban = country + check + bban
    if r.random() < 0.5:
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return iban


VIN_VALUES = {c: v for c, v in zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9])}
VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def gen_vin(r: random.Random, *, valid: bool = True) -> str:
    chars = [r.choice(VIN_CHARS) for _ in range(17)]
    total = sum((int(c) if c.isdigit() else VIN_VALUES[c]) * w for c, w in zip(chars, VIN_WEIGHTS))
    check = "X" if total % 11 == 10 else str(total % 11)
    if not valid:
        check = r.choice([c for c in "0123456789X" if c != check])
    chars[8] = check
    return "".join(chars)


def gen_phone(r: random.Random) -> str:
    area = r.choice(AREA_CODES)
    exchange = f"{r.randint(2, 9)}{r.randint(0, 9)}{r.randint(0, 9)}"
    if exchange[1:] == "11":
        exchange = exchange[0] + "21"
    line = _digits(r, 4)
    style = r.randrange(9)
    base = [
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"+1 {area} {exchange} {line}",
        f"1-{area}-{exchange}-{line}",
        f"{area} {exchange} {line}",
        f"+1-{area}-{exchange}-{line}",
        f"({area}){exchange}-{line}",
        f"{area}{exchange}{line}",
    ][style]
    if r.random() < 0.12:
        base += r.choice([" x", " ext. ", " ext ", " x."]) + str(r.randint(10, 9999))
    return base


def gen_email(r: random.Random, first: str | None = None, last: str | None = None) -> str:
    first = (first or r.choice(FIRST)).lower()
    last = (last or r.choice(LAST)).lower().replace("'", "").replace(" ", "")
    local = r.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{r.randint(1, 99)}", f"{last}.{first}+portal", f"{first}{r.randint(1950, 2005)}"])
    domain = r.choice(DOMAINS)
    return f"{local}@{domain}".upper() if r.random() < 0.05 else f"{local}@{domain}"


def gen_url(r: random.Random) -> str:
    host = r.choice(["portal.mercyhealth.org", "mychart.stlukes-hospital.org", "www.facebook.com", "patientsite.example.net", "telehealth.clinic-west.com", "www.linkedin.com"])
    path = r.choice([f"/patient/{r.randint(10000, 99999)}", f"/in/{r.choice(FIRST).lower()}-{r.choice(LAST).lower().replace(' ', '-')}", f"/records?id={r.randint(1000, 9999)}&view=full", "/u/" + _digits(r, 8)])
    scheme = r.choice(["https://", "http://", "https://", ""])
    if not scheme and not host.startswith("www."):
        scheme = "https://"
    return scheme + host + path


def gen_ipv4(r: random.Random) -> str:
    return ".".join(str(r.randint(1, 254)) for _ in range(4))


def gen_ipv6(r: random.Random) -> str:
    groups = [f"{r.randint(0, 0xFFFF):x}" for _ in range(8)]
    if r.random() < 0.5:
        return ":".join(groups)
    cut = r.randint(2, 5)
    return ":".join(groups[:cut]) + "::" + ":".join(groups[cut + 2 :])


def gen_mac(r: random.Random) -> str:
    octets = [f"{r.randint(0, 255):02x}" for _ in range(6)]
    style = r.random()
    if style < 0.4:
        return ":".join(octets)
    if style < 0.8:
        return "-".join(octets).upper()
    return ".".join("".join(octets[i : i + 2]) for i in (0, 2, 4))


def gen_date(r: random.Random, *, birth: bool = False) -> str:
    year = r.randint(1930, 2005) if birth else r.randint(2015, 2025)
    month, day = r.randint(1, 12), r.randint(1, 28)
    name = MONTHS[month - 1]
    return r.choice(
        [
            f"{year}-{month:02d}-{day:02d}",
            f"{month:02d}/{day:02d}/{year}",
            f"{month}/{day}/{year}",
            f"{month}/{day}/{year % 100:02d}",
            f"{day:02d}.{month:02d}.{year}",
            f"{name} {day}, {year}",
            f"{name[:3]} {day}, {year}",
            f"{day} {name} {year}",
            f"{day}-{name[:3]}-{year}",
            f"{name[:3]}. {day}, {year}",
            f"{year}/{month:02d}/{day:02d}",
            f"{day}{['st', 'nd', 'rd', 'th'][min(day, 4) - 1] if day < 4 else 'th'} of {name}, {year}",
        ]
    )


def gen_zip(r: random.Random) -> str:
    zip5 = f"{r.randint(1001, 99950):05d}"
    return zip5 + f"-{r.randint(1, 9999):04d}" if r.random() < 0.3 else zip5


def gen_street(r: random.Random) -> str:
    number = str(r.choice([r.randint(1, 99), r.randint(100, 9999), r.randint(10000, 99999)]))
    direction = r.choice(["", "", "", "N. ", "S ", "West ", "E. "])
    street = r.choice(STREETS)
    if r.random() < 0.15:
        street += " " + r.choice(STREETS)
    line = f"{number} {direction}{street} {r.choice(SUFFIXES)}"
    if r.random() < 0.3:
        line += r.choice([f", Apt {r.randint(1, 40)}{r.choice('ABCD')}", f" Apt. {r.randint(1, 999)}", f", Suite {r.randint(100, 900)}", f" Unit {r.randint(1, 60)}", f" #{r.randint(1, 40)}"])
    return line


def gen_mrn(r: random.Random) -> str:
    return r.choice([_digits(r, 8), _digits(r, 7), "00" + _digits(r, 6), "A" + _digits(r, 7), "MRN" + _digits(r, 6), f"{_digits(r, 3)}-{_digits(r, 4)}", "E" + _digits(r, 9)])


def gen_account(r: random.Random) -> str:
    return r.choice([_digits(r, 9), _digits(r, 10), f"{_digits(r, 2)}-{_digits(r, 4)}-{_digits(r, 2)}", "ACC" + _digits(r, 7), _digits(r, 12)])


def gen_member(r: random.Random) -> str:
    return r.choice(
        [
            "".join(r.choice(string.ascii_uppercase) for _ in range(3)) + _digits(r, 9),
            "W" + _digits(r, 9),
            _digits(r, 11),
            f"{''.join(r.choice(string.ascii_uppercase) for _ in range(2))}{_digits(r, 6)}-{_digits(r, 2)}",
        ]
    )


def gen_license(r: random.Random) -> str:
    letter = r.choice(string.ascii_uppercase)
    return r.choice([letter + _digits(r, 7), letter + _digits(r, 12), f"{letter}{_digits(r, 3)}-{_digits(r, 4)}-{_digits(r, 4)}", _digits(r, 9), "RN" + _digits(r, 6)])


def gen_serial(r: random.Random) -> str:
    return r.choice(["SN" + _digits(r, 8), f"{''.join(r.choice('ABCDEFGHJKLMNPRSTUVWXYZ') for _ in range(3))}{_digits(r, 6)}", f"PM-{_digits(r, 5)}-{r.choice(string.ascii_uppercase)}", _digits(r, 10) + r.choice("AB")])


# --------------------------------------------------------------------------- building documents


class Builder:
    """Appends text and records the span of every labelled piece."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[Span] = []
        self.negatives: list[Span] = []

    def add(self, text: str) -> Builder:
        self.parts.append(text)
        self.length += len(text)
        return self

    def phi(self, label: str, text: str) -> Builder:
        self.spans.append(Span(self.length, self.length + len(text), label))
        return self.add(text)

    def neg(self, label: str, text: str) -> Builder:
        self.negatives.append(Span(self.length, self.length + len(text), label))
        return self.add(text)

    def doc(self) -> Doc:
        return Doc(self.kind, "".join(self.parts), self.spans, self.negatives)


@dataclass
class Person:
    first: str
    last: str
    dob: str
    phone: str
    email: str
    street: str
    city: str
    state: str
    zip: str
    ssn: str
    ssn_label: str
    mrn: str
    age: int

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


def person(r: random.Random) -> Person:
    first, last = r.choice(FIRST), r.choice(LAST)
    ssn, ssn_label = gen_ssn(r)
    return Person(first, last, gen_date(r, birth=True), gen_phone(r), gen_email(r, first, last), gen_street(r), r.choice(CITIES), r.choice(STATES), gen_zip(r), ssn, ssn_label, gen_mrn(r), r.choice([r.randint(18, 89), r.randint(18, 89), r.randint(90, 104)]))


def _age_phrase(b: Builder, r: random.Random, age: int) -> None:
    """Ages over 89 are PHI under Safe Harbor; younger ages are hard negatives."""
    put = b.phi if age > 89 else b.neg
    label = "age" if age > 89 else "age_under_90"
    style = r.randrange(3)
    if style == 0:
        b.add("a ")
        put(label, str(age))
        b.add("-year-old")
    elif style == 1:
        b.add("age ")
        put(label, str(age))
    else:
        b.add("a ")
        put(label, str(age))
        b.add(" y/o")


def _address(b: Builder, r: random.Random, p: Person) -> None:
    b.phi("address", p.street).add(", ").phi("address", p.city).add(f", {p.state} ").phi("zip", p.zip)


NARRATIVE = (
    "Patient reports {sx} for the past {n} days, worse with exertion and better with rest.",
    "Denies fever, chills, chest pain or shortness of breath; appetite is reduced.",
    "On exam the patient is alert and oriented, in no acute distress; lungs are clear to auscultation bilaterally.",
    "Heart with regular rate and rhythm, no murmurs, rubs or gallops; abdomen soft and non-tender.",
    "Extremities without edema; pulses 2+ and symmetric; skin warm and dry.",
    "Assessment: {cond}, stable on current regimen; will continue {drug} {dose} mg {freq} and recheck labs in {n} weeks.",
    "Plan: counsel on diet and exercise, reinforce medication adherence, return precautions reviewed.",
    "Blood pressure {sys}/{dia} mmHg, heart rate {hr}, respiratory rate {rr}, SpO2 {spo2}% on room air.",
    "Hemoglobin A1c improved from {a1c1}% to {a1c2}% over {n} months; LDL {ldl} mg/dL.",
    "Discussed risks and benefits of {drug}; patient verbalized understanding and agrees with the plan.",
    "Imaging showed no acute abnormality; prior study reviewed and compared.",
    "Patient tolerated the procedure well without complications and was transferred to recovery in stable condition.",
    "Pain is {n}/10, managed with acetaminophen {dose} mg every {n} hours as needed.",
    "Social history: former smoker, quit {n} years ago; drinks alcohol socially; lives with family.",
    "Family history notable for {cond} in a first-degree relative.",
    "Will follow up in clinic in {n} weeks or sooner if symptoms worsen.",
)
SYMPTOMS = "fatigue|intermittent headaches|lower back pain|shortness of breath on exertion|productive cough|palpitations|dizziness|nausea".split("|")


def _narrative(b: Builder, r: random.Random, sentences: int) -> None:
    """Clinical prose without identifiers (numbers in it are vitals, doses, durations)."""
    for _ in range(sentences):
        b.add(
            r.choice(NARRATIVE).format(
                sx=r.choice(SYMPTOMS), n=r.randint(2, 12), cond=r.choice(CONDITIONS), drug=r.choice(DRUGS),
                dose=r.choice([5, 10, 20, 25, 40, 50, 100, 250, 500, 650, 1000]), freq=r.choice(["daily", "twice daily", "at bedtime"]),
                sys=r.randint(100, 170), dia=r.randint(60, 100), hr=r.randint(55, 110), rr=r.randint(12, 22), spo2=r.randint(92, 100),
                a1c1=round(r.uniform(7, 11), 1), a1c2=round(r.uniform(5.5, 8), 1), ldl=r.randint(60, 190),
            )  # fmt: skip
            + " "
        )


def _negative_noise(b: Builder, r: random.Random) -> None:
    """One sentence of look-alikes that are not PHI."""
    choice = r.randrange(14)
    if choice == 0:
        b.add("Order #").neg("invalid_ssn", gen_invalid_ssn(r)).add(" was placed with pharmacy. ")
    elif choice == 1:
        b.add("Referring NPI on the fax read ").neg("invalid_npi", gen_invalid_npi(r)).add(" (did not verify). ")
    elif choice == 2:
        b.add("Dx: ").neg("icd10", r.choice(ICD10)).add(", ").neg("icd10", r.choice(ICD10)).add("; billed CPT ").neg("cpt", r.choice(CPT)).add(". ")
    elif choice == 3:
        b.add(f"Continue {r.choice(DRUGS)} ").neg("dosage", f"{r.choice([5, 10, 20, 25, 40, 50, 81, 100, 250, 500, 1000])} mg").add(f" {r.choice(['daily', 'BID', 'TID', 'q8h', 'at bedtime'])}; ").neg("dosage", f"{r.choice([0.5, 1, 2, 2.5])} mL").add(" PRN. ")
    elif choice == 4:
        b.add("Labs: Na ").neg("lab", str(r.randint(128, 146))).add(" mmol/L, K ").neg("lab", f"{r.uniform(3.0, 5.8):.1f}").add(", HbA1c ").neg("lab", f"{r.uniform(5.0, 11.0):.1f}%").add(", WBC ").neg("lab", f"{r.uniform(3.0, 15.0):.1f}").add(" x10^9/L, BP ").neg("vitals", f"{r.randint(95, 180)}/{r.randint(55, 110)}").add(". ")
    elif choice == 5:
        b.add("Seen at ").neg("time", f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}").add(", infusion ran ").neg("duration", f"{r.randint(0, 3):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}").add(" (event ts=").neg("epoch", str(r.randint(1_600_000_000, 1_760_000_000))).add("). ")
    elif choice == 6:
        b.add("Interface engine version ").neg("version", f"{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 99)}").add(", HL7 v").neg("version", "2.5.1").add(" (build ").neg("version", f"v{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(100, 999)}").add("). ")
    elif choice == 7:
        b.add("Request id ").neg("hex_id", "".join(r.choice("0123456789abcdef") for _ in range(32))).add(", trace ").neg("hex_id", f"{r.getrandbits(128):032x}"[:8] + "-" + f"{r.getrandbits(64):016x}"[:4] + "-4" + f"{r.getrandbits(64):016x}"[:3] + "-a" + f"{r.getrandbits(64):016x}"[:3] + "-" + f"{r.getrandbits(64):016x}"[:12]).add(". ")
    elif choice == 8:
        b.add("Prescriber DEA on the old script was ").neg("invalid_dea", gen_invalid_dea(r)).add(", rejected by pharmacy. ")
    elif choice == 9:
        b.add("Test card ").neg("invalid_card", gen_invalid_card(r)).add(" was declined. ")
    elif choice == 10:
        b.add("NDC ").neg("ndc", f"{_digits(r, 5)}-{_digits(r, 4)}-{_digits(r, 2)}").add(", lot ").neg("lot", f"{r.choice(string.ascii_uppercase)}{_digits(r, 5)}").add(f", {r.randint(1, 90)} tablets dispensed. ")
    elif choice == 11:
        b.add("Temp ").neg("vitals", f"{r.uniform(96.5, 103.0):.1f}").add(" F, HR ").neg("vitals", str(r.randint(50, 130))).add(", weight ").neg("vitals", f"{r.randint(45, 140)} kg").add(", history of MI in ").neg("year", str(r.randint(1990, 2023))).add(". ")
    elif choice == 12:
        b.add("Bank reference ").neg("invalid_iban", gen_iban(r, valid=False)).add(" bounced; fleet asset ").neg("invalid_vin", gen_vin(r, valid=False)).add(" retired. ")
    else:
        b.add("Specimen ").neg("accession", f"{r.choice(['S', 'H', 'C'])}{r.randint(20, 25)}-{_digits(r, 5)}").add(" received; room ").neg("room", f"{r.randint(1, 9)}{r.randint(10, 60)}").add(", bed ").neg("room", r.choice("ABCD")).add(". ")


def clinical_note(r: random.Random) -> Doc:
    p = person(r)
    b = Builder("clinical_note")
    doctor_first, doctor_last = r.choice(FIRST), r.choice(LAST)
    opener = r.randrange(4)
    if opener == 0:
        b.add("Patient: ").phi("name", p.full).add("\nDOB: ").phi("date", p.dob).add("\n")
    elif opener == 1:
        b.add("Name: ").phi("name", f"{p.last}, {p.first}").add("   MRN: ").phi("mrn", p.mrn).add("\n")
    elif opener == 2:
        b.add("Pt: ").phi("name", p.full).add(" (DOB ").phi("date", p.dob).add(")\n")
    else:
        b.add("RE: ").phi("name", p.full).add(", date of birth ").phi("date", p.dob).add("\n")
    b.add("Date of service: ").phi("date", gen_date(r)).add("\n\n")
    b.add(r.choice(["HPI: ", "History: ", "Subjective: "]))
    if r.random() < 0.5:
        b.phi("name", p.full).add(" is ")
    else:
        b.add(f"{r.choice(['Mr.', 'Mrs.', 'Ms.', 'Mr', 'Ms'])} ").phi("name", p.last).add(" is ")
    _age_phrase(b, r, p.age)
    b.add(f" with {r.choice(CONDITIONS)} who presents for follow-up. ")
    for _ in range(r.randint(2, 5)):
        _narrative(b, r, r.randint(1, 4))
        _negative_noise(b, r)
        sentence = r.randrange(14)
        if sentence == 0:
            b.add("Reached patient at ").phi("phone", p.phone).add("; ")
            b.add(f"{r.choice(RELATIONS).capitalize()} ").phi("name", r.choice(FIRST)).add(" can be called at ").phi("phone", gen_phone(r)).add(". ")
        elif sentence == 1:
            b.add("Lives at ").phi("address", p.street).add(" in ").phi("address", p.city).add(f", {p.state} ").phi("zip", p.zip).add(". ")
        elif sentence == 2:
            b.add("Patient emailed from ").phi("email", p.email).add(" asking about results. ")
        elif sentence == 3:
            b.add("Seen with Dr. ").phi("name", f"{doctor_first} {doctor_last}").add(" (NPI ").phi("npi", gen_npi(r)).add(r.choice([", DEA ", "; DEA# "])).phi("dea", gen_dea(r, doctor_last)).add("). ")
        elif sentence == 4:
            b.add("Insurance: Medicare, MBI ").phi("mbi", gen_mbi(r)).add("; ").add(r.choice(["Member ID: ", "member id ", "Subscriber ID "])).phi("health_plan", gen_member(r)).add(". ")
        elif sentence == 5:
            b.add(p.ssn_label).phi("ssn", p.ssn).add(" on file. ")
        elif sentence == 6:
            b.add(r.choice(["Copay charged to card ", "Paid with card ending in full number "])).phi("credit_card", gen_card(r)).add(r.choice(["; refund to IBAN ", "; IBAN "])).phi("iban", gen_iban(r)).add(". ")
        elif sentence == 7:
            b.add(r.choice(["Pacemaker serial #", "Device serial no. ", "Insulin pump S/N "])).phi("device", gen_serial(r)).add("; logs uploaded from ").phi("ip", gen_ipv4(r) if r.random() < 0.6 else gen_ipv6(r)).add(" (MAC ").phi("mac", gen_mac(r)).add("). ")
        elif sentence == 8:
            b.add(r.choice(["Drives a car, VIN ", "Accident vehicle VIN: "])).phi("vin", gen_vin(r)).add("; ").add(r.choice(["driver's license ", "DL# ", "License No. "])).phi("license", gen_license(r)).add(". ")
        elif sentence == 9:
            b.add(r.choice(["Billing account ", "Acct #: ", "Account number "])).phi("account", gen_account(r)).add(". Portal: ").phi("url", gen_url(r)).add(" . ")
        elif sentence == 10:
            b.add(r.choice(["Admitted ", "Last visit ", "Surgery on "])).phi("date", gen_date(r)).add(r.choice([", discharged ", "; follow-up "])).phi("date", gen_date(r)).add(". ")
        elif sentence == 11:
            b.add(r.choice(["MRN ", "MRN: ", "Medical record number ", "MR# ", "MRN#", "Med Rec #: "])).phi("mrn", p.mrn).add(". ")
        else:
            _variant(b, r, p)
    b.add("\n\nElectronically signed by ").phi("name", f"{doctor_first} {doctor_last}").add(r.choice([", MD", ", NP", ", RN", " MD", ", DO"])).add(" on ").phi("date", gen_date(r)).add(".\n")
    return b.doc()


def _variant(b: Builder, r: random.Random, p: Person) -> None:
    """Less tidy ways notes mention identifiers: lower-case relations, initials, no-year dates…"""
    choice = r.randrange(10)
    if choice == 0:
        b.add(f"Pt's {r.choice(RELATIONS)} ").phi("name", f"{r.choice(FIRST)}").add(" called the clinic from ").phi("phone", gen_phone(r).replace(" ", "-", 1) if r.random() < 0.5 else gen_phone(r)).add(". ")
    elif choice == 1:
        b.add("Discussed with Dr. ").phi("name", f"{r.choice(FIRST)[0]}. {r.choice(LAST)}").add(" from cardiology. ")
    elif choice == 2:
        b.add("Next appointment ").phi("date", f"{r.randint(1, 12)}/{r.randint(1, 28)}").add(" at ").neg("time", f"{r.randint(8, 16)}:{r.choice(['00', '15', '30', '45'])}").add(". ")
    elif choice == 3:
        b.add("PATIENT: ").phi("name", f"{p.first.upper()} {p.last.upper()}").add(" ")
    elif choice == 4:
        b.add("Mail goes to P.O. Box ").phi("address", str(r.randint(10, 99999))).add(", ").phi("address", p.city).add(f", {p.state} ").phi("zip", p.zip).add(". ")
    elif choice == 5:
        month = r.choice(MONTHS)
        b.add("Symptoms began ").phi("date", f"{month} {r.randint(1, 28)}{r.choice(['st', 'nd', 'th', ''])}").add(" and worsened. ")
    elif choice == 6:
        b.add(r.choice(["Fax records to ", "Fax: "])).phi("phone", gen_phone(r)).add(". ")
    elif choice == 7:
        b.add("Pharmacy callback ").phi("phone", f"{r.choice(AREA_CODES)}-{r.randint(200, 999)}-{_digits(r, 4)}").add("; confirmation #").neg("order", _digits(r, 7)).add(". ")
    elif choice == 8:
        b.add("Daughter, ").phi("name", f"{r.choice(FIRST)} {r.choice(LAST)}").add(", is health care proxy. ")
    else:
        b.add("Per ").phi("name", f"{r.choice(FIRST)} {r.choice(LAST)}").add(r.choice([", RN,", " (RN)", ", charge nurse,"])).add(" pt ambulating. ")


def lab_report(r: random.Random) -> Doc:
    p = person(r)
    b = Builder("lab_report")
    b.add("LABORATORY REPORT\nPatient Name: ").phi("name", f"{p.last.upper()}, {p.first.upper()}" if r.random() < 0.3 else p.full)
    b.add("\nMRN: ").phi("mrn", p.mrn).add("    DOB: ").phi("date", p.dob).add("    Sex: ").add(r.choice("MF")).add("\n")
    b.add("Ordering Provider: ").phi("name", f"{r.choice(FIRST)} {r.choice(LAST)}").add(", MD  NPI: ").phi("npi", gen_npi(r)).add("\n")
    b.add("Collected: ").phi("date", gen_date(r)).add(" ").neg("time", f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}").add("   Accession: ").neg("accession", f"S{r.randint(20, 25)}-{_digits(r, 5)}").add("\n\n")
    b.add("Test                Result    Units      Reference\n")
    for name, lo, hi, unit in [("Glucose", 70, 250, "mg/dL"), ("Creatinine", 0.5, 2.5, "mg/dL"), ("Sodium", 128, 148, "mmol/L"), ("Hemoglobin", 8.0, 17.5, "g/dL"), ("Platelets", 120, 450, "10^3/uL"), ("TSH", 0.2, 6.0, "mIU/L")]:
        b.add(f"{name:<20}").neg("lab", f"{r.uniform(lo, hi):.1f}").add(f"{'':<6}{unit:<11}{lo}-{hi}\n")
    b.add("\nDx codes: ").neg("icd10", r.choice(ICD10)).add(", ").neg("icd10", r.choice(ICD10)).add("  CPT ").neg("cpt", r.choice(CPT)).add("\n")
    _negative_noise(b, r)
    b.add("\nQuestions: call the lab at ").phi("phone", gen_phone(r)).add(" or write to ").phi("email", gen_email(r)).add(".\n")
    return b.doc()


def discharge_summary(r: random.Random) -> Doc:
    p = person(r)
    b = Builder("discharge_summary")
    b.add("DISCHARGE SUMMARY\n\nPatient: ").phi("name", p.full).add("   MRN: ").phi("mrn", p.mrn).add("\n")
    b.add("Admission Date: ").phi("date", gen_date(r)).add("\nDischarge Date: ").phi("date", gen_date(r)).add("\n")
    b.add("Attending: Dr. ").phi("name", f"{r.choice(FIRST)} {r.choice(LAST)}").add("\n\n")
    b.add("Hospital course: The patient is ")
    _age_phrase(b, r, p.age)
    b.add(f" admitted for {r.choice(CONDITIONS)}. ")
    for _ in range(r.randint(1, 3)):
        _narrative(b, r, r.randint(2, 5))
        _negative_noise(b, r)
    b.add("\n\nDischarge address: ")
    _address(b, r, p)
    b.add("\nHome phone: ").phi("phone", p.phone).add("\n")
    if r.random() < 0.5:
        b.add("Emergency contact: ").phi("name", f"{r.choice(FIRST)} {p.last}").add(f" ({r.choice(RELATIONS)}), ").phi("phone", gen_phone(r)).add("\n")
    b.add("Medications: ")
    for _ in range(r.randint(1, 3)):
        b.add(f"{r.choice(DRUGS)} ").neg("dosage", f"{r.choice([5, 10, 20, 40, 500])} mg").add(f" {r.choice(['daily', 'BID'])}; ")
    b.add("\nFollow up with ").add(r.choice(["Dr. ", "Dr "])).phi("name", r.choice(LAST)).add(" on ").phi("date", gen_date(r)).add(".\n")
    return b.doc()


class Slot:
    """A JSON/CSV value that the builder writes as a labelled (or negative) span."""

    def __init__(self, label: str, value: str | int, *, negative: bool = False) -> None:
        self.label, self.value, self.negative = label, value, negative


def _write_json(b: Builder, value: object, indent: int | None, level: int = 0) -> None:
    pad = "" if indent is None else "\n" + " " * (indent * (level + 1))
    end = "" if indent is None else "\n" + " " * (indent * level)
    sep = ", " if indent is None else ","
    if isinstance(value, NoteSlot):
        _write_note(b, value)
    elif isinstance(value, Slot):
        text = json.dumps(value.value)
        quoted = text.startswith('"')
        if quoted:
            b.add('"')
        (b.neg if value.negative else b.phi)(value.label, text[1:-1] if quoted else text)
        if quoted:
            b.add('"')
    elif isinstance(value, dict):
        b.add("{")
        for i, (key, item) in enumerate(value.items()):
            b.add((sep if i else "") + pad + json.dumps(key) + ": ")
            _write_json(b, item, indent, level + 1)
        b.add(end + "}" if value else "}")
    elif isinstance(value, list):
        b.add("[")
        for i, item in enumerate(value):
            b.add((sep if i else "") + pad)
            _write_json(b, item, indent, level + 1)
        b.add(end + "]" if value else "]")
    else:
        b.add(json.dumps(value))


def json_record(r: random.Random) -> Doc:
    p = person(r)
    fhir = r.random() < 0.4
    if fhir:
        record: dict[str, object] = {
            "resourceType": "Patient",
            "id": f"{r.getrandbits(64):016x}",
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.4.1", "value": Slot("ssn", p.ssn.replace(" ", "-"))}, {"type": {"text": "MRN"}, "value": Slot("mrn", p.mrn)}],
            "name": [{"family": Slot("name", p.last), "given": [Slot("name", p.first)]}],
            "telecom": [{"system": "phone", "value": Slot("phone", p.phone)}, {"system": "email", "value": Slot("email", p.email)}],
            "birthDate": Slot("date", f"{r.randint(1930, 2005)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"),
            "address": [{"line": [Slot("address", p.street)], "city": Slot("address", p.city), "state": p.state, "postalCode": Slot("zip", p.zip)}],
            "meta": {"versionId": Slot("version", str(r.randint(1, 30)), negative=True), "profile": Slot("version", f"{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 20)}", negative=True)},
        }
    else:
        record = {
            "trace_id": Slot("hex_id", f"{r.getrandbits(128):032x}", negative=True),
            r.choice(["patient_name", "patientName", "name"]): Slot("name", p.full),
            r.choice(["dob", "dateOfBirth", "birth_date"]): Slot("date", p.dob),
            "age": Slot("age", p.age) if p.age > 89 else Slot("age_under_90", p.age, negative=True),
            "mrn": Slot("mrn", int(p.mrn) if p.mrn.isdigit() and not p.mrn.startswith("0") and r.random() < 0.5 else p.mrn),
            "ssn": Slot("ssn", p.ssn),
            "contact": {"phone": Slot("phone", p.phone), "email": Slot("email", p.email), "address": {"street": Slot("address", p.street), "city": Slot("address", p.city), "state": p.state, "zip": Slot("zip", p.zip)}},
            "insurance": {"payer": r.choice(["Medicare", "Aetna", "BCBS"]), "member_id": Slot("health_plan", gen_member(r)), "mbi": Slot("mbi", gen_mbi(r))},
            "provider": {"name": Slot("name", f"Dr. {r.choice(FIRST)} {r.choice(LAST)}"), "npi": Slot("npi", gen_npi(r)), "dea": Slot("dea", gen_dea(r))},
            "encounters": [
                {"date": Slot("date", gen_date(r)), "icd10": Slot("icd10", r.choice(ICD10), negative=True), "cpt": Slot("cpt", r.choice(CPT), negative=True), "note": _note_slot(r, p)}
                for _ in range(r.randint(1, 3))
            ],
            "medications": [{"name": r.choice(DRUGS), "dose": Slot("dosage", f"{r.choice([5, 10, 20, 500])} mg", negative=True)} for _ in range(r.randint(1, 3))],
            "schema_version": Slot("version", f"{r.randint(1, 5)}.{r.randint(0, 9)}.{r.randint(0, 9)}", negative=True),
        }
    b = Builder("json_record")
    _write_json(b, record, r.choice([None, 2]))
    return b.doc()


def _note_slot(r: random.Random, p: Person) -> NoteSlot:
    """A free-text note inside JSON: spans are labelled inside the string."""
    return NoteSlot([("", "Called "), ("name", p.first), ("", " at "), ("phone", gen_phone(r)), ("", " re: results drawn "), ("date", gen_date(r)), ("", ".")])


class NoteSlot:
    """A JSON string of free text whose identifiers are labelled inside it."""

    def __init__(self, pieces: list[tuple[str, str]]) -> None:
        self.pieces = pieces


def _write_note(b: Builder, note: NoteSlot) -> None:
    b.add('"')
    for label, text in note.pieces:
        escaped = json.dumps(text)[1:-1]
        (b.phi(label, escaped) if label else b.add(escaped))
    b.add('"')


def csv_export(r: random.Random) -> Doc:
    b = Builder("csv_export")
    columns = r.choice(
        [
            ["patient_name", "dob", "mrn", "phone", "zip", "icd10", "visit_date"],
            ["Last Name", "First Name", "DOB", "SSN", "Email", "Diagnosis"],
            ["mrn", "name", "admit_date", "discharge_date", "attending_npi", "cpt"],
        ]
    )
    b.add(",".join(columns) + "\n")
    for _ in range(r.randint(3, 12)):
        p = person(r)
        cells: list[Callable[[], None]] = []
        for column in columns:
            key = column.lower().replace(" ", "_")
            value: tuple[str, str, bool]
            if key in ("patient_name", "name"):
                full = f"{p.last}, {p.first}" if r.random() < 0.5 else p.full
                value = ("name", f'"{full}"' if "," in full else full, False)
            elif key == "last_name":
                value = ("name", p.last, False)
            elif key == "first_name":
                value = ("name", p.first, False)
            elif key in ("dob",):
                value = ("date", p.dob.replace(",", ""), False)
            elif key in ("visit_date", "admit_date", "discharge_date"):
                value = ("date", gen_date(r).replace(",", ""), False)
            elif key == "mrn":
                value = ("mrn", p.mrn, False)
            elif key == "phone":
                value = ("phone", p.phone, False)
            elif key == "zip":
                value = ("zip", p.zip, False)
            elif key == "ssn":
                value = ("ssn", p.ssn, False)
            elif key == "email":
                value = ("email", p.email, False)
            elif key == "attending_npi":
                value = ("npi", gen_npi(r), False)
            elif key in ("icd10", "diagnosis"):
                value = ("icd10", r.choice(ICD10), True)
            else:
                value = ("cpt", r.choice(CPT), True)
            cells.append(lambda v=value: _csv_cell(b, *v))
        for i, write in enumerate(cells):
            if i:
                b.add(",")
            write()
        b.add("\n")
    return b.doc()


def _csv_cell(b: Builder, label: str, text: str, negative: bool) -> None:
    if text.startswith('"'):
        b.add('"')
        (b.neg if negative else b.phi)(label, text[1:-1])
        b.add('"')
    else:
        (b.neg if negative else b.phi)(label, text)


GENERATORS: tuple[Callable[[random.Random], Doc], ...] = (clinical_note, lab_report, discharge_summary, json_record, csv_export)


def corpus(n: int = 400, seed: int = SEED) -> list[Doc]:
    """``n`` documents, cycling through the five kinds, reproducible for a seed."""
    r = random.Random(seed)
    return [GENERATORS[i % len(GENERATORS)](r) for i in range(n)]


def free_text(size: int, seed: int = SEED) -> str:
    """About ``size`` characters of clinical prose (notes, lab reports, summaries)."""
    r = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        doc = r.choice(GENERATORS[:3])(r)
        parts.append(doc.text)
        total += len(doc.text) + 1
    return "\n".join(parts)[:size]


def json_records(size: int, seed: int = SEED) -> list[object]:
    """Parsed JSON patient records adding up to about ``size`` bytes of JSON text."""
    r = random.Random(seed)
    records: list[object] = []
    total = 0
    while total < size:
        record = json.loads(json_record(r).text)
        records.append(record)
        total += len(json.dumps(record)) + 2
    return records


# --------------------------------------------------------------------------- scoring


@dataclass
class Scores:
    """Recall per gold label, precision per predicted label, false positives per negative kind."""

    recall: dict[str, tuple[int, int]] = field(default_factory=dict)
    precision: dict[str, tuple[int, int]] = field(default_factory=dict)
    negatives: dict[str, tuple[int, int]] = field(default_factory=dict)

    def recall_of(self, labels: Iterable[str]) -> float:
        hit = sum(self.recall.get(label, (0, 0))[0] for label in labels)
        total = sum(self.recall.get(label, (0, 0))[1] for label in labels)
        return hit / total if total else 1.0

    @property
    def overall_precision(self) -> float:
        tp = sum(t for t, _ in self.precision.values())
        total = sum(n for _, n in self.precision.values())
        return tp / total if total else 1.0

    @property
    def residual(self) -> tuple[int, int]:
        """Identifiers with at least one letter or digit left visible, out of all."""
        missed = sum(total - hit for hit, total in self.recall.values())
        return missed, sum(total for _, total in self.recall.values())


def score(docs: Iterable[Doc], predict: Callable[[str], list[tuple[int, int, str]]]) -> Scores:
    """Score a detector: ``predict(text)`` returns ``(start, end, entity)`` spans it would mask.

    A gold identifier counts as found when every letter and digit in it is covered
    by some predicted span (whatever entity was named: what matters is that it is
    hidden).  A predicted span is correct when it overlaps a gold span.
    """
    recall: Counter[str] = Counter()
    recall_total: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    neg_hits: Counter[str] = Counter()
    neg_total: Counter[str] = Counter()
    for doc in docs:
        found = predict(doc.text)
        covered = bytearray(len(doc.text))
        for start, end, _ in found:
            covered[start:end] = b"\x01" * (end - start)
        for span in doc.spans:
            recall_total[span.label] += 1
            if all(covered[i] or not doc.text[i].isalnum() for i in range(span.start, span.end)):
                recall[span.label] += 1
        for start, end, entity in found:
            predicted[entity] += 1
            if any(s.start < end and start < s.end for s in doc.spans):
                correct[entity] += 1
        for span in doc.negatives:
            neg_total[span.label] += 1
            if any(start < span.end and span.start < end for start, end, _ in found):
                neg_hits[span.label] += 1
    return Scores(
        recall={label: (recall[label], recall_total[label]) for label in sorted(recall_total)},
        precision={label: (correct[label], predicted[label]) for label in sorted(predicted)},
        negatives={label: (neg_hits[label], neg_total[label]) for label in sorted(neg_total)},
    )


_REDACTED = re.compile(r'"(?:\[(?P<whole>[A-Z][A-Z0-9_]*)\]|(?P<whole_age>90\+))"|\[(?P<part>[A-Z][A-Z0-9_]*)\]|(?<![\w.])(?P<part_age>90\+)')


def spans_from_redacted(original: str, masked: str) -> list[tuple[int, int, str]]:
    """Recover which spans of ``original`` a masker replaced by ``[LABEL]`` placeholders (or ``90+``).

    Works for any masker that only replaces substrings (JSON re-serialised the
    same way; a masked JSON number may have become a quoted string).  Returns
    ``(start, end, entity)`` like a detector would.
    """
    parts: list[str] = []
    labels: list[str] = []
    pos = 0
    for i, m in enumerate(_REDACTED.finditer(masked)):
        parts.append(re.escape(masked[pos : m.start()]))
        if m.group("whole") or m.group("whole_age"):  # a whole JSON string, or a number that became one
            parts.append(f'(?:"(?P<q{i}>.*?)"|(?P<n{i}>-?\\d[\\d.eE+-]*))')
        else:
            parts.append(f"(?P<s{i}>.+?)")
        labels.append((m.group("whole") or m.group("part") or "age").lower())
        pos = m.end()
    parts.append(re.escape(masked[pos:]))
    match = re.fullmatch("".join(parts), original, re.DOTALL)
    if match is None:
        raise ValueError("the masked text is not the original with substrings replaced")
    spans = []
    for i, label in enumerate(labels):
        name = next(n for n in (f"q{i}", f"n{i}", f"s{i}") if match.groupdict().get(n) is not None)
        spans.append((match.start(name), match.end(name), label))
    return spans
