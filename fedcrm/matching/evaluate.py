"""Evaluate the matcher and its baselines on held-out orgs.

Folds are grouped by org: one org is never split between training and test. For the
cross-org equivalence metrics the held-out org plays the role of a *new* org joining a
federation whose other orgs are already mapped (their approved blocks are the annotated
truth); the pairs scored are the held-out org's fields × the other orgs' fields.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from fedcrm.errors import ConfigError
from fedcrm.matching.calibration import (
    expected_calibration_error,
    risk_coverage,
    threshold_for_precision,
)
from fedcrm.matching.corpus import AnnotatedOrg
from fedcrm.matching.embeddings import Embedder
from fedcrm.matching.features import concept_side, field_side, normalise
from fedcrm.matching.model import FieldMatcher
from fedcrm.matching.text import expand, split_api_name
from fedcrm.ontology import Ontology, load_ontology

FieldKey = tuple[str, str, str]  # org, object, field


@dataclass
class Prediction:
    """What one method said about the held-out orgs."""

    #: org, object, field → ranked (concept, score) candidates (custom fields only)
    ranked: dict[FieldKey, list[tuple[str, float]]] = field(default_factory=dict)
    #: org, object, field → predicted block for every field (None = no block)
    blocks: dict[FieldKey, str | None] = field(default_factory=dict)
    #: accepted concept per custom field (None = abstained)
    accepted: dict[FieldKey, str | None] = field(default_factory=dict)
    #: (calibrated probability, label) of every candidate pair, for calibration error
    calibration: list[tuple[float, int]] = field(default_factory=list)
    #: (calibrated probability, label) of each field's top candidate only: the decision the
    #: probability is used for (most candidate pairs are easy negatives near 0, which pull
    #: the all-pairs error towards 0)
    top_calibration: list[tuple[float, int]] = field(default_factory=list)
    #: every field's block when the held-out and context orgs are matched together from
    #: scratch, none approved (only the learned matcher fills it)
    scratch_blocks: dict[FieldKey, str | None] = field(default_factory=dict)


@dataclass
class MethodScores:
    """Metrics of one method over all held-out orgs."""

    name: str
    top1_accuracy: float
    precision: float
    recall: float
    coverage: float
    recall_at: dict[int, float]
    mrr: float
    pair_precision: float
    pair_recall: float
    pair_f1: float
    ece: float | None
    n_fields: int
    n_concept_fields: int
    n_true_pairs: int
    seconds: float
    risk_coverage: list[dict[str, float]] = field(default_factory=list)
    #: ECE over each field's top candidate (``ece`` is over every candidate pair)
    ece_top1: float | None = None

    def row(self) -> dict[str, Any]:
        """Flat dict for tables and JSON."""
        return {
            "method": self.name,
            "top1": round(self.top1_accuracy, 3),
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "coverage": round(self.coverage, 3),
            **{f"R@{k}": round(v, 3) for k, v in self.recall_at.items()},
            "MRR": round(self.mrr, 3),
            "pair_P": round(self.pair_precision, 3),
            "pair_R": round(self.pair_recall, 3),
            "pair_F1": round(self.pair_f1, 3),
            "ECE": None if self.ece is None else round(self.ece, 3),
            "ECE_top1": None if self.ece_top1 is None else round(self.ece_top1, 3),
            "seconds": round(self.seconds, 1),
        }


def _truth_blocks(orgs: Sequence[AnnotatedOrg]) -> dict[FieldKey, str | None]:
    return {(org.org_id, sobject.api_name, meta.api_name):
            org.block_of(sobject.api_name, meta.api_name)
            for org in orgs for sobject, meta in org.schema.iter_fields()}


def pair_scores(hits: int, n_true: int, n_predicted: int) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 from (correct, true, predicted) pair counts; an
    empty side counts as perfect (nothing proposed is nothing wrong)."""
    precision = hits / n_predicted if n_predicted else 1.0
    recall = hits / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _pairs(
    blocks: dict[FieldKey, str | None], held_out: set[str]
) -> set[frozenset[FieldKey]]:
    """Pairs (held-out field, field of another org) that share a block."""
    by_block: dict[str, list[FieldKey]] = {}
    for key, block in blocks.items():
        if block is not None:
            by_block.setdefault(block, []).append(key)
    pairs: set[frozenset[FieldKey]] = set()
    for members in by_block.values():
        new = [m for m in members if m[0] in held_out]
        for a in new:
            for b in members:
                if b[0] != a[0] and (b[0] not in held_out or a < b):
                    pairs.add(frozenset((a, b)))
    return pairs


