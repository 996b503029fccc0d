"""CSV text: a header that names identifier columns masks those columns' cells whole.

Tools export tables as CSV text; a ``patient_name`` or ``DOB`` column is the
same evidence a JSON key is.  Only text whose first line is a header of at
least two cells, one of them a known or configured key, is treated as a table.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_CELL = re.compile(r'"((?:[^"]|"")*)"|([^,\n]*)')


def _cells(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the cell contents of one line (inside quotes, trimmed); [] if it is not CSV."""
    if end > start and text[end - 1] == "\r":
        end -= 1
    spans = []
    pos = start
    while True:
        m = _CELL.match(text, pos, end)
        assert m is not None  # the second alternative matches the empty string
        group = 1 if m.group(1) is not None else 2
        cell_start, cell_end = m.start(group), m.end(group)
        while cell_start < cell_end and text[cell_start] in " \t":
            cell_start += 1
        while cell_end > cell_start and text[cell_end - 1] in " \t":
            cell_end -= 1
        spans.append((cell_start, cell_end))
        pos = m.end()
        if pos >= end:
            return spans
        if text[pos] != ",":
            return []
        pos += 1


def column_spans(text: str, column_entity: Callable[[str, list[str]], str | None]) -> list[tuple[int, int, str]]:
    """``(start, end, entity)`` for every non-empty cell under an identifier column."""
    first_end = text.find("\n")
    if first_end <= 0 or "," not in text[:first_end]:
        return []
    header = _cells(text, 0, first_end)
    if len(header) < 2:
        return []
    names = [text[s:e] for s, e in header]
    entities = [column_entity(name, names) for name in names]
    if not any(entities):
        return []
    found: list[tuple[int, int, str]] = []
    line_start = first_end + 1
    while line_start < len(text):
        line_end = text.find("\n", line_start)
        if line_end < 0:
            line_end = len(text)
        cells = _cells(text, line_start, line_end)
        if len(cells) == len(header):
            found.extend((s, e, entity) for (s, e), entity in zip(cells, entities) if entity and e > s)
        line_start = line_end + 1
    return found
