"""The orgs' labels and spellings are the datasets' own words and ours, not the ontology's."""

from __future__ import annotations

from fedcrm.datasets import RealFederation
from fedcrm.datasets.vocabulary import VALUE_CODES, VALUE_SPELLINGS, WORDS
from fedcrm.matching.features import normalise
from fedcrm.ontology import load_ontology


def _ontology_names() -> set[str]:
    names: set[str] = set()
    for concept in load_ontology().concepts:
        names.update(normalise(n) for n in (concept.label, *concept.synonyms,
                                            *concept.abbreviations))
        for spellings in concept.translations.values():
            names.update(normalise(n) for n in spellings)
    return names


def test_few_labels_equal_an_ontology_name(slices: dict[str, RealFederation]) -> None:
    known = _ontology_names()
    labels = [meta.label for federation in slices.values() for org in federation.orgs
              for _, meta in org.schema.iter_fields() if meta.is_custom and meta.label]
    same = [label for label in labels if normalise(label) in known]
    assert len(labels) > 200
    assert len(same) / len(labels) < 0.25, same


def test_every_phrasing_list_has_english_and_spellings_are_consistent() -> None:
    assert all(words.en for words in WORDS.values())
    for name, table in VALUE_SPELLINGS.items():
        for source, by_language in table.items():
            assert by_language["en"][0] == source, (name, source)  # variant 0 = the source
    codes = {c.code for vs in load_ontology().value_sets for c in vs.values}
    for name, table in VALUE_CODES.items():
        assert set(table.values()) <= codes, name
