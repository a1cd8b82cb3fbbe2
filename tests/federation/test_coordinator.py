from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from fedcrm import ConfigError
from fedcrm.federation import (
    CoordinateMedian,
    Coordinator,
    FedAvg,
    FedProx,
    GateDecision,
    Participant,
    ParticipantData,
    QualityWeighted,
    TrainingConfig,
    TrimmedMean,
    Update,
    read_final_checks,
    read_round_log,
)
from fedcrm.federation.models import get_parameters, vector_norm
from fedcrm.federation.strategies import Aggregate, RoundPlan
from tests.federation.helpers import logistic_org

CONFIG = TrainingConfig(rounds=8, local_epochs=1, learning_rate=0.2, batch_size=32)


def federation(config: TrainingConfig = CONFIG) -> list[Participant]:
    sizes = [(120, 0.3), (200, -0.2), (1500, 0.0), (2500, 0.4)]
    return [Participant(f"org{i}", logistic_org(n, s, seed=i), config=config)
            for i, (n, s) in enumerate(sizes)]


def test_federation_learns_and_helps_the_smallest_org() -> None:
    participants = federation()
    result = Coordinator(participants, QualityWeighted(), CONFIG).run(progress=False)
    assert result.mean_test_auc > 0.8
    small = participants[0]
    local_auc = small.evaluate(small.fit_local(), "test")["auc"]
    assert result.test_metrics["org0"]["auc"] >= local_auc - 0.01


def test_reproducible_by_seed(tmp_path: Path) -> None:
    first = Coordinator(federation(), FedAvg(), CONFIG).run(progress=False)
    second = Coordinator(federation(), FedAvg(), CONFIG).run(progress=False)
    np.testing.assert_array_equal(first.parameters, second.parameters)
    other = TrainingConfig(**{**CONFIG.model_dump(), "seed": 7})
    third = Coordinator(federation(other), FedAvg(), other).run(progress=False)
    assert not np.array_equal(first.parameters, third.parameters)


def test_a_round_number_whose_training_seed_would_repeat_is_refused() -> None:
    # the seed repeats every 2³¹ rounds: two bit-identical trainings from models a hair apart
    # let a coordinator difference two encrypted sums into one org's update
    participant = federation()[0]
    start = get_parameters(participant.new_model())
    first = participant.train(start, 2**31 - 1)
    assert np.isfinite(first.delta).all()
    for bad in (2**31 + 5, -1, True, 2.0):
        with pytest.raises(ConfigError, match=r"'org0': round number must be a whole number "
                                              r"in \[0, 2³¹\)"):
            participant.train(start, bad)  # type: ignore[arg-type]
    assert participant.train(start, np.int64(5)).delta.shape == first.delta.shape


def test_round_log_is_structured(tmp_path: Path) -> None:
    log = tmp_path / "rounds.jsonl"
    Coordinator(federation(), FedAvg(), CONFIG, log_path=log).run(progress=False)
    records = read_round_log(log)
    assert [r.round for r in records] == list(range(CONFIG.rounds))
    first = records[0]
    assert set(first.weights) == {"org0", "org1", "org2", "org3"}
    assert sum(first.weights.values()) == pytest.approx(1.0)
    assert {"configure", "local_training", "aggregate", "evaluate"} <= set(first.seconds)
    assert first.mean_validation_auc is not None


