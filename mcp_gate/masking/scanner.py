"""Find PHI in one string: a few fast regex passes, each candidate checked before it counts.

Passes, each led by a character class so ``re`` skips the text in C:
digits (SSNs, dates, phones, cards, IPv4, street numbers, ages, identifier tokens),
capitals (names after titles/labels/credentials/relations, month-name dates),
separators (MAC, IPv6), ``@`` (e-mail), ``http``/``www.`` (URL), custom regexes,
and, when names were found, their other mentions.  Overlaps are resolved by rank
(validated identifiers beat shapes, shapes beat names).  With ``explain`` the
candidates that failed their check are returned too, marked ``masked=False``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mcp_gate.config import CustomEntity
from mcp_gate.masking import patterns as P
from mcp_gate.masking import validators as V
from mcp_gate.masking.tables import column_spans

CONTEXT_WINDOW = 48
"""How far before a number its label may start (``Social Security Number: ``)."""

RANK = {
    "key": 100, "custom": 95, "checksum": 90, "format": 80, "date": 70, "context": 60,
    "address": 50, "age": 45, "cue": 40, "memory": 30,
}  # fmt: skip
"""When two findings overlap the higher rank wins (then the longer one)."""

MAX_NAMES = 10_000
"""Names remembered per session, at most: enough for any conversation, bounded for memory."""

CONTEXT_ENTITIES = ("mrn", "account", "health_plan", "license", "device", "vin")
"""Identifiers with no checksum: found only after a label that names them."""


@dataclass(slots=True)
class Finding:
    """One span of PHI (or, for ``explain``, a rejected candidate)."""

    entity: str
    start: int
    end: int
    detector: str
    """How it was found: ``pattern``, ``context``, ``cue``, ``key``, ``column``, ``memory``, ``custom``."""
    check: str = ""
    """The validator's verdict, e.g. ``luhn ok``; empty when none applies."""
    rank: int = 0
    masked: bool = True

    def overlaps(self, other: Finding) -> bool:
        return self.start < other.end and other.start < self.end


class Allowlist:
    """Literal values and regexes that are never masked."""

    def __init__(self, literals: Iterable[str] = (), regexes: Iterable[str] = ()) -> None:
        self.literals = frozenset(literals)
        self.regexes = [re.compile(r) for r in regexes]

    def __bool__(self) -> bool:
        return bool(self.literals or self.regexes)

    def allows(self, value: str) -> bool:
        return value in self.literals or any(r.fullmatch(value) for r in self.regexes)


