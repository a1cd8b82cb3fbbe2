"""State survives a restart: same ε from the restored accountant, ledger appended not rewritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from opacus.accountants import create_accountant

from fedcrm.errors import ConfigError
from fedcrm.privacy import (
    BudgetExhausted,
    ClientLevelDP,
    LedgerError,
    LedgerEvent,
    PrivacyLedger,
    RecordLevelDP,
    load_engine,
    read_ledger,
    read_state,
    recover_state,
)

from ._helpers import loader_for, logistic_model, separable_data, train_private_round

N, BATCH = 120, 12


def new_engine(ledger: Path) -> RecordLevelDP:
    return RecordLevelDP.from_budget(
        "org-a",
        epsilon=2.0,
        delta=1e-3,
        n_samples=N,
        batch_size=BATCH,
        rounds=3,
        local_epochs=1,
        accountant="rdp",
        ledger=ledger,
    )


def client_engine(pid: str, ledger: Path, *, rounds: int = 6) -> ClientLevelDP:
    """A client-level engine for (3, 1e-3) over ``rounds`` rounds, 10 of 20 participants."""
    return ClientLevelDP.from_budget(pid, epsilon=3.0, delta=1e-3, rounds=rounds,
                                     total_participants=20, participants_in_sum=10,
                                     ledger=ledger)


def test_restart_restores_epsilon_and_appends_to_the_same_ledger(tmp_path: Path) -> None:
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "org-a.state.json"
    features, labels = separable_data(N)
    model = logistic_model(4)

    first = new_engine(ledger_path)
    train_private_round(first, model, features, labels)
    train_private_round(first, model, features, labels)
    first.save(state_path)
    epsilon_before = first.get_epsilon()
    history_before = list(first.accountant.history)
    ledger_bytes_before = ledger_path.read_bytes()
    del first  # the process "restarts"

    restored = RecordLevelDP.load(state_path)
    assert restored.get_epsilon() == epsilon_before
    assert restored.accountant.history == history_before
    assert restored.rounds_completed == 2
    assert restored.ledger.path == ledger_path  # the state remembers its ledger

    spend = train_private_round(restored, model, features, labels)
    assert spend.round_index == 3

    ledger_bytes_after = ledger_path.read_bytes()
    assert ledger_bytes_after.startswith(ledger_bytes_before)  # earlier lines byte-identical
    new_events = [
        json.loads(line)["event"]
        for line in ledger_bytes_after[len(ledger_bytes_before) :].splitlines()
    ]
    assert new_events == ["restored", "round"]
    assert [r.event for r in read_ledger(ledger_path)] == [
        LedgerEvent.PLAN,
        LedgerEvent.ROUND,
        LedgerEvent.ROUND,
        LedgerEvent.RESTORED,
        LedgerEvent.ROUND,
    ]

    # ε after the restart is ε of one accountant fed all three rounds' steps
    reference = create_accountant("rdp")
    for _ in range(3 * restored.plan.steps_per_round):
        reference.step(
            noise_multiplier=restored.plan.noise_multiplier, sample_rate=restored.plan.sample_rate
        )
    assert restored.accountant.history == reference.history
    assert restored.get_epsilon() == pytest.approx(reference.get_epsilon(1e-3), rel=1e-12)
    assert restored.get_epsilon() == restored.plan.epsilon_planned


def test_state_file_holds_the_opacus_accountant_state(tmp_path: Path) -> None:
    features, labels = separable_data(N)
    engine = new_engine(tmp_path / "ledger.jsonl")
    train_private_round(engine, logistic_model(4), features, labels)
    engine.save(tmp_path / "state.json")
    saved = json.loads((tmp_path / "state.json").read_text())
    opacus_state = engine.accountant.state_dict()
    assert saved["accountant"]["mechanism"] == opacus_state["mechanism"] == "rdp"
    assert [tuple(entry) for entry in saved["accountant"]["history"]] == opacus_state["history"]
    assert saved["plan"]["noise_multiplier"] == engine.plan.noise_multiplier


def test_saving_mid_round_keeps_the_steps_charged(tmp_path: Path) -> None:
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    features, labels = separable_data(N)
    engine = new_engine(ledger_path)
    model = logistic_model(4)
    module, optimizer, loader = engine.wrap(
        model, torch.optim.SGD(model.parameters(), lr=0.1), loader_for(features, labels, BATCH)
    )
    for step, (batch_features, batch_labels) in enumerate(loader):
        if step == 4:
            break
        optimizer.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(
            module(batch_features).reshape(-1), batch_labels
        ).backward()
        optimizer.step()
    engine.save(state_path)  # crash here

    restored = RecordLevelDP.load(state_path)
    assert restored.total_steps == 4
    assert restored.get_epsilon() == engine.get_epsilon() > 0
    assert not restored.round_open
    events = [r.event for r in read_ledger(ledger_path)]
    assert events[-2:] == [LedgerEvent.ROUND_INTERRUPTED, LedgerEvent.RESTORED]


def test_client_level_engine_survives_a_restart(tmp_path: Path) -> None:
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    engine = client_engine("org-b", ledger_path)
    for _ in range(2):
        engine.begin_round()
        engine.privatize_update(torch.ones(5))
        engine.record_round()
    engine.save(state_path)
    before = ledger_path.read_bytes()

    restored = load_engine(state_path)
    assert isinstance(restored, ClientLevelDP)
    assert restored.get_epsilon() == engine.get_epsilon()
    assert restored.history == engine.history == [(engine.plan.noise_multiplier, 1.0, 2)]
    restored.begin_round()
    restored.record_round()
    assert ledger_path.read_bytes().startswith(before)
    assert restored.rounds_completed == 3


def test_load_engine_dispatches_on_the_saved_mode(tmp_path: Path) -> None:
    engine = new_engine(tmp_path / "ledger.jsonl")
    engine.save(tmp_path / "state.json")
    assert isinstance(load_engine(tmp_path / "state.json"), RecordLevelDP)
    with pytest.raises(LedgerError, match="record-level engine state, not client-level"):
        ClientLevelDP.load(tmp_path / "state.json")


def test_a_corrupt_or_missing_state_is_reported(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="does not exist"):
        RecordLevelDP.load(tmp_path / "missing.json")
    engine = new_engine(tmp_path / "ledger.jsonl")
    engine.save(tmp_path / "state.json")
    saved = json.loads((tmp_path / "state.json").read_text())
    saved["plan"]["epsilon"] = -1
    (tmp_path / "state.json").write_text(json.dumps(saved))
    with pytest.raises(LedgerError, match=r"state.json is not valid \(record.plan.epsilon"):
        RecordLevelDP.load(tmp_path / "state.json")


def test_planning_again_instead_of_restoring_is_refused(tmp_path: Path) -> None:
    """A restart that re-plans would reset ε to zero while the data was already used."""
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(N)
    engine = new_engine(ledger_path)
    train_private_round(engine, logistic_model(4), features, labels)
    before = ledger_path.read_bytes()
    with pytest.raises(LedgerError, match=r"already has 2 event\(s\) for participant 'org-a'"):
        new_engine(ledger_path)
    with pytest.raises(LedgerError, match="load"):
        ClientLevelDP.from_budget(
            "org-a",
            epsilon=1.0,
            delta=1e-3,
            rounds=2,
            total_participants=10,
            participants_in_sum=5,
            ledger=ledger_path,
        )
    assert ledger_path.read_bytes() == before


def test_an_older_copy_of_the_state_is_refused(tmp_path: Path) -> None:
    """Restoring last night's backup after later rounds would spend those rounds' ε again."""
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    backup_path = tmp_path / "backup.json"
    features, labels = separable_data(N)
    model = logistic_model(4)
    engine = new_engine(ledger_path)
    train_private_round(engine, model, features, labels)
    engine.save(backup_path)
    train_private_round(engine, model, features, labels)
    engine.save(state_path)
    steps = engine.plan.steps_per_round
    before = ledger_path.read_bytes()

    with pytest.raises(LedgerError) as refused:
        RecordLevelDP.load(backup_path)
    message = str(refused.value)
    assert str(backup_path) in message and str(ledger_path) in message
    assert f"total_steps={steps} (ledger: {2 * steps})" in message
    assert "rounds_completed=1 (ledger: 2)" in message
    assert f"(ledger: {engine.get_epsilon():.6g})" in message and "'org-a'" in message
    with pytest.raises(LedgerError, match="total_steps"):
        load_engine(backup_path)
    assert ledger_path.read_bytes() == before  # nothing appended for a refused restore

    # the newest state still restores and continues
    restored = RecordLevelDP.load(state_path)
    assert restored.get_epsilon() == engine.get_epsilon()
    train_private_round(restored, model, features, labels)
    assert restored.rounds_completed == 3
    # and once it has, the state it was restored from is behind the ledger too
    with pytest.raises(LedgerError, match="rounds_completed=2 \\(ledger: 3\\)"):
        RecordLevelDP.load(state_path)


def test_an_edited_state_is_refused(tmp_path: Path) -> None:
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    features, labels = separable_data(N)
    engine = new_engine(ledger_path)
    train_private_round(engine, logistic_model(4), features, labels)
    engine.save(state_path)
    saved = json.loads(state_path.read_text())

    # same steps, a larger σ in the history: less ε than the ledger recorded
    quieter = json.loads(json.dumps(saved))
    sigma, rate, count = quieter["accountant"]["history"][0]
    quieter["accountant"]["history"] = [[sigma * 2, rate, count]]
    state_path.write_text(json.dumps(quieter))
    with pytest.raises(LedgerError, match=r"ε spent [0-9.]+ \(ledger: [0-9.]+\)"):
        RecordLevelDP.load(state_path)

    # a larger budget than the one planned
    richer = json.loads(json.dumps(saved))
    richer["plan"]["epsilon"] = 20.0
    state_path.write_text(json.dumps(richer))
    with pytest.raises(LedgerError, match=r"plan epsilon=20.0 \(ledger: 2.0\)"):
        RecordLevelDP.load(state_path)

    state_path.write_text(json.dumps(saved))
    assert RecordLevelDP.load(state_path).get_epsilon() == engine.get_epsilon()


def test_a_state_saved_before_the_budget_ran_out_is_refused(tmp_path: Path) -> None:
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    engine = client_engine("org-b", ledger_path, rounds=2)
    for _ in range(2):
        engine.begin_round()
        engine.record_round()
    engine.save(state_path)
    with pytest.raises(BudgetExhausted):
        engine.begin_round()  # writes budget_exhausted to the ledger, not to the state file

    with pytest.raises(LedgerError, match="exhausted=false \\(ledger: a budget_exhausted event\\)"):
        ClientLevelDP.load(state_path)
    engine.save(state_path)
    restored = ClientLevelDP.load(state_path)
    assert restored.exhausted and not restored.can_afford_next_round()


def test_a_state_cannot_move_to_a_ledger_that_does_not_know_its_spending(
        tmp_path: Path) -> None:
    """Restoring onto a fresh ledger would hide what the state spent: refused. A copy of the
    ledger at a new path is fine, and a stale state is still caught by the ledger it names."""
    engine = new_engine(tmp_path / "ledger.jsonl")
    features, labels = separable_data(N)
    train_private_round(engine, logistic_model(4), features, labels)
    engine.save(tmp_path / "state.json")
    with pytest.raises(LedgerError, match="has no line of it.*ledger.jsonl"):
        RecordLevelDP.load(tmp_path / "state.json", ledger=tmp_path / "new-ledger.jsonl")
    with pytest.raises(LedgerError, match="has no line of it"):
        RecordLevelDP.load(tmp_path / "state.json", ledger=PrivacyLedger())
    assert not (tmp_path / "new-ledger.jsonl").exists()
    shutil.copy(tmp_path / "ledger.jsonl", tmp_path / "moved.jsonl")
    moved = RecordLevelDP.load(tmp_path / "state.json", ledger=tmp_path / "moved.jsonl")
    assert moved.get_epsilon() == engine.get_epsilon()
    assert read_ledger(tmp_path / "moved.jsonl")[-1].event == LedgerEvent.RESTORED
    # the state's own ledger spends on; an old copy of that ledger cannot vouch for the state
    shutil.copy(tmp_path / "ledger.jsonl", tmp_path / "old-copy.jsonl")
    train_private_round(engine, logistic_model(4), features, labels)
    with pytest.raises(LedgerError, match="disagrees with its ledger .*ledger.jsonl"):
        RecordLevelDP.load(tmp_path / "state.json", ledger=tmp_path / "old-copy.jsonl")


def test_a_crash_between_the_ledger_line_and_the_state_save_is_recovered(
        tmp_path: Path) -> None:
    """The round line is on the ledger, the state was not saved: recover_state charges the
    missing steps at the plan's σ and q, so ε matches the ledger and nothing is spent twice."""
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    features, labels = separable_data(N)
    model = logistic_model(4)
    engine = new_engine(ledger_path)
    train_private_round(engine, model, features, labels)
    engine.save(state_path)
    train_private_round(engine, model, features, labels)  # ... and the process dies here
    with pytest.raises(LedgerError, match="rounds_completed=1"):
        RecordLevelDP.load(state_path)

    recovery = recover_state(state_path)
    assert recovery.steps_added == engine.plan.steps_per_round
    assert (recovery.rounds_before, recovery.rounds_after) == (1, 2)
    assert recovery.epsilon_after == pytest.approx(engine.get_epsilon(), rel=1e-9)
    assert recovery.epsilon_after > recovery.epsilon_before
    assert recovery.backup is not None and Path(recovery.backup).exists()
    assert read_state(recovery.backup).rounds_completed == 1  # the old file is kept
    restored = RecordLevelDP.load(state_path)
    assert restored.get_epsilon() == pytest.approx(engine.get_epsilon(), rel=1e-9)
    assert restored.rounds_completed == 2
    # a state that is not behind is left alone
    engine.save(state_path)
    assert recover_state(state_path).backup is None


