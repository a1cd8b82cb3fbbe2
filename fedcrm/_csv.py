"""CSV cells that a spreadsheet opens as text, not as formulas (CSV injection, OWASP), and
CSV rows with their line numbers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

#: a cell starting with one of these is evaluated as a formula by spreadsheet programs
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text: a leading ``'`` before a cell that
    starts like a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return), and before a cell
    that starts with ``'`` and then such a character, so that :func:`csv_unescaped` gives
    every cell back as it was (``'=x`` was read back as ``=x``)."""
    if value.startswith(FORMULA_STARTS) or (value.startswith("'")
                                            and value[1:].lstrip("'").startswith(FORMULA_STARTS)):
        return f"'{value}"
    return value


def csv_unescaped(value: str) -> str:
    """Undo :func:`csv_safe`: drop one ``'`` in front of a formula-like cell, or of ``'``s
    before one (a ``'`` in front of anything else is the writer's and stays)."""
    if value.startswith("'") and value[1:].lstrip("'").startswith(FORMULA_STARTS):
        return value[1:]
    return value


def rows_with_lines(handle: TextIO, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Each row of a CSV (the header too) with the line it starts on, counting the lines a
    quoted cell spans; cells of any length, as pandas reads them (the csv module's default
    limit is 128 KiB). Raises :class:`csv.Error` for a malformed file."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 2**31 - 1))
    try:
        reader = csv.reader(handle, delimiter=delimiter)
        line = 0
        for row in reader:
            yield line + 1, row
            line = reader.line_num
    finally:
        csv.field_size_limit(limit)
