"""Pair features: how much does a field look like a concept (or like another org's field)?

Both sides of a comparison are reduced to a :class:`Side` (names, tokens, description, kind,
values, unit cues), so the field→concept model and the field↔field model share one feature
code path. Similarities are computed in bulk (rapidfuzz ``cdist``, one matrix product for
embeddings); the detailed features are then computed only for candidate pairs.

Feature families (each becomes one or more columns of :data:`FEATURE_NAMES`):

* names: rapidfuzz token-set, partial and plain ratios of the API name words and the label
  against every name of the target, and token coverage / Jaccard;
* meaning: sentence-embedding cosines of label, API name words and label+description+help
  against the target's names and description;
* description: token-set ratio of the two descriptions;
* type: exact kind, same family, graded compatibility, both families;
* values: picklist values found in the target's value set (or shared with the other field);
* units: currency / percent / duration cues agreeing or conflicting with the target's unit;
* context: same object, custom object, namespace, formula, description present;
* profile: value-profile categories in the value set, numeric range fitting the unit, format
  shares fitting the kind (only when the field carries a profile);
* rank: the target's rank and gap to the best target for this field, by meaning and by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from fedcrm.matching.embeddings import Embedder
from fedcrm.matching.text import (
    expand,
    field_context_text,
    split_api_name,
    strip_accents,
    unit_cues,
    words,
)
from fedcrm.matching.types import FAMILY_INDEX, type_compatibility
from fedcrm.ontology.models import Concept, Ontology
from fedcrm.schema.models import DataKind, FieldMeta, SObjectSchema

CORE_OBJECTS = frozenset({"account", "contact", "lead", "opportunity", "case"})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")

#: unit of a concept → the kind of cue that agrees with it
_UNIT_CUE = {
    "currency": "money", "percent": "percent", "ratio": "percent", "days": "duration",
    "months": "duration", "years": "duration", "hours": "duration",
}
#: typical numeric range of values in a unit (for profile checks)
_UNIT_RANGE = {
    "percent": (0.0, 100.0), "ratio": (0.0, 1.0), "score_0_10": (0.0, 10.0),
    "score_1_5": (1.0, 5.0), "score_0_100": (0.0, 100.0), "nps": (-100.0, 100.0),
    "count": (0.0, np.inf), "currency": (0.0, np.inf), "days": (0.0, 36500.0),
    "months": (0.0, 1200.0), "years": (0.0, 150.0), "hours": (0.0, np.inf),
}
_KIND_PATTERN = {
    DataKind.EMAIL: "email", DataKind.PHONE: "phone", DataKind.URL: "url",
    DataKind.DATE: "date", DataKind.DATETIME: "date", DataKind.ID: "salesforce_id",
    DataKind.REFERENCE: "salesforce_id",
}

FEATURE_NAMES: tuple[str, ...] = (
    "name_tset", "name_partial", "name_ratio", "label_tset", "label_partial", "label_ratio",
    "token_coverage", "token_jaccard", "exact_name",
    "emb_label_names", "emb_apiname_names", "emb_context_description", "emb_label_label",
    "description_tset",
    "kind_exact", "family_same", "type_compat", "field_family", "target_family",
    "value_overlap", "value_count",
    "unit_agree",
    "same_object", "object_similarity", "field_on_custom_object", "target_on_custom_object",
    "has_namespace", "is_formula", "has_description",
    "profile_value_overlap", "profile_fits_unit", "profile_format_fit",
    "rank_meaning", "gap_meaning", "rank_name", "gap_name",
)
CATEGORICAL_FEATURES = ("field_family", "target_family")


def normalise(text: str) -> str:
    """Lower-case, accent-free words separated by single spaces."""
    return _NON_ALNUM.sub(" ", strip_accents(text).lower()).strip()


@dataclass
class Side:
    """One field or concept, reduced to what the features compare."""

    key: str
    object: str
    kind: DataKind
    #: normalised names; for fields: [api name words, label]; for concepts: label, synonyms...
    names: list[str]
    tokens: frozenset[str]
    label: str
    description: str
    context: str
    values: frozenset[str] = frozenset()
    unit: str | None = None
    cue: str | None = None
    is_custom_object: bool = False
    has_namespace: bool = False
    is_formula: bool = False
    field: FieldMeta | None = None
    extra: dict[str, Any] = dc_field(default_factory=dict)

    @cached_property
    def name_word_sets(self) -> tuple[frozenset[str], ...]:
        """The words of each non-empty name, as sets (compared with every candidate)."""
        return tuple(frozenset(n.split()) for n in self.names if n)


def _cue_of(tokens: tuple[str, ...] | frozenset[str]) -> str | None:
    cues = unit_cues(tuple(tokens))
    if cues["percent"]:
        return "percent"
    if cues["currency"] or cues["thousands"] or cues["millions"]:
        return "money"
    if cues["duration"]:
        return "duration"
    return None


def field_side(sobject: SObjectSchema, meta: FieldMeta, org_id: str = "") -> Side:
    """Prepare one org field for comparison."""
    name_words = expand(split_api_name(meta.api_name))
    label_words = expand(words(meta.label or ""))
    name_text = " ".join(name_words)
    label_text = normalise(meta.label or name_text)
    tokens = frozenset((*name_words, *label_words))
    values = frozenset(
        normalise(v) for pv in meta.picklist_values for v in (pv.value, pv.label or "") if v
    )
    description = " ".join(x for x in (meta.description, meta.help_text) if x)
    return Side(
        key=f"{org_id}|{sobject.api_name}|{meta.api_name}",
        object=sobject.api_name,
        kind=meta.kind,
        names=[n for n in dict.fromkeys((name_text, label_text)) if n],
        tokens=tokens,
        label=meta.label or name_text,
        description=description,
        context=field_context_text(meta),
        values=values - {""},
        cue=_cue_of(tokens),
        is_custom_object=sobject.is_custom,
        has_namespace=meta.namespace is not None,
        is_formula=meta.is_formula,
        field=meta,
    )


def concept_side(concept: Concept, ontology: Ontology) -> Side:
    """Prepare one ontology concept for comparison."""
    names: list[str] = []
    for name in concept.all_names:
        if concept.standard_field and name == concept.standard_field:
            name = " ".join(split_api_name(name))
        names.append(normalise(name))
    names = [n for n in dict.fromkeys(names) if n]
    tokens: set[str] = set()
    for name in names:
        tokens.update(expand(tuple(name.split())))
    values: frozenset[str] = frozenset()
    if concept.value_set:
        values = frozenset(ontology.value_set(concept.value_set).lookup())
    return Side(
        key=concept.id,
        object=concept.object,
        kind=concept.kind,
        names=names,
        tokens=frozenset(tokens),
        label=concept.label,
        description=concept.description,
        context=f"{concept.label}: {concept.description}",
        values=frozenset(normalise(v) for v in values),
        unit=concept.unit,
        cue=_UNIT_CUE.get(concept.unit or ""),
        extra={"standard_field": concept.standard_field},
    )


@dataclass
class SideIndex:
    """Sides with their embeddings stacked for bulk comparison.

    The vectors a side needs as a *query* (label, first name, context) are computed up front;
    those only a *target* needs (every name, the description) on first use, so matching an
    org's fields against the concepts never embeds the fields' long descriptions.
    """

    sides: list[Side]
    name_offsets: np.ndarray  # start index of each side's names in name_vectors
    name_strings: list[str]
    label_vectors: np.ndarray  # (sides, d)
    apiname_vectors: np.ndarray  # (sides, d): first name (API words / concept label)
    context_vectors: np.ndarray  # (sides, d)
    object_names: list[str] = dc_field(default_factory=list)
    embedder: Embedder | None = None
    _name_vectors: np.ndarray | None = None
    _description_vectors: np.ndarray | None = None

    def _encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.label_vectors.shape[1]), dtype=np.float32)
        if self.embedder is None:  # pragma: no cover - build_index always sets it
            raise RuntimeError("SideIndex without an embedder cannot embed target texts")
        return self.embedder.encode(texts)

    @property
    def name_vectors(self) -> np.ndarray:
        """(total names, d): every name of every side."""
        if self._name_vectors is None:
            self._name_vectors = self._encode(self.name_strings)
        return self._name_vectors

    @property
    def description_vectors(self) -> np.ndarray:
        """(sides, d): each side's description (its context when it has none)."""
        if self._description_vectors is None:
            self._description_vectors = self._encode(
                [s.description or s.context for s in self.sides])
        return self._description_vectors

    def __len__(self) -> int:
        return len(self.sides)

    def rows(self, start: int, end: int) -> SideIndex:
        """The sides ``start:end`` as an index of their own (views of this one's vectors), to
        compare a block of queries with a whole index."""
        first = int(self.name_offsets[start]) if start < len(self) else len(self.name_strings)
        last = int(self.name_offsets[end]) if end < len(self) else len(self.name_strings)
        return SideIndex(
            sides=self.sides[start:end],
            name_offsets=self.name_offsets[start:end] - first,
            name_strings=self.name_strings[first:last],
            label_vectors=self.label_vectors[start:end],
            apiname_vectors=self.apiname_vectors[start:end],
            context_vectors=self.context_vectors[start:end],
            object_names=self.object_names[start:end],
            embedder=self.embedder,
            _name_vectors=None if self._name_vectors is None
            else self._name_vectors[first:last],
            _description_vectors=None if self._description_vectors is None
            else self._description_vectors[start:end],
        )


