"""Differential privacy in the federated trainer: the hooks that connect a participant's
privacy engine (:mod:`fedcrm.privacy`) to :meth:`Participant.train`.

Two modes; **smaller ε is stronger privacy** in both.

* **Record-level** (:func:`attach_record_level_dp`, :class:`RecordLevelHook`): each participant
  trains locally with DP-SGD (Abadi et al. 2016) through its own
  :class:`~fedcrm.privacy.RecordLevelDP` engine, with its own (ε, δ). The plan is made from
  the participant's number of training records, its batch size and local epochs and the
  federation's rounds; every round is exactly ``local_epochs`` passes over Opacus' Poisson
  loader, every step (empty batches included) is charged to the participant's accountant, and
  a round that would overspend is refused before any record is read
  (:class:`~fedcrm.privacy.BudgetExhausted`, which the coordinator turns into a drop-out).
* **Client-level** (:func:`attach_client_level_dp`, :class:`ClientLevelHook`, :class:`DPFedAvg`):
  DP-FedAvg with distributed noise (McMahan et al. 2018). Each participant clips its update to
  L2 norm C — the update's norm bound in this mode — and adds its share N(0, σ²C²/m) of the
  Gaussian noise before the update leaves; only the sum of at least m noisy updates carries the
  full noise N(0, σ²C²), so aggregate with :class:`DPFedAvg` (plaintext) or an encrypted sum.

Engines save their state after every round (``state_dir``), and attaching again with the same
``state_dir`` restores them, so a restarted federation continues with the same ε; a state file
that is behind the ledger (an older copy) is refused. Every event is one line of the shared
JSON-lines ledger (:func:`fedcrm.privacy.read_ledger`).

What the guarantee covers: the training split, given the split (drawing it is not private).
Validation metrics (gating, round log) and test metrics are computed on separate splits and
released without noise; sample counts and quality multipliers are enrolment data released
exactly. The training loss is withheld from the update under DP. See docs/privacy.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field, ValidationError, model_validator
from torch import nn
from torch.utils.data import DataLoader

from fedcrm._config import ConfigModel
from fedcrm.errors import (
    AggregationError,
    ConfigError,
    PrivacyBudgetExceeded,
    validation_problems,
)
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.models import vector_norm
from fedcrm.federation.participant import Participant, PrivatizedDelta, Update
from fedcrm.federation.strategies import Aggregate, RoundPlan, Strategy
from fedcrm.privacy.ledger import PrivacyLedger

if TYPE_CHECKING:
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

__all__ = [
    "ClientLevelHook",
    "ClientRelease",
    "DPFedAvg",
    "PrivacyBudget",
    "PrivacyConfig",
    "RecordLevelHook",
    "attach_client_level_dp",
    "attach_privacy",
    "attach_record_level_dp",
    "check_client_level_weighting",
]

#: relative tolerance when checking that a noisy update reached the aggregator unchanged
_RELEASED_NORM_TOLERANCE = 1e-4


# ---------------------------------------------------------------------------- configuration
class PrivacyBudget(ConfigModel):
    """One (ε, δ) budget for a participant's whole life in the federation.

    Accepts ``{"epsilon": 2.0, "delta": 1e-5}`` or the pair ``(2.0, 1e-5)``. Whether δ is small
    enough for the participant's data (δ < 1/n) is checked when the engine is planned.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    epsilon: float = Field(gt=0, description="target ε; smaller is stronger privacy")
    delta: float = Field(gt=0, lt=1, description="target δ, well below 1/n")

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, value: Any) -> Any:
        if isinstance(value, tuple | list):
            if len(value) != 2:
                raise ValueError(f"a budget is a pair (epsilon, delta), got {value!r}")
            return {"epsilon": value[0], "delta": value[1]}
        return value


BudgetLike = PrivacyBudget | tuple[float, float]
Budgets = BudgetLike | Mapping[str, BudgetLike]


