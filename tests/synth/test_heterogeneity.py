"""The differences between orgs that the generator promises really show up."""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from fedcrm.schema.models import DataKind
from fedcrm.synth import Federation
from fedcrm.synth.vocabulary import CONCEPT_WORDS, LANGUAGES


def _custom_fields(federation: Federation):
    for org in federation.orgs:
        for label in org.labels:
            meta = org.schema[label.object][label.field]
            if meta.is_custom:
                yield org, label, meta


def test_naming_styles_really_differ(federation: Federation) -> None:
    styles = {org.profile.naming_style for org in federation.orgs}
    assert len(styles) >= 3
    seen: dict[str, set[str]] = defaultdict(set)
    for org, _, meta in _custom_fields(federation):
        stem = meta.api_name[:-3]
        if meta.namespace:
            seen["namespaced"].add(org.org_id)
        elif re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", stem):
            seen["lower_snake"].add(org.org_id)
        elif re.fullmatch(r"[A-Z][A-Za-z0-9]*(_[A-Z0-9][A-Za-z0-9]*)+", stem):
            seen["title_snake"].add(org.org_id)
        elif re.fullmatch(r"[A-Z][a-z]+[A-Z][A-Za-z0-9]*", stem):
            seen["camel"].add(org.org_id)
    assert len([style for style, orgs in seen.items() if orgs]) >= 3


def test_labels_come_in_several_languages(federation: Federation) -> None:
    languages = {org.profile.language for org in federation.orgs}
    assert len(languages) >= 2
    found: set[str] = set()
    for _, label, meta in _custom_fields(federation):
        if label.concept in CONCEPT_WORDS:
            words = CONCEPT_WORDS[label.concept]
            for language in LANGUAGES:
                if any(phrase in (meta.label or "") for phrase in words.phrases(language)
                       if len(phrase) > 6):
                    found.add(language)
    assert len(found) >= 2


def test_some_concept_has_several_types_across_orgs(federation: Federation) -> None:
    kinds: dict[str, set[DataKind]] = defaultdict(set)
    for _, label, meta in _custom_fields(federation):
        if label.concept:
            kinds[label.concept].add(meta.kind)
    varied = {concept for concept, found in kinds.items() if len(found) >= 2}
    assert len(varied) >= 3


def test_hard_negative_pair_exists(federation: Federation) -> None:
    meanings: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, label, _ in _custom_fields(federation):
        block = label.concept or (f"custom:{label.group}" if label.group else "none")
        meanings[(label.object, label.field.lower())].add(block)
    ambiguous = {name: blocks for name, blocks in meanings.items() if len(blocks) >= 2}
    assert ambiguous, "no field name means different things in different orgs"
    assert ("Account", "score__c") in ambiguous


def test_participant_specific_groups_are_shared_by_some_orgs(federation: Federation) -> None:
    members: dict[str, set[str]] = defaultdict(set)
    names: dict[str, set[str]] = defaultdict(set)
    for org, label, meta in _custom_fields(federation):
        if label.group:
            members[label.group].add(org.org_id)
            names[label.group].add(meta.api_name)
            assert label.concept is None
    partial = [g for g, orgs in members.items() if 2 <= len(orgs) < len(federation.orgs)]
    assert partial
    assert any(len(names[g]) >= 2 for g in partial), "group fields should be named differently"


def test_non_canonical_units_and_currencies(federation: Federation) -> None:
    units = [enc for org in federation.orgs for enc in org.units.values()]
    currencies = {enc.currency for enc in units if enc.currency}
    assert len(currencies | {"USD"}) >= 2
    assert any(enc.unit == "ratio" for enc in units) or any(enc.scale == 1000 for enc in units)
    assert any(enc.unit in ("days", "years", "minutes", "hours") and enc.unit !=
               enc.canonical_unit for enc in units)


def test_picklist_spellings_differ_between_orgs(federation: Federation) -> None:
    won: set[str] = set()
    for org in federation.orgs:
        value_map = org.units[("Opportunity", "StageName")].value_map
        won |= {value for value, code in value_map.items() if code == "closed_won"}
        stored = set(org.tables["Opportunity"]["StageName"].dropna())
        assert stored <= set(value_map)
    assert len(won) >= 2


def test_distractors_and_deprecated_duplicates_have_no_concept(federation: Federation) -> None:
    roles: dict[str, int] = defaultdict(int)
    distractor_groups: dict[str, set[str]] = defaultdict(set)
    for org, label, _ in _custom_fields(federation):
        if label.note and (label.note.startswith("distractor")
                           or label.note.startswith("deprecated")):
            assert label.concept is None
            if label.note.startswith("deprecated"):
                assert label.group is None  # a stale copy is nobody's equivalent
            elif label.group is not None:
                distractor_groups[label.group].add(org.org_id)
            roles[label.note.split()[0]] += 1
    assert roles["distractor"] >= 10
    assert roles["deprecated"] >= 1
    # the same distractor in two orgs means the same thing there: it shares a group,
    # and a group is only given when at least two orgs have it
    assert all(len(orgs) >= 2 for orgs in distractor_groups.values())


def test_alternative_meanings_of_hard_negatives_are_grouped(federation: Federation) -> None:
    meanings: dict[str, set[str]] = defaultdict(set)
    for org, label, _ in _custom_fields(federation):
        if (label.note and label.note.startswith("hard negative") and label.concept is None
                and label.group is not None):
            meanings[label.group].add(org.org_id)
    assert all(len(orgs) >= 2 for orgs in meanings.values())


def test_orgs_are_not_iid(federation: Federation) -> None:
    sizes = [org.profile.n_accounts for org in federation.orgs]
    assert max(sizes) >= 2 * min(sizes)
    mixes = [np.array(list(org.profile.industry_mix.values())) for org in federation.orgs]
    distances = [0.5 * np.abs(a - b).sum() for i, a in enumerate(mixes) for b in mixes[i + 1:]]
    assert min(distances) > 0.15
    churn_rates = [org.latent["Account"]["truth:churned"].mean() for org in federation.orgs]
    assert max(churn_rates) - min(churn_rates) > 0.05
    industries = [org.latent["Account"]["account.industry"].value_counts().index[0]
                  for org in federation.orgs]
    assert len(set(industries)) >= 2
