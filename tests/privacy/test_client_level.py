"""Client-level DP: clipping, distributed noise shares, dp-accounting, calibration."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path

import dp_accounting
import numpy as np
import pytest
import torch
from dp_accounting import pld, rdp

from fedcrm.errors import ConfigError
from fedcrm.privacy import (
    BudgetExhausted,
    ClientLevelDP,
    LedgerError,
    add_noise_share,
    calibrate_client_noise_multiplier,
    client_level_epsilon,
    clip_update,
    update_norm,
)


def big_update(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return OrderedDict(
        weight=torch.randn(8, 16, generator=generator) * 3,
        bias=torch.randn(8, generator=generator),
    )


def test_clipping_bounds_the_norm_and_keeps_the_direction() -> None:
    update = big_update()
    original = {name: tensor.clone() for name, tensor in update.items()}
    clipped, norm = clip_update(update, 1.5)
    assert norm == pytest.approx(update_norm(update)) and norm > 1.5
    assert update_norm(clipped) <= 1.5
    assert update_norm(clipped) == pytest.approx(1.5, rel=1e-5)
    for name in update:
        torch.testing.assert_close(update[name], original[name])  # input untouched
        torch.testing.assert_close(clipped[name], update[name] * (1.5 / norm))


@pytest.mark.parametrize("seed", range(20))
def test_clipping_bound_holds_after_float_rounding(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    update = torch.randn(1000, generator=generator, dtype=torch.float32) * 10 ** (seed % 5)
    clipped, _ = clip_update(update, 0.1)
    assert update_norm(clipped) <= 0.1


def test_small_updates_are_not_scaled_and_numpy_works() -> None:
    update = np.array([0.3, -0.4])
    clipped, norm = clip_update(update, 1.0)
    assert norm == pytest.approx(0.5)
    np.testing.assert_array_equal(clipped, update)
    assert isinstance(clipped, np.ndarray)


def test_bad_updates_are_refused() -> None:
    with pytest.raises(ConfigError, match="NaN"):
        clip_update(torch.tensor([1.0, math.nan]), 1.0)
    with pytest.raises(ConfigError, match="must be a torch.Tensor"):
        clip_update([1.0, 2.0], 1.0)  # type: ignore[type-var]


def test_noise_share_variance_is_sigma_squared_c_squared_over_m() -> None:
    engine = ClientLevelDP.from_budget(
        "org-a",
        epsilon=2.0,
        delta=1e-3,
        rounds=5,
        total_participants=20,
        participants_in_sum=8,
        clip_norm=0.5,
        generator=torch.Generator().manual_seed(0),
    )
    sigma, clip, m = engine.plan.noise_multiplier, 0.5, 8
    expected_variance = sigma**2 * clip**2 / m
    assert engine.plan.noise_std_per_participant == pytest.approx(math.sqrt(expected_variance))
    result = engine.privatize_update(torch.zeros(200_000, dtype=torch.float64))
    noise = result.update.numpy()
    # the sample variance of 200 000 Gaussians is within ±1.5% with overwhelming probability
    assert noise.mean() == pytest.approx(0.0, abs=5 * math.sqrt(expected_variance / noise.size))
    assert noise.var() == pytest.approx(expected_variance, rel=0.015)
    assert not result.clipped and result.noise_std == engine.plan.noise_std_per_participant


def test_m_shares_sum_to_noise_of_variance_sigma_squared_c_squared() -> None:
    sigma, clip, m = 1.7, 2.0, 10
    generator = torch.Generator().manual_seed(1)
    shares = [
        add_noise_share(
            torch.zeros(50_000, dtype=torch.float64),
            noise_std=sigma * clip / math.sqrt(m),
            generator=generator,
        )
        for _ in range(m)
    ]
    total = torch.stack(shares).sum(dim=0).numpy()
    assert total.var() == pytest.approx(sigma**2 * clip**2, rel=0.03)


def test_privatized_update_is_clipped_before_noise() -> None:
    engine = ClientLevelDP.from_budget(
        "org-a",
        epsilon=4.0,
        delta=1e-3,
        rounds=3,
        total_participants=10,
        participants_in_sum=5,
        clip_norm=1.0,
    )
    update = big_update()
    result = engine.privatize_update(update, generator=torch.Generator().manual_seed(3))
    assert result.clipped and result.norm_before_clipping == pytest.approx(update_norm(update))
    # subtracting the exact noise draw recovers an update of norm ≤ C
    replay = add_noise_share(
        OrderedDict((k, torch.zeros_like(v)) for k, v in update.items()),
        noise_std=result.noise_std,
        generator=torch.Generator().manual_seed(3),
    )
    denoised = OrderedDict((k, result.update[k] - replay[k]) for k in update)
    assert update_norm(denoised) <= 1.0 + 1e-5


@pytest.mark.parametrize("accountant", ["rdp", "pld"])
def test_epsilon_increases_with_rounds_and_decreases_with_sigma(accountant: str) -> None:
    def epsilon(sigma: float, rounds: int) -> float:
        return client_level_epsilon(
            noise_multiplier=sigma,
            rounds=rounds,
            sample_rate=0.5,
            delta=1e-4,
            accountant=accountant,
        )

    by_rounds = [epsilon(2.0, rounds) for rounds in (1, 4, 16)]
    assert by_rounds[0] < by_rounds[1] < by_rounds[2]
    by_sigma = [epsilon(sigma, 8) for sigma in (1.0, 2.0, 4.0)]
    assert by_sigma[0] > by_sigma[1] > by_sigma[2]


@pytest.mark.parametrize(
    ("epsilon", "rounds", "sample_rate", "accountant"),
    [
        (1.0, 10, 1.0, "rdp"),
        (4.0, 30, 0.2, "rdp"),
        (2.0, 10, 1.0, "pld"),
        (1.0, 5, 0.5, "pld"),
    ],
)
def test_calibration_hits_the_target_from_below(
    epsilon: float, rounds: int, sample_rate: float, accountant: str
) -> None:
    delta = 1e-4
    sigma = calibrate_client_noise_multiplier(
        epsilon=epsilon, delta=delta, rounds=rounds, sample_rate=sample_rate, accountant=accountant
    )
    reached = client_level_epsilon(
        noise_multiplier=sigma,
        rounds=rounds,
        sample_rate=sample_rate,
        delta=delta,
        accountant=accountant,
    )
    assert reached <= epsilon  # never above
    assert reached >= 0.98 * epsilon  # and not wastefully below
    # a slightly smaller σ would overspend: σ is (near) minimal
    assert (
        client_level_epsilon(
            noise_multiplier=sigma * 0.99,
            rounds=rounds,
            sample_rate=sample_rate,
            delta=delta,
            accountant=accountant,
        )
        > epsilon
    )


def test_rounds_compose_like_one_accountant_fed_all_rounds_and_then_stop() -> None:
    engine = ClientLevelDP.from_budget(
        "org-a",
        epsilon=2.0,
        delta=1e-3,
        rounds=4,
        total_participants=60,
        participants_in_sum=10,
        accountant="rdp",
    )
    spends = []
    for _ in range(10):
        try:
            engine.begin_round()
        except BudgetExhausted as signal:
            assert signal.participant_id == "org-a" and signal.epsilon_projected > 2.0
            break
        engine.privatize_update(torch.ones(3))
        spends.append(engine.record_round().epsilon_spent)
    assert len(spends) == 4
    assert spends == sorted(spends) and spends[-1] <= 2.0

    reference = rdp.RdpAccountant()
    reference.compose(
        dp_accounting.PoissonSampledDpEvent(
            1.0, dp_accounting.GaussianDpEvent(engine.plan.noise_multiplier)
        ),
        4,
    )
    assert engine.plan.short_round_delta == 0.0 and engine.plan.accounting_delta == 1e-3
    assert engine.get_epsilon() == reference.get_epsilon(1e-3)


def test_poisson_sampling_of_participants_is_refused_because_the_noise_counts_them(
        tmp_path: Path) -> None:
    # each drawn participant adds one noise share, so a sum's noise variance J·σ²C²/m tells
    # how many (J) were drawn: estimated from the released sums, J is exact for a large model
    sigma, clip, m, d = 3.0, 1.0, 10, 20_000
    share = sigma * clip / math.sqrt(m)
    generator = torch.Generator().manual_seed(0)
    for drawn in (8, 12):
        noise = sum(share * torch.randn(d, generator=generator) for _ in range(drawn))
        assert round(float(noise.square().sum()) / (d * share**2)) == drawn
    with pytest.raises(ConfigError, match=r"sample_rate must be 1 \(every participant, every "
                                          r"round\), got 0\.5; .*reveals how many"):
        ClientLevelDP.from_budget("org-a", epsilon=4.0, delta=1e-3, rounds=50,
                                  total_participants=80, participants_in_sum=10,
                                  sample_rate=0.5)
    # a state saved by an older version with q < 1 is not resumed
    engine = ClientLevelDP.from_budget("org-a", epsilon=4.0, delta=1e-3, rounds=5,
                                       total_participants=80, participants_in_sum=10)
    path = tmp_path / "state.json"
    engine.save(path)
    document = json.loads(path.read_text())
    document["plan"]["sample_rate"] = 0.5
    path.write_text(json.dumps(document))
    with pytest.raises(LedgerError, match="planned with sample_rate 0.5"):
        ClientLevelDP.load(path)


def test_pld_accountant_matches_dp_accounting() -> None:
    engine = ClientLevelDP.from_budget(
        "org-a",
        epsilon=1.5,
        delta=1e-3,
        rounds=3,
        total_participants=10,
        participants_in_sum=4,
        accountant="pld",
    )
    for _ in range(2):
        engine.begin_round()
        engine.record_round()  # not sampled this round: the round is still charged
    reference = pld.PLDAccountant()
    reference.compose(
        dp_accounting.PoissonSampledDpEvent(
            1.0, dp_accounting.GaussianDpEvent(engine.plan.noise_multiplier)
        ),
        2,
    )
    assert engine.get_epsilon() == reference.get_epsilon(1e-3)


def test_one_release_per_round() -> None:
    engine = ClientLevelDP.from_budget(
        "org-a", epsilon=3.0, delta=1e-3, rounds=3, total_participants=10, participants_in_sum=4
    )
    engine.privatize_update(torch.ones(2))  # begins the round implicitly
    with pytest.raises(ConfigError, match="already privatized"):
        engine.privatize_update(torch.ones(2))
    assert engine.record_round().round_index == 1


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"participants_in_sum": 11},
            r"participants_in_sum must be an integer in \[1, total_participants=10\]",
        ),
        ({"sample_rate": 0.2}, r"sample_rate must be 1 \(every participant, every round\)"),
        ({"sample_rate": 1.5}, r"sample_rate must be 1 .*got 1\.5"),
        ({"clip_norm": -1.0}, "clip_norm must be > 0"),
        ({"accountant": "prv"}, "accountant must be one of"),
        ({"epsilon": 0.0}, "epsilon must be a finite number > 0"),
    ],
)
def test_client_level_parameters_are_validated(overrides: dict[str, object], expected: str) -> None:
    arguments: dict[str, object] = {
        "epsilon": 2.0,
        "delta": 1e-3,
        "rounds": 3,
        "total_participants": 10,
        "participants_in_sum": 4,
    }
    arguments.update(overrides)
    with pytest.raises(ConfigError, match=expected):
        ClientLevelDP.from_budget("org-a", **arguments)  # type: ignore[arg-type]
