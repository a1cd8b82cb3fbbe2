"""The coordinator: selects participants, aggregates their updates, keeps the global model
and the round history. The in-process simulation backend runs everything in one process,
reproducibly for a seed."""

from __future__ import annotations

import json
import secrets
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rich.progress import Progress

from fedcrm._console import error_console
from fedcrm._files import check_writable, json_lines
from fedcrm.errors import AggregationError, ConfigError, PrivacyBudgetExceeded, validation_problems
from fedcrm.federation.config import TrainingConfig, check_rounds, config_differences
from fedcrm.federation.models import get_parameters, vector_norm
from fedcrm.federation.participant import Participant, Update
from fedcrm.federation.privacy import check_client_level_weighting
from fedcrm.federation.strategies import RoundPlan, Strategy


class EncryptedRound(BaseModel):
    """Encrypted mode only (:mod:`fedcrm.federation.secure`): what the coordinator learnt
    about a round's aggregation besides the mean step. Never one participant's update or
    weight."""

    model_config = ConfigDict(frozen=True)
    key_bits: int
    quorum: int
    #: sender → why its encrypted update was refused (the round carried on without it)
    rejected_updates: dict[str, str] = Field(default_factory=dict)
    #: key holders whose partial decryptions were combined
    decrypted_by: list[str] = Field(default_factory=list)
    #: key holder → why it refused to decrypt, or why its partial decryption was invalid
    refused_decryption: dict[str, str] = Field(default_factory=dict)
    #: decrypted sum of the contributors' weights (the only weight the coordinator learns)
    total_weight: float | None = None
    #: per-value bound on |applied step − exact weighted mean| (PackingSpec.error_bound)
    error_bound: float | None = None
    #: why the round was skipped with the global model unchanged, if it was
    failure: str | None = None


