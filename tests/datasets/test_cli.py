"""``fedcrm datasets list`` and ``fedcrm datasets export``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fedcrm.datasets import DatasetManifest
from fedcrm.datasets.cli import app

runner = CliRunner()


def test_list_names_every_dataset_and_its_split() -> None:
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert set(listed) == {"telco-churn", "bank-churn", "lead-scoring", "sales-pipeline"}
    assert listed["bank-churn"]["split_key"] == "Geography"
    assert listed["bank-churn"]["orgs"] == ["bank_france", "bank_germany", "bank_spain"]
    assert listed["sales-pipeline"]["reference_date"] == "2017-12-31"


def test_export_writes_the_federation(crm_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "bank"
    result = runner.invoke(app, ["export", "bank-churn", "--out", str(out), "--max-rows", "90",
                                 "--root", str(crm_root)])
    assert result.exit_code == 0, result.output
    assert "Wrote 3 orgs" in result.output and "fedcrm demo --data" in result.output
    manifest = DatasetManifest.model_validate_json((out / "federation.json").read_text())
    assert [o.org_id for o in manifest.orgs] == ["bank_france", "bank_germany", "bank_spain"]
    assert sum(o.records["Account"] for o in manifest.orgs) == 90
    for org in manifest.orgs:
        assert (out / org.org_id / "records" / "Account.csv").is_file()
        assert (out / org.org_id / "ground_truth.jsonl").is_file()


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "iris", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "unknown dataset 'iris'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["export", "bank-churn", "--out", str(tmp_path / "y"),
                                 "--root", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "real CRM datasets not found" in result.output


def test_max_rows_error_names_the_option(tmp_path: Path) -> None:
    """Checked before any data is read, so it needs no shared data."""
    result = runner.invoke(app, ["export", "bank-churn", "--out", str(tmp_path / "x"),
                                 "--max-rows", "2", "--root", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "--max-rows must be at least the number of orgs of bank-churn (3), got 2" in \
        " ".join(result.output.split())
    assert "max_rows" not in result.output
    assert not (tmp_path / "x").exists()


def test_root_help_says_where_the_default_is() -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["export", "--help"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.replace("│", " ").split())
    assert "$FEDCRM_SHARED_DATA/crm-datasets" in text
    assert "shared/data/crm-datasets in the folder that holds the fedcrm repository" in text


def test_list_shows_whole_org_ids_at_80_columns() -> None:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    listed = json.loads(runner.invoke(app, ["list", "--json"]).output)
    for dataset in listed.values():
        for org in dataset["orgs"]:
            assert f" {org} " in result.output


def test_list_shows_the_data_root_as_written(tmp_path: Path) -> None:
    shared = tmp_path / "data[v2]"
    result = CliRunner(env={"COLUMNS": "200", "FEDCRM_SHARED_DATA": str(shared)}).invoke(
        app, ["list"])
    assert result.exit_code == 0, result.output
    assert f"(read from {shared / 'crm-datasets'})" in " ".join(result.output.split())
