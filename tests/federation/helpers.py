"""Small logistic federations for trainer tests."""

from __future__ import annotations

import numpy as np

from fedcrm.federation import ParticipantData, Update


def logistic_org(n: int, shift: float, seed: int, n_features: int = 10,
                 weights_seed: int = 99) -> ParticipantData:
    """An org whose labels follow a shared logistic rule plus an org-specific intercept."""
    true_weights = np.random.default_rng(weights_seed).normal(size=n_features)
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_features)).astype(np.float32)
    logits = features @ true_weights + shift
    labels = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.float32)
    a, b = int(n * 0.7), int(n * 0.85)
    return ParticipantData(features[:a], labels[:a], features[a:b], labels[a:b],
                           features[b:], labels[b:])


def update(pid: str, delta: list[float], n: int, quality: float = 1.0) -> Update:
    vector = np.array(delta, dtype=np.float32)
    return Update(participant_id=pid, round=0, delta=vector, n_samples=n,
                  quality_multiplier=quality, norm=float(np.linalg.norm(vector)),
                  clipped=False, train_loss=0.0)
