from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from fedcrm import ConfigError, FeatureError
from fedcrm.features import build_feature_space, build_task_matrix, canonicalize
from fedcrm.federation.experiment import OrgInput, prepare_task
from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping
from fedcrm.ontology import Usage
from fedcrm.tasks import TASKS, Task


def test_space_is_shared_stable_and_leak_free(federation, mapping, ontology) -> None:
    schemas = {o.org_id: o.schema for o in federation.orgs}
    for task in Task:
        space = build_feature_space(task, ontology, mapping, schemas)
        again = build_feature_space(task, ontology, mapping, schemas)
        assert space.version == again.version and space.n_features == again.n_features
        names = {s.name for s in space.sources}
        for name in names:
            if name.startswith(("custom:", "rollup:")):
                continue
            concept = ontology.concept(name)
            assert concept.usage is Usage.FEATURE, name  # never a label, key or PII
            assert name not in TASKS[task].excluded
        for source in space.sources:
            if source.name.startswith("custom:"):
                assert source.shared_by >= 2  # a block shared by one org is not in the space
    churn = build_feature_space("churn", ontology, mapping, schemas)
    assert "rollup:cases_90d" in {s.name for s in churn.sources}


def _space_and_org(federation, mapping, ontology, task: str, index: int):
    """The task's feature space over every org, and org ``index`` in canonical form."""
    space = build_feature_space(task, ontology, mapping,
                                {o.org_id: o.schema for o in federation.orgs})
    org = federation.orgs[index]
    return space, canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id),
                               ontology)


def test_matrix_shape_splits_and_no_nan(federation, mapping, ontology, reference) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "lead_conversion", 0)
    matrix = build_task_matrix(canonical, space, reference)
    assert matrix.x.shape == (len(matrix.y), space.n_features)
    assert np.isfinite(matrix.x).all()
    assert set(np.unique(matrix.split)) == {"train", "validation", "test"}
    ids = {part: set(matrix.ids[matrix.split == part]) for part in ("train", "validation",
                                                                    "test")}
    assert not (ids["train"] & ids["test"]) and not (ids["validation"] & ids["test"])
    assert abs((matrix.split == "test").mean() - 0.2) < 0.05
    report = matrix.report
    assert 0.6 <= report.quality_multiplier <= 1.4
    assert report.n_labelled == len(matrix.y)


def test_case_rollup_counts_the_90_days_before_as_of(federation, mapping, ontology,
                                                     reference) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "churn", 1)
    matrix = build_task_matrix(canonical, space, reference)
    column = space.feature_names.index("rollup:cases_90d")
    cases = canonical.table("Case")
    accounts = canonical.table("Account").set_index("Id")
    checked = 0
    for account_id, encoded in zip(matrix.ids, matrix.x[:, column], strict=True):
        churned = accounts.loc[account_id].get("account.churned") == 1
        churn_date = accounts.loc[account_id].get("account.churn_date")
        as_of = churn_date if churned and pd.notna(churn_date) else reference
        own = pd.to_datetime(cases.loc[cases["case.account_id"] == account_id,
                                       "case.created_date"])
        expected = int(((own <= as_of) & (own > as_of - pd.Timedelta(days=90))).sum())
        assert encoded == pytest.approx(np.log1p(expected) / 5.0, abs=1e-5)
        checked += 1
    assert checked > 20


def test_all_null_column_is_missing_not_an_error(federation, mapping, ontology,
                                                 reference) -> None:
    org = federation.orgs[0]
    tables = {name: frame.copy() for name, frame in org.tables.items()}
    nps_field = next(lab.field for lab in org.labels
                     if lab.concept == "lead.lead_score" and lab.object == "Lead")
    tables["Lead"][nps_field] = None
    space = build_feature_space("lead_conversion", ontology, mapping,
                                {o.org_id: o.schema for o in federation.orgs})
    canonical = canonicalize(org.org_id, tables, org.schema, mapping.org(org.org_id), ontology)
    matrix = build_task_matrix(canonical, space, reference)
    missing = space.feature_names.index("lead.lead_score#missing")
    assert (matrix.x[:, missing] == 1).all()
    assert (matrix.x[:, space.feature_names.index("lead.lead_score")] == 0).all()