@dataclass
class PairSets:
    """True and predicted equivalence pairs between test orgs' fields and other orgs'
    fields, with the blocks they come from (context orgs keep their true blocks)."""

    truth_blocks: dict[FieldKey, str | None]
    predicted_blocks: dict[FieldKey, str | None]
    true_pairs: set[frozenset[FieldKey]]
    predicted_pairs: set[frozenset[FieldKey]]


def pair_sets(
    predicted: dict[FieldKey, str | None],
    test_orgs: Sequence[AnnotatedOrg],
    context_orgs: Sequence[AnnotatedOrg],
) -> PairSets:
    """The pairs :func:`pair_counts` counts, for analyses that need the pairs themselves."""
    held_out = {o.org_id for o in test_orgs}
    truth_blocks = _truth_blocks([*test_orgs, *context_orgs])
    predicted_blocks = {key: b for key, b in truth_blocks.items() if key[0] not in held_out}
    predicted_blocks.update({k: v for k, v in predicted.items() if k[0] in held_out})
    return PairSets(truth_blocks, predicted_blocks, _pairs(truth_blocks, held_out),
                    _pairs(predicted_blocks, held_out))


def scratch_pair_counts(
    predicted: dict[FieldKey, str | None],
    test_orgs: Sequence[AnnotatedOrg],
    context_orgs: Sequence[AnnotatedOrg],
) -> tuple[int, int, int]:
    """Like :func:`pair_counts`, but the context orgs' blocks are predicted too (all orgs
    matched together, none approved); pairs still need a test org's field."""
    held_out = {o.org_id for o in test_orgs}
    true_pairs = _pairs(_truth_blocks([*test_orgs, *context_orgs]), held_out)
    predicted_pairs = _pairs(predicted, held_out)
    return len(true_pairs & predicted_pairs), len(true_pairs), len(predicted_pairs)


def pair_counts(
    predicted: dict[FieldKey, str | None],
    test_orgs: Sequence[AnnotatedOrg],
    context_orgs: Sequence[AnnotatedOrg],
) -> tuple[int, int, int]:
    """(correct, true, predicted) equivalence pairs between the test orgs' fields and other
    orgs' fields; context orgs keep their true blocks (they are already mapped)."""
    sets = pair_sets(predicted, test_orgs, context_orgs)
    return (len(sets.true_pairs & sets.predicted_pairs), len(sets.true_pairs),
            len(sets.predicted_pairs))


