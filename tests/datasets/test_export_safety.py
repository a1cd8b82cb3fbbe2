"""``RealFederation.write`` / ``fedcrm datasets export`` never leave half an export behind and
never remove what is not an earlier export."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedcrm.datasets import RealFederation, load_dataset
from fedcrm.datasets.cli import app
from fedcrm.errors import ConfigError
from fedcrm.synth import folder as federation_module

runner = CliRunner()


@pytest.fixture(scope="module")
def bank(crm_root: Path) -> RealFederation:
    return load_dataset("bank-churn", crm_root, seed=0, max_rows=90)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) → its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def fail_on_second_org(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make writing the second org's labels fail as a full disk would."""
    calls = []
    original = federation_module.write_labels

    def write_labels(path: Path, labels: object) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        original(path, labels)  # type: ignore[arg-type]

    monkeypatch.setattr(federation_module, "write_labels", write_labels)


def test_failed_export_leaves_the_earlier_export_as_it_was(
        bank: RealFederation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = bank.write(tmp_path / "bank")
    before = snapshot(out)
    fail_on_second_org(monkeypatch)
    with pytest.raises(ConfigError, match="No space left on device") as caught:
        bank.write(out)
    assert str(out) in str(caught.value) and "unchanged" in str(caught.value)
    assert snapshot(out) == before


def test_failed_first_export_leaves_nothing(
        bank: RealFederation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fail_on_second_org(monkeypatch)
    with pytest.raises(ConfigError, match="nothing was written"):
        bank.write(tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_export_again_is_identical_and_keeps_the_users_files(
        bank: RealFederation, tmp_path: Path) -> None:
    out = bank.write(tmp_path / "bank")
    first = snapshot(out)
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    (out / "mine" / "data.csv").write_text("a,b\n")
    bank.write(out)
    again = snapshot(out)
    assert again.pop("notes.txt") == b"mine" and again.pop("mine/data.csv") == b"a,b\n"
    assert again == first


def test_export_refuses_to_replace_a_folder_that_is_not_an_earlier_org(
        bank: RealFederation, tmp_path: Path) -> None:
    out = bank.write(tmp_path / "bank")
    (out / "bank_spain" / "ground_truth.jsonl").unlink()  # now just a folder of the user's
    before = snapshot(out)
    with pytest.raises(ConfigError, match="holds bank_spain, which is not an org folder"):
        bank.write(out)
    assert snapshot(out) == before


def test_cli_export_failure_is_one_line(crm_root: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fail_on_second_org(monkeypatch)
    result = runner.invoke(app, ["export", "bank-churn", "--out", str(tmp_path / "o"),
                                 "--max-rows", "90", "--root", str(crm_root)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write the federation")
