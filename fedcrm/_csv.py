"""CSV cells that a spreadsheet opens as text, not as formulas (CSV injection, OWASP)."""

from __future__ import annotations

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
