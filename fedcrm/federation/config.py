"""Federated training configuration (one validated record shared by every backend)."""

from __future__ import annotations

import re
from numbers import Integral
from typing import Literal

from pydantic import ConfigDict, Field, PositiveInt, field_validator

from fedcrm._config import ConfigModel
from fedcrm.errors import ConfigError

#: the devices local training may run on: ``cpu``, ``cuda`` (the current GPU), ``cuda:N``, or
#: ``auto`` (CUDA when torch sees a GPU, else the CPU)
DEVICE_PATTERN = re.compile(r"cpu|cuda|cuda:(0|[1-9][0-9]{0,3})|auto")


class TrainingConfig(ConfigModel):
    """How participants train locally and how rounds run."""

    # infinity passes every lower bound (a learning rate of inf diverges in round 0): refuse
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    rounds: int = Field(default=20, ge=1)
    local_epochs: int = Field(default=2, ge=1)
    #: when set, every participant runs exactly this many SGD steps per round (cycling through
    #: its shuffled batches) instead of ``local_epochs`` passes. With epochs, a large org takes
    #: many more steps than a small one and FedAvg drifts to an optimum weighted by
    #: samples × steps instead of by samples (objective inconsistency: Wang et al. 2020,
    #: "Tackling the objective inconsistency problem in heterogeneous federated
    #: optimization"); equal steps remove that. Local-only and centralised baselines
    #: (``fit_local``) still train in epochs. Not with record-level DP, whose budget is planned
    #: in passes over the data.
    local_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=64, ge=1)
    learning_rate: float = Field(default=0.1, gt=0)
    #: plain SGD is FedAvg's local solver (McMahan et al. 2017); Adam restarted every round
    #: drifts on non-IID orgs (columns constant within one org get outsized steps)
    optimizer: Literal["adam", "sgd"] = "sgd"
    weight_decay: float = Field(default=1e-4, ge=0)
    #: participants sampled per round: a count, or None for all of them
    participants_per_round: int | None = Field(default=None, ge=1)
    #: alternatively a share of all participants per round (used when no count is given)
    participant_fraction: float = Field(default=1.0, gt=0, le=1)
    #: FedProx proximal term μ (0 = plain local training); Li et al. 2020, "Federated
    #: optimization in heterogeneous networks"
    prox_mu: float = Field(default=0.0, ge=0)
    #: server momentum β (FedAvgM: Hsu, Qi & Brown 2019, "Measuring the effects of
    #: non-identical data distribution for federated visual classification"): the global model
    #: moves by v ← β·v + aggregate each round; 0 = plain FedAvg. Averaging parallel local runs
    #: makes far less progress per round than training on pooled data; momentum recovers much
    #: of it. Applied by the coordinator to the aggregate only, so it works unchanged with
    #: encrypted aggregation and costs no privacy (post-processing).
    server_momentum: float = Field(default=0.0, ge=0, lt=1)
    #: the federation delivers the mean of the global models of the last α·rounds rounds
    #: (at least one): α-suffix averaging of the iterates (Rakhlin, Shamir & Sridharan 2012,
    #: "Making gradient descent optimal for strongly convex stochastic optimization"), which
    #: smooths out the round-to-round jitter that small orgs' noisy updates give the last
    #: model (docs/federation.md, "Which round's model"). 0 = the last round's model.
    #: Post-processing of models the coordinator holds anyway: no privacy cost, works with
    #: encrypted aggregation
    average_fraction: float = Field(default=1 / 3, ge=0, le=1)
    #: L2 bound on every update a participant sends (and, in plaintext mode, receives)
    max_update_norm: float | None = Field(default=5.0, gt=0)
    #: plaintext mode also bounds received updates to this multiple of the round's median
    #: update norm (needs 3+ updates; None turns it off)
    adaptive_clip_factor: float | None = Field(default=2.0, gt=0)
    #: a participant rejects a global model whose validation metric is worse than its last
    #: accepted one by more than this (absolute, on AUC)
    validation_tolerance: float = Field(default=0.02, ge=0)
    #: the tolerance grows to this many standard errors of the validation AUC, so a small
    #: org's noisy validation split does not reject every model (0 = fixed tolerance only)
    gate_z: float = Field(default=2.0, ge=0)
    #: roll the global model back when participants holding at least this share of the
    #: selected participants' training records reject it (counted by head in encrypted
    #: mode, where the coordinator knows no sample counts)
    rollback_share: float = Field(default=0.5, gt=0, le=1)
    model: Literal["logistic", "mlp"] = "logistic"
    hidden: tuple[PositiveInt, ...] = (32, 16)
    seed: int = Field(default=0, ge=0)
    #: where local training runs (``fedcrm.federation.models.resolve_device``). Each org
    #: chooses for itself, so it is not a setting the federation must agree on. Models and
    #: updates travel as float32 vectors either way; a seeded run repeats on the same device,
    #: but CPU and CUDA results differ in the last bits (their kernels sum in other orders).
    #: For the small models here the CPU is usually as fast: ``benchmarks/device.py``.
    device: str = "cpu"

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError(f"{value!r} is not a device for local training; use 'cpu', "
                             f"'cuda', 'cuda:N' or 'auto'")
        return value

    def averaged_rounds(self, rounds: int | None = None) -> int:
        """How many last rounds the delivered model averages (see ``average_fraction``)."""
        total = self.rounds if rounds is None else rounds
        return max(1, _round_half_up(self.average_fraction * total))

    def per_round(self, n_participants: int) -> int:
        """How many participants a round samples out of ``n_participants`` (a fraction is
        rounded half up: 0.5 of 5 orgs is 3)."""
        if self.participants_per_round is not None:
            return min(self.participants_per_round, n_participants)
        count = _round_half_up(self.participant_fraction * n_participants)
        return min(max(count, 1), n_participants)


#: the settings a participant trains and gates with: every participant and the coordinator of
#: one federation must agree on them (the coordinator builds the initial model and numbers
#: the rounds the participants seed their training from)
PARTICIPANT_SIDE = ("model", "hidden", "local_epochs", "local_steps", "batch_size",
                    "learning_rate", "optimizer", "weight_decay", "prox_mu", "max_update_norm",
                    "validation_tolerance", "gate_z", "seed")


def config_differences(coordinator: TrainingConfig, participant: TrainingConfig) -> list[str]:
    """``name: coordinator value, participant value`` for each participant-side setting in
    which the two configs differ."""
    return [f"{name} {getattr(coordinator, name)!r} ≠ {getattr(participant, name)!r}"
            for name in PARTICIPANT_SIDE
            if getattr(coordinator, name) != getattr(participant, name)]


def check_rounds(rounds: object, what: str = "rounds") -> int:
    """``rounds`` as a count of rounds (a whole number ≥ 1; not a bool), or a ConfigError."""
    if isinstance(rounds, bool) or not isinstance(rounds, Integral) or rounds < 1:
        raise ConfigError(f"{what} must be a whole number of rounds, at least 1; got {rounds!r}")
    return int(rounds)


def _round_half_up(value: float) -> int:
    # Python's round() rounds halves to even (round(2.5) == 2), which surprises in a count;
    # rounding to 9 decimals first undoes float error (0.58 * 25 is 14.499999999999998)
    return int(round(value, 9) + 0.5)
