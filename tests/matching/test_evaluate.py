"""The evaluation refuses to score nothing, scores the same custom fields for every method,
and reports calibration over the decisions as well as over every candidate pair."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

import fedcrm.matching.evaluate as evaluate_module
from fedcrm.errors import ConfigError
from fedcrm.matching import FieldMatcher
from fedcrm.matching.corpus import AnnotatedOrg
from fedcrm.matching.evaluate import (
    Prediction,
    evaluate,
    evaluate_from_scratch,
    matcher_method,
    score_method,
    scratch_folds,
)
from fedcrm.ontology import Ontology
from tests.matching.tiny_corpus import ORGS, make_org, tiny_corpus


def test_no_held_out_org_is_an_error_not_a_perfect_score() -> None:
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate([], methods={})
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate(tiny_corpus(), test_orgs=[], methods={})


def test_unknown_test_org_names_the_orgs_there_are() -> None:
    with pytest.raises(ConfigError) as error:
        evaluate(tiny_corpus(), test_orgs=["alpha", "omega"], methods={})
    assert str(error.value) == ("test org(s) ['omega'] are not in the evaluated corpus; choose "
                                "from ['alpha', 'beta', 'delta', 'gamma']")


class _Prefitted:
    """The session's fitted matcher in place of a fresh FieldMatcher: matcher_method's
    ``fit`` per fold is skipped (it is tested in test_model), everything else is real."""

    fitted: FieldMatcher

    def __init__(self, **params: object) -> None:
        self._embedder = None

    def fit(self, train: object, ontology: object) -> _Prefitted:
        return self

    def __getattr__(self, name: str) -> object:
        return getattr(self.fitted, name)


def test_matcher_scores_every_custom_field_not_only_the_ones_ending_in_c(
    fitted: FieldMatcher, ontology: Ontology, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A person-account field (``__pc``) is custom (FieldMeta.is_custom) and counted by
    score_method, so the matcher's ranking and decision for it must be kept too."""
    rows = [(s, f.replace("Chiffre_Affaires__c", "Chiffre_Affaires__pc"), *rest)
            for s, f, *rest in ORGS["delta"]]
    test = make_org("delta", rows)  # type: ignore[arg-type]
    train = tiny_corpus()[:3]
    monkeypatch.setattr(_Prefitted, "fitted", fitted, raising=False)
    monkeypatch.setattr(evaluate_module, "FieldMatcher", _Prefitted)
    prediction = matcher_method()(train, [test], train, ontology)
    custom = {("delta", o.api_name, f.api_name) for o, f in test.schema.iter_fields()
              if f.is_custom}
    assert ("delta", "Account", "Chiffre_Affaires__pc") in custom
    assert set(prediction.ranked) == custom == set(prediction.accepted)
    assert prediction.ranked[("delta", "Account", "Chiffre_Affaires__pc")]
    # one top-1 (probability, correct) per scored field, the field's most probable candidate
    assert prediction.top_calibration
    assert len(prediction.top_calibration) < len(prediction.calibration)
    assert {label for _, label in prediction.top_calibration} <= {0, 1}
    scores = score_method("m", prediction, [test], train, 0.0)
    assert scores.ece_top1 is not None and scores.row()["ECE_top1"] is not None


def test_top1_ece_is_not_diluted_by_easy_negatives() -> None:
    """Over-confident decisions hidden among many confident, correct rejections: the
    all-pairs ECE looks fine, the top-1 ECE shows the problem."""
    org: AnnotatedOrg = tiny_corpus()[0]
    top = [(0.9, 0)] * 5 + [(0.9, 1)] * 5  # says 90 %, right half the time
    prediction = Prediction(calibration=[*top, *[(0.0, 0)] * 990], top_calibration=top)
    scores = score_method("m", prediction, [org], [], 0.0)
    assert scores.ece is not None and scores.ece < 0.01
    assert scores.ece_top1 == pytest.approx(0.4)
    row = scores.row()
    assert row["ECE"] == round(scores.ece, 3) and row["ECE_top1"] == 0.4
    without = score_method("m", dataclasses.replace(prediction, top_calibration=[]), [org], [],
                           0.0)
    assert without.ece_top1 is None and without.row()["ECE_top1"] is None


def test_scratch_folds_count_every_pair_of_orgs_once() -> None:
    orgs = [f"org{i}" for i in range(7)]
    folds = scratch_folds(orgs, 4)
    assert len(folds) == 6  # two of four groups per fold
    counted = [pair for _, pairs in folds for pair in pairs]
    assert len(counted) == len(set(counted)) == 21  # 7 * 6 / 2
    for held, pairs in folds:
        assert len(held) < len(orgs)
        assert all(pair <= set(held) for pair in pairs)
    with pytest.raises(ConfigError, match="needs 3 to 7 groups for 7 orgs .* got 2"):
        scratch_folds(orgs, 2)  # one fold holding out every org: nothing to train on
    with pytest.raises(ConfigError, match="needs 3 to 3 groups for 3 orgs .* got 4"):
        scratch_folds(orgs[:3], 4)
    with pytest.raises(ConfigError, match="at least 3 orgs .* got 2"):
        scratch_folds(orgs[:2], 3)


def test_from_scratch_trains_on_no_matched_org_and_counts_every_true_pair(
    fitted: FieldMatcher, ontology: Ontology, monkeypatch: pytest.MonkeyPatch,
) -> None:
    corpus = tiny_corpus()
    trained_on: list[set[str]] = []
    matched: list[set[str]] = []

    class Recording(_Prefitted):
        def fit(self, train: object, ontology: object) -> Recording:
            assert isinstance(train, list)
            trained_on.append({o.org_id for o in train})
            return self

        def predict(self, schemas: list, **kwargs: object) -> object:
            matched.append({s.org_id for s in schemas})
            return self.fitted.predict(schemas, **kwargs)

    monkeypatch.setattr(_Prefitted, "fitted", fitted, raising=False)
    monkeypatch.setattr(evaluate_module, "FieldMatcher", Recording)
    rows = evaluate_from_scratch(corpus, n_groups=4, ontology=ontology)
    assert len(rows) == 7 and rows[-1]["fold"] == "all folds"  # six folds and the total
    for train, held in zip(trained_on, matched, strict=True):
        assert len(held) == 2 and len(train) == 2 and not train & held
    # every true cross-org pair of the corpus is counted once, in some fold
    truth = [(org.org_id, org.block_of(o.api_name, f.api_name))
             for org in corpus for o, f in org.schema.iter_fields()]
    n_true = sum(1 for (org_a, block_a), (org_b, block_b) in itertools.combinations(truth, 2)
                 if block_a is not None and block_a == block_b and org_a != org_b)
    assert rows[-1]["true"] == sum(r["true"] for r in rows[:-1]) == n_true > 0
    assert rows[-1]["found"] == sum(r["found"] for r in rows[:-1]) > 0
    assert rows[-1]["found"] <= rows[-1]["predicted"]
    # an org both matched and in the extra training orgs would be seen: refused
    with pytest.raises(ConfigError, match=r"\['beta'\].*both"):
        evaluate_from_scratch(corpus, extra_train=corpus[1:2], ontology=ontology)
