"""Budgets are validated at the boundary: ε ≤ 0, δ ≤ 0 and δ ≥ 1/n are refused."""

from __future__ import annotations

import math

import pytest

from fedcrm.errors import ConfigError, FedcrmError
from fedcrm.privacy import ClientLevelDP, RecordLevelDP, validate_budget

N_RECORDS = 1_000


def plan_record_level(epsilon: float, delta: float, n_samples: int = N_RECORDS) -> RecordLevelDP:
    return RecordLevelDP.from_budget(
        "org-a",
        epsilon=epsilon,
        delta=delta,
        n_samples=n_samples,
        batch_size=100,
        rounds=2,
    )


@pytest.mark.parametrize("epsilon", [0.0, -1.0, math.nan, math.inf])
def test_non_positive_or_non_finite_epsilon_is_refused(epsilon: float) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_record_level(epsilon, 1e-5)
    message = str(caught.value)
    assert "org-a" in message
    assert f"epsilon={epsilon!r}" in message
    assert "smaller ε is stronger privacy" in message


@pytest.mark.parametrize("delta", [0.0, -1e-6, math.nan])
def test_non_positive_delta_is_refused(delta: float) -> None:
    with pytest.raises(ConfigError, match=r"delta must be a number in \(0, 1/n\)"):
        plan_record_level(1.0, delta)


@pytest.mark.parametrize("delta", [1 / N_RECORDS, 2 / N_RECORDS, 0.5])
def test_delta_at_or_above_one_over_n_is_refused(delta: float) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_record_level(1.0, delta)
    message = str(caught.value)
    assert "≥ 1/n = 0.001" in message
    assert f"n={N_RECORDS} training records" in message
    assert "delta=1e-05" in message  # the suggested fix


def test_delta_just_below_one_over_n_is_accepted() -> None:
    validate_budget(1.0, 0.999 / N_RECORDS, N_RECORDS, participant_id="org-a")


def test_delta_bound_follows_the_participant_size() -> None:
    # δ must stay below 1/n: the same δ = 1e-4 fits 5 000 records but not 20 000
    validate_budget(1.0, 1e-4, 5_000, participant_id="org-5k")
    with pytest.raises(ConfigError, match="'org-20k'.*1/n = 5e-05"):
        validate_budget(1.0, 1e-4, 20_000, participant_id="org-20k")


def test_config_error_is_catchable_as_value_error_and_fedcrm_error() -> None:
    with pytest.raises(ValueError):
        validate_budget(-1.0, 1e-5, 10, participant_id="x")
    with pytest.raises(FedcrmError):
        validate_budget(1.0, 1.0, 10, participant_id="x")


def test_client_level_delta_is_bounded_by_the_number_of_participants() -> None:
    with pytest.raises(ConfigError, match="n=10 participants"):
        ClientLevelDP.from_budget(
            "org-a",
            epsilon=2.0,
            delta=0.1,
            rounds=3,
            total_participants=10,
            participants_in_sum=5,
        )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("batch_size", 0, "batch_size must be an integer ≥ 1"),
        ("batch_size", 5_000, "larger than n_samples"),
        ("rounds", 0, "rounds must be an integer ≥ 1"),
        ("local_epochs", 0, "local_epochs must be an integer ≥ 1"),
        ("max_grad_norm", 0.0, "max_grad_norm must be > 0"),
        ("accountant", "gdp", "accountant must be one of"),
    ],
)
def test_training_parameters_are_validated(field: str, value: object, expected: str) -> None:
    arguments: dict[str, object] = {
        "epsilon": 1.0,
        "delta": 1e-5,
        "n_samples": N_RECORDS,
        "batch_size": 100,
        "rounds": 2,
        "local_epochs": 1,
        "max_grad_norm": 1.0,
        "accountant": "prv",
    }
    arguments[field] = value
    with pytest.raises(ConfigError, match=expected):
        RecordLevelDP.from_budget("org-a", **arguments)  # type: ignore[arg-type]
