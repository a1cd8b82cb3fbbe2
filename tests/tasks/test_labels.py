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
    # a constant prediction counts in both means: AUC 0.5, rank correlation 0
    constant = win.score(np.array([0, 0, 1, 1]), np.full(4, 0.3))
    assert constant == {"auc": 0.5, "spearman": 0.0}
    assert win.score(np.array([1, 1]), np.array([0.2, 0.3])) == {"auc": None, "spearman": None}
    assert get_task("churn").score(np.array([1, 1]), np.array([0.2, 0.3]))["auc"] is None
    with pytest.raises(FeatureError, match="unknown task"):
        get_task("upsell")


def test_a_churn_date_labels_an_account_whose_flag_is_blank() -> None:
    """Row by row: a recorded churn date means churned where the flag is missing."""
    table = pd.DataFrame({
        "account.churned": [np.nan, np.nan, 0.0, 1.0],
        "account.churn_date": pd.to_datetime(["2025-01-10", "2024-11-02", None, None]),
    })
    outcome = get_task("churn").outcome(table, REF)
    assert outcome.y.tolist() == [1.0, 1.0, 0.0, 1.0]
    assert outcome.definitive.tolist() == [True, True, False, False]
    assert outcome.as_of.iloc[0] == pd.Timestamp("2025-01-10")


def test_french_and_spanish_yes_flags_are_read() -> None:
    from fedcrm.features.convert import parse_booleans

    parsed = parse_booleans(pd.Series(["O", "N", "S", "n", "o"]))
    assert parsed.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0]


def test_young_leads_are_unlabelled_whatever_their_outcome() -> None:
    """Only the cohort of leads at least 180 days old is labelled, so age cannot give the
    label away (before, a young lead was labelled only when it had converted)."""
    table = pd.DataFrame({
        "lead.status": ["other", "other", "other", "other", "closed_not_converted"],
        "lead.is_converted": [1.0, 0.0, 1.0, 0.0, 0.0],
        "lead.created_date": pd.to_datetime(["2025-06-01", "2025-06-01", "2024-06-01",
                                             "2024-06-01", "2025-06-01"]),
    })
    outcome = get_task("lead_conversion").outcome(table, REF)
    assert np.isnan(outcome.y.iloc[0]) and np.isnan(outcome.y.iloc[1])
    assert outcome.y.tolist()[2:4] == [1.0, 0.0]
    assert np.isnan(outcome.y.iloc[4])  # closed young: still outside the cohort
    assert outcome.definitive.tolist() == [False, False, True, False, False]


def test_nothing_after_the_reference_date_counts() -> None:
    later = "2025-12-01"
    leads = pd.DataFrame({
        "lead.status": ["closed_converted", "closed_converted", "other"],
        "lead.is_converted": [1.0, 1.0, 0.0],
        "lead.created_date": pd.to_datetime(["2025-09-01", "2024-01-01", "2024-01-01"]),
        "lead.converted_date": pd.to_datetime([later, later, None]),
    })
    outcome = get_task("lead_conversion").outcome(leads, REF)
    # created after the reference: unlabelled; converted after it: open, so not converted
    assert np.isnan(outcome.y.iloc[0]) and outcome.y.tolist()[1:] == [0.0, 0.0]
    deals = pd.DataFrame({
        "opportunity.stage": ["closed_won", "closed_won"],
        "opportunity.close_date": pd.to_datetime([later, "2025-01-01"]),
    })
    outcome = get_task("win_probability").outcome(deals, REF)
    assert np.isnan(outcome.y.iloc[0]) and outcome.y.iloc[1] == 1.0
    assert (outcome.as_of <= REF).all()
    accounts = pd.DataFrame({
        "account.churned": [1.0, 0.0, 1.0],
        "account.churn_date": pd.to_datetime([later, None, "2025-01-01"]),
        "account.created_date": pd.to_datetime(["2020-01-01", later, "2020-01-01"]),
    })
    outcome = get_task("churn").outcome(accounts, REF)
    assert np.isnan(outcome.y.iloc[0]) and np.isnan(outcome.y.iloc[1])
    assert outcome.y.iloc[2] == 1.0
    assert (outcome.as_of <= REF).all()