def score_method(
    name: str,
    prediction: Prediction,
    test_orgs: Sequence[AnnotatedOrg],
    context_orgs: Sequence[AnnotatedOrg],
    seconds: float,
) -> MethodScores:
    """Field→concept and pairwise metrics of ``prediction`` on ``test_orgs``."""
    n_fields = n_concept = correct_top1 = accepted = accepted_correct = mapped_correct = 0
    recall_hits = {1: 0, 3: 0, 5: 0}
    reciprocal = 0.0
    scores, correctness = [], []
    for org in test_orgs:
        for sobject, meta in org.schema.iter_fields():
            if not meta.is_custom:
                continue
            key = (org.org_id, sobject.api_name, meta.api_name)
            truth = org.label(sobject.api_name, meta.api_name).concept
            ranked = prediction.ranked.get(key, [])
            decision = prediction.accepted.get(key)
            n_fields += 1
            top = ranked[0] if ranked else (None, 0.0)
            scores.append(top[1])
            correctness.append(top[0] is not None and top[0] == truth)
            if decision is not None:
                accepted += 1
                accepted_correct += decision == truth
            if truth is None:
                continue
            n_concept += 1
            mapped_correct += decision == truth
            concepts = [c for c, _ in ranked]
            correct_top1 += bool(concepts) and concepts[0] == truth
            if truth in concepts:
                rank = concepts.index(truth) + 1
                reciprocal += 1.0 / rank
                for k in recall_hits:
                    recall_hits[k] += rank <= k
    counts = pair_counts(prediction.blocks, test_orgs, context_orgs)
    pair_precision, pair_recall, pair_f1 = pair_scores(*counts)
    n_true = counts[1]
    ece = _ece(prediction.calibration)
    ece_top1 = _ece(prediction.top_calibration)
    return MethodScores(
        name=name,
        top1_accuracy=correct_top1 / n_concept if n_concept else 0.0,
        precision=accepted_correct / accepted if accepted else 1.0,
        recall=mapped_correct / n_concept if n_concept else 0.0,
        coverage=accepted / n_fields if n_fields else 0.0,
        recall_at={k: v / n_concept if n_concept else 0.0 for k, v in recall_hits.items()},
        mrr=reciprocal / n_concept if n_concept else 0.0,
        pair_precision=pair_precision,
        pair_recall=pair_recall,
        pair_f1=pair_f1,
        ece=ece,
        n_fields=n_fields,
        n_concept_fields=n_concept,
        n_true_pairs=n_true,
        seconds=seconds,
        risk_coverage=risk_coverage(np.array(scores), np.array(correctness)) if scores else [],
        ece_top1=ece_top1,
    )


def _ece(pairs: list[tuple[float, int]]) -> float | None:
    """Expected calibration error of (probability, label) pairs; None when there are none."""
    if not pairs:
        return None
    probabilities, labels = map(np.array, zip(*pairs, strict=True))
    return expected_calibration_error(probabilities, labels)


# ------------------------------------------------------------------------ methods
Method = Callable[
    [Sequence[AnnotatedOrg], Sequence[AnnotatedOrg], Sequence[AnnotatedOrg], Ontology],
    Prediction,
]


def matcher_method(*, from_scratch: bool = False, **params: Any) -> Method:
    """The learned matcher, fitted on the training orgs of each fold; with ``from_scratch``
    it also fills :attr:`Prediction.scratch_blocks` (one more prediction per fold)."""
    shared_embedder: list[Embedder] = []

    def run(
        train: Sequence[AnnotatedOrg],
        test: Sequence[AnnotatedOrg],
        context: Sequence[AnnotatedOrg],
        ontology: Ontology,
    ) -> Prediction:
        matcher = FieldMatcher(**params)
        if shared_embedder:
            matcher._embedder = shared_embedder[0]
        matcher.fit(train, ontology)
        shared_embedder[:] = [matcher.embedder]
        fixed = {
            org.org_id: {
                (o.api_name, f.api_name): org.block_of(o.api_name, f.api_name)
                for o, f in org.schema.iter_fields()
            }
            for org in context
        }
        proposal = matcher.predict(
            [o.schema for o in test], fixed=fixed, fixed_schemas=[o.schema for o in context]
        )
        # custom as FieldMeta.is_custom says (__c, __pc, __x, ...), as score_method counts
        custom = {
            (org.org_id, o.api_name, f.api_name)
            for org in test for o, f in org.schema.iter_fields() if f.is_custom
        }
        prediction = Prediction()
        for org_id, mapping in proposal.iter_fields():
            key = (org_id, mapping.object, mapping.field)
            prediction.blocks[key] = mapping.block
            if key in custom:
                prediction.ranked[key] = [(c.concept, c.score) for c in mapping.candidates]
                prediction.accepted[key] = mapping.concept
        if from_scratch:
            scratch = matcher.predict([o.schema for o in [*test, *context]])
            prediction.scratch_blocks = {(org_id, m.object, m.field): m.block
                                         for org_id, m in scratch.iter_fields()}
        for org in test:
            scored, _, _ = matcher.score_fields(org.schema, explain=False)
            for entry in scored:
                if entry.rule is not None:
                    continue
                truth = org.label(entry.object, entry.field).concept
                pairs = [(probability, int(concept == truth))
                         for concept, probability, _ in entry.candidates]
                prediction.calibration.extend(pairs)
                if pairs:
                    prediction.top_calibration.append(max(pairs, key=lambda pair: pair[0]))
        return prediction

    return run