class Byzantine(Participant):
    """Sends random or hugely scaled updates instead of honest ones."""

    def __init__(self, *args: object, mode: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.mode = mode

    def check(self, parameters):  # type: ignore[no-untyped-def]
        return super().check(parameters).model_copy(update={"accepted": True})

    def train(self, parameters: np.ndarray, round_number: int, **kwargs: object) -> Update:
        honest = super().train(parameters, round_number)
        rng = np.random.default_rng(round_number)
        if self.mode == "random":
            delta = rng.normal(scale=50.0, size=honest.delta.shape).astype(np.float32)
        else:
            delta = (-100.0 * honest.delta).astype(np.float32)
        return honest.model_copy(update={"delta": delta, "n_samples": 50_000})


@pytest.mark.parametrize("mode", ["random", "scaled"])
@pytest.mark.parametrize("strategy", [QualityWeighted(), CoordinateMedian()])
def test_byzantine_participant_does_not_ruin_the_model(mode: str, strategy) -> None:
    honest = federation()
    attacker = Byzantine("evil", logistic_org(300, 0.0, seed=42), config=CONFIG, mode=mode)
    result = Coordinator([*honest, attacker], strategy, CONFIG).run(progress=False)
    honest_aucs = [result.test_metrics[p.participant_id]["auc"] for p in honest]
    clean = Coordinator(federation(), strategy, CONFIG).run(progress=False)
    clean_aucs = [clean.test_metrics[p.participant_id]["auc"] for p in honest]
    assert np.mean(honest_aucs) > 0.8, result.history[-1]
    assert np.mean(honest_aucs) > np.mean(clean_aucs) - 0.1
    # without the defences (no server-side norm bounds, no gating) the same attack does ruin
    # a weighted mean, so the defences are what kept the model
    if isinstance(strategy, QualityWeighted):
        loose = TrainingConfig(**{**CONFIG.model_dump(), "max_update_norm": None,
                                  "adaptive_clip_factor": None, "validation_tolerance": 1.0,
                                  "gate_z": 0.0})
        honest_loose = [Participant(p.participant_id, p.data, config=loose) for p in honest]
        evil = Byzantine("evil", logistic_org(300, 0.0, seed=42), config=loose, mode=mode)
        ruined = Coordinator([*honest_loose, evil], strategy, loose).run(progress=False)
        ruined_aucs = [ruined.test_metrics[p.participant_id]["auc"] for p in honest]
        assert np.mean(ruined_aucs) < np.mean(honest_aucs) - 0.1
    # the inflated sample count it claimed was ignored and recorded
    assert all(r.weight_discrepancies.get("evil") == 50_000 for r in result.history
               if "evil" in r.contributed)


def test_server_momentum_steps_and_rollback_by_hand() -> None:
    """FedAvgM (Hsu et al. 2019): v ← β·v + step, w ← w + v; a rollback drops v."""
    config = TrainingConfig(**{**CONFIG.model_dump(), "server_momentum": 0.5})
    coordinator = Coordinator(federation(config), FedAvg(), config)
    start = coordinator.parameters.astype(np.float64)
    first = np.full(start.shape, 0.2, np.float32)
    second = np.full(start.shape, -0.1, np.float32)
    coordinator._apply_step(first)
    np.testing.assert_allclose(coordinator.parameters, start + 0.2, rtol=0, atol=1e-6)
    coordinator._apply_step(second)  # v = 0.5·0.2 − 0.1 = 0.0: the model stays put
    np.testing.assert_allclose(coordinator.parameters, start + 0.2, rtol=0, atol=1e-6)
    coordinator._apply_step(second)  # v = 0.5·0.0 − 0.1
    np.testing.assert_allclose(coordinator.parameters, start + 0.1, rtol=0, atol=1e-6)
    coordinator._roll_back()
    np.testing.assert_allclose(coordinator.parameters, start + 0.2, rtol=0, atol=1e-6)
    coordinator._apply_step(first)  # no momentum survives the rollback
    np.testing.assert_allclose(coordinator.parameters, start + 0.4, rtol=0, atol=1e-6)
    # without momentum the same steps simply add up
    plain = Coordinator(federation(), FedAvg(), CONFIG)
    for step in (first, second, second):
        plain._apply_step(step)
    np.testing.assert_allclose(plain.parameters, start + 0.0, rtol=0, atol=1e-6)


def test_server_momentum_speeds_up_training() -> None:
    config = TrainingConfig(**{**CONFIG.model_dump(), "rounds": 4, "learning_rate": 0.02})
    momentum = TrainingConfig(**{**config.model_dump(), "server_momentum": 0.9})
    plain = Coordinator(federation(config), FedAvg(), config).run(progress=False)
    fast = Coordinator(federation(momentum), FedAvg(), momentum).run(progress=False)
    # the same local work moves the model further per round
    assert np.linalg.norm(fast.parameters) > 1.5 * np.linalg.norm(plain.parameters)
    assert fast.mean_test_auc >= plain.mean_test_auc - 0.01
    with pytest.raises(ValueError, match="server_momentum"):
        TrainingConfig(server_momentum=1.0)


def test_validation_gating_rejects_a_bad_global_model() -> None:
    participant = federation()[2]
    good = Coordinator([participant], FedAvg(), CONFIG).run(progress=False).parameters
    assert participant.check(good).accepted
    decision = participant.check(-good)  # flipped weights: anti-correlated predictions
    assert not decision.accepted and "below" in decision.reason
    assert decision.metric is not None and decision.reference is not None


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError, match="at least one participant"):
        Coordinator([], FedAvg(), CONFIG)
    data = logistic_org(100, 0.0, seed=1)
    wide = logistic_org(100, 0.0, seed=1, n_features=12, weights_seed=3)
    with pytest.raises(ConfigError, match="mismatched feature spaces"):
        Coordinator([Participant("a", data), Participant("b", wide)], FedAvg())
    with pytest.raises(ConfigError, match="unique"):
        Coordinator([Participant("a", data), Participant("a", data)], FedAvg())
    with pytest.raises(ConfigError, match="NaN"):
        ParticipantData(np.full((3, 2), np.nan, np.float32), np.zeros(3), np.zeros((1, 2)),
                        np.zeros(1), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ConfigError, match=r"\[0.6, 1.4\]"):
        Participant("a", data, quality_multiplier=2.0)
    with pytest.raises(ValueError, match="participant_fraction"):
        TrainingConfig(participant_fraction=1.5)