class PrivacyConfig(ConfigModel):
    """How a federation uses differential privacy (a plain record for the federation config).

    ``budget`` applies to every participant without an entry in ``budgets``. Client-level mode
    needs one common budget (see :func:`attach_client_level_dp`). ``accountant`` defaults to
    ``"prv"`` (record level) or ``"rdp"`` (client level).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: Literal["record", "client"]
    budget: PrivacyBudget | None = None
    budgets: dict[str, PrivacyBudget] = Field(default_factory=dict)
    accountant: Literal["prv", "rdp", "pld"] | None = None
    #: record level: per-example gradient clipping bound C of DP-SGD
    max_grad_norm: float = Field(default=1.0, gt=0)
    #: client level: L2 bound C on each update (default: the training config's max_update_norm)
    clip_norm: float | None = Field(default=None, gt=0)
    #: client level: guaranteed minimum number of noisy updates in every released sum
    participants_in_sum: int | None = Field(default=None, ge=1)
    #: record level: Opacus' cryptographically secure RNG (needs torchcsprng)
    secure_mode: bool = False

    @model_validator(mode="after")
    def _check(self) -> PrivacyConfig:
        allowed = {"record": ("prv", "rdp"), "client": ("rdp", "pld")}[self.mode]
        if self.accountant is not None and self.accountant not in allowed:
            raise ValueError(f"{self.mode}-level DP accounts with one of {allowed}, "
                             f"got accountant={self.accountant!r}")
        if self.budget is None and not self.budgets:
            raise ValueError("give a budget for every participant (budget) or per participant "
                             "(budgets)")
        return self

    def budgets_for(self, participant_ids: Sequence[str]) -> dict[str, PrivacyBudget]:
        """Each participant's budget (its own entry, else the common one).

        Raises:
            ConfigError: a participant has no budget, or ``budgets`` names an unknown one.
        """
        common = dict.fromkeys(participant_ids, self.budget) if self.budget is not None else {}
        return _resolve_budgets(participant_ids, {**common, **self.budgets})


def _resolve_budgets(participant_ids: Sequence[str], budgets: Budgets) -> dict[str, PrivacyBudget]:
    if not isinstance(budgets, PrivacyBudget | tuple | list | Mapping):
        raise ConfigError(f"a privacy budget is an (epsilon, delta) pair, a PrivacyBudget, or a "
                          f"dict of them by participant id; got {budgets!r}")
    if isinstance(budgets, PrivacyBudget | tuple | list):
        common = _budget(budgets, "the privacy budget")
        return dict.fromkeys(participant_ids, common)
    missing = [pid for pid in participant_ids if pid not in budgets]
    unknown = sorted(set(budgets) - set(participant_ids))
    if missing or unknown:
        raise ConfigError(
            "privacy budgets must name exactly the federation's participants: "
            + (f"no budget for {missing}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"budgets for unknown participants {unknown}" if unknown else "")
            + f" (participants: {list(participant_ids)})")
    return {pid: _budget(budgets[pid], f"the privacy budget of {pid!r}")
            for pid in participant_ids}


def _budget(value: object, what: str) -> PrivacyBudget:
    """``value`` (a PrivacyBudget, an (epsilon, delta) pair or a dict) as a PrivacyBudget;
    ConfigError naming ``what`` when it is not one."""
    try:
        return PrivacyBudget.model_validate(value)
    except ValidationError as exc:
        raise ConfigError(f"{what} {value!r} is not an (epsilon, delta) budget: "
                          f"{validation_problems(exc)}") from exc


def _state_file(state_dir: Path, participant_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", participant_id)
    if safe != participant_id:  # keep two ids that sanitise alike apart
        safe += f"-{zlib.crc32(participant_id.encode()):08x}"
    return state_dir / f"{safe}.privacy-state.json"


def _round_seed(seed: int, participant_id: str, round_number: int, release: int,
                stream: str = "") -> int:
    """The 64-bit seed of one round's DP generator, derived from the secret ``seed``.

    HMAC-SHA256 keyed with the seed (a pseudorandom function) over the participant, the round
    and the release count, truncated to the 64 bits ``torch.Generator.manual_seed`` takes.
    Someone who knows the other fields but not the seed cannot tell which generator was used
    without searching the seed, and the seeds of different rounds and participants are
    unrelated. (A checksum such as CRC-32 would fold every seed into 2³² generators.)
    A non-empty ``stream`` names a second, independent generator of the same round (the
    noise drawn on a GPU).
    """
    fields: list[object] = [participant_id, round_number, release]
    if stream:
        fields.append(stream)
    message = json.dumps(fields).encode("utf-8")
    digest = hmac.new(str(seed).encode("ascii"), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def _round_generator(seed: int | None, participant_id: str, round_number: int,
                     release: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator on ``device`` for one round's DP randomness (sampling and noise).

    Without a seed it is seeded from OS entropy: the federation's training seed is known to
    the coordinator, and noise it could regenerate would protect nothing. A seed makes
    experiments reproducible (also across a restart) and must stay secret in production
    (:func:`_round_seed`); ``release`` (the engine's count of recorded rounds) keeps a
    retrained round number from reusing a noise draw.
    """
    generator = torch.Generator(device=device)
    if seed is None:
        return generator.manual_seed(secrets.randbits(63))
    # the CPU generator keeps the seeds of runs made before GPUs were supported; a GPU stream
    # is named by the kind of device, not its index, so a seeded run repeats on another GPU
    kind = torch.device(device).type
    stream = "" if kind == "cpu" else f"noise on {kind}"
    return generator.manual_seed(_round_seed(seed, participant_id, round_number, release,
                                             stream))


