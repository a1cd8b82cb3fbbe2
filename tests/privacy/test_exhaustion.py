"""A participant whose next round would exceed its budget stops contributing, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fedcrm.errors import PrivacyBudgetExceeded
from fedcrm.privacy import (
    BudgetExhausted,
    LedgerEvent,
    RecordLevelDP,
    read_ledger,
    summarize_ledger,
)

from ._helpers import loader_for, logistic_model, separable_data, train_private_round

N, BATCH = 100, 10


def engine_for(participant_id: str, rounds: int, ledger: Path) -> RecordLevelDP:
    return RecordLevelDP.from_budget(
        participant_id,
        epsilon=1.0,
        delta=1e-3,
        n_samples=N,
        batch_size=BATCH,
        rounds=rounds,
        accountant="rdp",
        ledger=ledger,
    )


def test_exhausted_participant_raises_a_signal_with_its_id_and_numbers(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(N)
    engine = engine_for("org-small", rounds=2, ledger=ledger_path)
    model = logistic_model(4)
    train_private_round(engine, model, features, labels)
    train_private_round(engine, model, features, labels)

    assert not engine.can_afford_next_round()
    with pytest.raises(BudgetExhausted) as caught:
        engine.check_next_round()
    signal = caught.value
    assert isinstance(signal, PrivacyBudgetExceeded)
    assert signal.participant_id == "org-small"
    assert signal.epsilon_target == 1.0
    assert signal.delta == 1e-3
    assert signal.rounds_completed == 2
    assert signal.accountant == "rdp"
    assert signal.epsilon_spent == engine.get_epsilon() <= 1.0
    assert signal.epsilon_projected == engine.projected_epsilon(1) > 1.0
    message = str(signal)
    assert "'org-small' stops contributing" in message
    assert (
        f"ε={signal.epsilon_spent:.4g}" in message
        and f"ε={signal.epsilon_projected:.4g}" in message
    )

    # wrap refuses too, and nothing is charged
    steps = engine.total_steps
    with pytest.raises(BudgetExhausted):
        engine.wrap(
            model, torch.optim.SGD(model.parameters(), lr=0.1), loader_for(features, labels, BATCH)
        )
    assert engine.total_steps == steps and not engine.round_open

    # exactly one ledger line says so, however often the trainer asks
    records = read_ledger(ledger_path)
    exhausted = [r for r in records if r.event == LedgerEvent.BUDGET_EXHAUSTED]
    assert len(exhausted) == 1
    assert exhausted[0].participant_id == "org-small"
    assert exhausted[0].epsilon_projected == pytest.approx(signal.epsilon_projected)
    assert "stops contributing" in exhausted[0].message
    (summary,) = summarize_ledger(ledger_path)
    assert summary.status == "exhausted" and summary.anomalies == []


def test_trainer_loop_drops_exhausted_participants_and_keeps_the_others(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(N)
    engines = {
        "org-a": engine_for("org-a", rounds=1, ledger=ledger_path),
        "org-b": engine_for("org-b", rounds=3, ledger=ledger_path),
    }
    models = {name: logistic_model(4) for name in engines}
    dropped: dict[str, BudgetExhausted] = {}
    contributors_per_round = []
    for _ in range(4):
        contributors = []
        for name, engine in engines.items():
            if name in dropped:
                continue
            try:
                train_private_round(engine, models[name], features, labels)
            except BudgetExhausted as signal:
                dropped[name] = signal
                continue
            contributors.append(name)
        contributors_per_round.append(contributors)

    assert contributors_per_round == [["org-a", "org-b"], ["org-b"], ["org-b"], []]
    assert dropped["org-a"].rounds_completed == 1
    assert dropped["org-b"].rounds_completed == 3
    for engine in engines.values():
        assert engine.get_epsilon() <= engine.plan.epsilon
    summaries = {s.participant_id: s for s in summarize_ledger(ledger_path)}
    assert summaries["org-a"].rounds_completed == 1 and summaries["org-a"].status == "exhausted"
    assert summaries["org-b"].rounds_completed == 3 and summaries["org-b"].status == "exhausted"


def test_exhaustion_survives_a_restart(tmp_path: Path) -> None:
    engine = engine_for("org-a", rounds=1, ledger=tmp_path / "ledger.jsonl")
    features, labels = separable_data(N)
    train_private_round(engine, logistic_model(4), features, labels)
    with pytest.raises(BudgetExhausted):
        engine.check_next_round()
    engine.save(tmp_path / "state.json")
    restored = RecordLevelDP.load(tmp_path / "state.json")
    assert restored.exhausted and not restored.can_afford_next_round()
    with pytest.raises(BudgetExhausted):
        restored.check_next_round()
