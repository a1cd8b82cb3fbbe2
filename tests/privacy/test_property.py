"""Property: following the engine's plan, and stopping when it says so, never overspends."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedcrm.privacy import BudgetExhausted, LedgerEvent, RecordLevelDP

from ._helpers import logistic_model, separable_data, train_private_round


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, object]:
    n_samples = draw(st.integers(min_value=24, max_value=120))
    return {
        "n_samples": n_samples,
        # sample rates up to ~1/4: larger ones are unusual and slow to account
        "batch_size": draw(st.integers(min_value=2, max_value=n_samples // 4)),
        "rounds": draw(st.integers(min_value=1, max_value=3)),
        "local_epochs": draw(st.integers(min_value=1, max_value=2)),
        "epsilon": draw(st.floats(min_value=0.5, max_value=4.0)),
        # δ strictly below 1/n, from 1e-3/n up to 0.9/n
        "delta": draw(st.floats(min_value=1e-3, max_value=0.9)) / n_samples,
        "accountant": draw(st.sampled_from(["prv", "rdp"])),
        "drop_last": draw(st.booleans()),
    }


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(configuration=configurations())
def test_spent_epsilon_never_exceeds_the_budget(configuration: dict[str, object]) -> None:
    n_samples = int(configuration["n_samples"])  # type: ignore[call-overload]
    engine = RecordLevelDP.from_budget("org-p", **configuration)  # type: ignore[arg-type]
    target = engine.plan.epsilon
    features, labels = separable_data(n_samples, n_features=3)
    model = logistic_model(3)
    torch.manual_seed(0)

    # the trainer keeps asking for rounds beyond the plan; the engine must stop it in time
    for _ in range(engine.plan.rounds + 3):
        if not engine.can_afford_next_round():
            with pytest.raises(BudgetExhausted) as caught:
                engine.check_next_round()
            assert caught.value.epsilon_projected > target
            assert caught.value.epsilon_spent <= target
            break
        spend = train_private_round(engine, model, features, labels, lr=0.1)
        assert spend.steps == engine.plan.steps_per_round
        assert spend.epsilon_spent <= target
    assert engine.get_epsilon() <= target
    # the plan itself is affordable: every planned round ran
    assert engine.rounds_completed >= engine.plan.rounds
    # and the ledger never records more than the budget
    rounds = [r for r in engine.ledger_records() if r.event == LedgerEvent.ROUND]
    assert len(rounds) == engine.rounds_completed
    assert all(r.epsilon_spent <= target for r in rounds)