def test_a_deal_closed_at_a_stage_without_a_result_is_unlabelled_without_a_won_flag() -> None:
    """Closed by the flag at stage ``other`` or blank: won or lost is not recorded (unless a
    loss reason says lost)."""
    table = pd.DataFrame({
        "opportunity.stage": ["other", None, "closed_lost", "closed_won", "other", None],
        "opportunity.is_closed": [1.0, 1.0, 1.0, 1.0, 0.0, 1.0],
        "opportunity.loss_reason": [None, None, None, None, None, "price"],
    })
    outcome = get_task("win_probability").outcome(table, REF)
    assert np.isnan(outcome.y.iloc[0]) and np.isnan(outcome.y.iloc[1])
    assert outcome.y.tolist()[2:4] == [0.0, 1.0] and np.isnan(outcome.y.iloc[4])
    assert not outcome.definitive.iloc[0] and not outcome.definitive.iloc[1]
    assert outcome.y.iloc[5] == 0.0 and outcome.definitive.iloc[5]  # a loss reason: lost
    # with a won flag, the flag decides
    flagged = table.assign(**{"opportunity.is_won": [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]})
    outcome = get_task("win_probability").outcome(flagged, REF)
    assert outcome.y.tolist()[:4] == [1.0, 0.0, 0.0, 1.0] and np.isnan(outcome.y.iloc[4])


def test_a_closed_deal_whose_won_flag_is_blank_is_unlabelled_not_lost() -> None:
    # flags only: the blank (or unreadable) flag of the third deal said "lost"
    flags = pd.DataFrame({"opportunity.is_won": [1.0, 0.0, np.nan, np.nan],
                          "opportunity.is_closed": [1.0, 1.0, 1.0, 1.0],
                          "opportunity.loss_reason": [None, None, None, "price"]})
    outcome = get_task("win_probability").outcome(flags, REF)
    assert outcome.y.tolist()[:2] == [1.0, 0.0] and np.isnan(outcome.y.iloc[2])
    assert outcome.y.iloc[3] == 0.0  # a loss reason still says lost
    # with a stage that names no result, the same
    staged = flags.assign(**{"opportunity.stage": ["other"] * 4})
    outcome = get_task("win_probability").outcome(staged, REF)
    assert outcome.y.tolist()[:2] == [1.0, 0.0] and np.isnan(outcome.y.iloc[2])


def test_churn_leaves_out_the_active_flag_which_is_the_outcome_itself() -> None:
    assert "account.is_active" in get_task("churn").excluded


def test_a_lead_whose_converted_flag_is_blank_or_unreadable_is_unlabelled() -> None:
    # a "Konvertiert" the boolean parser cannot read (NaN) was a negative; churn and win
    # leave such records unlabelled, and so does lead conversion unless the status decides
    table = pd.DataFrame({
        "lead.status": ["other", "other", "closed_converted", "closed_not_converted", "other"],
        "lead.is_converted": [1.0, np.nan, np.nan, np.nan, 0.0],
        "lead.created_date": pd.to_datetime(["2024-01-01"] * 5),
    })
    outcome = get_task("lead_conversion").outcome(table, REF)
    assert outcome.y.iloc[0] == 1.0 and np.isnan(outcome.y.iloc[1])
    assert outcome.y.tolist()[2:] == [1.0, 0.0, 0.0]  # the status decides
    assert outcome.definitive.tolist() == [True, False, True, True, False]
    # without a creation date or a status the flag is all there is
    flag_only = pd.DataFrame({"lead.is_converted": [1.0, np.nan, 0.0]})
    y = get_task("lead_conversion").outcome(flag_only, REF).y
    assert y.iloc[0] == 1.0 and np.isnan(y.iloc[1]) and y.iloc[2] == 0.0


def test_without_a_converted_flag_a_blank_or_unreadable_status_is_unlabelled() -> None:
    # "Converted - Partner" (canonical other) or a blank status in an org without IsConverted
    # was labelled not converted; with a blank flag the same lead is left unlabelled
    table = pd.DataFrame({
        "lead.status": ["closed_converted", "closed_not_converted", "other", None, "working"],
        "lead.created_date": pd.to_datetime(["2024-01-01"] * 5),
    })
    y = get_task("lead_conversion").outcome(table, REF).y
    assert y.iloc[0] == 1.0 and y.iloc[1] == 0.0 and y.iloc[4] == 0.0  # an old open lead
    assert np.isnan(y.iloc[2]) and np.isnan(y.iloc[3])
