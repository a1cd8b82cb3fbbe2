"""``read_records``: unreadable record files end in a FeatureError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from fedcrm.errors import FeatureError
from fedcrm.features.canonical import read_records


def test_an_empty_records_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "Account.csv").write_bytes(b"")
    with pytest.raises(FeatureError, match="empty file") as caught:
        read_records(tmp_path)
    assert str(tmp_path / "Account.csv") in str(caught.value)


def test_a_malformed_records_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Account.csv").write_text("Id,Name\n1,a\n2,b,c\n")
    with pytest.raises(FeatureError, match="cannot read CSV") as caught:
        read_records(tmp_path)
    assert "\n" not in str(caught.value)
