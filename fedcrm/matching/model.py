"""``FieldMatcher``: the learned field-equivalence matcher.

Two LightGBM models share one feature code path (:mod:`fedcrm.matching.features`):

* the **concept model** scores (field, concept) pairs; its scores are calibrated with isotonic
  regression on out-of-fold predictions for orgs the fold's model never saw, and a field is
  mapped to its best concept only when the calibrated score reaches the abstain threshold
  chosen for the target precision;
* the **pair model** scores (field, field) pairs of different orgs for custom fields that map
  to no concept; pairs above its own precision threshold are clustered into shared custom
  blocks, at most one field per org per block.

Standard fields are not guessed: the ontology says which concept a standard field is.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import unicodedata
import warnings
import zipfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from fedcrm import __version__
from fedcrm._files import write_atomically
from fedcrm.errors import ConfigError, FedcrmError, MappingError, NotFittedError
from fedcrm.matching.calibration import IsotonicCalibrator, threshold_for_precision
from fedcrm.matching.corpus import AnnotatedOrg
from fedcrm.matching.embeddings import DEFAULT_MODEL as DEFAULT_EMBEDDING_MODEL
from fedcrm.matching.embeddings import ENV_VAR as EMBEDDING_ENV_VAR
from fedcrm.matching.embeddings import Embedder, requested_precision
from fedcrm.matching.evidence import explain
from fedcrm.matching.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    Side,
    SideIndex,
    build_index,
    candidate_pairs,
    concept_side,
    field_side,
    normalise,
    pair_features,
    row_blocks,
    side_texts,
    similarities,
)
from fedcrm.matching.proposal import (
    CUSTOM_BLOCK_PREFIX,
    Candidate,
    FieldMapping,
    MappingProposal,
    OrgMapping,
)
from fedcrm.ontology import Ontology, load_ontology, ontology_fingerprint
from fedcrm.schema.models import OrgSchema

MODEL_FORMAT = 2  # 2: field-pair ranks within the target org (2026-11-27)
DEFAULT_LGBM_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 0,
    "deterministic": True,
    "force_row_wise": True,
}


@dataclass
class ScoredField:
    """Candidates of one field, best first, before the accept/abstain decision."""

    org: str
    object: str
    field: str
    label: str
    #: (concept id, calibrated probability, feature row index or -1 for rules)
    candidates: list[tuple[str, float, int]] = dc_field(default_factory=list)
    rule: str | None = None
    side: int = -1


@dataclass
class _PairData:
    features: pd.DataFrame
    labels: np.ndarray
    groups: np.ndarray
    query: np.ndarray
    target: np.ndarray
    #: per field (side) of a field-pair dataset: its org number and annotated block
    side_org: np.ndarray = dc_field(default_factory=lambda: np.zeros(0, dtype=int))
    side_block: list[str | None] = dc_field(default_factory=list)
    side_object: list[tuple[str, bool]] = dc_field(default_factory=list)
    #: per org number: where its annotations come from ("real" or "synthetic")
    org_kind: list[str] = dc_field(default_factory=list)


def threshold_decisions(partial: Sequence[bool], *, min_fields: int = 100) -> np.ndarray:
    """Which out-of-fold field decisions choose the abstention threshold.

    ``partial`` has one flag per field, True when the field's org is ``partial``; the result
    has one flag per field, True when its decision takes part in choosing the threshold.

    A threshold is only as good as the sample it is chosen on: the fields of a partially
    labelled org were picked by active learning for their uncertainty, so their precision
    at any score is lower than that of the fields a new org brings, and a threshold chosen
    on them refuses more than it needs to. The orgs labelled in full choose it when they
    give at least ``min_fields`` decisions; otherwise every labelled field does.
    """
    complete = ~np.asarray(partial, dtype=bool)
    if complete.all() or complete.sum() < min_fields:
        return np.ones(len(complete), dtype=bool)
    return complete


def _train_booster(
    features: pd.DataFrame, labels: np.ndarray, params: dict[str, Any], rounds: int, seed: int
) -> lgb.Booster:
    dataset = lgb.Dataset(
        features, label=labels, categorical_feature=list(CATEGORICAL_FEATURES), free_raw_data=False
    )
    return lgb.train({**params, "seed": seed}, dataset, num_boost_round=rounds)


def _out_of_fold(
    data: _PairData, params: dict[str, Any], rounds: int, folds: int, seed: int,
    repeats: int = 1, fallback_counts: list[int] | None = None,
) -> np.ndarray:
    """Raw scores of every pair from a model that never saw the pair's orgs, one row per
    repetition of the cross-validation (the first splits the orgs by size, as GroupKFold
    does; later ones shuffle them into other folds).

    Folds split the orgs of the query side (``data.groups``). A field-pair dataset
    (``data.side_org`` set) pairs the fields of two orgs, and the orgs a new federation
    matches are new on *both* sides: a pair (X, Y) is scored by a model trained only on pairs
    with neither org in X's fold nor in Y's fold (one model per two folds, F·(F+1)/2 in
    all). A model that had seen Y's pairs with other orgs scores (X, Y) better than a new
    org's pairs get (a review measured AUC 0.957 against 0.807), and the calibration and
    thresholds fitted on such scores would promise more than matching from scratch gives.
    Where the other folds leave nothing to train on (a corpus of a few orgs), a pair is scored
    by a model that saw neither side of its *query* org's fold instead, and the number of
    such pairs of each repetition is appended to ``fallback_counts``.
    """
    unique_groups = np.unique(data.groups)
    n_splits = min(folds, len(unique_groups))
    scores = np.full((repeats, len(data.labels)), np.nan)
    if n_splits < 2:
        return scores
    for repeat in range(repeats):
        splitter = GroupKFold(n_splits=n_splits) if repeat == 0 else GroupKFold(
            n_splits=n_splits, shuffle=True, random_state=seed + repeat)
        if not len(data.side_org):
            for train, test in splitter.split(data.features, groups=data.groups):
                _score_fold(data, train, test, scores[repeat], params, rounds, seed)
            continue
        query_fold, target_fold = _pair_folds(data, splitter, n_splits)
        low, high = np.minimum(query_fold, target_fold), np.maximum(query_fold, target_fold)
        for first in range(n_splits):
            for second in range(first, n_splits):
                test = np.nonzero((low == first) & (high == second))[0]
                train = np.nonzero(~np.isin(query_fold, [first, second])
                                   & ~np.isin(target_fold, [first, second]))[0]
                _score_fold(data, train, test, scores[repeat], params, rounds, seed)
        unscored = np.isnan(scores[repeat])
        if fallback_counts is not None:
            fallback_counts.append(int(unscored.sum()))
        for fold in range(n_splits):  # the fallback for pairs no model could score
            test = np.nonzero((query_fold == fold) & unscored)[0]
            train = np.nonzero((query_fold != fold) & (target_fold != fold))[0]
            _score_fold(data, train, test, scores[repeat], params, rounds, seed)
    return scores


def _pair_folds(
    data: _PairData, splitter: GroupKFold, n_splits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fold of each pair's query org and of its target org. Folds are drawn over the query
    orgs; an org that is only ever a target (type compatibility is not symmetric) joins the
    folds in turn, so that it is held out like the others."""
    fold_of_org = np.full(int(data.side_org.max()) + 1, -1)
    for fold, (_, test) in enumerate(splitter.split(data.features, groups=data.groups)):
        fold_of_org[np.unique(data.groups[test])] = fold
    target_only = np.setdiff1d(data.side_org, data.groups)  # sorted
    fold_of_org[target_only] = np.arange(len(target_only)) % n_splits
    return fold_of_org[data.groups], fold_of_org[data.side_org[data.target]]


def _score_fold(
    data: _PairData, train: np.ndarray, test: np.ndarray, out: np.ndarray,
    params: dict[str, Any], rounds: int, seed: int,
) -> None:
    """Train on ``train``'s rows and write the scores of ``test``'s rows into ``out``."""
    if len(test) == 0 or len(train) == 0 or len(np.unique(data.labels[train])) < 2:
        return
    booster = _train_booster(data.features.iloc[train], data.labels[train], params, rounds, seed)
    out[test] = booster.predict(data.features.iloc[test])


