"""The safe federation-folder write shared by ``fedcrm synth`` and ``fedcrm datasets export``."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fedcrm.errors import ConfigError
from fedcrm.synth import folder as folder_module
from fedcrm.synth import generate_federation


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_swap_stopped_half_way_is_finished_by_the_next_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = generate_federation(2, seed=1, accounts=(20, 30))
    new = generate_federation(3, seed=5, accounts=(20, 30))
    expected = _files(new.write(tmp_path / "fresh"))
    out = old.write(tmp_path / "out")
    (out / "notes.txt").write_text("mine")
    moves: list[str] = []
    real_replace = os.replace

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        moves.append(str(target))
        if len(moves) == 2:  # the second org's rename fails (a full disk, a crash)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(source, target)

    with monkeypatch.context() as patch:
        patch.setattr(folder_module.os, "replace", replace)
        with pytest.raises(ConfigError, match="left without federation.json.*write it again"):
            new.write(out)
    # half swapped: the marker names the folders, no manifest describes them
    assert not (out / "federation.json").exists() and (out / ".fedcrm-swap.json").exists()
    new.write(out)
    files = _files(out)
    assert files.pop("notes.txt") == b"mine"
    assert files == expected


def test_a_killed_write_leaves_only_hidden_staging_that_the_next_write_removes(
        tmp_path: Path) -> None:
    federation = generate_federation(1, seed=2, accounts=(20, 20))
    out = federation.write(tmp_path / "out")
    expected = _files(out)
    # what a killed process leaves: a staging folder of this version and of the earlier ones
    for leftover in (".fedcrm-writing-0123456789ab", ".fedcrm-synth-tmp-org01_x",
                     ".fedcrm-export-abc.tmp"):
        (out / leftover / "org").mkdir(parents=True)
        (out / leftover / "org" / "units.json").write_text("{}")
    federation.write(out)
    assert _files(out) == expected


def test_a_folder_of_the_users_is_never_taken_for_an_org(tmp_path: Path) -> None:
    federation = generate_federation(1, seed=2, accounts=(20, 20))
    out = federation.write(tmp_path / "out")
    org_id = federation.orgs[0].org_id
    # named by the manifest but incomplete, or holding something we never write: not ours
    (out / org_id / "ground_truth.jsonl").unlink()
    with pytest.raises(ConfigError, match=f"already holds {org_id}, which is not an org folder"):
        federation.write(out)
    (out / "foreign").mkdir()
    (out / "foreign" / "ground_truth.jsonl").write_text("mine")
    (out / "federation.json").unlink()
    with pytest.raises(ConfigError, match="not empty and holds no federation.json"):
        federation.write(out)


def test_a_write_stopped_while_deleting_an_old_org_is_finished_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = generate_federation(2, seed=1, accounts=(20, 30))
    expected = _files(old.write(tmp_path / "fresh"))
    out = old.write(tmp_path / "out")
    real_rmtree = folder_module.shutil.rmtree

    def half_deleted(path: Path, *args: object, **kwargs: object) -> None:
        (Path(path) / "ground_truth.jsonl").unlink(missing_ok=True)  # part of it is gone...
        raise KeyboardInterrupt  # ... when the process is stopped

    with monkeypatch.context() as patch:
        patch.setattr(folder_module.shutil, "rmtree", half_deleted)
        with pytest.raises(KeyboardInterrupt):
            old.write(out)
    monkeypatch.setattr(folder_module.shutil, "rmtree", real_rmtree)
    old.write(out)
    assert _files(out) == expected


def test_a_users_folder_named_like_an_org_is_never_deleted(tmp_path: Path) -> None:
    # org07_mine/records/my_export.csv was taken for an earlier write's org and deleted
    federation = generate_federation(1, seed=2, accounts=(20, 20))
    out = tmp_path / "out"
    (out / "org07_mine" / "records").mkdir(parents=True)
    (out / "org07_mine" / "records" / "my_export.csv").write_text("precious")
    with pytest.raises(ConfigError, match="not empty and holds no federation.json"):
        federation.write(out)
    assert (out / "org07_mine" / "records" / "my_export.csv").read_text() == "precious"
    # beside an earlier output of ours, such a folder is kept
    (out / "org07_mine").rename(tmp_path / "aside")
    federation.write(out)
    (tmp_path / "aside").rename(out / "org99_backup")
    federation.write(out)
    assert (out / "org99_backup" / "records" / "my_export.csv").read_text() == "precious"


def test_a_federation_json_fedcrm_did_not_write_is_refused(tmp_path: Path) -> None:
    federation = generate_federation(1, seed=2, accounts=(20, 20))
    out = tmp_path / "out"
    out.mkdir()
    (out / "federation.json").write_text('{"my": "own config"}')
    with pytest.raises(ConfigError, match="holds a federation.json that fedcrm did not write"):
        federation.write(out)
    assert (out / "federation.json").read_text() == '{"my": "own config"}'
