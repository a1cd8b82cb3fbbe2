"""Where exports land, and that an export which cannot be written leaves nothing behind: no
file, no ``approved_export`` row, no audit entry (or the files it would have replaced, as
they were)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fedcrm.errors import ConfigError
from fedcrm.matching.proposal import MappingProposal
from fedcrm.review import Action, ReviewStore
from fedcrm.review import store as store_module
from fedcrm.review.exporting import approved_target, provenance_path
from fedcrm.review.tables import ApprovedExport

from ._helpers import (
    MATCHER_VERSION,
    annotations_folder,
    decide,
    event_details,
    make_proposal,
    make_schemas,
    n_fields,
)


def exports_recorded(store: ReviewStore) -> int:
    """Rows in approved_export."""
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(ApprovedExport)) or 0)


def files_under(folder: Path) -> list[str]:
    """Every file and folder below ``folder`` but the review database's, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if not p.name.startswith("review.db"))


@pytest.mark.parametrize(("given", "expected"), [
    ("out/", "out/approved-mapping-v3.json"),          # a trailing separator
    ("out", "out/approved-mapping-v3.json"),           # no .json: a folder
    ("out.d", "out.d/approved-mapping-v3.json"),
    ("m.json", "m.json"),                              # a .json name: the file itself
    ("M.JSON", "M.JSON"),
    ("taken.json", "taken.json/approved-mapping-v3.json"),  # an existing folder
])
def test_approved_target(tmp_path: Path, given: str, expected: str) -> None:
    tmp_path.joinpath("taken.json").mkdir()
    assert approved_target(f"{tmp_path}/{given}", 3) == tmp_path / expected


@pytest.mark.parametrize(("name", "sidecar"), [
    ("m.json", "m.provenance.json"), ("M.JSON", "M.provenance.json"),
    ("m.Json", "m.provenance.json"), ("m", "m.provenance.json"),
])
def test_the_provenance_sidecar_drops_the_json_suffix_in_any_case(
        tmp_path: Path, name: str, sidecar: str) -> None:
    # M.JSON is a mapping file (approved_target) but its sidecar was M.JSON.provenance.json
    assert provenance_path(tmp_path / name) == tmp_path / sidecar


def test_a_folder_path_object_gets_a_versioned_file(store: ReviewStore, tmp_path: Path) -> None:
    # Path("…/approved/") is Path("…/approved"): the slash is gone, the folder rule stays
    result = store.export_approved(Path(f"{tmp_path}/approved/"), exported_by="ana")
    assert result.path == str(tmp_path / "approved" / "approved-mapping-v1.json")
    assert result.provenance_path == str(
        tmp_path / "approved" / "approved-mapping-v1.provenance.json")
    assert files_under(tmp_path / "approved") == [
        "approved-mapping-v1.json", "approved-mapping-v1.provenance.json"]
    assert sum(1 for _ in MappingProposal.from_json(result.path).iter_fields()) == n_fields()


