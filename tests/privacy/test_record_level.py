"""Record-level DP-SGD: σ from the budget, one persistent accountant, real clipping and noise."""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import pytest
import torch
from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier

from fedcrm.errors import ConfigError, PrivacyBudgetExceeded
from fedcrm.privacy import LedgerEvent, RecordLevelDP, RecordLevelPlan, RoundStepLimitExceeded

from ._helpers import (
    auc,
    bce,
    flat_parameters,
    loader_for,
    logistic_model,
    separable_data,
    train_plain,
    train_private_round,
)

N = 200
BATCH = 20  # divides N: Opacus' sample rate 1/⌈n/B⌉ equals B/n


@functools.cache
def _plan(**arguments: object) -> RecordLevelPlan:
    return RecordLevelDP.from_budget("org-a", **arguments).plan  # type: ignore[arg-type]


def make_engine(**overrides: object) -> RecordLevelDP:
    """A fresh engine; plans are cached because PRV calibration takes a second or two."""
    arguments: dict[str, object] = {
        "epsilon": 3.0,
        "delta": 1e-3,
        "n_samples": N,
        "batch_size": BATCH,
        "rounds": 3,
        "local_epochs": 2,
        "max_grad_norm": 1.0,
        "accountant": "prv",
    }
    arguments.update(overrides)
    return RecordLevelDP(_plan(**arguments))