def test_an_unmapped_source_counts_as_empty_in_completeness(federation, mapping, ontology,
                                                            reference) -> None:
    # completeness counted only the sources an org maps, so leaving a sparse field unmapped
    # raised its quality weight where blanking it lowered it; the model sees the same
    org = federation.orgs[0]
    space = build_feature_space("lead_conversion", ontology, mapping,
                                {o.org_id: o.schema for o in federation.orgs})
    own = mapping.org(org.org_id)
    field = next(f for f in own.fields if f.concept == "lead.lead_score")

    def report(tables, org_mapping):
        canonical = canonicalize(org.org_id, tables, org.schema, org_mapping, ontology)
        return build_task_matrix(canonical, space, reference).report

    mapped = report(org.tables, own)
    blanked_tables = {name: frame.copy() for name, frame in org.tables.items()}
    blanked_tables[field.object][field.field] = None
    blanked = report(blanked_tables, own)
    unmapped = report(org.tables, own.model_copy(update={"fields": [
        f.model_copy(update={"concept": None, "block": None}) if f is field else f
        for f in own.fields]}))
    assert "lead.lead_score" in unmapped.sources_missing
    assert unmapped.filled["lead.lead_score"] == blanked.filled["lead.lead_score"] == 0
    assert unmapped.quality.completeness == pytest.approx(blanked.quality.completeness)
    assert unmapped.quality_multiplier == pytest.approx(blanked.quality_multiplier)
    assert unmapped.quality.completeness < mapped.quality.completeness
    counted = {s.name for s in space.sources
               if s.kind != "rollup" and not s.name.startswith("custom:")}
    assert counted <= set(unmapped.filled)


def test_a_custom_block_kept_out_for_too_few_examples_still_counts_in_completeness(
        federation, mapping, ontology, reference) -> None:
    # a block the org has but the min-examples filter drops counted neither as filled nor as
    # empty, although the docs say completeness counts the shared custom blocks the org has
    for task in ("churn", "lead_conversion", "win_probability"):
        space = build_feature_space(task, ontology, mapping,
                                    {o.org_id: o.schema for o in federation.orgs})
        for index in range(len(federation.orgs)):
            _, canonical = _space_and_org(federation, mapping, ontology, task, index)
            kept = build_task_matrix(canonical, space, reference).report
            dropped = build_task_matrix(canonical, space, reference, min_examples=10**9).report
            blocks = [name for name in kept.filled if name.startswith("custom:")]
            if blocks:
                break
        if blocks:
            break
    assert blocks, "no org of the fixture has a shared custom block"
    for name in blocks:
        assert name in dropped.sources_missing  # kept out of the model ...
        assert dropped.filled[name] == kept.filled[name] > 0  # ... but counted as it is
    assert dropped.quality.completeness == pytest.approx(kept.quality.completeness)


def test_bad_inputs_fail_clearly(federation, mapping, ontology, reference) -> None:
    org = federation.orgs[0]
    bogus = OrgMapping(org=org.org_id, fields=[
        *mapping.org(org.org_id).fields,
        FieldMapping(object="Account", field="Ghost__c", concept="account.nps_score",
                     confidence=0.9, block="account.nps_score"),
    ])
    with pytest.raises(FeatureError, match="Ghost__c.*re-run `fedcrm match`"):
        canonicalize(org.org_id, org.tables, org.schema, bogus, ontology)
    space = build_feature_space("churn", ontology, mapping)
    empty = {name: frame.iloc[0:0] for name, frame in org.tables.items()}
    canonical = canonicalize(org.org_id, empty, org.schema, mapping.org(org.org_id), ontology)
    with pytest.raises(FeatureError, match="no Account records|no labelled"):
        build_task_matrix(canonical, space, reference)
    no_outcome = MappingProposal(
        ontology_version=ontology.version, matcher_version="x",
        orgs=[OrgMapping(org=org.org_id, fields=[
            f.model_copy(update={"concept": None, "block": None})
            if f.concept in ("account.churned", "account.churn_date") else f
            for f in mapping.org(org.org_id).fields])])
    canonical = canonicalize(org.org_id, org.tables, org.schema, no_outcome.org(org.org_id),
                             ontology)
    with pytest.raises(FeatureError, match="churn needs account.churned"):
        build_task_matrix(canonical, space, reference)
    duplicated = {name: frame.copy() for name, frame in org.tables.items()}
    duplicated["Account"].loc[1, "Id"] = duplicated["Account"].loc[0, "Id"]
    with pytest.raises(FeatureError, match="duplicate"):
        canonicalize(org.org_id, duplicated, org.schema, mapping.org(org.org_id), ontology)