# ---------------------------------------------------------------------------- record level
class RecordLevelHook:
    """Drives one participant's :class:`~fedcrm.privacy.RecordLevelDP` from the trainer.

    Implements :class:`~fedcrm.federation.participant.PrivacyHook`. Per round: refuse a round
    the budget cannot afford or whose settings differ from the plan; hand Opacus a loader with
    the plan's batch size and this round's generator (Poisson sampling, per-example clipping,
    noise); after training record the round (one ledger line) and save the engine's state.

    Args:
        engine: the participant's engine (planned with ``from_budget`` or restored).
        state_path: where to save the engine's state after every round (``None``: don't).
        seed: seeds the DP randomness per round for reproducible experiments; ``None`` (the
            default) draws it from OS entropy. Ignored with the plan's ``secure_mode``.
    """

    mode = "record"

    def __init__(self, engine: RecordLevelDP, *, state_path: str | Path | None = None,
                 seed: int | None = None) -> None:
        self.engine = engine
        self.state_path = Path(state_path) if state_path is not None else None
        self.seed = seed
        self._round_number: int | None = None

    @property
    def participant_id(self) -> str:
        """The participant whose budget the engine owns."""
        return self.engine.participant_id

    def before_round(self, participant_id: str, round_number: int, *, local_epochs: int,
                     prox_mu: float, local_steps: int | None = None) -> None:
        """Refuse a round that does not match the plan or that the budget cannot afford."""
        plan = self.engine.plan
        who = f"participant {participant_id!r}"
        if participant_id != plan.participant_id:
            raise ConfigError(f"{who} was given the privacy engine of participant "
                              f"{plan.participant_id!r}; attach one engine per participant")
        if local_steps is not None:
            raise ConfigError(
                f"{who}: record-level DP plans its budget in passes over the Poisson loader; "
                f"train with local_epochs (local_steps={local_steps} is set)")
        if local_epochs != plan.local_epochs:
            raise ConfigError(
                f"{who}: round {round_number} asks for {local_epochs} local epoch(s) but the "
                f"privacy budget was planned for {plan.local_epochs} pass(es) over the Poisson "
                f"loader per round; plan the budget with the federation's local_epochs")
        if prox_mu > 0:
            # Opacus' DP optimizer replaces each gradient by the noisy sum of clipped
            # per-example gradients, so a proximal term's gradient would be silently dropped.
            raise ConfigError(
                f"{who}: FedProx's proximal term (mu={prox_mu:g}) cannot be trained with "
                f"record-level DP-SGD; use FedAvg or QualityWeighted, or client-level DP")
        if self.engine.round_open:
            # a previous round raised mid-training: its steps stay charged; close it
            self.engine.record_round()
        try:
            self.engine.check_next_round()
        except PrivacyBudgetExceeded:
            self._save()  # the exhausted flag must survive a restart too
            raise
        self._round_number = round_number

    def wrap(self, model: nn.Module, optimizer: torch.optim.Optimizer,
             loader: DataLoader) -> tuple[nn.Module, torch.optim.Optimizer, DataLoader]:
        """Opacus' private module, optimizer and Poisson loader over the loader's dataset."""
        if self._round_number is None:
            raise ConfigError(f"participant {self.participant_id!r}: before_round() was not "
                              "called for this round")
        plan = self.engine.plan
        generator = noise_generator = None
        if not plan.secure_mode:
            generator = _round_generator(self.seed, plan.participant_id, self._round_number,
                                         self.engine.rounds_completed)
            noise_generator = generator
            device = next(model.parameters()).device
            if device.type != "cpu":
                # Opacus draws the noise on the parameters' device, which needs a generator
                # there (seeded apart from the sampler's); the Poisson sampler draws on the CPU
                noise_generator = _round_generator(self.seed, plan.participant_id,
                                                   self._round_number,
                                                   self.engine.rounds_completed, device)
        # Opacus' Poisson loader takes its generator from the loader it replaces; the trainer's
        # own loader is seeded from the federation's (shared) seed, so rebuild it with ours.
        source = DataLoader(loader.dataset, batch_size=loader.batch_size,
                            drop_last=loader.drop_last, generator=generator)
        module, private_optimizer, private_loader = self.engine.wrap(
            model, optimizer, source, noise_generator=noise_generator)
        return module, private_optimizer, private_loader

    def privatize(self, delta: np.ndarray) -> PrivatizedDelta | None:
        """Nothing to add: DP-SGD made the training private; the trainer's norm bound is
        post-processing."""
        return None

    def after_round(self, round_number: int) -> dict[str, Any]:
        """Record the round (ledger line), save the state, report the spend."""
        spend = self.engine.record_round()
        self._round_number = None
        self._save()
        plan = self.engine.plan
        return {
            "mode": "record", "accountant": plan.accountant,
            "epsilon_spent": spend.epsilon_spent, "epsilon_remaining": spend.epsilon_remaining,
            "epsilon_target": plan.epsilon, "delta": plan.delta,
            "steps": spend.steps, "steps_planned": plan.steps_per_round,
            "rounds_completed": self.engine.rounds_completed,
            "noise_multiplier": plan.noise_multiplier, "max_grad_norm": plan.max_grad_norm,
            "sample_rate": plan.sample_rate,
        }

    def _save(self) -> None:
        if self.state_path is not None:
            self.engine.save(self.state_path)

    def __repr__(self) -> str:
        return f"RecordLevelHook({self.engine!r})"


