"""Query strategies: which fields to ask an annotator about next.

A strategy is a small class with one hook, :meth:`QueryStrategy.score`, that gives every
field of the pool a priority (higher = ask sooner); :meth:`QueryStrategy.select` takes the
``n`` highest. Strategies compose by wrapping, not by flags:

* ``Margin() * Impact(weights)`` multiplies priorities (:class:`Product`);
* ``Diverse(strategy)`` keeps the priorities but selects greedily, damping every field that
  looks like one already selected, so a round does not ask about ten near-identical fields.

Uncertainty comes from the calibrated candidate probabilities of
:meth:`FieldMatcher.score_fields`, with "none of these" as one more option whose probability
is ``1 − Σ p`` clipped to [0, 1], and at most 0.5 for a label the matcher cannot read
(:attr:`PoolField.none_probability`):

* :class:`Margin` — ``1 − (p₁ − p₂)`` over the options' two largest probabilities (Scheffer
  et al. 2001, "Active hidden Markov models for information extraction");
* :class:`Entropy` — Shannon entropy of the options, normalised to sum to one (Settles 2009,
  "Active learning literature survey", §3.1);
* :class:`Impact` — the expected downstream weight of the field's concept under the same
  distribution (see :mod:`fedcrm.annotate.impact` for the weights);
* :class:`RandomSampling` — the baseline: a seeded hash of each field's key, so the order is
  reproducible and does not depend on the order of the pool;
* :class:`Explore` — a random share of every batch, so the labelled set the matcher calibrates
  on does not consist of hard fields only.
"""

from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np

from fedcrm.annotate.pool import PoolField
from fedcrm.errors import ConfigError

if TYPE_CHECKING:
    from fedcrm.matching.embeddings import Embedder

#: how :class:`Diverse` compares fields
SIMILARITIES = ("embedding", "name")


@dataclass(frozen=True)
class Query:
    """One selected field, its priority and its place in the selection (0 = first)."""

    field: PoolField
    priority: float
    rank: int


def _options(field: PoolField) -> np.ndarray:
    """Candidate probabilities plus "none of these", as an array."""
    return np.array([*(p for _, p in field.candidates), field.none_probability], dtype=float)


class QueryStrategy(ABC):
    """Gives every pool field a priority; selects the ``n`` highest."""

    #: short name used in reports and on the command line
    name: str = "strategy"

    @abstractmethod
    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """Priority of every field of ``pool`` (same order; higher = ask sooner)."""

    def select(self, pool: Sequence[PoolField], n: int) -> list[Query]:
        """The ``n`` fields to ask about, highest priority first (ties: pool order)."""
        _check_n(n)
        scores = np.asarray(self.score(pool), dtype=float)
        order = np.lexsort((np.arange(len(pool)), -scores))[:n]
        return [Query(pool[i], float(scores[i]), rank) for rank, i in enumerate(order)]

    def __mul__(self, other: QueryStrategy) -> Product:
        if not isinstance(other, QueryStrategy):
            return NotImplemented
        return Product(self, other)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"the number of fields to select must be a whole number >= 0, got {n!r}")