def _name_strings(meta_label: str | None, api_name: str) -> list[str]:
    names = [normalise(" ".join(expand(split_api_name(api_name))))]
    if meta_label:
        names.append(normalise(meta_label))
    return [n for n in names if n]


def exact_method(
    train: Sequence[AnnotatedOrg],
    test: Sequence[AnnotatedOrg],
    context: Sequence[AnnotatedOrg],
    ontology: Ontology,
) -> Prediction:
    """Data Loader-style auto-match: identical API name or label (case-insensitive)."""
    by_name: dict[tuple[str, str], str] = {}
    for item in ontology.concepts:
        for name in (item.label, item.standard_field or ""):
            if name:
                by_name.setdefault((item.object.lower(), normalise(name)), item.id)
    context_fields: dict[tuple[str, str], list[FieldKey]] = {}
    for org in context:
        for sobject, meta in org.schema.iter_fields():
            block = org.block_of(sobject.api_name, meta.api_name)
            if block is not None and block.startswith("custom:"):
                for name in _name_strings(meta.label, meta.api_name):
                    context_fields.setdefault((sobject.api_name.lower(), name), []).append(
                        (org.org_id, sobject.api_name, meta.api_name)
                    )
    context_block = {
        (org.org_id, o.api_name, f.api_name): org.block_of(o.api_name, f.api_name)
        for org in context for o, f in org.schema.iter_fields()
    }
    prediction = Prediction()
    for org in test:
        for sobject, meta in org.schema.iter_fields():
            key = (org.org_id, sobject.api_name, meta.api_name)
            names = _name_strings(meta.label, meta.api_name)
            concept: str | None = None
            standard = ontology.standard_concept(sobject.api_name, meta.api_name)
            if not meta.is_custom:
                concept = standard.id if standard else None
            else:
                concept = next(
                    (by_name[(sobject.api_name.lower(), n)] for n in names
                     if (sobject.api_name.lower(), n) in by_name), None,
                )
                prediction.ranked[key] = [(concept, 1.0)] if concept else []
                prediction.accepted[key] = concept
            block = concept
            if block is None and meta.is_custom:
                partners = [
                    p for n in names for p in context_fields.get((sobject.api_name.lower(), n), [])
                ]
                if partners:
                    block = context_block[partners[0]]
            prediction.blocks[key] = block
    return prediction


