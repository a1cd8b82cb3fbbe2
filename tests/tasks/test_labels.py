from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedcrm import FeatureError
from fedcrm.tasks import get_task

REF = pd.Timestamp("2025-06-30")


def test_churn_definitive_and_inferred() -> None:
    table = pd.DataFrame({
        "account.churned": [1.0, 1.0, 0.0, 0.0, np.nan],
        "account.churn_date": pd.to_datetime(["2025-01-10", None, None, None, None]),
        "account.renewal_count": [0, 0, 2, 0, 1],
    })
    outcome = get_task("churn").outcome(table, REF)
    assert outcome.y.tolist()[:4] == [1.0, 1.0, 0.0, 0.0] and np.isnan(outcome.y.iloc[4])
    # churned with a date, retained with a renewal: definitive; the rest inferred
    assert outcome.definitive.tolist()[:4] == [True, False, True, False]
    assert outcome.as_of.iloc[0] == pd.Timestamp("2025-01-10")
    assert outcome.as_of.iloc[1] == REF
    assert outcome.label_reliability == pytest.approx(0.5)


def test_churn_from_date_only() -> None:
    table = pd.DataFrame({"account.churn_date": pd.to_datetime(["2025-01-10", None])})
    outcome = get_task("churn").outcome(table, REF)
    assert outcome.y.tolist() == [1.0, 0.0]


def test_lead_conversion_rules() -> None:
    table = pd.DataFrame({
        "lead.status": ["closed_converted", "closed_not_converted", "working_contacted",
                        "working_contacted"],
        "lead.is_converted": [1.0, 0.0, 0.0, 0.0],
        "lead.created_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-06-01",
                                             "2025-06-01"]),
    })
    outcome = get_task("lead_conversion").outcome(table, REF)
    assert outcome.y.tolist()[:3] == [1.0, 0.0, 0.0]
    assert np.isnan(outcome.y.iloc[3])  # a young open lead is undecided
    assert outcome.definitive.tolist() == [True, True, False, False]


def test_win_only_closed_deals_are_labelled() -> None:
    table = pd.DataFrame({
        "opportunity.stage": ["closed_won", "closed_lost", "closed_lost", "negotiation_review"],
        "opportunity.loss_reason": [None, "price", None, None],
        "opportunity.close_date": pd.to_datetime(["2025-01-01"] * 4),
    })
    outcome = get_task("win_probability").outcome(table, REF)
    assert outcome.y.tolist()[:3] == [1.0, 0.0, 0.0] and np.isnan(outcome.y.iloc[3])
    assert outcome.definitive.tolist() == [True, True, False, False]
    assert outcome.as_of.iloc[0] == pd.Timestamp("2025-01-01")
    assert outcome.as_of.iloc[3] == REF


def test_metrics() -> None:
    win = get_task("win_probability")
    scores = win.score(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert scores["auc"] == pytest.approx(0.75) and scores["spearman"] is not None
    assert get_task("churn").score(np.array([1, 1]), np.array([0.2, 0.3]))["auc"] is None
    with pytest.raises(FeatureError, match="unknown task"):
        get_task("upsell")