# the test's own PRV call goes through Opacus' RDP domain bound, which may warn
@pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
def test_noise_multiplier_is_opacus_calibration_for_rounds_times_epochs() -> None:
    engine = make_engine()
    plan = engine.plan
    assert plan.sample_rate == BATCH / N
    assert plan.steps_per_epoch == N // BATCH
    assert plan.steps_per_round == 2 * N // BATCH
    expected = get_noise_multiplier(
        target_epsilon=3.0,
        target_delta=1e-3,
        sample_rate=BATCH / N,
        steps=3 * 2 * (N // BATCH),
        accountant="prv",
        epsilon_tolerance=0.01,
    )
    assert plan.noise_multiplier == pytest.approx(expected, rel=1e-12)
    # the whole plan fits the budget, and uses it (calibration tolerance 0.01)
    assert 3.0 - 0.011 <= plan.epsilon_planned <= 3.0


def test_sample_rate_follows_opacus_loader_when_batch_does_not_divide_n() -> None:
    engine = make_engine(n_samples=210, batch_size=20, accountant="rdp")
    # Opacus' Poisson loader samples with q = 1/len(loader) = 1/⌈210/20⌉ = 1/11 < 20/210
    assert engine.plan.sample_rate == 1 / 11
    assert engine.plan.steps_per_epoch == 11


def test_epsilon_after_three_rounds_equals_one_accountant_fed_all_steps() -> None:
    features, labels = separable_data(N)
    engine = make_engine()
    spends = []
    for round_index in range(3):
        # a fresh model each round, as the trainer loads new global weights
        model = logistic_model(features.shape[1], seed=round_index)
        spends.append(train_private_round(engine, model, features, labels))
    assert [spend.steps for spend in spends] == [engine.plan.steps_per_round] * 3
    assert engine.total_steps == 3 * engine.plan.steps_per_round

    reference = create_accountant("prv")
    for _ in range(3 * engine.plan.steps_per_round):
        reference.step(noise_multiplier=engine.plan.noise_multiplier, sample_rate=BATCH / N)
    assert engine.accountant.history == reference.history
    assert engine.get_epsilon() == reference.get_epsilon(1e-3, eps_error=0.01)
    # ε grows every round and ends at the planned ε, within budget
    epsilons = [spend.epsilon_spent for spend in spends]
    assert epsilons == sorted(epsilons) and len(set(epsilons)) == 3
    assert epsilons[-1] == engine.plan.epsilon_planned <= 3.0


def test_rdp_accountant_is_available_and_consistent() -> None:
    features, labels = separable_data(N)
    engine = make_engine(accountant="rdp")
    spend = train_private_round(engine, logistic_model(4), features, labels)
    reference = create_accountant("rdp")
    reference.history = [(engine.plan.noise_multiplier, BATCH / N, spend.steps)]
    assert 0 < spend.epsilon_spent < 3.0
    assert spend.epsilon_spent == pytest.approx(reference.get_epsilon(1e-3), rel=0.02)
    assert engine.get_epsilon(delta=1e-5) > engine.get_epsilon()  # smaller δ costs more ε


def test_dp_training_differs_from_non_private_training_with_the_same_seed() -> None:
    features, labels = separable_data(N)
    plain = train_plain(logistic_model(4, seed=1), features, labels, batch_size=BATCH, epochs=2)

    engine = make_engine()
    private = logistic_model(4, seed=1)
    torch.manual_seed(123)
    train_private_round(engine, private, features, labels)
    gap = np.linalg.norm(flat_parameters(plain) - flat_parameters(private))
    assert gap > 0.1


def test_noise_is_added() -> None:
    """Same sampling, different noise draws ⇒ different weights."""
    features, labels = separable_data(N)
    results = []
    for noise_seed in (1, 2):
        engine = make_engine()
        model = logistic_model(4, seed=1)
        torch.manual_seed(7)  # same Poisson batches in both runs
        generator = torch.Generator().manual_seed(noise_seed)
        train_private_round(engine, model, features, labels, noise_generator=generator)
        results.append(flat_parameters(model))
    assert np.linalg.norm(results[0] - results[1]) > 0.05


def test_per_example_gradients_are_clipped() -> None:
    """One DP-SGD step moves the weights by at most lr·C·|batch|/B (plus the small noise)."""
    features, labels = separable_data(N)
    features = features * 50  # per-example gradient norms ≫ C
    clip = 0.01
    engine = make_engine(epsilon=50.0, max_grad_norm=clip, accountant="rdp")
    model = logistic_model(4)
    before = flat_parameters(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    module, private_optimizer, private_loader = engine.wrap(
        model, optimizer, loader_for(features, labels, BATCH)
    )
    batch_features, batch_labels = next(iter(private_loader))
    private_optimizer.zero_grad()
    bce(module, batch_features, batch_labels).backward()
    unclipped_norm = math.sqrt(sum(float((p.grad**2).sum()) for p in module.parameters()))
    private_optimizer.step()
    engine.record_round()
    moved = np.linalg.norm(flat_parameters(model) - before)
    # noise std on the averaged gradient: σ·C/B per coordinate, 5 coordinates, 6 std margin
    noise_margin = 6 * engine.plan.noise_multiplier * clip / BATCH * math.sqrt(5)
    assert moved <= clip * len(batch_labels) / BATCH + noise_margin
    assert unclipped_norm > 1.0  # without clipping the step would have been ≫ C


def test_huge_epsilon_still_learns_a_separable_problem() -> None:
    features, labels = separable_data(600, seed=3)
    test_features, test_labels = separable_data(400, seed=4)
    engine = make_engine(
        epsilon=50.0, delta=1e-4, n_samples=600, batch_size=30, rounds=2, accountant="rdp"
    )
    model = logistic_model(4)
    for _ in range(2):
        train_private_round(engine, model, features, labels, lr=0.5)
    assert auc(model, test_features, test_labels) > 0.8


def test_a_step_beyond_the_round_plan_is_refused_and_not_charged() -> None:
    features, labels = separable_data(N)
    engine = make_engine()
    model = logistic_model(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    module, private_optimizer, private_loader = engine.wrap(
        model, optimizer, loader_for(features, labels, BATCH)
    )
    for _ in range(engine.plan.local_epochs):
        for batch_features, batch_labels in private_loader:
            private_optimizer.zero_grad()
            bce(module, batch_features, batch_labels).backward()
            private_optimizer.step()
    weights = flat_parameters(model)
    batch_features, batch_labels = next(iter(private_loader))
    private_optimizer.zero_grad()
    bce(module, batch_features, batch_labels).backward()
    with pytest.raises(RoundStepLimitExceeded) as caught:
        private_optimizer.step()
    assert isinstance(caught.value, PrivacyBudgetExceeded)
    assert caught.value.participant_id == "org-a"
    assert caught.value.steps_allowed == engine.plan.steps_per_round
    np.testing.assert_array_equal(flat_parameters(model), weights)  # the step was not applied
    assert engine.total_steps == engine.plan.steps_per_round  # and not charged
    assert LedgerEvent.STEP_LIMIT in [r.event for r in engine.ledger_records()]
    engine.record_round()

    # the old optimizer cannot keep training after the round was recorded
    weights = flat_parameters(model)
    private_optimizer.zero_grad()
    bce(module, batch_features, batch_labels).backward()
    with pytest.raises((RoundStepLimitExceeded, ValueError)):
        private_optimizer.step()
    np.testing.assert_array_equal(flat_parameters(model), weights)
    assert engine.total_steps == engine.plan.steps_per_round


def test_wrap_refuses_a_loader_that_does_not_match_the_plan() -> None:
    features, labels = separable_data(N)
    engine = make_engine()
    model = logistic_model(4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    with pytest.raises(ConfigError, match=r"batch_size=50.*batch_size=20"):
        engine.wrap(model, optimizer, loader_for(features, labels, 50))
    with pytest.raises(ConfigError, match="has 100 rows but the budget was planned for"):
        engine.wrap(model, optimizer, loader_for(features[:100], labels[:100], BATCH))
    assert not engine.round_open


def test_one_round_at_a_time() -> None:
    features, labels = separable_data(N)
    engine = make_engine()
    model = logistic_model(4)
    engine.wrap(
        model, torch.optim.SGD(model.parameters(), lr=0.1), loader_for(features, labels, BATCH)
    )
    with pytest.raises(ConfigError, match="already open"):
        engine.wrap(
            model, torch.optim.SGD(model.parameters(), lr=0.1), loader_for(features, labels, BATCH)
        )
    engine.record_round()
    with pytest.raises(ConfigError, match="no round is open"):
        engine.record_round()


def test_the_same_model_object_can_be_wrapped_every_round() -> None:
    features, labels = separable_data(N)
    engine = make_engine()
    model = logistic_model(4)
    for _ in range(2):
        train_private_round(engine, model, features, labels)
        # record_round removed Opacus' hooks and per-example gradient attributes
        assert not model._forward_hooks and not model._backward_hooks
        assert not any(hasattr(p, "grad_sample") for p in model.parameters())
    assert engine.rounds_completed == 2


def test_training_emits_no_warnings() -> None:
    features, labels = separable_data(N)
    engine = make_engine()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_private_round(engine, logistic_model(4), features, labels)
    assert [str(w.message) for w in caught] == []