def test_client_level_recovery_and_what_recovery_refuses(tmp_path: Path) -> None:
    state_path = tmp_path / "state.json"
    engine = _client_engine_behind_its_state("org-b", tmp_path, rounds=2)
    recovery = recover_state(state_path)
    assert recovery.steps_added == 2 and recovery.rounds_after == 2
    assert load_engine(state_path).get_epsilon() == pytest.approx(engine.get_epsilon())

    with pytest.raises(LedgerError, match="no line of participant 'org-b'"):
        recover_state(state_path, ledger=_other_ledger(tmp_path))
    with pytest.raises(LedgerError, match=r"the ledger given, .*missing\.jsonl, is no such file"):
        recover_state(state_path, ledger=tmp_path / "missing.jsonl")
    with pytest.raises(LedgerError, match="is a folder; recovery needs the ledger file"):
        recover_state(state_path, ledger=tmp_path)


def _client_engine_behind_its_state(pid: str, tmp_path: Path, rounds: int) -> ClientLevelDP:
    """A client-level engine that saved ``state.json`` and then released ``rounds`` rounds."""
    engine = client_engine(pid, tmp_path / "ledger.jsonl")
    engine.save(tmp_path / "state.json")
    for _ in range(rounds):
        engine.begin_round()
        engine.privatize_update(torch.ones(5))
        engine.record_round()
    return engine


