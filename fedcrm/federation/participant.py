"""A participant: one org that holds its own data, trains locally and never exposes records.

What leaves a participant is a plain record: a parameter delta (norm-bounded), its sample
count, its quality multiplier and summary metrics. Before training on a new global model a
participant checks it on its own validation split and rejects it if it is worse than the last
model it accepted by more than the tolerance (poisoning defence by validation gating).

With a privacy hook (:mod:`fedcrm.federation.privacy`) the local training is DP-SGD
(record-level DP) or the delta is clipped and noised before it leaves (client-level DP); the
round's privacy spend travels with the update in ``Update.privacy``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedcrm.errors import ConfigError
from fedcrm.federation.config import TrainingConfig, check_rounds
from fedcrm.federation.models import (
    ModelFactory,
    get_parameters,
    make_model,
    resolve_device,
    set_parameters,
    vector_norm,
)


def _numeric_array(values: object, split: str) -> np.ndarray:
    """``values`` as a numeric array: a numeric ndarray as it is, anything else as float32."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values
    try:
        return np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise ConfigError(f"{split} split: features and labels must be numbers (arrays of "
                          "floats)") from None


@dataclass
class ParticipantData:
    """One org's model-ready splits (float32 features, 0/1 labels). The test split is for
    final evaluation only: nothing in training or gating ever reads it."""

    train_x: np.ndarray
    train_y: np.ndarray
    validation_x: np.ndarray
    validation_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    feature_names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # numpy arrays, tuples or a pandas Index of names alike (an array has no truth value)
        self.feature_names = [str(n) for n in self.feature_names] \
            if self.feature_names is not None else []
        for name in ("train", "validation", "test"):
            # numeric arrays are kept as they are (no copy); lists and other array-likes
            # become float32 arrays; text or objects are refused
            x = _numeric_array(getattr(self, f"{name}_x"), name)
            y = _numeric_array(getattr(self, f"{name}_y"), name)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]  # a column vector of labels
            if y.ndim != 1:
                raise ConfigError(f"{name} split: labels must be one number per record, got "
                                  f"shape {y.shape}")
            setattr(self, f"{name}_x", x)
            setattr(self, f"{name}_y", y)
            if x.ndim != 2 or len(x) != len(y):
                raise ConfigError(f"{name} split: features {x.shape} and labels {y.shape} "
                                  "do not line up")
            if not np.isfinite(x).all():
                raise ConfigError(f"{name} split has NaN or infinite features; impute first")
            # the model computes in float32: a finite float64 beyond its range would become
            # infinite there (and read as a diverging training, not as bad data)
            if x.dtype != np.float32 and x.size and float(np.abs(x).max()) > _FLOAT32_MAX:
                raise ConfigError(f"{name} split has features beyond float32's range "
                                  f"(|x| up to {float(np.abs(x).max()):.3g}); scale them first")
            if len(y) == 0:
                raise ConfigError(f"the {name} split is empty; every org needs records in "
                                  "its train, validation and test splits")
            labels = np.unique(y)
            if not np.isin(labels, (0, 1)).all():
                odd = [float(v) for v in labels if v not in (0, 1)][:5]
                raise ConfigError(f"{name} split has labels {odd}; labels must be 0 or 1 "
                                  "(map the outcome to 1 = positive class, 0 = negative)")
        widths = {self.train_x.shape[1], self.validation_x.shape[1], self.test_x.shape[1]}
        if len(widths) != 1:
            raise ConfigError(f"splits have different feature counts {sorted(widths)}")
        if self.feature_names and len(self.feature_names) != self.train_x.shape[1]:
            raise ConfigError(f"{len(self.feature_names)} feature names for "
                              f"{self.train_x.shape[1]} feature columns; give one name per "
                              "column, in column order")

    @property
    def n_features(self) -> int:
        """Width of the feature matrix."""
        return int(self.train_x.shape[1])


_FLOAT32_MAX = float(np.finfo(np.float32).max)


