"""CSV cells escaped against formula injection come back exactly as they were."""

from __future__ import annotations

import pytest

from fedcrm._csv import csv_safe, csv_unescaped


@pytest.mark.parametrize("value", ["=SUM(A1)", "+1", "-", "@x", "\tx", "'=not a formula",
                                   "''=twice", "'-", "'plain", "plain", "", "'"])
def test_every_cell_round_trips(value: str) -> None:
    # "'=not a formula" was read back as "=not a formula": its own ' was taken for the escape
    assert csv_unescaped(csv_safe(value)) == value


def test_formula_like_cells_open_as_text() -> None:
    assert csv_safe("=1+1") == "'=1+1" and csv_safe("'=1+1") == "''=1+1"
    assert csv_safe("'plain") == "'plain" and csv_safe("plain") == "plain"