class Scanner:
    """The detectors for one set of enabled entities, region and custom entities."""

    def __init__(
        self,
        entities: Iterable[str],
        *,
        region: str = "US",
        custom: Iterable[CustomEntity] = (),
        allow: Allowlist | None = None,
    ) -> None:
        self.entities = frozenset(entities)
        self.phone = V.PhoneValidator(region)
        self.custom = [_Custom(c.name, re.compile(c.regex), tuple(w.lower() for w in c.context), c.validator or "") for c in custom if c.name in self.entities]
        self.allow = allow or Allowlist()
        self._digit_handlers: dict[str, Callable[[_Run, re.Match[str]], Finding | None]] = {
            "ssn": self._ssn,
            "iso_date": self._iso_date,
            "num_date": self._num_date,
            "day_month_date": self._day_month_date,
            "ipv4": self._ipv4,
            "card": self._card,
            "iban_spaced": self._iban_spaced,
            "phone": self._phone,
            "paren_phone": self._phone,
            "national_phone": self._phone,
            "intl_phone": self._phone,
            "street": self._street,
            "short_date": self._short_date,
            "age": self._age,
            "age_context": self._age,
        }

    # ------------------------------------------------------------------ entry point

    def scan(
        self,
        text: str,
        names: set[str] | None = None,
        *,
        columns: Callable[[str, list[str]], str | None] | None = None,
        explain: bool = False,
    ) -> list[Finding]:
        """Non-overlapping findings in ``text``, in order.

        ``names`` are person names already known (from JSON keys or earlier
        results of the session): their other mentions are masked too, and
        names this scan finds are added to the set.
        ``columns`` maps a CSV header cell (and all header cells) to its column's entity.
        """
        run = _Run(text, explain)
        if columns is not None:
            for start, end, entity in column_spans(text, columns):
                if entity == "name":
                    self._add_name(run, start, end, "column")
                else:
                    run.found.append(_found(entity, start, end, "column", "", "key", True))
        self._digits(run)
        if self.entities & {"name", "date"}:
            self._capitals(run)
        if self.entities & {"mac", "ip"}:
            self._separators(run)
        if "email" in self.entities and "@" in text:
            self._emails(run)
        if "url" in self.entities and ("http" in text or "www." in text):
            self._urls(run)
        for custom in self.custom:
            self._custom(run, custom)
        known = run.names.union(names or ())
        if known and "name" in self.entities:
            self._memory(run, known)
        if names is not None and len(names) < MAX_NAMES:
            names.update(run.names)
        return self.resolve(run.found, text, run.rejected if explain else None)

    def resolve(self, found: list[Finding], text: str, rejected: list[Finding] | None = None) -> list[Finding]:
        """Keep enabled, non-allowlisted findings; of overlapping ones the best ranked."""
        kept: list[Finding] = []
        for f in sorted(found, key=lambda f: (f.start, -f.end)):
            if f.entity not in self.entities or (self.allow and self.allow.allows(text[f.start : f.end])):
                if rejected is not None:
                    f.masked, f.check = False, f.check or ("allowlisted" if f.entity in self.entities else "entity not enabled")
                    rejected.append(f)
                continue
            if kept and kept[-1].overlaps(f):
                last = kept[-1]
                if (f.rank, f.end - f.start) > (last.rank, last.end - last.start):
                    kept[-1] = f
                continue
            kept.append(f)
        if rejected is not None:
            for f in rejected:
                f.masked = False
            return sorted(kept + rejected, key=lambda f: (f.start, not f.masked))
        return kept

    # ------------------------------------------------------------------ digits

    def _digits(self, run: _Run) -> None:
        text, search, handlers = run.text, P.DIGIT_SCAN.search, self._digit_handlers
        pos = 0
        while match := search(text, pos):
            start = match.start()
            kind = match.lastgroup or "token"
            if start > 0 and "A" <= text[start - 1] <= "Z" and kind != "iban_spaced":
                kind = "token"  # digits inside a code ("CH4719…", "MRN123…") are no card or date
            finding = None if kind == "token" else handlers[kind](run, match)
            skip = start + 1
            if finding is None or not finding.masked:
                # A shape that failed its check may still be an identifier token.
                token = _TOKEN.match(text, start)
                if token is not None:
                    finding = self._token_span(run, start, token.end()) or finding
                    skip = token.end()  # the rest of a rejected code is no identifier either
            if finding is not None and finding.masked:
                run.found.append(finding)
                pos = max(finding.end, match.end())
            elif finding is not None:
                # A complete shape that failed its check is skipped whole: its parts
                # ("5732 7107 7440 4394" inside a bad IBAN) are no identifiers either.
                if run.explain:
                    run.rejected.append(finding)
                pos = max(finding.end, skip)
            else:
                pos = skip
            if match.lastgroup in ("age", "age_context") and "name" in self.entities:
                self._name_before_age(run, start)

    def _ssn(self, run: _Run, m: re.Match[str]) -> Finding:
        ok = V.ssn(m.group())
        return _found("ssn", m.start(), m.end(), "pattern", "ssn ranges ok" if ok else "ssn ranges invalid", "checksum", ok)

    def _iso_date(self, run: _Run, m: re.Match[str]) -> Finding:
        year, month, day = (int(x) for x in re.split(r"[-/.]", m.group()[:10].split("T")[0].split(" ")[0])[:3])
        ok = 1800 <= year <= 2199 and V.date_parts(year, month, day)
        return _found("date", m.start(), m.end(), "pattern", "calendar ok" if ok else "not a calendar date", "date", ok)

    def _num_date(self, run: _Run, m: re.Match[str]) -> Finding:
        a, b, year_text = re.split(r"[-/.]", m.group())
        first, second, year = int(a), int(b), int(year_text)
        if len(year_text) == 4 and not 1800 <= year <= 2199:
            ok = False
        else:
            ok = V.date_parts(2000, first, second) or V.date_parts(2000, second, first)
        return _found("date", m.start(), m.end(), "pattern", "calendar ok" if ok else "not a calendar date", "date", ok)

    def _day_month_date(self, run: _Run, m: re.Match[str]) -> Finding:
        ok = 1 <= int(re.match(r"\d+", m.group()).group()) <= 31  # type: ignore[union-attr]
        return _found("date", m.start(), m.end(), "pattern", "calendar ok" if ok else "no such day", "date", ok)

    def _ipv4(self, run: _Run, m: re.Match[str]) -> Finding:
        ok = V.ipv4(m.group())
        return _found("ip", m.start(), m.end(), "pattern", "octets ok" if ok else "not a host address", "checksum", ok)

    def _card(self, run: _Run, m: re.Match[str]) -> Finding:
        ok = V.credit_card(m.group())
        return _found("credit_card", m.start(), m.end(), "pattern", "luhn ok" if ok else "luhn failed", "checksum", ok)

    def _iban_spaced(self, run: _Run, m: re.Match[str]) -> Finding | None:
        text = run.text
        start = m.start() - 2
        if start < 0 or not text[start : m.start()].isupper() or not text[start : m.start()].isalpha():
            return None
        if start > 0 and text[start - 1].isalnum():
            return None
        ok = V.iban(text[start : m.end()])
        return _found("iban", start, m.end(), "pattern", "mod-97 ok" if ok else "mod-97 failed", "checksum", ok)

    def _phone(self, run: _Run, m: re.Match[str]) -> Finding:
        ok = self.phone.valid(m.group())
        end = m.end()
        if ok and (ext := _EXTENSION.match(run.text, end)):
            end = ext.end()
        return _found("phone", m.start(), end, "pattern", "phonenumbers valid" if ok else "phonenumbers invalid", "format", ok)

    def _short_date(self, run: _Run, m: re.Match[str]) -> Finding:
        """Month/day without a year: a date only after a word that introduces one ("seen 3/5")."""
        month, day = (int(x) for x in m.group().split("/"))
        cue = P.DATE_CUE_BEFORE.search(run.text, max(0, m.start() - 24), m.start()) is not None
        ok = cue and V.date_parts(2000, month, day)
        check = "calendar ok after a date word" if ok else ("no date word before" if not cue else "not a calendar date")
        return _found("date", m.start(), m.end(), "pattern", check, "date", ok)

    def _street(self, run: _Run, m: re.Match[str]) -> Finding:
        return _found("address", m.start(), m.end(), "pattern", "", "address", True)

    def _age(self, run: _Run, m: re.Match[str]) -> Finding:
        number = re.match(r"\d+", m.group()).group()  # type: ignore[union-attr]
        ok = 90 <= int(number) <= 130
        return _found("age", m.start(), m.start() + len(number), "pattern", "over 89" if ok else "89 or under: not PHI", "age", ok)

    def _name_before_age(self, run: _Run, start: int) -> None:
        """"John Smith is a 67-year-old …": the name before an age phrase."""
        before = run.text[max(0, start - 60) : start]
        if m := _IS_A_BEFORE.search(before):
            offset = start - len(before)
            self._add_name(run, offset + m.start(1), offset + m.end(1), "cue")

    def _token_span(self, run: _Run, start: int, end: int) -> Finding | None:
        """A run of digits and capitals: an identifier when its shape, checksum or label says so."""
        text = run.text
        while start > 0 and (text[start - 1].isupper() or text[start - 1].isdigit()) and text[start - 1].isascii():
            start -= 1
        if start > 1 and text[start - 1] == "-" and text[start - 2].isupper():
            start -= 2
            while start > 0 and text[start - 1].isupper():
                start -= 1
        value = text[start:end]
        compact = value.replace("-", "")
        if len(compact) < 5 or (start > 0 and text[start - 1].isalpha()):
            return None
        digits_only = compact.isdigit()
        if not digits_only:  # VIN, DEA, MBI and IBAN all have letters
            for entity, check in _SHAPE_CHECKS:
                if P.ID_SHAPES[entity].fullmatch(value if entity == "mbi" else compact) and check(compact):
                    return _found(entity, start, end, "pattern", f"{check.__name__} ok", "checksum", True)
        label, near = _context(text, start)
        if label is None and (prefix := _LETTER_PREFIX.match(value)) is not None:
            # "MRN-004211", "ACCT55501": the code carries its own label.
            label = P.CONTEXT_TERMS.get(prefix.group().lower())
        if digits_only:
            finding = self._number(run, start, end, compact, label, near, plain=len(compact) == len(value))
            if finding is not None:
                return finding
        if label in CONTEXT_ENTITIES:
            return _found(label, start, end, "context", f"after '{label}' label", "context", True)
        return _found("identifier", start, end, "context", "no label, no checksum", "context", False) if run.explain else None

    def _number(self, run: _Run, start: int, end: int, digits: str, label: str | None, near: frozenset[str], *, plain: bool) -> Finding | None:
        """A number without letters; ``plain`` when it has no hyphens (hyphenated phones and
        cards have their own patterns, so a hyphenated number here is some other code)."""
        text = run.text
        n = len(digits)
        if label == "ssn" or ("ssn" in near and n == 9):
            ok = n == 9 and V.ssn(digits)
            return _found("ssn", start, end, "context", "ssn ranges ok" if ok else "ssn ranges invalid", "checksum", ok)
        if "npi" in near and n == 10:
            ok = V.npi(digits)
            return _found("npi", start, end, "context", "npi luhn ok" if ok else "npi luhn failed", "checksum", ok)
        if "dea" in near:
            return None
        if n in (5, 9) and (label == "zip" or P.STATE_BEFORE.search(text, max(0, start - 6), start)):
            self._city_before(run, start)
            return _found("zip", start, end, "context", "after state or 'zip'", "address", True)
        if plain and 13 <= n <= 19 and label not in CONTEXT_ENTITIES and V.credit_card(digits):
            return _found("credit_card", start, end, "pattern", "luhn ok", "checksum", True)
        if plain and n in (10, 11) and label not in CONTEXT_ENTITIES and self.phone.valid(digits):
            if ext := _EXTENSION.match(text, end):
                end = ext.end()
            return _found("phone", start, end, "pattern", "phonenumbers valid", "format", True)
        if label == "dob" and n == 8 and V.date_parts(int(digits[:4]), int(digits[4:6]), int(digits[6:])):
            return _found("date", start, end, "context", "yyyymmdd after 'dob'", "date", True)
        return None

    def _city_before(self, run: _Run, zip_start: int) -> None:
        """"Springfield" in "Springfield, IL 62704" is an address too."""
        text = run.text
        state = P.STATE_BEFORE.search(text, max(0, zip_start - 6), zip_start)
        if state is None:
            return
        window_start = max(0, state.start() - 40)
        if city := P.CITY_BEFORE.search(text, window_start, state.start()):
            run.found.append(_found("address", city.start(1), city.end(1), "context", "city before state and zip", "address", True))

    # ------------------------------------------------------------------ capitals: names and month dates

    def _capitals(self, run: _Run) -> None:
        text = run.text
        want_names = "name" in self.entities
        for m in P.CAPS_SCAN.finditer(text):
            kind = m.lastgroup
            if kind == "month":
                self._month_date(run, m)
            elif kind == "po_box":
                if "address" in self.entities:
                    run.found.append(_found("address", m.start(), m.end(), "pattern", "", "address", True))
            elif not want_names:
                continue
            elif kind == "credential":
                before = text[max(0, m.start() - 60) : m.start()]
                if nm := P.NAME_BEFORE.search(before):
                    offset = m.start() - len(before)
                    self._add_name(run, offset + nm.start(1), offset + nm.end(1), "cue")
            else:
                self._name_at(run, m.end() if kind in ("title", "label") else m.start())

    def _month_date(self, run: _Run, m: re.Match[str]) -> None:
        value = m.group()
        day = re.search(r"[ \t](\d{1,2})(?!\d)", value)
        ok = day is None or 1 <= int(day.group(1)) <= 31
        finding = _found("date", m.start(), m.end(), "pattern", "calendar ok" if ok else "no such day", "date", ok)
        (run.found if ok else run.rejected).append(finding)

    def _name_at(self, run: _Run, pos: int) -> None:
        """The name right after a cue: "Smith, John", "JOHN SMITH", or up to three words."""
        text = run.text
        m = P.NAME_AFTER_CUE.match(text, pos)
        if m is None:
            return
        end = m.end()
        if m.lastgroup == "first":
            if m.group().split()[-1] in P.NAME_STOP:  # "Patient: Date of …", "Attending: Dr. …"
                return
            for _ in range(2):
                more = P.NAME_CONTINUATION.match(text, end)
                if more is None or more.group("more") in P.NAME_STOP:
                    break
                end = more.end()
        elif any(part.strip(" \t,").capitalize() in P.NAME_STOP for part in m.group().split(",")[:1]):
            return
        self._add_name(run, m.start(), end, "cue")

    def _add_name(self, run: _Run, start: int, end: int, detector: str) -> None:
        run.found.append(_found("name", start, end, detector, "", "key" if detector == "column" else "cue", True))
        for word in _NAME_WORD.findall(run.text, start, end):
            word = word.title() if word.isupper() else word
            for part in (word, *word.split("-")):  # "Al-Sayed" is also mentioned as "Sayed"
                if len(part) > 2 and part not in P.NAME_STOP:
                    run.names.add(part)

    def _memory(self, run: _Run, names: set[str]) -> None:
        """Other mentions of names already found ("Mr. Jackson … Jackson tolerated …")."""
        text = run.text
        last: Finding | None = None
        for m in _CAP_WORD.finditer(text):
            if m.group() not in names:  # names hold the words of names found, at least 3 letters
                continue
            if last is not None and not text[last.end : m.start()].strip(" \t"):
                last.end = m.end()  # "John Smith" is one name, not two
            else:
                last = _found("name", m.start(), m.end(), "memory", "name seen before", "memory", True)
                run.found.append(last)

    # ------------------------------------------------------------------ separators, e-mail, URL, custom

    def _separators(self, run: _Run) -> None:
        text = run.text
        pos = 0
        while m := P.HEX_SCAN.search(text, pos):
            allowed = {"colon": _HEX_COLON, "dash": _HEX_DASH, "dot": _HEX_DOT}[m.lastgroup or "colon"]
            start = m.start()
            while start > 0 and text[start - 1] in allowed:
                start -= 1
            end = m.end()
            while end < len(text) and text[end] in allowed:
                end += 1
            value = text[start:end].rstrip(".:-")
            end = start + len(value)
            pos = end if end > m.start() else m.end()
            if (start == 0 or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
                if P.MAC.fullmatch(value):
                    run.found.append(_found("mac", start, end, "pattern", "mac format", "checksum", True))
                elif V.ipv6(value):
                    run.found.append(_found("ip", start, end, "pattern", "ipv6 parses", "checksum", True))

    def _emails(self, run: _Run) -> None:
        text = run.text
        for m in P.EMAIL_DOMAIN.finditer(text):
            start = m.start()
            while start > 0 and text[start - 1] in P.EMAIL_LOCAL_CHARS:
                start -= 1
            while start < m.start() and text[start] in ".'-+":
                start += 1
            if start < m.start():
                run.found.append(_found("email", start, m.end(), "pattern", "address format", "checksum", True))

    def _urls(self, run: _Run) -> None:
        text = run.text
        for pattern in P.URL_SCANS:
            for m in pattern.finditer(text):
                start = m.start()
                if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "./@"):
                    continue
                value = m.group().rstrip(P.URL_TRAILING)
                run.found.append(_found("url", start, start + len(value), "pattern", "", "checksum", True))

    def _custom(self, run: _Run, custom: _Custom) -> None:
        text = run.text
        validate = V.VALIDATORS.get(custom.validator)
        for m in custom.pattern.finditer(text):
            if m.end() == m.start():
                continue
            if custom.context:
                window = text[max(0, m.start() - CONTEXT_WINDOW) : m.start()].lower()
                if not any(word in window for word in custom.context):
                    if run.explain:
                        run.rejected.append(_found(custom.name, m.start(), m.end(), "custom", "no context word", "custom", False))
                    continue
            ok = validate is None or validate(m.group())
            check = f"{custom.validator} {'ok' if ok else 'failed'}" if custom.validator else ""
            (run.found if ok else run.rejected).append(_found(custom.name, m.start(), m.end(), "custom", check, "custom", ok))


