"""Membership-inference checks: measure privacy instead of asserting it.

* **Loss-threshold attack** (Yeom et al. 2018, "Privacy risk in machine learning: analyzing
  the connection to overfitting"): a record is guessed to be a training member when the
  model's loss on it is low. Sweeping the threshold gives an ROC curve; its AUC is 0.5 for a
  model that leaks nothing about membership and approaches 1 for one that memorised its data.
* **Shadow-model attack** (Shokri et al. 2017, "Membership inference attacks against machine
  learning models"): train models like the target on data the attacker owns, learn from them
  how members and non-members differ in (loss, label), apply that to the target.

Models follow the trainer's contract: a ``torch.nn.Module`` mapping a float32 feature matrix
to one logit per row (binary cross-entropy); pass ``outputs="probabilities"`` for models that
end in a sigmoid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.nn import functional

from fedcrm.errors import ConfigError

__all__ = ["membership_inference_auc", "per_example_losses", "shadow_model_attack_auc"]

ArrayLike = np.ndarray | torch.Tensor
Outputs = Literal["logits", "probabilities"]


def _as_tensor(values: ArrayLike, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(values, dtype=torch.float32)
    if tensor.shape[0] == 0:
        raise ConfigError(f"{name} is empty; the attack needs at least one example")
    return tensor


def per_example_losses(
    model: nn.Module, features: ArrayLike, labels: ArrayLike, *, outputs: Outputs = "logits"
) -> np.ndarray:
    """Binary cross-entropy of ``model`` on each example (no reduction), as float64."""
    x = _as_tensor(features, "features")
    y = _as_tensor(labels, "labels").reshape(-1)
    if x.shape[0] != y.shape[0]:
        raise ConfigError(f"features have {x.shape[0]} rows but labels have {y.shape[0]}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores = model(x).reshape(-1)
    finally:
        model.train(was_training)
    if outputs == "logits":
        losses = functional.binary_cross_entropy_with_logits(scores, y, reduction="none")
    elif outputs == "probabilities":
        losses = functional.binary_cross_entropy(scores.clamp(1e-7, 1 - 1e-7), y, reduction="none")
    else:
        raise ConfigError(f"outputs must be 'logits' or 'probabilities', got {outputs!r}")
    return losses.double().numpy()


def membership_inference_auc(
    model: nn.Module,
    members_X: ArrayLike,  # noqa: N803 - the issue's signature, sklearn's X convention
    members_y: ArrayLike,
    non_members_X: ArrayLike,  # noqa: N803 - the issue's signature, sklearn's X convention
    non_members_y: ArrayLike,
    *,
    outputs: Outputs = "logits",
) -> float:
    """AUC of the loss-threshold membership attack (Yeom et al. 2018) against ``model``.

    ``members_*`` were in the model's training data, ``non_members_*`` come from the same
    distribution but were not. 0.5 means the attack does no better than a coin flip; values
    clearly above 0.5 mean the model leaks membership. Use held-out non-members of about the
    same size as the members.
    """
    member_losses = per_example_losses(model, members_X, members_y, outputs=outputs)
    non_member_losses = per_example_losses(model, non_members_X, non_members_y, outputs=outputs)
    is_member = np.concatenate([np.ones(len(member_losses)), np.zeros(len(non_member_losses))])
    # lower loss ⇒ more likely a member, so the attack's score is the negated loss
    scores = -np.concatenate([member_losses, non_member_losses])
    return float(roc_auc_score(is_member, scores))


def _attack_features(losses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    # loss and label, plus their product so the linear attack can use one threshold per class
    # (Shokri et al. train one attack model per class)
    return np.column_stack([losses, labels, losses * labels])


def shadow_model_attack_auc(
    train_fn: Callable[[np.ndarray, np.ndarray], nn.Module],
    shadow_X: ArrayLike,  # noqa: N803 - the issue's signature, sklearn's X convention
    shadow_y: ArrayLike,
    target_model: nn.Module,
    members_X: ArrayLike,  # noqa: N803 - the issue's signature, sklearn's X convention
    members_y: ArrayLike,
    non_members_X: ArrayLike,  # noqa: N803 - the issue's signature, sklearn's X convention
    non_members_y: ArrayLike,
    *,
    n_shadow_models: int = 4,
    seed: int = 0,
    outputs: Outputs = "logits",
) -> float:
    """AUC of a shadow-model membership attack (Shokri et al. 2017) against ``target_model``.

    ``train_fn(X, y)`` must train a model the way the target was trained (same architecture,
    epochs, privacy settings). Each shadow model is trained on a random half of the attacker's
    ``shadow_*`` data; the other half are its non-members. A logistic-regression attack model
    learns membership from (loss, label) and is scored on the target's members/non-members.
    """
    if n_shadow_models < 1:
        raise ConfigError(f"n_shadow_models must be ≥ 1, got {n_shadow_models}")
    x = _as_tensor(shadow_X, "shadow_X").numpy()
    y = _as_tensor(shadow_y, "shadow_y").reshape(-1).numpy()
    if len(x) < 4:
        raise ConfigError(f"shadow data has {len(x)} rows; need at least 4 to split in/out")
    rng = np.random.default_rng(seed)
    attack_x, attack_membership = [], []
    for _ in range(n_shadow_models):
        order = rng.permutation(len(x))
        inside, outside = order[: len(x) // 2], order[len(x) // 2 :]
        shadow = train_fn(x[inside], y[inside])
        for rows, membership_label in ((inside, 1.0), (outside, 0.0)):
            losses = per_example_losses(shadow, x[rows], y[rows], outputs=outputs)
            attack_x.append(_attack_features(losses, y[rows]))
            attack_membership.append(np.full(len(rows), membership_label))
    attack = LogisticRegression(max_iter=1000)
    attack.fit(np.vstack(attack_x), np.concatenate(attack_membership))

    member_losses = per_example_losses(target_model, members_X, members_y, outputs=outputs)
    non_member_losses = per_example_losses(
        target_model, non_members_X, non_members_y, outputs=outputs
    )
    labels = np.concatenate(
        [
            _as_tensor(members_y, "members_y").reshape(-1).numpy(),
            _as_tensor(non_members_y, "non_members_y").reshape(-1).numpy(),
        ]
    )
    features = _attack_features(np.concatenate([member_losses, non_member_losses]), labels)
    is_member = np.concatenate([np.ones(len(member_losses)), np.zeros(len(non_member_losses))])
    return float(roc_auc_score(is_member, attack.predict_proba(features)[:, 1]))
