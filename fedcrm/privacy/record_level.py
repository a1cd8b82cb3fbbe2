"""Record-level DP for a participant's local training: Opacus DP-SGD with a persistent budget.

DP-SGD (Abadi et al. 2016, "Deep learning with differential privacy") clips every example's
gradient to L2 norm C, adds Gaussian noise N(0, σ²C²) to the sum, and samples each batch by
Poisson sampling with rate q. Opacus does all three; this module decides σ from the
participant's (ε, δ) budget and the planned rounds × local epochs, and keeps the accountant.

Why the engine keeps its own accountant: ``PrivacyEngine.make_private`` is called on a fresh
model every round (the trainer loads the new global weights), and a new ``PrivacyEngine``
starts a new, empty accountant. :class:`RecordLevelDP` instead owns one Opacus accountant for
the participant's whole life — across rounds and, through :meth:`RecordLevelDP.save` /
:meth:`RecordLevelDP.load`, across process restarts — and hooks it into each round's
``DPOptimizer`` in place of the throwaway engine's.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from typing import NamedTuple

import torch
from opacus import PrivacyEngine
from opacus.accountants import IAccountant
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn
from torch.utils.data import DataLoader

from fedcrm.errors import ConfigError
from fedcrm.privacy._engine import (
    BudgetedEngine,
    LedgerLike,
    as_ledger,
    check_participant_id,
    ensure_new_participant,
    write_state_atomically,
)
from fedcrm.privacy.accountants import (
    RECORD_LEVEL_ACCOUNTANTS,
    calibrate_record_noise_multiplier,
    make_record_accountant,
    record_level_epsilon,
    total_steps,
)
from fedcrm.privacy.budget import (
    LedgerError,
    RoundStepLimitExceeded,
    is_positive_integer,
    is_positive_number,
    validate_budget,
)
from fedcrm.privacy.ledger import LedgerEvent, utc_now
from fedcrm.privacy.models import RecordLevelPlan, RecordLevelState, RoundSpend, _AccountantHistory
from fedcrm.privacy.state import read_state

__all__ = ["PrivateTraining", "RecordLevelDP", "opacus_loader_length"]


class PrivateTraining(NamedTuple):
    """What :meth:`RecordLevelDP.wrap` returns; unpacks as ``module, optimizer, loader``."""

    #: the model wrapped to compute per-example gradients (trains the module you passed in)
    module: GradSampleModule
    #: clips per-example gradients, adds noise, charges the participant's accountant
    optimizer: DPOptimizer
    #: Poisson-sampled loader over the same dataset (batch sizes vary, some may be empty)
    data_loader: DataLoader


def opacus_loader_length(n_samples: int, batch_size: int, drop_last: bool = False) -> int:
    """Batches per pass of a ``DataLoader`` — Opacus derives its sample rate from this."""
    return n_samples // batch_size if drop_last else math.ceil(n_samples / batch_size)


def _ignore_full_backward_hook_warning() -> None:
    # Opacus computes per-example gradients with full backward hooks. On the first layer the
    # input is data, which never requires grad, so torch warns "Full backward hook is firing
    # when gradients are computed with respect to module outputs since no inputs require
    # gradients" on every backward pass. That is the expected situation for DP-SGD, not a
    # problem, and printing it costs more than the training step on small models, so we ignore
    # exactly this message (idempotent: warnings de-duplicates identical filters).
    warnings.filterwarnings(
        "ignore",
        message=r"Full backward hook is firing when gradients are computed with respect to "
        r"module outputs since no inputs require gradients",
        category=UserWarning,
    )


class RecordLevelDP(BudgetedEngine):
    """One participant's DP-SGD privacy engine: plan, accountant, ledger, budget checks.

    Create it with :meth:`from_budget` (which calibrates σ) or :meth:`load`. Per round, the
    trainer calls :meth:`wrap` (which first checks the round is affordable), trains
    ``local_epochs`` passes over the returned loader, and calls :meth:`record_round`.

    Attributes:
        plan: the :class:`RecordLevelPlan` (budget, σ, sample rate, steps per round, …).
        ledger: the :class:`~fedcrm.privacy.PrivacyLedger` this engine appends to.
        rounds_completed: rounds recorded so far.
        exhausted: set once a budget check failed; the participant stays out from then on.
    """

    plan: RecordLevelPlan

    def __init__(
        self,
        plan: RecordLevelPlan,
        *,
        ledger: LedgerLike = None,
        accountant_history: list[tuple[float, float, int]] | None = None,
    ) -> None:
        super().__init__(plan, ledger)
        self._accountant = make_record_accountant(plan.accountant)
        if accountant_history:
            # Opacus' own state format: {"history": [(σ, q, steps), …], "mechanism": name}
            self._accountant.load_state_dict(
                {
                    "history": [(float(s), float(q), int(k)) for s, q, k in accountant_history],
                    "mechanism": plan.accountant,
                }
            )
        self._wrapped_module: GradSampleModule | None = None
        self._round_token = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_budget(
        cls,
        participant_id: str,
        *,
        epsilon: float,
        delta: float,
        n_samples: int,
        batch_size: int,
        rounds: int,
        local_epochs: int = 1,
        max_grad_norm: float = 1.0,
        accountant: str = "prv",
        drop_last: bool = False,
        secure_mode: bool = False,
        ledger: LedgerLike = None,
    ) -> RecordLevelDP:
        """Plan a participant's DP-SGD from its (ε, δ) budget and write the plan to the ledger.

        σ comes from ``opacus.accountants.utils.get_noise_multiplier`` for
        ``rounds × local_epochs × steps_per_epoch`` steps at the loader's sample rate.

        Args:
            participant_id: names the participant in every ledger line and error.
            epsilon: target ε for the whole federation (smaller is stronger privacy).
            delta: target δ, strictly below ``1/n_samples``.
            n_samples: number of training records (rows of the participant's dataset).
            batch_size: the ``DataLoader``'s batch size (expected Poisson batch size).
            rounds: planned federated rounds.
            local_epochs: passes over the data per round.
            max_grad_norm: per-example clipping bound C.
            accountant: ``"prv"`` (default, tighter) or ``"rdp"``.
            drop_last: the ``DataLoader``'s ``drop_last`` (changes batches per pass).
            secure_mode: use Opacus' cryptographically secure RNG (needs ``torchcsprng``);
                ``False`` is fine for experiments and is recorded in the plan.
            ledger: a :class:`~fedcrm.privacy.PrivacyLedger`, a path, or ``None`` (memory).

        Raises:
            ConfigError: invalid budget (ε ≤ 0, δ ≤ 0, δ ≥ 1/n) or training parameters.
        """
        check_participant_id(participant_id)
        validate_budget(epsilon, delta, n_samples, participant_id=participant_id)
        who = f"participant {participant_id!r}"
        for name, value in (("batch_size", batch_size), ("rounds", rounds)):
            if not is_positive_integer(value):
                raise ConfigError(f"{who}: {name} must be an integer ≥ 1, got {value!r}")
        if not is_positive_integer(local_epochs):
            raise ConfigError(f"{who}: local_epochs must be an integer ≥ 1, got {local_epochs!r}")
        if batch_size > n_samples:
            raise ConfigError(
                f"{who}: batch_size={batch_size} is larger than n_samples={n_samples}; "
                f"use a batch size ≤ the number of training records"
            )
        if not is_positive_number(max_grad_norm):
            raise ConfigError(f"{who}: max_grad_norm must be > 0, got {max_grad_norm!r}")
        epsilon, delta, max_grad_norm = float(epsilon), float(delta), float(max_grad_norm)
        n_samples, batch_size = int(n_samples), int(batch_size)
        rounds, local_epochs = int(rounds), int(local_epochs)
        if accountant not in RECORD_LEVEL_ACCOUNTANTS:
            raise ConfigError(
                f"{who}: accountant must be one of {RECORD_LEVEL_ACCOUNTANTS}, got {accountant!r}"
            )
        ledger = as_ledger(ledger)
        ensure_new_participant(ledger, participant_id)
        loader_length = opacus_loader_length(n_samples, batch_size, drop_last)
        # Exactly Opacus' arithmetic: DPDataLoader samples with q = 1/len(loader) and its
        # sampler yields int(1/q) batches per pass.
        sample_rate = 1 / loader_length
        steps_per_epoch = int(1 / sample_rate)
        steps_per_round = steps_per_epoch * local_epochs
        planned_steps = steps_per_round * rounds
        noise_multiplier = calibrate_record_noise_multiplier(
            epsilon=epsilon,
            delta=delta,
            sample_rate=sample_rate,
            steps=planned_steps,
            accountant=accountant,
            participant_id=participant_id,
        )
        probe = make_record_accountant(accountant)
        probe.history = [(noise_multiplier, sample_rate, planned_steps)]
        plan = RecordLevelPlan(
            participant_id=participant_id,
            epsilon=epsilon,
            delta=delta,
            accountant=accountant,  # type: ignore[arg-type]
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
            n_samples=n_samples,
            batch_size=batch_size,
            drop_last=drop_last,
            sample_rate=sample_rate,
            steps_per_epoch=steps_per_epoch,
            local_epochs=local_epochs,
            rounds=rounds,
            steps_per_round=steps_per_round,
            epsilon_planned=record_level_epsilon(probe, delta),
            secure_mode=secure_mode,
        )
        engine = cls(plan, ledger=ledger)
        engine._log(LedgerEvent.PLAN, plan=plan)
        return engine

    # ------------------------------------------------------------------ accounting
    @property
    def accountant(self) -> IAccountant:
        """The Opacus accountant that holds this participant's history (inspect, don't step)."""
        return self._accountant

    @property
    def total_steps(self) -> int:
        """DP-SGD steps charged so far."""
        return total_steps(self._accountant.history)

    def get_epsilon(self, delta: float | None = None) -> float:
        """ε spent so far at ``delta`` (default: the budget's δ); 0.0 before any step."""
        return record_level_epsilon(self._accountant, self.plan.delta if delta is None else delta)

    def projected_epsilon(self, extra_rounds: int = 1) -> float:
        """ε if ``extra_rounds`` more planned rounds were run: simulated on a copy."""
        probe = copy.deepcopy(self._accountant)
        for _ in range(extra_rounds * self.plan.steps_per_round):
            probe.step(
                noise_multiplier=self.plan.noise_multiplier, sample_rate=self.plan.sample_rate
            )
        return record_level_epsilon(probe, self.plan.delta)

    # ------------------------------------------------------------------ one round
    def wrap(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        data_loader: DataLoader,
        *,
        noise_generator: torch.Generator | None = None,
        grad_sample_mode: str = "hooks",
    ) -> PrivateTraining:
        """Begin a round: check it is affordable, then make model/optimizer/loader private.

        Train ``plan.local_epochs`` passes over the returned loader with the returned module
        and optimizer (the module you passed in is trained in place), then call
        :meth:`record_round`. Each optimizer step is charged to this engine's accountant; a
        step beyond the round's plan is refused with :class:`RoundStepLimitExceeded`.

        ``noise_generator`` seeds Opacus' noise (reproducible experiments; not allowed with
        ``secure_mode``); ``grad_sample_mode`` picks Opacus' per-example gradient engine
        (``"hooks"`` default, ``"ew"``, ``"functorch"``); the privacy accounting is the same.

        Raises:
            BudgetExhausted: the round would exceed the budget (drop the participant).
            ConfigError: a round is already open, or the loader does not match the plan.
        """
        who = f"participant {self.participant_id!r}"
        if self._round_open:
            raise ConfigError(f"{who}: a round is already open; call record_round() first")
        self.check_next_round()
        self._check_loader(data_loader)
        with warnings.catch_warnings():
            if not self.plan.secure_mode:
                # secure_mode=False is an explicit, recorded choice of the plan (fast RNG for
                # experiments); Opacus' reminder about it would print on every round.
                warnings.filterwarnings(
                    "ignore", message="Secure RNG turned off", category=UserWarning
                )
            privacy_engine = PrivacyEngine(
                accountant=self.plan.accountant, secure_mode=self.plan.secure_mode
            )
        _ignore_full_backward_hook_warning()
        private_module, private_optimizer, private_loader = privacy_engine.make_private(
            module=module,
            optimizer=optimizer,
            data_loader=data_loader,
            noise_multiplier=self.plan.noise_multiplier,
            max_grad_norm=self.plan.max_grad_norm,
            poisson_sampling=True,
            noise_generator=noise_generator,
            grad_sample_mode=grad_sample_mode,
        )
        if private_loader.sample_rate != self.plan.sample_rate:
            raise ConfigError(
                f"{who}: Opacus sampled with rate {private_loader.sample_rate} but the plan "
                f"assumes {self.plan.sample_rate}; use the plan's batch size and drop_last"
            )
        self._round_token += 1
        token = self._round_token

        def charge_step(dp_optimizer: DPOptimizer) -> None:
            self._charge_step(dp_optimizer, token)

        # Replaces the hook make_private attached (which fed the throwaway engine's fresh
        # accountant): this participant's steps go to its one persistent accountant.
        private_optimizer.attach_step_hook(charge_step)
        self._round_open = True
        self._round_steps = 0
        self._wrapped_module = private_module
        return PrivateTraining(private_module, private_optimizer, private_loader)

    def _check_loader(self, data_loader: DataLoader) -> None:
        who = f"participant {self.participant_id!r}"
        n_rows = len(data_loader.dataset)  # type: ignore[arg-type]
        if n_rows != self.plan.n_samples:
            raise ConfigError(
                f"{who}: the data loader has {n_rows} rows but the budget was planned for "
                f"n_samples={self.plan.n_samples}; plan again for the new data"
            )
        expected = opacus_loader_length(
            self.plan.n_samples, self.plan.batch_size, self.plan.drop_last
        )
        if len(data_loader) != expected:
            raise ConfigError(
                f"{who}: the data loader yields {len(data_loader)} batches per pass "
                f"(batch_size={data_loader.batch_size}, drop_last={data_loader.drop_last}) but "
                f"the plan assumes {expected} (batch_size={self.plan.batch_size}, "
                f"drop_last={self.plan.drop_last})"
            )

    def _charge_step(self, optimizer: DPOptimizer, token: int) -> None:
        if not self._round_open or token != self._round_token:
            raise RoundStepLimitExceeded(
                participant_id=self.participant_id,
                steps_allowed=self.plan.steps_per_round,
                round_index=token,
                round_closed=True,
            )
        if self._round_steps >= self.plan.steps_per_round:
            # Raising here (inside DPOptimizer.pre_step) stops the underlying optimizer from
            # applying the step, so nothing computed from it reaches the model.
            self._log(LedgerEvent.STEP_LIMIT, steps_in_round=self._round_steps)
            raise RoundStepLimitExceeded(
                participant_id=self.participant_id,
                steps_allowed=self.plan.steps_per_round,
                round_index=self.rounds_completed + 1,
            )
        if not optimizer.noise_multiplier >= self.plan.noise_multiplier * (1 - 1e-9):
            # less noise than planned spends more than the plan; σ = 0 spends ε = ∞
            raise ConfigError(
                f"participant {self.participant_id!r}: the optimizer's noise multiplier "
                f"{optimizer.noise_multiplier:g} is below the plan's "
                f"{self.plan.noise_multiplier:g}; the step is refused (keep the optimizer "
                "wrap() returned as it is)")
        # Same arithmetic as Opacus' own accountant hook.
        self._accountant.step(
            noise_multiplier=optimizer.noise_multiplier,
            sample_rate=self.plan.sample_rate * optimizer.accumulated_iterations,
        )
        self._round_steps += 1

    def record_round(self) -> RoundSpend:
        """End the round: write what it spent to the ledger and return it.

        Removes Opacus' hooks from the trained module, so the module you passed to
        :meth:`wrap` is a plain ``nn.Module`` again (read the update from it).
        """
        if not self._round_open:
            raise ConfigError(
                f"participant {self.participant_id!r}: no round is open; call wrap() first"
            )
        steps = self._round_steps
        if self._wrapped_module is not None:
            self._wrapped_module.to_standard_module()
            self._wrapped_module = None
        return self._finish_round(steps)

    # ------------------------------------------------------------------ persistence
    def state(self) -> RecordLevelState:
        """The engine's state as a validated record (what :meth:`save` writes)."""
        opacus_state = self._accountant.state_dict()
        return RecordLevelState(
            saved_at=utc_now(),
            plan=self.plan,
            accountant=_AccountantHistory(
                mechanism=opacus_state["mechanism"], history=list(opacus_state["history"])
            ),
            rounds_completed=self.rounds_completed,
            exhausted=self.exhausted,
            open_round_steps=self._round_steps if self._round_open else None,
            ledger_path=str(self.ledger.path.resolve()) if self.ledger.path is not None else None,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the state (plan, accountant history, rounds) to ``path`` as JSON, atomically.

        Safe to call mid-round: steps already taken are in the accountant history and stay
        charged after a restart.
        """
        write_state_atomically(path, self.state().model_dump_json(indent=2))

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, ledger: LedgerLike = None) -> RecordLevelDP:
        """Restore an engine saved with :meth:`save`; continues the same ledger file.

        ``ledger`` overrides the ledger path stored in the state. Appends a ``restored`` line
        (and a ``round_interrupted`` line if a round was open when the state was saved).

        Raises:
            LedgerError: the file is missing or invalid, or it is behind the ledger (fewer
                steps or rounds, less ε, another plan, or not exhausted although the ledger
                says so): an older copy or an edited file would let the budget be spent again.
        """
        state = read_state(path)
        if not isinstance(state, RecordLevelState):
            raise LedgerError(f"{path} holds a {state.mode}-level engine state, not record-level")
        return cls._from_state(state, ledger, path)

    @classmethod
    def _from_state(
        cls,
        state: RecordLevelState,
        ledger: LedgerLike,
        source: str | os.PathLike[str] | None = None,
    ) -> RecordLevelDP:
        if state.accountant.mechanism != state.plan.accountant:
            raise LedgerError(
                f"saved state for {state.plan.participant_id!r} has a {state.accountant.mechanism} "
                f"history but a plan for the {state.plan.accountant} accountant"
            )
        engine = cls(
            state.plan,
            ledger=ledger if ledger is not None else state.ledger_path,
            accountant_history=state.accountant.history,
        )
        engine.rounds_completed = state.rounds_completed
        engine.exhausted = state.exhausted
        engine._check_against_ledger(source, state.ledger_path)
        if state.open_round_steps is not None:
            engine._log(
                LedgerEvent.ROUND_INTERRUPTED,
                steps_in_round=state.open_round_steps,
                message="a round was open when the state was saved; its steps stay charged",
            )
        engine._log(LedgerEvent.RESTORED)
        return engine
