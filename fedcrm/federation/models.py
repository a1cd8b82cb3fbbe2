"""The torch models a federation trains (pluggable: any ``nn.Module`` mapping a float32
feature matrix to one logit per row works)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from fedcrm.errors import ConfigError

ModelFactory = Callable[[int], nn.Module]


class LogisticRegression(nn.Module):
    """One linear layer: the logit of a logistic regression."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits, shape (rows,)."""
        return self.linear(features).squeeze(-1)


class MLP(nn.Module):
    """A small multilayer perceptron (ReLU hidden layers, one logit out)."""

    def __init__(self, n_features: int, hidden: tuple[int, ...] = (32, 16),
                 dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, 1))
        self.network = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits, shape (rows,)."""
        return self.network(features).squeeze(-1)


def resolve_device(name: str) -> torch.device:
    """The torch device for a ``TrainingConfig.device`` name: ``cpu``, ``cuda``, ``cuda:N`` or
    ``auto`` (the GPU when torch sees one, else the CPU).

    Raises :class:`ConfigError` for a CUDA device torch cannot use (no GPU, a CPU-only torch
    build, an index beyond the GPUs present) instead of failing inside the first round.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"device {name!r} is not a torch device; use 'cpu', 'cuda', "
                          f"'cuda:N' or 'auto'") from exc
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"device {name!r}: local training runs on 'cpu' or 'cuda' only")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: torch sees no CUDA GPU here (a CPU-only build, or "
                          f"no driver); use 'cpu' or 'auto'")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA "
                          f"GPU(s), numbered from 0")
    return device


def make_model(name: str, n_features: int, **options: object) -> nn.Module:
    """``"logistic"`` or ``"mlp"`` (options: ``hidden``, ``dropout``)."""
    if n_features < 1:
        raise ConfigError(f"a model needs at least one feature, got {n_features}")
    if name == "logistic":
        return LogisticRegression(n_features)
    if name == "mlp":
        hidden = options.get("hidden", (32, 16))
        dropout = options.get("dropout", 0.0)
        if not isinstance(hidden, tuple | list) or not isinstance(dropout, int | float):
            raise ConfigError(f"mlp options: hidden must be a tuple of ints, dropout a number; "
                              f"got {hidden!r}, {dropout!r}")
        return MLP(n_features, hidden=tuple(int(h) for h in hidden), dropout=float(dropout))
    raise ConfigError(f"unknown model {name!r}; use 'logistic' or 'mlp' or pass a factory")


def get_parameters(model: nn.Module) -> np.ndarray:
    """All trainable parameters as one float32 vector (a plain record any transport carries)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).cpu().numpy().astype(
        np.float32)


def vector_norm(vector: np.ndarray) -> float:
    """L2 norm of a parameter vector, summed in float64: a float32 sum of squares overflows to
    infinity once entries pass about 1.8e19, and scaling by ``bound / inf`` then zeroed an
    update instead of bounding it."""
    return float(np.linalg.norm(np.asarray(vector, dtype=np.float64)))


def set_parameters(model: nn.Module, vector: np.ndarray) -> None:
    """Load a vector made by :func:`get_parameters` into ``model``."""
    expected = sum(p.numel() for p in model.parameters())
    if vector.shape != (expected,):
        raise ConfigError(f"parameter vector has shape {vector.shape}, the model needs "
                          f"({expected},): the feature spaces of the participants differ")
    offset = 0
    with torch.no_grad():
        for parameter in model.parameters():
            size = parameter.numel()
            parameter.copy_(torch.from_numpy(vector[offset:offset + size]).view_as(parameter))
            offset += size
