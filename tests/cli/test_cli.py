"""The fedcrm command, run as users run it (typer's runner and a real subprocess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
import typer
from typer.testing import CliRunner

from fedcrm.cli import app
from fedcrm.examples import example_org_path

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("schema", "ontology", "demo", "annotate", "datasets", "review", "privacy"):
        assert command in result.output


def test_help_keeps_bracketed_text() -> None:
    """Rich reads "[default: …]" in a help text as a markup tag and drops it unless escaped."""
    wide = {"COLUMNS": "200"}
    shown = {
        ("review", "next"): "[default: .fedcrm/review.db]",
        ("annotate", "import"): "[default: the round column of the file]",
        ("demo",): "fedcrm[flower]",
    }
    for command, text in shown.items():
        result = runner.invoke(app, [*command, "--help"], env=wide)
        assert result.exit_code == 0 and text in result.output, command


def test_demo_refuses_an_unknown_backend_before_any_work() -> None:
    result = runner.invoke(app, ["demo", "--backend", "spark", "--orgs", "2"])
    assert result.exit_code != 0
    assert "unknown backend 'spark'" in result.output
    assert "simulation" in result.output and "flower" in result.output


def test_schema_summary_json() -> None:
    result = runner.invoke(app, ["schema", "summary", str(example_org_path()), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["org_id"] == "acme"
    assert summary["n_fields"] == 20
    assert {o["object"] for o in summary["objects"]} == {
        "Account", "Contact", "Lead", "Opportunity", "Subscription__c",
    }


@pytest.mark.parametrize("command", ["fields", "summary"])
def test_schema_json_with_lenient_says_what_it_skipped_on_stderr(tmp_path: Path,
                                                                 command: str) -> None:
    # `schema fields --json --lenient` listed [] and said nothing of the broken file
    fields = tmp_path / "objects" / "Account" / "fields"
    fields.mkdir(parents=True)
    (fields / "Broken__c.field-meta.xml").write_text("<CustomField><fullName>Broken__c")
    (fields / "Good__c.field-meta.xml").write_text(
        '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata"><fullName>Good__c'
        "</fullName><label>Good</label><type>Text</type></CustomField>")
    result = runner.invoke(app, ["schema", command, str(tmp_path), "--json", "--lenient"])
    assert result.exit_code == 0, result.output
    json.loads(result.stdout)  # standard output stays JSON alone
    assert "Skipped 1 item(s)" in result.stderr and "Broken__c.field-meta.xml" in result.stderr


def test_schema_fields_table() -> None:
    result = runner.invoke(app, ["schema", "fields", str(example_org_path()), "--object",
                                 "Account"])
    assert result.exit_code == 0
    assert "Annual_Rev_USD__c" in result.output and "currency" in result.output


def test_ontology_search_and_list() -> None:
    result = runner.invoke(app, ["ontology", "Jahresumsatz", "--json"])
    assert result.exit_code == 0
    assert "account.annual_revenue" in [c["id"] for c in json.loads(result.output)]
    listed = runner.invoke(app, ["ontology", "--object", "Lead", "--json"])
    assert listed.exit_code == 0
    assert all(c["object"] == "Lead" for c in json.loads(listed.output))


def test_bad_input_gives_one_line_not_a_traceback(tmp_path: Path) -> None:
    broken = tmp_path / "objects" / "Account" / "fields"
    broken.mkdir(parents=True)
    (broken / "Bad__c.field-meta.xml").write_text("<CustomField>")
    process = subprocess.run(
        [sys.executable, "-m", "fedcrm", "schema", "summary", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert "Bad__c.field-meta.xml" in process.stderr and "malformed XML" in process.stderr
    lenient = runner.invoke(app, ["schema", "summary", str(tmp_path), "--lenient"])
    assert lenient.exit_code == 0 and "Skipped 1 item" in lenient.output


def test_demo_workers_default_to_the_cores_this_process_may_use(monkeypatch) -> None:
    import os

    import fedcrm.demo

    seen: list[int] = []

    def stop(**options: object) -> None:
        seen.append(options["workers"])  # type: ignore[arg-type]
        raise fedcrm.demo.ConfigError("stopped before any work")

    monkeypatch.setattr(fedcrm.demo, "run_demo", stop)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert runner.invoke(app, ["demo"]).exit_code == 2
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert runner.invoke(app, ["demo"]).exit_code == 2
    assert runner.invoke(app, ["demo", "--workers", "1"]).exit_code == 2
    assert seen == [3, 8, 1]
    result = runner.invoke(app, ["demo", "--workers", "0"])
    assert result.exit_code == 2 and "--workers must be at least 1" in result.output


def _commands(command: click.Command, path: str = "fedcrm") -> list[tuple[str, click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _commands(sub, f"{path} {name}")
    return found


def test_short_o_means_out_in_every_command() -> None:
    # -o was --out in most commands and --object in `schema fields` and `ontology`
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            names = [*param.opts, *param.secondary_opts]
            if "-o" in names or "--out" in names:
                assert "-o" in names and "--out" in names, (path, names)
                checked += 1
    assert checked >= 8


def test_outside_a_terminal_long_commands_say_each_step_on_stderr(tmp_path: Path) -> None:
    # piped, `fedcrm synth` and `fedcrm demo` printed nothing until they ended (minutes)
    result = runner.invoke(app, ["synth", "--orgs", "2", "--scale", "0.01", "--out",
                                 str(tmp_path / "fed")])
    assert result.exit_code == 0, result.output
    assert "fedcrm synth: generated 1 of 2 orgs" in result.stderr
    assert "fedcrm synth: wrote 2 of 2 orgs" in result.stderr
    first = sorted((tmp_path / "fed").glob("org*"))[0]
    (first / "records" / "Account.csv").write_text("")  # fails soon after loading starts
    result = runner.invoke(app, ["demo", "--data", str(tmp_path / "fed")])
    assert result.exit_code == 2
    assert "fedcrm demo: loading org metadata and records" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_terminated_demo_removes_its_temporary_federation(tmp_path: Path) -> None:
    # SIGTERM (kill, timeout, a job scheduler) killed the process on the spot and left the
    # generated federation in the temporary folder
    env = {**os.environ, "TMPDIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "-m", "fedcrm", "demo", "--orgs", "3"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("fedcrm-demo-*")) and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.2)
    assert list(tmp_path.glob("fedcrm-demo-*")), "the demo never created its folder"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, err.decode()
    assert not list(tmp_path.glob("fedcrm-demo-*"))
