"""The latent generative model: canonical values for every record of one org.

Everything here is in canonical units (USD, months, hours, 0-100 percent, value-set codes,
booleans, dates); :mod:`fedcrm.synth.encode` later turns these into each org's own fields,
units, types and picklist spellings and blanks values according to the org's completeness.

Frames are keyed by object (``Account``, ``Contact``, ``Lead``, ``Opportunity``, ``Case`` and
``Visit`` for the optional custom object). Columns are concept ids (``account.nps_score``),
``group:<id>`` for participant-specific blocks, ``x:<name>`` for meanings without a concept,
and ``truth:<name>`` for the true outcomes, which no org field ever shows directly.

The model is described in ``docs/synth.md``; all loops are vectorised with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fedcrm.synth import fake
from fedcrm.synth.rules import (
    calibrate_intercept,
    linear_predictor,
    org_coefficients,
    sigmoid,
)

DAYS_PER_MONTH = 30.4375
SECONDS_PER_DAY = 86_400

INDUSTRY_SIZE_SHIFT: dict[str, float] = {
    "banking": 0.6, "insurance": 0.5, "telecommunications": 0.6, "utilities": 0.4,
    "energy": 0.4, "manufacturing": 0.3, "consulting": -0.5, "hospitality": -0.3,
    "media": -0.3, "education": 0.1, "retail": 0.2,
}

REGION_CODES: tuple[str, ...] = ("na", "emea", "apac", "latam")
TIER_CODES: tuple[str, ...] = ("basic", "standard", "professional", "enterprise")
TIER_PRICE_USD: tuple[float, ...] = (15.0, 35.0, 65.0, 110.0)
SEGMENT_CODES: tuple[str, ...] = ("smb", "mid_market", "enterprise", "strategic")
SLA_BY_TIER: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")
SENIORITY_CODES: tuple[str, ...] = ("c_level", "vp", "director", "manager",
                                    "individual_contributor")
TIMEFRAME_CODES: tuple[str, ...] = ("immediate", "within_3_months", "within_6_months",
                                    "within_12_months", "over_12_months", "no_timeframe")
LEAD_SOURCE_CODES: tuple[str, ...] = ("web", "phone_inquiry", "partner_referral",
                                      "purchased_list", "employee_referral", "trade_show",
                                      "webinar", "email_campaign", "social_media", "other")
OPEN_STAGES: tuple[str, ...] = ("prospecting", "qualification", "needs_analysis",
                                "proposal_price_quote", "negotiation_review")
STAGE_PROBABILITY: dict[str, float] = {
    "prospecting": 10, "qualification": 20, "needs_analysis": 30, "proposal_price_quote": 60,
    "negotiation_review": 80, "closed_won": 100, "closed_lost": 0,
}
STAGE_FORECAST: dict[str, str] = {
    "prospecting": "pipeline", "qualification": "pipeline", "needs_analysis": "best_case",
    "proposal_price_quote": "best_case", "negotiation_review": "commit",
    "closed_won": "closed", "closed_lost": "omitted",
}

#: Days after creation before a lead counts as decided (younger leads are still being worked).
LEAD_DECISION_AGE_DAYS = 60
#: Open leads at least this old are treated as lost (an *inferred* label).
LEAD_STALE_AGE_DAYS = 180
#: No activity for longer than this marks an account dormant (the *inferred* churn signal).
DORMANCY_DAYS = 365


@dataclass(frozen=True)
class OrgDraw:
    """Per-org parameters of the generative model (drawn in :mod:`fedcrm.synth.federation`)."""

    index: int
    language: str
    currency: str
    n_accounts: int
    completeness: float
    recency: float
    label_reliability: float
    industry_mix: dict[str, float]
    region_mix: dict[str, float]
    lead_source_mix: dict[str, float]
    base_rates: dict[str, float]
    groups: frozenset[str]
    has_visits: bool
    size_log_mean: float
    tenure_scale_months: float
    utilisation_mean: float
    satisfaction_shift: float
    cases_per_quarter: float
    response_days: float
    first_response_hours: float
    contacts_per_account: float
    opportunities_per_account: float
    leads_per_account: float
    competitor_rate: float
    sponsor_shift: float


@dataclass
class LatentOrg:
    """Canonical frames of one org plus the rule parameters used for its outcomes."""

    frames: dict[str, pd.DataFrame]
    coefficients: dict[str, dict[str, float]] = field(default_factory=dict)
    intercepts: dict[str, float] = field(default_factory=dict)
    user_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))


def _choice(rng: np.random.Generator, mix: dict[str, float], size: int) -> np.ndarray:
    codes = np.asarray(list(mix), dtype=object)
    weights = np.asarray(list(mix.values()), dtype=float)
    return codes[rng.choice(len(codes), size=size, p=weights / weights.sum())]


def _choice_rows(rng: np.random.Generator, codes: tuple[str, ...],
                 probabilities: np.ndarray) -> np.ndarray:
    """One code per row, each row with its own probability vector (rows sum to 1)."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(probabilities))[:, None]
    index = np.minimum((draws > cumulative).sum(axis=1), len(codes) - 1)
    return np.asarray(codes, dtype=object)[index]


def to_dates(days: np.ndarray) -> np.ndarray:
    """Whole days since 1970-01-01 (float, NaN for missing) → ``datetime64[s]`` at midnight."""
    result = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[s]")
    present = ~np.isnan(days)
    result[present] = (np.floor(days[present]).astype(np.int64) * SECONDS_PER_DAY).astype(
        "datetime64[s]")
    return result