class RandomSampling(QueryStrategy):
    """Uniform random order, reproducible by ``seed`` (the baseline).

    Each field's priority is a hash of the seed and its key, so successive rounds over a
    shrinking pool take successive slices of one fixed random permutation.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.name = f"random(seed={seed})" if seed else "random"

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """A uniform number in [0, 1) per field, fixed by seed and key."""
        values = []
        for field in pool:
            digest = hashlib.blake2b(
                f"{self.seed}|{field.org}|{field.object}|{field.field}".encode(), digest_size=8
            ).digest()
            values.append(int.from_bytes(digest, "big") / 2**64)
        return np.array(values, dtype=float)


class Margin(QueryStrategy):
    """Margin uncertainty: ``1 − (p₁ − p₂)`` over candidates and "none of these"."""

    name = "margin"

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """1 when the two likeliest options tie, 0 when one option is certain."""
        values = []
        for field in pool:
            top = np.sort(_options(field))[::-1]
            second = top[1] if len(top) > 1 else 0.0
            values.append(1.0 - (top[0] - second))
        return np.array(values, dtype=float)


class Entropy(QueryStrategy):
    """Entropy (nats) of the normalised candidate + "none of these" distribution."""

    name = "entropy"

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """0 for a certain field, up to log(number of options) for a uniform one."""
        values = []
        for field in pool:
            options = _options(field)
            total = options.sum()
            if total <= 0:
                values.append(0.0)
                continue
            q = options[options > 0] / total
            values.append(float(-(q * np.log(q)).sum()))
        return np.array(values, dtype=float)


class Impact(QueryStrategy):
    """Expected downstream weight of the field's concept.

    ``Σ_c q_c · w_c + q_none · none_weight``, where ``q`` is the candidate + "none of these"
    distribution normalised to sum to one and ``w`` the per-concept weights (concepts missing
    from ``weights`` weigh ``default``). A field that is probably a churn feature outranks one
    that is probably a fax number.
    """

    name = "impact"

    def __init__(
        self, weights: Mapping[str, float], *, default: float = 1.0, none_weight: float = 1.0
    ) -> None:
        bad = sorted(k for k, v in weights.items() if isinstance(v, bool)
                     or not isinstance(v, Real) or not math.isfinite(v) or v < 0)
        if bad:
            raise ConfigError(f"impact weights must be finite and >= 0; check {bad[:5]}")
        for name, value in (("default", default), ("none_weight", none_weight)):
            if isinstance(value, bool) or not isinstance(value, Real) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigError(f"Impact {name} must be a finite number >= 0, got {value!r}")
        self.weights = dict(weights)
        self.default = default
        self.none_weight = none_weight

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """Expected weight per field (>= min weight, so products keep their order)."""
        values = []
        for field in pool:
            options = _options(field)
            total = options.sum()
            if total <= 0:
                values.append(self.none_weight)
                continue
            weights = [self.weights.get(c, self.default) for c, _ in field.candidates]
            values.append(float(np.dot(options / total, [*weights, self.none_weight])))
        return np.array(values, dtype=float)


def _nested(strategy: QueryStrategy) -> Iterator[QueryStrategy]:
    """``strategy`` and every strategy inside it (wrapped ``inner`` ones, product parts)."""
    yield strategy
    if isinstance(strategy, Product):
        for part in strategy.parts:
            yield from _nested(part)
    inner = getattr(strategy, "inner", None)
    if isinstance(inner, QueryStrategy):
        yield from _nested(inner)


class Product(QueryStrategy):
    """The product of several strategies' priorities (e.g. uncertainty × impact).

    Only the parts' scores are multiplied, so a part that acts in ``select`` (:class:`Explore`,
    :class:`Diverse`) would never run: it is refused; wrap the product instead.
    """

    def __init__(self, *parts: QueryStrategy) -> None:
        if not parts:
            raise ConfigError("a product of strategies needs at least one strategy")
        flat: list[QueryStrategy] = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, Product) else [part])
        for part in flat:
            selecting = next((s for s in _nested(part) if isinstance(s, Explore | Diverse)),
                             None)
            if selecting is not None:
                raise ConfigError(
                    f"a product cannot contain {selecting.name!r}: it multiplies its parts' "
                    "scores only, so an Explore or Diverse inside it would never run; wrap "
                    "the product instead (Explore(Diverse(Margin() * Impact(w))), "
                    "'margin*impact+diverse+explore')"
                )
        self.parts: tuple[QueryStrategy, ...] = tuple(flat)
        self.name = "*".join(p.name for p in self.parts)

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """Element-wise product of the parts' priorities."""
        result = np.ones(len(pool), dtype=float)
        for part in self.parts:
            result *= np.asarray(part.score(pool), dtype=float)
        return result


