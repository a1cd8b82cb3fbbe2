from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from fedcrm._console import check_output_file
from fedcrm._files import check_writable, write_atomically
from fedcrm.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_private_files_are_owner_only_and_others_keep_their_mode(tmp_path: Path) -> None:
    secret = write_atomically(tmp_path / "org.secret.json", '{"k": 1}', private=True)
    assert _mode(secret) == 0o600 and secret.read_text() == '{"k": 1}'
    shared = tmp_path / "report.json"
    shared.write_text("old")
    shared.chmod(0o640)
    write_atomically(shared, b"new")
    assert _mode(shared) == 0o640 and shared.read_bytes() == b"new"
    fresh = write_atomically(tmp_path / "sub" / "new.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert _mode(fresh) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["org.secret.json", "report.json",
                                                           "sub"]  # no temporaries left


def test_a_failed_write_leaves_the_old_file(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")

    def refuse(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_symbolic_link_is_written_through_and_kept(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    real = runs / "7.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "latest.json"
    link.symlink_to(Path("runs") / "7.json")  # relative, as people make them
    assert write_atomically(link, "new") == link
    assert link.is_symlink() and real.read_text() == "new" and _mode(real) == 0o640
    assert sorted(p.name for p in runs.iterdir()) == ["7.json"]  # the temporary went
    dangling = tmp_path / "next.json"
    dangling.symlink_to(runs / "8.json")
    write_atomically(dangling, "x")
    assert dangling.is_symlink() and (runs / "8.json").read_text() == "x"


def test_links_that_open_would_refuse_are_refused_and_secrets_never_follow_one(
        tmp_path: Path) -> None:
    into_nowhere = tmp_path / "dangling.json"
    into_nowhere.symlink_to(tmp_path / "nowhere" / "deep" / "x.json")
    with pytest.raises(FileNotFoundError):
        write_atomically(into_nowhere, "x")
    assert not (tmp_path / "nowhere").exists()  # no folder made where the link points
    loop_a, loop_b = tmp_path / "a.json", tmp_path / "b.json"
    loop_a.symlink_to(loop_b)
    loop_b.symlink_to(loop_a)
    with pytest.raises(OSError, match="symbolic links"):
        write_atomically(loop_a, "x")
    # a link planted where a secret is written is replaced, not followed
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep")
    secret = tmp_path / "org.secret.json"
    secret.symlink_to(elsewhere)
    write_atomically(secret, "{}", private=True)
    assert not secret.is_symlink() and secret.read_text() == "{}" and _mode(secret) == 0o600
    assert elsewhere.read_text() == "keep"


def test_check_writable_tries_and_leaves_nothing(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "deeper" / "out.json")  # folders a writer would create
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "log.jsonl"
    existing.write_text("kept\n")
    check_writable(existing, append=True)
    check_writable(existing)
    assert existing.read_text() == "kept\n" and [p.name for p in tmp_path.iterdir()] == [
        "log.jsonl"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_check_writable_refuses_where_nothing_can_be_created() -> None:
    # /proc refuses new files even to root, whom os.access would let through
    with pytest.raises(OSError):
        check_writable("/proc/fedcrm-demo.json")


def test_an_output_that_cannot_be_written_is_refused_before_any_work(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(errno.EROFS, os.strerror(errno.EROFS))

    check_output_file(tmp_path / "demo.json", option="--json", example="demo.json")
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(ConfigError, match=r"--json .*demo\.json cannot be written \(Read-only "
                                          r"file system\); write it elsewhere"):
        check_output_file(tmp_path / "demo.json", option="--json", example="demo.json")
