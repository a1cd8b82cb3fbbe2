from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fedcrm import OntologyError
from fedcrm.matching.text import words
from fedcrm.ontology import Task, Usage, default_ontology_dir, load_ontology, ontology_fingerprint
from fedcrm.schema import DataKind


def test_shipped_ontology_is_rich_and_valid() -> None:
    ontology = load_ontology()
    assert len(ontology) >= 150
    assert set(ontology.objects) == {"Account", "Contact", "Lead", "Opportunity", "Case"}
    for sobject in ontology.objects:
        assert len(ontology.for_object(sobject)) >= 10, sobject
    for concept in ontology:
        assert concept.description and concept.label
        if concept.unit:
            assert concept.kind.family == "numeric", concept.id
    # every task has label concepts and feature concepts
    for task in Task:
        used = [c for c in ontology if task in c.tasks]
        assert any(c.usage is Usage.LABEL for c in used), task
        assert sum(c.usage is Usage.FEATURE for c in used) >= 10, task
    # non-English vocabulary is there for matching German, French and Spanish orgs
    languages = {lang for c in ontology for lang in c.translations}
    assert {"de", "fr", "es"} <= languages


def test_standard_fields_and_value_sets() -> None:
    ontology = load_ontology()
    revenue = ontology.standard_concept("account", "annualrevenue")
    assert revenue is not None and revenue.id == "account.annual_revenue"
    assert revenue.kind is DataKind.CURRENCY
    stage = ontology.standard_concept("Opportunity", "StageName")
    assert stage is not None and stage.value_set is not None
    lookup = ontology.value_set(stage.value_set).lookup()
    assert lookup["closed won"] == lookup["won"]
    for value_set in ontology.value_sets:
        assert value_set.values


def test_search_finds_synonyms_in_other_languages() -> None:
    ontology = load_ontology()
    top = [c.id for c, _ in ontology.search("Jahresumsatz", limit=5)]
    assert "account.annual_revenue" in top


def test_lookup_errors_name_the_missing_item() -> None:
    ontology = load_ontology()
    with pytest.raises(KeyError, match="no concept 'account.nope'"):
        ontology.concept("account.nope")
    with pytest.raises(KeyError, match="no value set"):
        ontology.value_set("nope")


def copy_ontology(tmp_path: Path) -> Path:
    target = tmp_path / "ontology"
    shutil.copytree(default_ontology_dir(), target)
    return target


def edit_first_concept(folder: Path, **changes: object) -> None:
    path = folder / "account.yaml"
    document = yaml.safe_load(path.read_text())
    document["concepts"][0].update(changes)
    path.write_text(yaml.safe_dump(document, allow_unicode=True))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Account-Revenue"}, "must look like 'object.snake_name'"),
        ({"id": "lead.annual_revenue"}, "id prefix 'lead' must be the object"),
        ({"unit": "parsecs"}, "unknown unit 'parsecs'"),
        ({"kind": "hologram"}, "kind"),
        ({"translations": {"xx": ["foo"]}}, "unknown language code"),
        ({"surprise": 1}, "Extra inputs are not permitted"),
        ({"planned": True}, "only dates can be planned"),
    ],
)
def test_invalid_concepts_are_named(tmp_path: Path, changes: dict, message: str) -> None:
    folder = copy_ontology(tmp_path)
    edit_first_concept(folder, **changes)
    with pytest.raises(OntologyError, match=message) as info:
        load_ontology(folder)
    assert "account.yaml" in str(info.value)


def test_duplicate_ids_and_standard_fields(tmp_path: Path) -> None:
    folder = copy_ontology(tmp_path)
    path = folder / "account.yaml"
    document = yaml.safe_load(path.read_text())
    document["concepts"].append(dict(document["concepts"][0]))
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    with pytest.raises(OntologyError, match="duplicate concept id account.annual_revenue"):
        load_ontology(folder)


def test_malformed_files(tmp_path: Path) -> None:
    folder = copy_ontology(tmp_path)
    (folder / "account.yaml").write_text("concepts: [unclosed")
    with pytest.raises(OntologyError, match="malformed YAML"):
        load_ontology(folder)
    (folder / "account.yaml").write_text("just a string")
    with pytest.raises(OntologyError, match="'concepts:' list"):
        load_ontology(folder)
    with pytest.raises(OntologyError, match="no ontology.yaml"):
        load_ontology(tmp_path)


def test_fingerprint_changes_with_content(tmp_path: Path) -> None:
    folder = copy_ontology(tmp_path)
    before = ontology_fingerprint(folder)
    edit_first_concept(folder, label="Yearly revenue")
    assert ontology_fingerprint(folder) != before
    assert len(before) == 16


# Spellings two concepts of one object may share: words that really mean both in some language
# (French "engagement" is a commitment, i.e. a contract term; Spanish "estado" is a state and a
# status). Anything else shared is an editing slip: the matcher would get the same text
# evidence for two concepts and could only guess between them.
HOMONYMS = {
    ("Account", "engagement"), ("Account", "region"), ("Contact", "responsable"),
    ("Lead", "estado"), ("Lead", "region"),
}


def test_no_spelling_is_shared_by_two_concepts_of_an_object() -> None:
    owners: dict[tuple[str, str], set[str]] = {}
    for concept in load_ontology().concepts:
        spellings = [concept.label, *concept.synonyms,
                     *(t for names in concept.translations.values() for t in names)]
        for spelling in spellings:
            key = (concept.object, " ".join(words(spelling)))
            owners.setdefault(key, set()).add(concept.id)
    shared = {key: sorted(ids) for key, ids in owners.items() if len(ids) > 1}
    assert set(shared) <= HOMONYMS, {k: v for k, v in shared.items() if k not in HOMONYMS}