class Update(BaseModel):
    """What a participant sends after local training (a plain record)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    participant_id: str
    round: int
    delta: Any  # np.ndarray float32
    n_samples: int = Field(ge=1)
    quality_multiplier: float = Field(ge=0.6, le=1.4)
    norm: float
    clipped: bool
    #: mean training loss; NaN under a privacy hook (it is computed from the training records
    #: directly, so the DP guarantee would not cover it)
    train_loss: float
    #: the round's privacy spend (empty without a privacy hook)
    privacy: dict[str, Any] = Field(default_factory=dict)


class GateDecision(BaseModel):
    """A participant's verdict on an incoming global model."""

    model_config = ConfigDict(frozen=True)
    participant_id: str
    accepted: bool
    metric: float | None
    reference: float | None
    reason: str = ""


@dataclass(frozen=True)
class PrivatizedDelta:
    """A delta a privacy hook has already bounded and noised; the trainer sends it as it is.

    ``norm`` and ``clipped`` are what the :class:`Update` reports: a hook that must not
    release the raw update's norm (client-level DP) reports the released delta's norm instead.
    """

    delta: np.ndarray
    norm: float
    clipped: bool


def _batches(loader: DataLoader, epochs: int, steps: int | None
             ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``epochs`` passes over ``loader``, or exactly ``steps`` batches (reshuffled each time
    the loader is exhausted) when ``steps`` is set."""
    if steps is None:
        for _ in range(epochs):
            yield from loader
        return
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
            steps -= 1
            if steps == 0:
                return
        if empty:
            return


class PrivacyHook(Protocol):
    """What the trainer needs from a participant's privacy engine.

    :meth:`Participant.train` calls, in order, once per round:

    1. ``before_round`` — before any training record is read. Raise
       :class:`fedcrm.PrivacyBudgetExceeded` when the round would overspend the budget (the
       coordinator then drops the participant), :class:`fedcrm.ConfigError` when the round's
       settings are not the ones the privacy plan accounts for.
    2. ``wrap`` — the fresh model, its optimizer and the loader; returns what to train with
       (record-level DP: Opacus' per-example-gradient module, DP optimizer and Poisson loader).
       The trainer reads the update from the model it passed in, never from the wrapper.
    3. ``privatize`` — the trained delta (new − global parameters). Returns it clipped and
       noised (client-level DP), or ``None`` to let the trainer apply its usual norm bound.
    4. ``after_round`` — what the round spent, for the round log (``Update.privacy``).

    Implementations: :mod:`fedcrm.federation.privacy` (record- and client-level DP).
    """

    def before_round(self, participant_id: str, round_number: int, *, local_epochs: int,
                     prox_mu: float, local_steps: int | None = None) -> None: ...

    def wrap(self, model: nn.Module, optimizer: torch.optim.Optimizer,
             loader: DataLoader) -> tuple[nn.Module, torch.optim.Optimizer, DataLoader]: ...

    def privatize(self, delta: np.ndarray) -> PrivatizedDelta | None: ...

    def after_round(self, round_number: int) -> dict[str, Any]: ...


def auc_standard_error(labels: np.ndarray, auc: float) -> float:
    """Standard error of an AUC estimate from the class counts (Hanley & McNeil 1982,
    "The meaning and use of the area under a ROC curve", eq. 2)."""
    positives = float(np.sum(labels == 1))
    negatives = float(np.sum(labels == 0))
    if positives == 0 or negatives == 0:
        return 0.0
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    return float(np.sqrt(max(variance, 0.0)))


def binary_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
    """AUC-ROC (None if only one class is present) and log loss."""
    auc = None
    if len(np.unique(y_true)) == 2:
        auc = float(roc_auc_score(y_true, probabilities))
    loss = float(log_loss(y_true, np.clip(probabilities, 1e-7, 1 - 1e-7), labels=[0, 1]))
    return {"auc": auc, "log_loss": loss, "n": float(len(y_true))}


class Participant:
    """One org in the federation (in-process)."""

    def __init__(
        self,
        participant_id: str,
        data: ParticipantData,
        *,
        config: TrainingConfig | None = None,
        quality_multiplier: float = 1.0,
        model_factory: ModelFactory | None = None,
        privacy: PrivacyHook | None = None,
    ) -> None:
        if not isinstance(participant_id, str) or not participant_id:
            raise ConfigError(f"a participant id is a non-empty string (the org id), got "
                              f"{participant_id!r}")
        if not isinstance(data, ParticipantData):
            raise ConfigError(f"participant {participant_id}: data must be a ParticipantData "
                              f"(fedcrm.federation.participant_data builds one), got "
                              f"{type(data).__name__}")
        if isinstance(quality_multiplier, bool) or not isinstance(
                quality_multiplier, int | float | np.integer | np.floating) \
                or not 0.6 <= quality_multiplier <= 1.4:
            raise ConfigError(f"participant {participant_id}: quality multiplier must be a "
                              f"number in [0.6, 1.4], got {quality_multiplier!r}")
        self.participant_id = participant_id
        self.data = data
        self.config = config or TrainingConfig()
        resolve_device(self.config.device)  # a GPU that is not there: refused now
        self.quality_multiplier = quality_multiplier
        self.model_factory = model_factory
        self.privacy = privacy
        self.accepted_parameters: np.ndarray | None = None
        self.accepted_metric: float | None = None
        # the gate's reference before the current one: the model a rollback restores
        self.previous_parameters: np.ndarray | None = None
        self.previous_metric: float | None = None
        self.active = True

    # ------------------------------------------------------------------ models
    @property
    def device(self) -> torch.device:
        """Where this participant trains: its config's ``device``, resolved (read at every
        round, so a config replaced later takes effect)."""
        return resolve_device(self.config.device)

    @property
    def n_samples(self) -> int:
        """Training records (what FedAvg weights by)."""
        return len(self.data.train_y)

    def new_model(self) -> nn.Module:
        """A fresh model of the federation's architecture."""
        if self.model_factory is not None:
            return self.model_factory(self.data.n_features)
        return make_model(self.config.model, self.data.n_features, hidden=self.config.hidden)

    def predict(self, parameters: np.ndarray, features: np.ndarray) -> np.ndarray:
        """Probabilities of the positive class."""
        model = self.new_model()
        set_parameters(model, parameters)
        model.eval()
        with torch.no_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
        return torch.sigmoid(logits).numpy()

    def evaluate(
        self, parameters: np.ndarray, split: str = "validation"
    ) -> dict[str, float | None]:
        """Metrics of ``parameters`` on one of this org's splits."""
        if split not in ("train", "validation", "test"):
            raise ConfigError(f"unknown split {split!r}")
        x, y = getattr(self.data, f"{split}_x"), getattr(self.data, f"{split}_y")
        return binary_metrics(y, self.predict(parameters, x))

    # ------------------------------------------------------------------ gating
    def check(self, parameters: np.ndarray) -> GateDecision:
        """Validate an incoming global model; accept it unless it is clearly worse."""
        metrics = self.evaluate(parameters, "validation")
        metric = metrics["auc"]
        if metric is None:
            self._accept(parameters, None)
            return GateDecision(participant_id=self.participant_id, accepted=True, metric=None,
                                reference=self.accepted_metric,
                                reason="validation split has one class; gate skipped")
        reference = self.accepted_metric
        tolerance = max(self.config.validation_tolerance,
                        self.config.gate_z * auc_standard_error(self.data.validation_y, metric))
        if reference is not None and metric < reference - tolerance:
            return GateDecision(
                participant_id=self.participant_id, accepted=False, metric=metric,
                reference=reference,
                reason=f"validation AUC {metric:.3f} is more than {tolerance:.3f} below "
                       f"{reference:.3f}",
            )
        self._accept(parameters, metric)
        return GateDecision(participant_id=self.participant_id, accepted=True, metric=metric,
                            reference=reference)

    def rebase(self, parameters: np.ndarray) -> GateDecision:
        """After a rollback: make the restored model the gate's reference.

        The coordinator restores the global model before the one it rolled back. A participant
        that accepted the rolled-back model holds it as its reference, and checking the
        restored model against it could refuse every later model near the restored one (the
        participant would stop contributing). So when ``parameters`` is the model this
        participant accepted before its current one, it becomes the reference without a
        check; any other model is checked as usual (a coordinator cannot make a participant
        take a model it never accepted).
        """
        if self.previous_parameters is None or not np.array_equal(self.previous_parameters,
                                                                  parameters):
            return self.check(parameters)
        metric = self.evaluate(parameters, "validation")["auc"]
        reference = self.accepted_metric
        self.accepted_parameters = parameters.copy()
        self.accepted_metric = metric if metric is not None else self.previous_metric
        self.previous_parameters, self.previous_metric = None, None
        return GateDecision(participant_id=self.participant_id, accepted=True, metric=metric,
                            reference=reference,
                            reason="the model restored by a rollback; it is the new reference")

    def reset_gate(self) -> None:
        """Forget the last accepted model, so the next model checked becomes the reference
        (a new federation starts here: an earlier federation's reference would judge this
        one's models against another model)."""
        self.accepted_parameters = None
        self.accepted_metric = None
        self.previous_parameters = None
        self.previous_metric = None

    def _accept(self, parameters: np.ndarray, metric: float | None) -> None:
        self.previous_parameters, self.previous_metric = (self.accepted_parameters,
                                                          self.accepted_metric)
        self.accepted_parameters = parameters.copy()
        if metric is not None:
            self.accepted_metric = metric

    # ---------------------------------------------------------------- training
    def _seed(self, round_number: int) -> int:
        # the seed repeats every 2³¹ rounds: two trainings from models a hair apart with the
        # same seed give updates whose difference a coordinator could exploit (a review
        # recovered one org's update from two encrypted sums that way), so such rounds are
        # refused; no real federation runs 2³¹ rounds
        if isinstance(round_number, bool) or not isinstance(round_number, Integral) \
                or not 0 <= round_number < 2**31:
            raise ConfigError(f"participant {self.participant_id!r}: round number must be a "
                              f"whole number in [0, 2³¹), got {round_number!r}")
        return (self.config.seed * 1_000_003 + zlib.crc32(self.participant_id.encode())
                + int(round_number) * 7919) % (2**31)

    def train(self, parameters: np.ndarray, round_number: int, *, prox_mu: float | None = None,
              epochs: int | None = None) -> Update:
        """Train locally from ``parameters``; return the norm-bounded delta.

        ``epochs`` overrides the configuration and trains in passes over the data even when
        ``config.local_steps`` is set (the local-only baseline does this)."""
        config = self.config
        torch.manual_seed(self._seed(round_number))
        generator = torch.Generator().manual_seed(self._seed(round_number))
        device = self.device
        model = self.new_model()
        set_parameters(model, parameters)
        model.to(device)
        start = [p.detach().clone() for p in model.parameters()]
        dataset = TensorDataset(torch.from_numpy(self.data.train_x.astype(np.float32)),
                                torch.from_numpy(self.data.train_y.astype(np.float32)))
        loader = DataLoader(dataset, batch_size=min(config.batch_size, len(dataset)),
                            shuffle=True, generator=generator)
        if config.optimizer == "adam":
            optimizer: torch.optim.Optimizer = torch.optim.Adam(
                model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        else:
            optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate,
                                        weight_decay=config.weight_decay)
        mu = config.prox_mu if prox_mu is None else prox_mu
        local_epochs = epochs or config.local_epochs
        steps = config.local_steps if epochs is None else None
        trained_module = model  # the update is read from this module, never from a DP wrapper
        if self.privacy is not None:
            self.privacy.before_round(self.participant_id, round_number,
                                      local_epochs=local_epochs, prox_mu=mu, local_steps=steps)
            model, optimizer, loader = self.privacy.wrap(model, optimizer, loader)
        loss_function = nn.BCEWithLogitsLoss()
        model.train()
        # summed on the device: reading each loss back would wait for the GPU every step
        total = torch.zeros((), dtype=torch.float64, device=device)
        batches = 0
        for features, labels in _batches(loader, local_epochs, steps):
            # the loaders batch on the CPU (Opacus' Poisson sampler too); a no-op there
            features, labels = features.to(device), labels.to(device)
            if len(labels) == 0:
                if self.privacy is None:
                    continue
                # DP-SGD's Poisson sampling can draw an empty batch. Its step still runs
                # (it releases noise only) and is accounted: skipping it would make the
                # number of noisy steps depend on the data (Abadi et al. 2016, §3.1).
                optimizer.zero_grad()
                loss_function(model(features), labels).backward()
                optimizer.step()
                continue
            optimizer.zero_grad()
            loss = loss_function(model(features), labels)
            if mu > 0:
                # FedProx proximal term (Li et al. 2020, eq. 2): μ/2 ‖w − w_global‖²
                proximal = sum(((p - s) ** 2).sum()
                               for p, s in zip(model.parameters(), start, strict=True))
                loss = loss + mu / 2 * proximal
            loss.backward()
            optimizer.step()
            total += loss.detach().double()
            batches += 1
        trained = get_parameters(trained_module)
        delta = (trained - parameters).astype(np.float32)
        if self.privacy is None and not np.isfinite(delta).all():
            raise ConfigError(
                f"participant {self.participant_id}: local training diverged in round "
                f"{round_number} (the model's parameters are no longer finite numbers): "
                f"lower learning_rate (now {config.learning_rate:g}), or look for features "
                f"with huge values (unscaled amounts) in this org's data")
        privatized = self.privacy.privatize(delta) if self.privacy is not None else None
        if privatized is None:
            norm = vector_norm(delta)
            clipped = False
            if config.max_update_norm is not None and norm > config.max_update_norm:
                delta *= config.max_update_norm / norm
                clipped = True
        else:
            delta, norm, clipped = privatized.delta, privatized.norm, privatized.clipped
        privacy_report: dict[str, Any] = {}
        train_loss = float(total) / max(batches, 1)
        if self.privacy is not None:
            privacy_report = self.privacy.after_round(round_number)
            # the training loss is computed from the training records themselves, not from
            # the private release, so the DP guarantee does not cover it: keep it in the org
            train_loss = float("nan")
        return Update(
            participant_id=self.participant_id, round=round_number, delta=delta,
            n_samples=self.n_samples, quality_multiplier=self.quality_multiplier, norm=norm,
            clipped=clipped, train_loss=train_loss, privacy=privacy_report,
        )

    def fit_local(self, rounds: int | None = None) -> np.ndarray:
        """Local-only baseline: this org's records alone, trained the way the federation trains
        (a federation of one): the same model, rounds, local epochs, update bound, server
        momentum and validation gate, and the same delivered model, the mean of the last
        rounds' models. A comparison with the federation then differs only in whose records
        take part. (Until 2026-11-26 this was plain SGD with early stopping on the validation
        AUC; without the server momentum the federated models had, it stopped short of what
        the org could learn alone: docs/federation.md.)

        Trains in epochs (``local_steps`` equalises orgs within a federation; one org has
        nothing to equalise) and without the privacy hook: the local model never leaves the
        org, and building it must not spend the privacy budget the federation's rounds are
        planned with.
        """
        # the coordinator imports this module, so it is imported here
        from fedcrm.federation.coordinator import Coordinator
        from fedcrm.federation.strategies import FedAvg

        if rounds is not None:
            rounds = check_rounds(rounds, f"participant {self.participant_id}: fit_local's "
                                          "rounds")
        # no proximal term: it pulls toward the global model, which alone is the org's own
        config = self.config.model_copy(update={
            "local_steps": None, "prox_mu": 0.0,
            "rounds": rounds if rounds is not None else self.config.rounds})
        alone = Participant(self.participant_id, self.data, config=config,
                            quality_multiplier=self.quality_multiplier,
                            model_factory=self.model_factory)
        return Coordinator([alone], FedAvg(), config).run(progress=False).averaged_parameters

    def new_model_seeded(self) -> nn.Module:
        """A fresh model initialised from the federation seed (same for every org)."""
        torch.manual_seed(self.config.seed)
        return self.new_model()