def _other_ledger(tmp_path: Path) -> Path:
    path = tmp_path / "other.jsonl"
    new_engine(path)
    return path


def test_recover_on_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fedcrm.privacy.cli import app

    state_path = tmp_path / "state.json"
    _client_engine_behind_its_state("org-c", tmp_path, rounds=1)
    result = CliRunner().invoke(app, ["recover", str(state_path)])
    assert result.exit_code == 0, result.output
    assert "org-c: +1 steps, rounds 0 → 1" in result.output
    again = CliRunner().invoke(app, ["recover", str(state_path)])
    assert again.exit_code == 0 and "nothing to recover" in again.output
    missing = CliRunner().invoke(app, ["recover", str(tmp_path / "nope.json")])
    assert missing.exit_code == 2 and "does not exist" in " ".join(missing.output.split())
    # the files swapped: said so, instead of advice to edit a "ledger" line of the state
    ledger = next(p for p in tmp_path.glob("*.jsonl"))
    swapped = CliRunner().invoke(app, ["recover", str(ledger)])
    assert swapped.exit_code == 2
    assert "it looks like a privacy ledger" in " ".join(swapped.output.split())
    itself = CliRunner().invoke(app, ["recover", str(state_path), "--ledger", str(state_path)])
    assert itself.exit_code == 2 and "is given as its own ledger" in " ".join(
        itself.output.split())


