"""The ``synth`` command as the lead will wire it: ``fedcrm synth --orgs 5 --out DIR``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer
from typer.testing import CliRunner

import fedcrm.synth
from fedcrm.synth import generate_federation
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


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "federation.json"}


def test_reproduce_command_writes_the_same_files(tmp_path: Path) -> None:
    first = tmp_path / "first"
    result = _run("--orgs", "1", "--scale", "0.01", "--seed", "3", "--languages", "de",
                  "--reference-date", "2020-01-15", "--out", str(first))
    assert result.exit_code == 0, result.output
    manifest = json.loads((first / "federation.json").read_text(encoding="utf-8"))
    command = shlex.split(manifest["reproduce"])
    assert command[:2] == ["fedcrm", "synth"] and "2020-01-15" in command
    second = tmp_path / "second"
    again = _run(*[str(second) if word == "DIR" else word for word in command[2:]])
    assert again.exit_code == 0, again.output
    assert _files(second) == _files(first)
    assert json.loads((second / "federation.json").read_text(encoding="utf-8")) == manifest


def test_reproduce_says_when_only_the_python_api_can(tmp_path: Path) -> None:
    federation = generate_federation(1, seed=2, accounts=(20, 20), min_accounts=25,
                                     label_reliability=(0.5, 0.5))
    reproduce = federation.manifest.reproduce
    prefix = "Python API only (fedcrm synth cannot set label_reliability, min_accounts): "
    assert reproduce.startswith(prefix)
    again = tmp_path / "again"
    eval(reproduce.removeprefix(prefix).replace("'DIR'", repr(str(again))), {"fedcrm": fedcrm})
    assert _files(again) == _files(federation.write(tmp_path / "original"))


def test_synth_refuses_a_scale_beyond_the_account_limit(tmp_path: Path) -> None:
    result = _run("--scale", "1e9", "--out", str(tmp_path / "big"))
    assert result.exit_code == 2
    assert "at most 5,000,000 accounts per org" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "big").exists()