#: what a record-level spend report may tell the coordinator in encrypted mode, where an
#: org's weight (its sample count under FedAvg) is secret. Not the steps, sample rate or σ,
#: and not the ε spent either: σ is calibrated to reach the target at the last round, so how
#: fast ε grows gives away the steps per round, ⌈n/B⌉ (a review: ε after round 1 was 0.985,
#: 0.991 and 0.999 for 640, 704 and 768 records). The ε account stays with the org's ledger.
_SEALED_RECORD_FIELDS = ("mode", "accountant", "rounds_completed")


#: why an encrypted participant stopped, as the coordinator may read it: the budget message's
#: ε figures would give away its steps per round, ⌈n/B⌉, as the spend report would (a review
#: recovered every org's from the round log); they stay in the org's own ledger
SEALED_BUDGET_REASON = ("its privacy budget is spent (the figures stay in its own privacy "
                        "ledger)")


def sealed_privacy_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """What an encrypted update may tell the coordinator about its privacy spend: that it
    trained under record-level DP, not figures that follow from how many records it has."""
    if report.get("mode") != "record":
        return dict(report)  # client-level fields are the same for every org
    return {key: report[key] for key in _SEALED_RECORD_FIELDS if key in report}


def _refuse_spent_hook(participant: Participant) -> None:
    """A participant whose attached engine has already spent must not get a fresh one: the
    new engine would start its accounting at ε = 0 for the same records."""
    engine = getattr(participant.privacy, "engine", None)
    spent = getattr(engine, "rounds_completed", 0)
    if engine is not None and spent:
        raise ConfigError(
            f"participant {participant.participant_id!r} already carries a DP engine that has "
            f"spent ε = {engine.get_epsilon():.4g} over {spent} round(s) on these records; a "
            "new engine would count from ε = 0. Keep training with the attached hooks, or pass "
            "the state_dir they were saved to (the accounting then continues)")


def attach_record_level_dp(
    participants: Sequence[Participant],
    budgets: Budgets,
    config: TrainingConfig | None = None,
    ledger_path: str | Path | None = None,
    *,
    accountant: Literal["prv", "rdp"] = "prv",
    max_grad_norm: float = 1.0,
    state_dir: str | Path | None = None,
    seed: int | None = None,
    secure_mode: bool = False,
) -> dict[str, RecordLevelHook]:
    """Give every participant its own DP-SGD engine and attach it as its privacy hook.

    Each engine is planned (σ calibrated) for the participant's training records, its
    config's batch size and local epochs, and ``config.rounds`` rounds. With ``state_dir``,
    a participant whose state file exists there is restored instead (a restart), and every
    engine saves its state there after each round.

    Args:
        participants: the federation's participants (their ``privacy`` is set).
        budgets: one ``(ε, δ)`` for everyone, or ``{participant_id: (ε, δ)}`` for each.
        config: the federation's training config (rounds); default: each participant's own.
        ledger_path: the JSON-lines ledger all engines append to (``None``: in memory).
        accountant: ``"prv"`` (default, tighter) or ``"rdp"``.
        max_grad_norm: DP-SGD's per-example clipping bound C.
        state_dir: folder for the engines' saved state (restart support).
        seed: seeds the DP randomness (experiments only); default OS entropy.
        secure_mode: Opacus' secure RNG (production; needs torchcsprng).

    Returns:
        The hooks by participant id (``hooks[pid].engine`` is the engine).

    Raises:
        ConfigError: a budget is missing or invalid, or a restored state has another budget.
        LedgerError: the ledger already has spending for a participant without saved state,
            or a saved state is behind the ledger (an older copy or an edited file).
    """
    from fedcrm.privacy.record_level import RecordLevelDP

    ids = [p.participant_id for p in participants]
    resolved = _resolve_budgets(ids, budgets)
    ledger = PrivacyLedger(ledger_path)
    directory = Path(state_dir) if state_dir is not None else None
    hooks: dict[str, RecordLevelHook] = {}
    for participant in participants:
        pid, budget = participant.participant_id, resolved[participant.participant_id]
        training = participant.config
        if training.local_steps is not None:
            raise ConfigError(f"participant {pid!r}: record-level DP plans its budget in passes "
                              f"over the data; set local_steps=None and use local_epochs")
        rounds = (config or training).rounds
        state_path = _state_file(directory, pid) if directory is not None else None
        if state_path is not None and state_path.exists():
            engine = RecordLevelDP.load(state_path, ledger=ledger)
            _check_restored(pid, engine.plan.epsilon, engine.plan.delta, engine.plan.accountant,
                            budget, accountant, state_path)
        else:
            _refuse_spent_hook(participant)
            engine = RecordLevelDP.from_budget(
                pid, epsilon=budget.epsilon, delta=budget.delta, n_samples=participant.n_samples,
                batch_size=min(training.batch_size, participant.n_samples), rounds=rounds,
                local_epochs=training.local_epochs, max_grad_norm=max_grad_norm,
                accountant=accountant, secure_mode=secure_mode, ledger=ledger)
        hook = RecordLevelHook(engine, state_path=state_path, seed=seed)
        hook._save()
        participant.privacy = hook
        hooks[pid] = hook
    return hooks


