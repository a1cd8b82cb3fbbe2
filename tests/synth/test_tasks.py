"""The three outcomes follow the shared rule and are learnable from canonical values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fedcrm.synth import RULES, Federation, SyntheticOrg, design_matrix, generate_federation
from fedcrm.synth.rules import COEFFICIENT_SIGMA


@pytest.fixture(scope="module")
def large_org() -> SyntheticOrg:
    return generate_federation(1, seed=4, accounts=(4000, 4000)).orgs[0]


def _canonical_features(frame: pd.DataFrame, task: str) -> np.ndarray:
    """The raw canonical columns the rule reads (one-hot for codes), no rule knowledge."""
    columns: list[np.ndarray] = []
    for concept in sorted({c for term in RULES[task] for c in term.concepts}):
        values = frame[concept]
        if values.dtype.kind in "biuf":
            columns.append(values.to_numpy(dtype=float).reshape(-1, 1))
        else:
            codes = sorted(values.dropna().unique())
            columns.append(np.column_stack([(values == code).to_numpy(float) for code in codes])
                           if codes else np.zeros((len(values), 1)))
    return np.nan_to_num(np.column_stack(columns))


def _auc(features: np.ndarray, outcome: np.ndarray) -> float:
    train_x, test_x, train_y, test_y = train_test_split(
        features, outcome, test_size=0.3, random_state=0, stratify=outcome)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(train_x, train_y)
    return float(roc_auc_score(test_y, model.predict_proba(test_x)[:, 1]))


def test_churn_is_learnable_from_canonical_values(large_org: SyntheticOrg) -> None:
    accounts = large_org.latent["Account"]
    outcome = accounts["truth:churned"].to_numpy(bool)
    assert 0.05 < outcome.mean() < 0.35
    assert _auc(_canonical_features(accounts, "churn"), outcome) > 0.7


@pytest.mark.parametrize(("task", "sobject", "truth"), [
    ("win_probability", "Opportunity", "truth:won"),
    ("lead_conversion", "Lead", "truth:converted"),
])
def test_win_and_conversion_are_learnable(large_org: SyntheticOrg, task: str, sobject: str,
                                          truth: str) -> None:
    frame = large_org.latent[sobject]
    if task == "win_probability":
        frame = frame[frame["truth:label_source"] != "open"]
    assert _auc(_canonical_features(frame, task), frame[truth].to_numpy(bool)) > 0.65


def test_outcome_probabilities_follow_the_org_rule(large_org: SyntheticOrg) -> None:
    for task, sobject, column in (("churn", "Account", "truth:churn_probability"),
                                  ("win_probability", "Opportunity", "truth:win_probability"),
                                  ("lead_conversion", "Lead", "truth:conversion_probability")):
        frame = large_org.latent[sobject]
        design = design_matrix(task, frame)
        coefficients = large_org.coefficients[task]
        logit = large_org.intercepts[task] + sum(
            coefficients[name] * design[name].to_numpy() for name in coefficients)
        expected = 1 / (1 + np.exp(-logit))
        assert np.allclose(frame[column].to_numpy(), expected, atol=2e-6), task


def test_org_rules_are_perturbations_of_one_shared_rule(federation: Federation) -> None:
    for task, terms in RULES.items():
        intercepts = {org.intercepts[task] for org in federation.orgs}
        assert len(intercepts) == len(federation.orgs)
        for term in terms:
            for org in federation.orgs:
                value = org.coefficients[task][term.name]
                if term.group is not None and term.group not in org.profile.groups:
                    assert value == 0.0
                    continue
                ratio = value / term.coefficient
                assert ratio > 0, "perturbations keep the sign"
                assert abs(np.log(ratio)) < 5 * COEFFICIENT_SIGMA


def test_manifest_states_the_true_coefficients(federation: Federation) -> None:
    manifest = federation.manifest
    for task, terms in RULES.items():
        written = {t.name: t.coefficient for t in manifest.rules[task].terms}
        assert written == {t.name: t.coefficient for t in terms}
    for summary, org in zip(manifest.orgs, federation.orgs, strict=True):
        assert summary.coefficients == org.coefficients
        assert summary.intercepts == org.intercepts


def test_signal_comes_from_mapped_concepts_and_some_groups() -> None:
    concepts = {c for terms in RULES.values() for t in terms for c in t.concepts}
    assert {"account.nps_score", "account.cases_last_90_days", "account.tenure_months",
            "account.late_payment_count", "account.has_executive_sponsor",
            "opportunity.discount_percent", "opportunity.has_competitor",
            "lead.lead_score", "lead.email_clicks"} <= concepts
    assert {t.group for terms in RULES.values() for t in terms if t.group}


def test_leakage_fields_are_filled_only_after_the_outcome(federation: Federation) -> None:
    for org in federation.orgs:
        accounts = org.latent["Account"]
        churned = accounts["account.churned"].to_numpy(bool)
        reason_present = accounts["account.churn_reason"].notna().to_numpy()
        assert not (reason_present & ~churned).any()
        opportunities = org.latent["Opportunity"]
        lost = (opportunities["opportunity.is_closed"] & ~opportunities["opportunity.is_won"])
        reason = opportunities["opportunity.loss_reason"].notna()
        assert not (reason & ~lost).any()
        leakage = [label for label in org.labels if label.note and "leakage" in label.note]
        assert {label.concept for label in leakage} >= {"account.churned", "account.churn_date",
                                                        "opportunity.loss_reason"}


def test_lead_dates_follow_the_lead_lifecycle(federation: Federation) -> None:
    checked = 0
    for org in federation.orgs:
        leads = org.latent["Lead"]
        created = pd.to_datetime(leads["lead.created_date"]).dt.normalize()
        for column in ("lead.sql_date", "lead.converted_date"):
            later = pd.to_datetime(leads[column])
            dated = later.notna()
            assert (later[dated] >= created[dated]).all(), (org.org_id, column)
            checked += int(dated.sum())
        sql, converted = pd.to_datetime(leads["lead.sql_date"]), pd.to_datetime(
            leads["lead.converted_date"])
        both = sql.notna() & converted.notna()
        assert (sql[both] <= converted[both]).all()
    assert checked > 100
