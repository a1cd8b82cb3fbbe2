"""What both privacy engines share: budget checks, the ledger, saving state."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from fedcrm._files import write_atomically
from fedcrm.errors import ConfigError
from fedcrm.privacy.budget import BudgetExhausted, LedgerError
from fedcrm.privacy.ledger import (
    LedgerEvent,
    LedgerRecord,
    PrivacyLedger,
    participant_key,
    read_ledger,
    utc_now,
)
from fedcrm.privacy.models import ClientLevelPlan, RecordLevelPlan, RoundSpend

LedgerLike = PrivacyLedger | str | os.PathLike[str] | None

# ε is recomputed from the saved history by a numerical accountant; a restored ε below the
# ledger's by less than this (relative) is rounding, not a stale state.
_EPSILON_SLACK = 1e-9


def as_ledger(ledger: LedgerLike) -> PrivacyLedger:
    """A :class:`PrivacyLedger` from a ledger, a path, or ``None`` (in memory)."""
    return ledger if isinstance(ledger, PrivacyLedger) else PrivacyLedger(ledger)


def check_participant_id(participant_id: object) -> None:
    """Refuse an id that is not a non-empty string, or has spaces around it (``"Zürich "``
    would be counted apart from ``"Zürich"`` in a shared ledger)."""
    if not isinstance(participant_id, str) or not participant_id.strip():
        raise ConfigError(f"participant_id must be a non-empty string, got {participant_id!r}")
    if participant_id != participant_id.strip():
        raise ConfigError(f"participant_id {participant_id!r} has spaces around it; give "
                          f"{participant_id.strip()!r}")


def ensure_new_participant(ledger: PrivacyLedger, participant_id: str) -> None:
    """Refuse to plan a budget for a participant the ledger already has spending for.

    Planning again would start a fresh accountant at ε = 0 while the participant's data has
    already been used: a silent budget reset. A restart must restore the saved engine instead.
    A plan that never spent (the process stopped before its first round was recorded) may be
    made again. The ledger is checked again, under its lock, when the plan line is written.

    Raises:
        LedgerError: the ledger file has spending for ``participant_id``, or for the same id
            spelt differently (case, outer spaces, Unicode form).
    """
    if ledger.path is None or not ledger.path.exists():
        return
    _refuse_planned_participant(read_ledger(ledger.path), participant_id, str(ledger.path))


def _refuse_planned_participant(records: list[LedgerRecord], participant_id: str,
                                where: str) -> None:
    key = participant_key(participant_id)
    for other in dict.fromkeys(r.participant_id for r in records):
        if other != participant_id and participant_key(other) == key:
            raise LedgerError(
                f"ledger {where} has participant {other!r}, the id {participant_id!r} spelt "
                f"differently (case, spaces or Unicode form); ids are compared exactly, so "
                f"this would be a fresh budget for the same org. Use {other!r}")
    earlier = [r for r in records if r.participant_id == participant_id]
    if any(r.event != LedgerEvent.PLAN or r.total_steps or r.rounds_completed for r in earlier):
        raise LedgerError(
            f"ledger {where} already has {len(earlier)} event(s) for participant "
            f"{participant_id!r} (ε spent so far {earlier[-1].epsilon_spent:.4g}); planning a new "
            f"budget would reset its accountant to zero. Restore the saved engine with "
            f"load(state_path) instead, or use a new ledger for a genuinely new budget."
        )


def write_state_atomically(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and an atomic rename."""
    return write_atomically(path, text)


