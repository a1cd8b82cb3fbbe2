"""The shared outcome rules: churn, lead conversion and opportunity win.

Each task's outcome is drawn from a logistic model over *canonical* values (USD, months,
0-100 percent, counts; before any org's unit or type transform)::

    logit = intercept[org] + sum_j coefficient[org, j] * term_j(canonical values)
    coefficient[org, j] = coefficient_j * exp(N(0, sigma))        (same sign everywhere)

The terms and base coefficients are the same in every org (the *shared rule*); orgs differ by
an intercept calibrated to an org-specific base rate and small multiplicative perturbations of
the coefficients. Terms include thresholds and interactions, so a non-linear model can beat a
logistic regression on the raw canonical columns a little. Terms over participant-specific
blocks (``group:`` columns) only act in orgs that have that block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

TASKS: tuple[str, ...] = ("churn", "lead_conversion", "win_probability")

#: which latent frame each task lives on
TASK_OBJECT: dict[str, str] = {
    "churn": "Account", "lead_conversion": "Lead", "win_probability": "Opportunity",
}

#: multiplicative spread of the org-specific coefficient perturbation
COEFFICIENT_SIGMA = 0.15


@dataclass(frozen=True)
class Term:
    """One input of a task rule: how it is computed and its base coefficient."""

    name: str
    coefficient: float
    formula: str
    concepts: tuple[str, ...]
    compute: Callable[[pd.DataFrame], np.ndarray]
    #: the participant-specific block this term needs, if any
    group: str | None = None


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=float, na_value=np.nan)


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(dtype=bool, na_value=False).astype(float)


def _is(frame: pd.DataFrame, column: str, *codes: str) -> np.ndarray:
    return frame[column].isin(codes).to_numpy().astype(float)


def _relu(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, 0.0)


CHURN_TERMS: tuple[Term, ...] = (
    Term("nps", -0.55, "(nps_score - 7) / 2.5", ("account.nps_score",),
         lambda f: (_num(f, "account.nps_score") - 7) / 2.5),
    Term("utilisation", -0.55, "(license_utilization_percent - 60) / 20",
         ("account.license_utilization_percent",),
         lambda f: (_num(f, "account.license_utilization_percent") - 60) / 20),
    Term("usage_declining", 0.7, "usage_trend == declining", ("account.usage_trend",),
         lambda f: _is(f, "account.usage_trend", "declining")),
    Term("usage_increasing", -0.35, "usage_trend == increasing", ("account.usage_trend",),
         lambda f: _is(f, "account.usage_trend", "increasing")),
    Term("case_load", 0.45, "log1p(cases_last_90_days)", ("account.cases_last_90_days",),
         lambda f: np.log1p(_num(f, "account.cases_last_90_days"))),
    Term("tenure", -0.3, "log(tenure_months / 24)", ("account.tenure_months",),
         lambda f: np.log(_num(f, "account.tenure_months") / 24)),
    Term("new_customer", 0.55, "tenure_months < 12 (threshold)", ("account.tenure_months",),
         lambda f: (_num(f, "account.tenure_months") < 12).astype(float)),
    Term("contract_value", -0.2, "log(arr_usd / 20000)", ("account.arr",),
         lambda f: np.log(np.maximum(_num(f, "account.arr"), 100.0) / 20000)),
    Term("late_payments", 0.35, "min(late_payment_count, 4)", ("account.late_payment_count",),
         lambda f: np.minimum(_num(f, "account.late_payment_count"), 4)),
    Term("executive_sponsor", -0.6, "has_executive_sponsor", ("account.has_executive_sponsor",),
         lambda f: _flag(f, "account.has_executive_sponsor")),
    Term("competitor_in_use", 0.45, "primary_competitor is not null",
         ("account.primary_competitor",),
         lambda f: f["account.primary_competitor"].notna().to_numpy().astype(float)),
    Term("discount", 0.15, "discount_percent / 10", ("account.discount_percent",),
         lambda f: _num(f, "account.discount_percent") / 10),
    Term("low_nps_x_case_load", 0.45, "max(0, (7 - nps_score) / 2.5) * log1p(cases_last_90_days)",
         ("account.nps_score", "account.cases_last_90_days"),
         lambda f: _relu((7 - _num(f, "account.nps_score")) / 2.5)
         * np.log1p(_num(f, "account.cases_last_90_days"))),
    Term("industry_consumer", 0.3, "industry in (retail, hospitality, media)",
         ("account.industry",),
         lambda f: _is(f, "account.industry", "retail", "hospitality", "media")),
    Term("industry_regulated", -0.25, "industry in (banking, finance, insurance, utilities)",
         ("account.industry",),
         lambda f: _is(f, "account.industry", "banking", "finance", "insurance", "utilities")),
    Term("loyalty_points", -0.4, "log1p(loyalty_points / 1000)", (),
         lambda f: np.log1p(_num(f, "group:loyalty_points") / 1000), group="loyalty_points"),
)

WIN_TERMS: tuple[Term, ...] = (
    Term("amount", -0.3, "log(amount_usd / 25000)", ("opportunity.amount",),
         lambda f: np.log(np.maximum(_num(f, "opportunity.amount"), 100.0) / 25000)),
    Term("discount", 0.55, "discount_percent / 10", ("opportunity.discount_percent",),
         lambda f: _num(f, "opportunity.discount_percent") / 10),
    Term("discount_squared", -0.3, "(discount_percent / 10) ** 2",
         ("opportunity.discount_percent",),
         lambda f: (_num(f, "opportunity.discount_percent") / 10) ** 2),
    Term("stakeholders", 0.4, "log1p(stakeholder_count)", ("opportunity.stakeholder_count",),
         lambda f: np.log1p(_num(f, "opportunity.stakeholder_count"))),
    Term("decision_maker", 0.6, "decision_maker_engaged",
         ("opportunity.decision_maker_engaged",),
         lambda f: _flag(f, "opportunity.decision_maker_engaged")),
    Term("executive_engaged", 0.45, "executive_sponsor_engaged",
         ("opportunity.executive_sponsor_engaged",),
         lambda f: _flag(f, "opportunity.executive_sponsor_engaged")),
    Term("competitor", -0.55, "has_competitor", ("opportunity.has_competitor",),
         lambda f: _flag(f, "opportunity.has_competitor")),
    Term("competitor_x_discount", 0.3, "has_competitor * discount_percent / 10",
         ("opportunity.has_competitor", "opportunity.discount_percent"),
         lambda f: _flag(f, "opportunity.has_competitor")
         * _num(f, "opportunity.discount_percent") / 10),
    Term("demo", 0.5, "demo_completed", ("opportunity.demo_completed",),
         lambda f: _flag(f, "opportunity.demo_completed")),
    Term("budget", 0.7, "budget_confirmed", ("opportunity.budget_confirmed",),
         lambda f: _flag(f, "opportunity.budget_confirmed")),
    Term("days_in_stage", -0.45, "log1p(days_in_stage / 30)", ("opportunity.days_in_stage",),
         lambda f: np.log1p(_num(f, "opportunity.days_in_stage") / 30)),
    Term("close_date_pushes", -0.3, "min(close_date_push_count, 4)",
         ("opportunity.close_date_push_count",),
         lambda f: np.minimum(_num(f, "opportunity.close_date_push_count"), 4)),
    Term("meetings", 0.3, "log1p(meetings_count)", ("opportunity.meetings_count",),
         lambda f: np.log1p(_num(f, "opportunity.meetings_count"))),
    Term("existing_customer", 0.55, "type in (existing_upgrade, renewal, existing_downgrade)",
         ("opportunity.type",),
         lambda f: _is(f, "opportunity.type", "existing_upgrade", "renewal",
                       "existing_downgrade")),
    Term("partner", 0.25, "partner_involved", ("opportunity.partner_involved",),
         lambda f: _flag(f, "opportunity.partner_involved")),
    Term("account_sponsor", 0.2, "account.has_executive_sponsor (via AccountId)",
         ("account.has_executive_sponsor",),
         lambda f: _flag(f, "account.has_executive_sponsor")),
    Term("security_review", 0.5, "security_review_passed", (),
         lambda f: _flag(f, "group:security_review_passed"), group="security_review_passed"),
)

LEAD_TERMS: tuple[Term, ...] = (
    Term("lead_score", 0.55, "(lead_score - 50) / 15", ("lead.lead_score",),
         lambda f: (_num(f, "lead.lead_score") - 50) / 15),
    Term("email_clicks", 0.3, "log1p(email_clicks)", ("lead.email_clicks",),
         lambda f: np.log1p(_num(f, "lead.email_clicks"))),
    Term("webinars", 0.3, "min(webinars_attended, 3)", ("lead.webinars_attended",),
         lambda f: np.minimum(_num(f, "lead.webinars_attended"), 3)),
    Term("pricing_visits", 0.45, "log1p(pricing_page_visits)", ("lead.pricing_page_visits",),
         lambda f: np.log1p(_num(f, "lead.pricing_page_visits"))),
    Term("demo_requested", 0.8, "demo_requested", ("lead.demo_requested",),
         lambda f: _flag(f, "lead.demo_requested")),
    Term("budget", 0.55, "budget_confirmed", ("lead.budget_confirmed",),
         lambda f: _flag(f, "lead.budget_confirmed")),
    Term("senior", 0.35, "seniority in (c_level, vp)", ("lead.seniority",),
         lambda f: _is(f, "lead.seniority", "c_level", "vp")),
    Term("timeframe_immediate", 0.7, "purchase_timeframe == immediate",
         ("lead.purchase_timeframe",),
         lambda f: _is(f, "lead.purchase_timeframe", "immediate")),
    Term("timeframe_3_months", 0.4, "purchase_timeframe == within_3_months",
         ("lead.purchase_timeframe",),
         lambda f: _is(f, "lead.purchase_timeframe", "within_3_months")),
    Term("timeframe_late", -0.45, "purchase_timeframe == over_12_months",
         ("lead.purchase_timeframe",),
         lambda f: _is(f, "lead.purchase_timeframe", "over_12_months")),
    Term("timeframe_none", -0.7, "purchase_timeframe == no_timeframe",
         ("lead.purchase_timeframe",),
         lambda f: _is(f, "lead.purchase_timeframe", "no_timeframe")),
    Term("response_delay", -0.35, "log1p(days_to_first_response)",
         ("lead.days_to_first_response",),
         lambda f: np.log1p(_num(f, "lead.days_to_first_response"))),
    Term("referral", 0.6, "lead_source in (partner_referral, employee_referral)",
         ("lead.lead_source",),
         lambda f: _is(f, "lead.lead_source", "partner_referral", "employee_referral")),
    Term("purchased_list", -0.8, "lead_source == purchased_list", ("lead.lead_source",),
         lambda f: _is(f, "lead.lead_source", "purchased_list")),
    Term("demo_x_fast_response", 0.5, "demo_requested * (days_to_first_response < 1)",
         ("lead.demo_requested", "lead.days_to_first_response"),
         lambda f: _flag(f, "lead.demo_requested")
         * (_num(f, "lead.days_to_first_response") < 1)),
    Term("booth_scans", 0.3, "log1p(booth_scans)", (),
         lambda f: np.log1p(_num(f, "group:booth_scans")), group="booth_scans"),
)

RULES: dict[str, tuple[Term, ...]] = {
    "churn": CHURN_TERMS, "lead_conversion": LEAD_TERMS, "win_probability": WIN_TERMS,
}


def design_matrix(task: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The rule's terms for every row of ``frame`` (a latent frame with canonical columns).

    Terms over a participant-specific block that ``frame`` lacks are zero.
    """
    columns: dict[str, np.ndarray] = {}
    for term in RULES[task]:
        if term.group is not None and f"group:{term.group}" not in frame:
            columns[term.name] = np.zeros(len(frame))
        else:
            columns[term.name] = term.compute(frame)
    return pd.DataFrame(columns, index=frame.index)


