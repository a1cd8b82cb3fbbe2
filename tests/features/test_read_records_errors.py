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


def test_a_spreadsheet_saved_with_semicolons_is_read(tmp_path: Path) -> None:
    # Excel in many European locales saves CSV with ";" (it was one column "Id;Name;…")
    (tmp_path / "Account.csv").write_text("\ufeffId;Name;AnnualRevenue\n1;Acme, Inc.;1.234,5\n",
                                          encoding="utf-8")
    table = read_records(tmp_path)["Account"]
    assert list(table.columns) == ["Id", "Name", "AnnualRevenue"]
    assert table.iloc[0].tolist() == ["1", "Acme, Inc.", "1.234,5"]


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    # pandas would keep both as Area__c and Area__c.1, and only the first would be read
    (tmp_path / "Account.csv").write_text("Id,Area__c,Name,Area__c\n1,10,a,20\n")
    with pytest.raises(FeatureError, match=r"Account\.csv: column\(s\) \['Area__c'\] appear "
                                           r"more than once"):
        read_records(tmp_path)