@dataclass(frozen=True)
class _Custom:
    """A custom entity from the config, compiled."""

    name: str
    pattern: re.Pattern[str]
    context: tuple[str, ...]
    validator: str
    """A key of ``validators.VALIDATORS``, or empty for none."""

class _Run:
    """State of one scan: the text, what was found, names seen, rejected candidates."""

    __slots__ = ("text", "explain", "found", "rejected", "names")

    def __init__(self, text: str, explain: bool) -> None:
        self.text = text
        self.explain = explain
        self.found: list[Finding] = []
        self.rejected: list[Finding] = []
        self.names: set[str] = set()


def _found(entity: str, start: int, end: int, detector: str, check: str, rank: str, ok: bool) -> Finding:
    return Finding(entity, start, end, detector, check, RANK[rank], ok)


def _context(text: str, start: int) -> tuple[str | None, frozenset[str]]:
    """The label right before ``start`` (if the nearest context word is one) and all words near it."""
    window_start = max(0, start - CONTEXT_WINDOW)
    window = text[window_start:start]
    cut = max(window.rfind("\x00"), window.rfind("\n\n"))
    if cut >= 0:
        window = window[cut + 1 :]
    lowered = window.lower().replace("-", " ")
    matches = list(P.CONTEXT_SCAN.finditer(lowered))
    if not matches:
        return None, frozenset()
    near = frozenset(P.CONTEXT_TERMS[m.group()] for m in matches)
    last = matches[-1]
    label = P.CONTEXT_TERMS[last.group()] if P.LABEL_FILLER.match(lowered, last.end()) else None
    return label, near


