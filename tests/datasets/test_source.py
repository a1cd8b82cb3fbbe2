"""Finding the data, reading it with clear errors, and slicing it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedcrm import ConfigError
from fedcrm.datasets import ENV_SHARED_DATA, DatasetError, default_data_root, load_dataset
from fedcrm.datasets.sales import load_sales_pipeline
from fedcrm.datasets.source import MIN_ROWS_PER_ORG, allocate, resolve_root
from fedcrm.datasets.telco import load_telco_churn
from tests.datasets.conftest import read_source


def test_default_root_is_beside_the_repository_or_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_SHARED_DATA, raising=False)
    repository = Path(__file__).resolve().parents[2]
    assert default_data_root() == repository.parent / "shared" / "data" / "crm-datasets"
    monkeypatch.setenv(ENV_SHARED_DATA, str(tmp_path))
    assert default_data_root() == tmp_path / "crm-datasets"


def test_missing_data_names_the_folder_and_the_fix(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_SHARED_DATA, str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=f"nowhere/crm-datasets.*{ENV_SHARED_DATA}"):
        load_telco_churn()
    with pytest.raises(DatasetError, match="not found"):
        resolve_root(tmp_path / "absent")


def test_root_may_be_the_shared_data_folder(crm_root: Path) -> None:
    assert resolve_root(crm_root.parent) == crm_root
    assert resolve_root(crm_root) == crm_root


def test_a_missing_column_names_the_file_and_column(crm_root: Path, tmp_path: Path) -> None:
    rows = read_source(crm_root, "telco-churn", "telco_customer_churn.csv").head(8)
    folder = tmp_path / "crm-datasets" / "telco-churn"
    folder.mkdir(parents=True)
    rows.drop(columns=["MonthlyCharges"]).to_csv(folder / "telco_customer_churn.csv",
                                                 index=False)
    with pytest.raises(DatasetError, match=r"telco_customer_churn\.csv.*MonthlyCharges"):
        load_telco_churn(tmp_path)


def _telco_with(crm_root: Path, root: Path, changes: dict[tuple[object, str], str]) -> Path:
    """``root`` holding a telco-churn folder of the source's first 40 rows with ``changes``
    (row label(s), column) → value; returns ``root``, the loader's argument."""
    rows = read_source(crm_root, "telco-churn", "telco_customer_churn.csv").head(40)
    for (row, column), value in changes.items():
        rows.loc[row, column] = value
    folder = root / "telco-churn"
    folder.mkdir()
    rows.to_csv(folder / "telco_customer_churn.csv", index=False)
    return root


def test_bad_values_name_the_file_column_and_value(crm_root: Path, tmp_path: Path) -> None:
    root = _telco_with(crm_root, tmp_path, {(3, "MonthlyCharges"): "twenty"})
    # the first line holding the value too (row 3 of the frame: after the header, line 5)
    with pytest.raises(DatasetError, match=r"^telco-churn/telco_customer_churn\.csv, column "
                                           r"'MonthlyCharges'.*'twenty' \(first at line 5 of "
                                           r"telco-churn/telco_customer_churn\.csv\)$"):
        load_telco_churn(root)


@pytest.mark.parametrize(("column", "value"), [("Churn", "yes"), ("OnlineSecurity", "1")])
def test_a_stray_yes_no_value_is_an_error_not_a_false(crm_root: Path, tmp_path: Path,
                                                     column: str, value: str) -> None:
    """Every non-true value of a flag reads as false, so "yes" beside "Yes"/"No" would turn a
    churned customer into a retained one without a word."""
    root = _telco_with(crm_root, tmp_path, {(3, column): value})
    with pytest.raises(DatasetError, match=rf"'{column}'.*\['{value}'\] would be read as false"
                                           r".*\(first at line 5 of "):
        load_telco_churn(root)


def test_a_blank_outcome_is_an_error_not_a_negative(crm_root: Path, tmp_path: Path) -> None:
    """A checkbox stores a blank as false, so an unknown churn outcome became "retained" in
    the checkbox orgs (and unlabelled in the yes/no picklist orgs)."""
    root = _telco_with(crm_root, tmp_path, {(3, "Churn"): "", (7, "Churn"): ""})
    with pytest.raises(DatasetError, match=r"'Churn'.*blank cell\(s\) in an outcome column"
                                           r".*\(first at line 5 of "):
        load_telco_churn(root)


@pytest.mark.parametrize(("file", "key"), [("sales_teams.csv", "sales_agent"),
                                           ("products.csv", "product"),
                                           ("accounts.csv", "account")])