class BudgetedEngine(ABC):
    """Owns one participant's privacy state: accountant history, rounds, ledger.

    Subclasses say how ε is computed now and after one more round; this class turns that into
    the affordability check, the ledger lines and the numbers a trainer reads.
    """

    plan: RecordLevelPlan | ClientLevelPlan

    def __init__(self, plan: RecordLevelPlan | ClientLevelPlan, ledger: LedgerLike) -> None:
        self.plan = plan
        self.ledger = as_ledger(ledger)
        self.rounds_completed = 0
        self.exhausted = False
        self._round_open = False
        self._round_steps = 0
        #: why this engine may not spend (another engine of its participant recorded a round)
        self._conflict: str | None = None

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def get_epsilon(self, delta: float | None = None) -> float:
        """ε spent so far at ``delta`` (default: the budget's δ)."""

    @abstractmethod
    def projected_epsilon(self, extra_rounds: int = 1) -> float:
        """ε at the budget's δ if ``extra_rounds`` more full rounds were run as planned."""

    @property
    @abstractmethod
    def total_steps(self) -> int:
        """Steps charged so far (DP-SGD steps or federated rounds)."""

    # ------------------------------------------------------------------ shared behaviour
    @property
    def participant_id(self) -> str:
        """The participant whose budget this engine owns."""
        return self.plan.participant_id

    @property
    def epsilon_spent(self) -> float:
        """ε spent so far at the budget's δ."""
        return self.get_epsilon()

    @property
    def epsilon_remaining(self) -> float:
        """Target ε minus ε spent (never negative)."""
        return max(0.0, self.plan.epsilon - self.epsilon_spent)

    @property
    def round_open(self) -> bool:
        """Whether a round has begun and not yet been recorded."""
        return self._round_open

    def can_afford_next_round(self) -> bool:
        """Whether one more full round keeps ε within the budget (no side effects)."""
        return (self._conflict is None and not self.exhausted
                and self.projected_epsilon(1) <= self.plan.epsilon)

    def check_next_round(self) -> float:
        """Return the ε one more round would bring; raise if that exceeds the budget.

        The check simulates the next round's steps on a copy of the accountant. The first
        time it fails it writes a ``budget_exhausted`` ledger line; from then on the
        participant stays exhausted (ε never goes down).

        Raises:
            BudgetExhausted: naming the participant and the numbers.
        """
        if self._conflict is not None:
            raise LedgerError(self._conflict)  # refused once, refused for good
        projected = self.projected_epsilon(1)
        if not self.exhausted and projected <= self.plan.epsilon:
            return projected
        error = BudgetExhausted(
            participant_id=self.participant_id,
            epsilon_spent=self.epsilon_spent,
            epsilon_projected=projected,
            epsilon_target=self.plan.epsilon,
            delta=self.plan.delta,
            rounds_completed=self.rounds_completed,
            accountant=self.plan.accountant,
        )
        if not self.exhausted:
            self.exhausted = True
            self._log(LedgerEvent.BUDGET_EXHAUSTED, epsilon_projected=projected, message=str(error))
        raise error

    def _check_against_ledger(
        self,
        state_path: str | os.PathLike[str] | None = None,
        saved_ledger: str | None = None,
    ) -> None:
        """Refuse restored state that is behind what the ledger already recorded.

        The ledger is append-only and written before the state is saved, so it knows at least
        as much spending as the newest state file. A state with fewer steps or rounds, less ε,
        another plan, or not exhausted although the ledger declared the budget exhausted, is an
        older copy (a backup) or an edited file: restoring it would let the participant spend
        its budget a second time. Called on restore, before anything is appended.

        ``saved_ledger`` is the ledger path the state itself names. When the engine is given
        another ledger, the state is checked against both, and a ledger file that has no line
        of a participant whose state has spent (its plan line is written first) is refused:
        otherwise pointing a restore at a fresh ledger would hide the spending.

        Raises:
            LedgerError: naming the state file, the ledger file and the numbers that disagree.
        """
        source = f"privacy engine state {state_path}" if state_path else "the restored state"
        own = [r for r in self.ledger.records() if r.participant_id == self.participant_id]
        if own:
            self._compare_with(own, str(self.ledger.path or "in memory"), source)
        saved = Path(saved_ledger) if saved_ledger is not None else None
        if saved is None:
            return  # an engine that kept its ledger in memory: nothing on disk to compare
        moved = self.ledger.path is None or saved.resolve() != self.ledger.path.resolve()
        if moved and saved.exists():
            records = [r for r in read_ledger(saved) if r.participant_id == self.participant_id]
            if records:
                self._compare_with(records, str(saved), source)
        if not own and (self.total_steps or self.rounds_completed):
            where = (f"its new ledger {self.ledger!r} has no line of it; the state was "
                     f"spending against {saved}. Restore with that ledger (or a copy of it "
                     f"moved to the new path)" if moved else
                     f"its ledger {saved} has no line of it (deleted, emptied, or a relative "
                     f"path read from another folder). Restore with the ledger it was "
                     f"spending against")
            raise LedgerError(
                f"{source} for participant {self.participant_id!r} has spent budget "
                f"({self.total_steps} steps) but {where}, so the spending stays on record."
            )

    def _compare_with(self, records: list[LedgerRecord], path: str, source: str) -> None:
        """Raise :class:`LedgerError` if this engine is behind ``records`` (read from ``path``)."""
        problems: list[str] = []
        ledger_steps = max(r.total_steps for r in records)
        if self.total_steps < ledger_steps:
            problems.append(f"total_steps={self.total_steps} (ledger: {ledger_steps})")
        ledger_rounds = max(r.rounds_completed for r in records)
        if self.rounds_completed < ledger_rounds:
            problems.append(f"rounds_completed={self.rounds_completed} (ledger: {ledger_rounds})")
        spent, ledger_spent = self.get_epsilon(), max(r.epsilon_spent for r in records)
        if spent < ledger_spent - _EPSILON_SLACK * max(1.0, ledger_spent):
            problems.append(f"ε spent {spent:.6g} (ledger: {ledger_spent:.6g})")
        if not self.exhausted and any(r.event == LedgerEvent.BUDGET_EXHAUSTED for r in records):
            problems.append("exhausted=false (ledger: a budget_exhausted event)")
        plans = [r.plan for r in records if r.plan is not None]
        if plans and plans[-1] != self.plan:
            own, planned = self.plan.model_dump(), plans[-1].model_dump()
            problems.extend(
                f"plan {name}={own.get(name)!r} (ledger: {planned.get(name)!r})"
                for name in sorted(own.keys() | planned.keys())
                if own.get(name) != planned.get(name)
            )
        if problems:
            raise LedgerError(
                f"{source} for participant {self.participant_id!r} disagrees with its ledger "
                f"{path}: {'; '.join(problems)}. It is an older copy or an edited "
                f"file, and restoring it would let the participant spend its budget again. "
                f"Restore the newest state file of this participant (saved after the ledger's "
                f"last line for it); if that is lost, the participant must stop contributing "
                f"under this budget."
            )

    def ledger_records(self) -> list[LedgerRecord]:
        """The ledger lines this engine's ledger holds (all participants, if shared)."""
        return self.ledger.records()

    def _finish_round(self, steps: int) -> RoundSpend:
        self._round_open = False
        self._round_steps = 0
        self.rounds_completed += 1
        record = self._log(LedgerEvent.ROUND, steps_in_round=steps)
        return RoundSpend(
            participant_id=self.participant_id,
            round_index=self.rounds_completed,
            steps=steps,
            epsilon_spent=record.epsilon_spent,
            epsilon_remaining=record.epsilon_remaining,
            epsilon_target=self.plan.epsilon,
            delta=self.plan.delta,
        )

    def _log(self, event: LedgerEvent, **fields: Any) -> LedgerRecord:
        spent = self.get_epsilon()
        record = LedgerRecord(
            timestamp=utc_now(),
            participant_id=self.participant_id,
            event=event,
            mode=self.plan.mode,
            accountant=self.plan.accountant,
            epsilon_spent=spent,
            delta=self.plan.delta,
            epsilon_target=self.plan.epsilon,
            epsilon_remaining=max(0.0, self.plan.epsilon - spent),
            rounds_completed=self.rounds_completed,
            total_steps=self.total_steps,
            **fields,
        )
        self.ledger.append(record, check=lambda records: self._check_append(event, records))
        return record

    def _check_append(self, event: LedgerEvent, records: list[LedgerRecord]) -> None:
        """Refuse a ledger line that another engine of this participant makes wrong (called
        under the ledger's lock, with every line already written).

        Two engines restored from one state file (two workers, or a restart while the old
        process still ran) each kept their own accountant, so the ledger recorded every round
        twice and its ε counted one of them. The second engine to record a round now finds
        the round already there and is refused, before its update leaves the participant.
        """
        where = str(self.ledger.path or "in memory")
        if event == LedgerEvent.PLAN:
            _refuse_planned_participant(records, self.participant_id, where)
            return
        if event != LedgerEvent.ROUND:
            return
        recorded = max((r.rounds_completed for r in records
                        if r.participant_id == self.participant_id), default=0)
        if recorded >= self.rounds_completed:
            self._conflict = (
                f"participant {self.participant_id!r}: ledger {where} already records round "
                f"{recorded}, and this engine is recording round {self.rounds_completed}: "
                f"another engine of this participant (restored from the same state, in another "
                f"process) is spending the same budget. This round is refused and its update "
                f"not released, and this engine spends no more; run one engine per participant, "
                f"restored from its newest state")
            raise LedgerError(self._conflict)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(participant_id={self.participant_id!r}, "
            f"epsilon_spent={self.epsilon_spent:.4g}, epsilon_target={self.plan.epsilon:g}, "
            f"delta={self.plan.delta:g}, accountant={self.plan.accountant!r}, "
            f"rounds_completed={self.rounds_completed}, exhausted={self.exhausted})"
        )