def _count_sgd_steps(participant: Participant, monkeypatch: pytest.MonkeyPatch,
                     **train: object) -> int:
    steps = []
    original = torch.optim.SGD.step

    def counting(self: torch.optim.SGD, *args: object, **kwargs: object) -> object:
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", counting)
    participant.train(get_parameters(participant.new_model_seeded()), 0, **train)  # type: ignore[arg-type]
    monkeypatch.setattr(torch.optim.SGD, "step", original)
    return len(steps)


def test_local_steps_fix_the_sgd_steps_per_round(monkeypatch: pytest.MonkeyPatch) -> None:
    data = logistic_org(100, 0.0, seed=3)  # 70 training rows: 7 batches of 10
    epochs = TrainingConfig(local_epochs=2, batch_size=10)
    assert _count_sgd_steps(Participant("a", data, config=epochs), monkeypatch) == 14
    steps = epochs.model_copy(update={"local_steps": 10})  # cycles past the first pass
    participant = Participant("a", data, config=steps)
    assert _count_sgd_steps(participant, monkeypatch) == 10
    # an explicit epoch count (what the local-only baseline passes) trains in epochs
    assert _count_sgd_steps(participant, monkeypatch, epochs=3) == 21


def test_equal_local_steps_change_the_federated_model_but_not_the_baselines() -> None:
    config = CONFIG.model_copy(update={"rounds": 3})
    stepped = config.model_copy(update={"local_steps": 5})
    by_epochs, by_steps = federation(config), federation(stepped)
    for a, b in zip(by_epochs, by_steps, strict=True):
        np.testing.assert_array_equal(a.fit_local(), b.fit_local())
    first = Coordinator(by_epochs, FedAvg(), config).run(progress=False)
    second = Coordinator(by_steps, FedAvg(), stepped).run(progress=False)
    assert not np.allclose(first.parameters, second.parameters)
    assert second.mean_test_auc > 0.7


def test_the_local_baseline_is_a_federation_of_one() -> None:
    """fit_local trains the org alone the way the federation trains (rounds, epochs, server
    momentum, gate, the delivered mean of the last rounds) and leaves the participant as it
    was; without the server momentum the model differs (the old plain-SGD baseline)."""
    config = CONFIG.model_copy(update={"rounds": 4, "server_momentum": 0.9})
    org = federation(config)[0]
    org.accepted_metric = 0.5
    alone = Participant(org.participant_id, org.data, config=config)  # ids seed the batches
    expected = Coordinator([alone], FedAvg(), config).run(progress=False).averaged_parameters
    np.testing.assert_array_equal(org.fit_local(), expected)
    assert org.accepted_metric == 0.5 and org.accepted_parameters is None
    plain = Participant(org.participant_id, org.data,
                        config=config.model_copy(update={"server_momentum": 0.0}))
    assert not np.allclose(plain.fit_local(), expected)
    with pytest.raises(ConfigError, match="whole number of rounds, at least 1; got 0"):
        org.fit_local(rounds=0)


def test_round_record_mean_validation_auc_is_the_mean_of_the_known_aucs() -> None:
    from fedcrm.federation.coordinator import RoundRecord

    base = {"round": 0, "strategy": "fedavg", "selected": ["a", "b", "c"],
            "contributed": ["a", "b", "c"], "weights": {}}
    record = RoundRecord(**base, validation_auc={"a": 0.6, "b": None, "c": 0.8})
    assert record.mean_validation_auc == pytest.approx(0.7)
    assert RoundRecord(**base, validation_auc={"a": None}).mean_validation_auc is None
    # a logged round reads back as written
    again = RoundRecord.model_validate_json(record.model_dump_json())
    assert again == record