class Diverse(QueryStrategy):
    """Greedy selection that damps fields resembling ones already selected.

    At each step the field with the highest ``priority × damping`` is taken, where
    ``damping = 1 − clip((s − floor) / (1 − floor), 0, 1)`` and ``s`` is the field's largest
    similarity to an already-selected field. Similarity is the cosine of sentence embeddings
    of :attr:`PoolField.text` (``similarity="embedding"``, the matcher's embedder by default)
    or the rapidfuzz token-set ratio of the same text (``"name"``, no model needed). Fields
    less similar than ``floor`` are not damped at all; an identical one drops to zero.
    """

    def __init__(
        self,
        inner: QueryStrategy,
        *,
        similarity: str = "embedding",
        floor: float = 0.6,
        embedder: Embedder | None = None,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise ConfigError(f"similarity must be one of {list(SIMILARITIES)}, not "
                              f"{similarity!r}")
        if not 0.0 <= floor < 1.0:
            raise ConfigError(f"floor must be in [0, 1), got {floor}")
        for wrapped in _nested(inner):  # inner chains and the parts of products
            if isinstance(wrapped, Explore | Diverse):
                # Diverse selects with inner.score alone: an inner select never runs
                raise ConfigError(
                    f"Diverse cannot wrap {wrapped.name!r}: it selects with the inner "
                    "strategy's scores only, so an Explore or Diverse inside it would never "
                    "run; wrap the other way round (Explore(Diverse(...)), "
                    "'...+diverse+explore')"
                )
        self.inner = inner
        self.similarity = similarity
        self.floor = floor
        self.embedder = embedder
        self.name = f"{inner.name}+diverse"

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """The inner strategy's priorities (diversity acts in :meth:`select`)."""
        return self.inner.score(pool)

    def _similarity_rows(self, pool: Sequence[PoolField]) -> _SimilarityRows:
        texts = [field.text for field in pool]
        if self.similarity == "name":
            return _NameRows(texts)
        if self.embedder is None:
            from fedcrm.matching.embeddings import Embedder

            self.embedder = Embedder()
        return _EmbeddingRows(self.embedder.encode(texts))

    def select(self, pool: Sequence[PoolField], n: int) -> list[Query]:
        """Greedy, diversity-damped selection of ``n`` fields."""
        _check_n(n)
        n = min(n, len(pool))
        if n == 0:
            return []
        scores = np.asarray(self.score(pool), dtype=float)
        rows = self._similarity_rows(pool)
        nearest = np.zeros(len(pool))
        available = np.ones(len(pool), dtype=bool)
        positions = np.arange(len(pool))
        chosen: list[Query] = []
        for rank in range(n):
            damping = 1.0 - np.clip((nearest - self.floor) / (1.0 - self.floor), 0.0, 1.0)
            adjusted = np.where(available, scores * damping, -np.inf)
            # among the fields not yet chosen (a NaN priority would otherwise sort after a
            # chosen field's -inf): highest adjusted priority, then raw priority, then order
            left = np.flatnonzero(available)
            order = np.lexsort((positions[left], -scores[left], -adjusted[left]))
            pick = int(left[order[0]])
            chosen.append(Query(pool[pick], float(adjusted[pick]), rank))
            available[pick] = False
            nearest = np.maximum(nearest, rows.row(pick))
        return chosen


class Explore(QueryStrategy):
    """Spend a share of every batch on random fields, the rest on ``inner``'s choice.

    Uncertainty sampling labels the hard fields; the matcher calibrates its scores and picks
    its abstention threshold on the labelled fields, so a labelled set of only hard fields
    makes it too cautious. A random share keeps part of the labelled set representative
    ("epsilon-greedy" exploration; see Settles 2009, §6.1 on sampling bias).
    """

    def __init__(self, inner: QueryStrategy, *, share: float = 0.2, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"the exploration share must be in [0, 1], got {share}")
        self.inner = inner
        self.share = share
        self.random = RandomSampling(seed)
        self.name = f"{inner.name}+explore" if share == 0.2 else \
            f"{inner.name}+explore={share:g}"

    def score(self, pool: Sequence[PoolField]) -> np.ndarray:
        """The inner strategy's priorities."""
        return self.inner.score(pool)

    def random_count(self, n: int) -> int:
        """How many of ``n`` fields are random: ``share × n`` rounded half up (not Python's
        half-to-even ``round``, under which 0.1 × 5 explored nothing), and at least one when
        ``share`` > 0 and ``n`` > 0."""
        if n <= 0 or self.share <= 0:
            return 0
        # the share as written (its shortest decimal), not its binary float: 0.29 × 50 is
        # 14.499999999999998 in floats, which rounded to 14 instead of 15
        exact = Fraction(repr(float(self.share))) * n
        return min(n, max(1, math.floor(exact + Fraction(1, 2))))

    def select(self, pool: Sequence[PoolField], n: int) -> list[Query]:
        """:meth:`random_count` random fields, then the inner strategy's picks among the rest
        (interleaved by priority rank is not needed: the whole batch is labelled together)."""
        _check_n(n)
        n = min(n, len(pool))
        n_random = self.random_count(n)
        explored = self.random.select(pool, n_random)
        # an explored field is reported with the strategy's priority, not its random draw
        inner_scores = self.inner.score([q.field for q in explored]) if explored else []
        explored = [Query(q.field, float(score), q.rank)
                    for q, score in zip(explored, inner_scores, strict=True)]
        taken = {id(q.field) for q in explored}
        rest = [f for f in pool if id(f) not in taken]
        exploited = self.inner.select(rest, n - n_random)
        chosen = [*exploited, *explored]
        return [Query(q.field, q.priority, rank) for rank, q in enumerate(chosen)]


class _SimilarityRows(ABC):
    @abstractmethod
    def row(self, index: int) -> np.ndarray:
        """Similarity in [0, 1] of field ``index`` to every field."""


class _EmbeddingRows(_SimilarityRows):
    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors

    def row(self, index: int) -> np.ndarray:
        return np.clip(self.vectors @ self.vectors[index], 0.0, 1.0)


class _NameRows(_SimilarityRows):
    def __init__(self, texts: list[str]) -> None:
        from fedcrm.matching.features import normalise

        self.texts = [normalise(t) for t in texts]

    def row(self, index: int) -> np.ndarray:
        from rapidfuzz import fuzz, process

        # token_sort, not token_set: token_set scores 1.0 whenever one text's words are a
        # subset of the other's ("Account: Region" vs "Account: Region manager email")
        scores = process.cdist([self.texts[index]], self.texts, scorer=fuzz.token_sort_ratio)
        return np.asarray(scores[0], dtype=float) / 100.0


# --------------------------------------------------------------------------- by name
#: what ``make_strategy("default")`` builds
DEFAULT_STRATEGY = "margin*impact+diverse"
_ALIASES = {"uncertainty": "margin", "default": DEFAULT_STRATEGY}


def make_strategy(
    spec: str,
    *,
    weights: Mapping[str, float] | None = None,
    seed: int = 0,
    similarity: str = "embedding",
    floor: float = 0.6,
    embedder: Embedder | None = None,
) -> QueryStrategy:
    """Build a strategy from a spec such as ``"margin*impact+diverse"``.

    Factors joined by ``*`` are multiplied: ``random``, ``margin`` (alias ``uncertainty``),
    ``entropy``, ``impact`` (needs ``weights``; see
    :func:`fedcrm.annotate.impact.default_concept_weights`). Modifiers follow with ``+``:
    ``+diverse`` (greedy diversity, :class:`Diverse`) and ``+explore`` or ``+explore=0.3``
    (a random share of each batch, :class:`Explore`), each at most once and ``+explore``
    last: ``margin+diverse+explore=0.2`` (``+explore+diverse`` is refused, since diversity
    selects from the scores alone and the exploration would never run).
    ``default`` is ``margin*impact+diverse``.
    """
    text = "".join(spec.lower().split())  # spaces around '*', '+' and '=' are fine
    base, *modifiers = text.split("+")
    if base in _ALIASES:  # "default+explore": the alias's own modifiers come first
        base, *own = _ALIASES[base].split("+")
        modifiers = [*own, *modifiers]
    parts: list[QueryStrategy] = []
    for raw in base.split("*"):
        name = _ALIASES.get(raw.strip(), raw.strip())
        if name == "random":
            parts.append(RandomSampling(seed))
        elif name == "margin":
            parts.append(Margin())
        elif name == "entropy":
            parts.append(Entropy())
        elif name == "impact":
            if weights is None:
                raise ConfigError(f"strategy {spec!r} uses impact: give the concept weights")
            parts.append(Impact(weights))
        else:
            raise ConfigError(
                f"strategy {spec!r}: unknown part {raw!r}; use random, margin (uncertainty), "
                "entropy or impact, joined by '*', optionally followed by '+diverse' and/or "
                "'+explore'"
            )
    strategy: QueryStrategy = parts[0] if len(parts) == 1 else Product(*parts)
    seen: list[str] = []
    for modifier in modifiers:
        name, _, value = modifier.strip().partition("=")
        if name in seen:
            raise ConfigError(f"strategy {spec!r}: '+{name}' is given twice; give it once")
        if name == "diverse" and "explore" in seen:
            # Diverse selects with its inner strategy's scores, so an Explore inside it would
            # never run: refuse rather than report a strategy that did not happen
            fixed = "+".join([base, *(m for m in modifiers if not m.startswith("explore")),
                              *(m for m in modifiers if m.startswith("explore"))])
            raise ConfigError(f"strategy {spec!r}: '+explore' must come after '+diverse' "
                              f"(diversity picks from the scores alone, so exploring inside "
                              f"it would never happen); write {fixed!r}")
        seen.append(name)
        if name == "diverse" and not value:
            strategy = Diverse(strategy, similarity=similarity, floor=floor, embedder=embedder)
        elif name == "explore":
            try:
                share = float(value) if value else 0.2
            except ValueError:
                raise ConfigError(f"strategy {spec!r}: '+explore={value}' needs a number "
                                  "such as 0.2") from None
            strategy = Explore(strategy, share=share, seed=seed)
        else:
            raise ConfigError(f"strategy {spec!r}: unknown modifier '+{modifier}'; the "
                              "modifiers are '+diverse' and '+explore[=share]'")
    return strategy