def _check_restored(pid: str, epsilon: float, delta: float, accountant: str,
                    budget: PrivacyBudget, requested_accountant: str, path: Path) -> None:
    if (epsilon, delta, accountant) != (budget.epsilon, budget.delta, requested_accountant):
        raise ConfigError(
            f"participant {pid!r}: the saved privacy state {path} has budget ε={epsilon:g}, "
            f"δ={delta:g} ({accountant} accountant) but the configuration asks for "
            f"ε={budget.epsilon:g}, δ={budget.delta:g} ({requested_accountant}); a budget cannot "
            f"change mid-federation. Restore with the original budget, or plan a new one with "
            f"the data owner in a new ledger and state folder")


# ---------------------------------------------------------------------------- client level
@dataclass(frozen=True)
class ClientRelease:
    """What one client-level round did to the update; stays inside the participant (the raw
    norm and whether it was clipped are functions of the data the noise does not cover)."""

    round_number: int
    norm_before_clipping: float
    clipped: bool
    clip_norm: float
    noise_std: float


class ClientLevelHook:
    """Drives one participant's :class:`~fedcrm.privacy.ClientLevelDP` from the trainer.

    Implements :class:`~fedcrm.federation.participant.PrivacyHook`. Local training is plain;
    before the round the engine checks the budget and charges the round; the trained delta is
    clipped to the engine's C (this mode's norm bound, replacing ``max_update_norm``) and gets
    the participant's noise share N(0, σ²C²/m). The update reports the released delta's norm,
    and ``clipped=False``: the raw norm stays in :attr:`last_release`.

    Args:
        engine: the participant's engine.
        state_path: where to save the engine's state after every round.
        seed: seeds the noise per round (experiments only); default OS entropy.
    """

    mode = "client"

    def __init__(self, engine: ClientLevelDP, *, state_path: str | Path | None = None,
                 seed: int | None = None) -> None:
        self.engine = engine
        self.state_path = Path(state_path) if state_path is not None else None
        self.seed = seed
        #: the last round's clipping, for the participant's own diagnostics (never sent)
        self.last_release: ClientRelease | None = None
        self._round_number: int | None = None

    @property
    def participant_id(self) -> str:
        """The participant whose budget the engine owns."""
        return self.engine.participant_id

    def before_round(self, participant_id: str, round_number: int, *, local_epochs: int,
                     prox_mu: float, local_steps: int | None = None) -> None:
        """Check the round is affordable and charge it, before anything is trained (client-level
        DP noises the whole update, so epochs or steps make no difference to it)."""
        if participant_id != self.engine.participant_id:
            raise ConfigError(f"participant {participant_id!r} was given the privacy engine of "
                              f"participant {self.engine.participant_id!r}; attach one engine "
                              "per participant")
        if self.engine.round_open:
            # a previous round raised after it was charged: it stays charged; close it
            self.engine.record_round()
        try:
            self.engine.begin_round()
        except PrivacyBudgetExceeded:
            self._save()
            raise
        self._round_number = round_number

    def wrap(self, model: nn.Module, optimizer: torch.optim.Optimizer,
             loader: DataLoader) -> tuple[nn.Module, torch.optim.Optimizer, DataLoader]:
        """Local training is not changed in client-level mode."""
        return model, optimizer, loader

    def privatize(self, delta: np.ndarray) -> PrivatizedDelta:
        """Clip to C and add this participant's noise share (McMahan et al. 2018, Alg. 1)."""
        if self._round_number is None:
            raise ConfigError(f"participant {self.participant_id!r}: before_round() was not "
                              "called for this round")
        generator = _round_generator(self.seed, self.participant_id, self._round_number,
                                     self.engine.rounds_completed)
        result = self.engine.privatize_update(np.asarray(delta, dtype=np.float32),
                                              generator=generator)
        noisy = np.asarray(result.update, dtype=np.float32)
        self.last_release = ClientRelease(
            round_number=self._round_number, norm_before_clipping=result.norm_before_clipping,
            clipped=result.clipped, clip_norm=result.clip_norm, noise_std=result.noise_std)
        return PrivatizedDelta(delta=noisy, norm=vector_norm(noisy), clipped=False)

    def after_round(self, round_number: int) -> dict[str, Any]:
        """Record the round (ledger line), save the state, report the spend."""
        spend = self.engine.record_round()
        self._round_number = None
        self._save()
        plan = self.engine.plan
        return {
            "mode": "client", "accountant": plan.accountant,
            "epsilon_spent": spend.epsilon_spent, "epsilon_remaining": spend.epsilon_remaining,
            "epsilon_target": plan.epsilon, "delta": plan.delta,
            "rounds_completed": self.engine.rounds_completed,
            "noise_multiplier": plan.noise_multiplier, "clip_norm": plan.clip_norm,
            "noise_std": plan.noise_std_per_participant,
            "participants_in_sum": plan.participants_in_sum,
        }

    def _save(self) -> None:
        if self.state_path is not None:
            self.engine.save(self.state_path)

    def __repr__(self) -> str:
        return f"ClientLevelHook({self.engine!r})"


