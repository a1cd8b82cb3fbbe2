"""Reading saved engine state, whichever mode wrote it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from fedcrm.privacy._engine import LedgerLike, write_state_atomically
from fedcrm.privacy.accountants import total_steps
from fedcrm.privacy.budget import LedgerError
from fedcrm.privacy.ledger import (
    LedgerEvent,
    PrivacyLedger,
    _validation_problem,
    read_ledger,
    utc_now,
)
from fedcrm.privacy.models import ClientLevelState, EngineState, RecordLevelState

if TYPE_CHECKING:
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

__all__ = ["Recovery", "load_engine", "read_state", "recover_state"]

_STATE_ADAPTER: TypeAdapter[RecordLevelState | ClientLevelState] = TypeAdapter(EngineState)


def read_state(path: str | os.PathLike[str]) -> RecordLevelState | ClientLevelState:
    """Read and validate a state file written by ``RecordLevelDP.save``/``ClientLevelDP.save``.

    Raises:
        LedgerError: the file is missing, a folder, unreadable, or not a valid engine state.
    """
    path = Path(path)
    if path.is_dir():
        raise LedgerError(f"privacy engine state {path} is a folder, not a state file; give "
                          f"the file the engine's save() wrote")
    if not path.is_file():
        raise LedgerError(f"privacy engine state {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise LedgerError(f"privacy engine state {path}: cannot read it "
                          f"({error.strerror or error})") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise LedgerError(f"privacy engine state {path} is not UTF-8 text (byte "
                          f"0x{data[error.start]:02x} at offset {error.start}); it should be "
                          f"the JSON file the engine's save() wrote") from error
    try:
        return _STATE_ADAPTER.validate_json(text)
    except ValidationError as error:
        hint = ("; it looks like a privacy ledger (JSON lines of events): give the engine's "
                "state file (<participant>.state.json) instead, and the ledger with --ledger"
                if _looks_like_a_ledger(text) else "")
        raise LedgerError(f"privacy engine state {path} is "
                          f"{_validation_problem(error, 'not valid')}{hint}") from error


def _looks_like_a_ledger(text: str) -> bool:
    """Whether ``text`` starts with a line that reads as a ledger record."""
    from fedcrm.privacy.ledger import LedgerRecord

    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        LedgerRecord.model_validate_json(first)
    except ValidationError:
        return False
    return True


def load_engine(
    path: str | os.PathLike[str], *, ledger: LedgerLike = None
) -> RecordLevelDP | ClientLevelDP:
    """Restore whichever engine (record- or client-level) saved ``path``.

    Raises:
        LedgerError: the file is missing, invalid, or behind the ledger (see ``load``).
    """
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

    state = read_state(path)
    if isinstance(state, RecordLevelState):
        return RecordLevelDP._from_state(state, ledger, path)
    return ClientLevelDP._from_state(state, ledger, source=path)


class Recovery(BaseModel):
    """What :func:`recover_state` did to one state file."""

    model_config = ConfigDict(frozen=True)

    participant_id: str
    state_path: str
    ledger_path: str
    #: where the state file was before recovery (``None``: nothing to recover, untouched)
    backup: str | None
    steps_added: int
    rounds_before: int
    rounds_after: int
    epsilon_before: float
    epsilon_after: float


def recover_state(
    path: str | os.PathLike[str], *, ledger: str | os.PathLike[str] | None = None
) -> Recovery:
    """Bring a state file that is behind its ledger up to the ledger, after a crash.

    The ledger's ``round`` line is written before the state is saved, so a process stopped
    between the two leaves a state that :func:`load_engine` refuses as an older copy. The plan
    fixes the noise multiplier and sampling rate of every step, so the missing steps can be
    charged from the ledger: this appends them to the accountant history, takes the ledger's
    round count and exhaustion, checks the result against the ledger like a restore does, and
    only then replaces the file (the old one is kept next to it as ``<name>.behind-<time>``).
    The recovered ε is at least the ledger's; nothing is ever taken off the spend.

    Args:
        path: the state file.
        ledger: the ledger file (default: the one the state names).

    Raises:
        LedgerError: no file ledger, no line of the participant in it, another plan than the
            ledger's, or a history whose steps the plan's (σ, q) cannot reproduce.
    """
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

    path = Path(path)
    state = read_state(path)
    ledger_file = Path(ledger) if ledger is not None else (
        Path(state.ledger_path) if state.ledger_path else None)
    if ledger_file is None:
        raise LedgerError(f"privacy engine state {path}: recovery needs the ledger file it "
                          "was spending against, and the state names none; pass it with "
                          "ledger= (CLI: --ledger)")
    if ledger_file.resolve() == path.resolve():
        raise LedgerError(f"privacy engine state {path} is given as its own ledger; the ledger "
                          "is the JSON-lines file of spending events (--ledger LEDGER.jsonl)")
    if not ledger_file.is_file():
        given = "given" if ledger is not None else "the state names"
        what = "a folder" if ledger_file.is_dir() else "no such file"
        raise LedgerError(f"privacy engine state {path}: the ledger {given}, {ledger_file}, is "
                          f"{what}; recovery needs the ledger file the state was spending "
                          "against (ledger=, CLI: --ledger)")
    pid = state.plan.participant_id
    records = [r for r in read_ledger(ledger_file) if r.participant_id == pid]
    if not records:
        raise LedgerError(f"ledger {ledger_file} has no line of participant {pid!r}: it is not "
                          f"the ledger the state {path} was spending against")
    named = Path(state.ledger_path) if state.ledger_path else None
    if named is not None and named.is_file() and named.resolve() != ledger_file.resolve():
        # the ledger the state names still exists: it counts too (an old copy passed as
        # ledger= must not vouch for a state the real ledger has moved past)
        records += [r for r in read_ledger(named) if r.participant_id == pid]
        ledger_file = named
    plans = [r.plan for r in records if r.plan is not None]
    if any(plan != state.plan for plan in plans):
        raise LedgerError(f"privacy engine state {path} has another plan than the ledger "
                          f"{ledger_file} for {pid!r}: not a crash between two writes; restore "
                          f"the state of the ledger's plan")
    history = [tuple(entry) for entry in state.accountant.history]
    steps_before = total_steps(history)
    missing = max(r.total_steps for r in records) - steps_before
    rounds = max(state.rounds_completed, max(r.rounds_completed for r in records))
    exhausted = state.exhausted or any(r.event == LedgerEvent.BUDGET_EXHAUSTED for r in records)
    engine_type = RecordLevelDP if isinstance(state, RecordLevelState) else ClientLevelDP
    before = _epsilon(state)
    if missing <= 0 and rounds == state.rounds_completed and exhausted == state.exhausted:
        return Recovery(participant_id=pid, state_path=str(path), ledger_path=str(ledger_file),
                        backup=None, steps_added=0, rounds_before=state.rounds_completed,
                        rounds_after=rounds, epsilon_before=before, epsilon_after=before)
    if missing > 0:
        # every step of a plan runs at its σ and q (DP-SGD steps, or client-level rounds)
        history.append((state.plan.noise_multiplier, state.plan.sample_rate, missing))
    recovered = state.model_copy(update={
        "accountant": state.accountant.model_copy(update={"history": history}),
        "rounds_completed": rounds, "exhausted": exhausted, "open_round_steps": None,
        "saved_at": utc_now(), "ledger_path": str(ledger_file.resolve())})
    # the same check a restore makes, against the ledger (raises if still behind)
    engine = engine_type._from_state(recovered, str(ledger_file),  # type: ignore[arg-type]
                                     source=path)
    after = engine.get_epsilon()
    backup = path.with_name(f"{path.name}.behind-{utc_now():%Y%m%dT%H%M%SZ}")
    backup.write_bytes(path.read_bytes())
    write_state_atomically(path, recovered.model_dump_json(indent=2))
    return Recovery(participant_id=pid, state_path=str(path), ledger_path=str(ledger_file),
                    backup=str(backup), steps_added=max(missing, 0),
                    rounds_before=state.rounds_completed, rounds_after=rounds,
                    epsilon_before=before, epsilon_after=after)


def _epsilon(state: RecordLevelState | ClientLevelState) -> float:
    """ε of a saved state's history, computed without touching any ledger."""
    from fedcrm.privacy.client_level import ClientLevelDP
    from fedcrm.privacy.record_level import RecordLevelDP

    history = [tuple(entry) for entry in state.accountant.history]
    if isinstance(state, RecordLevelState):
        return RecordLevelDP(state.plan, ledger=PrivacyLedger(),
                             accountant_history=history).get_epsilon()  # type: ignore[arg-type]
    return ClientLevelDP(state.plan, ledger=PrivacyLedger(),
                         history=history).get_epsilon()  # type: ignore[arg-type]