class RoundRecord(BaseModel):
    """What happened in one round (one JSON line of the round log)."""

    model_config = ConfigDict(frozen=True)
    #: the id of the coordinator that ran the round (a log may hold several runs' rounds;
    #: None in logs written before it was recorded)
    run: str | None = None
    round: int
    strategy: str
    selected: list[str]
    contributed: list[str]
    weights: dict[str, float]
    rejections: dict[str, str] = Field(default_factory=dict)
    rolled_back: bool = False
    dropped: dict[str, str] = Field(default_factory=dict)
    clipped: list[str] = Field(default_factory=list)
    #: participants whose update claimed another sample count than they enrolled with
    weight_discrepancies: dict[str, int] = Field(default_factory=dict)
    validation_auc: dict[str, float | None] = Field(default_factory=dict)
    #: unweighted mean of the known validation AUCs (filled in from ``validation_auc``)
    mean_validation_auc: float | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    privacy: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: encrypted mode only; None for plaintext rounds
    encryption: EncryptedRound | None = None
    #: what the strategy reported about its aggregate (``trimmed_per_side`` of a trimmed
    #: mean, ``withheld`` when client-level DP did not release the round's sum, …)
    aggregation: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _mean_of_known(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("mean_validation_auc") is None:
            known = [v for v in (data.get("validation_auc") or {}).values() if v is not None]
            if known:
                data = {**data, "mean_validation_auc": float(np.mean(known))}
        return data


class FinalCheck(BaseModel):
    """The participants' gate check of the last round's model, which no later round checks
    (one JSON line of the round log after a run's last round; :func:`read_final_checks`)."""

    model_config = ConfigDict(frozen=True)
    #: tells this line from a round record in the log
    record: Literal["final_check"] = "final_check"
    run: str | None = None
    #: the round whose model was checked
    after_round: int
    #: participant → why its gate refused the model
    rejections: dict[str, str] = Field(default_factory=dict)
    #: whether the refusals rolled the model back to the one before it
    rolled_back: bool = False


class FederationResult(BaseModel):
    """The global model and how it got there."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    parameters: Any  # np.ndarray, the model after the last round
    history: list[RoundRecord]
    test_metrics: dict[str, dict[str, float | None]]
    #: the model after the round with the best mean validation AUC (early stopping on the
    #: participants' validation splits; test splits play no part in choosing it). With small
    #: orgs that mean is noisy and often picks an early round; ``run_task`` and the demo use
    #: ``averaged_parameters`` (docs/federation.md, "Which round's model")
    best_parameters: Any = None
    best_round: int | None = None
    best_test_metrics: dict[str, dict[str, float | None]] = {}
    #: the model the federation delivers: the mean of the global models after the rounds in
    #: ``averaged_rounds`` (the last ``TrainingConfig.average_fraction`` of them);
    #: ``run_task`` and the demo score it
    averaged_parameters: Any = None
    #: the rounds whose models are averaged: the last ones, less any whose model the gates
    #: refused (rolled back in the next round, or by the check after the last round)
    averaged_rounds: list[int] = []
    averaged_test_metrics: dict[str, dict[str, float | None]] = {}
    #: after the last round the participants' gates check its model, which no round after it
    #: did: who refused it, and whether that rolled it back (then ``parameters`` is the model
    #: before it). The Flower backend makes no such check: always empty and False there.
    final_rejections: dict[str, str] = {}
    final_rolled_back: bool = False

    @property
    def mean_test_auc(self) -> float | None:
        """Mean of the participants' test AUCs of the last round's model, ``test_metrics``
        (participants whose test set has one class are left out; None when every one is)."""
        return _mean_auc(self.test_metrics)

    @property
    def averaged_mean_test_auc(self) -> float | None:
        """The same for the delivered model, ``averaged_test_metrics``."""
        return _mean_auc(self.averaged_test_metrics)


def _feature_names(participant: Participant) -> list[str]:
    names = getattr(participant.data, "feature_names", None)
    return [str(name) for name in names] if names is not None else []


def _mean_auc(metrics: dict[str, dict[str, float | None]]) -> float | None:
    values = [m["auc"] for m in metrics.values() if m.get("auc") is not None]
    return float(np.mean(values)) if values else None


@dataclass
class LocalRound:
    """What the selected participants sent back in one round, before aggregation."""

    updates: list[Update] = field(default_factory=list)
    #: participant → why it rejected the global model (validation gating)
    rejections: dict[str, str] = field(default_factory=dict)
    #: participant → why it left the round (privacy budget spent, unreachable)
    dropped: dict[str, str] = field(default_factory=dict)
    privacy: dict[str, dict[str, Any]] = field(default_factory=dict)


class Coordinator:
    """Runs federated rounds over in-process participants (the simulation backend)."""

    #: whether rounds aggregate ciphertexts (the rule for client-level DP's weights differs)
    encrypted: ClassVar[bool] = False
    #: whether the participants' gates check the last round's model after the loop (and the
    #: round log gets a :class:`FinalCheck` line); the Flower backend makes no such check
    checks_final_model: ClassVar[bool] = True

    def __init__(
        self,
        participants: Sequence[Participant],
        strategy: Strategy,
        config: TrainingConfig | None = None,
        *,
        log_path: str | Path | None = None,
        server_side_clipping: bool = True,
    ) -> None:
        participants = list(participants)  # an iterator would be used up by the checks
        if not participants:
            raise ConfigError("a federation needs at least one participant")
        ids = [p.participant_id for p in participants]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"participant ids must be unique, got {ids}")
        widths = {p.participant_id: p.data.n_features for p in participants}
        if len(set(widths.values())) != 1:
            raise ConfigError(
                "participants have mismatched feature spaces (columns per participant: "
                + ", ".join(f"{k}={v}" for k, v in widths.items())
                + "); build every org's matrix from the same FeatureSpace")
        # remote participants (Flower) hold no names on this side, so they are not compared
        # here: a Flower federation relies on every node building its matrix from the
        # published feature space
        names = {p.participant_id: _feature_names(p) for p in participants}
        named = [pid for pid, columns in names.items() if columns]
        for other in named[1:]:
            first, second = names[named[0]], names[other]
            if first != second:
                pairs = enumerate(zip(first, second, strict=False))
                column = next((i for i, (a, b) in pairs if a != b),
                              min(len(first), len(second)))
                shown = (f"column {column}: {first[column]!r} vs {second[column]!r}"
                         if column < min(len(first), len(second))
                         else f"{len(first)} vs {len(second)} names")
                raise ConfigError(
                    f"participants {named[0]} and {other} name their feature columns "
                    f"differently ({shown}); build every org's matrix from the same "
                    "FeatureSpace")
        self.participants = {p.participant_id: p for p in participants}
        #: sample counts and quality multipliers fixed at enrolment (the calibration phase);
        #: aggregation weights come from here, never from what an update claims
        self.enrolled = {p.participant_id: (p.n_samples, p.quality_multiplier)
                         for p in participants}
        self.strategy = strategy
        self.config = config or participants[0].config
        mismatched = {p.participant_id: diff for p in participants
                      if (diff := config_differences(self.config, p.config))}
        if mismatched:
            raise ConfigError(
                "the coordinator's TrainingConfig and its participants' disagree on how "
                "participants train (coordinator ≠ participant: "
                + "; ".join(f"{pid}: {', '.join(diff)}" for pid, diff in mismatched.items())
                + "); participants train with their own config, so build every Participant "
                "with the coordinator's config (Participant(..., config=config)) or leave the "
                "coordinator's config out")
        check_client_level_weighting(
            strategy, {p.participant_id: getattr(p, "privacy", None) for p in participants},
            encrypted=self.encrypted)
        strategy_mu = getattr(strategy, "mu", None)
        if strategy_mu is not None and self.config.prox_mu not in (0.0, strategy_mu):
            raise ConfigError(f"TrainingConfig.prox_mu={self.config.prox_mu:g} and the "
                              f"{strategy.name} strategy's mu={strategy_mu:g} disagree; set "
                              "the proximal term in one place")
        self.log_path = Path(log_path) if log_path is not None else None
        if self.log_path is not None:  # refused now, not after the first round has trained
            if self.log_path.is_dir():
                raise ConfigError(f"log_path {self.log_path} is a folder; give a file such as "
                                  f"{self.log_path / 'rounds.jsonl'}")
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"log_path {self.log_path}: cannot create its folder "
                                  f"({exc.strerror or exc})") from None
            try:
                check_writable(self.log_path, append=True)
            except OSError as exc:
                raise ConfigError(f"log_path {self.log_path} cannot be written "
                                  f"({exc.strerror or exc}); give a writable place") from None
        #: stamps this coordinator's records, so the runs that share a log can be told apart
        self.run_id = secrets.token_hex(6)
        self.server_side_clipping = server_side_clipping
        self.history: list[RoundRecord] = []
        self._previous: np.ndarray | None = None
        self._velocity: np.ndarray | None = None
        torch.manual_seed(self.config.seed)
        self.parameters = get_parameters(participants[0].new_model())
        self._rng = np.random.default_rng(self.config.seed)
        for participant in self.participants.values():
            participant.reset_gate()

    def _prox_mu(self, plan: RoundPlan) -> float:
        """The round's proximal term μ: the strategy's (FedProx) or else the config's."""
        return self.config.prox_mu if plan.prox_mu is None else float(plan.prox_mu)

    def _active_ids(self) -> list[str]:
        return [pid for pid, p in self.participants.items() if p.active]

    def run_round(self, round_number: int) -> RoundRecord:
        """One round: configure, gate, train, aggregate, evaluate."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        active = self._active_ids()
        if not active:
            raise AggregationError("every participant has dropped out; nothing to train")
        plan = self.strategy.configure_round(round_number, active,
                                             self.config.per_round(len(active)), self._rng)
        timings["configure"] = time.perf_counter() - start
        start = time.perf_counter()
        local = self._local_round(round_number, plan)
        rejections, dropped = local.rejections, local.dropped
        updates = []
        for update in local.updates:  # one NaN would make the global model NaN
            if np.isfinite(update.delta).all():
                updates.append(update)
            else:
                dropped[update.participant_id] = "its update holds non-finite numbers"
        privacy = local.privacy
        # hooks attached after the coordinator was built are checked here
        check_client_level_weighting(self.strategy, privacy, encrypted=self.encrypted)
        timings["local_training"] = time.perf_counter() - start
        rolled_back = self._rollback_due(self._rejected_share(rejections, plan.participants))
        start = time.perf_counter()
        weights: dict[str, float] = {}
        info: dict[str, Any] = {}
        discrepancies = {u.participant_id: u.n_samples for u in updates
                         if u.n_samples != self.enrolled[u.participant_id][0]}
        updates = [self._enrolled_weights(u) for u in updates]
        contributed = [] if rolled_back else [u.participant_id for u in updates]
        if rolled_back:
            self._roll_back()
        elif updates:
            if self.server_side_clipping:
                updates = self._bound_all(updates)
            aggregate = self.strategy.aggregate(updates)
            weights, info = aggregate.weights, dict(aggregate.info)
            if info.get("withheld"):
                contributed = []  # nothing was released: the global model stays as it is
            else:
                self._apply_step(aggregate.step)
        # after the server's own bound: the updates it scaled down are listed too
        clipped = [u.participant_id for u in updates if u.clipped]
        timings["aggregate"] = time.perf_counter() - start
        start = time.perf_counter()
        validation = self._validate(self.parameters, active, dropped)
        timings["evaluate"] = time.perf_counter() - start
        record = RoundRecord(
            round=round_number, strategy=self.strategy.name, selected=plan.participants,
            contributed=contributed, weights=weights, rejections=rejections,
            rolled_back=rolled_back, dropped=dropped, clipped=clipped,
            weight_discrepancies=discrepancies, validation_auc=validation,
            seconds={k: round(v, 4) for k, v in timings.items()}, privacy=privacy,
            aggregation=info,
        )
        record = self._keep(record)
        return record

    def _keep(self, record: RoundRecord) -> RoundRecord:
        """Stamp ``record`` with this run's id, add it to the history and append it to the
        round log."""
        record = record.model_copy(update={"run": self.run_id})
        self.history.append(record)
        self._append_to_log(record, f"round {record.round}")
        return record

    def _append_to_log(self, line: BaseModel, what: str) -> None:
        """Append ``line`` to the round log as one JSON line (nothing without a log)."""
        if self.log_path is None:
            return
        try:
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(line.model_dump_json() + "\n")
        except OSError as exc:  # e.g. the disk filled up during the run
            raise ConfigError(f"cannot append {what} to the round log {self.log_path} "
                              f"({exc.strerror or exc}); the rounds so far are in "
                              "Coordinator.history") from exc

    def _rollback_due(self, rejected_share: float) -> bool:
        """Whether the rejections (``rejected_share`` of the round) roll the model back: they
        must reach ``rollback_share``, and there must be a model to return to (before the
        first step there is none)."""
        return (rejected_share > 0 and rejected_share >= self.config.rollback_share
                and self._previous is not None)

    def _apply_step(self, step: np.ndarray) -> None:
        """Move the global model by the round's aggregate, through server momentum when
        ``config.server_momentum`` > 0 (FedAvgM, Hsu et al. 2019: v ← β·v + step)."""
        self._previous = self.parameters.copy()
        beta = self.config.server_momentum
        if beta > 0:
            self._velocity = (step if self._velocity is None
                              else beta * self._velocity + step).astype(np.float32)
            step = self._velocity
        self.parameters = (self.parameters + step).astype(np.float32)

    def _roll_back(self) -> None:
        """Restore the previous global model; the momentum that led to the rejected one is
        dropped, and every participant's gate re-checks the restored model."""
        assert self._previous is not None
        self.parameters = self._previous.copy()
        # no model before the restored one is kept: a later round's gates that refuse the
        # restored model cannot roll back to it again and discard that round's updates
        self._previous = None
        self._velocity = None
        self._resync_gates(self.parameters)

    def _rejected_share(self, rejections: Mapping[str, str], selected: Sequence[str]) -> float:
        """The share of ``selected`` that rejected the model: by sample count, or by head
        in encrypted mode (the coordinator knows no participant's weight there)."""
        if not selected:
            return 0.0
        if self.encrypted:
            return len([p for p in selected if p in rejections]) / len(selected)
        weights = {pid: float(self.participants[pid].n_samples) for pid in selected}
        return (sum(weights[p] for p in rejections if p in weights)
                / max(sum(weights.values()), 1e-12))

    def _final_gate(self) -> dict[str, str]:
        """Every active participant's gate checks the last round's model (reason of each
        refusal); the in-process backends only."""
        rejections: dict[str, str] = {}
        for pid in self._active_ids():
            gate = self.participants[pid].check(self.parameters)
            if not gate.accepted:
                rejections[pid] = gate.reason
        return rejections

    # -------------------------------------------------------------- participant access
    # The three places a round talks to participants. The in-process backend calls them one
    # by one; a networked backend (fedcrm.federation.backends.flower) overrides these hooks to
    # send one batch of messages each, and shares everything else in run_round.
    def _local_round(self, round_number: int, plan: RoundPlan) -> LocalRound:
        """Gate and train every participant the plan selected (in plan order)."""
        local = LocalRound()
        for pid in plan.participants:
            participant = self.participants[pid]
            gate = participant.check(self.parameters)
            if not gate.accepted:
                local.rejections[pid] = gate.reason
                continue
            try:
                update = participant.train(self.parameters, round_number,
                                           prox_mu=self._prox_mu(plan))
            except PrivacyBudgetExceeded as exc:  # the federation goes on without it
                participant.active = False
                local.dropped[pid] = str(exc)
                continue
            if update.privacy:
                local.privacy[pid] = update.privacy
            local.updates.append(update)
        return local

    def _resync_gates(self, parameters: np.ndarray) -> None:
        """After a rollback, every participant takes the restored model as its gate's
        reference (:meth:`Participant.rebase`), so its gate compares the next model with
        this one."""
        for participant in self.participants.values():
            participant.rebase(parameters)

    def _validate(self, parameters: np.ndarray, participant_ids: Sequence[str],
                  dropped: dict[str, str]) -> dict[str, float | None]:
        """Validation AUC of ``parameters`` in each listed participant (``dropped`` is where
        a networked backend notes participants that did not answer)."""
        return {pid: self.participants[pid].evaluate(parameters, "validation")["auc"]
                for pid in participant_ids}

    def _test_metrics(self, candidates: Sequence[np.ndarray]
                      ) -> list[dict[str, dict[str, float | None]]]:
        """Test metrics of each candidate model in every participant."""
        return [{pid: p.evaluate(parameters, "test") for pid, p in self.participants.items()}
                for parameters in candidates]

    def _enrolled_weights(self, update: Update) -> Update:
        n_samples, quality = self.enrolled[update.participant_id]
        if (update.n_samples, update.quality_multiplier) == (n_samples, quality):
            return update
        return update.model_copy(update={"n_samples": n_samples, "quality_multiplier": quality})

    def _bound_all(self, updates: list[Update]) -> list[Update]:
        """Plaintext defence in depth: bound every received update's norm to the configured
        bound and to ``adaptive_clip_factor`` × the round's median norm, so one outsized
        (random or scaled) update cannot outweigh the honest ones (norm bounding as a
        backdoor defence: Sun et al. 2019, "Can you really backdoor federated learning?")."""
        norms = [vector_norm(u.delta) for u in updates]
        bounds = []
        if self.config.max_update_norm is not None:
            bounds.append(self.config.max_update_norm)
        # the median of the updates that moved anything: a majority of zero updates (empty or
        # colluding participants) would otherwise make the bound 0 and zero every other update
        moved = [norm for norm in norms if norm > 0]
        if self.config.adaptive_clip_factor is not None and len(moved) >= 3:
            bounds.append(self.config.adaptive_clip_factor * float(np.median(moved)))
        if not bounds:
            return updates
        bound = min(bounds)
        bounded = []
        for update, norm in zip(updates, norms, strict=True):
            if norm <= bound or norm == 0:
                bounded.append(update)
                continue
            scaled = (update.delta * (bound / norm)).astype(np.float32)
            bounded.append(update.model_copy(update={"delta": scaled, "clipped": True}))
        return bounded

    def run(self, rounds: int | None = None, *, progress: bool = True) -> FederationResult:
        """Run ``rounds`` rounds (default: the config's) and evaluate on every test split.

        A second call goes on from the current global model; its rounds are numbered after
        the earlier ones (so every round trains with fresh seeds), and the result's best and
        averaged models are chosen among this call's rounds."""
        total = self.config.rounds if rounds is None else check_rounds(rounds)
        first = self.history[-1].round + 1 if self.history else 0
        # (mean validation AUC, round, model) of each round that beat every earlier one; the
        # last is the best round whose model no gate refused (a refused one is popped)
        bests: list[tuple[float, int, np.ndarray]] = []
        averaged_count = self.config.averaged_rounds(total)
        #: (round, the global model after it) for every round whose model was not refused
        kept: deque[tuple[int, np.ndarray]] = deque(maxlen=averaged_count + 1)
        # on stderr, and only on a terminal (a transient bar still leaves a newline in a log)
        with Progress(transient=True, console=error_console,
                      disable=not progress or not error_console.is_terminal) as bar:
            task = bar.add_task(f"Federated training ({self.strategy.name})", total=total)
            for round_number in range(first, first + total):
                gated = self.parameters.copy()
                record = self.run_round(round_number)
                if record.rolled_back:
                    # the gates refused the model this round started from: it is neither
                    # delivered in the average nor the best round
                    _refuse(kept, bests, gated)
                auc = record.mean_validation_auc
                if auc is not None and (not bests or auc > bests[-1][0]):
                    bests.append((auc, round_number, self.parameters.copy()))
                kept.append((round_number, self.parameters.copy()))
                bar.update(task, advance=1, description=(
                    f"{self.strategy.name} round {round_number - first + 1}/{total}"
                    + (f" val AUC {auc:.3f}" if auc is not None else "")))
        # the last round's model has met no gate yet: the participants check it now
        final_rejections = self._final_gate()
        final_rolled_back = self._rollback_due(self._rejected_share(
            final_rejections, self._active_ids()))
        if final_rolled_back:
            refused = self.parameters.copy()
            self._roll_back()
            _refuse(kept, bests, refused)
        if self.checks_final_model:
            self._append_to_log(FinalCheck(run=self.run_id, after_round=first + total - 1,
                                           rejections=final_rejections,
                                           rolled_back=final_rolled_back),
                                "the check of the last round's model")
        best = bests[-1] if bests else None
        # the models of the last rounds that no gate refused; at least the one now held (the
        # restored one after a final rollback: the model of the round before, or before them
        # all, as round first - 1)
        window = [(r, m) for r, m in kept if r >= first + total - averaged_count] or (
            [kept[-1]] if kept else [(first - 1, self.parameters.copy())])
        best_parameters = best[2] if best is not None else self.parameters.copy()
        averaged = np.mean([m for _, m in window], axis=0).astype(self.parameters.dtype)
        test, best_test, averaged_test = self._test_metrics(
            [self.parameters, best_parameters, averaged])
        return FederationResult(parameters=self.parameters.copy(), history=list(self.history),
                                test_metrics=test, best_parameters=best_parameters,
                                best_round=best[1] if best is not None else None,
                                best_test_metrics=best_test, averaged_parameters=averaged,
                                averaged_rounds=[r for r, _ in window],
                                averaged_test_metrics=averaged_test,
                                final_rejections=final_rejections,
                                final_rolled_back=final_rolled_back)


def _refuse(kept: deque[tuple[int, np.ndarray]], bests: list[tuple[float, int, np.ndarray]],
            refused: np.ndarray) -> None:
    """Forget the latest kept rounds whose model is ``refused`` (the round that made it, and
    any after it that made no step: a withheld sum, a failed decryption), and those best
    rounds: the best before them is then the best again (no round in between beat it)."""
    while kept and np.array_equal(kept[-1][1], refused):
        kept.pop()
    while bests and np.array_equal(bests[-1][2], refused):
        bests.pop()


class _OneRun:
    """The default of :func:`read_round_log`'s ``run``: the one run the log holds."""

    def __repr__(self) -> str:
        return "the log's one run"


ONE_RUN = _OneRun()


def read_round_log(path: str | Path, run: str | _OneRun | None = ONE_RUN) -> list[RoundRecord]:
    """Parse a round log written by a coordinator: the rounds of run ``run`` (a
    ``Coordinator.run_id``; None selects rounds written before run ids were recorded), or by
    default those of the one run the log holds. The log's :class:`FinalCheck` lines are
    left out (:func:`read_final_checks` reads them).

    Raises :class:`ConfigError` for a file that cannot be read or holds something other than
    round records, and for a log that several coordinators appended to when ``run`` is not
    given (their rounds would otherwise read as one federation's).
    """
    records, _ = _read_log(path, run)
    return records


def read_final_checks(path: str | Path, run: str | _OneRun | None = ONE_RUN
                      ) -> list[FinalCheck]:
    """The gate checks of the last round's model in a round log (one per ``run()`` call of
    the in-process coordinators; none from the Flower backend), for run ``run`` as in
    :func:`read_round_log`, which raises the same errors."""
    _, checks = _read_log(path, run)
    return checks


def _read_log(path: str | Path, run: str | _OneRun | None
              ) -> tuple[list[RoundRecord], list[FinalCheck]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{path}: cannot read the round log ({reason})") from None
    records: list[RoundRecord] = []
    checks: list[FinalCheck] = []
    for number, line in enumerate(json_lines(text), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("record") == "final_check":
                checks.append(FinalCheck.model_validate(entry))
            else:
                records.append(RoundRecord.model_validate(entry))
        # JSONDecodeError is a ValueError; RecursionError: nesting deeper than Python's stack
        except (ValueError, ValidationError, RecursionError) as exc:
            problem = (validation_problems(exc, root="the line", limit=1)
                       if isinstance(exc, ValidationError) else
                       "JSON nested too deeply" if isinstance(exc, RecursionError)
                       else f"not JSON: {exc}")
            raise ConfigError(f"{path}, line {number}: not a round record ({problem})") \
                from None
    runs = list(dict.fromkeys(record.run for record in [*records, *checks]))
    if not isinstance(run, _OneRun):
        if (records or checks) and run not in runs:
            raise ConfigError(f"{path} has no rounds of run {run!r}; its runs are "
                              f"{', '.join(str(r) for r in runs)}")
        return ([record for record in records if record.run == run],
                [check for check in checks if check.run == run])
    if len(runs) > 1:
        raise ConfigError(f"{path} holds the rounds of {len(runs)} coordinator runs "
                          f"({', '.join(str(r) for r in runs)}); pass run= one of them, or "
                          "give each federation its own log_path")
    return records, checks