def _similarity_method(kind: str, target_precision: float = 0.95) -> Method:
    """Nearest concept by rapidfuzz (``fuzzy``) or by embeddings (``embedding``), with an
    acceptance threshold tuned on the training orgs for the target precision."""
    embedder = Embedder()

    def concept_scores(
        orgs: Sequence[AnnotatedOrg], ontology: Ontology
    ) -> dict[FieldKey, list[tuple[str, float]]]:
        concepts = [concept_side(c, ontology) for c in ontology.concepts]
        result: dict[FieldKey, list[tuple[str, float]]] = {}
        fields = [
            (org, sobject, meta) for org in orgs for sobject, meta in org.schema.iter_fields()
            if meta.is_custom
        ]
        if not fields:
            return result
        queries = [field_side(s, m, o.org_id) for o, s, m in fields]
        names = [n for c in concepts for n in c.names]
        owners = np.array([i for i, c in enumerate(concepts) for _ in c.names])
        matrix = np.full((len(queries), len(concepts)), -1.0)
        if kind == "embedding":
            query_vectors = embedder.encode([q.label for q in queries])
            similarity = query_vectors @ embedder.encode(names).T
            np.maximum.at(matrix.T, owners, similarity.T)
        else:
            strings = [q.names[0] if q.names else normalise(q.label) for q in queries]
            raw = process.cdist(strings, names, scorer=fuzz.token_set_ratio, workers=-1) / 100.0
            labels = process.cdist(
                [normalise(q.label) for q in queries], names, scorer=fuzz.token_set_ratio,
                workers=-1,
            ) / 100.0
            both = np.maximum(raw, labels)
            np.maximum.at(matrix.T, owners, both.T)
        for row, (org, sobject, meta) in enumerate(fields):
            order = np.argsort(-matrix[row])[:5]
            result[(org.org_id, sobject.api_name, meta.api_name)] = [
                (concepts[i].key, float(matrix[row, i])) for i in order
            ]
        return result

    def run(
        train: Sequence[AnnotatedOrg],
        test: Sequence[AnnotatedOrg],
        context: Sequence[AnnotatedOrg],
        ontology: Ontology,
    ) -> Prediction:
        train_scores = concept_scores(train, ontology)
        tops, correct = [], []
        for org in train:
            for sobject, meta in org.schema.iter_fields():
                key = (org.org_id, sobject.api_name, meta.api_name)
                if train_scores.get(key):
                    concept, score = train_scores[key][0]
                    tops.append(score)
                    correct.append(concept == org.label(sobject.api_name, meta.api_name).concept)
        threshold = threshold_for_precision(np.array(tops), np.array(correct), target_precision)
        prediction = Prediction()
        test_scores = concept_scores(test, ontology)
        for org in test:
            for sobject, meta in org.schema.iter_fields():
                key = (org.org_id, sobject.api_name, meta.api_name)
                if meta.is_custom:
                    ranked = test_scores.get(key, [])
                    prediction.ranked[key] = ranked
                    accept = ranked[0][0] if ranked and ranked[0][1] >= threshold else None
                    prediction.accepted[key] = accept
                    prediction.blocks[key] = accept
                else:
                    standard = ontology.standard_concept(sobject.api_name, meta.api_name)
                    prediction.blocks[key] = standard.id if standard else None
        _align_by_similarity(prediction, test, context, kind, embedder)
        return prediction

    return run


def _align_by_similarity(
    prediction: Prediction,
    test: Sequence[AnnotatedOrg],
    context: Sequence[AnnotatedOrg],
    kind: str,
    embedder: Embedder,
    threshold: float = 0.9,
) -> None:
    """Give an unmapped custom field the block of its most similar custom-block field of
    another org on an object with the same name, if the similarity reaches ``threshold``."""
    members = [
        (org.org_id, sobject.api_name, meta, org.block_of(sobject.api_name, meta.api_name))
        for org in context for sobject, meta in org.schema.iter_fields()
    ]
    members = [m for m in members if m[3] is not None and m[3].startswith("custom:")]
    if not members:
        return
    member_text = [normalise(m[2].label or m[2].api_name) for m in members]
    queries = [
        (org.org_id, sobject.api_name, meta)
        for org in test for sobject, meta in org.schema.iter_fields()
        if meta.is_custom and prediction.blocks.get((org.org_id, sobject.api_name,
                                                    meta.api_name)) is None
    ]
    if not queries:
        return
    query_text = [normalise(q[2].label or q[2].api_name) for q in queries]
    if kind == "embedding":
        matrix = embedder.encode(query_text) @ embedder.encode(member_text).T
    else:
        matrix = process.cdist(query_text, member_text, scorer=fuzz.token_set_ratio,
                               workers=-1) / 100.0
    for row, (org_id, sobject, meta) in enumerate(queries):
        same_object = np.array(
            [normalise(" ".join(split_api_name(m[1]))) == normalise(" ".join(
                split_api_name(sobject))) for m in members]
        )
        scores = np.where(same_object, matrix[row], -1.0)
        best = int(np.argmax(scores))
        if scores[best] >= threshold:
            prediction.blocks[(org_id, sobject, meta.api_name)] = members[best][3]


