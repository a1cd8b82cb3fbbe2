"""The ``synth`` command as the lead will wire it: ``fedcrm synth --orgs 5 --out DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from fedcrm.synth.cli import synth

app = typer.Typer()
app.command("synth")(synth)


@app.callback()
def _root() -> None:
    """Test app with one sub-command, like ``fedcrm``."""


def _run(*args: str):
    return CliRunner().invoke(app, ["synth", *args], env={"COLUMNS": "200"})


def test_synth_writes_files_and_prints_a_summary(tmp_path: Path) -> None:
    result = _run("--orgs", "3", "--scale", "0.01", "--seed", "4", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "federation.json").read_text(encoding="utf-8"))
    org_ids = [org["profile"]["org_id"] for org in manifest["orgs"]]
    assert len(org_ids) == 3
    for org_id in org_ids:
        assert org_id in result.output
        assert (tmp_path / org_id / "records" / "Account.csv").is_file()
    for header in ("Lang", "Style", "Accts", "Cases", "Complete", "Recency", "Labels"):
        assert header in result.output
    assert "Wrote 3 orgs" in result.output


def test_synth_json_prints_the_manifest(tmp_path: Path) -> None:
    result = _run("--orgs", "2", "--scale", "0.01", "--json", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["generator"] == "fedcrm.synth"
    assert len(manifest["orgs"]) == 2
    assert set(manifest["rules"]) == {"churn", "lead_conversion", "win_probability"}


def test_synth_reports_bad_arguments_without_a_traceback(tmp_path: Path) -> None:
    result = _run("--orgs", "0", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "n_orgs must be at least 1" in result.output
    assert "Traceback" not in result.output
    result = _run("--languages", "en,klingon", "--out", str(tmp_path / "y"))
    assert result.exit_code == 2
    assert "unknown language(s) ['klingon']" in result.output
    assert not (tmp_path / "y").exists()