def test_an_old_copy_of_the_ledger_cannot_vouch_for_a_stale_state(tmp_path: Path) -> None:
    """recover_state(ledger=old copy) still counts the ledger the state names."""
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "state.json"
    features, labels = separable_data(N)
    model = logistic_model(4)
    engine = new_engine(ledger_path)
    train_private_round(engine, model, features, labels)
    engine.save(state_path)
    shutil.copy(ledger_path, tmp_path / "old-copy.jsonl")
    train_private_round(engine, model, features, labels)
    train_private_round(engine, model, features, labels)
    recovery = recover_state(state_path, ledger=tmp_path / "old-copy.jsonl")
    assert recovery.rounds_after == 3
    assert recovery.epsilon_after == pytest.approx(engine.get_epsilon(), rel=1e-9)
    assert RecordLevelDP.load(state_path).get_epsilon() == pytest.approx(engine.get_epsilon())


def test_a_state_whose_ledger_is_gone_or_read_from_elsewhere_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    features, labels = separable_data(N)
    engine = new_engine(Path("ledger.jsonl"))  # a relative path
    train_private_round(engine, logistic_model(4), features, labels)
    engine.save(tmp_path / "state.json")
    assert Path(read_state(tmp_path / "state.json").ledger_path or "").is_absolute()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the absolute path still finds the ledger
    assert RecordLevelDP.load(tmp_path / "state.json").rounds_completed == 1
    (tmp_path / "ledger.jsonl").unlink()
    with pytest.raises(LedgerError, match="has no line of it \\(deleted"):
        RecordLevelDP.load(tmp_path / "state.json")


