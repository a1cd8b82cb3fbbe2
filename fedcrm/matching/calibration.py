"""Calibration and abstention thresholds learned on orgs the model was not fitted on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Monotone map from raw model scores to probabilities (Zadrozny & Elkan 2002)."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, labels: np.ndarray) -> IsotonicCalibrator:
        """Fit on out-of-fold raw scores and 0/1 labels."""
        if len(scores) == 0 or len(np.unique(labels)) < 2:
            return cls(x=np.array([0.0, 1.0]), y=np.array([0.0, 1.0]))
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        model.fit(scores, labels)
        return cls(x=np.asarray(model.X_thresholds_, dtype=float),
                   y=np.asarray(model.y_thresholds_, dtype=float))

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

    Decisions are accepted when ``score >= threshold``. The precision curve is made monotone
    (the running minimum from the top), so a threshold is chosen only if *every* higher
    threshold also meets the target — a noisy spike cannot pull it down. The running minimum
    starts at the ``min_support``-th decision: a precision measured on fewer decisions is
    too noisy to veto every lower threshold (one wrong top decision would otherwise mean
    "accept nothing"). ``weights`` (one per decision) make it a weighted precision. Returns
    1.0 (accept nothing) if no threshold qualifies with at least ``min_support`` accepted
    decisions.
    """
    if len(scores) == 0:
        return 1.0
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    weight = np.ones(len(scores)) if weights is None else np.asarray(weights, float)[order]
    hits = np.cumsum(correct[order].astype(float) * weight)
    counts = np.arange(1, len(scores) + 1)
    precision = hits / np.cumsum(weight)
    start = min(min_support, len(scores)) - 1
    envelope = np.full(len(scores), -np.inf)
    envelope[start:] = np.minimum.accumulate(precision[start:])
    # only cut between distinct scores
    distinct = np.r_[sorted_scores[1:] < sorted_scores[:-1], True]
    ok = (envelope >= target) & distinct & (counts >= min_support)
    if not ok.any():
        return 1.0
    last = int(np.nonzero(ok)[0].max())
    return float(sorted_scores[last])


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
