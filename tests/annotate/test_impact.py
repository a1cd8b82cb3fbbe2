"""Concept weights from a downstream model: columns back to concepts, permutation importance,
weights, and the cached end-to-end computation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedcrm.annotate.impact import (
    _cache_key,
    column_concept,
    columns_by_source,
    concept_importance,
    load_weights,
    permutation_importance,
    synthetic_impact_weights,
    weights_from_importance,
)
from fedcrm.errors import ConfigError
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.experiment import OrgInput
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology import Ontology
from fedcrm.tasks import get_task
from tests.matching.tiny_corpus import tiny_corpus

COLUMNS = ["account.annual_revenue", "account.annual_revenue#missing", "account.industry=tech",
           "account.industry=retail", "account.industry#missing", "account.customer_since#days",
           "account.customer_since#missing", "rollup:contacts", "custom:account.esg"]


def test_columns_map_back_to_their_source() -> None:
    assert column_concept("account.industry=tech") == "account.industry"
    assert column_concept("account.customer_since#days") == "account.customer_since"
    assert column_concept("account.is_active#present") == "account.is_active"
    assert column_concept("rollup:cases_90d") == "rollup:cases_90d"
    assert columns_by_source(COLUMNS) == {
        "account.annual_revenue": [0, 1], "account.industry": [2, 3, 4],
        "account.customer_since": [5, 6], "rollup:contacts": [7],
        "custom:account.esg": [8],
    }


def test_permutation_importance_finds_the_columns_the_model_uses() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, len(COLUMNS)))
    y = (x[:, 0] + 0.8 * x[:, 3] + 0.3 * rng.normal(size=600) > 0).astype(float)

    def predict(features: np.ndarray) -> np.ndarray:  # a model that reads revenue + industry
        return 1 / (1 + np.exp(-(features[:, 0] + 0.8 * features[:, 3])))

    importance = permutation_importance(predict, x, y, COLUMNS, n_repeats=3, seed=1)
    assert set(importance) == set(columns_by_source(COLUMNS))
    assert importance["account.annual_revenue"] > importance["account.industry"] > 0.05
    for unused in ("account.customer_since", "rollup:contacts", "custom:account.esg"):
        assert importance[unused] == 0.0
    with pytest.raises(ConfigError, match="9 feature columns but 2 names"):
        permutation_importance(predict, x, y, COLUMNS[:2])


def test_rollups_credit_their_concepts_and_blocks_are_dropped() -> None:
    concepts = concept_importance({"account.industry": 0.1, "rollup:cases_90d": 0.2,
                                   "custom:account.esg": 0.5})
    assert concepts == pytest.approx({"account.industry": 0.1, "case.account_id": 0.1,
                                      "case.created_date": 0.1})


def test_weights_scale_to_the_most_important_concept(ontology: Ontology) -> None:
    weights = weights_from_importance(
        {"churn": {"account.industry": 0.02, "account.annual_revenue": 0.01}}, ontology,
        scale=4.0)
    assert weights["account.industry"] == pytest.approx(5.0)
    assert weights["account.annual_revenue"] == pytest.approx(3.0)
    assert weights["account.churned"] == pytest.approx(5.0)  # the task's outcome
    assert weights["lead.lead_score"] == 1.0  # not used by churn
    assert set(weights) == {c.id for c in ontology.concepts}
    # a churn feature the data could not measure weighs the mean measured share (4 and 2),
    # not the 1 of a fax number; one churn leaves out of its features stays at 1
    churn_features = [c for c in ontology.concepts if c.usage.value == "feature"
                      and "churn" in [t.value for t in c.tasks]
                      and c.id not in ("account.industry", "account.annual_revenue")]
    excluded = get_task("churn").excluded
    assert "account.type" in [c.id for c in churn_features]
    unmeasured = [c.id for c in churn_features if c.id not in excluded]
    assert unmeasured and all(weights[c] == pytest.approx(4.0) for c in unmeasured)
    assert weights["account.type"] == 1.0  # excluded by churn (fedcrm.tasks)


def test_weights_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"account.industry": 3}))
    assert load_weights(plain) == {"account.industry": 3.0}
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"weights": {"account.industry": 2.5}, "key": "x"}))
    assert load_weights(wrapped) == {"account.industry": 2.5}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"account.industry": "high"}))
    with pytest.raises(ConfigError, match="expected \\{concept id: number\\}"):
        load_weights(bad)
    bad.write_text(json.dumps({"account.industry": -1}))
    with pytest.raises(ConfigError, match=r"bad\.json: impact weights must be finite and >= 0"):
        load_weights(bad)


def test_a_weights_file_is_checked_against_the_ontology(tmp_path: Path,
                                                        ontology: Ontology) -> None:
    # a misspelt id silently weighed 1, and so did every field with an empty table
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"weights": {"acount.industry": 4, "account.churned": 6}}))
    assert load_weights(typo) == {"acount.industry": 4.0, "account.churned": 6.0}
    with pytest.raises(ConfigError, match=r"1 concept id\(s\) not in ontology .*"
                                          r"'acount\.industry': did you mean 'account\.industry'"):
        load_weights(typo, ontology)
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    with pytest.raises(ConfigError, match="no concept weights"):
        load_weights(empty, ontology)


def test_downstream_weights_from_a_trained_churn_model_are_cached(
    ontology: Ontology, tmp_path: Path
) -> None:
    cache = tmp_path / "weights.json"
    options = {"n_orgs": 3, "seed": 5, "scale_records": 0.02, "tasks": ["churn"],
               "config": TrainingConfig(rounds=3, local_epochs=1, learning_rate=0.05),
               "n_repeats": 2, "cache": cache}
    first = synthetic_impact_weights(ontology, **options)
    assert not first.from_cache and cache.is_file()
    assert first.validation_auc["churn"] > 0.55  # the model learned something to permute
    churn = first.importance["churn"]
    assert churn and all(c.startswith(("account.", "case.", "opportunity.", "contact."))
                         for c in churn)
    top = max(churn, key=lambda c: churn[c])
    assert first.weights[top] == pytest.approx(6.0)
    assert first.weights["account.churned"] == pytest.approx(6.0)
    assert min(first.weights.values()) == 1.0
    again = synthetic_impact_weights(ontology, **options)
    assert again.from_cache and again.weights == first.weights
    assert load_weights(cache) == first.weights


def test_the_cache_key_changes_with_the_records_not_only_their_count(
    ontology: Ontology
) -> None:
    schema = tiny_corpus()[0].schema
    mapping = MappingProposal(ontology_version=ontology.version, matcher_version="m", orgs=[])
    config = TrainingConfig(rounds=3, local_epochs=1, learning_rate=0.05)

    def key(table: pd.DataFrame) -> str:
        org = OrgInput(schema.org_id, schema, {"Account": table})
        return _cache_key(["churn"], [org], mapping, "2025-01-01", config, 2, 0, 5.0, ontology)

    empty = key(pd.DataFrame({"Churn_Date__c": [None, None, None]}))
    assert key(pd.DataFrame({"Churn_Date__c": [None, None, None]})) == empty  # still a cache
    assert key(pd.DataFrame({"Churn_Date__c": ["2024-01-01"] * 3})) != empty  # other values
    assert key(pd.DataFrame({"Churn__c": [None, None, None]})) != empty  # other column
    assert key(pd.DataFrame({"Churn_Date__c": [None, None, None],
                             "NPS_Score__c": [9, 1, 5]})) != empty
    # unhashable cells are hashed by their text
    assert key(pd.DataFrame({"Tags__c": [["a"], ["b"], []]})) != key(
        pd.DataFrame({"Tags__c": [["a"], ["c"], []]}))