def test_two_engines_restored_from_one_state_cannot_both_spend(tmp_path: Path) -> None:
    # each kept its own accountant: the ledger recorded every round twice and its summary
    # counted one of them (true ε 4.08 where it said 2.99, in the review's run)
    ledger_path, state_path = tmp_path / "ledger.jsonl", tmp_path / "org-a.state.json"
    features, labels = separable_data(N)
    first = new_engine(ledger_path)
    train_private_round(first, logistic_model(4), features, labels)
    first.save(state_path)
    one, other = RecordLevelDP.load(state_path), RecordLevelDP.load(state_path)
    train_private_round(one, logistic_model(4), features, labels)
    with pytest.raises(LedgerError, match=r"already records round 2, and this engine is "
                                          r"recording round 2: another engine"):
        train_private_round(other, logistic_model(4), features, labels)
    # refused once, refused for good (it was a round ahead, and its next round passed)
    assert not other.can_afford_next_round()
    with pytest.raises(LedgerError, match="another engine"):
        train_private_round(other, logistic_model(4), features, labels)
    train_private_round(one, logistic_model(4), features, labels)
    rounds = [r.rounds_completed for r in read_ledger(ledger_path) if r.event == "round"]
    assert rounds == [1, 2, 3]


def test_two_plans_made_at_once_cannot_both_spend(tmp_path: Path) -> None:
    # both passed the "new participant" check before either wrote its plan line
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(N)
    one, other = new_engine(ledger_path), new_engine(ledger_path)  # nothing spent yet: allowed
    train_private_round(one, logistic_model(4), features, labels)
    with pytest.raises(LedgerError, match="already records round 1"):
        train_private_round(other, logistic_model(4), features, labels)
    with pytest.raises(LedgerError, match="already has 3 event"):
        new_engine(ledger_path)  # once it has spent, planning again is refused


def test_an_id_spelt_differently_is_not_a_fresh_budget(tmp_path: Path) -> None:
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(N)
    engine = RecordLevelDP.from_budget("Zürich", epsilon=2.0, delta=1e-3, n_samples=N,
                                       batch_size=BATCH, rounds=3, ledger=ledger_path)
    train_private_round(engine, logistic_model(4), features, labels)
    for spelling in ("zürich", "Zu\u0308rich"):
        with pytest.raises(LedgerError, match="has participant 'Zürich', the id .* spelt"):
            RecordLevelDP.from_budget(spelling, epsilon=2.0, delta=1e-3, n_samples=N,
                                      batch_size=BATCH, rounds=3, ledger=ledger_path)
    with pytest.raises(ConfigError, match="has spaces around it; give 'Zürich'"):
        RecordLevelDP.from_budget("Zürich ", epsilon=2.0, delta=1e-3, n_samples=N,
                                  batch_size=BATCH, rounds=3, ledger=ledger_path)


def test_less_noise_than_planned_is_refused_and_nothing_infinite_is_written(
        tmp_path: Path) -> None:
    # σ set to 0 spent ε = ∞, written as null, and then every reader refused the whole ledger
    ledger_path = tmp_path / "ledger.jsonl"
    features, labels = separable_data(N)
    engine = new_engine(ledger_path)
    model = logistic_model(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    module, private_optimizer, loader = engine.wrap(model, optimizer,
                                                    loader_for(features, labels, BATCH))
    private_optimizer.noise_multiplier = 0.0
    batch_features, batch_labels = next(iter(loader))
    private_optimizer.zero_grad()
    torch.nn.functional.binary_cross_entropy_with_logits(
        module(batch_features).reshape(-1), batch_labels).backward()
    with pytest.raises(ConfigError, match="noise multiplier 0 is below the plan's"):
        private_optimizer.step()
    assert engine.total_steps == 0
    assert [r.event for r in read_ledger(ledger_path)] == ["plan"]