def attach_client_level_dp(
    participants: Sequence[Participant],
    budget: Budgets,
    config: TrainingConfig | None = None,
    ledger_path: str | Path | None = None,
    *,
    accountant: Literal["rdp", "pld"] = "rdp",
    clip_norm: float | None = None,
    participants_in_sum: int | None = None,
    state_dir: str | Path | None = None,
    seed: int | None = None,
) -> dict[str, ClientLevelHook]:
    """Give every participant a client-level DP engine (clip + noise share) as its hook.

    The noise that protects a participant is the noise of the whole released sum, which every
    participant in it shares, so all participants plan with **one** budget (a per-participant
    mapping is accepted only if its values agree; use record-level DP for per-org budgets).
    Participants are chosen by the coordinator (a fixed number per round), not by Poisson
    sampling, so rounds are accounted without sampling amplification (q = 1), and only the
    rounds a participant trains in are charged.

    Aggregate with ``DPFedAvg(participants_in_sum=m, expected_participants=k)`` and
    ``Coordinator(..., server_side_clipping=False)``: weighted means and rescaling of
    individual noisy updates are not covered by the accounting.

    Args:
        participants: the federation's participants (their ``privacy`` is set).
        budget: ``(ε, δ)`` for the federation; δ < 1/number of participants.
        config: the federation's training config; default: the first participant's.
        ledger_path: the JSON-lines ledger all engines append to (``None``: in memory).
        accountant: ``"rdp"`` (default) or ``"pld"`` (dp-accounting).
        clip_norm: C, the L2 bound on each update; default ``config.max_update_norm``.
        participants_in_sum: m, the fewest noisy updates in any released sum; default the
            number of participants per round. Lower it to tolerate rejections and drop-outs
            (each participant then adds more noise).
        state_dir: folder for the engines' saved state (restart support).
        seed: seeds the noise (experiments only); default OS entropy.

    Raises:
        ConfigError: differing budgets, no clip bound, or m larger than a round's participants.
        LedgerError: the ledger already has spending for a participant without saved state,
            or a saved state is behind the ledger (an older copy or an edited file).
    """
    from fedcrm.privacy.client_level import ClientLevelDP

    if not participants:
        raise ConfigError("a federation needs at least one participant")
    config = config or participants[0].config
    ids = [p.participant_id for p in participants]
    resolved = _resolve_budgets(ids, budget)
    distinct = sorted({(b.epsilon, b.delta) for b in resolved.values()})
    if len(distinct) != 1:
        raise ConfigError(
            f"client-level DP needs one budget for the whole federation, got {distinct}: the "
            f"noise protecting each participant is the noise in the shared sum, so a stricter "
            f"budget for one participant is not met unless everyone adds its noise. Use one "
            f"(ε, δ) (the strictest), or record-level DP for per-participant budgets")
    common = resolved[ids[0]]
    bound = clip_norm if clip_norm is not None else config.max_update_norm
    if bound is None:
        raise ConfigError("client-level DP needs a clip bound C: pass clip_norm or set the "
                          "training config's max_update_norm")
    per_round = config.per_round(len(participants))
    in_sum = participants_in_sum if participants_in_sum is not None else per_round
    if in_sum > per_round:
        raise ConfigError(
            f"participants_in_sum={in_sum} exceeds the {per_round} participant(s) a round "
            f"selects; every released sum must hold at least participants_in_sum noisy updates")
    ledger = PrivacyLedger(ledger_path)
    directory = Path(state_dir) if state_dir is not None else None
    hooks: dict[str, ClientLevelHook] = {}
    for participant in participants:
        pid = participant.participant_id
        state_path = _state_file(directory, pid) if directory is not None else None
        if state_path is not None and state_path.exists():
            engine = ClientLevelDP.load(state_path, ledger=ledger)
            _check_restored(pid, engine.plan.epsilon, engine.plan.delta, engine.plan.accountant,
                            common, accountant, state_path)
        else:
            _refuse_spent_hook(participant)
            engine = ClientLevelDP.from_budget(
                pid, epsilon=common.epsilon, delta=common.delta, rounds=config.rounds,
                total_participants=len(participants), participants_in_sum=in_sum,
                clip_norm=bound, sample_rate=1.0, accountant=accountant, ledger=ledger)
        hook = ClientLevelHook(engine, state_path=state_path, seed=seed)
        hook._save()
        participant.privacy = hook
        hooks[pid] = hook
    return hooks


