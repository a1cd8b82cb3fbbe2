"""``fedcrm.demo`` at its boundary: settings, data folder and the results file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from fedcrm.demo import DemoResult, MatchingSummary, demo_config, run_demo
from fedcrm.errors import ConfigError


def result() -> DemoResult:
    return DemoResult(data="d", orgs=["a"], tasks={}, seconds=1.0,
                      matching=MatchingSummary(n_fields=1, n_mapped=1, n_custom_blocks=0,
                                               seconds=0.1))


def test_results_file_is_written_atomically_into_new_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "new" / "demo.json"
    result().to_json(target)
    assert json.loads(target.read_text())["details"]["orgs"] == ["a"]
    before = target.read_bytes()

    def disk_full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ConfigError, match="No space left on device") as caught:
        result().to_json(target)
    assert str(target) in str(caught.value)
    assert target.read_bytes() == before
    assert [p.name for p in target.parent.iterdir()] == ["demo.json"]


def test_results_file_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        result().to_json(tmp_path)


def test_invalid_training_settings_name_the_option() -> None:
    with pytest.raises(ConfigError, match="--rounds 0"):
        demo_config(rounds=0)
    with pytest.raises(ConfigError, match="--model 'xgboost'"):
        demo_config(model="xgboost")


def test_run_demo_checks_its_inputs_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown task 'foo'"):
        run_demo(data=tmp_path, tasks=["foo"])
    with pytest.raises(ConfigError, match="'31/31/2020' is not a date"):
        run_demo(data=tmp_path, reference_date="31/31/2020")
    with pytest.raises(ConfigError, match="does not exist"):
        run_demo(data=tmp_path / "missing")