def test_an_accounts_deals_share_one_split(federation, mapping, ontology, reference) -> None:
    """Win probability joins the account's columns to every deal, so deals of one account in
    train and test would let the test score reward memorised accounts."""
    space = build_feature_space("win_probability", ontology, mapping,
                                {o.org_id: o.schema for o in federation.orgs})
    checked = 0
    for org in federation.orgs:
        canonical = canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id),
                                 ontology)
        deals = canonical.table("Opportunity")
        if "opportunity.account_id" not in deals:
            continue
        matrix = build_task_matrix(canonical, space, reference)
        by_id = dict(zip(deals["Id"], deals["opportunity.account_id"], strict=True))
        splits: dict[str, set[str]] = {}
        for record_id, part in zip(matrix.ids, matrix.split, strict=True):
            if part is not None and pd.notna(by_id.get(record_id)):
                splits.setdefault(by_id[record_id], set()).add(part)
        assert splits and all(len(parts) == 1 for parts in splits.values()), org.org_id
        labelled = np.array([part is not None for part in matrix.split])
        assert 0.1 < (matrix.split == "test").sum() / labelled.sum() < 0.35  # about a fifth
        checked += 1
    assert checked


def test_a_grouped_split_with_a_class_smaller_than_its_folds_does_not_fail() -> None:
    # 5 won and 7 lost deals, split 1/8 by account: StratifiedGroupKFold needs 8 records of
    # some class and raised scikit-learn's ValueError, which ended the whole win-probability
    # task of a small org
    from fedcrm.features.extract import _split

    idx = np.arange(12)
    y = np.zeros(12)
    y[:5] = 1
    groups = np.array([f"acct{i}" for i in range(12)], dtype=object)
    rest, held = _split(idx, y, groups, 0.125, seed=0)
    assert sorted([*rest, *held]) == list(idx) and len(held) > 0
    held_groups = set(groups[held])
    assert not held_groups & set(groups[rest])  # an account's deals stay on one side


class _Tables:
    """Just enough of a CanonicalOrg for the roll-ups."""

    def __init__(self, contacts: pd.DataFrame, cases: pd.DataFrame | None = None,
                 deals: pd.DataFrame | None = None) -> None:
        self._tables = {"Case": pd.DataFrame() if cases is None else cases,
                        "Opportunity": pd.DataFrame() if deals is None else deals,
                        "Contact": contacts}

    def table(self, name: str) -> pd.DataFrame:
        return self._tables[name]


def test_contact_rollup_counts_only_contacts_there_at_the_as_of_time() -> None:
    from fedcrm.features.extract import ID_COLUMN, _rollup

    base = pd.DataFrame({ID_COLUMN: ["a1", "a2"],
                         "__as_of": pd.to_datetime(["2024-01-01", "2025-01-01"])})
    contacts = pd.DataFrame({
        "contact.account_id": ["a1", "a1", "a1", "a2"],
        "contact.created_date": pd.to_datetime(["2023-05-01", "2024-06-01", None,
                                                "2024-06-01"]),
    })
    counts = _rollup("rollup:contacts", base, _Tables(contacts))  # type: ignore[arg-type]
    # a1: one before its as-of, one after (not yet there), one undated (counted)
    assert counts.tolist() == [2.0, 1.0]
    undated = contacts.drop(columns="contact.created_date")
    assert _rollup("rollup:contacts", base, _Tables(undated)).tolist() == [3.0, 1.0]  # type: ignore[arg-type]


