from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedcrm import ConfigError
from fedcrm.features import (
    QualityMetrics,
    enough_examples,
    quality_multiplier,
    quality_score,
    suppress_rare,
)


def test_rare_values_are_merged_and_reported() -> None:
    values = pd.Series(["a"] * 6 + ["b"] * 5 + ["c"] * 4 + ["d"] + [None])
    merged, report = suppress_rare(values, k=5)
    assert set(merged.dropna()) == {"a", "b", "other"}
    assert (merged == "other").sum() == 5
    assert report.n_values_merged == 2 and report.n_records_affected == 5
    assert pd.isna(merged.iloc[-1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(list("abcdefgh")), max_size=60), st.integers(2, 8))
def test_no_value_below_k_survives(values: list[str], k: int) -> None:
    merged, _ = suppress_rare(pd.Series(values, dtype=object), k=k)
    counts = merged.value_counts()
    assert all(count >= k for count in counts)  # the "other" bucket too


def test_minimum_examples_rule() -> None:
    frame = pd.DataFrame({"custom:a": [1.0] * 60, "custom:b": [1.0] * 49 + [None] * 11})
    kept, excluded = enough_examples(frame, ["custom:a", "custom:b", "custom:c"])
    assert kept == ["custom:a"]
    assert [(e.column, e.n_examples) for e in excluded] == [("custom:b", 49), ("custom:c", 0)]
    with pytest.raises(ConfigError):
        enough_examples(frame, ["custom:a"], min_examples=0)


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_multiplier_stays_in_bounds(completeness: float, recency: float, reliability: float
                                    ) -> None:
    metrics = QualityMetrics(completeness=completeness, recency=recency,
                             label_reliability=reliability, n_records=10, n_labelled=10)
    assert 0.6 <= quality_multiplier(metrics) <= 1.4
    assert quality_multiplier(metrics) == pytest.approx(0.6 + 0.8 * quality_score(metrics))


def test_multiplier_extremes_and_monotonicity() -> None:
    def m(c: float, r: float, q: float) -> float:
        return quality_multiplier(QualityMetrics(completeness=c, recency=r,
                                                 label_reliability=q, n_records=1,
                                                 n_labelled=1))
    assert m(0, 0, 0) == pytest.approx(0.6) and m(1, 1, 1) == pytest.approx(1.4)
    assert m(0.5, 0.5, 0.5) == pytest.approx(1.0)
    assert m(0.9, 0.5, 0.5) > m(0.5, 0.5, 0.5)
    with pytest.raises(ConfigError, match="weights"):
        quality_score(QualityMetrics(completeness=1, recency=1, label_reliability=1,
                                     n_records=1, n_labelled=1), weights=(1.0, -1.0, 0.0))


@pytest.mark.parametrize("weights", [(float("nan"), 1.0, 1.0), (float("inf"), 1.0, 1.0),
                                     (0.0, 0.0, 0.0), (1e308, 1e308, 1e308)])
def test_weights_must_be_finite_non_negative_and_not_all_zero(weights) -> None:
    metrics = QualityMetrics(completeness=1, recency=1, label_reliability=1, n_records=1,
                             n_labelled=1)
    with pytest.raises(ConfigError, match="finite"):
        quality_multiplier(metrics, weights)


def test_only_shared_rows_count_and_a_small_other_bucket_is_suppressed() -> None:
    # "b": 1 labelled record (shared) and 4 unlabelled ones (never shared): rare
    values = pd.Series(["a"] * 6 + ["b"] * 5 + ["c"] * 6, name="industry")
    shared = pd.Series([True] * 6 + [True] + [False] * 4 + [True] * 6)
    merged, report = suppress_rare(values, k=5, counted=shared)
    # "b" merges into "other", which then holds one shared record: suppressed to null
    assert merged[shared.to_numpy()].value_counts().min() >= 5
    assert merged.iloc[6:11].isna().all()
    assert (report.n_values_merged, report.n_records_affected,
            report.n_records_suppressed) == (1, 1, 1)
    # without a bucket (other=""), rare values become null rather than an all-zero pattern
    nulled, report = suppress_rare(pd.Series(["a"] * 5 + ["z"]), k=5, other="")
    assert nulled.iloc[-1] is None and report.n_records_suppressed == 1
