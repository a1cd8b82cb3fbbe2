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


def test_a_cut_off_records_file_is_refused(tmp_path: Path) -> None:
    # pandas would read the cut last line as a record whose missing cells are empty
    (tmp_path / "Account.csv").write_text('Id,Name,AnnualRevenue,Churned__c\n'
                                          '1,"Acme, Inc.",100,true\n2,Glob')
    with pytest.raises(FeatureError, match=r"Account\.csv: line 3 \(2 of 4 cells\) has fewer "
                                           "cells than the header") as caught:
        read_records(tmp_path)
    assert "\n" not in str(caught.value)
    # a quoted cell may span lines; blank lines are skipped, as pandas skips them
    (tmp_path / "Account.csv").write_text('Id,Name,AnnualRevenue,Churned__c\n'
                                          '1,"Acme\nInc.",100,true\n\n2,Globex,5,false\n')
    assert read_records(tmp_path)["Account"]["Name"].tolist() == ["Acme\nInc.", "Globex"]


def test_short_row_check_reads_what_pandas_reads(tmp_path: Path) -> None:
    """Lines of blanks only are skipped (pandas skips them too), a cell longer than the csv
    module's default limit is read, and a short row spanning lines is named by its first."""
    big = "x" * 200_000
    (tmp_path / "Account.csv").write_text(f'Id,Name,Note__c\n1,a,"{big}"\n   \n\t\n2,b,c\n')
    table = read_records(tmp_path)["Account"]
    assert table["Id"].tolist() == ["1", "2"] and len(table["Note__c"].iloc[0]) == 200_000
    (tmp_path / "Account.csv").write_text('Id,Name,Note__c\n1,"two\nlines"\n')
    with pytest.raises(FeatureError, match=r"line 2 \(2 of 3 cells\)"):
        read_records(tmp_path)