def test_a_rollup_whose_filter_the_org_does_not_map_is_missing_not_unfiltered() -> None:
    """An org without case.is_escalated has no escalated-case count (missing), not its count
    of all cases; won deals fall back on is_won when the stage is not mapped, and a won
    renewal (what makes a retained churn label definitive) is not counted."""
    from fedcrm.features.extract import ID_COLUMN, _rollup

    base = pd.DataFrame({ID_COLUMN: ["a1", "a2"],
                         "__as_of": pd.to_datetime(["2024-06-01", "2024-06-01"])})
    cases = pd.DataFrame({"case.account_id": ["a1", "a1", "a2"],
                          "case.created_date": pd.to_datetime(["2024-05-01"] * 3),
                          "case.is_escalated": [1, 0, 0]})
    deals = pd.DataFrame({"opportunity.account_id": ["a1", "a1", "a2"],
                          "opportunity.close_date": pd.to_datetime(["2024-03-01"] * 3),
                          "opportunity.is_won": [1, 0, 0],
                          "opportunity.amount": [100.0, 50.0, 70.0]})
    typed = deals.assign(**{"opportunity.type": ["new_business"] * 3})
    tables = _Tables(pd.DataFrame(), cases, typed)
    assert _rollup("rollup:escalated_cases_90d", base, tables).tolist() == [1.0, 0.0]  # type: ignore[arg-type]
    assert _rollup("rollup:won_amount_365d", base, tables).tolist() == [100.0, 0.0]  # type: ignore[arg-type]
    # without opportunity.type renewals cannot be left out: unknown, not a count that
    # includes the booked renewal (the churn outcome itself)
    untyped = _Tables(pd.DataFrame(), cases, deals)
    for name in ("rollup:won_deals_365d", "rollup:won_amount_365d"):
        assert _rollup(name, base, untyped).isna().all(), name  # type: ignore[arg-type]
    renewals = deals.assign(**{"opportunity.type": ["renewal", "new_business", "renewal"]})
    assert _rollup("rollup:won_deals_365d", base,  # type: ignore[arg-type]
                   _Tables(pd.DataFrame(), cases, renewals)).tolist() == [0.0, 0.0]
    # a win with a blank type may be the booked renewal: not counted either
    blank = deals.assign(**{"opportunity.type": [None, "new_business", "renewal"]})
    assert _rollup("rollup:won_deals_365d", base,  # type: ignore[arg-type]
                   _Tables(pd.DataFrame(), cases, blank)).tolist() == [0.0, 0.0]
    # case dates in a format nobody could read: the counts are unknown, not 0 for everyone
    unread = cases.assign(**{"case.created_date": pd.NaT})
    for name in ("rollup:cases_90d", "rollup:cases_total", "rollup:escalated_cases_90d"):
        assert _rollup(name, base,  # type: ignore[arg-type]
                       _Tables(pd.DataFrame(), unread, typed)).isna().all(), name
    one_unread = cases.assign(**{"case.created_date": [pd.NaT, *cases["case.created_date"][1:]]})
    assert _rollup("rollup:cases_90d", base,  # type: ignore[arg-type]
                   _Tables(pd.DataFrame(), one_unread, typed)).tolist() == [1.0, 1.0]
    bare = _Tables(pd.DataFrame(), cases.drop(columns="case.is_escalated"),
                   deals.drop(columns="opportunity.is_won"))
    for name in ("rollup:escalated_cases_90d", "rollup:high_priority_cases_90d",
                 "rollup:won_deals_365d", "rollup:won_amount_365d"):
        assert _rollup(name, base, bare).isna().all(), name  # type: ignore[arg-type]
    no_amount = _Tables(pd.DataFrame(), cases, typed.drop(columns="opportunity.amount"))
    assert _rollup("rollup:won_amount_365d", base, no_amount).isna().all()  # type: ignore[arg-type]
    assert _rollup("rollup:cases_90d", base, bare).tolist() == [2.0, 1.0]  # type: ignore[arg-type]


def test_a_rollup_missing_for_every_record_is_reported_missing(federation, mapping, ontology,
                                                              reference) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "churn", 0)
    tables = dict(canonical.tables)
    case_name = next(name for name in tables if name.lower() == "case")
    tables[case_name] = tables[case_name].drop(columns="case.is_escalated")
    bare = type(canonical)(canonical.org_id, tables)
    before = build_task_matrix(canonical, space, reference).report
    after = build_task_matrix(bare, space, reference)
    assert "rollup:escalated_cases_90d" in before.sources_present
    assert "rollup:escalated_cases_90d" in after.report.sources_missing
    assert "rollup:escalated_cases_90d" not in after.report.sources_present
    column = space.feature_names.index("rollup:escalated_cases_90d#missing")
    assert (after.x[:, column] == 1).all()


def test_a_reference_date_with_a_time_zone_is_read_as_utc(federation, mapping, ontology,
                                                         reference) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "churn", 0)
    naive = build_task_matrix(canonical, space, reference)
    zoned = build_task_matrix(canonical, space, pd.Timestamp(reference).tz_localize("UTC")
                              .tz_convert("Europe/Berlin"))
    np.testing.assert_array_equal(naive.x, zoned.x)
    np.testing.assert_array_equal(naive.y, zoned.y)


def test_account_type_is_not_a_feature_where_its_values_follow_the_outcome(
        mapping, ontology) -> None:
    for task in ("churn", "win_probability"):
        space = build_feature_space(task, ontology, mapping)
        assert "account.type" not in {s.name for s in space.sources}, task


