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
