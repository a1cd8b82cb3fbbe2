"""CSV cells that a spreadsheet opens as text, not as formulas (CSV injection, OWASP)."""

from __future__ import annotations

#: a cell starting with one of these is evaluated as a formula by spreadsheet programs
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text: a leading ``'`` before a cell that
    starts like a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return)."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_unescaped(value: str) -> str:
    """Undo :func:`csv_safe`: drop the ``'`` in front of a formula-like cell (a ``'`` in front
    of anything else is the writer's and stays)."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
