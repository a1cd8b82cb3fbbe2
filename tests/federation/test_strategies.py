from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedcrm import AggregationError, ConfigError
from fedcrm.federation import (
    CoordinateMedian,
    FedAvg,
    FedProx,
    QualityWeighted,
    TrainingConfig,
    TrimmedMean,
    make_strategy,
)
from fedcrm.federation.strategies import select_participants
from tests.federation.helpers import update


def test_fedavg_weights_by_sample_count() -> None:
    result = FedAvg().aggregate([update("a", [1.0, 0.0], 100), update("b", [0.0, 2.0], 300)])
    # (100·[1,0] + 300·[0,2]) / 400 = [0.25, 1.5]
    np.testing.assert_allclose(result.step, [0.25, 1.5])
    assert result.weights == {"a": 0.25, "b": 0.75}


def test_quality_weighted_multiplies_counts_by_quality() -> None:
    updates = [update("a", [1.0], 100, quality=1.4), update("b", [0.0], 100, quality=0.6)]
    result = QualityWeighted().aggregate(updates)
    # weights 140 : 60 → step 0.7
    np.testing.assert_allclose(result.step, [0.7])
    assert result.weights["a"] == pytest.approx(0.7)


def test_median_and_trimmed_mean() -> None:
    updates = [update("a", [1.0, 10.0], 1), update("b", [2.0, -5.0], 1),
               update("c", [3.0, 0.0], 1), update("d", [100.0, 1.0], 1),
               update("e", [4.0, 2.0], 1)]
    np.testing.assert_allclose(CoordinateMedian().aggregate(updates).step, [3.0, 1.0])
    # trim 20% of 5 = 1 per side: column 0 keeps 2,3,4 → 3; column 1 keeps 0,1,2 → 1
    np.testing.assert_allclose(TrimmedMean(0.2).aggregate(updates).step, [3.0, 1.0])


def test_trimmed_mean_trims_the_exact_share_despite_float_rounding() -> None:
    # 0.29 × 100 is 28.999999999999996 in floats: one update too few was trimmed per side
    updates = [update(f"p{i}", [float(i)], 1) for i in range(100)]
    result = TrimmedMean(0.29).aggregate(updates)
    assert result.info["trimmed_per_side"] == 29
    np.testing.assert_allclose(result.step, [np.mean(np.arange(29, 71))])
    assert TrimmedMean(1 / 49).aggregate(updates[:49]).info["trimmed_per_side"] == 1


def test_fedprox_sets_mu() -> None:
    plan = FedProx(mu=0.1).configure_round(0, ["a", "b"], 2, np.random.default_rng(0))
    assert plan.prox_mu == 0.1 and plan.participants == ["a", "b"]
    with pytest.raises(ConfigError, match="mu > 0"):
        FedProx(mu=0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10_000), st.floats(0.6, 1.4)), min_size=1,
                max_size=8))
def test_quality_weights_stay_within_bounds(counts: list[tuple[int, float]]) -> None:
    updates = [update(f"p{i}", [1.0], n, q) for i, (n, q) in enumerate(counts)]
    quality = QualityWeighted().aggregate(updates).weights
    plain = FedAvg().aggregate(updates).weights
    assert sum(quality.values()) == pytest.approx(1.0)
    for pid in quality:
        # a multiplier in [0.6, 1.4] moves a weight by at most a factor 1.4/0.6 either way
        assert plain[pid] * 0.6 / 1.4 - 1e-9 <= quality[pid] <= plain[pid] * 1.4 / 0.6 + 1e-9


def test_bad_inputs() -> None:
    with pytest.raises(AggregationError, match="no updates"):
        FedAvg().aggregate([])
    with pytest.raises(AggregationError, match="different shapes"):
        FedAvg().aggregate([update("a", [1.0], 1), update("b", [1.0, 2.0], 1)])
    with pytest.raises(ConfigError, match="unknown strategy"):
        make_strategy("best")
    # an option the strategy does not take is named, not a raw TypeError
    with pytest.raises(ConfigError, match="strategy 'fedavg' takes no options; got mu"):
        make_strategy("fedavg", mu=0.1)
    with pytest.raises(ConfigError, match="'trimmed_mean' takes only trim; got alpha"):
        make_strategy("trimmed_mean", alpha=0.1)
    with pytest.raises(ConfigError, match=r"needs a number trim in \[0, 0\.5\), got '0\.2'"):
        make_strategy("trimmed_mean", trim="0.2")
    assert make_strategy("fedprox", mu=0.5).mu == 0.5  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="at least one participant"):
        select_participants([], 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"quality_multiplier"):
        update("a", [1.0], 1, quality=2.0)


def test_participant_sampling() -> None:
    rng = np.random.default_rng(0)
    ids = [f"p{i}" for i in range(10)]
    assert len(select_participants(ids, 3, rng)) == 3
    assert select_participants(ids, 10, rng) == ids
    assert TrainingConfig(participant_fraction=0.3).per_round(10) == 3
    assert TrainingConfig(participants_per_round=4).per_round(10) == 4
    assert TrainingConfig().per_round(10) == 10
