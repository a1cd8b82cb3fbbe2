"""The ``synth`` command as the lead will wire it: ``fedcrm synth --orgs 5 --out DIR``."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
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
    assert "--orgs must be between 1 and 200, got 0" in result.output
    assert "Traceback" not in result.output
    result = _run("--languages", "en,klingon", "--out", str(tmp_path / "y"))
    assert result.exit_code == 2
    assert "--languages: unknown language(s) klingon; use en, de, fr, es" in result.output
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


@pytest.mark.parametrize(("arguments", "message"), [
    (["--orgs", "201"], "--orgs must be between 1 and 200, got 201"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--scale", "0"], "--scale must be a positive number, got 0"),
    (["--accounts-min", "0"], "--accounts-min must be between 1 and 5,000,000, got 0"),
    (["--accounts-min", "10", "--accounts-max", "5"],
     "--accounts-min 10 is greater than --accounts-max 5"),
    (["--scale", "1e9"], "lower --scale or --accounts-max"),
    (["--languages", ","], "--languages must name at least one of en, de, fr, es"),
    (["--languages", "en,en"], "--languages names a language twice: en,en"),
    (["--reference-date", "someday"], "--reference-date must be a date (YYYY-MM-DD)"),
    (["--reference-date", "1999-01-01"], "--reference-date must lie between 2005 and 2100"),
])
def test_errors_name_the_option_not_the_python_parameter(
        tmp_path: Path, arguments: list[str], message: str) -> None:
    result = _run(*arguments, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --")
    assert message in " ".join(result.stderr.split())
    assert "n_orgs" not in result.stderr and "reference_date" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_stdout_holds_only_the_result(tmp_path: Path) -> None:
    """Progress goes to stderr, so piped output starts with the table (no blank lines)."""
    result = _run("--orgs", "2", "--scale", "0.01", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(" ") and result.stdout.split()[0] == "Synthetic"
    assert "generating orgs" not in result.stdout and "writing files" not in result.stdout


def test_a_path_with_brackets_is_printed_as_written(tmp_path: Path) -> None:
    out = tmp_path / "runs[v2]"
    result = _run("--orgs", "1", "--scale", "0.01", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"records to {out} (manifest: {out / 'federation.json'})" in result.stdout


def test_tables_fit_80_columns_with_nothing_cut(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--orgs", "3", "--out", str(tmp_path)],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines if line.startswith(("┃", "│"))) <= 80
    for org in json.loads((tmp_path / "federation.json").read_text(encoding="utf-8"))["orgs"]:
        assert f"│ {org['profile']['org_id']} " in result.stdout
    assert "Complete" in result.stdout and "Contacts" in result.stdout


def test_an_output_that_cannot_take_the_federation_is_refused_before_generating(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fedcrm.synth.cli as synth_cli

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("generated orgs for an output that is refused")

    monkeypatch.setattr(synth_cli, "generate_federation", never)
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    for out, message in ((a_file, "is a file; give a folder"),
                         (theirs, "is not empty and holds no federation.json")):
        result = _run("--orgs", "20", "--out", str(out))
        assert result.exit_code == 2 and message in result.output, result.output
    assert a_file.read_text() == "mine" and (theirs / "notes.txt").read_text() == "mine"