def test_a_repeated_lookup_key_is_an_error(crm_root: Path, tmp_path: Path, file: str,
                                           key: str) -> None:
    folder = tmp_path / "sales-pipeline"
    folder.mkdir()
    for name in ("sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv"):
        rows = read_source(crm_root, "sales-pipeline", name)
        if name == file:
            rows = pd.concat([rows, rows.iloc[[0]]])
        rows.to_csv(folder / name, index=False)
    with pytest.raises(DatasetError, match=rf"{file}, column '{key}'.*more than once"):
        load_sales_pipeline(tmp_path)


def test_an_unclaimed_split_value_is_an_error(crm_root: Path, tmp_path: Path) -> None:
    rows = read_source(crm_root, "telco-churn", "telco_customer_churn.csv").head(40)
    rows.loc[0, "PaymentMethod"] = "Barter"
    folder = tmp_path / "telco-churn"
    folder.mkdir()
    rows.to_csv(folder / "telco_customer_churn.csv", index=False)
    with pytest.raises(DatasetError, match=r"PaymentMethod.*Barter"):
        load_telco_churn(tmp_path)


def test_arguments_are_validated(crm_root: Path) -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'iris'"):
        load_dataset("iris", crm_root)
    with pytest.raises(ConfigError, match="max_rows must be at least the number of orgs"):
        load_telco_churn(crm_root, max_rows=3)
    with pytest.raises(ConfigError, match="seed"):
        load_telco_churn(crm_root, seed=-1)


def test_allocate_known_case() -> None:
    assert allocate([5014, 2509, 2477], 600) == [301, 150, 149]
    assert allocate([4886, 3580, 718, 56], 600) == [306, 224, 45, 25]
    assert allocate([10, 20], 100) == [10, 20]


@given(st.lists(st.integers(1, 6000), min_size=1, max_size=6), st.integers(0, 20000))
def test_allocate_properties(sizes: list[int], extra: int) -> None:
    total = len(sizes) + extra
    counts = allocate(sizes, total)
    assert all(0 <= c <= s for c, s in zip(counts, sizes, strict=True))
    assert sum(counts) == min(total, sum(sizes))
    floor = min(MIN_ROWS_PER_ORG, total // len(sizes))
    assert all(c >= min(s, floor) for c, s in zip(counts, sizes, strict=True))
    # a larger org never gets fewer rows than a smaller one
    for i in range(len(sizes)):
        for j in range(len(sizes)):
            if sizes[i] > sizes[j]:
                assert counts[i] >= counts[j]


def test_a_dataset_folder_given_as_root_says_to_pass_its_parent(crm_root: Path) -> None:
    with pytest.raises(DatasetError, match="is the bank-churn folder itself: pass the folder"):
        load_dataset("bank-churn", root=crm_root / "bank-churn")


def test_a_missing_source_file_says_what_to_do(crm_root: Path, tmp_path: Path) -> None:
    rows = read_source(crm_root, "telco-churn", "telco_customer_churn.csv").head(8)
    # no dataset folder at all: the root is the thing to fix
    with pytest.raises(DatasetError, match=r"has no telco-churn/ folder: pass the crm-datasets "
                                           r"folder"):
        load_telco_churn(tmp_path)
    folder = tmp_path / "telco-churn"
    folder.mkdir()
    # the source's own spelling of the name
    rows.to_csv(folder / "Telco_Customer_Churn.csv", index=False)
    with pytest.raises(DatasetError, match=r"file not found, but Telco_Customer_Churn.csv is "
                                           r"there; rename it to telco_customer_churn.csv"):
        load_telco_churn(tmp_path)
    # a workbook saved under the CSV's name
    (folder / "telco_customer_churn.csv").write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(DatasetError, match=r"a spreadsheet workbook \(.xlsx\), not CSV text; "
                                           r"save it as CSV"):
        load_telco_churn(tmp_path)


def test_first_line_counts_lines_not_rows(tmp_path: Path) -> None:
    from fedcrm.datasets.source import first_line

    path = tmp_path / "x.csv"
    path.write_text('id,note,amount\n1,"two\nlines",5\n2,plain, twenty \n', encoding="utf-8")
    assert first_line(path, "amount", "twenty") == 4  # the row starts on line 4
    assert first_line(path, "amount", "5") == 2
    assert first_line(path, "amount", "nine") is None
    assert first_line(path, "missing", "5") is None
    assert first_line(tmp_path / "absent.csv", "amount", "5") is None
