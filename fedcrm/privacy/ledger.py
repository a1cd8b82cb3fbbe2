"""The privacy ledger: an append-only JSON-lines file an auditor can read.

One line per event (plan, round, budget exhausted, restart, …), each a :class:`LedgerRecord`
with a UTC timestamp, the participant, the event, ε spent so far at the participant's δ and
the accountant that computed it. Lines are only ever appended (the file is opened in append
mode, never rewritten), so earlier lines stay byte-identical across rounds and restarts; many
participants may share one file.
"""

from __future__ import annotations

import math
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from fedcrm.privacy.budget import LedgerError
from fedcrm.privacy.models import Plan

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; an append is still one line, unlocked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LedgerEvent",
    "LedgerRecord",
    "LedgerSummary",
    "PrivacyLedger",
    "read_ledger",
    "summarize_ledger",
]

# ε values are recomputed by numerical accountants; a decrease smaller than this between two
# events of one participant is rounding, not an anomaly.
_EPSILON_SLACK = 1e-9


class LedgerEvent(StrEnum):
    """What a ledger line records."""

    #: the budget and how it will be spent (the plan is attached)
    PLAN = "plan"
    #: one round was trained (record level) or released (client level)
    ROUND = "round"
    #: a round was open when the state was saved and the process stopped; its steps are charged
    ROUND_INTERRUPTED = "round_interrupted"
    #: the training loop asked for more DP-SGD steps than the round's plan; the step was refused
    STEP_LIMIT = "step_limit"
    #: the next round would exceed the budget; the participant stops contributing
    BUDGET_EXHAUSTED = "budget_exhausted"
    #: the engine was restored from saved state (e.g. after a restart)
    RESTORED = "restored"


