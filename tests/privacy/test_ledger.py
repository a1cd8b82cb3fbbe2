"""The ledger is append-only JSON lines, validated on read, and summarised for auditors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fedcrm.privacy import (
    LedgerError,
    LedgerEvent,
    LedgerRecord,
    PrivacyLedger,
    RecordLevelDP,
    read_ledger,
    summarize_ledger,
)

from ._helpers import logistic_model, separable_data, train_private_round


def record(
    event: LedgerEvent, epsilon: float, minute: int, participant: str = "org-a"
) -> LedgerRecord:
    return LedgerRecord(
        timestamp=datetime(2026, 1, 1, 12, minute, tzinfo=UTC),
        participant_id=participant,
        event=event,
        mode="record",
        accountant="prv",
        epsilon_spent=epsilon,
        delta=1e-5,
        epsilon_target=2.0,
        epsilon_remaining=max(0.0, 2.0 - epsilon),
        rounds_completed=minute,
        total_steps=10 * minute,
    )


def test_every_line_carries_what_an_auditor_needs(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(80)
    engine = RecordLevelDP.from_budget(
        "org-a",
        epsilon=2.0,
        delta=1e-3,
        n_samples=80,
        batch_size=8,
        rounds=2,
        accountant="rdp",
        ledger=ledger_path,
    )
    spend = train_private_round(engine, logistic_model(4), features, labels)
    plan_line, round_line = read_ledger(ledger_path)
    for line in (plan_line, round_line):
        assert line.timestamp.tzinfo is not None
        assert abs(datetime.now(UTC) - line.timestamp) < timedelta(minutes=5)
        assert line.participant_id == "org-a"
        assert line.accountant == "rdp" and line.delta == 1e-3 and line.mode == "record"
    assert plan_line.event == LedgerEvent.PLAN and plan_line.epsilon_spent == 0.0
    assert plan_line.plan == engine.plan  # the full plan is on record
    assert round_line.event == LedgerEvent.ROUND
    assert round_line.epsilon_spent == spend.epsilon_spent
    assert round_line.steps_in_round == engine.plan.steps_per_round
    assert round_line.epsilon_remaining == pytest.approx(2.0 - spend.epsilon_spent)
    (summary,) = summarize_ledger(ledger_path)
    assert summary.planned_rounds == 2 and summary.rounds_completed == 1
    assert summary.status == "active" and summary.epsilon_spent == spend.epsilon_spent


def test_appending_never_rewrites_earlier_lines(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1))
    first = path.read_bytes()
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.8, 2))  # a new process, same file
    second = path.read_bytes()
    assert second.startswith(first) and second.count(b"\n") == 2
    assert [r.epsilon_spent for r in read_ledger(path)] == [0.5, 0.8]


def test_a_torn_line_is_left_alone_and_noted_and_appends_go_on(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1))
    with open(path, "ab") as handle:
        handle.write(b'{"timestamp": "2026-01-01T12:02:00Z", "partic')  # writer died mid-line
    torn = path.read_bytes()
    ledger = PrivacyLedger(path)
    ledger.append(record(LedgerEvent.ROUND, 0.8, 3))
    # the next append made the torn line a middle line, and every later read (and, with the
    # append checks, every append of every participant) refused the whole ledger
    ledger.append(record(LedgerEvent.ROUND, 0.3, 1, participant="org-b"))
    assert path.read_bytes().startswith(torn)
    notes: list[str] = []
    assert [r.epsilon_spent for r in read_ledger(path, notes)] == [0.5, 0.8, 0.3]
    assert len(notes) == 1 and "line 2 of" in notes[0] and "cut short" in notes[0]
    assert [r.epsilon_spent for r in ledger.records()] == [0.5, 0.8, 0.3]


def test_appends_read_only_what_is_new_and_see_a_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = PrivacyLedger(path)
    for minute in range(1, 4):
        ledger.append(record(LedgerEvent.ROUND, 0.1 * minute, minute))
    assert [r.rounds_completed for r in ledger.records()] == [1, 2, 3]
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 4))  # another process
    assert [r.rounds_completed for r in ledger.records()] == [1, 2, 3, 4]
    edited = tmp_path / "edited.jsonl"  # an editor saves a new file and renames it over
    edited.write_text(path.read_text().replace('"rounds_completed":2', '"rounds_completed":7'))
    edited.replace(path)
    assert [r.rounds_completed for r in ledger.records()] == [1, 7, 3, 4]
    path.write_text(path.read_text().splitlines(keepends=True)[0])  # cut back in place
    assert [r.rounds_completed for r in ledger.records()] == [1]


def test_invalid_lines_and_missing_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        read_ledger(tmp_path / "nope.jsonl")
    path = tmp_path / "ledger.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1))
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"participant_id": "org-a", "event": "round"}\n')
    with pytest.raises(LedgerError, match="line 2"):
        read_ledger(path)


def test_summary_flags_anomalies() -> None:
    records = [
        record(LedgerEvent.ROUND, 1.0, 1),
        record(LedgerEvent.ROUND, 0.7, 2),  # ε went down
        record(LedgerEvent.BUDGET_EXHAUSTED, 1.9, 3),
        record(LedgerEvent.ROUND, 2.5, 4),  # after exhaustion, and above target
        record(LedgerEvent.ROUND, 0.3, 1, participant="org-b"),
    ]
    summary_a, summary_b = summarize_ledger(records)
    assert summary_a.participant_id == "org-a" and summary_a.events == 4
    assert summary_a.status == "exhausted"
    assert len(summary_a.anomalies) == 3
    assert "ε went down from 1 to 0.7" in summary_a.anomalies[0]
    assert any("exceeds the target 2" in a for a in summary_a.anomalies)
    assert any("after the budget was declared exhausted" in a for a in summary_a.anomalies)
    assert summary_b.anomalies == [] and summary_b.status == "active"


def test_in_memory_ledger_keeps_records() -> None:
    ledger = PrivacyLedger()
    ledger.append(record(LedgerEvent.ROUND, 0.5, 1))
    assert [r.epsilon_spent for r in ledger.records()] == [0.5]
    assert ledger.path is None


def test_a_cut_short_last_line_is_left_out_and_noted_not_fatal(tmp_path: Path) -> None:
    # a crash mid-write made every tool refuse the whole shared ledger, every participant
    path = tmp_path / "ledger.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1))
    with open(path, "ab") as handle:
        handle.write(b'{"timestamp": "2026-01-01T12:02:00Z", "partic')
    assert [r.epsilon_spent for r in read_ledger(path)] == [0.5]
    (summary,) = summarize_ledger(path)
    assert any("line 2 of" in a and "cut short" in a for a in summary.anomalies)


def test_a_record_with_infinite_epsilon_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1))
    before = path.read_bytes()
    with pytest.raises(LedgerError, match="ε is not finite"):
        PrivacyLedger(path).append(record(LedgerEvent.ROUND, float("inf"), 2))
    assert path.read_bytes() == before


def test_summary_flags_repeated_rounds_and_spellings_of_one_id() -> None:
    records = [record(LedgerEvent.ROUND, 0.5, 1), record(LedgerEvent.ROUND, 0.8, 2),
               record(LedgerEvent.ROUND, 0.8, 2),  # a second engine's round 2
               record(LedgerEvent.ROUND, 0.3, 1, participant="ORG-A ")]
    summary, respelt = summarize_ledger(records)
    assert any("round 2 recorded again" in a for a in summary.anomalies)
    assert any("'ORG-A ' is the same id spelt differently" in a for a in summary.anomalies)
    assert any("'org-a' is the same id" in a for a in respelt.anomalies)


def test_a_line_cut_inside_a_character_and_a_last_line_without_newline(tmp_path: Path) -> None:
    # a cut inside "ü" was "not UTF-8 text" for every later append; a whole last line whose
    # newline was lost was left out by the appenders' reader (read_ledger counted it)
    path = tmp_path / "ledger.jsonl"
    PrivacyLedger(path).append(record(LedgerEvent.ROUND, 0.5, 1, participant="Zürich"))
    whole = record(LedgerEvent.ROUND, 0.6, 2, participant="Zürich").model_dump_json(
        exclude_none=True).encode("utf-8")
    cut = whole[: whole.index("ü".encode()) + 1]
    with open(path, "ab") as handle:
        handle.write(cut)
    ledger = PrivacyLedger(path)
    ledger.append(record(LedgerEvent.ROUND, 0.7, 3, participant="Zürich"))
    assert [r.rounds_completed for r in ledger.records()] == [1, 3]
    assert [r.rounds_completed for r in read_ledger(path)] == [1, 3]
    with open(path, "ab") as handle:
        handle.write(record(LedgerEvent.ROUND, 0.8, 4, participant="Zürich").model_dump_json(
            exclude_none=True).encode("utf-8"))  # no newline
    assert [r.rounds_completed for r in ledger.records()] == [1, 3, 4]
    assert [r.rounds_completed for r in PrivacyLedger(path).records()] == [1, 3, 4]
    ledger.append(record(LedgerEvent.ROUND, 0.9, 5, participant="Zürich"))
    assert [r.rounds_completed for r in ledger.records()] == [1, 3, 4, 5]
    assert len(ledger.notes) == 1  # the cut line, noted once however often it is read


def test_records_from_several_threads_are_each_complete(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "ledger.jsonl"
    path.write_text("".join(record(LedgerEvent.ROUND, 0.1, 1, participant=f"o{i}")
                            .model_dump_json(exclude_none=True) + "\n" for i in range(500)))
    ledger, counts = PrivacyLedger(path), []
    barrier = threading.Barrier(4)

    def read() -> None:
        barrier.wait()
        counts.append(len(ledger.records()))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == [500] * 4