def to_datetimes(days: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Days (float) → ``datetime64[s]`` with a time of day in office hours (07:00-19:00 UTC)."""
    result = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[s]")
    present = ~np.isnan(days)
    seconds = rng.integers(7 * 3600, 19 * 3600, size=len(days))
    whole = np.floor(np.where(present, days, 0)).astype(np.int64) * SECONDS_PER_DAY
    result[present] = (whole + seconds)[present].astype("datetime64[s]")
    return result


def _days(stamps: np.ndarray | pd.Series) -> np.ndarray:
    """``datetime64`` values → days since 1970 as float (NaN for NaT), fractions kept."""
    seconds = np.asarray(stamps).astype("datetime64[s]")
    return np.where(np.isnat(seconds), np.nan,
                    seconds.astype(np.int64) / SECONDS_PER_DAY)


def _counts_to_offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    return offsets


def _pick_text(rng: np.random.Generator, options: tuple[str, ...], size: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), size=size)]


def _only(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` holds, ``None`` elsewhere (an object array)."""
    result = np.full(len(mask), None, dtype=object)
    result[mask] = np.asarray(values, dtype=object)[mask]
    return result


def simulate(draw: OrgDraw, rng: np.random.Generator, rule_rng: np.random.Generator,
             reference_day: int) -> LatentOrg:
    """Generate every canonical record of one org.

    ``rng`` drives the records, ``rule_rng`` only the org's coefficient perturbations (so the
    rule of an org does not change when record counts do).
    """
    coefficients = {
        task: org_coefficients(task, rule_rng, draw.groups)
        for task in ("churn", "lead_conversion", "win_probability")
    }
    pod = 10 + draw.index
    n_users = int(np.clip(draw.n_accounts // 150, 3, 60))
    users = fake.salesforce_ids("005", n_users, pod=pod, start=int(rng.integers(1, 9_000)))
    latent = LatentOrg(frames={}, coefficients=coefficients, user_ids=users)
    account = _accounts(draw, rng, reference_day, latent, pod)
    contact = _contacts(draw, rng, reference_day, account, pod, users)
    case = _cases(draw, rng, reference_day, account, contact, pod, users)
    opportunity = _opportunities(draw, rng, reference_day, account, latent, pod, users)
    lead = _leads(draw, rng, reference_day, account, contact, opportunity, latent, pod, users)
    latent.frames = {
        "Account": account, "Contact": contact, "Case": case, "Opportunity": opportunity,
        "Lead": lead,
    }
    if draw.has_visits:
        latent.frames["Visit"] = _visits(draw, rng, reference_day, account)
    return latent


def _accounts(draw: OrgDraw, rng: np.random.Generator, ref: int, latent: LatentOrg,
              pod: int) -> pd.DataFrame:
    n = draw.n_accounts
    language = draw.language
    industry = _choice(rng, draw.industry_mix, n)
    region = _choice(rng, draw.region_mix, n)
    size_shift = np.asarray([INDUSTRY_SIZE_SHIFT.get(code, 0.0) for code in industry])
    employees = np.clip(np.round(np.exp(rng.normal(draw.size_log_mean, 1.2, n) + size_shift)),
                        2, 250_000)
    segment_index = np.searchsorted([100, 1000, 10_000], employees, side="right")
    segment = np.asarray(SEGMENT_CODES, dtype=object)[segment_index]
    revenue = np.round(employees * np.exp(rng.normal(np.log(170_000), 0.45, n)), -3)
    tenure = np.minimum(1 + rng.gamma(1.6, draw.tenure_scale_months, n), 180.0)
    tier_probabilities = np.asarray([
        [0.45, 0.35, 0.15, 0.05], [0.2, 0.4, 0.3, 0.1], [0.05, 0.25, 0.4, 0.3],
        [0.02, 0.13, 0.4, 0.45],
    ])[segment_index]
    tier = _choice_rows(rng, TIER_CODES, tier_probabilities)
    tier_index = np.select([tier == code for code in TIER_CODES], np.arange(4), 0)
    seats = np.clip(np.round(np.exp(0.62 * np.log(employees) + rng.normal(0, 0.45, n))), 1,
                    20_000)
    discount = np.round(100 * rng.beta(1.5, 9, n), 1)
    arr = np.round(seats * np.asarray(TIER_PRICE_USD)[tier_index] * 12 * (1 - discount / 100), 2)
    term_probabilities = np.asarray([
        [0.3, 0.6, 0.1], [0.15, 0.6, 0.25], [0.05, 0.55, 0.4], [0.02, 0.4, 0.58],
    ])[segment_index]
    contract_term = _choice_rows(rng, ("month_to_month", "annual", "multi_year"),
                                 term_probabilities)
    term_months = np.select([contract_term == "month_to_month", contract_term == "annual"],
                            [1.0, 12.0], 36.0)
    contract_value = np.round(arr * term_months / 12, 2)
    lifetime_value = np.round(arr * tenure / 12 * rng.uniform(0.85, 1.05, n), 2)
    true_renewals = np.floor(tenure / np.maximum(term_months, 12)).astype(float)
    auto_renew = rng.random(n) < np.select(
        [contract_term == "month_to_month", contract_term == "annual"], [0.9, 0.5], 0.25)
    billing = np.where(contract_term == "month_to_month", "monthly",
                       _choice(rng, {"monthly": 0.3, "quarterly": 0.3, "annual": 0.4}, n))
    payment = _choice(rng, {"credit_card": 0.25, "bank_transfer": 0.35, "direct_debit": 0.2,
                            "invoice": 0.2}, n)
    stress = rng.normal(0, 1, n)
    late = rng.poisson(np.exp(-0.9 + 0.7 * stress)).astype(float)
    overdue = np.where(late > 0, np.round(arr * rng.uniform(0.01, 0.12, n)
                                          * np.minimum(late, 4) / 2, 2), 0.0)
    satisfaction = rng.normal(draw.satisfaction_shift, 1, n)
    mean_u = draw.utilisation_mean
    utilisation = np.clip(rng.beta(mean_u * 7, (1 - mean_u) * 7, n) + 0.06 * satisfaction,
                          0.02, 1.0)
    trend_signal = 0.6 * (utilisation - mean_u) / 0.2 + 0.4 * satisfaction + rng.normal(0, 0.8, n)
    usage_trend = np.select([trend_signal < -0.75, trend_signal > 0.75],
                            ["declining", "increasing"], "stable").astype(object)
    nps = np.clip(np.round(7 + 2 * satisfaction + rng.normal(0, 1, n)), 0, 10)
    nps_category = np.select([nps >= 9, nps >= 7], ["promoter", "passive"],
                             "detractor").astype(object)
    csat = np.clip(np.round(3.6 + 0.8 * satisfaction + rng.normal(0, 0.6, n)), 1, 5)
    seats_used = np.round(seats * utilisation)
    active_users = np.round(seats_used * rng.uniform(0.8, 1.0, n))
    utilisation_percent = np.round(100 * seats_used / seats, 1)
    logins = rng.poisson(active_users * (3 + 10 * utilisation)).astype(float)
    days_since_login = np.round(rng.exponential(2 + 40 * (1 - utilisation) ** 2))
    adoption = np.round(100 * np.clip(rng.beta(2, 3, n) + 0.3 * (utilisation - mean_u), 0.02, 1),
                        1)
    integrations = rng.poisson(0.4 + 0.7 * tier_index).astype(float)
    products = (1 + rng.poisson(0.2 + 0.4 * tier_index)).astype(float)
    onboarding = rng.random(n) < np.where(tenure < 4, 0.5, 0.95)
    sponsor = rng.random(n) < sigmoid(-0.9 + 0.55 * segment_index + draw.sponsor_shift)
    competitor_in_use = rng.random(n) < draw.competitor_rate
    competitor = _only(competitor_in_use, _pick_text(rng, fake.COMPETITORS, n))
    case_rate = np.exp(np.log(draw.cases_per_quarter) + 0.25 * (np.log1p(seats) - 3.5)
                       - 0.35 * satisfaction + 0.3 * (utilisation < 0.4) + rng.normal(0, 0.35, n))
    cases_90 = rng.poisson(case_rate).astype(float)
    meetings = rng.poisson(np.exp(-0.3 + 0.25 * tier_index + 0.3 * sponsor + 0.2 * satisfaction))
    engagement = np.select([meetings >= 4, meetings >= 2, meetings >= 1], ["high", "medium", "low"],
                           "none").astype(object)
    engagement = np.where((engagement == "none") & (rng.random(n) < 0.5), "low", engagement)
    health = np.clip(np.round(52 + 11 * satisfaction + 14 * (utilisation - mean_u) / 0.2
                              - 5 * np.log1p(cases_90) - 6 * np.minimum(late, 3)
                              + rng.normal(0, 8, n)), 0, 100)
    health_status = np.select([health >= 70, health >= 45], ["green", "amber"],
                              "red").astype(object)
    at_risk = (health < 40) | (rng.random(n) < 0.05)
    sla = np.asarray(SLA_BY_TIER, dtype=object)[np.clip(
        tier_index + (rng.random(n) < 0.2) * rng.choice([-1, 1], n), 0, 3)]
    first, last = fake.people(rng, language, n)
    sponsor_name = _only(sponsor, first + " " + last)
    names = fake.company_names(rng, language, n)
    domains = fake.domains(names)
    countries = np.empty(n, dtype=object)
    for code in REGION_CODES:
        mask = region == code
        countries[mask] = _pick_text(rng, fake.COUNTRIES[language][code], int(mask.sum()))
    frame: dict[str, object] = {
        "account.id": fake.salesforce_ids("001", n, pod=pod, start=int(rng.integers(1, 90_000))),
        "account.name": names,
        "account.account_number": "A-" + fake.zero_padded(100_000 + np.arange(n), 6),
        "account.type": _choice(rng, {"customer_direct": 0.75, "customer_channel": 0.2,
                                      "technology_partner": 0.03, "other": 0.02}, n),
        "account.industry": industry,
        "account.annual_revenue": revenue,
        "account.number_of_employees": employees,
        "account.rating": np.select([health >= 70, health >= 40], ["hot", "warm"],
                                    "cold").astype(object),
        "account.ownership": np.where(segment_index >= 2,
                                      _choice(rng, {"public": 0.5, "subsidiary": 0.3,
                                                    "private": 0.2}, n), "private"),
        "account.account_source": _choice(rng, draw.lead_source_mix, n),
        "account.billing_city": _pick_text(rng, fake.CITIES[language], n),
        "account.billing_country": countries,
        "account.billing_postal_code": fake.zero_padded(rng.integers(1000, 99_999, n), 5),
        "account.phone": fake.phones(rng, language, n),
        "account.website": "https://www." + domains,
        "x:domain": domains,
        "account.owner_id": latent_users(rng, latent, n),
        "account.currency_iso_code": np.full(n, draw.currency, dtype=object),
        "account.tenure_months": np.round(tenure, 1),
        "account.contract_term": contract_term.astype(object),
        "account.auto_renew": auto_renew,
        "account.contract_value": contract_value,
        "account.arr": arr,
        "account.mrr": np.round(arr / 12, 2),
        "account.lifetime_value": lifetime_value,
        "account.discount_percent": discount,
        "account.payment_method": payment,
        "account.billing_frequency": billing.astype(object),
        "account.late_payment_count": late,
        "account.overdue_balance": overdue,
        "account.nps_score": nps,
        "account.nps_category": nps_category,
        "account.csat_score": csat,
        "account.health_score": health,
        "account.health_status": health_status,
        "account.at_risk": at_risk,
        "account.active_users": active_users,
        "account.logins_last_30_days": logins,
        "account.days_since_last_login": days_since_login,
        "account.feature_adoption_percent": adoption,
        "account.seats_purchased": seats,
        "account.seats_used": seats_used,
        "account.license_utilization_percent": utilisation_percent,
        "account.usage_trend": usage_trend,
        "account.integrations_count": integrations,
        "account.number_of_products": products,
        "account.product_tier": tier,
        "account.onboarding_completed": onboarding,
        "account.cases_last_90_days": cases_90,
        "account.meetings_last_90_days": meetings.astype(float),
        "account.engagement_level": engagement,
        "account.has_executive_sponsor": sponsor,
        "account.executive_sponsor_name": sponsor_name,
        "account.customer_segment": segment,
        "account.region": region,
        "account.sla_level": sla,
        "account.primary_competitor": competitor,
        "x:credit_score": np.clip(np.round(650 - 45 * stress + rng.normal(0, 50, n)), 300, 850),
        "x:onboarding_status": np.where(onboarding, "live", np.where(
            rng.random(n) < 0.7, "in_progress", "not_started")).astype(object),
        "x:satisfaction": satisfaction,
        "x:utilisation": utilisation,
        "x:case_rate": case_rate,
    }
    if "loyalty_points" in draw.groups:
        frame["group:loyalty_points"] = np.round(rng.gamma(2.0, 900 * np.sqrt(tenure / 12)))
    if "esg_score" in draw.groups:
        frame["group:esg_score"] = np.clip(np.round(rng.normal(60, 15, n)), 0, 100)
    if "carbon_footprint" in draw.groups:
        frame["group:carbon_footprint"] = np.round(
            employees * np.exp(rng.normal(np.log(4.0), 0.6, n)), 1)
    if "partner_tier" in draw.groups:
        frame["group:partner_tier"] = _choice(
            rng, {"registered": 0.5, "silver": 0.25, "gold": 0.17, "platinum": 0.08}, n)
    accounts = pd.DataFrame(frame)

    # --- churn outcome from the shared rule -------------------------------------------------
    linear = linear_predictor("churn", accounts, latent.coefficients["churn"])
    intercept = calibrate_intercept(linear, draw.base_rates["churn"])
    latent.intercepts["churn"] = intercept
    probability = sigmoid(intercept + linear)
    churned = rng.random(n) < probability
    renewal_likelihood = np.clip(np.round(
        100 * (1 - sigmoid(intercept + linear + rng.normal(0, 0.9, n))) / 5) * 5, 0, 100)

    # definitive: a churn date, or a renewal recorded (only possible after the first year)
    definitive = (rng.random(n) < draw.label_reliability) & (churned | (tenure >= 12))
    dormant_churner = rng.random(n) < 0.8
    churn_day = np.where(
        definitive, ref - rng.uniform(15, 720, n),
        np.where(dormant_churner, ref - rng.uniform(DORMANCY_DAYS + 15, 900, n),
                 ref - rng.uniform(15, 300, n)))
    churn_day = np.where(churned, np.floor(churn_day), np.nan)
    observation_end = np.where(churned, churn_day, float(ref))
    active_recently = rng.random(n) < draw.recency
    retained_activity = np.where(
        active_recently, ref - np.minimum(rng.exponential(45, n), DORMANCY_DAYS - 1),
        ref - rng.uniform(DORMANCY_DAYS + 1, 1000, n))
    last_activity = np.floor(np.where(churned, observation_end - rng.exponential(40, n),
                                      retained_activity))
    customer_since = np.floor(observation_end - tenure * DAYS_PER_MONTH)
    last_activity = np.maximum(last_activity, customer_since)
    dormant = last_activity < ref - DORMANCY_DAYS
    churned_observed = np.where(definitive, churned, dormant)
    renewal_count = np.where(definitive, np.where(churned, true_renewals,
                                                  np.maximum(true_renewals, 1)), np.nan)
    term_days = np.maximum(term_months, 1) * DAYS_PER_MONTH
    into_term = np.mod(tenure * DAYS_PER_MONTH, term_days)
    contract_start = np.floor(observation_end - into_term)
    created = np.maximum(customer_since - rng.uniform(0, 200, n), ref - 3650)
    churn_reason = _choice(rng, {"price": 0.25, "budget_cuts": 0.15, "product_fit": 0.15,
                                 "acquired": 0.08, "other": 0.12, "competitor": 0.1,
                                 "low_adoption": 0.1, "poor_support": 0.05}, n)
    churn_reason = np.where(competitor_in_use & (rng.random(n) < 0.5), "competitor", churn_reason)
    churn_reason = np.where((utilisation < 0.4) & (rng.random(n) < 0.4), "low_adoption",
                            churn_reason)
    churn_reason = np.where((cases_90 >= 3) & (rng.random(n) < 0.4), "poor_support", churn_reason)
    parent = np.where(rng.random(n) < 0.05, rng.integers(0, n, n), -1)
    parent = np.where(parent == np.arange(n), -1, parent)
    account_ids = accounts["account.id"].to_numpy()

    accounts["account.renewal_likelihood"] = renewal_likelihood
    accounts["account.churned"] = churned_observed
    accounts["account.churn_date"] = to_dates(np.where(churned & definitive, churn_day, np.nan))
    accounts["account.churn_reason"] = _only(churned & definitive, churn_reason)
    accounts["account.renewal_count"] = renewal_count
    accounts["account.customer_since"] = to_dates(customer_since)
    accounts["account.contract_start_date"] = to_dates(contract_start)
    accounts["account.contract_end_date"] = to_dates(np.floor(contract_start + term_days))
    accounts["account.last_login_date"] = to_dates(observation_end - days_since_login)
    accounts["account.last_contact_date"] = to_dates(np.floor(
        observation_end - rng.exponential(20 + 60 * (meetings == 0))))
    accounts["account.last_activity_date"] = to_dates(last_activity)
    accounts["account.created_date"] = to_datetimes(np.floor(created), rng)
    accounts["account.last_modified_date"] = to_datetimes(
        np.minimum(np.maximum(last_activity, np.floor(created)) + rng.uniform(0, 30, n), ref),
        rng)
    accounts["account.parent_id"] = _only(parent >= 0, account_ids[np.maximum(parent, 0)])
    accounts["account.description"] = _only(
        rng.random(n) < 0.3, _pick_text(rng, _ACCOUNT_NOTES[language], n))
    accounts["x:exit_survey_sent"] = churned & definitive & (rng.random(n) < 0.7)
    accounts["x:observation_end"] = observation_end
    accounts["x:churn_day"] = churn_day
    accounts["truth:churn_probability"] = np.round(probability, 6)
    accounts["truth:churned"] = churned
    accounts["truth:label_source"] = np.where(definitive, "definitive", "inferred").astype(object)
    return accounts


def latent_users(rng: np.random.Generator, latent: LatentOrg, size: int) -> np.ndarray:
    """Record owners drawn from the org's users (a few users own most records)."""
    weights = 1.0 / np.arange(1, len(latent.user_ids) + 1)
    return latent.user_ids[rng.choice(len(latent.user_ids), size=size, p=weights / weights.sum())]


_ACCOUNT_NOTES: dict[str, tuple[str, ...]] = {
    "en": ("Key reference customer", "Met at the spring conference", "Budget cycle starts in Q3",
           "Prefers email over calls"),
    "de": ("Wichtiger Referenzkunde", "Kontakt von der Frühjahrsmesse", "Budgetplanung ab Q3",
           "Bevorzugt E-Mail statt Anruf"),
    "fr": ("Client de référence", "Rencontré au salon de printemps", "Budget voté au T3",
           "Préfère l'email au téléphone"),
    "es": ("Cliente de referencia", "Conocido en la feria de primavera", "Presupuesto en el T3",
           "Prefiere email a llamadas"),
}

_NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "en": ("Send proposal", "Schedule demo", "Call with procurement", "Wait for budget"),
    "de": ("Angebot senden", "Demo planen", "Termin mit Einkauf", "Auf Budget warten"),
    "fr": ("Envoyer la proposition", "Planifier la démo", "Appel avec les achats",
           "Attendre le budget"),
    "es": ("Enviar propuesta", "Agendar demo", "Llamada con compras", "Esperar presupuesto"),
}

_VISIT_NOTES: dict[str, tuple[str, ...]] = {
    "en": ("Walked the warehouse", "Quarterly check-in", "Met the new IT lead"),
    "de": ("Lager besichtigt", "Quartalsgespräch", "Neuen IT-Leiter kennengelernt"),
    "fr": ("Visite de l'entrepôt", "Point trimestriel", "Rencontre avec le nouveau DSI"),
    "es": ("Visita al almacén", "Reunión trimestral", "Conocimos al nuevo jefe de TI"),
}


def _contacts(draw: OrgDraw, rng: np.random.Generator, ref: int, accounts: pd.DataFrame,
              pod: int, users: np.ndarray) -> pd.DataFrame:
    language = draw.language
    employees = accounts["account.number_of_employees"].to_numpy()
    expected = np.clip(draw.contacts_per_account * (1 + 0.3 * np.log10(employees / 100)), 0.3,
                       None)
    counts = 1 + rng.poisson(expected)
    total = int(counts.sum())
    account_index = np.repeat(np.arange(len(accounts)), counts)
    position = np.arange(total) - np.repeat(_counts_to_offsets(counts), counts)
    first, last = fake.people(rng, language, total)
    senior_probabilities = np.where(
        (position == 0)[:, None], [[0.2, 0.2, 0.3, 0.2, 0.1]], [[0.04, 0.08, 0.18, 0.3, 0.4]])
    seniority = _choice_rows(rng, SENIORITY_CODES, senior_probabilities)
    titles = np.empty(total, dtype=object)
    for code in SENIORITY_CODES:
        mask = seniority == code
        titles[mask] = _pick_text(rng, fake.TITLES[language][code], int(mask.sum()))
    role = _choice(rng, {"decision_maker": 0.15, "economic_buyer": 0.1, "evaluator": 0.2,
                         "influencer": 0.2, "champion": 0.1, "business_user": 0.15,
                         "technical_buyer": 0.1}, total)
    satisfaction = accounts["x:satisfaction"].to_numpy()[account_index]
    utilisation = accounts["x:utilisation"].to_numpy()[account_index]
    observation_end = accounts["x:observation_end"].to_numpy()[account_index]
    account_created = (accounts["account.created_date"].to_numpy().astype("datetime64[s]")
                       .astype(np.int64) // SECONDS_PER_DAY)[account_index].astype(float)
    created = np.floor(account_created + rng.uniform(0, 1, total)
                       * np.maximum(observation_end - account_created, 1))
    account_activity = (accounts["account.last_activity_date"].to_numpy().astype("datetime64[s]")
                        .astype(np.int64) // SECONDS_PER_DAY)[account_index].astype(float)
    last_activity = np.floor(np.maximum(account_activity - rng.exponential(30, total), created))
    answered = rng.random(total) < 0.35
    product_user = rng.random(total) < 0.45 + 0.2 * utilisation
    nps = accounts["account.nps_score"].to_numpy()[account_index]
    contacts = pd.DataFrame({
        "contact.id": fake.salesforce_ids("003", total, pod=pod,
                                          start=int(rng.integers(1, 90_000))),
        "contact.account_id": accounts["account.id"].to_numpy()[account_index],
        "contact.salutation": _choice(rng, {"mr": 0.45, "ms": 0.45, "dr": 0.07, "prof": 0.03},
                                      total),
        "contact.first_name": first,
        "contact.last_name": last,
        "contact.title": titles,
        "contact.department": _pick_text(rng, fake.DEPARTMENTS[language], total),
        "contact.email": fake.emails(first, last,
                                     accounts["x:domain"].to_numpy()[account_index]),
        "contact.phone": fake.phones(rng, language, total),
        "contact.mailing_city": _pick_text(rng, fake.CITIES[language], total),
        "contact.mailing_country": accounts["account.billing_country"].to_numpy()[account_index],
        "contact.lead_source": _choice(rng, draw.lead_source_mix, total),
        "contact.has_opted_out_of_email": rng.random(total) < 0.1,
        "contact.do_not_call": rng.random(total) < 0.05,
        "contact.owner_id": accounts["account.owner_id"].to_numpy()[account_index],
        "contact.created_date": to_datetimes(created, rng),
        "contact.last_modified_date": to_datetimes(
            np.minimum(last_activity + rng.uniform(0, 20, total), ref), rng),
        "contact.last_activity_date": to_dates(last_activity),
        "contact.is_primary_contact": position == 0,
        "contact.buying_role": role,
        "contact.is_decision_maker": np.isin(seniority, ["c_level", "vp"])
        | np.isin(role, ["decision_maker", "economic_buyer"]),
        "contact.seniority": seniority,
        "contact.left_company": rng.random(total) < 0.06,
        "contact.marketing_consent": rng.random(total) < 0.6,
        "contact.email_opens_last_90_days": rng.poisson(
            np.exp(0.8 + 0.3 * satisfaction)).astype(float),
        "contact.nps_score": np.where(answered, np.clip(np.round(
            nps + rng.normal(0, 1.2, total)), 0, 10), np.nan),
        "contact.is_product_user": product_user,
        "contact.last_login_date": to_dates(np.where(product_user, np.floor(
            observation_end - rng.exponential(10 + 30 * (1 - utilisation))), np.nan)),
        "x:account_index": account_index,
    })
    return contacts


def _cases(draw: OrgDraw, rng: np.random.Generator, ref: int, accounts: pd.DataFrame,
           contacts: pd.DataFrame, pod: int, users: np.ndarray) -> pd.DataFrame:
    language = draw.language
    recent = accounts["account.cases_last_90_days"].to_numpy().astype(np.int64)
    tenure_days = accounts["account.tenure_months"].to_numpy() * DAYS_PER_MONTH
    quarters_before = np.maximum(np.minimum(tenure_days, 730) - 90, 0) / 91
    older = rng.poisson(accounts["x:case_rate"].to_numpy() * quarters_before)
    counts = recent + older
    total = int(counts.sum())
    account_index = np.repeat(np.arange(len(accounts)), counts)
    position = np.arange(total) - np.repeat(_counts_to_offsets(counts), counts)
    is_recent = position < recent[account_index]
    observation_end = accounts["x:observation_end"].to_numpy()[account_index]
    span = np.maximum(np.minimum(tenure_days, 730)[account_index], 91)
    age = np.where(is_recent, rng.uniform(0, 90, total),
                   90 + rng.uniform(0, 1, total) * (span - 90))
    created = observation_end - age
    priority = _choice(rng, {"critical": 0.05, "high": 0.2, "medium": 0.5, "low": 0.25}, total)
    escalated = rng.random(total) < 0.06 + 0.1 * np.isin(priority, ["critical", "high"])
    first_response = np.round(rng.gamma(1.3, draw.first_response_hours, total), 2)
    resolution = np.round(first_response + rng.gamma(1.5, 16, total), 1)
    closed_at = created + resolution / 24
    is_closed = closed_at < ref
    open_status = np.where(escalated, "escalated",
                           _choice(rng, {"new": 0.3, "working": 0.5, "waiting_on_customer": 0.2},
                                   total))
    status = np.where(is_closed, "closed", open_status).astype(object)
    satisfaction = accounts["x:satisfaction"].to_numpy()[account_index]
    sla_breached = (first_response > 8) | (np.isin(priority, ["critical", "high"])
                                           & (first_response > 4))
    answered = is_closed & (rng.random(total) < 0.35)
    case_csat = np.where(answered, np.clip(np.round(
        3.7 + 0.7 * satisfaction - 0.4 * sla_breached + rng.normal(0, 0.7, total)), 1, 5), np.nan)
    mood = 0.8 * satisfaction - 0.6 * escalated + rng.normal(0, 0.7, total)
    sentiment = np.select([mood > 0.5, mood < -0.5], ["positive", "negative"],
                          "neutral").astype(object)
    contact_counts = np.bincount(contacts["x:account_index"].to_numpy(),
                                 minlength=len(accounts))
    contact_offsets = _counts_to_offsets(contact_counts)
    contact_pick = contact_offsets[account_index] + np.floor(
        rng.random(total) * contact_counts[account_index]).astype(np.int64)
    order = np.argsort(created, kind="stable")
    case_number = np.empty(total, dtype=object)
    case_number[order] = fake.zero_padded(1000 + np.arange(total), 8)
    cases = pd.DataFrame({
        "case.id": fake.salesforce_ids("500", total, pod=pod, start=int(rng.integers(1, 90_000))),
        "case.case_number": case_number,
        "case.account_id": accounts["account.id"].to_numpy()[account_index],
        "case.contact_id": contacts["contact.id"].to_numpy()[contact_pick],
        "case.status": status,
        "case.priority": priority,
        "case.origin": _choice(rng, {"phone": 0.3, "email": 0.4, "web": 0.2, "chat": 0.1}, total),
        "case.type": _choice(rng, {"problem": 0.5, "question": 0.3, "feature_request": 0.15,
                                   "other": 0.05}, total),
        "case.reason": _choice(rng, {"performance": 0.2, "complex_functionality": 0.25,
                                     "billing": 0.15, "new_problem": 0.3, "other": 0.1}, total),
        "case.subject": _pick_text(rng, fake.CASE_SUBJECTS[language], total),
        "case.is_closed": is_closed,
        "case.is_escalated": escalated,
        "case.closed_date": to_datetimes(np.where(is_closed, np.floor(closed_at), np.nan), rng),
        "case.owner_id": users[rng.integers(0, len(users), total)],
        "case.created_date": to_datetimes(np.floor(created), rng),
        "case.last_modified_date": to_datetimes(np.floor(np.minimum(
            np.where(is_closed, closed_at, created + rng.uniform(0, 10, total)), ref)), rng),
        "case.first_response_hours": first_response,
        "case.resolution_hours": np.where(is_closed, resolution, np.nan),
        "case.reopened_count": rng.poisson(0.15, total).astype(float),
        "case.sla_breached": sla_breached,
        "case.csat_score": case_csat,
        "case.sentiment": sentiment,
        "case.product": _pick_text(rng, fake.PRODUCTS, total),
        "x:account_index": account_index,
    })
    # ClosedDate is CreatedDate plus the resolution time (each drew its own time of day, so
    # 12 % of closed cases closed before they were opened), at the latest the reference day's
    # last second; the last change is not before either. Set after the draws above, so every
    # later draw stays as it was.
    opened = cases["case.created_date"].to_numpy().astype("datetime64[s]")
    closed_exact = np.minimum(
        opened + np.round(np.nan_to_num(resolution) * 3600).astype("timedelta64[s]"),
        np.datetime64((ref + 1) * SECONDS_PER_DAY - 1, "s"))
    cases["case.closed_date"] = np.where(is_closed, closed_exact, np.datetime64("NaT"))
    modified = cases["case.last_modified_date"].to_numpy().astype("datetime64[s]")
    cases["case.last_modified_date"] = np.maximum(
        np.where(is_closed, np.maximum(modified, closed_exact), modified), opened)
    n_accounts = len(accounts)
    accounts["account.open_cases"] = np.bincount(account_index, weights=~is_closed,
                                                 minlength=n_accounts)
    accounts["account.escalated_cases"] = np.bincount(account_index, weights=escalated,
                                                      minlength=n_accounts)
    return cases


def _opportunities(draw: OrgDraw, rng: np.random.Generator, ref: int, accounts: pd.DataFrame,
                   latent: LatentOrg, pod: int, users: np.ndarray) -> pd.DataFrame:
    language = draw.language
    employees = accounts["account.number_of_employees"].to_numpy()
    expected = np.clip(draw.opportunities_per_account * (1 + 0.25 * np.log10(employees / 100)),
                       0.3, None)
    counts = rng.poisson(expected)
    total = int(counts.sum())
    account_index = np.repeat(np.arange(len(accounts)), counts)
    position = np.arange(total) - np.repeat(_counts_to_offsets(counts), counts)
    customer_since = (accounts["account.customer_since"].to_numpy().astype("datetime64[s]")
                      .astype(np.int64) // SECONDS_PER_DAY).astype(float)[account_index]
    observation_end = accounts["x:observation_end"].to_numpy()[account_index]
    horizon = 720 + 540 * (1 - draw.recency)
    created = np.where(position == 0, customer_since - rng.uniform(20, 150, total),
                       ref - rng.uniform(0, horizon, total))
    created = np.floor(np.minimum(created, observation_end - 5))
    cycle = rng.gamma(2.0, 40.0, total) + 7
    close_day = np.floor(created + cycle)
    is_closed = close_day < ref
    opportunity_type = np.where(position == 0, "new_business", _choice(
        rng, {"existing_upgrade": 0.45, "renewal": 0.45, "existing_downgrade": 0.1},
        total)).astype(object)
    acv = np.round(np.exp(rng.normal(np.log(18_000) + 0.3 * np.log(employees[account_index] / 100),
                                     0.7)), -2)
    acv = np.maximum(acv, 500.0)
    term = _choice(rng, {"12": 0.55, "24": 0.15, "36": 0.3}, total).astype(float)
    tcv = np.round(acv * term / 12, 2)
    discount = np.round(100 * rng.beta(1.4, 8, total), 1)
    stakeholders = (1 + rng.poisson(np.exp(0.3 + 0.25 * np.log(acv / 18_000)))).astype(float)
    account_sponsor = accounts["account.has_executive_sponsor"].to_numpy()[account_index]
    has_competitor = rng.random(total) < 0.45
    frame = pd.DataFrame({
        "opportunity.id": fake.salesforce_ids("006", total, pod=pod,
                                              start=int(rng.integers(1, 90_000))),
        "opportunity.account_id": accounts["account.id"].to_numpy()[account_index],
        "opportunity.amount": tcv,
        "opportunity.type": opportunity_type,
        "opportunity.lead_source": _choice(rng, draw.lead_source_mix, total),
        "opportunity.owner_id": accounts["account.owner_id"].to_numpy()[account_index],
        "opportunity.acv": acv,
        "opportunity.tcv": tcv,
        "opportunity.contract_term_months": term,
        "opportunity.discount_percent": discount,
        "opportunity.discount_requested": (discount > 12) ^ (rng.random(total) < 0.1),
        "opportunity.product_count": (1 + rng.poisson(0.7, total)).astype(float),
        "opportunity.days_in_stage": np.round(rng.gamma(1.5, 18, total)),
        "opportunity.close_date_push_count": rng.poisson(0.6, total).astype(float),
        "opportunity.meetings_count": rng.poisson(np.exp(0.9 + 0.3 * np.log1p(stakeholders)))
        .astype(float),
        "opportunity.demo_completed": rng.random(total) < 0.6,
        "opportunity.budget_confirmed": rng.random(total) < 0.45,
        "opportunity.stakeholder_count": stakeholders,
        "opportunity.decision_maker_engaged": rng.random(total) < 0.5,
        "opportunity.executive_sponsor_engaged": rng.random(total) < 0.25 + 0.2 * account_sponsor,
        "opportunity.partner_involved": rng.random(total) < 0.15 + 0.2 * (
            accounts["account.type"].to_numpy()[account_index] == "customer_channel"),
        "opportunity.has_competitor": has_competitor,
        "opportunity.competitor_name": _only(
            has_competitor, _pick_text(rng, fake.COMPETITORS, total)),
        "opportunity.region": accounts["account.region"].to_numpy()[account_index],
        "account.has_executive_sponsor": account_sponsor,
        "account.annual_revenue": accounts["account.annual_revenue"].to_numpy()[account_index],
        "x:account_index": account_index,
    })
    if "security_review_passed" in draw.groups:
        frame["group:security_review_passed"] = rng.random(total) < 0.55
    linear = linear_predictor("win_probability", frame, latent.coefficients["win_probability"])
    intercept = calibrate_intercept(linear, draw.base_rates["win_probability"])
    latent.intercepts["win_probability"] = intercept
    probability = sigmoid(intercept + linear)
    won = rng.random(total) < probability
    reliability = draw.label_reliability
    # stale deals are auto-closed as lost by a clean-up job; they are mostly real losses, but
    # some were won without anyone updating the record
    auto_closed = is_closed & (rng.random(total) < np.where(won, (1 - reliability) * 0.25,
                                                             1 - reliability))
    won_observed = is_closed & won & ~auto_closed
    progress = np.clip((ref - created) / np.maximum(close_day - created, 1), 0, 0.999)
    open_stage = np.asarray(OPEN_STAGES, dtype=object)[np.minimum(
        (progress * len(OPEN_STAGES) + rng.normal(0, 0.7, total)).astype(int).clip(0), 4)]
    stage = np.where(is_closed, np.where(won_observed, "closed_won", "closed_lost"),
                     open_stage).astype(object)
    loss_reason = _choice(rng, {"price": 0.25, "no_decision": 0.2, "no_budget": 0.12,
                                "product_fit": 0.13, "timing": 0.12, "other": 0.08,
                                "competitor": 0.1}, total)
    loss_reason = np.where(has_competitor & (rng.random(total) < 0.55), "competitor", loss_reason)
    loss_reason = _only(is_closed & ~won_observed & ~auto_closed, loss_reason)
    last_activity = np.where(
        auto_closed, close_day - rng.uniform(90, 300, total),
        np.where(is_closed, close_day - rng.exponential(7, total),
                 ref - rng.exponential(20 + 200 * (1 - draw.recency), total)))
    last_activity = np.floor(np.maximum(last_activity, created))
    probability_stage = np.asarray([STAGE_PROBABILITY[s] for s in stage], dtype=float)
    names = accounts["account.name"].to_numpy()[account_index]
    year = (1970 + np.floor(close_day / 365.2425)).astype(int).astype(str).astype(object)
    frame["opportunity.name"] = names + " - " + year
    frame["opportunity.stage"] = stage
    frame["opportunity.probability"] = probability_stage
    frame["opportunity.expected_revenue"] = np.round(tcv * probability_stage / 100, 2)
    frame["opportunity.close_date"] = to_dates(close_day)
    frame["opportunity.is_closed"] = is_closed
    frame["opportunity.is_won"] = won_observed
    frame["opportunity.forecast_category"] = np.asarray(
        [STAGE_FORECAST[s] for s in stage], dtype=object)
    frame["opportunity.next_step"] = _only(
        ~is_closed, _pick_text(rng, _NEXT_STEPS[language], total))
    frame["opportunity.created_date"] = to_datetimes(created, rng)
    # a deal needs its account: an account created after its first deal (27 % of deals were)
    # is moved to a day before that deal (no draw: every later draw stays as it was)
    first_deal = pd.Series(frame["opportunity.created_date"].to_numpy()).groupby(
        account_index).min().reindex(range(len(accounts))).to_numpy().astype("datetime64[s]")
    account_created = accounts["account.created_date"].to_numpy().astype("datetime64[s]")
    accounts["account.created_date"] = np.where(
        ~np.isnat(first_deal) & (first_deal <= account_created),
        first_deal - np.timedelta64(SECONDS_PER_DAY, "s"), account_created)
    frame["opportunity.last_modified_date"] = to_datetimes(np.floor(np.minimum(
        np.maximum(last_activity, np.where(is_closed, close_day, created)) + rng.uniform(0, 5,
                                                                                          total),
        ref)), rng)
    frame["opportunity.last_activity_date"] = to_dates(last_activity)
    frame["opportunity.loss_reason"] = loss_reason
    frame["opportunity.deal_age_days"] = np.where(is_closed, close_day, ref) - created
    frame["x:win_loss_interview"] = is_closed & ~auto_closed & (rng.random(total) < 0.3)
    frame["truth:win_probability"] = np.round(probability, 6)
    frame["truth:won"] = np.where(is_closed, won, False)
    frame["truth:label_source"] = np.where(
        ~is_closed, "open", np.where(auto_closed, "inferred", "definitive")).astype(object)
    return frame


def _leads(draw: OrgDraw, rng: np.random.Generator, ref: int, accounts: pd.DataFrame,
           contacts: pd.DataFrame, opportunities: pd.DataFrame, latent: LatentOrg, pod: int,
           users: np.ndarray) -> pd.DataFrame:
    language = draw.language
    n = max(1, round(len(accounts) * draw.leads_per_account))
    fit = rng.normal(0, 1, n)
    engagement = rng.normal(0, 1, n)
    first, last = fake.people(rng, language, n)
    companies = fake.company_names(rng, language, n)
    seniority = _choice(rng, {"c_level": 0.08, "vp": 0.1, "director": 0.2, "manager": 0.3,
                              "individual_contributor": 0.32}, n)
    titles = np.empty(n, dtype=object)
    for code in SENIORITY_CODES:
        mask = seniority == code
        titles[mask] = _pick_text(rng, fake.TITLES[language][code], int(mask.sum()))
    region = _choice(rng, draw.region_mix, n)
    countries = np.empty(n, dtype=object)
    for code in REGION_CODES:
        mask = region == code
        countries[mask] = _pick_text(rng, fake.COUNTRIES[language][code], int(mask.sum()))
    employees = np.clip(np.round(np.exp(rng.normal(draw.size_log_mean - 0.3, 1.3, n))), 1,
                        200_000)
    score = np.clip(np.round(50 + 14 * fit + 10 * engagement + rng.normal(0, 6, n)), 0, 100)
    opens = rng.poisson(np.exp(1.4 + 0.5 * engagement)).astype(float)
    clicks = rng.binomial(opens.astype(np.int64), sigmoid(-1.6 + 0.5 * engagement)).astype(float)
    timeframe_signal = -(0.8 * fit + rng.normal(0, 1, n))
    timeframe = np.asarray(TIMEFRAME_CODES, dtype=object)[np.searchsorted(
        [-1.4, -0.6, 0.1, 0.8, 1.4], timeframe_signal)]
    lead_source = _choice(rng, draw.lead_source_mix, n)
    response_days = np.round(rng.gamma(1.2, draw.response_days, n), 2)
    age = rng.uniform(0, 720 + 540 * (1 - draw.recency), n)
    created = np.floor(ref - age)
    frame = pd.DataFrame({
        "lead.id": fake.salesforce_ids("00Q", n, pod=pod, start=int(rng.integers(1, 90_000))),
        "lead.first_name": first,
        "lead.last_name": last,
        "lead.company": companies,
        "lead.title": titles,
        "lead.email": fake.emails(first, last, fake.domains(companies)),
        "lead.phone": fake.phones(rng, language, n),
        "lead.country": countries,
        "lead.lead_source": lead_source,
        "lead.rating": np.select([score >= 70, score >= 40], ["hot", "warm"], "cold").astype(
            object),
        "lead.industry": _choice(rng, draw.industry_mix, n),
        "lead.annual_revenue": np.round(employees * np.exp(rng.normal(np.log(150_000), 0.5, n)),
                                        -3),
        "lead.number_of_employees": employees,
        "lead.has_opted_out_of_email": rng.random(n) < 0.08,
        "lead.owner_id": users[rng.integers(0, len(users), n)],
        "lead.lead_score": score,
        "lead.lead_grade": np.asarray(("a", "b", "c", "d"), dtype=object)[np.searchsorted(
            [-1.0, -0.2, 0.6], -(fit + rng.normal(0, 0.4, n)))],
        "lead.days_to_first_response": response_days,
        "lead.activity_count": rng.poisson(2 + 1.5 * (response_days < 1)).astype(float),
        "lead.seniority": seniority,
        "lead.budget_confirmed": rng.random(n) < sigmoid(-0.9 + 0.7 * fit),
        "lead.purchase_timeframe": timeframe,
        "lead.region": region,
        "lead.email_opens": opens,
        "lead.email_clicks": clicks,
        "lead.website_visits": rng.poisson(np.exp(1.0 + 0.6 * engagement)).astype(float),
        "lead.pricing_page_visits": rng.poisson(np.exp(-0.8 + 0.7 * engagement + 0.3 * fit))
        .astype(float),
        "lead.webinars_attended": rng.poisson(np.exp(-1.3 + 0.6 * engagement)).astype(float),
        "lead.content_downloads": rng.poisson(np.exp(-0.4 + 0.5 * engagement)).astype(float),
        "lead.demo_requested": rng.random(n) < sigmoid(-1.9 + 0.8 * engagement + 0.5 * fit),
        "lead.utm_source": _only(np.isin(lead_source, ["web", "social_media", "email_campaign"]),
                                 _pick_text(rng, fake.UTM_SOURCES, n)),
        "lead.mql_date": to_dates(np.where(score >= 45, np.floor(
            created + rng.uniform(0, 20, n)), np.nan)),
        "lead.last_engagement_date": to_datetimes(np.floor(
            created + rng.uniform(0, 1, n) * np.minimum(age, 120)), rng),
    })
    frame["x:data_quality_score"] = np.round(100 * rng.beta(5, 2, n), 1)
    if "booth_scans" in draw.groups:
        frame["group:booth_scans"] = (rng.poisson(np.exp(-0.6 + 0.5 * engagement))
                                      * np.where(lead_source == "trade_show", 2, 1)).astype(float)
    linear = linear_predictor("lead_conversion", frame, latent.coefficients["lead_conversion"])
    intercept = calibrate_intercept(linear, draw.base_rates["lead_conversion"])
    latent.intercepts["lead_conversion"] = intercept
    probability = sigmoid(intercept + linear)
    converted = rng.random(n) < probability
    decided = age >= LEAD_DECISION_AGE_DAYS
    reliability = draw.label_reliability
    # a rep closes most decided leads; the rest stay open (converted leads are often worked
    # directly as opportunities without converting the lead record)
    left_open = rng.random(n) < np.where(converted, (1 - reliability) * 0.3, 1 - reliability)
    closed = decided & ~left_open
    is_converted = closed & converted
    open_status = _choice(rng, {"open_not_contacted": 0.3, "working_contacted": 0.45,
                                "nurturing": 0.25}, n)
    status = np.where(closed, np.where(converted, "closed_converted", "closed_not_converted"),
                      open_status).astype(object)
    converted_day = np.where(is_converted, np.floor(
        created + 5 + rng.uniform(0, 1, n) * np.minimum(age - 5, 120)), np.nan)
    # qualified up to two weeks before converting, never before the lead existed
    sql_day = np.where(is_converted, np.maximum(
        converted_day - np.floor(rng.uniform(0, 15, n)), np.floor(created)),
                       np.where(closed & ~converted & (rng.random(n) < 0.2),
                                np.floor(created + rng.uniform(5, 40, n)), np.nan))
    target_account = rng.integers(0, len(accounts), n)
    contact_counts = np.bincount(contacts["x:account_index"].to_numpy(),
                                 minlength=len(accounts))
    first_contact = _counts_to_offsets(contact_counts)
    opportunity_counts = np.bincount(opportunities["x:account_index"].to_numpy(),
                                     minlength=len(accounts))
    first_opportunity = _counts_to_offsets(opportunity_counts)
    has_opportunity = opportunity_counts[target_account] > 0
    opportunity_ids = opportunities["opportunity.id"].to_numpy()
    last_activity = np.floor(np.minimum(
        created + rng.exponential(20 + 60 * closed, n), ref))
    frame["lead.status"] = status
    frame["lead.is_converted"] = is_converted
    frame["lead.converted_date"] = to_dates(converted_day)
    frame["lead.sql_date"] = to_dates(sql_day)
    # marketing qualifies a lead before sales accepts it (210 of 2,284 SQL dates came first),
    # and not after the reference day (created + 0-20 days ran past it)
    mql_day = _days(frame["lead.mql_date"])
    both = ~np.isnan(mql_day) & ~np.isnan(sql_day)
    mql_day = np.where(both, np.minimum(mql_day, sql_day), mql_day)
    frame["lead.mql_date"] = to_dates(np.minimum(mql_day, ref))  # NaN stays NaN
    frame["lead.converted_account_id"] = np.where(
        is_converted, accounts["account.id"].to_numpy()[target_account], None)
    frame["lead.converted_contact_id"] = np.where(
        is_converted, contacts["contact.id"].to_numpy()[first_contact[target_account]], None)
    frame["lead.converted_opportunity_id"] = np.where(
        is_converted & has_opportunity,
        opportunity_ids[np.minimum(first_opportunity[target_account],
                                   max(len(opportunity_ids) - 1, 0))]
        if len(opportunity_ids) else None, None)
    frame["lead.created_date"] = to_datetimes(created, rng)
    frame["lead.last_modified_date"] = to_datetimes(np.floor(np.minimum(
        last_activity + rng.uniform(0, 10, n), ref)), rng)
    frame["lead.last_activity_date"] = to_dates(last_activity)
    frame["truth:conversion_probability"] = np.round(probability, 6)
    frame["truth:converted"] = converted
    frame["truth:label_source"] = np.where(
        closed, "definitive", np.where(age >= LEAD_STALE_AGE_DAYS, "inferred", "undecided")
    ).astype(object)
    return frame


def _visits(draw: OrgDraw, rng: np.random.Generator, ref: int,
            accounts: pd.DataFrame) -> pd.DataFrame:
    counts = rng.poisson(0.4, len(accounts))
    total = int(counts.sum())
    account_index = np.repeat(np.arange(len(accounts)), counts)
    observation_end = accounts["x:observation_end"].to_numpy()[account_index]
    return pd.DataFrame({
        "x:visit_id": fake.salesforce_ids("a0V", total, pod=10 + draw.index,
                                          start=int(rng.integers(1, 90_000))),
        "x:visit_number": "V-" + fake.zero_padded(1 + np.arange(total), 5),
        "x:visit_account": accounts["account.id"].to_numpy()[account_index],
        "x:visit_date": to_dates(np.floor(observation_end - rng.uniform(0, 720, total))),
        "x:visit_outcome": _choice(rng, {"positive": 0.5, "neutral": 0.35, "negative": 0.15},
                                   total),
        "x:visit_notes": _pick_text(rng, _VISIT_NOTES[draw.language], total),
    })
