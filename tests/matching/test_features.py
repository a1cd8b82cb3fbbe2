from __future__ import annotations

import numpy as np
import pytest

from fedcrm.errors import ConfigError
from fedcrm.matching import FieldMatcher, embeddings
from fedcrm.matching.embeddings import PRECISION_ENV_VAR, Embedder, resolve_precision
from fedcrm.matching.features import (
    FEATURE_NAMES,
    build_index,
    candidate_pairs,
    concept_side,
    field_side,
    pair_features,
    similarities,
)
from fedcrm.matching.types import type_compatibility
from fedcrm.ontology import Ontology
from fedcrm.schema import DataKind, FieldMeta, PicklistValue, SObjectSchema
from fedcrm.schema.models import CategoryCount, FieldProfile


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def side(api_name: str, label: str, kind: DataKind, sobject: str = "Account", **extra: object):
    meta = FieldMeta(api_name=api_name, label=label, kind=kind, **extra)
    return field_side(SObjectSchema(api_name=sobject, fields=(meta,)), meta, "org")


def features_for(
    embedder: Embedder, ontology: Ontology, query, concept_ids: list[str]
) -> dict[str, dict[str, float]]:
    targets = [concept_side(ontology.concept(c), ontology) for c in concept_ids]
    query_index = build_index([query], embedder)
    target_index = build_index(targets, embedder)
    sims = similarities(query_index, target_index)
    pairs = [(0, i) for i in range(len(targets))]
    frame = pair_features(query_index, target_index, pairs, sims)
    return {cid: dict(zip(FEATURE_NAMES, row, strict=True))
            for cid, row in zip(concept_ids, frame.to_numpy(), strict=True)}


def test_name_and_meaning_features_prefer_the_right_concept(
    embedder: Embedder, ontology: Ontology
) -> None:
    query = side("Umsatz_EUR__c", "Jahresumsatz", DataKind.CURRENCY)
    rows = features_for(embedder, ontology, query,
                        ["account.annual_revenue", "account.number_of_employees"])
    right, wrong = rows["account.annual_revenue"], rows["account.number_of_employees"]
    assert right["label_tset"] > wrong["label_tset"]
    assert right["emb_label_names"] > wrong["emb_label_names"]
    assert right["rank_meaning"] < wrong["rank_meaning"]
    assert right["kind_exact"] == 1.0 and wrong["kind_exact"] == 0.0
    assert right["unit_agree"] == 1.0  # EUR cue agrees with a currency unit
    assert right["same_object"] == 1.0


def test_unit_conflict_and_description(embedder: Embedder, ontology: Ontology) -> None:
    query = side("Rev_Pct__c", "Revenue growth %", DataKind.PERCENT,
                 description="Year over year revenue growth")
    rows = features_for(embedder, ontology, query, ["account.annual_revenue"])
    assert rows["account.annual_revenue"]["unit_agree"] == -1.0
    assert not np.isnan(rows["account.annual_revenue"]["description_tset"])
    assert rows["account.annual_revenue"]["has_description"] == 1.0


def test_picklist_value_overlap(embedder: Embedder, ontology: Ontology) -> None:
    values = tuple(PicklistValue(value=v) for v in ("Gewonnen", "Verloren", "Angebot"))
    query = side("Phase__c", "Phase", DataKind.PICKLIST, sobject="Opportunity",
                 picklist_values=values)
    rows = features_for(embedder, ontology, query, ["opportunity.stage", "opportunity.type"])
    assert rows["opportunity.stage"]["value_count"] >= 2
    assert rows["opportunity.stage"]["value_overlap"] > (
        np.nan_to_num(rows["opportunity.type"]["value_overlap"]))


