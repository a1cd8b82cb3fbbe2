"""Values survive the trip from the source CSV to the orgs' records (spot-checked against the
files), the dataset quirks stay, leakage stays out, and the pipeline's converters read the
orgs' own spellings and units back into canonical values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fedcrm import load_schema
from fedcrm.datasets import LOADERS, RealFederation, truth_mapping
from fedcrm.datasets.leads import LEAKAGE_COLUMNS, MISSING_MARKER
from fedcrm.datasets.vocabulary import WORDS
from fedcrm.features import canonicalize, read_records
from fedcrm.ontology import load_ontology
from fedcrm.tasks import get_task
from tests.datasets.conftest import read_org_records, read_source

SPOT_CHECKS = 25


def _canonical(folder: Path, org_id: str, sobject: str) -> pd.DataFrame:
    """One org's canonical table under the ground-truth mapping, as the pipeline builds it."""
    mapping = truth_mapping(folder.parent, orgs=[org_id])
    schema = load_schema(folder / "metadata", org_id=org_id)
    canonical = canonicalize(org_id, read_records(folder / "records"), schema,
                             mapping.org(org_id), load_ontology())
    return canonical.table(sobject)


def _spot_rows(records: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return records.iloc[rng.choice(len(records), size=min(SPOT_CHECKS, len(records)),
                                   replace=False)]


def test_telco_values_match_the_source(crm_root: Path, slices: dict[str, RealFederation],
                                       written: dict[str, Path]) -> None:
    source = read_source(crm_root, "telco-churn", "telco_customer_churn.csv").set_index(
        "customerID")
    for org in slices["telco-churn"].orgs:
        records = read_org_records(written["telco-churn"] / org.org_id, "Account")
        fields = {column: org.field_for(column) for column in
                  ("MonthlyCharges", "TotalCharges", "tenure", "Contract", "Churn",
                   "OnlineSecurity", "gender")}
        for _, row in _spot_rows(records).iterrows():
            original = source.loc[row["AccountNumber"]]
            assert row[fields["MonthlyCharges"].field] == original["MonthlyCharges"]
            assert row[fields["TotalCharges"].field] == original["TotalCharges"].strip()
            assert row[fields["tenure"].field] == original["tenure"]
            assert row[fields["Contract"].field] == fields["Contract"].values[
                original["Contract"]]
            assert row[fields["Churn"].field] == fields["Churn"].values[original["Churn"]]
            assert row[fields["gender"].field] == fields["gender"].values[original["gender"]]
            assert (row[fields["OnlineSecurity"].field] == "true") == \
                (original["OnlineSecurity"] == "Yes")
            assert original["PaymentMethod"] in org.spec.keys


def test_telco_total_charges_stay_blank_for_new_customers(crm_root: Path) -> None:
    federation = LOADERS["telco-churn"](crm_root)
    blank = new = 0
    for org in federation.orgs:
        table = org.tables["Account"]
        total = table[org.field_for("TotalCharges").field]
        tenure = table[org.field_for("tenure").field]
        blank += int((total == "").sum())
        new += int((tenure == "0").sum())
        assert (total[tenure == "0"] == "").all()
    assert blank == new == 11


def test_bank_values_and_country_names_in_the_org_language(
        crm_root: Path, slices: dict[str, RealFederation], written: dict[str, Path]) -> None:
    source = read_source(crm_root, "bank-churn", "churn_modelling.csv").set_index("CustomerId")
    country = {"bank_france": "France", "bank_germany": "Deutschland", "bank_spain": "España"}
    for org in slices["bank-churn"].orgs:
        records = read_org_records(written["bank-churn"] / org.org_id, "Account")
        assert set(records["BillingCountry"]) == {country[org.org_id]}
        balance, age, exited = (org.field_for(c).field for c in ("Balance", "Age", "Exited"))
        language = org.spec.language  # labels are written in the org's language
        assert org.field_for("Balance").label in WORDS["balance"].phrases(language)
        assert language != "en" and WORDS["balance"].phrases(language) != WORDS["balance"].en
        for _, row in _spot_rows(records).iterrows():
            original = source.loc[row["AccountNumber"]]
            assert row["Name"] == original["Surname"]
            assert row[balance] == original["Balance"]
            assert row[age] == original["Age"]  # blank ages stay blank
            assert row[exited] == org.field_for("Exited").values[original["Exited"]]


def test_bank_tenure_in_years_becomes_months(written: dict[str, Path],
                                             slices: dict[str, RealFederation]) -> None:
    for org in slices["bank-churn"].orgs:
        table = _canonical(written["bank-churn"] / org.org_id, org.org_id, "Account")
        years = pd.to_numeric(org.source_rows["Account"]["Tenure"])
        assert np.allclose(table["account.tenure_months"].to_numpy(dtype=float),
                           12 * years.to_numpy(dtype=float))
        churned = org.source_rows["Account"]["Exited"] == "1"
        assert (table["account.churned"] == churned.astype(float)).all()


def test_each_org_spells_the_contract_its_own_way_and_the_pipeline_reads_it(
        slices: dict[str, RealFederation], written: dict[str, Path]) -> None:
    spellings = {}
    for org in slices["telco-churn"].orgs:
        field = org.field_for("Contract")
        spellings[org.org_id] = field.values["Month-to-month"]
        table = _canonical(written["telco-churn"] / org.org_id, org.org_id, "Account")
        monthly = org.source_rows["Account"]["Contract"] == "Month-to-month"
        assert (table["account.contract_term"][monthly] == "month_to_month").all()
    assert spellings == {"telco_electronic_check": "Month-to-month",
                         "telco_mailed_check": "Monthly",
                         "telco_bank_transfer": "Monatlich kündbar",
                         "telco_credit_card": "Mensual"}


def test_lead_leakage_columns_are_not_written(crm_root: Path, slices: dict[str, RealFederation],
                                              written: dict[str, Path]) -> None:
    federation = slices["lead-scoring"]
    assert set(federation.manifest.excluded_columns) == set(LEAKAGE_COLUMNS)
    source = read_source(crm_root, "lead-scoring", "leads.csv")
    tag_values = set(source["Tags"]) - {""} - set(source["Last Activity"])
    for org in federation.orgs:
        assert not {f.source for f in org.fields} & set(LEAKAGE_COLUMNS)
        labels = " ".join(meta.label or meta.api_name for _, meta in org.schema.iter_fields())
        assert "Tags" not in labels and "Quality" not in labels and "Notable" not in labels
        # the spellings Last Activity was written under before it was left out
        names = {meta.label for _, meta in org.schema.iter_fields()}
        assert not {"Last Activity", "Latest Activity Type", "Last Touch"} & names
        records = read_org_records(written["lead-scoring"] / org.org_id, "Lead")
        written_values = set(records.to_numpy().ravel())
        assert not written_values & tag_values


def test_sales_engage_date_is_not_written(slices: dict[str, RealFederation],
                                          written: dict[str, Path]) -> None:
    """Seen as of a closed deal's close date, the engage date is the sales cycle's length."""
    federation = slices["sales-pipeline"]
    assert set(federation.manifest.excluded_columns) == {"engage_date"}
    for org in federation.orgs:
        assert "engage_date" not in {f.source for f in org.fields}
        records = read_org_records(written["sales-pipeline"] / org.org_id, "Opportunity")
        dated = [c for c in records.columns
                 if records[c].astype(str).str.fullmatch(r"\d{4}-\d{2}-\d{2}").any()]
        assert dated == ["CloseDate"], org.org_id


def test_lead_select_is_written_as_missing(crm_root: Path, slices: dict[str, RealFederation],
                                           written: dict[str, Path]) -> None:
    source = read_source(crm_root, "lead-scoring", "leads.csv").set_index("Prospect ID")
    checked = 0
    for org in slices["lead-scoring"].orgs:
        records = read_org_records(written["lead-scoring"] / org.org_id, "Lead")
        assert not (records == MISSING_MARKER).any().any()
        prospect = org.field_for("Prospect ID").field
        specialization = org.field_for("Specialization").field
        for _, row in records.iterrows():
            original = source.loc[row[prospect]]
            if original["Specialization"] == MISSING_MARKER:
                assert row[specialization] == ""
                checked += 1
            else:
                assert row[specialization] == original["Specialization"]
            assert row["LeadSource"] == original["Lead Source"]
            assert row["IsConverted"] == ("true" if original["Converted"] == "1" else "false")
        picklist = org.schema["Lead"][specialization].picklist_values
        assert MISSING_MARKER not in {value.value for value in picklist}
    assert checked > 0


def test_open_deals_are_unlabelled(crm_root: Path, slices: dict[str, RealFederation],
                                   written: dict[str, Path]) -> None:
    definition = get_task("win_probability")
    reference = pd.Timestamp(slices["sales-pipeline"].reference_date)
    total_open = 0
    for org in slices["sales-pipeline"].orgs:
        folder = written["sales-pipeline"] / org.org_id
        records = read_org_records(folder, "Opportunity")
        stage = org.source_rows["Opportunity"]["deal_stage"]
        open_deals = stage.isin(["Engaging", "Prospecting"]).to_numpy()
        total_open += int(open_deals.sum())
        assert (records["IsClosed"][open_deals] == "false").all()
        assert (records["CloseDate"][open_deals] == "").all()
        assert (records["ExpectedRevenue"][open_deals] == "").all()
        outcome = definition.outcome(_canonical(folder, org.org_id, "Opportunity"), reference)
        assert outcome.y[open_deals].isna().all()
        assert outcome.y[~open_deals].notna().all()
        assert (outcome.y[~open_deals] == (stage[~open_deals] == "Won").astype(float)).all()
    assert total_open > 0


def test_sales_values_joins_and_quirks(crm_root: Path, slices: dict[str, RealFederation],
                                       written: dict[str, Path]) -> None:
    folder_data = "sales-pipeline"
    deals = read_source(crm_root, folder_data, "sales_pipeline.csv").set_index("opportunity_id")
    accounts = read_source(crm_root, folder_data, "accounts.csv").set_index("account")
    prices = read_source(crm_root, folder_data, "products.csv").set_index("product")
    quirks = {"GTXPro": 0, "technolgy": 0}
    for org in slices["sales-pipeline"].orgs:
        folder = written["sales-pipeline"] / org.org_id
        opportunities = read_org_records(folder, "Opportunity")
        account_records = read_org_records(folder, "Account").set_index("Id")
        product = org.field_for("product").field
        for _, row in opportunities.iterrows():
            original = deals.loc[row["Name"]]
            assert row[product] == original["product"]
            quirks["GTXPro"] += original["product"] == "GTXPro"
            listed = "GTX Pro" if original["product"] == "GTXPro" else original["product"]
            assert row["Amount"] == prices.loc[listed, "sales_price"]
            assert row["ExpectedRevenue"] == original["close_value"]
            expected_close = pd.to_datetime(original["close_date"], format="%m/%d/%Y") \
                if original["close_date"] else None
            assert row["CloseDate"] == (expected_close.strftime("%Y-%m-%d")
                                        if expected_close is not None else "")
            if original["account"]:
                account = account_records.loc[row["AccountId"]]
                assert account["Name"] == original["account"]
                assert account["Industry"] == accounts.loc[original["account"], "sector"]
                quirks["technolgy"] += account["Industry"] == "technolgy"
            else:
                assert row["AccountId"] == ""
    assert quirks["GTXPro"] > 0 and quirks["technolgy"] > 0


def test_sales_revenue_in_millions_becomes_dollars(slices: dict[str, RealFederation],
                                                   written: dict[str, Path]) -> None:
    org = slices["sales-pipeline"].orgs[0]
    table = _canonical(written["sales-pipeline"] / org.org_id, org.org_id, "Account")
    millions = pd.to_numeric(org.source_rows["Account"]["revenue"]).to_numpy(dtype=float)
    assert np.allclose(table["account.annual_revenue"].to_numpy(dtype=float), millions * 1e6)


def test_units_value_maps_cover_every_concept_picklist_value(
        slices: dict[str, RealFederation]) -> None:
    ontology = load_ontology()
    for federation in slices.values():
        for org in federation.orgs:
            for sobject, meta in org.schema.iter_fields():
                label = org.label(sobject.api_name, meta.api_name)
                if meta.picklist_values and label.concept and \
                        ontology.concept(label.concept).value_set:
                    encoding = org.units[(sobject.api_name, meta.api_name)]
                    codes = {v.code for v in ontology.value_set(
                        ontology.concept(label.concept).value_set).values}
                    assert {v.value for v in meta.picklist_values} <= set(encoding.value_map)
                    assert set(encoding.value_map.values()) <= codes


@pytest.mark.parametrize("name", ["telco-churn", "bank-churn", "lead-scoring"])
def test_undated_datasets_do_not_depend_on_the_reference_date(
        name: str, written: dict[str, Path], slices: dict[str, RealFederation]) -> None:
    from fedcrm.features import build_feature_space, build_task_matrix

    federation = slices[name]
    mapping = truth_mapping(written[name])
    ontology = load_ontology()
    schemas = {org.org_id: org.schema for org in federation.orgs}
    space = build_feature_space(federation.definition.task, ontology, mapping, schemas)
    org = federation.orgs[0]
    canonical = canonicalize(org.org_id, read_records(written[name] / org.org_id / "records"),
                             org.schema, mapping.org(org.org_id), ontology)
    first = build_task_matrix(canonical, space, "2020-01-01")
    second = build_task_matrix(canonical, space, "2031-07-15")
    assert np.array_equal(first.x, second.x) and np.array_equal(first.y, second.y)
