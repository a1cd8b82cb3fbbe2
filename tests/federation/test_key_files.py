from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fedcrm import ConfigError
from fedcrm.crypto.threshold import deal
from fedcrm.federation.backends.node import load_org_secrets, load_public_setup, write_key_files
from fedcrm.federation.secure import FederationKeys


def _keys(ids: list[str]) -> FederationKeys:
    public_key, shares = deal(ids, bits=256, allow_insecure_bits=True)
    return FederationKeys.from_deal(public_key, shares, allow_insecure_bits=True)


def test_secret_key_files_are_owner_only_and_load_back(tmp_path: Path) -> None:
    keys = _keys(["org-a", "org-b", "org-c"])
    public = write_key_files(keys, tmp_path, federation_id="fid")
    assert load_public_setup(public).federation_id == "fid"
    for pid in ("org-a", "org-b", "org-c"):
        secret = tmp_path / f"{pid}.secret.json"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert load_org_secrets(secret).share.index == keys.shares[pid].index


def test_ids_that_would_leave_the_folder_are_refused_before_anything_is_written(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'\.\./evil'.*path separators"):
        write_key_files(_keys(["org-a", "../evil", "org-c"]), tmp_path / "keys",
                        federation_id="fid")
    assert not (tmp_path / "keys").exists() and not (tmp_path / "evil.secret.json").exists()