def default_methods(**matcher_params: Any) -> dict[str, Method]:
    """The learned matcher and the baselines, by name."""
    return {
        "fedcrm matcher": matcher_method(**matcher_params),
        "exact name/label": exact_method,
        "rapidfuzz only": _similarity_method("fuzzy"),
        "embedding only": _similarity_method("embedding"),
    }


def evaluate(
    corpus: Sequence[AnnotatedOrg],
    *,
    test_orgs: Sequence[str] | None = None,
    extra_train: Sequence[AnnotatedOrg] = (),
    methods: dict[str, Method] | None = None,
    ontology: Ontology | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[MethodScores]:
    """Leave-one-org-out over ``test_orgs`` (default: every org of ``corpus``).

    For each held-out org, each method is trained on the other orgs of ``corpus`` plus
    ``extra_train`` (e.g. synthetic orgs) and scored on the held-out org; metrics are pooled
    over all held-out orgs.
    """
    by_id = {o.org_id: o for o in corpus}
    if isinstance(test_orgs, str):
        raise ConfigError(f"test_orgs must be a list of org ids such as [{test_orgs!r}], not "
                          "a string")
    chosen = (list(dict.fromkeys(test_orgs)) if test_orgs is not None
              else [o.org_id for o in corpus])
    if not chosen:
        raise ConfigError(
            "nothing to evaluate: no held-out orgs (the corpus has no orgs, or test_orgs is "
            "empty); give evaluate at least one annotated org"
        )
    unknown = [o for o in chosen if o not in by_id]
    if unknown:
        raise ConfigError(
            f"test org(s) {unknown} are not in the evaluated corpus; choose from "
            f"{sorted(by_id)}"
        )
    ontology = ontology if ontology is not None else load_ontology()
    methods = methods if methods is not None else default_methods()
    pooled: dict[str, Prediction] = {name: Prediction() for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    for org_id in chosen:
        held = [by_id[org_id]]
        others = [o for o in corpus if o.org_id != org_id]
        for name, method in methods.items():
            if progress:
                progress(f"{name}: held-out {org_id}")
            start = time.perf_counter()
            prediction = method([*others, *extra_train], held, others, ontology)
            seconds[name] += time.perf_counter() - start
            target = pooled[name]
            target.ranked.update(prediction.ranked)
            target.accepted.update(prediction.accepted)
            target.blocks.update({k: v for k, v in prediction.blocks.items() if k[0] == org_id})
            target.calibration.extend(prediction.calibration)
            target.top_calibration.extend(prediction.top_calibration)
    results = []
    for name in methods:
        results.append(_score_pooled(name, pooled[name], corpus, chosen, seconds[name]))
    return results


def scratch_folds(
    org_ids: Sequence[str], n_groups: int
) -> list[tuple[list[str], set[frozenset[str]]]]:
    """Folds for matching orgs from scratch with none of them seen in training.

    The orgs are dealt (sorted, in turn) into ``n_groups`` groups; each fold holds out two
    groups, and every unordered pair of orgs is scored in the first fold that holds both.
    Returns (held-out org ids, org pairs scored in the fold) per fold.
    """
    ids = sorted(dict.fromkeys(org_ids))
    if len(ids) < 3:
        raise ConfigError(f"matching from scratch with no org seen needs at least 3 orgs "
                          f"(two held out and one to train on), got {len(ids)}")
    if not 3 <= n_groups <= len(ids):
        raise ConfigError(
            f"matching from scratch needs 3 to {len(ids)} groups for {len(ids)} orgs (a fold "
            f"holds out two groups and trains on the others), got {n_groups}"
        )
    groups = [ids[i::n_groups] for i in range(n_groups)]
    folds: list[tuple[list[str], set[frozenset[str]]]] = []
    scored: set[frozenset[str]] = set()
    for first, second in itertools.combinations(groups, 2):
        held = sorted([*first, *second])
        pairs = {frozenset(p) for p in itertools.combinations(held, 2)} - scored
        scored |= pairs
        folds.append((held, pairs))
    return folds


def evaluate_from_scratch(
    corpus: Sequence[AnnotatedOrg],
    *,
    n_groups: int = 4,
    extra_train: Sequence[AnnotatedOrg] = (),
    ontology: Ontology | None = None,
    progress: Callable[[str], None] | None = None,
    **matcher_params: Any,
) -> list[dict[str, Any]]:
    """Cross-org pairs when orgs none of which the matcher saw are matched together from
    scratch (nothing approved), as a new federation is.

    Per fold of :func:`scratch_folds`, a matcher is fitted on the other orgs of ``corpus``
    plus ``extra_train`` and matches the held-out orgs together; each pair of orgs is
    counted in one fold. Returns one row per fold and a last row pooling them.
    """
    by_id = {o.org_id: o for o in corpus}
    seen = sorted(by_id.keys() & {o.org_id for o in extra_train})
    if seen:
        raise ConfigError(f"org(s) {seen} are both matched and in extra_train; the matcher "
                          "must not see the orgs it matches: leave them out of extra_train")
    ontology = ontology if ontology is not None else load_ontology()
    rows: list[dict[str, Any]] = []
    totals = [0, 0, 0]
    embedder: Embedder | None = None
    for number, (held, org_pairs) in enumerate(scratch_folds(list(by_id), n_groups), 1):
        if progress:
            progress(f"from scratch: fold {number}, held out {', '.join(held)}")
        train = [o for o in corpus if o.org_id not in held]
        matcher = FieldMatcher(**matcher_params)
        if embedder is not None:
            matcher._embedder = embedder
        matcher.fit([*train, *extra_train], ontology)
        embedder = matcher.embedder
        proposal = matcher.predict([by_id[o].schema for o in held])
        predicted = {(org_id, m.object, m.field): m.block
                     for org_id, m in proposal.iter_fields()}
        truth = _truth_blocks([by_id[o] for o in held])

        def counted(pairs: set[frozenset[FieldKey]],
                    org_pairs: set[frozenset[str]] = org_pairs) -> set[frozenset[FieldKey]]:
            return {p for p in pairs if frozenset(k[0] for k in p) in org_pairs}

        true_pairs = counted(_pairs(truth, set(held)))
        predicted_pairs = counted(_pairs(predicted, set(held)))
        counts = (len(true_pairs & predicted_pairs), len(true_pairs), len(predicted_pairs))
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        rows.append(_scratch_row(f"{number}: {', '.join(held)}", len(train), counts))
    rows.append(_scratch_row("all folds", None, (totals[0], totals[1], totals[2])))
    return rows


def _scratch_row(fold: str, n_train: int | None, counts: tuple[int, int, int]) -> dict[str, Any]:
    precision, recall, f1 = pair_scores(*counts)
    return {"fold": fold, "training orgs of the corpus": n_train, "true": counts[1],
            "found": counts[0], "predicted": counts[2], "pair_P": round(precision, 3),
            "pair_R": round(recall, 3), "pair_F1": round(f1, 3)}


def _score_pooled(
    name: str,
    prediction: Prediction,
    corpus: Sequence[AnnotatedOrg],
    chosen: Sequence[str],
    seconds: float,
) -> MethodScores:
    """Pool per-org results: field metrics over all held-out orgs; pairs per held-out org
    against the others (each true pair counted once per held-out side)."""
    tests = [o for o in corpus if o.org_id in chosen]
    field_scores = score_method(name, prediction, tests, [], seconds)
    hits = true_total = predicted_total = 0
    for org in tests:
        others = [o for o in corpus if o.org_id != org.org_id]
        hit, n_true, n_predicted = pair_counts(prediction.blocks, [org], others)
        hits += hit
        true_total += n_true
        predicted_total += n_predicted
    field_scores.pair_precision, field_scores.pair_recall, field_scores.pair_f1 = pair_scores(
        hits, true_total, predicted_total)
    field_scores.n_true_pairs = true_total
    return field_scores