class FieldMatcher:
    """Map org fields onto ontology concepts and align custom fields across orgs.

    Scikit-learn style: the constructor stores parameters, :meth:`fit` learns (and returns
    ``self``), learned attributes end in ``_``, :meth:`predict` returns a
    :class:`MappingProposal`, :meth:`save` / :meth:`load` persist a fitted matcher.
    """

    def __init__(
        self,
        *,
        embedding_model: str | Path | None = None,
        embedding_precision: str | None = None,
        k_candidates: int = 8,
        top_k_output: int = 5,
        explain_min_probability: float = 0.05,
        target_precision: float = 0.95,
        pair_target_precision: float = 0.95,
        n_folds: int = 5,
        pair_folds: int = 10,
        n_repeats: int = 1,
        n_rounds: int = 300,
        lgbm_params: dict[str, Any] | None = None,
        random_state: int = 0,
        device: str | None = None,
    ) -> None:
        self.embedding_model = embedding_model
        self.embedding_precision = embedding_precision
        self.k_candidates = k_candidates
        self.top_k_output = top_k_output
        self.explain_min_probability = explain_min_probability
        self.target_precision = target_precision
        self.pair_target_precision = pair_target_precision
        self.n_folds = n_folds
        self.pair_folds = pair_folds
        self.n_repeats = n_repeats
        self.n_rounds = n_rounds
        self.lgbm_params = lgbm_params
        self.random_state = random_state
        self.device = device
        self._embedder: Embedder | None = None
        self._importance_order: np.ndarray | None = None

    # ------------------------------------------------------------------ helpers
    def _validate_params(self) -> None:
        if not 0.0 < self.target_precision < 1.0:
            raise ConfigError(f"target_precision must be in (0, 1), got {self.target_precision}")
        if not 0.0 < self.pair_target_precision < 1.0:
            raise ConfigError(
                f"pair_target_precision must be in (0, 1), got {self.pair_target_precision}"
            )
        if not 0.0 <= self.explain_min_probability <= 1.0:
            raise ConfigError("explain_min_probability must be in [0, 1], got "
                              f"{self.explain_min_probability}")
        if self.k_candidates < 1 or self.top_k_output < 1:
            raise ConfigError("k_candidates and top_k_output must be at least 1")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds must be at least 2, got {self.n_folds}")
        if self.pair_folds < 2:
            raise ConfigError(f"pair_folds must be at least 2, got {self.pair_folds}")
        if self.n_repeats < 1:
            raise ConfigError(f"n_repeats must be at least 1, got {self.n_repeats}")
        requested_precision(self.embedding_precision)

    @property
    def embedder(self) -> Embedder:
        """The sentence-embedding model (shared cache across fits)."""
        if self._embedder is None:
            self._embedder = Embedder(self.embedding_model, device=self.device,
                                      precision=self.embedding_precision)
        return self._embedder

    def _params(self) -> dict[str, Any]:
        return {**DEFAULT_LGBM_PARAMS, **(self.lgbm_params or {})}

    def _check_fitted(self) -> None:
        if not hasattr(self, "concept_model_"):
            raise NotFittedError(
                "this FieldMatcher is not fitted; call fit(corpus) or FieldMatcher.load(path)"
            )

    # ------------------------------------------------------------- preparation
    @staticmethod
    def _learnable_fields(schema: OrgSchema) -> list[tuple[int, int]]:
        """(object index, field index) of fields the model decides (custom fields)."""
        return [
            (oi, fi)
            for oi, sobject in enumerate(schema.objects)
            for fi, meta in enumerate(sobject.fields)
            if meta.is_custom
        ]

    def _alignable_fields(self, schema: OrgSchema) -> list[tuple[int, int]]:
        """Fields compared across orgs: custom fields, and the name field of a custom object
        (``Name``), which no concept covers but which corresponds when the objects do. A
        custom object's system fields (``Id``, ``OwnerId``, ``CreatedDate``, ``IsDeleted``,
        … in every describe export) are not: every custom object has them, and the pair
        model, trained on metadata that lists only ``Name``, took them for shared custom
        blocks."""
        return [
            (oi, fi)
            for oi, sobject in enumerate(schema.objects)
            for fi, meta in enumerate(sobject.fields)
            if meta.is_custom or (
                sobject.is_custom
                and (meta.is_name_field or meta.api_name.lower() == "name")
                and self.ontology_.standard_concept(sobject.api_name, meta.api_name) is None
            )
        ]

    def _concept_pairs(
        self, sides: list[Side], index: SideIndex
    ) -> tuple[list[tuple[int, int]], pd.DataFrame, Any]:
        sims = similarities(index, self.concept_index_)
        pairs = candidate_pairs(index, self.concept_index_, sims, k=self.k_candidates)
        return pairs, pair_features(index, self.concept_index_, pairs, sims), sims

    def _prepare_concepts(self, ontology: Ontology) -> None:
        self.ontology_ = ontology
        self.concept_ids_ = [c.id for c in ontology.concepts]
        self.concept_index_ = build_index(
            [concept_side(c, ontology) for c in ontology.concepts], self.embedder
        )

    # --------------------------------------------------------------------- fit
    def fit(
        self,
        corpus: Sequence[AnnotatedOrg],
        ontology: Ontology | None = None,
        *,
        progress: bool = False,
    ) -> FieldMatcher:
        """Learn from annotated orgs (see :func:`fedcrm.matching.load_corpus`)."""
        self._validate_params()
        self._importance_order = None  # belongs to the model being replaced
        if len(corpus) < 2:
            raise ConfigError(
                f"fit needs at least 2 annotated orgs (calibration uses held-out orgs), got "
                f"{len(corpus)}"
            )
        ontology = ontology if ontology is not None else load_ontology()
        self._prepare_concepts(ontology)
        params, seed = self._params(), self.random_state
        concept_data, field_info = self._concept_training_data(corpus, progress=progress)
        if concept_data.labels.sum() == 0:
            raise ConfigError("the corpus has no field labelled with a concept; cannot learn")
        # every repetition of the cross-validation adds one out-of-fold score per pair and
        # one decision per field; the calibration and the threshold use them all
        oof = _out_of_fold(concept_data, params, self.n_rounds, self.n_folds, seed,
                           self.n_repeats)
        has_oof = ~np.isnan(oof)
        labels = np.broadcast_to(concept_data.labels, oof.shape)
        self.concept_calibrator_ = IsotonicCalibrator.fit(oof[has_oof], labels[has_oof])
        decisions = [self._field_decisions(concept_data, row, field_info,
                                           self.concept_calibrator_) for row in oof]
        field_scores = np.concatenate([scores for scores, _ in decisions])
        field_correct = np.concatenate([correct for _, correct in decisions])
        chooses = np.tile(threshold_decisions([corpus[o].partial for o, _ in field_info]),
                          self.n_repeats)
        self.threshold_ = threshold_for_precision(
            field_scores[chooses], field_correct[chooses], self.target_precision
        )
        self.concept_model_ = _train_booster(
            concept_data.features, concept_data.labels, params, self.n_rounds, seed
        )
        pair_data = self._pair_training_data(corpus)
        self.pair_model_: lgb.Booster | None = None
        self.pair_calibrator_ = IsotonicCalibrator(x=np.array([0.0, 1.0]), y=np.zeros(2))
        self.pair_threshold_ = math.inf  # no pair model: join nothing
        self.join_threshold_ = math.inf
        one_org_seen: list[int] = []
        per_pair_threshold = math.inf
        scratch_precision: dict[str, float | None] = {}
        if pair_data is not None and pair_data.labels.sum() > 0:
            pair_oof = _out_of_fold(pair_data, params, self.n_rounds, self.pair_folds, seed,
                                    fallback_counts=one_org_seen)[0]
            has = ~np.isnan(pair_oof)
            self.pair_calibrator_ = IsotonicCalibrator.fit(pair_oof[has], pair_data.labels[has])
            raw = np.nan_to_num(pair_oof)
            probabilities = np.where(has, self.pair_calibrator_(raw), 0.0)
            per_pair_threshold = threshold_for_precision(
                probabilities[has], pair_data.labels[has].astype(bool),
                self.pair_target_precision,
            )
            # new blocks: chosen on what clustering proposes from scratch (inf: no threshold
            # reaches the target, so none); a corpus too small to propose enough pairs keeps
            # the per-pair threshold
            scratch, scratch_precision = clustered_scratch_threshold(
                pair_data, probabilities, raw, self.pair_target_precision)
            self.pair_threshold_ = per_pair_threshold if scratch is None else scratch
            # never stricter than the new-block threshold (e.g. too few joins to certify one)
            self.join_threshold_ = min(self.pair_threshold_, clustered_join_threshold(
                pair_data, probabilities, raw, self.pair_target_precision))
            self.pair_model_ = _train_booster(
                pair_data.features, pair_data.labels, params, self.n_rounds, seed
            )
        # what the threshold promises, measured on the decisions that chose it
        chosen_scores, chosen_correct = field_scores[chooses], field_correct[chooses]
        accepted = chosen_scores >= self.threshold_
        self.training_report_ = {
            "embedding_precision": self.embedder.resolved_precision,
            "n_orgs": len(corpus),
            "n_fields": len(field_info),
            "n_concept_pairs": len(concept_data.labels),
            "n_positive_pairs": int(concept_data.labels.sum()),
            "n_field_pairs": len(pair_data.labels) if pair_data is not None else 0,
            "n_positive_field_pairs": int(pair_data.labels.sum()) if pair_data else 0,
            # pairs whose out-of-fold model had seen one of their orgs (a corpus too small
            # for a model that saw neither): the pair thresholds are optimistic for them
            "n_field_pairs_one_org_seen": one_org_seen[0] if one_org_seen else 0,
            "threshold": self.threshold_,
            "threshold_fields": int(chooses.sum()) // self.n_repeats,
            "pair_threshold": self.pair_threshold_,
            # each out-of-fold pair alone at the target precision (before clustering)
            "per_pair_threshold": per_pair_threshold,
            # what the simulated from-scratch proposals of each kind of org get at it
            **{f"oof_new_block_precision_{kind}": value
               for kind, value in sorted(scratch_precision.items())},
            "join_threshold": self.join_threshold_,
            "oof_field_precision_at_threshold": float(chosen_correct[accepted].mean())
            if accepted.any() else None,
            "oof_field_coverage_at_threshold": float(accepted.mean())
            if len(chosen_scores) else 0.0,
        }
        self.ontology_version_ = ontology.version
        self.version_ = self._compute_version()
        return self

    def _concept_training_data(
        self, corpus: Sequence[AnnotatedOrg], *, progress: bool
    ) -> tuple[_PairData, list[tuple[int, str | None]]]:
        """Candidate pairs with labels; field_info[i] = (org index, true concept)."""
        frames: list[pd.DataFrame] = []
        labels: list[np.ndarray] = []
        groups: list[np.ndarray] = []
        queries: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        field_info: list[tuple[int, str | None]] = []
        iterator: Iterable[tuple[int, AnnotatedOrg]] = enumerate(corpus)
        if progress:
            from rich.progress import track

            from fedcrm._console import error_console

            iterator = track(list(iterator), description="Featurising orgs",
                             console=error_console, disable=not error_console.is_terminal)
        for org_number, org in iterator:
            positions = self._learnable_fields(org.schema)
            if not positions:
                continue
            sides = [
                field_side(org.schema.objects[oi], org.schema.objects[oi].fields[fi], org.org_id)
                for oi, fi in positions
            ]
            index = build_index(sides, self.embedder)
            pairs, features, _ = self._concept_pairs(sides, index)
            offset = len(field_info)
            truths = []
            for oi, fi in positions:
                sobject = org.schema.objects[oi]
                truths.append(org.label(sobject.api_name, sobject.fields[fi].api_name).concept)
            field_info.extend((org_number, t) for t in truths)
            frames.append(features)
            labels.append(np.array(
                [self.concept_ids_[t] == truths[q] for q, t in pairs], dtype=np.int8
            ))
            groups.append(np.full(len(pairs), org_number))
            queries.append(np.array([offset + q for q, _ in pairs], dtype=np.int64))
            targets.append(np.array([t for _, t in pairs], dtype=np.int64))
        if not frames:
            raise ConfigError("the corpus has no custom fields to learn from")
        return _PairData(
            features=pd.concat(frames, ignore_index=True),
            labels=np.concatenate(labels),
            groups=np.concatenate(groups),
            query=np.concatenate(queries),
            target=np.concatenate(targets),
        ), field_info

    def _field_decisions(
        self,
        data: _PairData,
        raw: np.ndarray,
        field_info: list[tuple[int, str | None]],
        calibrator: IsotonicCalibrator,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per field: calibrated score of its best candidate and whether that is correct."""
        best_score = np.zeros(len(field_info))
        best_concept: list[str | None] = [None] * len(field_info)
        probabilities = calibrator(np.nan_to_num(raw, nan=0.0))
        for row in range(len(raw)):
            if np.isnan(raw[row]):
                continue
            q = data.query[row]
            if probabilities[row] > best_score[q]:
                best_score[q] = probabilities[row]
                best_concept[q] = self.concept_ids_[data.target[row]]
        correct = np.array(
            [best_concept[i] is not None and best_concept[i] == truth
             for i, (_, truth) in enumerate(field_info)]
        )
        return best_score, correct

    # ------------------------------------------------------------ pair model
    def _pair_training_data(self, corpus: Sequence[AnnotatedOrg]) -> _PairData | None:
        """Pairs of alignable fields (:meth:`_alignable_fields`) of different orgs, labelled
        equivalent when they share a block. Fields mapped to concepts take part too: two
        fields of the same concept are a positive pair, and sibling fields (street vs city on
        one object) are the hard negatives the model must learn to tell apart."""
        sides: list[Side] = []
        org_of: list[int] = []
        block_of: list[str | None] = []
        for number, org in enumerate(corpus):
            for oi, fi in self._alignable_fields(org.schema):
                sobject = org.schema.objects[oi]
                meta = sobject.fields[fi]
                sides.append(field_side(sobject, meta, org.org_id))
                org_of.append(number)
                block_of.append(org.block_of(sobject.api_name, meta.api_name))
        if len(set(org_of)) < 2:
            return None
        index = build_index(sides, self.embedder)
        pairs, features = self._field_pairs(index, np.array(org_of))
        if not pairs:
            return None
        labels = np.array(
            [block_of[a] is not None and block_of[a] == block_of[b] for a, b in pairs],
            dtype=np.int8,
        )
        return _PairData(
            features=features,
            labels=labels,
            groups=np.array([org_of[a] for a, _ in pairs]),
            query=np.array([a for a, _ in pairs]),
            target=np.array([b for _, b in pairs]),
            side_org=np.array(org_of),
            side_block=block_of,
            side_object=[(side.object, side.is_custom_object) for side in sides],
            org_kind=[org.source.kind for org in corpus],
        )

    def _field_pairs(
        self, index: SideIndex, org_of: np.ndarray
    ) -> tuple[list[tuple[int, int]], pd.DataFrame]:
        """Candidate pairs of fields of different orgs, with features (ranks and gaps taken
        among the target org's fields, so they do not depend on which other orgs take part).

        A block of query fields is compared with all fields at a time, so the fields × fields
        matrices are never held whole (memory grows with the fields, not their square); each
        query's candidates and features depend on its own row alone, so the result is the
        whole matrices' (tested).
        """
        if len(index) == 0:
            return [], pd.DataFrame(columns=list(FEATURE_NAMES))
        pairs: list[tuple[int, int]] = []
        frames: list[pd.DataFrame] = []
        for start, end in row_blocks(len(index)):
            query = index.rows(start, end)
            sims = similarities(query, index)
            allowed = org_of[start:end, None] != org_of[None, :]
            block = candidate_pairs(query, index, sims, k=self.k_candidates, allowed=allowed)
            if not block:
                continue
            frames.append(pair_features(query, index, block, sims, target_groups=org_of))
            pairs.extend((start + q, t) for q, t in block)
        if not pairs:
            return [], pd.DataFrame(columns=list(FEATURE_NAMES))
        return pairs, pd.concat(frames, ignore_index=True)

    # ---------------------------------------------------------------- predict
    def score_fields(
        self, schema: OrgSchema, *, explain: bool = True
    ) -> tuple[list[ScoredField], pd.DataFrame, np.ndarray]:
        """Calibrated candidates for every field of one org (no decision yet).

        Returns the scored fields, the feature rows and their LightGBM contributions (for
        evidence; computed for the shown candidates only, and not at all without ``explain``).
        """
        self._check_fitted()
        positions = self._learnable_fields(schema)
        sides = [
            field_side(schema.objects[oi], schema.objects[oi].fields[fi], schema.org_id)
            for oi, fi in positions
        ]
        index = build_index(sides, self.embedder)
        pairs, features, _ = self._concept_pairs(sides, index) if sides else ([], None, None)
        contributions = np.zeros((0, len(FEATURE_NAMES) + 1))
        by_field: dict[int, list[tuple[str, float, int]]] = defaultdict(list)
        if pairs:
            raw = np.asarray(self.concept_model_.predict(features), dtype=float)
            probabilities = self.concept_calibrator_(raw)
            # tie-break equal calibrated probabilities by the raw score
            order = np.lexsort((-raw, -probabilities))
            for row in order:
                q, t = pairs[row]
                by_field[q].append((self.concept_ids_[t], float(probabilities[row]), int(row)))
            # exact contributions (TreeSHAP, ~1 ms a row) only for the candidates a steward
            # weighs, those at or above explain_min_probability; the rest (NaN rows) are
            # described by their pair features (see _evidence). A field whose best candidate
            # is below it abstains, confident that no concept fits; in a 2,000-field org
            # that is most fields, and measuring them took a third of the matching time.
            shown = sorted(
                row for candidates in by_field.values()
                for _, probability, row in candidates[: self.top_k_output]
                if probability >= self.explain_min_probability
            ) if explain else []
            contributions = np.full((len(pairs), len(FEATURE_NAMES) + 1), np.nan)
            if shown and features is not None:
                contributions[shown] = np.asarray(
                    self.concept_model_.predict(features.iloc[shown], pred_contrib=True))
        scored: list[ScoredField] = []
        learnable = {pos: i for i, pos in enumerate(positions)}
        for oi, sobject in enumerate(schema.objects):
            for fi, meta in enumerate(sobject.fields):
                entry = ScoredField(org=schema.org_id, object=sobject.api_name,
                                    field=meta.api_name, label=meta.label or meta.api_name)
                if (oi, fi) in learnable:
                    q = learnable[(oi, fi)]
                    entry.side = q
                    entry.candidates = by_field.get(q, [])[: self.top_k_output]
                else:
                    concept = self.ontology_.standard_concept(sobject.api_name, meta.api_name)
                    if concept is not None:
                        entry.rule = f"standard field {sobject.api_name}.{meta.api_name}"
                        entry.candidates = [(concept.id, 1.0, -1)]
                    else:
                        entry.rule = "standard field with no canonical concept"
                scored.append(entry)
        return scored, features if features is not None else pd.DataFrame(), contributions

    def predict(
        self,
        schemas: Sequence[OrgSchema],
        *,
        fixed: dict[str, dict[tuple[str, str], str | None]] | None = None,
        fixed_schemas: Sequence[OrgSchema] = (),
    ) -> MappingProposal:
        """Propose a mapping for ``schemas``.

        ``fixed`` holds the approved blocks of orgs already in the federation
        (org → (object, field) → block) with their metadata in ``fixed_schemas``; new orgs'
        custom fields are then aligned to those blocks as well as to each other.
        """
        self._check_fitted()
        ids = [s.org_id for s in schemas] + [s.org_id for s in fixed_schemas]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise MappingError(
                f"org id(s) {duplicates} given more than once; pass org_id= to load_schema or "
                "rename the folders"
            )
        fixed = self._checked_fixed(fixed or {}, fixed_schemas)
        self._embed_at_once([*schemas, *fixed_schemas])
        decisions: dict[str, list[dict[str, Any]]] = {}
        concept_of: dict[str, dict[tuple[str, str], str | None]] = {}
        for schema in schemas:
            scored, features, contributions = self.score_fields(schema)
            feature_rows = features.to_numpy(dtype=np.float64)  # row access off pandas
            rows = []
            concept_of[schema.org_id] = {}
            for entry in scored:
                concept, confidence = self._decide(entry)
                candidates = [
                    Candidate(
                        concept=cid,
                        score=round(prob, 4),
                        evidence=self._evidence(entry, row, feature_rows, contributions, cid),
                    )
                    for cid, prob, row in entry.candidates
                ]
                rows.append({"object": entry.object, "field": entry.field, "concept": concept,
                             "confidence": round(confidence, 4), "candidates": candidates})
                concept_of[schema.org_id][(entry.object, entry.field)] = concept
            decisions[schema.org_id] = rows
        blocks = self._align_custom_fields(schemas, concept_of, fixed, fixed_schemas)
        orgs = []
        for schema in schemas:
            fields = []
            for row in decisions[schema.org_id]:
                key = (row["object"], row["field"])
                block = row["concept"] or blocks.get((schema.org_id, *key))
                fields.append(FieldMapping(block=block, **row))
            orgs.append(OrgMapping(org=schema.org_id, fields=fields))
        return MappingProposal(
            ontology_version=self.ontology_version_, matcher_version=self.version_, orgs=orgs
        )

    def _embed_at_once(self, schemas: Sequence[OrgSchema]) -> None:
        """Embed every text the orgs' fields may need in one call, in sorted order.

        A text's vector depends in its last bits on the batch it was computed in (padding,
        kernel shapes), and a rank feature turns such a difference between two near-equal
        candidates into another candidate: matching the same orgs in another order changed 5
        of 39 custom blocks of the real orgs (a review). One sorted call gives every text the
        same batch whatever the order of the orgs (in a process whose embedding cache does not
        hold them yet)."""
        aligning = self.pair_model_ is not None and len({s.org_id for s in schemas}) >= 2
        texts: set[str] = set()
        for schema in schemas:
            for oi, fi in self._learnable_fields(schema):
                sobject = schema.objects[oi]
                side = field_side(sobject, sobject.fields[fi], schema.org_id)
                # what a query needs (build_index); every name and the description only
                # as an alignment target
                texts.update([(side.names or [normalise(side.label)])[0], side.label,
                              side.context])
            if aligning:
                for oi, fi in self._alignable_fields(schema):
                    sobject = schema.objects[oi]
                    texts.update(side_texts(field_side(sobject, sobject.fields[fi],
                                                       schema.org_id)))
        if texts:
            self.embedder.encode(sorted(texts))

    def _decide(self, entry: ScoredField) -> tuple[str | None, float]:
        """Accept the best candidate if it clears the threshold; else abstain.

        The confidence of an abstention is the probability that no candidate is right,
        estimated as one minus the best candidate's probability.
        """
        if not entry.candidates:
            return None, 1.0 if entry.rule else 0.5
        concept, probability, _ = entry.candidates[0]
        if entry.rule is not None or probability >= self.threshold_:
            return concept, probability
        if unreadable_script(entry.label):
            # a label in a script the embedding model and the name features were not trained
            # on ("売上高", "Годовая выручка") scores low against every concept: that says the
            # matcher cannot read it, not that no concept fits (it was 0.98 sure there was none)
            return None, min(1.0 - probability, UNREADABLE_CONFIDENCE)
        return None, 1.0 - probability

    def _evidence(
        self,
        entry: ScoredField,
        row: int,
        features: np.ndarray,
        contributions: np.ndarray,
        concept_id: str,
    ) -> list[str]:
        if row < 0:
            return [f"rule: {entry.rule} is {concept_id} by definition"]
        concept = self.ontology_.concept(concept_id)
        measured = not np.isnan(contributions[row]).all()
        if not measured and self._importance_order is None:
            gain = self.concept_model_.feature_importance(importance_type="gain")
            self._importance_order = np.argsort(-np.asarray(gain), kind="stable")
        return explain(
            features[row], contributions[row] if measured else None,
            importance_order=self._importance_order, target_label=concept.label,
            target_names=self.concept_index_.sides[self.concept_ids_.index(concept_id)].names,
            field_label=entry.label, limit=4,
        )

    def _checked_fixed(
        self, fixed: Mapping[str, Mapping[tuple[str, str], str | None]],
        fixed_schemas: Sequence[OrgSchema],
    ) -> dict[str, dict[tuple[str, str], str | None]]:
        """``fixed`` with its (object, field) keys lower-cased (API names ignore case), after
        refusing what would otherwise be ignored without a word: an org without metadata in
        ``fixed_schemas``, a field its metadata lacks, a block that is neither a concept of
        the ontology nor ``custom:<id>``."""
        schemas = {schema.org_id: schema for schema in fixed_schemas}
        concepts = set(self.concept_ids_)
        checked: dict[str, dict[tuple[str, str], str | None]] = {}
        for org_id, blocks in fixed.items():
            schema = schemas.get(org_id)
            if schema is None:
                raise MappingError(
                    f"fixed names org {org_id!r}, but fixed_schemas has no metadata for it; "
                    "pass every approved org's schema in fixed_schemas")
            fields = {(o.api_name.lower(), f.api_name.lower()) for o, f in schema.iter_fields()}
            checked[org_id] = {}
            for (sobject, field), block in blocks.items():
                key = (sobject.lower(), field.lower())
                if key not in fields:
                    raise MappingError(f"fixed names {org_id} {sobject}.{field}, a field its "
                                       "metadata in fixed_schemas does not have")
                if block is not None and block not in concepts and not (
                        block.startswith(CUSTOM_BLOCK_PREFIX)
                        and len(block) > len(CUSTOM_BLOCK_PREFIX)):
                    raise MappingError(
                        f"fixed gives {org_id} {sobject}.{field} the block {block!r}, neither a "
                        f"concept of the ontology nor {CUSTOM_BLOCK_PREFIX}<id>")
                checked[org_id][key] = block
        return checked

    def _align_custom_fields(
        self,
        schemas: Sequence[OrgSchema],
        concept_of: dict[str, dict[tuple[str, str], str | None]],
        fixed: dict[str, dict[tuple[str, str], str | None]],
        fixed_schemas: Sequence[OrgSchema],
    ) -> dict[tuple[str, str, str], str]:
        """Cluster unmapped fields of different orgs into ``custom:<id>`` blocks.

        Every alignable field (custom fields, and the ``Name`` of custom objects) takes part
        in the comparison, as in training, but only fields without a concept — new orgs'
        unmapped fields and approved orgs' custom-block fields — can be joined into a block.
        """
        sides: list[Side] = []
        preset: list[str | None] = []
        alignable: list[bool] = []
        for schema in schemas:
            decided = concept_of[schema.org_id]
            for oi, fi in self._alignable_fields(schema):
                sobject = schema.objects[oi]
                meta = sobject.fields[fi]
                sides.append(field_side(sobject, meta, schema.org_id))
                preset.append(None)
                alignable.append(decided.get((sobject.api_name, meta.api_name)) is None)
        for schema in fixed_schemas:
            blocks = fixed.get(schema.org_id, {})
            for oi, fi in self._alignable_fields(schema):
                sobject = schema.objects[oi]
                meta = sobject.fields[fi]
                block = blocks.get((sobject.api_name.lower(), meta.api_name.lower()))
                sides.append(field_side(sobject, meta, schema.org_id))
                custom = block is not None and block.startswith("custom:")
                preset.append(block if custom else None)
                alignable.append(custom)
        org_names = [s.key.rsplit("|", 2)[0] for s in sides]
        if self.pair_model_ is None or len(set(org_names)) < 2:
            return {}  # blocks join fields of different orgs: one org has nothing to align
        org_codes = np.unique(org_names, return_inverse=True)[1]
        index = build_index(sides, self.embedder)
        pairs, features = self._field_pairs(index, org_codes)
        if not pairs:
            return {}
        raw = np.asarray(self.pair_model_.predict(features), dtype=float)
        best = _symmetric_scores(pairs, self.pair_calibrator_(raw), raw, alignable)
        return _cluster(sides, org_names, preset, best, self.pair_threshold_,
                        self.join_threshold_, reserved=set(self.concept_ids_))

    # ------------------------------------------------------------ persistence
    def _compute_version(self) -> str:
        digest = hashlib.sha256(self.concept_model_.model_to_string().encode())
        if self.pair_model_ is not None:
            digest.update(self.pair_model_.model_to_string().encode())
        digest.update(json.dumps([self.threshold_, self.pair_threshold_,
                                  self.join_threshold_]).encode())
        return f"{__version__}+{digest.hexdigest()[:10]}"

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn convention)."""
        return {
            "embedding_model": str(self.embedding_model) if self.embedding_model else None,
            "embedding_precision": self.embedding_precision,
            "k_candidates": self.k_candidates,
            "top_k_output": self.top_k_output,
            "explain_min_probability": self.explain_min_probability,
            "target_precision": self.target_precision,
            "pair_target_precision": self.pair_target_precision,
            "n_folds": self.n_folds,
            "pair_folds": self.pair_folds,
            "n_repeats": self.n_repeats,
            "n_rounds": self.n_rounds,
            "lgbm_params": self.lgbm_params,
            "random_state": self.random_state,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted matcher to one file (a zip of JSON, LightGBM text and arrays)."""
        self._check_fitted()
        path = Path(path)
        texts = self.concept_index_.name_strings + [
            t for s in self.concept_index_.sides for t in (s.label, s.context, s.description)
        ]
        texts = list(dict.fromkeys(texts))
        vectors = self.embedder.encode(texts)
        meta = {
            "format": MODEL_FORMAT,
            "fedcrm_version": __version__,
            "matcher_version": self.version_,
            "ontology_version": self.ontology_version_,
            "ontology_fingerprint": ontology_fingerprint_safe(),
            # of the ontology the matcher was fitted with (load warns when it differs)
            "ontology_content": ontology_content_digest(self.ontology_),
            "params": _saved_params(self.get_params()),
            # the model that built concept_vectors.npz: field vectors must come from it too
            "embedding_model": {"name": self.embedder.identity,
                                "dimension": int(vectors.shape[1])},
            # null: accept nothing (an infinite threshold; JSON has no infinity)
            "threshold": _finite_or_none(self.threshold_),
            "pair_threshold": _finite_or_none(self.pair_threshold_),
            "join_threshold": _finite_or_none(self.join_threshold_),
            "concept_calibrator": self.concept_calibrator_.to_dict(),
            "pair_calibrator": self.pair_calibrator_.to_dict(),
            "feature_names": list(FEATURE_NAMES),
            "training_report": {key: _finite_or_none(value)
                                for key, value in self.training_report_.items()},
            "concept_ids": self.concept_ids_,
        }
        members = {
            "meta.json": json.dumps(meta, indent=1).encode(),
            "concept_model.txt": self.concept_model_.model_to_string().encode(),
        }
        if self.pair_model_ is not None:
            members["pair_model.txt"] = self.pair_model_.model_to_string().encode()
        buffer = io.BytesIO()
        np.savez_compressed(buffer, texts=np.array(texts), vectors=vectors)
        members["concept_vectors.npz"] = buffer.getvalue()
        checksums = {name: hashlib.sha256(data).hexdigest() for name, data in members.items()}
        members["checksums.json"] = json.dumps(checksums).encode()
        archive_bytes = io.BytesIO()
        with zipfile.ZipFile(archive_bytes, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        # a temporary file of its own beside the target, fsynced, then renamed over it (two
        # trainings into one --out shared one fixed "<out>.tmp" before)
        return write_atomically(path, archive_bytes.getvalue())

    @classmethod
    def load(
        cls, path: str | Path, *, ontology: Ontology | None = None, device: str | None = None
    ) -> FieldMatcher:
        """Read a matcher written by :meth:`save`, verifying its integrity."""
        path = Path(path)
        retrain = "retrain with `fedcrm matcher train --out FILE`"
        try:
            with zipfile.ZipFile(path) as archive:
                members = _read_members(path, archive)
        except FileNotFoundError:
            raise MappingError(f"{path}: no such matcher file") from None
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError,
                ValueError, EOFError, zlib.error) as exc:
            # RuntimeError: an encrypted member; NotImplementedError: an unknown compression;
            # zlib.error / EOFError: damaged compressed data
            raise MappingError(
                f"{path}: not a fedcrm matcher file or corrupt ({exc}); {retrain}"
            ) from exc
        try:
            checksums = json.loads(members["checksums.json"])
            if not (isinstance(checksums, dict)
                    and all(isinstance(v, str) for v in checksums.values())):
                raise MappingError(f"{path}: checksums.json is not a table of member "
                                   f"checksums; the file is corrupt: {retrain}")
            for name, expected in checksums.items():
                if hashlib.sha256(members[name]).hexdigest() != expected:
                    raise MappingError(f"{path}: member {name} is corrupt (checksum mismatch); "
                                       f"{retrain}")
            meta = json.loads(members["meta.json"])
        except (KeyError, ValueError, RecursionError) as exc:  # JSONDecodeError: a ValueError
            raise MappingError(f"{path}: incomplete or corrupt matcher file "
                               f"({type(exc).__name__}: {exc}); {retrain}") from exc
        try:
            return cls._from_members(path, members, meta, ontology=ontology, device=device)
        except FedcrmError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, lgb.basic.LightGBMError) as exc:
            # checksums match, so the contents were written this way: another fedcrm version,
            # or a file edited and re-summed
            raise MappingError(
                f"{path}: a matcher file this fedcrm cannot read ({type(exc).__name__}: "
                f"{exc}); it comes from another fedcrm version or was edited: retrain with "
                "`fedcrm matcher train --out FILE`") from exc

    @classmethod
    def _from_members(
        cls, path: Path, members: dict[str, bytes], meta: Any, *, ontology: Ontology | None,
        device: str | None,
    ) -> FieldMatcher:
        """The matcher a file's verified members describe (see :meth:`load`)."""
        if not isinstance(meta, dict):
            raise MappingError(f"{path}: meta.json is not a JSON object; retrain with "
                               "`fedcrm matcher train --out FILE`")
        if meta.get("format") != MODEL_FORMAT:
            older = isinstance(meta.get("format"), int) and meta["format"] < MODEL_FORMAT
            raise MappingError(
                f"{path}: unsupported matcher format {meta.get('format')} (this fedcrm reads "
                f"format {MODEL_FORMAT}); "
                + ("its pair model was trained on features computed differently; retrain it "
                   "with `fedcrm matcher train --out FILE`" if older
                   else "it was saved by a newer fedcrm; upgrade fedcrm"))
        if meta["feature_names"] != list(FEATURE_NAMES):
            raise MappingError(
                f"{path}: trained with another feature set (fedcrm {meta['fedcrm_version']}); "
                "retrain with `fedcrm matcher train --out FILE`"
            )
        params = dict(meta["params"])
        recorded = params.get("embedding_model")
        from_environment = bool(os.environ.get(EMBEDDING_ENV_VAR))
        if from_environment:
            # the folder of the model on this machine; the identity check below still makes
            # sure it is the model the file was built with
            params["embedding_model"] = None
        matcher = cls(**params, device=device)
        ontology = ontology if ontology is not None else load_ontology()
        if ontology.version != meta["ontology_version"]:
            raise MappingError(
                f"{path}: trained on ontology {meta['ontology_version']}, but ontology "
                f"{ontology.version} is loaded; retrain with `fedcrm matcher train --out FILE`"
            )
        trained_on = meta.get("ontology_content")  # files saved before 2026-11-27 lack it
        if trained_on is not None and trained_on != ontology_content_digest(ontology):
            warnings.warn(
                f"{path}: trained on other contents of ontology {ontology.version} (its "
                "concepts, names or translations were edited without a new version); the "
                "matcher's scores were learnt on the old ones: retrain with `fedcrm matcher "
                "train --out FILE`, and give an edited ontology a new version",
                UserWarning, stacklevel=3)
        vectors = np.load(io.BytesIO(members["concept_vectors.npz"]), allow_pickle=False)
        try:
            _check_embedding_model(path, meta, matcher.embedder, vectors["vectors"].shape[1])
        except ConfigError as exc:  # the model folder is not on this machine
            built_with = (meta.get("embedding_model") or {}).get("name", recorded)
            fix = (f"{EMBEDDING_ENV_VAR} names no model folder: point it at this machine's "
                   f"copy of {built_with!r}, or unset it" if from_environment else
                   f"the matcher was built with the embedding model at {recorded!r}: set "
                   f"{EMBEDDING_ENV_VAR} to this machine's copy of that model")
            raise MappingError(f"{path}: {exc}. {fix}") from exc
        matcher.embedder.remember([str(t) for t in vectors["texts"]], vectors["vectors"])
        matcher._prepare_concepts(ontology)
        if matcher.concept_ids_ != meta["concept_ids"]:
            raise MappingError(f"{path}: concept list differs from the loaded ontology")
        matcher.concept_model_ = _booster(path, members, "concept_model.txt")
        matcher.pair_model_ = (_booster(path, members, "pair_model.txt")
                               if "pair_model.txt" in members else None)
        matcher.concept_calibrator_ = IsotonicCalibrator.from_dict(meta["concept_calibrator"])
        matcher.pair_calibrator_ = IsotonicCalibrator.from_dict(meta["pair_calibrator"])
        matcher.threshold_ = _threshold(meta["threshold"])
        matcher.pair_threshold_ = _threshold(meta["pair_threshold"])
        # models saved before joins had their own threshold used the pair threshold for both
        matcher.join_threshold_ = _threshold(meta.get("join_threshold", meta["pair_threshold"]))
        matcher.training_report_ = meta["training_report"]
        matcher.ontology_version_ = meta["ontology_version"]
        matcher.version_ = meta["matcher_version"]
        return matcher


def _saved_params(params: dict[str, Any]) -> dict[str, Any]:
    """Constructor parameters as a matcher file records them: an embedding model folder as
    an absolute path (a relative one named another folder once loaded elsewhere)."""
    model = params.get("embedding_model")
    if model and model != DEFAULT_EMBEDDING_MODEL:
        params = {**params, "embedding_model": str(Path(model).expanduser().resolve())}
    return params


#: the most an abstention on a label the matcher cannot read claims to be sure of
UNREADABLE_CONFIDENCE = 0.5


def unreadable_script(label: str) -> bool:
    """Whether ``label`` has letters, none of them Latin (the script the shipped embedding
    model and the annotated corpus are written in)."""
    letters = [character for character in label if character.isalpha()]
    return bool(letters) and not any(
        unicodedata.name(character, "").startswith("LATIN") for character in letters)


def _finite_or_none(value: Any) -> Any:
    """``value``, with an infinite threshold (accept nothing) written as JSON null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _threshold(value: float | None) -> float:
    """A threshold read from a matcher file: null is accept nothing."""
    return math.inf if value is None else float(value)


def _check_embedding_model(
    path: Path, meta: dict[str, Any], embedder: Embedder, stored_dimension: int
) -> None:
    """Refuse to mix the file's stored concept vectors with another model's field vectors.

    Files written before the model was recorded were built with the default model.
    """
    recorded = meta.get("embedding_model") or {"name": DEFAULT_EMBEDDING_MODEL}
    built_with = str(recorded["name"])
    selected = embedder.identity
    fix = (f"unset {EMBEDDING_ENV_VAR} (or set it to the model {built_with!r}), or retrain "
           "the matcher with the model you want (`fedcrm matcher train --out FILE`)")
    if selected != built_with:
        raise MappingError(
            f"{path}: built with embedding model {built_with!r}, but {selected!r} is selected "
            f"({embedder.model_path}); its stored concept vectors do not mix with another "
            f"model's field vectors. Fix: {fix}"
        )
    dimension = int(recorded.get("dimension") or stored_dimension)
    selected_dimension = embedder.declared_dimension
    if selected_dimension != dimension:
        raise MappingError(
            f"{path}: built with embedding model {built_with!r} of {dimension}-dimensional "
            f"vectors, but the selected model at {embedder.model_path} gives "
            f"{selected_dimension}. Fix: {fix}"
        )


#: the members a matcher file holds, and the most bytes one may expand to (the shipped
#: file's largest, the concept vectors, is a few MB): a damaged or crafted file that expands
#: to gigabytes is refused before it is read
MEMBERS = ("meta.json", "checksums.json", "concept_model.txt", "pair_model.txt",
           "concept_vectors.npz")
MAX_MEMBER_BYTES = 512 * 2**20


def _read_members(path: Path, archive: zipfile.ZipFile) -> dict[str, bytes]:
    """The known members of a matcher file (others are never read), each size-checked."""
    members: dict[str, bytes] = {}
    for info in archive.infolist():
        if info.filename not in MEMBERS:
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            raise MappingError(
                f"{path}: member {info.filename} expands to {info.file_size:,} bytes, more "
                f"than a matcher holds ({MAX_MEMBER_BYTES:,}); the file is damaged or not a "
                "fedcrm matcher: retrain with `fedcrm matcher train --out FILE`")
        members[info.filename] = archive.read(info)
    return members


def _booster(path: Path, members: dict[str, bytes], name: str) -> lgb.Booster:
    """A LightGBM model from a member's text. A truncated text makes LightGBM abort the
    process (not raise), so the text must end as LightGBM writes it first."""
    text = members[name].decode()
    if "\nend of trees" not in text or "\nend of parameters" not in text:
        raise MappingError(f"{path}: member {name} is not a whole LightGBM model (cut off or "
                           "edited); retrain with `fedcrm matcher train --out FILE`")
    return lgb.Booster(model_str=text)


def ontology_content_digest(ontology: Ontology) -> str:
    """A digest of an ontology's parsed contents (concepts, names, translations, value
    sets), so that a matcher can tell an edit made without a new version."""
    return hashlib.sha256(ontology.model_dump_json().encode()).hexdigest()[:16]


def ontology_fingerprint_safe() -> str | None:
    """Fingerprint of the default ontology folder, or None if it cannot be read."""
    try:
        return ontology_fingerprint()
    except Exception:
        return None


def _block_name(side: Side, taken: set[str]) -> str:
    base = re.sub(r"_+", "_", normalise(side.label).replace(" ", "_")).strip("_") or "field"
    base = f"custom:{side.object.lower()}.{base}"[:80]
    name, counter = base, 2
    while name in taken:
        name = f"{base}_{counter}"
        counter += 1
    return name


Score = tuple[float, float]  # (calibrated probability, raw model score as tie-break)
MergeHook = Callable[[Score, set[int], set[int]], None]


def _symmetric_scores(
    pairs: Sequence[tuple[int, int]],
    probabilities: np.ndarray,
    raw: np.ndarray,
    keep: Sequence[bool] | np.ndarray,
) -> dict[tuple[int, int], Score]:
    """One score per unordered pair of kept fields: the better of its two directions."""
    best: dict[tuple[int, int], Score] = {}
    for (a, b), p, r in zip(pairs, probabilities, raw, strict=True):
        if not (keep[a] and keep[b]):
            continue
        key, score = (min(a, b), max(a, b)), (float(p), float(r))
        if key not in best or score > best[key]:
            best[key] = score
    return best


ObjectOf = Sequence[tuple[str, bool]]  # per field: its object's API name, is it custom


def _corresponding_objects(
    org_names: Sequence[str],
    objects: ObjectOf,
    scores: dict[tuple[int, int], Score],
) -> dict[tuple[str, str, str], str]:
    """One-to-one correspondence of custom objects between each two orgs.

    The support of two custom objects is the summed probability of their fields' pairs (the
    expected number of equivalent fields); pairs of objects are taken greedily by support,
    each object at most once per other org. Returns (org, object, other org) → the other
    org's object.
    """
    support: dict[tuple[tuple[str, str], tuple[str, str]], float] = defaultdict(float)
    for (a, b), (probability, _) in scores.items():
        if not (objects[a][1] and objects[b][1]):
            continue
        ends = sorted([(org_names[a], objects[a][0]), (org_names[b], objects[b][0])])
        support[(ends[0], ends[1])] += probability
    partner: dict[tuple[str, str, str], str] = {}
    for (one, two), _ in sorted(support.items(), key=lambda item: (-item[1], item[0])):
        if (*one, two[0]) in partner or (*two, one[0]) in partner:
            continue
        partner[(*one, two[0])] = two[1]
        partner[(*two, one[0])] = one[1]
    return partner


def _greedy_groups(
    org_names: Sequence[str],
    preset: Sequence[str | None],
    scores: dict[tuple[int, int], Score],
    threshold: float,
    on_merge: MergeHook | None = None,
    objects: ObjectOf | None = None,
    join_threshold: float | None = None,
    names: Sequence[str] | None = None,
) -> list[set[int]]:
    """Greedy agglomeration by descending score, at most one field per org per group.

    Fields with the same preset block start in one group; groups with different preset
    blocks never merge. Two groups without a preset block (a new block) merge at
    ``threshold``; a group joins one with a preset block at ``join_threshold`` (default
    ``threshold``). Equal calibrated probabilities (isotonic calibration has plateaus)
    are ordered by the raw model score. With ``objects``, fields of two custom objects are
    joined only if the objects correspond (:func:`_corresponding_objects`), so one object's
    fields are not split between two objects of another org. ``on_merge(score, group_a,
    group_b)`` is called before each merge. ``names`` (one per field, e.g. its side key)
    break exact ties of score by the pair's names, so the groups do not depend on the order
    in which the fields were given (without them, by that order).
    """
    if objects is not None:
        partner = _corresponding_objects(org_names, objects, scores)
        scores = {
            (a, b): score for (a, b), score in scores.items()
            if not (objects[a][1] and objects[b][1])
            or partner.get((org_names[a], objects[a][0], org_names[b])) == objects[b][0]
        }
    parent = list(range(len(org_names)))
    members: dict[int, set[int]] = {i: {i} for i in range(len(org_names))}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_preset: dict[str, list[int]] = defaultdict(list)
    for i, block in enumerate(preset):
        if block is not None:
            by_preset[block].append(i)
    for preset_group in by_preset.values():
        for other in preset_group[1:]:
            a, b = find(preset_group[0]), find(other)
            if a != b:
                parent[b] = a
                members[a] |= members.pop(b)
    join = threshold if join_threshold is None else join_threshold
    items = list(scores.items())
    if names is not None:  # stable sorts: by names first, then by score (descending)
        items.sort(key=lambda item: sorted((names[item[0][0]], names[item[0][1]])))
    ordered = sorted(items, key=lambda item: item[1], reverse=True)
    for (a, b), score in ordered:
        if score[0] < min(threshold, join):
            break
        root_a, root_b = find(a), find(b)
        if root_a == root_b:
            continue
        orgs_a = {org_names[i] for i in members[root_a]}
        orgs_b = {org_names[i] for i in members[root_b]}
        blocks_a = {preset[i] for i in members[root_a]} - {None}
        blocks_b = {preset[i] for i in members[root_b]} - {None}
        if orgs_a & orgs_b or (blocks_a and blocks_b and blocks_a != blocks_b):
            continue
        if score[0] < (join if blocks_a or blocks_b else threshold):
            continue
        if on_merge is not None:
            on_merge(score, members[root_a], members[root_b])
        parent[root_b] = root_a
        members[root_a] |= members.pop(root_b)
    return list(members.values())


def _cluster(
    sides: list[Side],
    org_names: list[str],
    preset: list[str | None],
    scores: dict[tuple[int, int], Score],
    threshold: float,
    join_threshold: float,
    *,
    reserved: Iterable[str] = (),
) -> dict[tuple[str, str, str], str]:
    """Blocks for the fields of new orgs: greedy groups named after a preset member or,
    for a new block, after its field with the smallest side key (org, object, field: not the
    first given, so the names do not depend on the order of the orgs). A new block is never
    named after a concept id
    in ``reserved`` (``custom:account.region`` for fields labelled "Region" that no concept
    took): the label corpus refuses such a group, so ``_2`` is appended."""
    result: dict[tuple[str, str, str], str] = {}
    taken = {b for b in preset if b is not None} | {f"custom:{c}" for c in reserved}
    objects = [(side.object, side.is_custom_object) for side in sides]
    groups = _greedy_groups(org_names, preset, scores, threshold, objects=objects,
                            join_threshold=join_threshold, names=[side.key for side in sides])
    def first(group: set[int]) -> int:
        return min(group, key=lambda i: sides[i].key)

    for group in sorted(groups, key=lambda g: sides[first(g)].key):
        if len({org_names[i] for i in group}) < 2:
            continue
        existing = sorted(b for b in (preset[i] for i in group) if b is not None)
        name = existing[0] if existing else _block_name(sides[first(group)], taken)
        taken.add(name)
        for i in group:
            if preset[i] is None:
                meta = sides[i].field
                assert meta is not None
                result[(org_names[i], sides[i].object, meta.api_name)] = name
    return result


def _kind_weighted_threshold(
    scores: Sequence[float], correct: Sequence[bool], kinds: Sequence[str], target: float
) -> float:
    """:func:`threshold_for_precision` with each kind of org (real, synthetic) weighing the
    same in the precision: generated orgs are many and easier than real ones, and would
    otherwise decide it alone."""
    kind_array = np.array(kinds)
    weights = np.zeros(len(kind_array))
    for kind in np.unique(kind_array):
        weights[kind_array == kind] = 1.0 / np.sum(kind_array == kind)
    return threshold_for_precision(np.array(scores, dtype=float), np.array(correct, dtype=bool),
                                   target, weights=weights)


class _MergeLog:
    """The equivalence pairs each simulated merge creates, with the score that made it."""

    def __init__(self, blocks: Sequence[str | None]) -> None:
        self.blocks = blocks
        self.scores: list[float] = []
        self.correct: list[bool] = []
        self.kinds: list[str] = []

    def hook(self, new: np.ndarray, kind: str) -> MergeHook:
        """A merge hook counting the pairs with a field of ``new``, as ``kind``."""

        def record(score: Score, group_a: set[int], group_b: set[int]) -> None:
            for u in group_a:
                for v in group_b:
                    if new[u] or new[v]:
                        self.scores.append(score[0])
                        self.correct.append(self.blocks[u] is not None
                                            and self.blocks[u] == self.blocks[v])
                        self.kinds.append(kind)

        return record

    def threshold(self, target: float) -> float:
        return _kind_weighted_threshold(self.scores, self.correct, self.kinds, target)


def _true_kinds(data: _PairData) -> tuple[np.ndarray, np.ndarray]:
    """Per field: is its annotated block a shared custom block, is it a concept."""
    custom = np.array([b is not None and b.startswith("custom:") for b in data.side_block])
    concept = np.array([b is not None for b in data.side_block]) & ~custom
    return custom, concept


def clustered_join_threshold(
    data: _PairData, probabilities: np.ndarray, raw: np.ndarray, target: float
) -> float:
    """Threshold at which a new org's fields *join* approved blocks with ``target`` precision.

    Each training org in turn joins the others as a new org would (the others keep their
    annotated custom blocks), its out-of-fold pair scores are clustered by
    :func:`_greedy_groups`, and every merge records the equivalence pairs it creates between
    the new org's fields and the others' with the score that made it. The one-field-per-org
    rule and the object correspondence remove many of the pairs a per-pair threshold has to
    guard against, so this threshold is lower than the per-pair one at the same precision of
    what is proposed. Real and synthetic orgs weigh equally in the precision
    (:func:`_kind_weighted_threshold`).
    """
    pairs = list(zip(data.query.tolist(), data.target.tolist(), strict=True))
    custom, concept = _true_kinds(data)
    org_names = [str(o) for o in data.side_org]
    log = _MergeLog(data.side_block)
    for org in np.unique(data.side_org):
        new = data.side_org == org
        involved = new[data.query] | new[data.target]
        alignable = np.where(new, ~concept, custom)
        preset = [b if (not new[i] and custom[i]) else None
                  for i, b in enumerate(data.side_block)]
        chosen = np.nonzero(involved)[0]
        scores = _symmetric_scores([pairs[i] for i in chosen], probabilities[chosen],
                                   raw[chosen], alignable)
        kind = data.org_kind[org] if data.org_kind else "real"
        # every merge is a join: the others' fields outside custom blocks are not alignable
        _greedy_groups(org_names, preset, scores, 0.0, on_merge=log.hook(new, kind),
                       objects=data.side_object)
    return log.threshold(target)


#: orgs per simulated federation when the new-block threshold is chosen (the seven real
#: orgs of annotations/ are one; the generated ones are dealt into federations this size)
SCRATCH_FEDERATION_SIZE = 8


def clustered_scratch_threshold(
    data: _PairData, probabilities: np.ndarray, raw: np.ndarray, target: float,
    *, min_pairs: int = 20,
) -> tuple[float | None, dict[str, float | None]]:
    """Threshold at which orgs matched together from scratch get *new* blocks with
    ``target`` precision, and the precision each kind of org gets at it.

    The training orgs of each kind are dealt (in order, in turn) into simulated federations
    of at most :data:`SCRATCH_FEDERATION_SIZE` orgs; each federation's out-of-fold pair
    scores (from models that saw neither org of a pair, where the corpus is large enough;
    see ``n_field_pairs_one_org_seen``) are clustered by
    :func:`_greedy_groups` with nothing approved, and every merge records all the
    equivalence pairs it creates, the ones a block gets by transitivity included, with the
    score that made it. That is what the pairwise precision of a proposal counts; a
    per-pair threshold counts each scored pair alone. Fields whose annotation is a concept
    take no part (the concept model maps them).

    The generated orgs choose the threshold when they propose at least ``min_pairs`` pairs
    (orgs are simulated with orgs of their kind only): they are many, while a few real orgs
    propose few pairs, most of them between two orgs, and a threshold chosen with them jumps
    (in the shipped corpus, from 0.93 to "accept nothing" when one real org was left out).
    Otherwise every org chooses it. The threshold is None when the choosing orgs propose
    fewer than ``min_pairs`` pairs at any score (too few to choose on), and ``math.inf`` when
    no threshold with ``min_pairs`` proposals above it reaches ``target``: then no new block
    is proposed, as the target asks. The per-kind precision (None for a kind that proposes
    nothing there) says what the threshold does not promise for orgs unlike the generated
    ones.

    The candidates are each field's best over all training orgs (as in training), so a
    simulated federation sees fewer competing candidates than the same orgs matched alone
    would: the simulation is of the clustering, not of the candidate search.
    """
    pairs = list(zip(data.query.tolist(), data.target.tolist(), strict=True))
    _, concept = _true_kinds(data)
    org_names = [str(o) for o in data.side_org]
    kinds = data.org_kind or ["real"] * (int(data.side_org.max()) + 1)
    log = _MergeLog(data.side_block)
    for kind in sorted(set(kinds)):
        orgs = [o for o in np.unique(data.side_org) if kinds[o] == kind]
        n_federations = max(1, math.ceil(len(orgs) / SCRATCH_FEDERATION_SIZE))
        for number in range(n_federations):
            members = np.isin(data.side_org, orgs[number::n_federations])
            chosen = np.nonzero(members[data.query] & members[data.target])[0]
            best = _symmetric_scores([pairs[i] for i in chosen], probabilities[chosen],
                                     raw[chosen], ~concept)
            _greedy_groups(org_names, [None] * len(org_names), best, 0.0,
                           on_merge=log.hook(members, kind), objects=data.side_object)
    scores, correct, kind_of = (np.array(log.scores, dtype=float),
                                np.array(log.correct, dtype=bool), np.array(log.kinds))
    choosing = kind_of == "synthetic"
    if choosing.sum() < min_pairs:  # e.g. no generated orgs, or one (a federation of one)
        choosing = np.ones(len(kind_of), dtype=bool)
    if choosing.sum() < min_pairs:
        return None, {}
    threshold = threshold_for_precision(scores[choosing], correct[choosing], target,
                                        min_support=min_pairs)
    accepted = scores >= threshold
    precision = {
        str(kind): float(correct[accepted & (kind_of == kind)].mean())
        if (accepted & (kind_of == kind)).any() else None
        for kind in np.unique(kind_of)
    }
    return threshold, precision
