"""Calibration and abstention thresholds learned on orgs the model was not fitted on."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Monotone map from raw model scores to probabilities: centred isotonic regression.

    Plain isotonic regression (Zadrozny & Elkan 2002) is a step function: every raw score of
    a pooled block gets the same probability, and a block can hold a third of an org's
    fields. A threshold on such probabilities can only take or leave the whole block, so the
    accepted share jumps with tiny changes of the training data. The centred form (Oron &
    Flournoy 2017, "Centered Isotonic Regression") keeps the block means but places each at
    its block's mean raw score and interpolates linearly between them, so the map is strictly
    increasing between the first and last block centres and scores stay ordered. scikit-learn
    has only the step form; the centring is the few lines in :meth:`fit`.
    """

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(
        cls, scores: np.ndarray, labels: np.ndarray, *, centred: bool = True
    ) -> IsotonicCalibrator:
        """Fit on out-of-fold raw scores and 0/1 labels (``centred=False``: the step form)."""
        if len(scores) == 0 or len(np.unique(labels)) < 2:
            return cls(x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0]))
        scores = np.asarray(scores, dtype=float)
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        fitted = model.fit_transform(scores, labels)
        if not centred:
            return cls(x=np.asarray(model.X_thresholds_, dtype=float),
                       y=np.asarray(model.y_thresholds_, dtype=float))
        # one point per level of the fitted step function: (mean raw score, level); the
        # levels are non-decreasing in the raw score, so their centres are ordered too
        levels, inverse = np.unique(fitted, return_inverse=True)
        centres = np.bincount(inverse, weights=scores) / np.bincount(inverse)
        x = np.r_[scores.min(), centres, scores.max()]
        y = np.r_[levels[0], levels, levels[-1]]
        return cls(x=x, y=y)

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities."""
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready form."""
        return {"x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> IsotonicCalibrator:
        """Inverse of :meth:`to_dict`."""
        return cls(x=np.asarray(data["x"], dtype=float), y=np.asarray(data["y"], dtype=float))


def threshold_for_precision(
    scores: np.ndarray,
    correct: np.ndarray,
    target: float,
    *,
    min_support: int = 20,
    weights: np.ndarray | None = None,
) -> float:
    """Smallest score threshold whose accepted decisions reach ``target`` precision.

    Decisions are accepted when ``score >= threshold``; the threshold is the lowest score at
    which the accepted decisions, at least ``min_support`` of them, have precision >=
    ``target`` (the largest coverage at that precision). A precision measured on the first
    few decisions is not a veto: an earlier version took the running minimum of the
    precision from the top, so two wrong decisions among the 20 most confident meant "accept
    nothing", and the threshold of a matcher trained on a few orgs jumped between 0.7 and
    1.0 from one retrain to the next. ``weights`` (one per decision) make it a weighted
    precision. Returns ``math.inf`` if no threshold qualifies: nothing is accepted, not even
    a score of exactly 1.0 (calibrated probabilities reach it, and decisions use ``>=``).
    """
    if len(scores) == 0:
        return math.inf
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    weight = np.ones(len(scores)) if weights is None else np.asarray(weights, float)[order]
    precision = np.cumsum(correct[order].astype(float) * weight) / np.cumsum(weight)
    counts = np.arange(1, len(scores) + 1)
    # only cut between distinct scores
    distinct = np.r_[sorted_scores[1:] < sorted_scores[:-1], True]
    ok = (precision >= target) & distinct & (counts >= min_support)
    if not ok.any():
        return math.inf
    return float(sorted_scores[int(np.nonzero(ok)[0].max())])


def risk_coverage(
    scores: np.ndarray, correct: np.ndarray, n_points: int = 21
) -> list[dict[str, float]]:
    """Precision and coverage of accepted decisions at evenly spaced thresholds."""
    curve = []
    for threshold in np.linspace(0.0, 1.0, n_points):
        accepted = scores >= threshold
        n = int(accepted.sum())
        curve.append({
            "threshold": float(threshold),
            "coverage": float(n / len(scores)) if len(scores) else 0.0,
            "precision": float(correct[accepted].mean()) if n else 1.0,
        })
    return curve


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 10
) -> float:
    """ECE with equal-width bins (Naeini et al. 2015, "Obtaining well calibrated
    probabilities using Bayesian binning")."""
    if len(probabilities) == 0:
        return 0.0
    bins = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in range(n_bins):
        members = bins == b
        if members.any():
            error += members.mean() * abs(probabilities[members].mean() - labels[members].mean())
    return float(error)
