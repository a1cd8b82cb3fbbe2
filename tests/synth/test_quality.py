"""Data quality differs between orgs and can be measured from the written records."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fedcrm.matching.corpus import read_labels
from fedcrm.synth import Federation, generate_federation, measure_quality
from tests.synth.conftest import read_records


def _measured_from_disk(written: Path, federation: Federation):
    results = {}
    for org in federation.orgs:
        folder = written / org.org_id
        tables = {sobject: read_records(folder, sobject) for sobject in org.tables}
        labels = read_labels(folder / "ground_truth.jsonl")
        results[org.org_id] = measure_quality(tables, org.schema, labels, org.units,
                                              federation.params.reference_date)
    return results


def test_measured_quality_from_csv_matches_the_manifest(written: Path,
                                                        federation: Federation) -> None:
    measured = _measured_from_disk(written, federation)
    for org in federation.orgs:
        assert measured[org.org_id] == org.measured


def test_completeness_and_recency_differ_as_the_parameters_say(
        written: Path, federation: Federation) -> None:
    measured = _measured_from_disk(written, federation)
    for name in ("completeness", "recency"):
        targets = {o.org_id: getattr(o.profile.quality, name) for o in federation.orgs}
        values = {org_id: getattr(m, name) for org_id, m in measured.items()}
        assert max(values.values()) - min(values.values()) > 0.1, name
        best, worst = max(targets, key=targets.get), min(targets, key=targets.get)
        assert values[best] > values[worst], name
    # completeness is close to its target once structural nulls are left out
    for org in federation.orgs:
        assert abs(measured[org.org_id].completeness - org.profile.quality.completeness) < 0.12


def test_measured_label_sources_equal_the_true_ones(federation: Federation) -> None:
    truth_objects = {"churn": "Account", "win_probability": "Opportunity",
                     "lead_conversion": "Lead"}
    for org in federation.orgs:
        for task, sobject in truth_objects.items():
            sources = org.latent[sobject]["truth:label_source"].value_counts().to_dict()
            counts = org.measured.labelled[task]
            assert counts["definitive"] == sources.get("definitive", 0), (org.org_id, task)
            assert counts["inferred"] == sources.get("inferred", 0), (org.org_id, task)


def test_label_reliability_orders_definitive_shares(federation: Federation) -> None:
    reliability = {o.org_id: o.profile.quality.label_reliability for o in federation.orgs}
    best, worst = max(reliability, key=reliability.get), min(reliability, key=reliability.get)
    by_id = {o.org_id: o for o in federation.orgs}
    for task in ("churn", "win_probability", "lead_conversion"):
        assert (by_id[best].measured.definitive_share[task]
                > by_id[worst].measured.definitive_share[task]), task


def test_inferred_labels_are_noisier_than_definitive_ones(federation: Federation) -> None:
    pairs = {
        "Account": ("account.churned", "truth:churned"),
        "Opportunity": ("opportunity.is_won", "truth:won"),
        "Lead": ("lead.is_converted", "truth:converted"),
    }
    for sobject, (observed, truth) in pairs.items():
        frames = [org.latent[sobject] for org in federation.orgs]
        definitive_errors = inferred_errors = inferred_total = 0
        for frame in frames:
            source = frame["truth:label_source"]
            wrong = frame[observed].to_numpy(bool) != frame[truth].to_numpy(bool)
            definitive_errors += int(wrong[(source == "definitive").to_numpy()].sum())
            inferred_errors += int(wrong[(source == "inferred").to_numpy()].sum())
            inferred_total += int((source == "inferred").sum())
        assert definitive_errors == 0, sobject
        assert inferred_total > 0 and inferred_errors / inferred_total > 0.03, sobject


def test_record_dates_are_relative_to_the_fixed_reference_date(federation: Federation) -> None:
    reference = np.datetime64(federation.params.reference_date, "D") + np.timedelta64(1, "D")
    for org in federation.orgs:
        for sobject, table in org.tables.items():
            for column in ("CreatedDate", "LastModifiedDate", "LastActivityDate"):
                if column in table:
                    stamps = table[column].dropna().to_numpy().astype("datetime64[D]")
                    assert len(stamps) and (stamps <= reference).all(), (sobject, column)
        recent = org.tables["Account"]["LastActivityDate"].to_numpy().astype("datetime64[D]")
        assert (recent >= reference - np.timedelta64(60, "D")).any()


def test_label_reliability_rules_as_documented() -> None:
    """docs/synth.md, "How q sets the mix": at q = 1 every retained account younger than 12
    months is still inferred (and nothing else is), win and lead labels are all definitive; at
    q = 0 no churn label is definitive, but won deals that escaped the clean-up still are."""
    sure = generate_federation(2, seed=4, scale=0.01, label_reliability=(1.0, 1.0))
    for org in sure.orgs:
        accounts = org.latent["Account"]
        tenure = accounts["account.tenure_months"]
        clear = tenure != 12.0  # rounded to 0.1 month: 12.0 may be just under 12
        young_retained = ~accounts["truth:churned"].astype(bool) & (tenure < 12)
        inferred = accounts["truth:label_source"] == "inferred"
        assert (inferred[clear] == young_retained[clear]).all()
        assert young_retained.any()
        share = org.measured.definitive_share
        assert share["churn"] == round(1 - inferred.mean(), 4) < 1
        assert share["win_probability"] == share["lead_conversion"] == 1.0
    never = generate_federation(2, seed=4, scale=0.01, label_reliability=(0.0, 0.0))
    for org in never.orgs:
        share = org.measured.definitive_share
        assert share["churn"] == 0.0
        assert 0 < share["win_probability"] < 1 and 0 < share["lead_conversion"] < 1
