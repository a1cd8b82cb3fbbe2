from __future__ import annotations

import json
import stat
import traceback
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


@pytest.mark.parametrize("damage", ["wrapped", "not a string", "missing"])
def test_a_damaged_key_share_is_refused_without_quoting_the_secret(
        tmp_path: Path, damage: str) -> None:
    # Python's own int(..., 16) error quotes the text: part of the secret share, which then
    # reached stderr and logs through the ConfigError and its chained traceback
    write_key_files(_keys(["org-a", "org-b", "org-c"]), tmp_path, federation_id="fid")
    secret = tmp_path / "org-a.secret.json"
    data = json.loads(secret.read_text())
    digits = data["share"]["secret"]
    if damage == "wrapped":
        data["share"]["secret"] = digits[:-8] + "\n" + digits[-8:]
    elif damage == "not a string":
        data["share"]["secret"] = [digits]
    else:
        del data["share"]["secret"]
    secret.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"malformed.*'secret'") as caught:
        load_org_secrets(secret)
    shown = "".join(traceback.format_exception(caught.value))
    assert digits[:16] not in shown and digits[-8:] not in shown


def test_a_key_file_that_is_not_json_or_lacks_an_entry_says_which(tmp_path: Path) -> None:
    write_key_files(_keys(["org-a", "org-b", "org-c"]), tmp_path, federation_id="fid")
    secret = tmp_path / "org-a.secret.json"
    data = json.loads(secret.read_text())
    secret.write_text(json.dumps({"share": data["share"]}))
    with pytest.raises(ConfigError, match=r"malformed: no 'signing_key' entry"):
        load_org_secrets(secret)
    secret.write_text(json.dumps(data)[:-5])
    with pytest.raises(ConfigError, match=r"is not JSON \(.*line 1"):
        load_org_secrets(secret)