_TOKEN = re.compile(P.DIGIT_BRANCHES["token"])
_LETTER_PREFIX = re.compile(r"[A-Z]{2,6}(?=-?\d)")
_EXTENSION = re.compile(r"[ \t]*(?:ext(?:ension)?\.?|x\.?|#)[ \t]*\d{1,6}\b", re.IGNORECASE)
_IS_A_BEFORE = re.compile(rf"(?:^|(?<=[\s(\"':;,]))((?:{P.NAME_TOKEN}[ \t]+){{0,2}}{P.NAME_TOKEN})[ \t]+(?:is|was)[ \t]+an?[ \t]+\Z")
_NAME_WORD = re.compile(rf"[{P.UPPER}{P.LOWER}][{P.UPPER}{P.LOWER}'’-]{{2,}}")
_CAP_WORD = re.compile(rf"[{P.UPPER}](?<![A-Za-z0-9_][{P.UPPER}])[{P.LOWER}][{P.UPPER}{P.LOWER}'’-]+")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:.")
_HEX_DASH = frozenset("0123456789abcdefABCDEF-")
_HEX_DOT = frozenset("0123456789abcdefABCDEF.")
_SHAPE_CHECKS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("vin", V.vin),
    ("dea", V.dea),
    ("mbi", V.mbi),
    ("iban", V.iban),
)
