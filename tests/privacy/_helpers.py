"""Small deterministic fixtures shared by the privacy tests."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedcrm.privacy import RecordLevelDP, RoundSpend


def separable_data(
    n: int, n_features: int = 4, *, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A linearly separable binary problem (label = sign of a fixed direction), float32."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, n_features, generator=generator)
    direction = torch.linspace(1.0, -0.5, n_features)
    labels = (features @ direction > 0).float()
    return features, labels


def logistic_model(n_features: int, *, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(n_features, 1)


def loader_for(
    features: torch.Tensor, labels: torch.Tensor, batch_size: int, *, drop_last: bool = False
) -> DataLoader:
    return DataLoader(
        TensorDataset(features, labels), batch_size=batch_size, shuffle=True, drop_last=drop_last
    )


def bce(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(model(features).reshape(-1), labels)


def train_private_round(
    engine: RecordLevelDP,
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    lr: float = 0.5,
    epochs: int | None = None,
    noise_generator: torch.Generator | None = None,
) -> RoundSpend:
    """What the trainer does per round: wrap, `local_epochs` passes, record."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = loader_for(features, labels, engine.plan.batch_size, drop_last=engine.plan.drop_last)
    module, private_optimizer, private_loader = engine.wrap(
        model, optimizer, loader, noise_generator=noise_generator
    )
    for _ in range(engine.plan.local_epochs if epochs is None else epochs):
        for batch_features, batch_labels in private_loader:
            private_optimizer.zero_grad()
            bce(module, batch_features, batch_labels).backward()
            private_optimizer.step()
    return engine.record_round()


def train_plain(
    model: nn.Module,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int,
    epochs: int,
    lr: float = 0.5,
) -> nn.Module:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = loader_for(features, labels, batch_size)
    for _ in range(epochs):
        for batch_features, batch_labels in loader:
            optimizer.zero_grad()
            bce(model, batch_features, batch_labels).backward()
            optimizer.step()
    return model


def auc(model: nn.Module, features: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        scores = model(features).reshape(-1).numpy()
    return float(roc_auc_score(labels.numpy(), scores))


def flat_parameters(model: nn.Module) -> np.ndarray:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()