def test_profile_features(embedder: Embedder, ontology: Ontology) -> None:
    profile = FieldProfile(k=5, n_rows=100, null_rate=0.1, distinct_ratio=0.1,
                           numeric_quantiles={"0.05": 1.0, "0.25": 4.0, "0.5": 7.0,
                                              "0.75": 9.0, "0.95": 10.0},
                           categories=(CategoryCount(value="9", count=30),))
    query = side("Reco__c", "Recommendation", DataKind.NUMBER, profile=profile)
    rows = features_for(embedder, ontology, query, ["account.nps_score",
                                                    "account.annual_revenue"])
    assert "nps_score" in "account.nps_score"
    nps_unit = ontology.concept("account.nps_score").unit
    assert nps_unit is not None
    assert rows["account.nps_score"]["profile_fits_unit"] in (0.0, 1.0)
    without = features_for(embedder, ontology, side("Reco__c", "Recommendation", DataKind.NUMBER),
                           ["account.nps_score"])
    assert np.isnan(without["account.nps_score"]["profile_fits_unit"])


def test_type_compatibility_is_graded() -> None:
    assert type_compatibility(DataKind.CURRENCY, DataKind.CURRENCY) == 1.0
    assert 0 < type_compatibility(DataKind.TEXT, DataKind.NUMBER) < 1
    assert 0 < type_compatibility(DataKind.PICKLIST, DataKind.BOOLEAN) < 1
    assert type_compatibility(DataKind.REFERENCE, DataKind.CURRENCY) == 0.0
    assert type_compatibility(DataKind.EMAIL, DataKind.PHONE) < 0.5


def test_candidates_are_type_compatible_and_include_the_truth(
    embedder: Embedder, ontology: Ontology
) -> None:
    queries = [
        side("Kunde_seit__c", "Kunde seit", DataKind.DATE),
        side("Owner_Link__c", "Account manager", DataKind.REFERENCE),
    ]
    concepts = [concept_side(c, ontology) for c in ontology.concepts]
    query_index, target_index = build_index(queries, embedder), build_index(concepts, embedder)
    sims = similarities(query_index, target_index)
    pairs = candidate_pairs(query_index, target_index, sims, k=8)
    by_query: dict[int, list[str]] = {0: [], 1: []}
    for q, t in pairs:
        by_query[q].append(concepts[t].key)
        assert type_compatibility(queries[q].kind, concepts[t].kind) > 0
    assert "account.customer_since" in by_query[0]
    assert len(by_query[0]) <= 16
    assert all(ontology.concept(c).kind.family in ("reference", "identifier", "text")
               for c in by_query[1])


def test_pair_partial_equals_the_full_matrix_segment_maximum() -> None:
    """Partial ratios computed for candidate pairs only equal the full matrices' values."""
    from rapidfuzz import fuzz, process

    from fedcrm.matching.features import Similarities

    queries = ["annual revenue", "rev usd", "number of employees"]
    names = ["revenue", "annual revenue usd", "umsatz", "employees", "headcount"]
    offsets = np.array([0, 3], dtype=np.int64)  # target 0: three names, target 1: two
    empty = np.zeros((3, 2), dtype=np.float32)
    sims = Similarities(meaning=empty, name=empty, emb_label_names=empty,
                        emb_apiname_names=empty, name_tset=empty, name_ratio=empty,
                        label_tset=empty, label_ratio=empty,
                        fuzzy_queries={"name": queries, "label": queries},
                        target_names=names, target_offsets=offsets)
    full = np.maximum.reduceat(
        process.cdist(queries, names, scorer=fuzz.partial_ratio,
                      dtype=np.uint8).astype(np.float32) / 100.0,
        offsets, axis=1)
    q_idx, t_idx = np.array([0, 1, 2, 2, 0]), np.array([0, 0, 1, 0, 1])
    np.testing.assert_array_equal(sims.pair_partial("name", q_idx, t_idx), full[q_idx, t_idx])
    assert sims.pair_partial("label", np.array([], dtype=int), np.array([], dtype=int)).size == 0


def test_embedder_runs_texts_the_model_cannot_tell_apart_once(embedder: Embedder) -> None:
    model = embedder._load()
    calls: list[list[str]] = []
    original = model.encode

    def counting(texts: list[str], **options: object) -> object:
        calls.append(list(texts))
        return original(texts, **options)

    model.encode = counting
    try:
        # texts no other test embeds (the module's embedder caches by text)
        texts = ["Zyxqw Kündigungs Datum", "ZYXQW KÜNDIGUNGS   datum", "plumbus annual revenue",
                 "frobnicated churn date"]
        vectors = embedder.encode(texts)
    finally:
        model.encode = original
    # the uncased model sees the same token ids for the first two texts: one forward pass
    assert len(calls) == 1 and len(calls[0]) == 3
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert float(vectors[0] @ vectors[2]) < 0.99
    # the vector of the shared input is the model's own vector for either spelling
    alone = Embedder(precision=embedder.precision)
    alone._model, alone._device = model, embedder._device
    np.testing.assert_allclose(vectors[1], alone.encode(["ZYXQW KÜNDIGUNGS   datum"])[0],
                               atol=1e-5)