class DPFedAvg(Strategy):
    """Client-level DP aggregation: the sum of the noisy updates over a fixed denominator.

    DP-FedAvg (McMahan et al. 2018, Alg. 1): every participant's clipped update counts the
    same, the sum carries the noise shares of at least ``participants_in_sum`` participants,
    and it is divided by a fixed ``expected_participants`` (not by the number received, which
    would reveal who took part). Participant selection is delegated to ``selection`` (default:
    the base strategy's fixed-size sample). Plaintext version of what an encrypted sum does.

    A round with fewer than ``participants_in_sum`` updates (participants rejected the global
    model or dropped out) is not released: the step is zero, no update gets a weight, and a
    :class:`UserWarning` says so — the plaintext equivalent of refusing to decrypt a sum with
    too little noise. Updates that were changed after they were noised (server-side clipping)
    raise :class:`~fedcrm.AggregationError`: construct the coordinator with
    ``server_side_clipping=False``.

    Attributes:
        withheld_rounds: how many rounds' sums were not released (too few updates).
    """

    name = "dp_fedavg"

    def __init__(self, participants_in_sum: int, expected_participants: int | None = None,
                 selection: Strategy | None = None) -> None:
        if participants_in_sum < 1:
            raise ConfigError(f"participants_in_sum must be ≥ 1, got {participants_in_sum}")
        expected = expected_participants or participants_in_sum
        if expected < participants_in_sum:
            raise ConfigError(f"expected_participants={expected} is below "
                              f"participants_in_sum={participants_in_sum}")
        self.participants_in_sum = participants_in_sum
        self.expected_participants = expected
        self.selection = selection
        self.withheld_rounds = 0

    def configure_round(self, round_number: int, participant_ids: Sequence[str],
                        per_round: int, rng: np.random.Generator) -> RoundPlan:
        """The selection strategy's plan (who trains, with which proximal term)."""
        if self.selection is not None:
            return self.selection.configure_round(round_number, participant_ids, per_round, rng)
        return super().configure_round(round_number, participant_ids, per_round, rng)

    def aggregate(self, updates: Sequence[Update]) -> Aggregate:
        """Σ noisy updates / expected_participants, after checking the sum is private."""
        ids = [u.participant_id for u in updates]
        if not updates:
            raise AggregationError("no updates to aggregate this round")
        shapes = {u.delta.shape for u in updates}
        if len(shapes) != 1:
            raise AggregationError(f"updates have different shapes {sorted(shapes)}; "
                                   "participants must share one feature space and model")
        for update in updates:
            if update.privacy.get("mode") != "client":
                raise AggregationError(
                    f"the update from {update.participant_id!r} was not privatized with "
                    f"client-level DP; attach_client_level_dp() to every participant")
            # a ClientLevelHook reports the released delta's own norm and clipped=False, so a
            # mismatch means the delta was rescaled after its noise was added
            norm = vector_norm(update.delta)
            if update.clipped or not math.isclose(norm, update.norm,
                                                  rel_tol=_RELEASED_NORM_TOLERANCE, abs_tol=1e-6):
                raise AggregationError(
                    f"the update from {update.participant_id!r} has norm {norm:.6g} but was "
                    f"released with norm {update.norm:.6g}: it was rescaled after its noise was "
                    f"added (server-side clipping?), which the DP accounting does not cover. "
                    f"Construct the Coordinator with server_side_clipping=False")
        # the engines' own plan counts too: their noise shares assume sums of that many
        needed = max(self.participants_in_sum,
                     *(int(u.privacy.get("participants_in_sum") or 1) for u in updates))
        if len(updates) < needed:
            self.withheld_rounds += 1
            warnings.warn(
                f"only {len(updates)} noisy update(s) this round ({ids}); client-level DP was "
                f"planned for sums of at least {needed}, and a smaller sum "
                f"carries too little noise, so it is not released (the global model stays). "
                f"Plan with a lower participants_in_sum to tolerate rejections and drop-outs, "
                f"or raise the validation tolerance", UserWarning, stacklevel=2)
            return Aggregate(step=np.zeros_like(updates[0].delta, dtype=np.float32),
                             weights={}, info={"withheld": True, "updates": len(updates)})
        total = np.sum(np.stack([u.delta for u in updates]).astype(np.float64), axis=0)
        share = 1.0 / self.expected_participants
        return Aggregate(step=(total * share).astype(np.float32),
                         weights=dict.fromkeys(ids, share),
                         info={"participants_in_sum": self.participants_in_sum})