@pytest.mark.parametrize(("fraction", "average_last"), [(0.0, 1), (0.1, 1), (0.6, 3), (1.0, 5)])
def test_delivered_model_averages_the_last_rounds(fraction: float, average_last: int) -> None:
    """The delivered model is the mean of the global models after the last
    ``average_fraction`` of the rounds (at least one), and is scored on the test splits."""
    config = CONFIG.model_copy(update={"rounds": 5, "average_fraction": fraction})
    assert config.averaged_rounds() == average_last
    result = Coordinator(federation(config), FedAvg(), config).run(progress=False)
    stepped = Coordinator(federation(config), FedAvg(), config)
    after = []
    for number in range(config.rounds):
        stepped.run_round(number)
        after.append(stepped.parameters.copy())
    kept = list(range(max(0, 5 - average_last), 5))
    assert result.averaged_rounds == kept
    np.testing.assert_allclose(result.averaged_parameters,
                               np.mean([after[i] for i in kept], axis=0), rtol=1e-6)
    np.testing.assert_array_equal(result.parameters, after[-1])
    if average_last == 1:
        np.testing.assert_array_equal(result.averaged_parameters, result.parameters)
    else:
        assert not np.allclose(result.averaged_parameters, result.parameters)
    org = stepped.participants["org0"]
    assert result.averaged_test_metrics["org0"]["auc"] == pytest.approx(
        org.evaluate(result.averaged_parameters, "test")["auc"])
    assert result.averaged_mean_test_auc == pytest.approx(np.mean(
        [p.evaluate(result.averaged_parameters, "test")["auc"]
         for p in stepped.participants.values()]))


def test_participants_reused_in_a_new_federation_start_with_fresh_gates() -> None:
    participants = federation()
    Coordinator(participants, FedAvg(), CONFIG).run(progress=False)
    # the gates now hold the trained model's validation AUC; a new federation starts from a
    # fresh random model, which those references would reject round after round
    second = Coordinator(participants, FedAvg())  # the participants' own config
    start = second.parameters.copy()
    result = second.run(3, progress=False)
    assert not result.history[0].rejections and not result.history[0].rolled_back
    assert result.history[0].contributed == ["org0", "org1", "org2", "org3"]
    assert not np.array_equal(result.parameters, start)
    assert result.mean_test_auc > 0.7


def test_no_rollback_without_a_model_to_return_to() -> None:
    participants = federation()
    coordinator = Coordinator(participants, FedAvg(), CONFIG)
    for participant in participants:  # every gate holds an unreachable reference
        participant.accepted_metric = 1.0
    record = coordinator.run_round(0)
    assert set(record.rejections) == {"org0", "org1", "org2", "org3"}
    assert not record.rolled_back and record.contributed == []


def test_coordinator_config_must_match_how_participants_train() -> None:
    participants = federation()  # trained with CONFIG: logistic model, lr 0.2
    with pytest.raises(ConfigError, match=r"org0: model 'mlp' ≠ 'logistic'.*config=config"):
        Coordinator(participants, FedAvg(), CONFIG.model_copy(update={"model": "mlp"}))
    with pytest.raises(ConfigError, match=r"learning_rate 0\.5 ≠ 0\.2"):
        Coordinator(participants, FedAvg(), CONFIG.model_copy(update={"learning_rate": 0.5}))
    # coordinator-side settings may differ: they are the coordinator's alone
    Coordinator(participants, FedAvg(), CONFIG.model_copy(update={"rounds": 3,
                                                                   "server_momentum": 0.5}))


def test_config_prox_mu_reaches_local_training() -> None:
    plain = Coordinator(federation(), FedAvg(), CONFIG).run(2, progress=False)
    proximal_config = CONFIG.model_copy(update={"prox_mu": 5.0})
    proximal = Coordinator(federation(proximal_config), FedAvg(), proximal_config).run(
        2, progress=False)
    start = Coordinator(federation(), FedAvg(), CONFIG).parameters
    # a strong proximal term keeps the local models near the global one: smaller steps
    assert (np.linalg.norm(proximal.parameters - start)
            < 0.8 * np.linalg.norm(plain.parameters - start))
    with pytest.raises(ConfigError, match="prox_mu=5 and the fedprox strategy's mu=0.01"):
        Coordinator(federation(proximal_config), FedProx(0.01), proximal_config)
    Coordinator(federation(proximal_config), FedProx(5.0), proximal_config)  # agree: fine


class _WithholdOddRounds(FedAvg):
    """FedAvg that, like client-level DP with too few updates, releases nothing in odd
    rounds."""

    name = "withhold_odd"

    def __init__(self) -> None:
        self.calls = 0

    def aggregate(self, updates):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls % 2 == 0:
            step = np.zeros_like(updates[0].delta)
            return Aggregate(step=step, weights={}, info={"withheld": True,
                                                          "updates": len(updates)})
        return super().aggregate(updates)