def test_embedding_precision_is_checked_and_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="'fp16' is not an embedding precision.*bfloat16"):
        Embedder(precision="fp16")
    monkeypatch.setenv(PRECISION_ENV_VAR, "half")
    with pytest.raises(ConfigError, match="FEDCRM_EMBEDDING_PRECISION='half'"):
        Embedder()
    with pytest.raises(ConfigError, match="embedding precision"):
        FieldMatcher(embedding_precision="int8").fit([])
    monkeypatch.setenv(PRECISION_ENV_VAR, "float32")
    assert resolve_precision(None, "cpu") == "float32"
    assert resolve_precision("auto", "cuda") == "float32"
    monkeypatch.delenv(PRECISION_ENV_VAR)
    monkeypatch.setattr(embeddings, "cpu_has_bfloat16_matmul", lambda: True)
    assert resolve_precision(None, "cpu") == "bfloat16"
    assert resolve_precision("float32", "cpu") == "float32"
    monkeypatch.setattr(embeddings, "cpu_has_bfloat16_matmul", lambda: False)
    assert resolve_precision(None, "cpu") == "float32"
    assert resolve_precision("bfloat16", "cpu") == "bfloat16"


def test_bfloat16_vectors_agree_with_float32(embedder: Embedder) -> None:
    texts = ["Annual revenue in euros", "Kündigungsdatum des Vertrags", "NPS score (0-10)",
             "The date the customer cancelled their subscription. Set by the billing sync."]
    vectors = {}
    for precision in ("float32", "bfloat16"):
        other = Embedder(precision=precision)
        other._model, other._device = embedder._load(), embedder._device
        assert other.resolved_precision == precision
        vectors[precision] = other.encode(texts)
    cosine = np.sum(vectors["float32"] * vectors["bfloat16"], axis=1)
    assert np.all(cosine > 0.999), cosine
    assert not np.array_equal(vectors["float32"], vectors["bfloat16"])  # autocast did run


def test_field_pair_ranks_are_taken_within_the_target_org(embedder: Embedder) -> None:
    """A pair of two orgs' fields gets the same features whichever other orgs are matched
    beside them, and a field is never ranked against itself or its own org's fields (the
    gap to the best name match was 1 − the pair's own name similarity)."""

    def org_sides(org: str, fields: list[tuple[str, str]]) -> list:
        sobject = SObjectSchema(api_name="Account", fields=tuple(
            FieldMeta(api_name=name, label=label, kind=DataKind.CURRENCY)
            for name, label in fields))
        return [field_side(sobject, meta, org) for meta in sobject.fields]

    a = org_sides("a", [("Annual_Rev__c", "Annual revenue"), ("Rev_Growth__c", "Growth")])
    b = org_sides("b", [("Revenue_EUR__c", "Revenue (EUR)"), ("Budget__c", "Budget")])
    c = org_sides("c", [("Annual_Revenue_USD__c", "Annual revenue USD"),
                        ("Annual_Rev_2__c", "Annual rev")])
    matcher = FieldMatcher(embedding_model=None)
    matcher._embedder = embedder

    def features(sides: list) -> dict[tuple[str, str], dict[str, float]]:
        org_of = np.array([["a", "b", "c"].index(s.key.split("|", 1)[0]) for s in sides])
        pairs, frame = matcher._field_pairs(build_index(sides, embedder), org_of)
        return {(sides[q].key, sides[t].key): dict(zip(FEATURE_NAMES, row, strict=True))
                for (q, t), row in zip(pairs, frame.to_numpy(), strict=True)}

    two, three = features(a + b), features(a + b + c)
    shared = set(two) & set(three)
    assert (a[0].key, b[0].key) in shared
    for pair in shared:
        for name in ("rank_meaning", "gap_meaning", "rank_name", "gap_name"):
            assert two[pair][name] == pytest.approx(three[pair][name]), (pair, name)
    # the best name match of a's revenue field among b's fields has gap 0, not 1 − similarity
    best = min((pair for pair in two if pair[0] == a[0].key), key=lambda p: two[p]["rank_name"])
    assert two[best]["rank_name"] == 0 and two[best]["gap_name"] == pytest.approx(0.0)