def check_client_level_weighting(strategy: Strategy, privacy: Mapping[str, Any], *,
                                 encrypted: bool) -> None:
    """Refuse an aggregation that client-level DP's accounting does not cover.

    ``privacy`` maps participant ids to their privacy hook or their round report (anything
    with a ``mode``; ``None`` for none). The noise of client-level DP covers an update that
    counts like every other one (McMahan et al. 2018, DP-FedAvg): a weighted mean scales the
    heaviest org's update above its noise, so its real ε would exceed what its ledger records.
    Plaintext rounds need :class:`DPFedAvg` (whose ``participants_in_sum`` is at least what
    the participants planned their noise for); encrypted rounds need equal weights
    (``Strategy()``: the decrypted mean divides the sum by the number of contributors).
    """
    planned: dict[str, int] = {}
    sum_noise: dict[str, float] = {}  # σ·C: the std of the sum's noise each org's account assumes
    for pid, item in privacy.items():
        if isinstance(item, Mapping):
            mode, in_sum = item.get("mode"), item.get("participants_in_sum")
            multiplier, clip = item.get("noise_multiplier"), item.get("clip_norm")
        else:
            mode = getattr(item, "mode", None)
            plan = getattr(getattr(item, "engine", None), "plan", None)
            in_sum = getattr(plan, "participants_in_sum", None)
            multiplier = getattr(plan, "noise_multiplier", None)
            clip = getattr(plan, "clip_norm", None)
        if mode == "client":
            planned[pid] = int(in_sum or 1)
            if multiplier is not None and clip is not None:
                sum_noise[pid] = float(multiplier) * float(clip)
    if not planned:
        return
    noisy = sorted(planned)
    if sum_noise and max(sum_noise.values()) > min(sum_noise.values()) * (1 + 1e-9):
        # each org adds σ·C/√m; an org planned with a smaller σ·C (one that joined at a
        # restart with fewer rounds planned) puts less noise into every sum it is in than the
        # others' ledgers assume (a review: std 4.45 where 5.32 was assumed; ε 5.07, not 4.0)
        listed = ", ".join(f"{pid} {value:.4g}" for pid, value in sorted(sum_noise.items()))
        raise ConfigError(
            f"participants planned different client-level DP noise (σ·C: {listed}); a sum "
            "holding the smaller shares carries less noise than the others' privacy accounts "
            "assume. Plan every participant of a federation alike (the same rounds, ε, δ, "
            "clip bound and participants_in_sum), also one that joins later")
    if encrypted:
        if type(strategy).weight is Strategy.weight:
            return
        fix = ("use Strategy() (equal weights: the decrypted mean divides the sum by the "
               "number of contributors)")
    elif isinstance(strategy, DPFedAvg):
        needed = max(planned.values())
        if strategy.participants_in_sum >= needed:
            return
        raise ConfigError(
            f"DPFedAvg(participants_in_sum={strategy.participants_in_sum}) would release sums "
            f"of fewer updates than participants {noisy} planned their client-level DP noise "
            f"for ({needed}); a smaller sum carries too little noise: use "
            f"DPFedAvg(participants_in_sum={needed}, ...)")
    else:
        fix = ("use DPFedAvg(participants_in_sum=m, expected_participants=k) with "
               "server_side_clipping=False")
    raise ConfigError(
        f"participants {noisy} add client-level DP noise, which covers updates that all count "
        f"the same; strategy {strategy.name!r} weights them unequally, so the heaviest org's "
        f"update would outweigh its noise and its real ε would exceed what its ledger records: "
        f"{fix}")


# ---------------------------------------------------------------------------- from a config
def attach_privacy(
    participants: Sequence[Participant],
    privacy: PrivacyConfig,
    config: TrainingConfig | None = None,
    ledger_path: str | Path | None = None,
    *,
    state_dir: str | Path | None = None,
    seed: int | None = None,
) -> dict[str, RecordLevelHook] | dict[str, ClientLevelHook]:
    """Attach the engines a :class:`PrivacyConfig` describes (see the two ``attach_*``)."""
    budgets = privacy.budgets_for([p.participant_id for p in participants])
    if privacy.mode == "record":
        return attach_record_level_dp(
            participants, budgets, config, ledger_path,
            accountant="rdp" if privacy.accountant == "rdp" else "prv",
            max_grad_norm=privacy.max_grad_norm, state_dir=state_dir, seed=seed,
            secure_mode=privacy.secure_mode)
    return attach_client_level_dp(
        participants, budgets, config, ledger_path,
        accountant="pld" if privacy.accountant == "pld" else "rdp",
        clip_norm=privacy.clip_norm, participants_in_sum=privacy.participants_in_sum,
        state_dir=state_dir, seed=seed)