def side_texts(side: Side) -> list[str]:
    """Every text of ``side`` that :func:`build_index` or its :class:`SideIndex` may embed:
    its names (or its label's normal form), label, context and description."""
    return [*(side.names or [normalise(side.label)]), side.label, side.context,
            side.description or side.context]


def build_index(sides: list[Side], embedder: Embedder) -> SideIndex:
    """Embed every side's label, first name and context (deduplicated texts); every name and
    the descriptions are embedded when first used as a target (:class:`SideIndex`)."""
    name_strings: list[str] = []
    offsets: list[int] = []
    for side in sides:
        offsets.append(len(name_strings))
        name_strings.extend(side.names or [normalise(side.label)])
    first_names = [(s.names or [normalise(s.label)])[0] for s in sides]
    texts = list(dict.fromkeys(
        [*first_names, *(s.label for s in sides), *(s.context for s in sides)]))
    vectors = embedder.encode(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    position = {t: i for i, t in enumerate(texts)}

    def stack(items: list[str]) -> np.ndarray:
        if not items:
            return np.zeros((0, vectors.shape[1] if vectors.size else 1), dtype=np.float32)
        return vectors[[position[t] for t in items]]

    return SideIndex(
        sides=sides,
        name_offsets=np.asarray(offsets, dtype=np.int64),
        name_strings=name_strings,
        label_vectors=stack([s.label for s in sides]),
        apiname_vectors=stack(first_names),
        context_vectors=stack([s.context for s in sides]),
        object_names=[s.object for s in sides],
        embedder=embedder,
    )


#: query rows compared at once in :func:`similarities` (bounds its memory, not its result)
_ROW_BLOCK = 1024


def _segment_max(matrix: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    if matrix.shape[1] == 0:
        return np.zeros((matrix.shape[0], 0), dtype=matrix.dtype)
    return np.maximum.reduceat(matrix, offsets, axis=1)


@dataclass
class Similarities:
    """Query × target similarity matrices, all in [0, 1] (embeddings: cosine clipped)."""

    meaning: np.ndarray  # max(label vs names, api words vs names) by embeddings
    name: np.ndarray  # max fuzzy ratio of field names vs target names
    emb_label_names: np.ndarray
    emb_apiname_names: np.ndarray
    name_tset: np.ndarray
    name_ratio: np.ndarray
    label_tset: np.ndarray
    label_ratio: np.ndarray
    #: the fuzzy query strings ("name", "label") and the target names, for the partial ratio,
    #: which is only a pair feature and is computed for candidate pairs alone (see
    #: :meth:`pair_partial`)
    fuzzy_queries: dict[str, list[str]] = dc_field(default_factory=dict)
    target_names: list[str] = dc_field(default_factory=list)
    target_offsets: np.ndarray = dc_field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def pair_partial(self, prefix: str, q_idx: np.ndarray, t_idx: np.ndarray,
                     workers: int = -1) -> np.ndarray:
        """rapidfuzz ``partial_ratio`` / 100 of each (query, target) pair: the best over the
        target's names, as the full matrices' segment maximum would give, without scoring the
        millions of pairs that are never candidates."""
        if len(q_idx) == 0:
            return np.zeros(0, dtype=np.float32)
        ends = np.append(self.target_offsets[1:], len(self.target_names))
        starts = self.target_offsets[t_idx]
        # an empty segment gives its first column, as np.maximum.reduceat does
        counts = np.maximum(ends[t_idx] - starts, 1)
        first = np.cumsum(counts) - counts
        flat_targets = np.repeat(starts, counts) + np.arange(counts.sum()) - np.repeat(first,
                                                                                      counts)
        queries = self.fuzzy_queries[prefix]
        scores = process.cpdist(
            [queries[i] for i in np.repeat(q_idx, counts)],
            [self.target_names[j] for j in flat_targets],
            scorer=fuzz.partial_ratio, dtype=np.uint8, workers=workers,
        ).astype(np.float32) / 100.0
        return np.maximum.reduceat(scores, first)


def _cdist_segment_max(
    queries: list[str], targets: list[str], offsets: np.ndarray, scorer: Any, workers: int
) -> np.ndarray:
    """Per query and target side, the best ``process.cdist`` score / 100 (float32) over the
    side's names, scoring each distinct string pair once (labels such as "Status" or a
    concept's synonyms repeat; the slow scorers need not see them twice).

    The scores of all query × name pairs are never held at once: rows are expanded from the
    distinct-string table and reduced a block at a time, as whole-number scores (exactly the
    same maxima as the float ones; the old full float matrix was the largest allocation of
    matching two 2,000-field orgs).
    """
    query_unique, query_inverse = np.unique(np.asarray(queries, dtype=object),
                                            return_inverse=True)
    target_unique, target_inverse = np.unique(np.asarray(targets, dtype=object),
                                              return_inverse=True)
    small = process.cdist(list(query_unique), list(target_unique), scorer=scorer,
                          dtype=np.uint8, workers=workers)
    columns = target_inverse.ravel()
    rows = query_inverse.ravel()
    best = np.empty((len(rows), len(offsets)), dtype=np.uint8)
    for start, end in row_blocks(len(rows)):
        best[start:end] = _segment_max(small[np.ix_(rows[start:end], columns)], offsets)
    return best.astype(np.float32) / 100.0


def _matmul_segment_max(left: np.ndarray, right: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``_segment_max(left @ right.T, offsets)`` a block of rows at a time (the same numbers:
    each row's products do not depend on the others; only the memory differs)."""
    best = np.empty((left.shape[0], len(offsets)), dtype=np.float32)
    for start, end in row_blocks(left.shape[0]):
        best[start:end] = _segment_max(left[start:end] @ right.T, offsets)
    return best


def row_blocks(n: int) -> list[tuple[int, int]]:
    """``(start, end)`` of blocks of :data:`_ROW_BLOCK` rows; a last block of one row joins
    the one before (BLAS multiplies a single row with another kernel, whose sums can differ in
    the last bit from the whole matrix's)."""
    blocks = [(start, min(start + _ROW_BLOCK, n)) for start in range(0, n, _ROW_BLOCK)]
    if len(blocks) > 1 and blocks[-1][1] - blocks[-1][0] == 1:
        blocks[-2:] = [(blocks[-2][0], n)]
    return blocks


def similarities(query: SideIndex, target: SideIndex, *, workers: int = -1) -> Similarities:
    """Bulk similarities of every query side to every target side."""
    emb_label = _matmul_segment_max(query.label_vectors, target.name_vectors,
                                    target.name_offsets)
    emb_api = _matmul_segment_max(query.apiname_vectors, target.name_vectors,
                                  target.name_offsets)
    api_strings = [normalise((s.names or [s.label])[0]) for s in query.sides]
    label_strings = [normalise(s.label) for s in query.sides]
    results = {}
    for scorer_name, scorer in (("tset", fuzz.token_set_ratio), ("ratio", fuzz.ratio)):
        # one call for API-name words and labels: they are often the same string
        both = _cdist_segment_max([*api_strings, *label_strings], target.name_strings,
                                  target.name_offsets, scorer, workers)
        results[f"name_{scorer_name}"] = both[: len(api_strings)]
        results[f"label_{scorer_name}"] = both[len(api_strings):]
    emb_label = np.clip(emb_label, 0.0, 1.0)
    emb_api = np.clip(emb_api, 0.0, 1.0)
    return Similarities(
        meaning=np.maximum(emb_label, emb_api),
        name=np.maximum.reduce([results["name_tset"], results["label_tset"],
                                results["name_ratio"], results["label_ratio"]]),
        emb_label_names=emb_label,
        emb_apiname_names=emb_api,
        **results,
        fuzzy_queries={"name": api_strings, "label": label_strings},
        target_names=target.name_strings,
        target_offsets=target.name_offsets,
    )


def _ranks(matrix: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each target for each query row."""
    order = np.argsort(-matrix, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(matrix.shape[0])[:, None]
    ranks[rows, order] = np.arange(matrix.shape[1])[None, :]
    return ranks


def object_similarity_matrix(query: SideIndex, target: SideIndex) -> np.ndarray:
    """Queries × targets: how alike the two sides' object names are (1 = same object)."""
    query_objects = sorted(set(query.object_names))
    target_objects = sorted(set(target.object_names))
    small = process.cdist(
        [" ".join(split_api_name(o)) for o in query_objects],
        [" ".join(split_api_name(o)) for o in target_objects],
        scorer=fuzz.token_set_ratio,
    ).astype(np.float32) / 100.0
    rows = np.array([query_objects.index(o) for o in query.object_names], dtype=np.int64)
    columns = np.array([target_objects.index(o) for o in target.object_names], dtype=np.int64)
    return small[np.ix_(rows, columns)]


def compatibility_matrix(query_kinds: list[DataKind], target_kinds: list[DataKind]) -> np.ndarray:
    """Queries × targets :func:`type_compatibility`, computed once per pair of distinct kinds."""
    query_unique = sorted(set(query_kinds), key=lambda kind: kind.value)
    target_unique = sorted(set(target_kinds), key=lambda kind: kind.value)
    table = np.array([[type_compatibility(q, t) for t in target_unique] for q in query_unique],
                     dtype=np.float32).reshape(len(query_unique), len(target_unique))
    rows = np.array([query_unique.index(k) for k in query_kinds], dtype=np.int64)
    columns = np.array([target_unique.index(k) for k in target_kinds], dtype=np.int64)
    return table[np.ix_(rows, columns)]


def candidate_pairs(
    query: SideIndex,
    target: SideIndex,
    sims: Similarities,
    *,
    k: int = 8,
    allowed: np.ndarray | None = None,
) -> list[tuple[int, int]]:
    """Top-``k`` targets per query by meaning and by name (union), type-compatible only.

    Both rankings favour targets on a like-named object (a field's counterpart usually sits on
    the same kind of record). ``allowed`` (queries × targets, bool) can restrict further
    (e.g. other orgs only).
    """
    compat = compatibility_matrix([q.kind for q in query.sides], [t.kind for t in target.sides])
    mask = compat > 0
    if allowed is not None:
        mask &= allowed
    prior = 0.5 + 0.5 * object_similarity_matrix(query, target)
    pairs: list[tuple[int, int]] = []
    for matrix in (sims.meaning, sims.name):
        scored = np.where(mask, matrix * prior, -1.0)
        top = np.argsort(-scored, axis=1, kind="stable")[:, :k]
        for q_index in range(len(query)):
            for t_index in top[q_index]:
                if scored[q_index, t_index] >= 0:
                    pairs.append((q_index, int(t_index)))
    return sorted(set(pairs))


def _unit_agree(field_cue: str | None, target_cue: str | None) -> float:
    if field_cue is None or target_cue is None:
        return 0.0
    return 1.0 if field_cue == target_cue else -1.0


def _profile_features(side: Side, target: Side) -> tuple[float, float, float]:
    meta = side.field
    profile = meta.profile if meta is not None else None
    if profile is None:
        return (np.nan, np.nan, np.nan)
    value_overlap = np.nan
    if target.values and profile.categories:
        total = sum(c.count for c in profile.categories)
        found = sum(c.count for c in profile.categories if normalise(c.value) in target.values)
        value_overlap = found / total if total else np.nan
    fits = np.nan
    if target.unit in _UNIT_RANGE and profile.numeric_quantiles:
        low, high = _UNIT_RANGE[target.unit]
        q05, q95 = profile.numeric_quantiles.get("0.05"), profile.numeric_quantiles.get("0.95")
        if q05 is not None and q95 is not None:
            fits = float(q05 >= low - 1e-9 and q95 <= high + 1e-9)
    format_fit = np.nan
    pattern = _KIND_PATTERN.get(target.kind)
    if pattern and profile.pattern_shares:
        format_fit = profile.pattern_shares.get(pattern, 0.0)
    return (value_overlap, fits, format_fit)


def _grouped_ranks(
    matrix: np.ndarray, groups: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Queries × targets: each target's rank (0 = best) and the best score for the query,
    both among the targets of the target's own group (all targets when ``groups`` is None)."""
    if groups is None:
        return _ranks(matrix), np.broadcast_to(matrix.max(axis=1)[:, None], matrix.shape)
    ranks = np.empty(matrix.shape, dtype=np.int64)
    best = np.empty(matrix.shape, dtype=matrix.dtype)
    for group in np.unique(groups):
        columns = np.nonzero(groups == group)[0]
        block = matrix[:, columns]
        ranks[:, columns] = _ranks(block)
        best[:, columns] = block.max(axis=1)[:, None]
    return ranks, best


def pair_features(
    query: SideIndex,
    target: SideIndex,
    pairs: list[tuple[int, int]],
    sims: Similarities,
    *,
    target_groups: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row of :data:`FEATURE_NAMES` per (query, target) pair.

    The rank and gap features compare a target with every other target of the query: with
    ``target_groups`` (one group per target, e.g. its org) only with the targets of the same
    group, so that a pair of two orgs' fields gets the same features whichever other orgs are
    matched beside them, and a field is never ranked against itself or its own org's fields.
    """
    if not pairs:
        return pd.DataFrame(columns=list(FEATURE_NAMES), dtype=np.float32)
    q_idx = np.array([p[0] for p in pairs])
    t_idx = np.array([p[1] for p in pairs])
    rank_meaning, best_meaning = _grouped_ranks(sims.meaning, target_groups)
    rank_name, best_name = _grouped_ranks(sims.name, target_groups)
    emb_ctx_desc = np.einsum(
        "ij,ij->i", query.context_vectors[q_idx], target.description_vectors[t_idx]
    )
    emb_label_label = np.einsum(
        "ij,ij->i", query.label_vectors[q_idx], target.label_vectors[t_idx]
    )
    object_sim = _object_similarity(query, target, q_idx, t_idx)
    name_partial = sims.pair_partial("name", q_idx, t_idx)
    label_partial = sims.pair_partial("label", q_idx, t_idx)
    rows: list[list[float]] = []
    for row, (qi, ti) in enumerate(pairs):
        q, t = query.sides[qi], target.sides[ti]
        covered = max(
            (len(name & q.tokens) / len(name) for name in t.name_word_sets), default=0.0
        )
        union = q.tokens | t.tokens
        jaccard = len(q.tokens & t.tokens) / len(union) if union else 0.0
        exact = float(any(n in t.names for n in q.names))
        description_tset = (
            fuzz.token_set_ratio(normalise(q.description), normalise(t.description)) / 100.0
            if q.description and t.description
            else np.nan
        )
        if q.values and t.values:
            hits = len(q.values & t.values)
            value_overlap = hits / len(q.values)
            value_count = float(hits)
        else:
            value_overlap, value_count = np.nan, np.nan
        profile = _profile_features(q, t)
        rows.append([
            sims.name_tset[qi, ti], name_partial[row], sims.name_ratio[qi, ti],
            sims.label_tset[qi, ti], label_partial[row], sims.label_ratio[qi, ti],
            covered, jaccard, exact,
            sims.emb_label_names[qi, ti], sims.emb_apiname_names[qi, ti],
            float(emb_ctx_desc[row]), float(emb_label_label[row]),
            description_tset,
            float(q.kind is t.kind), float(q.kind.family == t.kind.family),
            type_compatibility(q.kind, t.kind),
            float(FAMILY_INDEX[q.kind.family]), float(FAMILY_INDEX[t.kind.family]),
            value_overlap, value_count,
            _unit_agree(q.cue, t.cue),
            float(q.object.lower() == t.object.lower()), float(object_sim[row]),
            float(q.is_custom_object), float(t.is_custom_object),
            float(q.has_namespace), float(q.is_formula), float(bool(q.description)),
            *profile,
            float(rank_meaning[qi, ti]), float(best_meaning[qi, ti] - sims.meaning[qi, ti]),
            float(rank_name[qi, ti]), float(best_name[qi, ti] - sims.name[qi, ti]),
        ])
    return pd.DataFrame(rows, columns=list(FEATURE_NAMES), dtype=np.float32)


def _object_similarity(
    query: SideIndex, target: SideIndex, q_idx: np.ndarray, t_idx: np.ndarray
) -> np.ndarray:
    """Fuzzy similarity of two object names (``npe5__Affiliation__c`` ~ ``Affiliation__c``)."""
    cache: dict[tuple[str, str], float] = {}
    result = np.empty(len(q_idx), dtype=np.float32)
    for row, (qi, ti) in enumerate(zip(q_idx, t_idx, strict=True)):
        pair = (query.object_names[qi], target.object_names[ti])
        if pair not in cache:
            a = " ".join(split_api_name(pair[0]))
            b = " ".join(split_api_name(pair[1]))
            cache[pair] = fuzz.token_set_ratio(a, b) / 100.0
        result[row] = cache[pair]
    return result