def test_a_withheld_round_leaves_the_model_even_with_momentum() -> None:
    config = CONFIG.model_copy(update={"server_momentum": 0.9})
    coordinator = Coordinator(federation(config), _WithholdOddRounds(), config)
    coordinator.run_round(0)
    after_first = coordinator.parameters.copy()
    record = coordinator.run_round(1)
    np.testing.assert_array_equal(coordinator.parameters, after_first)
    assert record.contributed == [] and record.aggregation == {"withheld": True, "updates": 4}
    trimmed = Coordinator(federation(), TrimmedMean(0.25), CONFIG).run_round(0)
    assert trimmed.aggregation == {"trimmed_per_side": 1}


def test_run_checks_rounds_and_numbers_a_second_run_after_the_first() -> None:
    coordinator = Coordinator(federation(), FedAvg(), CONFIG)
    for bad in (0, -1):
        with pytest.raises(ConfigError, match="rounds must be a whole number"):
            coordinator.run(bad, progress=False)
    coordinator.run(2, progress=False)
    second = coordinator.run(3, progress=False)
    assert [r.round for r in second.history] == [0, 1, 2, 3, 4]
    assert second.averaged_rounds == [4]  # a third of this run's 3 rounds, rounded
    assert second.best_round is not None and second.best_round >= 2


def test_participant_data_refuses_labels_other_than_0_1_and_empty_splits() -> None:
    x = np.zeros((4, 2), np.float32)
    with pytest.raises(ConfigError, match=r"train split has labels \[2\.0\]; labels must be 0"):
        ParticipantData(x, np.array([0, 2, 0, 2]), x, np.array([0, 1, 0, 1]), x,
                        np.array([0, 1, 0, 1]))
    with pytest.raises(ConfigError, match="the validation split is empty"):
        ParticipantData(x, np.array([0, 1, 0, 1]), x[:0], np.zeros(0), x,
                        np.array([0, 1, 0, 1]))


def test_participant_fraction_rounds_half_up() -> None:
    assert TrainingConfig(participant_fraction=0.5).per_round(5) == 3
    assert TrainingConfig(participant_fraction=0.5).per_round(4) == 2
    assert TrainingConfig(average_fraction=0.5, rounds=5).averaged_rounds() == 3
    # 0.58 · 25 is 14.499999999999998 in floating point; the half still rounds up
    assert TrainingConfig(participant_fraction=0.58).per_round(25) == 15


@pytest.mark.parametrize("setting", [{"hidden": (-4,)}, {"hidden": (16, 0)}, {"seed": -1}])
def test_impossible_model_sizes_and_seeds_are_refused(setting: dict) -> None:
    with pytest.raises(ConfigError, match=f"invalid TrainingConfig: {next(iter(setting))}"):
        TrainingConfig(**setting)