def test_an_export_under_a_file_is_refused_and_records_nothing(
    store: ReviewStore, tmp_path: Path
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    with pytest.raises(ConfigError, match=r"cannot write .*blocker/m\.json: .*blocker is a "
                                          r"file, not a folder; export to a folder"):
        store.export_approved(blocker / "m.json", exported_by="ana")
    with pytest.raises(ConfigError, match=r"blocker is a file, not a folder"):
        store.export_approved(f"{blocker}/", exported_by="ana")
    assert files_under(tmp_path) == ["blocker"]
    assert exports_recorded(store) == 0 and event_details(store, "export") == []


def test_a_folder_in_the_way_of_the_provenance_leaves_no_mapping_behind(
    store: ReviewStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.joinpath("m.provenance.json").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"cannot write .*m\.provenance\.json: Is a directory"):
        store.export_approved(out / "m.json", exported_by="ana")
    assert files_under(out) == ["m.provenance.json"]  # no m.json, no temporary file
    assert exports_recorded(store) == 0 and event_details(store, "export") == []
    # once the way is clear the export works, and is version 1
    out.joinpath("m.provenance.json").rmdir()
    assert store.export_approved(out / "m.json", exported_by="ana").version == 1


def test_a_failed_re_export_restores_the_files_it_replaced(
    store: ReviewStore, tmp_path: Path
) -> None:
    target = tmp_path / "m.json"
    first = store.export_approved(target, exported_by="ana")
    old_mapping = target.read_bytes()
    Path(first.provenance_path).unlink()
    Path(first.provenance_path).mkdir()
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    with pytest.raises(ConfigError, match="m.provenance.json"):
        store.export_approved(target, exported_by="ana")
    assert target.read_bytes() == old_mapping  # the decision above is not in it
    assert files_under(tmp_path) == ["m.json", "m.provenance.json"]
    assert [d["version"] for d in event_details(store, "export")] == [1]
    assert exports_recorded(store) == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX flock")
def test_a_failed_label_export_is_undone_under_the_folders_lock(
        store: ReviewStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the undo ran after the lock was released: an import could merge into the half-written
    # file in between and lose its labels when the old file was put back
    import fcntl

    from fedcrm.review import exporting

    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    folder = annotations_folder(tmp_path / "annotations")
    held: list[bool] = []
    undo = exporting._WrittenFiles.undo

    def checking_undo(self: object, exc: BaseException) -> None:
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(descriptor)
        undo(self, exc)  # type: ignore[arg-type]

    def failing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(exporting._WrittenFiles, "undo", checking_undo)
    monkeypatch.setattr(store_module._ReviewSession, "flush", failing)
    with pytest.raises(RuntimeError):
        store.export_labels(folder)
    assert held == [True]


def test_label_export_into_a_file_is_refused(store: ReviewStore, tmp_path: Path) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    folder = annotations_folder(tmp_path / "annotations")
    (folder / "labels").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match=r"cannot write labels to .*annotations/labels/"
                                          r"acme\.jsonl"):
        store.export_labels(folder)
    assert event_details(store, "labels") == []
    # a folder that is not an annotations folder (a typo) gets no labels/ of its own
    with pytest.raises(ConfigError, match=r"annotatons is not an annotations folder \(no "
                                          r"sources\.yaml"):
        store.export_labels(tmp_path / "annotatons")
    assert not (tmp_path / "annotatons").exists() and event_details(store, "labels") == []


def test_provenance_names_the_import_each_decision_in_effect_was_made_on(
        store: ReviewStore, tmp_path: Path) -> None:
    # a re-import that leaves a decided field unchanged moves it to the new batch; the
    # provenance listed only that batch, not the one the decision was made on
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    store.import_proposal(make_proposal(matcher_version="retrained-b"), schemas=make_schemas(),
                          imported_by="importer")
    result = store.export_approved(tmp_path / "out", exported_by="ana")
    provenance = json.loads(Path(result.provenance_path).read_text())
    assert [(i["batch_id"], i["matcher_version"]) for i in provenance["imports"]] == [
        (1, MATCHER_VERSION), (2, "retrained-b")]


def test_an_export_over_an_imported_mapping_file_is_refused(
    store: ReviewStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the matcher's proposal on disk was replaced by the approved mapping, and a re-import
    # then read the approved mapping as the proposal
    proposal = tmp_path / "mapping.json"
    proposal.write_text(make_proposal().to_json())
    store.import_proposal(proposal, schemas=make_schemas(), imported_by="importer")
    before = proposal.read_bytes()
    monkeypatch.chdir(tmp_path)  # found by its bytes, however the path is spelt
    from fedcrm.errors import MappingError

    with pytest.raises(MappingError, match=r"mapping\.json is the mapping imported as batch "
                                           r"\d+ .*write the approved mapping elsewhere"):
        store.export_approved("./mapping.json", exported_by="ana")
    assert proposal.read_bytes() == before
    assert exports_recorded(store) == 0 and event_details(store, "export") == []
    # another file of that name is fine
    assert store.export_approved(tmp_path / "other.json", exported_by="ana").version == 1
