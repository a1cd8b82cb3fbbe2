"""Broken ontology folders end in one OntologyError naming the file, and the loader's cache
never hands out an ontology that differs from the files (and their fingerprint)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fedcrm import OntologyError
from fedcrm.ontology import default_ontology_dir, load_ontology, ontology_fingerprint

NEW_CONCEPT = (
    "concepts:\n"
    "  - {id: account.zz_new, object: Account, kind: text, label: Zz, description: A test.}\n"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped ontology that a test may edit."""
    copy = tmp_path / "ontology"
    copy.mkdir()
    for file in default_ontology_dir().glob("*.yaml"):
        shutil.copy(file, copy)
    return copy


def test_a_file_not_in_utf8_is_named_with_its_first_bad_byte(folder: Path) -> None:
    case = folder / "case.yaml"
    size = len(case.read_bytes())
    case.write_bytes(case.read_bytes() + "# café\n".encode("latin-1"))
    with pytest.raises(OntologyError) as error:
        load_ontology(folder)
    assert str(error.value) == f"{case}: not UTF-8 (byte {size + 5}); re-save as UTF-8"


def test_editing_a_file_is_seen_by_the_next_load(folder: Path) -> None:
    before, fingerprint_before = load_ontology(folder), ontology_fingerprint(folder)
    assert load_ontology(folder) is before  # unchanged files: cached
    (folder / "zz.yaml").write_text(NEW_CONCEPT)
    after = load_ontology(folder)
    assert len(after) == len(before) + 1 and after.concept("account.zz_new").label == "Zz"
    assert ontology_fingerprint(folder) != fingerprint_before
    # an edit that keeps the size (and maybe the mtime) is still seen
    (folder / "zz.yaml").write_text(NEW_CONCEPT.replace("Zz", "Yy"))
    assert load_ontology(folder).concept("account.zz_new").label == "Yy"


@pytest.mark.parametrize("where", ["missing folder", "empty folder", "a file"])
def test_fingerprint_of_no_ontology_is_an_error(tmp_path: Path, where: str) -> None:
    path = {"missing folder": tmp_path / "nope", "empty folder": tmp_path,
            "a file": tmp_path / "x.yaml"}[where]
    if where == "a file":
        path.write_text("concepts: []\n")
    with pytest.raises(OntologyError, match="no ontology.yaml"):
        ontology_fingerprint(path)


def test_shipped_fingerprint_is_stable() -> None:
    """The shipped matcher records this fingerprint; the loader changes must not move it."""
    assert len(ontology_fingerprint()) == 16
    assert ontology_fingerprint() == ontology_fingerprint(default_ontology_dir())


def test_a_concept_that_is_not_a_mapping_is_named_by_its_place_in_its_file(
    folder: Path,
) -> None:
    extra = folder / "x.yaml"
    extra.write_text("concepts:\n  - {id: account.zz_ok, object: Account, kind: text, "
                     "label: Ok, description: Fine.}\n  - just a string\n")
    with pytest.raises(OntologyError) as error:
        load_ontology(folder)
    message = str(error.value)
    assert f"{extra}: concept 2 of 2: Input should be a valid dictionary" in message
    assert ": :" not in message


def test_header_concepts_must_be_a_list(folder: Path) -> None:
    header = folder / "ontology.yaml"
    header.write_text(header.read_text() + "\nconcepts: 5\n")
    with pytest.raises(OntologyError, match=r"ontology.yaml: 'concepts:' must be a list of "
                                            r"concepts, not int"):
        load_ontology(folder)


def test_object_file_concepts_must_be_a_list(folder: Path) -> None:
    (folder / "x.yaml").write_text("concepts: {id: account.zz}\n")
    with pytest.raises(OntologyError, match=r"x.yaml: 'concepts:' must be a list"):
        load_ontology(folder)