def org_coefficients(task: str, rng: np.random.Generator,
                     groups: frozenset[str]) -> dict[str, float]:
    """Shared coefficients perturbed for one org; zero for blocks the org does not have."""
    coefficients: dict[str, float] = {}
    for term in RULES[task]:
        factor = float(np.exp(rng.normal(0.0, COEFFICIENT_SIGMA)))
        active = term.group is None or term.group in groups
        coefficients[term.name] = round(term.coefficient * factor, 4) if active else 0.0
    return coefficients


def linear_predictor(task: str, frame: pd.DataFrame, coefficients: dict[str, float]) -> np.ndarray:
    """``sum_j coefficient_j * term_j`` without the intercept."""
    design = design_matrix(task, frame)
    result = np.zeros(len(frame))
    for name, coefficient in coefficients.items():
        if coefficient:
            result += coefficient * design[name].to_numpy(dtype=float)
    return result


def sigmoid(values: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-values))


def calibrate_intercept(linear: np.ndarray, base_rate: float) -> float:
    """The intercept that makes the mean predicted probability equal ``base_rate``
    (bisection; the mean is monotone in the intercept)."""
    low, high = -15.0, 15.0
    for _ in range(60):
        middle = (low + high) / 2
        if sigmoid(middle + linear).mean() < base_rate:
            low = middle
        else:
            high = middle
    return round((low + high) / 2, 4)
