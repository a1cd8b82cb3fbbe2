"""``MappingProposal.to_json(path)``: atomic, creates folders, errors name the path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from fedcrm.errors import MappingError
from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping


def proposal() -> MappingProposal:
    return MappingProposal(ontology_version="o1", matcher_version="m1", orgs=[
        OrgMapping(org="acme", fields=[FieldMapping(object="Account", field="Rev__c",
                                                    confidence=0.2)])])


def test_writes_the_same_bytes_into_new_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "mapping.json"
    text = proposal().to_json(target)
    assert target.read_bytes() == (text + "\n").encode()
    assert MappingProposal.from_json(target) == proposal()


def test_a_failed_write_keeps_the_previous_mapping(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "mapping.json"
    proposal().to_json(target)
    before = target.read_bytes()

    def disk_full(_descriptor: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(MappingError, match="No space left on device") as caught:
        proposal().to_json(target)
    assert str(target) in str(caught.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mapping.json"]


def test_a_folder_or_a_path_under_a_file_is_a_mapping_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="is a folder"):
        proposal().to_json(tmp_path)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(MappingError, match="cannot write the mapping"):
        proposal().to_json(tmp_path / "f.txt" / "mapping.json")
