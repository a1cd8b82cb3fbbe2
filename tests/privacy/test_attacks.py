"""Membership inference measures privacy: overfit models leak, unseen data does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fedcrm.privacy import (
    RecordLevelDP,
    membership_inference_auc,
    per_example_losses,
    shadow_model_attack_auc,
)

from ._helpers import train_plain, train_private_round

N_FEATURES = 30


def random_task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random features with random labels: only memorisation can fit it."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, N_FEATURES, generator=generator)
    labels = torch.randint(0, 2, (n,), generator=generator).float()
    return features, labels


def mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(N_FEATURES, 64), nn.ReLU(), nn.Linear(64, 1))


def overfit(features: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> nn.Module:
    return train_plain(mlp(seed), features, labels, batch_size=10, epochs=150, lr=0.2)


def test_overfit_model_on_tiny_data_leaks_membership() -> None:
    members, non_members = random_task(60, seed=1), random_task(60, seed=2)
    model = overfit(*members)
    assert membership_inference_auc(model, *members, *non_members) > 0.9


def test_model_that_saw_neither_set_gives_chance_level() -> None:
    members, non_members = random_task(3_000, seed=3), random_task(3_000, seed=4)
    untouched = mlp(seed=5)
    assert membership_inference_auc(untouched, *members, *non_members) == pytest.approx(
        0.5, abs=0.03
    )


def test_dp_sgd_lowers_the_attack_auc() -> None:
    members, non_members = random_task(200, seed=6), random_task(200, seed=7)
    leaky = train_plain(mlp(8), *members, batch_size=20, epochs=100, lr=0.2)
    engine = RecordLevelDP.from_budget(
        "org-a",
        epsilon=1.0,
        delta=1e-3,
        n_samples=200,
        batch_size=20,
        rounds=1,
        local_epochs=20,
        accountant="rdp",
    )
    private = mlp(8)
    torch.manual_seed(9)
    train_private_round(engine, private, *members, lr=0.2)
    leaky_auc = membership_inference_auc(leaky, *members, *non_members)
    private_auc = membership_inference_auc(private, *members, *non_members)
    assert leaky_auc > 0.8
    assert private_auc < 0.62
    assert private_auc < leaky_auc - 0.2


def test_probability_outputs_give_the_same_losses_as_logits() -> None:
    features, labels = random_task(50, seed=10)
    logits_model = mlp(11)
    probability_model = nn.Sequential(logits_model, nn.Sigmoid())
    np.testing.assert_allclose(
        per_example_losses(logits_model, features, labels),
        per_example_losses(probability_model, features, labels, outputs="probabilities"),
        rtol=1e-4,
    )
    assert logits_model.training  # evaluation mode was restored


def test_shadow_model_attack_detects_an_overfit_target() -> None:
    members, non_members = random_task(60, seed=12), random_task(60, seed=13)
    target = overfit(*members, seed=14)
    shadow_features, shadow_labels = random_task(120, seed=15)

    def train_like_the_target(features: np.ndarray, labels: np.ndarray) -> nn.Module:
        return overfit(torch.from_numpy(features), torch.from_numpy(labels), seed=16)

    auc = shadow_model_attack_auc(
        train_like_the_target,
        shadow_features,
        shadow_labels,
        target,
        *members,
        *non_members,
        n_shadow_models=2,
    )
    assert auc > 0.8
