"""The generator's own naming vocabulary, picklist spellings, naming styles and fake data."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fedcrm
from fedcrm.synth import fake, naming
from fedcrm.synth.catalog import (
    CONCEPT_FIELDS,
    DISTRACTORS,
    GROUP_FIELDS,
    HARD_NEGATIVE_SLOTS,
    STANDARD_FIELDS,
)
from fedcrm.synth.values import EXTRA_SPELLINGS, VALUE_SPELLINGS
from fedcrm.synth.vocabulary import (
    CONCEPT_WORDS,
    DISTRACTOR_WORDS,
    GROUP_WORDS,
    LANGUAGES,
    UNMAPPED_WORDS,
)


@pytest.fixture(scope="module")
def ontology() -> fedcrm.Ontology:
    return fedcrm.load_ontology()


def _normalise(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").replace("_", " ").split())


def test_catalog_concepts_exist_and_have_words(ontology: fedcrm.Ontology) -> None:
    known = {c.id for c in ontology.concepts}
    for spec in CONCEPT_FIELDS:
        assert spec.key in known, spec.key
        assert spec.key in CONCEPT_WORDS, spec.key
        if spec.value_set:
            assert ontology.concept(spec.key).value_set == spec.value_set
    for spec in STANDARD_FIELDS:
        assert spec.concept in known
        assert ontology.concept(spec.concept).standard_field == spec.api_name
    for spec in GROUP_FIELDS:
        assert spec.key in GROUP_WORDS and spec.key not in known
    for slot in HARD_NEGATIVE_SLOTS:
        for meaning in slot.meanings:
            assert meaning.concept is None or meaning.concept in known
            key = meaning.words_key
            assert key in CONCEPT_WORDS or key in UNMAPPED_WORDS or key in GROUP_WORDS
    assert {d.key for d in DISTRACTORS} == set(DISTRACTOR_WORDS)


def test_every_entry_speaks_all_four_languages() -> None:
    for table in (CONCEPT_WORDS, GROUP_WORDS, UNMAPPED_WORDS, DISTRACTOR_WORDS):
        for key, words in table.items():
            for language in LANGUAGES:
                assert words.phrases(language), (key, language)
            assert words.gloss.endswith("."), key


def test_vocabulary_is_not_the_ontology(ontology: fedcrm.Ontology) -> None:
    """Phrasings are our own: most do not coincide with any ontology name of the concept, so
    evaluating the matcher on synthetic orgs is not circular."""
    total = same = 0
    for key, words in CONCEPT_WORDS.items():
        names = {_normalise(n) for n in ontology.concept(key).all_names}
        for language in LANGUAGES:
            for phrase in words.phrases(language):
                total += 1
                same += _normalise(phrase) in names
    assert same / total < 0.4


def test_picklist_spellings_cover_ontology_codes(ontology: fedcrm.Ontology) -> None:
    for value_set, codes in VALUE_SPELLINGS.items():
        canonical = {v.code for v in ontology.value_set(value_set).values}
        assert set(codes) <= canonical, value_set


@pytest.mark.parametrize("table", [VALUE_SPELLINGS, EXTRA_SPELLINGS])
def test_spellings_are_unambiguous_within_a_picklist(table: dict) -> None:
    for value_set, codes in table.items():
        for language in LANGUAGES:
            for variant in range(2):
                spelled = [s[language][variant % len(s[language])] for s in codes.values()]
                assert len(set(spelled)) == len(spelled), (value_set, language, variant)


@pytest.mark.parametrize(("style", "expected"), [
    ("camel", "AnnualRevenueUSD"),
    ("title_snake", "Annual_Revenue_USD"),
    ("lower_snake", "annual_revenue_usd"),
    ("abbreviated", "AnnRevUSD"),
])
def test_render_stem_styles(style: str, expected: str) -> None:
    assert naming.render_stem(["annual", "revenue", "USD"], style) == expected


def test_names_are_legal_salesforce_api_names() -> None:
    assert naming.words("Kündigungsdatum (T€)") == ["Kuendigungsdatum", "TEUR"]
    assert naming.render_stem(naming.words("Date de fin du contrat"), "title_snake") \
        == "Date_Fin_Contrat"
    assert naming.sanitize_stem("__9 lives__") == "F9lives"
    long = naming.sanitize_stem("x" * 60)
    assert len(long) == naming.MAX_STEM
    assert naming.api_name("Rev", "acme") == "acme__Rev__c"


def test_typos_stay_legal_and_change_the_name() -> None:
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(200):
        slip = naming.add_typo("Annual_Revenue_Summary", rng)
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", slip)
        changed += slip != "Annual_Revenue_Summary"
    assert changed > 150


def test_salesforce_ids_are_unique_and_case_safe() -> None:
    ids = fake.salesforce_ids("001", 5000, pod=12, start=123_456)
    assert len(set(ids)) == 5000
    assert all(len(i) == 18 and i.startswith("001") for i in ids)
    # the 18-character form is unique even ignoring case, which is its purpose
    assert len({i.lower() for i in ids}) == 5000


def test_company_names_are_unique_per_org() -> None:
    names = fake.company_names(np.random.default_rng(0), "de", 3000)
    assert len(set(names)) == 3000
    assert any(name.endswith("GmbH") for name in names)