def _org_on_feature(n: int, column: int, seed: int) -> ParticipantData:
    """Two features; the label is the sign of ``column``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, column] > 0).astype(np.float32)
    a, b = int(n * 0.6), int(n * 0.8)
    return ParticipantData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def test_after_a_rollback_the_restored_model_is_every_gates_reference() -> None:
    config = TrainingConfig(rounds=1, adaptive_clip_factor=None, gate_z=0.0,
                            validation_tolerance=0.02)
    big = Participant("big", _org_on_feature(1000, 0, seed=0), config=config)
    small = Participant("small", _org_on_feature(200, 1, seed=1), config=config)
    coordinator = Coordinator([big, small], FedAvg(), config)
    restored = np.array([1.0, 0.0, 0.0], np.float32)  # good for big, chance for small
    rolled = np.array([0.0, 1.0, 0.0], np.float32)    # chance for big, good for small
    big.check(restored), small.check(restored)
    coordinator._previous, coordinator.parameters = restored.copy(), rolled.copy()
    record = coordinator.run_round(5)
    assert record.rolled_back and list(record.rejections) == ["big"]
    np.testing.assert_array_equal(coordinator.parameters, restored)
    # small accepted the rolled-back model; its gate now judges against the restored one
    np.testing.assert_array_equal(small.accepted_parameters, restored)
    assert small.accepted_metric == pytest.approx(small.evaluate(restored)["auc"])
    later = [coordinator.run_round(number) for number in range(6, 9)]
    assert all(r.contributed == ["big", "small"] and not r.rejections for r in later)


def test_a_rollback_cannot_make_a_gate_take_a_model_it_never_accepted() -> None:
    config = TrainingConfig(rounds=1, gate_z=0.0, validation_tolerance=0.02)
    small = Participant("small", _org_on_feature(200, 1, seed=1), config=config)
    small.check(np.array([0.0, 1.0, 0.0], np.float32))
    stranger = np.array([0.0, -1.0, 0.0], np.float32)  # never accepted, much worse
    decision = small.rebase(stranger)
    assert not decision.accepted
    np.testing.assert_array_equal(small.accepted_parameters, [0.0, 1.0, 0.0])


class _NaNSender(Participant):
    """A participant whose update holds a NaN (a broken or malicious org)."""

    def train(self, parameters: np.ndarray, round_number: int, **options: object) -> Update:
        update = super().train(parameters, round_number, **options)  # type: ignore[arg-type]
        delta = update.delta.copy()
        delta[0] = np.nan
        return update.model_copy(update={"delta": delta})


@pytest.mark.parametrize("strategy", [FedAvg(), CoordinateMedian(), TrimmedMean(0.2)])
def test_a_non_finite_update_is_dropped_not_averaged(strategy) -> None:
    config = CONFIG.model_copy(update={"rounds": 1})
    participants = [Participant(f"org{i}", logistic_org(300, 0.0, seed=i), config=config)
                    for i in range(4)]
    participants.append(_NaNSender("bad", logistic_org(300, 0.0, seed=9), config=config))
    coordinator = Coordinator(participants, strategy, config)
    record = coordinator.run_round(0)
    assert np.isfinite(coordinator.parameters).all()
    assert "non-finite" in record.dropped["bad"] and "bad" not in record.contributed
    assert record.contributed == ["org0", "org1", "org2", "org3"]


def test_diverging_local_training_is_a_clear_error() -> None:
    config = CONFIG.model_copy(update={"learning_rate": 1e30, "adaptive_clip_factor": None})
    participant = Participant("org0", logistic_org(300, 0.0, seed=0), config=config)
    start = get_parameters(participant.new_model_seeded())
    with pytest.raises(ConfigError, match="org0: local training diverged.*lower learning_rate"):
        for number in range(5):
            start = start + participant.train(start, number).delta


def test_a_huge_but_finite_update_is_bounded_not_zeroed() -> None:
    # a float32 sum of squares overflows past about 1.8e19 per entry: the norm was inf, and
    # scaling by bound / inf sent (or kept) an all-zero update marked clipped
    config = CONFIG.model_copy(update={"max_update_norm": 4.0, "adaptive_clip_factor": None})
    participants = [Participant(f"org{i}", logistic_org(300, 0.0, seed=i), config=config)
                    for i in range(2)]
    coordinator = Coordinator(participants, FedAvg(), config)
    size = coordinator.parameters.size
    huge = Update(participant_id="org0", round=0, delta=np.full(size, 1e20, np.float32),
                  n_samples=300, quality_multiplier=1.0, norm=1e20 * size ** 0.5,
                  clipped=False, train_loss=0.0)
    (bounded,) = coordinator._bound_all([huge])
    assert bounded.clipped
    assert np.linalg.norm(bounded.delta.astype(np.float64)) == pytest.approx(4.0, rel=1e-5)
    assert np.allclose(bounded.delta, bounded.delta[0]) and bounded.delta[0] > 0
    # the participant's own bound computes its norm the same way
    assert vector_norm(np.full(4, 1e20, np.float32)) == pytest.approx(2e20)


def test_zero_updates_do_not_set_the_adaptive_bound() -> None:
    # three all-zero updates made the median norm 0, and every other update was zeroed
    config = CONFIG.model_copy(update={"max_update_norm": None, "adaptive_clip_factor": 2.0})
    participants = [Participant(f"org{i}", logistic_org(100, 0.0, seed=i), config=config)
                    for i in range(2)]
    coordinator = Coordinator(participants, FedAvg(), config)
    size = coordinator.parameters.size

    def sent(pid: str, value: float) -> Update:
        delta = np.full(size, value, np.float32)
        return Update(participant_id=pid, round=0, delta=delta, n_samples=100,
                      quality_multiplier=1.0, norm=vector_norm(delta), clipped=False,
                      train_loss=0.0)

    zeros = [sent(f"z{i}", 0.0) for i in range(3)]
    honest = [sent("a", 0.1), sent("b", 0.1), sent("c", 0.12), sent("d", 5.0)]
    bounded = {u.participant_id: u for u in coordinator._bound_all([*zeros, *honest])}
    assert not any(bounded[pid].clipped for pid in ("a", "b", "c", "z0"))
    np.testing.assert_array_equal(bounded["a"].delta, honest[0].delta)
    # the outsized one is bounded to twice the median of the non-zero norms (0.11 each entry)
    assert bounded["d"].clipped
    assert vector_norm(bounded["d"].delta) == pytest.approx(2 * vector_norm(honest[0].delta)
                                                            * 1.1, rel=1e-4)


def test_rounds_must_be_a_whole_number_of_rounds() -> None:
    participants = [Participant(f"org{i}", logistic_org(100, 0.0, seed=i), config=CONFIG)
                    for i in range(2)]
    coordinator = Coordinator(participants, FedAvg(), CONFIG)
    for bad in (True, 2.0, "2", 0, -1):
        with pytest.raises(ConfigError, match="rounds must be a whole number"):
            coordinator.run(bad, progress=False)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="org0: fit_local's rounds must be a whole"):
            participants[0].fit_local(bad)  # type: ignore[arg-type]
    assert not coordinator.history


class _Scaler(Participant):
    """Sends 30 times its honest update (and does not say it was clipped)."""

    def train(self, parameters: np.ndarray, round_number: int, **options: object) -> Update:
        update = super().train(parameters, round_number, **options)  # type: ignore[arg-type]
        delta = update.delta * 30
        return update.model_copy(update={"delta": delta, "norm": float(np.linalg.norm(delta)),
                                         "clipped": False})


def test_the_round_log_lists_updates_the_server_bounded() -> None:
    config = TrainingConfig(rounds=1, max_update_norm=1000.0, learning_rate=0.01,
                            local_epochs=1, adaptive_clip_factor=2.0)
    participants = [Participant(f"org{i}", logistic_org(300, 0.0, seed=i), config=config)
                    for i in range(3)]
    participants.append(_Scaler("bad", logistic_org(300, 0.0, seed=9), config=config))
    record = Coordinator(participants, FedAvg(), config).run_round(0)
    assert record.clipped == ["bad"]


class FlipsInRound(Participant):
    """Sends an update that turns the global model around in one chosen round."""

    flip_round = -1

    def train(self, parameters: np.ndarray, round_number: int, **options: object) -> Update:
        update = super().train(parameters, round_number, **options)  # type: ignore[arg-type]
        if round_number != self.flip_round:
            return update
        return update.model_copy(update={"delta": (-30 * parameters).astype(np.float32)})


def _flipping_federation(config: TrainingConfig, flip_round: int) -> list[Participant]:
    honest = [Participant(f"org{i}", logistic_org(300, 0.0, seed=i), config=config)
              for i in range(3)]
    evil = FlipsInRound("evil", logistic_org(300, 0.0, seed=9), config=config)
    evil.flip_round = flip_round
    return [*honest, evil]


def test_a_model_the_gates_refused_is_never_delivered() -> None:
    # round 4's aggregate turns the model around; round 5's gates refuse it and roll back.
    # The delivered average of the last rounds once kept it (mean test AUC 0.10, not 0.90)
    config = TrainingConfig(rounds=6, average_fraction=0.5, local_epochs=1, learning_rate=0.2,
                            max_update_norm=None, adaptive_clip_factor=None, seed=0)
    result = Coordinator(_flipping_federation(config, 4), FedAvg(), config).run(progress=False)
    assert [r.rolled_back for r in result.history] == [False] * 5 + [True]
    assert result.averaged_rounds == [3, 5]  # round 4's model is left out
    assert result.best_round != 4
    assert result.averaged_mean_test_auc is not None and result.averaged_mean_test_auc > 0.85
    np.testing.assert_allclose(result.averaged_parameters, result.parameters, atol=1e-6)


def test_the_last_rounds_model_is_checked_by_the_gates_too(tmp_path: Path) -> None:
    # nothing after the last round would check its model: the gates do, after the loop
    config = TrainingConfig(rounds=5, local_epochs=1, learning_rate=0.2, max_update_norm=None,
                            adaptive_clip_factor=None, seed=0)
    log = tmp_path / "rounds.jsonl"
    coordinator = Coordinator(_flipping_federation(config, 4), FedAvg(), config, log_path=log)
    result = coordinator.run(progress=False)
    assert result.final_rolled_back and set(result.final_rejections) >= {"org0", "org1", "org2"}
    # the verdict is in the round log too, after the last round, and read apart from it
    assert [r.round for r in read_round_log(log)] == [0, 1, 2, 3, 4]
    (check,) = read_final_checks(log)
    assert (check.run, check.after_round, check.rolled_back) == (coordinator.run_id, 4, True)
    assert check.rejections == result.final_rejections
    assert json.loads(log.read_text().splitlines()[-1])["record"] == "final_check"
    coordinator.run(2, progress=False)  # a second call adds its own check
    assert [c.after_round for c in read_final_checks(log)] == [4, 6]
    assert result.averaged_rounds == [3]  # the last third of 5 rounds, less round 4
    assert result.mean_test_auc is not None and result.mean_test_auc > 0.85
    assert result.averaged_mean_test_auc is not None and result.averaged_mean_test_auc > 0.85
    honest = Coordinator(federation(), FedAvg(), CONFIG).run(progress=False)
    assert not honest.final_rolled_back


def test_a_second_rollback_never_restores_the_model_it_refuses() -> None:
    # after a rollback there is no older model: a round whose gates refuse the restored
    # model goes on with the updates of those that accepted it instead of discarding them
    participants = federation()
    coordinator = Coordinator(participants, FedAvg(), CONFIG)
    coordinator.run_round(0)
    for participant in participants:
        participant.accepted_metric = 1.0  # every gate now refuses any model
    assert coordinator.run_round(1).rolled_back
    for participant in participants:
        participant.accepted_metric = 1.0
    again = coordinator.run_round(2)
    assert not again.rolled_back and again.contributed == []


def test_features_beyond_float32_and_participants_as_an_iterator() -> None:
    data = logistic_org(100, 0.0, seed=1)
    huge = data.validation_x.astype(np.float64)
    huge[0, 0] = 1e39  # finite in float64, infinite in the model's float32
    with pytest.raises(ConfigError, match="validation split has features beyond float32's "
                                          "range"):
        ParticipantData(data.train_x, data.train_y, huge, data.validation_y, data.test_x,
                        data.test_y)
    # an iterator of participants is taken as the list it yields
    coordinator = Coordinator(iter(federation()), FedAvg(), CONFIG)
    assert list(coordinator.participants) == ["org0", "org1", "org2", "org3"]


def test_a_refused_best_round_gives_way_to_the_best_before_it() -> None:
    from collections import deque

    from fedcrm.federation.coordinator import _refuse

    good, bad = np.zeros(2, dtype=np.float32), np.ones(2, dtype=np.float32)
    # round 3 made the refused model and round 4 made no step (a withheld or non-finite round)
    kept = deque([(1, good), (2, good + 1e-3), (3, bad), (4, bad.copy())])
    bests = [(0.70, 1, good), (0.90, 3, bad)]  # round 2 scored below 0.70
    _refuse(kept, bests, bad)  # round 5's gates refused the model of rounds 3 and 4
    assert [r for r, _ in kept] == [1, 2] and [b[1] for b in bests] == [1]
    _refuse(kept, bests, bad)  # nothing left of it: the rest stays
    assert [r for r, _ in kept] == [1, 2] and [b[1] for b in bests] == [1]


class _AcceptsAllAndSendsNaN(FlipsInRound):
    """Flips the model in ``flip_round`` and sends a non-finite update in the round after
    (dropped: that round makes no step); its own gate accepts every model."""

    def check(self, parameters: np.ndarray) -> GateDecision:
        return super().check(parameters).model_copy(update={"accepted": True})

    def train(self, parameters: np.ndarray, round_number: int, **options: object) -> Update:
        update = super().train(parameters, round_number, **options)
        if round_number == self.flip_round + 1:
            return update.model_copy(update={"delta": np.full_like(update.delta, np.nan)})
        return update


class _OnlyEvilInRound4(FedAvg):
    def configure_round(self, round_number: int, participant_ids: Sequence[str],
                        per_round: int, rng: np.random.Generator) -> RoundPlan:
        chosen = ["evil"] if round_number == 4 else list(participant_ids)
        return RoundPlan(participants=chosen)


def test_a_refused_model_kept_by_a_round_without_a_step_is_not_delivered_either() -> None:
    # round 3 flips the model, round 4 makes no step (its one update is NaN), round 5's
    # gates refuse the model of both: neither may be delivered (a reviewer's case: 0.11)
    config = TrainingConfig(rounds=6, average_fraction=0.5, local_epochs=1, learning_rate=0.2,
                            max_update_norm=None, adaptive_clip_factor=None, seed=0)
    honest = [Participant(f"org{i}", logistic_org(300, 0.0, seed=i), config=config)
              for i in range(3)]
    evil = _AcceptsAllAndSendsNaN("evil", logistic_org(300, 0.0, seed=9), config=config)
    evil.flip_round = 3
    result = Coordinator([*honest, evil], _OnlyEvilInRound4(), config).run(progress=False)
    assert [r.rolled_back for r in result.history] == [False] * 5 + [True]
    assert result.averaged_rounds == [5] and result.best_round not in (3, 4)
    assert result.averaged_mean_test_auc is not None and result.averaged_mean_test_auc > 0.85
