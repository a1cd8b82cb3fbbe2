"""A ledger or state file that is not what it should be: a one-line error naming the file and
what is wrong, never a traceback; and what the ledger holds is shown as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedcrm.privacy import LedgerError, LedgerEvent, PrivacyLedger, read_ledger
from fedcrm.privacy.cli import app
from fedcrm.privacy.state import read_state

from .test_ledger import record

runner = CliRunner(env={"COLUMNS": "80"})


def _one_line_error(arguments: list[str]) -> str:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    return " ".join(result.stderr.split())


def test_a_ledger_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1))
    with open(path, "ab") as handle:
        handle.write(b"\xff\xfe\n")
    with pytest.raises(LedgerError, match=r"l.jsonl, line 2: not UTF-8 text \(byte 0xff"):
        read_ledger(path)
    line = _one_line_error(["ledger", str(path)])
    assert line.startswith(f"error: privacy ledger {path}, line 2: not UTF-8 text")


def test_a_ledger_saved_with_a_bom_is_read_and_a_delta_of_one_is_not(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    line = record(LedgerEvent.ROUND, 0.5, 1).model_dump_json()
    path.write_text("\ufeff" + line + "\n", encoding="utf-8")  # an editor's BOM
    assert [r.epsilon_spent for r in read_ledger(path)] == [0.5]
    path.write_text(line.replace('"delta":0.00001', '"delta":5.0') + "\n", encoding="utf-8")
    with pytest.raises(LedgerError, match=r"line 1: .*delta.*less than 1"):
        read_ledger(path)


def test_a_state_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(LedgerError, match=r"state.json is not UTF-8 text \(byte 0xff"):
        read_state(path)


def test_a_folder_is_not_called_missing(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="is a folder, not a ledger file"):
        read_ledger(tmp_path)
    with pytest.raises(LedgerError, match="is a folder, not a state file"):
        read_state(tmp_path)
    for command in ("ledger", "recover"):
        line = _one_line_error([command, str(tmp_path)])
        assert f"{tmp_path} is a folder" in line and "does not exist" not in line


@pytest.mark.parametrize(("content", "ledger_problem", "state_problem"), [
    ("[1]", "line 1: not a JSON object", "is not a JSON object"),
    ('"text"', "line 1: not a JSON object", "is not a JSON object"),
    ("xx", "line 1: not valid JSON (expected value at column 1)",
     "is not valid JSON (expected value at line 1 column 1)"),
    ('{"mode": "x"}', "line 1: not a valid ledger record (timestamp: Field required)",
     "is not valid (Input tag 'x' found using 'mode' does not match"),
])
def test_whole_line_problems_are_worded_without_an_empty_location(
        tmp_path: Path, content: str, ledger_problem: str, state_problem: str) -> None:
    path = tmp_path / "file.json"
    path.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(LedgerError) as ledger_error:
        read_ledger(path)
    assert str(ledger_error.value).startswith(f"privacy ledger {path}, {ledger_problem}. The "
                                              "ledger is append-only: restore it from a copy")
    with pytest.raises(LedgerError) as state_error:
        read_state(path)
    assert str(state_error.value).startswith(f"privacy engine state {path} {state_problem}")
    for message in (str(ledger_error.value), str(state_error.value)):
        assert "(:" not in message and "(line:" not in message


def test_participant_ids_are_shown_as_written_not_as_markup(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = PrivacyLedger(path)
    for participant in ("[bold]acme[/]", "evil[/]"):
        ledger.append(record(LedgerEvent.ROUND, 0.5, 1, participant=participant))
    result = CliRunner(env={"COLUMNS": "160"}).invoke(app, ["ledger", str(path)])
    assert result.exit_code == 0, result.output
    assert "│ [bold]acme[/] " in result.stdout and "│ evil[/] " in result.stdout


def test_the_ledger_table_cuts_nothing_at_80_columns(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = PrivacyLedger(path)
    for participant in ("org01_vercors", "org-a"):
        ledger.append(record(LedgerEvent.ROUND, 0.5, 1, participant=participant))
    result = runner.invoke(app, ["ledger", str(path)])
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


@pytest.mark.parametrize("bound", ["1", None, True])
def test_clip_bounds_that_are_not_numbers_are_config_errors(bound: object) -> None:
    # math.isfinite met them with a raw TypeError
    from fedcrm.errors import ConfigError
    from fedcrm.privacy import ClientLevelDP, RecordLevelDP

    with pytest.raises(ConfigError, match="max_grad_norm must be > 0"):
        RecordLevelDP.from_budget("org", epsilon=1.0, delta=1e-5, n_samples=1000,
                                  batch_size=10, rounds=2, max_grad_norm=bound)
    with pytest.raises(ConfigError, match="clip_norm must be > 0"):
        ClientLevelDP.from_budget("org", epsilon=1.0, delta=1e-3, rounds=2,
                                  total_participants=20, participants_in_sum=10,
                                  clip_norm=bound)


def test_an_empty_ledger_is_said_to_record_nothing_and_delta_keeps_its_figures(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text("")
    result = runner.invoke(app, ["ledger", str(path)])
    assert result.exit_code == 0 and "records no event" in result.stdout
    # with --json the warning goes to stderr, and stdout stays JSON (it said nothing before)
    listed = runner.invoke(app, ["ledger", str(path), "--json"])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert "records no event" in listed.stderr
    # δ = 1.5e-5 was shown as 2e-05 (one significant figure)
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1).model_copy(
        update={"delta": 1.5e-5}))
    result = runner.invoke(app, ["ledger", str(path)])
    assert "1.5e-05" in result.stdout