def test_an_org_with_a_handful_of_labelled_records_is_refused_not_crashed(
        federation, mapping, ontology, reference) -> None:
    """scikit-learn refuses a stratified split with fewer held-out records than classes; the
    org must come out as a FeatureError (the federation skips it), never a ValueError."""
    org = federation.orgs[0]
    space = build_feature_space("churn", ontology, mapping)
    full = canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id), ontology)
    outcome = TASKS[Task.CHURN].outcome(full.table("Account"), pd.Timestamp(reference))
    y = outcome.y.to_numpy()
    churned = list(np.flatnonzero(outcome.labelled.to_numpy() & (y == 1)))
    retained = list(np.flatnonzero(outcome.labelled.to_numpy() & (y == 0)))
    results = {}
    for n in range(2, 13):
        rows = sorted(churned[: n // 2] + retained[: n - n // 2])
        tables = {name: frame.iloc[0:0] if name != "Account" else frame.iloc[rows]
                  for name, frame in org.tables.items()}
        canonical = canonicalize(org.org_id, tables, org.schema, mapping.org(org.org_id),
                                 ontology)
        try:
            matrix = build_task_matrix(canonical, space, reference)
        except FeatureError as exc:
            assert "too few to split" in str(exc) and org.org_id in str(exc)
            results[n] = "refused"
        else:
            parts = set(matrix.split)
            assert {"train", "validation", "test"} <= parts
            results[n] = "built"
    assert results[2] == "refused" and results[12] == "built"
    assert "built" in results.values() and list(results.values()).count("refused") >= 1


@pytest.mark.parametrize("sizes, named", [
    ({"test_size": 0}, "test_size"),
    ({"validation_size": 0}, "validation_size"),
    ({"test_size": float("nan")}, "test_size"),
    ({"test_size": -0.1}, "test_size"),
    ({"test_size": 1.0}, "test_size"),
    ({"validation_size": "0.1"}, "validation_size"),
    ({"validation_size": 0.8}, r"test_size \+ validation_size"),
    ({"test_size": 0.5, "validation_size": 0.5}, r"test_size \+ validation_size"),
])
def test_split_sizes_outside_0_to_1_are_refused(federation, mapping, ontology, reference,
                                                sizes, named) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "lead_conversion", 0)
    with pytest.raises(ConfigError, match=named):
        build_task_matrix(canonical, space, reference, **sizes)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "7"])
def test_a_seed_scikit_learn_cannot_use_is_refused(federation, mapping, ontology, reference,
                                                   seed) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "lead_conversion", 0)
    with pytest.raises(ConfigError, match="seed must be an integer from 0 to 4294967295"):
        build_task_matrix(canonical, space, reference, seed=seed)


def test_prepare_task_refuses_a_negative_seed(federation, mapping, ontology,
                                              reference) -> None:
    orgs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    with pytest.raises(ConfigError, match="seed"):
        prepare_task("lead_conversion", orgs, mapping, ontology, reference, seed=-1)


@pytest.mark.parametrize("date", ["not a date", None, "", "NaT", 20240101, float("nan")])
def test_a_reference_date_that_is_not_a_date_is_refused(federation, mapping, ontology,
                                                        date) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "lead_conversion", 0)
    with pytest.raises(ConfigError, match="reference_date .* is not a date; use YYYY-MM-DD"):
        build_task_matrix(canonical, space, date)


def test_a_reference_date_can_be_text_a_date_or_a_datetime(federation, mapping, ontology,
                                                           reference) -> None:
    space, canonical = _space_and_org(federation, mapping, ontology, "lead_conversion", 0)
    expected = build_task_matrix(canonical, space, reference)
    day = pd.Timestamp(reference)
    for date in (day.strftime("%Y-%m-%d"), day.date(), day.to_pydatetime(),
                 np.datetime64(day.strftime("%Y-%m-%d"))):
        matrix = build_task_matrix(canonical, space, date)
        np.testing.assert_array_equal(matrix.x, expected.x)
        np.testing.assert_array_equal(matrix.split, expected.split)