class LedgerRecord(BaseModel):
    """One line of the ledger."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestamp: AwareDatetime
    participant_id: str = Field(min_length=1)
    event: LedgerEvent
    mode: Literal["record", "client"]
    accountant: str
    epsilon_spent: float = Field(ge=0, description="ε spent so far at `delta`")
    delta: float = Field(gt=0, lt=1)
    epsilon_target: float = Field(gt=0)
    epsilon_remaining: float = Field(ge=0)
    rounds_completed: int = Field(ge=0)
    total_steps: int = Field(ge=0, description="DP-SGD steps (record) or rounds (client) so far")
    steps_in_round: int | None = None
    epsilon_projected: float | None = Field(
        default=None, description="ε after one more round (budget_exhausted events)"
    )
    plan: Plan | None = None
    message: str = ""


class PrivacyLedger:
    """Appends :class:`LedgerRecord` lines to ``path`` (or keeps them in memory if ``None``).

    Every append opens the file in append mode, writes one line, flushes and fsyncs, so a
    crash loses at most the line being written and never touches earlier ones.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: list[LedgerRecord] = []
        # what has been read of the file: its identity, the bytes and lines read, their
        # records (appends read only the new tail; a ledger of 50,000 lines took 1 s a round)
        self._read_key: tuple[int, int] | None = None
        self._read_bytes = 0
        self._read_lines = 0
        self._read_records: list[LedgerRecord] = []
        self._read_end = b""  # the last bytes read: a file rewritten in place is read anew
        #: cut-short lines met while reading (see :func:`read_ledger`)
        self.notes: list[str] = []
        self._thread_lock = threading.Lock()

    def append(self, record: LedgerRecord,
               check: Callable[[list[LedgerRecord]], None] | None = None) -> None:
        """Append one record (one line). ``check`` is called first with every record already
        in the ledger, under an exclusive lock on the file (POSIX ``flock``; Windows has no
        lock), and may raise to refuse the append (two engines of one participant, two plans
        made at once)."""
        numbers = (record.epsilon_spent, record.epsilon_remaining, record.epsilon_projected)
        if not all(math.isfinite(n) for n in numbers if n is not None):
            # JSON has no infinity: the line would be written with null and then refused by
            # read_ledger, locking every participant of a shared ledger out of it
            raise LedgerError(
                f"participant {record.participant_id!r}: ε is not finite "
                f"({record.epsilon_spent}) at the {record.event} event; nothing was written. A "
                f"noise multiplier of 0 (or far below the plan's) gives no privacy guarantee")
        line = record.model_dump_json(exclude_none=True) + "\n"
        if self.path is None:
            if check is not None:
                check(self.records())
            self._memory.append(record)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            if check is not None:
                check(self.records())
            # If a previous writer died mid-line, start on a fresh line rather than gluing our
            # record onto the torn one (which readers then leave out and note).
            if handle.seek(0, os.SEEK_END) > 0 and not _ends_with_newline(self.path):
                handle.write(b"\n")
            handle.write(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def records(self) -> list[LedgerRecord]:
        """All records in this ledger (from the file when it has one; lines read before are
        not read again while the file only grows). Safe to call from several threads."""
        if self.path is None:
            return list(self._memory)
        with self._thread_lock:
            return self._read_new()

    def _read_new(self) -> list[LedgerRecord]:
        assert self.path is not None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        key = (stat.st_dev, stat.st_ino)
        with open(self.path, "rb") as handle:
            same = True
            if self._read_bytes:
                handle.seek(self._read_bytes - len(self._read_end))
                same = handle.read(len(self._read_end)) == self._read_end
            if key != self._read_key or stat.st_size < self._read_bytes or not same:
                self._read_key, self._read_bytes, self._read_lines = key, 0, 0
                self._read_records, self.notes, self._read_end = [], [], b""
            handle.seek(self._read_bytes)
            tail = handle.read()
        complete = tail[: tail.rfind(b"\n") + 1]
        lines = complete.splitlines(keepends=True)
        self._read_records.extend(_parse_lines(self.path, lines, self._read_lines, self.notes))
        rest = tail[len(complete):]
        if rest.strip():
            # a last line without its newline: a whole record (a crash that lost only the
            # newline, or an edited file) counts; one still being written, or cut short,
            # waits for the next read (and read_ledger notes it)
            try:
                self._read_records.append(LedgerRecord.model_validate_json(rest))
                lines.append(rest)
                complete = tail
            except ValueError:  # pydantic's ValidationError, invalid UTF-8 included
                pass
        self._read_bytes += len(complete)
        self._read_lines += len(lines)
        if complete:
            self._read_end = complete[-64:]
        return list(self._read_records)

    def __repr__(self) -> str:
        return f"PrivacyLedger({str(self.path) if self.path else 'in memory'!r})"


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def read_ledger(path: str | os.PathLike[str],
                notes: list[str] | None = None) -> list[LedgerRecord]:
    """Read and validate every record of a ledger file, in file order.

    A line cut short by an interrupted write (a crash or a full disk mid-line: the start of a
    JSON object that ends too soon) recorded nothing that was spent (a round's update leaves
    only after its line is written), so it is left out, and described in ``notes`` when
    given; any other bad line is an error.

    Raises:
        LedgerError: the file is missing, a folder or unreadable, or a line is not UTF-8 text
            or not a valid record (names the line).
    """
    path = Path(path)
    if path.is_dir():
        raise LedgerError(f"privacy ledger {path} is a folder, not a ledger file; give the "
                          f"JSON-lines file the engines append to")
    if not path.is_file():
        raise LedgerError(f"privacy ledger {path} does not exist")
    try:
        with open(path, "rb") as handle:
            lines = handle.readlines()
    except OSError as error:
        raise LedgerError(f"privacy ledger {path}: cannot read it "
                          f"({error.strerror or error})") from error
    return _parse_lines(path, lines, 0, notes if notes is not None else [])


def _parse_lines(path: Path, lines: Sequence[bytes], before: int,
                 notes: list[str]) -> list[LedgerRecord]:
    """The records of ``lines`` (the file's lines after its first ``before``)."""
    records: list[LedgerRecord] = []
    for line_number, raw_line in enumerate(lines, start=before + 1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as error:
            if _cut_inside_a_character(raw_line):
                # cut inside a character ("ε", "ü") by an interrupted write
                notes.append(f"line {line_number} of {path} is cut short (inside a "
                             "character), a write that was interrupted; it was left out")
                continue
            raise LedgerError(
                f"privacy ledger {path}, line {line_number}: not UTF-8 text (byte "
                f"0x{raw_line[error.start]:02x} at offset {error.start} of the line); a ledger "
                f"is the JSON-lines file fedcrm writes"
            ) from error
        if line_number == 1:
            line = line.removeprefix("\ufeff")  # a BOM from an editor that saved the file
        if not line.strip():
            continue
        try:
            records.append(LedgerRecord.model_validate_json(line.rstrip("\r\n")))
        except ValidationError as error:
            problem = _validation_problem(error, "not a valid ledger record", one_line=True)
            if line.lstrip().startswith("{") and "EOF while parsing" in problem:
                notes.append(f"line {line_number} of {path} is cut short ({problem}), a write "
                             "that was interrupted; it was left out")
                continue
            raise LedgerError(
                f"privacy ledger {path}, line {line_number}: {problem}. The ledger is "
                "append-only: restore it from a copy, or remove that line only if you know "
                "it records nothing that was spent") from error
    return records


def _cut_inside_a_character(raw_line: bytes) -> bool:
    """A JSON object's start whose UTF-8 ends inside a character (the write stopped there)."""
    body = raw_line.rstrip(b"\r\n")
    if not body.lstrip().startswith(b"{"):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.reason == "unexpected end of data" and error.end == len(body)
    return False


def _validation_problem(error: ValidationError, invalid: str, *, one_line: bool = False) -> str:
    """The first problem pydantic found, in words: ``not valid JSON (…)``, ``not a JSON
    object``, or ``<invalid> (<field>: <message>)``. With ``one_line`` (a ledger line), a JSON
    position says only the column, as the caller names the line."""
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        reason = first["msg"].removeprefix("Invalid JSON: ")
        if one_line:
            reason = re.sub(r" at line 1 column (\d+)$", r" at column \1", reason)
        return f"not valid JSON ({reason})"
    if first["type"] in ("model_type", "dict_type"):
        return "not a JSON object"
    where = ".".join(str(part) for part in first["loc"])
    return f"{invalid} ({where}: {first['msg']})" if where else f"{invalid} ({first['msg']})"


class LedgerSummary(BaseModel):
    """Where one participant stands, as an auditor reads it from the ledger."""

    model_config = ConfigDict(frozen=True)

    participant_id: str
    mode: Literal["record", "client"]
    accountant: str
    epsilon_target: float
    delta: float
    planned_rounds: int | None
    rounds_completed: int
    epsilon_spent: float
    epsilon_remaining: float
    status: Literal["active", "exhausted"]
    first_event_at: datetime
    last_event_at: datetime
    events: int
    #: inconsistencies an auditor should look at (ε decreasing, ε above target, …)
    anomalies: list[str]


def summarize_ledger(
    records: Iterable[LedgerRecord] | str | os.PathLike[str],
) -> list[LedgerSummary]:
    """One :class:`LedgerSummary` per participant, in order of first appearance.

    Accepts records or a ledger path. Flags anomalies rather than hiding them: ε that went
    down between events, ε spent above the target, or a round recorded after the budget was
    declared exhausted.
    """
    notes: list[str] = []
    if isinstance(records, str | os.PathLike):
        records = read_ledger(records, notes)
    by_participant: dict[str, list[LedgerRecord]] = {}
    for record in records:
        by_participant.setdefault(record.participant_id, []).append(record)
    spellings: dict[str, list[str]] = {}
    for participant_id in by_participant:
        spellings.setdefault(participant_key(participant_id), []).append(participant_id)
    summaries = []
    for participant_id, participant_records in by_participant.items():
        summary = _summarize_one(participant_records)
        same = [other for other in spellings[participant_key(participant_id)]
                if other != participant_id]
        extra = [*notes, *(f"{other!r} is the same id spelt differently (case, spaces or "
                           "Unicode form): its budget is counted apart" for other in same)]
        summaries.append(summary.model_copy(update={"anomalies": [*summary.anomalies, *extra]})
                         if extra else summary)
    return summaries


def participant_key(participant_id: str) -> str:
    """What two spellings of one participant id share: Unicode NFC form, case, outer spaces
    (``"Zürich "``, ``"zürich"`` and a decomposed ``"Zürich"`` are one org)."""
    return unicodedata.normalize("NFC", participant_id).strip().casefold()


def _summarize_one(records: Sequence[LedgerRecord]) -> LedgerSummary:
    last = records[-1]
    anomalies: list[str] = []
    planned_rounds = None
    exhausted = False
    previous_epsilon = 0.0
    last_round = 0
    spent = False
    for record in records:
        if record.plan is not None:
            planned_rounds = record.plan.rounds
            if spent:
                anomalies.append(f"{record.timestamp.isoformat()}: a new plan after budget was "
                                 "spent (its accountant restarted at 0)")
        if record.event == LedgerEvent.ROUND:
            if record.rounds_completed <= last_round:
                anomalies.append(
                    f"{record.timestamp.isoformat()}: round {record.rounds_completed} recorded "
                    f"again (after round {last_round}): two engines of one participant spent "
                    "its budget, and ε counts one of them")
            last_round = max(last_round, record.rounds_completed)
        spent = spent or record.total_steps > 0
        if record.epsilon_spent + _EPSILON_SLACK < previous_epsilon:
            anomalies.append(
                f"{record.timestamp.isoformat()}: ε went down from {previous_epsilon:.6g} to "
                f"{record.epsilon_spent:.6g} ({record.event})"
            )
        previous_epsilon = max(previous_epsilon, record.epsilon_spent)
        if record.epsilon_spent > record.epsilon_target + _EPSILON_SLACK:
            anomalies.append(
                f"{record.timestamp.isoformat()}: ε spent {record.epsilon_spent:.6g} exceeds "
                f"the target {record.epsilon_target:.6g}"
            )
        if record.event == LedgerEvent.ROUND and exhausted:
            anomalies.append(
                f"{record.timestamp.isoformat()}: a round was recorded after the budget was "
                f"declared exhausted"
            )
        if record.event == LedgerEvent.BUDGET_EXHAUSTED:
            exhausted = True
    return LedgerSummary(
        participant_id=last.participant_id,
        mode=last.mode,
        accountant=last.accountant,
        epsilon_target=last.epsilon_target,
        delta=last.delta,
        planned_rounds=planned_rounds,
        rounds_completed=last.rounds_completed,
        epsilon_spent=last.epsilon_spent,
        epsilon_remaining=last.epsilon_remaining,
        status="exhausted" if exhausted else "active",
        first_event_at=records[0].timestamp,
        last_event_at=last.timestamp,
        events=len(records),
        anomalies=anomalies,
    )


def utc_now() -> datetime:
    """Current time, timezone-aware UTC (ledger timestamps are always UTC)."""
    return datetime.now(UTC)