def test_similarities_computed_in_blocks_of_rows_equal_the_whole_matrices(
        embedder: Embedder, ontology: Ontology, monkeypatch: pytest.MonkeyPatch) -> None:
    # the rows are reduced a block at a time to bound the memory; the numbers must not move
    from fedcrm.matching import features

    concepts = [concept_side(c, ontology) for c in ontology.concepts[:40]]
    queries = [side("Kunde_seit__c", "Kunde seit", DataKind.DATE),
               side("Revenue_EUR__c", "Umsatz", DataKind.CURRENCY),
               side("Status", "Status", DataKind.PICKLIST), *concepts[:20]]
    query_index, target_index = build_index(queries, embedder), build_index(concepts, embedder)
    whole = similarities(query_index, target_index)
    monkeypatch.setattr(features, "_ROW_BLOCK", 4)  # 23 rows: 4+4+4+4+4+3
    blocked = similarities(query_index, target_index)
    # a block of one row took BLAS's matrix-vector kernel, whose sums differ in the last bit
    assert features.row_blocks(9) == [(0, 4), (4, 9)]
    for name in ("meaning", "name", "emb_label_names", "emb_apiname_names", "name_tset",
                 "name_ratio", "label_tset", "label_ratio"):
        assert np.array_equal(getattr(whole, name), getattr(blocked, name)), name
        assert getattr(blocked, name).shape == (len(queries), len(concepts))


def test_field_pairs_compared_a_block_of_queries_at_a_time_equal_the_whole_matrices(
        embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    # alignment compares a block of query fields with all fields, so the fields × fields
    # matrices are never held whole; candidates and features must not move
    from fedcrm.matching import features

    def org_sides(org: str, fields: list[tuple[str, str, DataKind]]) -> list:
        sobject = SObjectSchema(api_name="Account", fields=tuple(
            FieldMeta(api_name=name, label=label, kind=kind) for name, label, kind in fields))
        return [field_side(sobject, meta, org) for meta in sobject.fields]

    sides = (
        org_sides("a", [("Annual_Rev__c", "Annual revenue", DataKind.CURRENCY),
                        ("Kunde_seit__c", "Kunde seit", DataKind.DATE),
                        ("Tier__c", "Tier", DataKind.PICKLIST)])
        + org_sides("b", [("Revenue_EUR__c", "Revenue (EUR)", DataKind.CURRENCY),
                          ("Customer_Since__c", "Customer since", DataKind.DATE)])
        + org_sides("c", [("Umsatz__c", "Umsatz", DataKind.CURRENCY),
                          ("Segment__c", "Segment", DataKind.PICKLIST),
                          ("Start_Date__c", "Start date", DataKind.DATE)]))
    org_of = np.array([["a", "b", "c"].index(s.key.split("|", 1)[0]) for s in sides])
    matcher = FieldMatcher(embedding_model=None)
    matcher._embedder = embedder
    whole_pairs, whole = matcher._field_pairs(build_index(sides, embedder), org_of)
    monkeypatch.setattr(features, "_ROW_BLOCK", 3)
    blocked_pairs, blocked = matcher._field_pairs(build_index(sides, embedder), org_of)
    assert features.row_blocks(len(sides)) == [(0, 3), (3, 6), (6, 8)]
    assert whole_pairs and blocked_pairs == whole_pairs
    assert {q for q, _ in blocked_pairs} == set(range(len(sides)))  # every block took part
    assert all(org_of[q] != org_of[t] for q, t in blocked_pairs)
    assert list(blocked.columns) == list(whole.columns)
    assert np.array_equal(blocked.to_numpy(), whole.to_numpy(), equal_nan=True)
