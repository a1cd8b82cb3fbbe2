"""Aggregation strategies: small classes with two hooks.

``configure_round`` picks the round's participants and their local settings;
``aggregate`` turns their updates into one global step. Behaviour is composed by choosing or
wrapping a strategy, not by flags on one big class (Flower's strategy pattern).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from numbers import Real
from typing import Any

import numpy as np

from fedcrm.errors import AggregationError, ConfigError
from fedcrm.federation.participant import Update


@dataclass
class RoundPlan:
    """Who trains this round and with which local settings."""

    participants: list[str]
    #: FedProx's proximal term μ; None = the coordinator's ``TrainingConfig.prox_mu``
    prox_mu: float | None = None


@dataclass
class Aggregate:
    """A global step and the weight each update got (for the round log)."""

    step: np.ndarray
    weights: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _check(updates: Sequence[Update]) -> None:
    if not updates:
        raise AggregationError("no updates to aggregate this round")
    sizes = {u.delta.shape for u in updates}
    if len(sizes) != 1:
        raise AggregationError(
            "updates have different shapes " + ", ".join(
                f"{u.participant_id}: {u.delta.shape}" for u in updates)
            + "; participants must share one feature space and model")


def select_participants(
    participant_ids: Sequence[str], count: int, rng: np.random.Generator
) -> list[str]:
    """``count`` participants sampled without replacement (all of them, in order, when
    ``count`` covers everyone)."""
    total = len(participant_ids)
    if total == 0:
        raise ConfigError("a federation needs at least one participant")
    count = min(max(count, 1), total)
    if count == total:
        return list(participant_ids)
    chosen = rng.choice(total, size=count, replace=False)
    return [participant_ids[i] for i in sorted(chosen)]


class Strategy:
    """Base strategy: all participants, weighted mean of updates (weights from ``weight``)."""

    name = "strategy"

    def configure_round(
        self, round_number: int, participant_ids: Sequence[str], per_round: int,
        rng: np.random.Generator,
    ) -> RoundPlan:
        """Choose the round's participants (``per_round`` of them)."""
        return RoundPlan(participants=select_participants(participant_ids, per_round, rng))

    def weight(self, update: Update) -> float:
        """Relative weight of one update."""
        return 1.0

    def aggregate(self, updates: Sequence[Update]) -> Aggregate:
        """Weighted mean of the deltas."""
        _check(updates)
        raw = np.array([self.weight(u) for u in updates], dtype=np.float64)
        if raw.sum() <= 0:
            raise AggregationError("update weights sum to zero")
        weights = raw / raw.sum()
        step = np.tensordot(weights, np.stack([u.delta for u in updates]), axes=1)
        return Aggregate(step=step.astype(np.float32),
                         weights={u.participant_id: float(w) for u, w in zip(updates, weights,
                                                                             strict=True)})


class FedAvg(Strategy):
    """Weights proportional to sample counts (McMahan et al. 2017, "Communication-efficient
    learning of deep networks from decentralized data", Algorithm 1)."""

    name = "fedavg"

    def weight(self, update: Update) -> float:
        return float(update.n_samples)


class QualityWeighted(Strategy):
    """Weights ∝ sample count × quality multiplier (in [0.6, 1.4], from the org's data-quality
    metrics): more and better data counts more, within bounds."""

    name = "quality_weighted"

    def weight(self, update: Update) -> float:
        return float(update.n_samples) * update.quality_multiplier


class FedProx(FedAvg):
    """FedAvg aggregation with a proximal term μ in every local objective (Li et al. 2020)."""

    name = "fedprox"

    def __init__(self, mu: float = 0.01) -> None:
        if isinstance(mu, bool) or not isinstance(mu, Real) or not math.isfinite(mu) or mu <= 0:
            raise ConfigError(f"FedProx needs a finite number mu > 0, got {mu!r}")
        self.mu = mu

    def configure_round(
        self, round_number: int, participant_ids: Sequence[str], per_round: int,
        rng: np.random.Generator,
    ) -> RoundPlan:
        plan = super().configure_round(round_number, participant_ids, per_round, rng)
        plan.prox_mu = self.mu
        return plan


class CoordinateMedian(Strategy):
    """Coordinate-wise median of the updates (Yin et al. 2018, "Byzantine-robust distributed
    learning"). Plaintext only: it needs every individual update."""

    name = "median"

    def aggregate(self, updates: Sequence[Update]) -> Aggregate:
        _check(updates)
        step = np.median(np.stack([u.delta for u in updates]), axis=0)
        share = 1.0 / len(updates)
        return Aggregate(step=step.astype(np.float32),
                         weights={u.participant_id: share for u in updates})


class TrimmedMean(Strategy):
    """Coordinate-wise mean after dropping the ``trim`` share of largest and smallest values
    (Yin et al. 2018). Plaintext only."""

    name = "trimmed_mean"

    def __init__(self, trim: float = 0.2) -> None:
        if isinstance(trim, bool) or not isinstance(trim, Real) or not 0 <= trim < 0.5:
            raise ConfigError(f"trimmed_mean needs a number trim in [0, 0.5), got {trim!r}")
        self.trim = trim

    def aggregate(self, updates: Sequence[Update]) -> Aggregate:
        _check(updates)
        stacked = np.sort(np.stack([u.delta for u in updates]), axis=0)
        # rounded to 9 decimals first: 0.29 × 100 is 28.999999999999996 in floats
        cut = int(np.floor(round(self.trim * len(updates), 9)))
        kept = stacked[cut: len(updates) - cut] if len(updates) - 2 * cut > 0 else stacked
        share = 1.0 / len(updates)
        return Aggregate(step=kept.mean(axis=0).astype(np.float32),
                         weights={u.participant_id: share for u in updates},
                         info={"trimmed_per_side": cut})


STRATEGIES: dict[str, type[Strategy]] = {
    "fedavg": FedAvg,
    "quality_weighted": QualityWeighted,
    "fedprox": FedProx,
    "median": CoordinateMedian,
    "trimmed_mean": TrimmedMean,
}


def make_strategy(name: str, **options: Any) -> Strategy:
    """A strategy by name (``fedavg``, ``quality_weighted``, ``fedprox``, ``median``,
    ``trimmed_mean``)."""
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}")
    cls = STRATEGIES[name]
    accepted = list(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        takes = f"takes only {', '.join(accepted)}" if accepted else "takes no options"
        raise ConfigError(f"strategy {name!r} {takes}; got {', '.join(unknown)}")
    return cls(**options)