def test_recency_counts_activity_before_the_reference_date_only(federation, mapping, ontology,
                                                                reference) -> None:
    # a backtest: every last activity lies decades past the reference date
    space, canonical = _space_and_org(federation, mapping, ontology, "churn", 0)
    before = build_task_matrix(canonical, space, reference).report.quality.recency
    later = dataclasses.replace(canonical, tables={
        name: table.assign(**{column: pd.to_datetime(table[column]) + pd.Timedelta(days=40 * 365)
                              for column in table.columns
                              if column.endswith("last_activity_date")})
        for name, table in canonical.tables.items()})
    shifted = build_task_matrix(later, space, reference).report.quality.recency
    # future activity is not recent activity: what is left is the records created in the year
    created = pd.to_datetime(canonical.table("Account")["account.created_date"])
    days = (pd.Timestamp(reference) - created).dt.days
    assert before > 0 and shifted < before
    assert shifted <= float(((days >= 0) & (days <= 365)).mean()) + 0.1


def test_recency_takes_last_activity_and_creation_as_evidence(federation, mapping, ontology,
                                                              reference) -> None:
    """Creation stood in for last activity only when that was unmapped: an org whose records
    were all active last month but created years ago went from recency 1 to 0. Now either is
    evidence of activity."""
    space, canonical = _space_and_org(federation, mapping, ontology, "churn", 0)
    day = pd.Timestamp(reference)

    def quality(created: pd.Timestamp) -> tuple[float, pd.Series]:
        tables = {name: (table.assign(**{"account.created_date": created})
                         if name.lower() == "account" else table)
                  for name, table in canonical.tables.items()}
        matrix = build_task_matrix(dataclasses.replace(canonical, tables=tables), space,
                                   reference)
        return matrix.report.quality.recency, matrix

    # created within the year: every record was active then, whatever its activity
    assert quality(day - pd.Timedelta(days=300))[0] == 1.0
    # created years ago: the last activity alone decides
    recency, _ = quality(day - pd.Timedelta(days=4 * 365))
    accounts = canonical.table("Account")
    days = (day - pd.to_datetime(accounts["account.last_activity_date"])).dt.days
    share = float(((days >= 0) & (days <= 365)).mean())
    assert 0.0 < recency < 1.0 and recency == pytest.approx(share, abs=0.1)


def test_an_event_dated_after_the_as_of_time_is_missing_a_planned_one_is_kept(
        federation, mapping, ontology, reference) -> None:
    # a backtest: an MQL date after the reference date was encoded as -63 days (-0.17)
    space = build_feature_space("lead_conversion", ontology, mapping,
                                {o.org_id: o.schema for o in federation.orgs})
    org = next(o for o in federation.orgs if any(lab.concept == "lead.mql_date"
                                                 for lab in o.labels))
    canonical = canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id),
                             ontology)
    leads = canonical.table("Lead")
    later = leads["lead.mql_date"].notna() & (np.arange(len(leads)) % 2 == 0)
    mql = pd.to_datetime(leads["lead.mql_date"]).where(
        ~later, pd.Timestamp(reference) + pd.Timedelta(days=63))
    shifted = dataclasses.replace(canonical, tables={
        **canonical.tables, "Lead": leads.assign(**{"lead.mql_date": mql})})
    matrix = build_task_matrix(shifted, space, reference)
    days = matrix.x[:, space.feature_names.index("lead.mql_date#days")]
    missing = matrix.x[:, space.feature_names.index("lead.mql_date#missing")]
    future = later.to_numpy()[pd.Index(leads["Id"]).get_indexer(matrix.ids)]
    assert future.sum() > 5
    assert (missing[future] == 1).all() and (days[future] == 0).all()
    assert (days[~future] >= 0).all()
    assert matrix.report.future_dated == {"lead.mql_date": int(future.sum())}

    # the next day's date is the future (exactly -1 day from the as-of midnight was kept)
    next_day = dataclasses.replace(canonical, tables={**canonical.tables, "Lead": leads.assign(
        **{"lead.mql_date": pd.to_datetime(leads["lead.mql_date"]).where(
            ~later, pd.Timestamp(reference).normalize() + pd.Timedelta(days=1))})})
    assert build_task_matrix(next_day, space, reference).report.future_dated == {
        "lead.mql_date": int(future.sum())}

    # a contract's end lies ahead by nature: still encoded, as negative days
    space, canonical = _space_and_org(federation, mapping, ontology, "churn", 0)
    matrix = build_task_matrix(canonical, space, reference)
    end = matrix.x[:, space.feature_names.index("account.contract_end_date#days")]
    assert (end < 0).sum() > 5 and "account.contract_end_date" not in \
        matrix.report.future_dated
    assert ontology.concept("account.contract_end_date").planned
