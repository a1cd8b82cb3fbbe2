from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedcrm import ConfigError, FeatureError
from fedcrm.features import canonicalize, read_records
from fedcrm.features.canonical import days_before


def _canonical(org, mapping, ontology, tables=None):
    return canonicalize(org.org_id, tables or org.tables, org.schema,
                        mapping.org(org.org_id), ontology)


def _with_accounts(org, accounts: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {**{name: frame.copy() for name, frame in org.tables.items()}, "Account": accounts}


def test_column_names_match_api_names_whatever_their_case(federation, mapping,
                                                          ontology) -> None:
    org = federation.orgs[0]
    plain = _canonical(org, mapping, ontology)
    shouting = org.tables["Account"].rename(columns=str.upper)  # "ID", "TREUEPUNKTE__C", ...
    loud = _canonical(org, mapping, ontology, _with_accounts(org, shouting))
    pd.testing.assert_frame_equal(loud.table("Account"), plain.table("Account"))
    assert [s.lower() for s in loud.skipped] == [s.lower() for s in plain.skipped]
    assert any(c.startswith("local:") for c in loud.table("Account").columns)


def test_columns_differing_only_by_case_are_refused(federation, mapping, ontology,
                                                    tmp_path) -> None:
    org = federation.orgs[0]
    accounts = org.tables["Account"].copy()
    accounts["ANNUALREVENUE"] = accounts["AnnualRevenue"]
    with pytest.raises(FeatureError, match=r"Account\.csv.*'AnnualRevenue'.*'ANNUALREVENUE'"):
        _canonical(org, mapping, ontology, _with_accounts(org, accounts))
    accounts.to_csv(tmp_path / "Account.csv", index=False)
    with pytest.raises(FeatureError, match="Account.csv.*differ only by case"):
        read_records(tmp_path)


def test_every_dropped_column_is_reported(federation, mapping, ontology) -> None:
    org = federation.orgs[0]
    accounts = org.tables["Account"].copy()
    accounts["Mystery__c"] = "x"
    canonical = _canonical(org, mapping, ontology, _with_accounts(org, accounts))
    dropped = " | ".join(canonical.skipped)
    assert "Mystery__c" in dropped and "no field of that name" in dropped
    assert "KundenbeginnVeraltet__c" in dropped  # unmapped text field: not used, but said so
    table = canonical.table("Account")
    used = len(table.columns)
    reported = sum(s.count(",") + 1 for s in canonical.skipped if s.startswith("Account:"))
    assert used + reported >= len(accounts.columns)


def test_records_currency_column_is_the_default_currency(federation, mapping,
                                                         ontology) -> None:
    org = federation.orgs[0]
    accounts = org.tables["Account"].copy()
    accounts["CurrencyIsoCode"] = "EUR"
    canonical = _canonical(org, mapping, ontology, _with_accounts(org, accounts))
    revenue = next(c for c in canonical.conversions if c.field == "AnnualRevenue")
    assert revenue.scale == pytest.approx(1.08)
    assert "EUR from the Account records' currency column" in revenue.note
    accounts["CurrencyIsoCode"] = ["EUR", "USD"] * (len(accounts) // 2) + ["EUR"] * (
        len(accounts) % 2)
    canonical = _canonical(org, mapping, ontology, _with_accounts(org, accounts))
    revenue = next(c for c in canonical.conversions if c.field == "AnnualRevenue")
    assert "assumed USD" in revenue.note
    assert any("several currencies (EUR, USD)" in s for s in canonical.skipped)
    # an org default does not make the column single-currency: still said
    canonical = canonicalize(org.org_id, _with_accounts(org, accounts), org.schema,
                             mapping.org(org.org_id), ontology, default_currency="GBP")
    assert any("several currencies (EUR, USD); amounts without a currency in their name are "
               "read as GBP (the org default)" in s for s in canonical.skipped)
    # a records' currency without a rate names the org, the object and the fix
    accounts["CurrencyIsoCode"] = "BRL"
    with pytest.raises(FeatureError, match=rf"org {org.org_id}: Account records are in BRL, a "
                                           r"currency without an exchange rate.*currency_rates="
                                           r"\{'BRL'"):
        _canonical(org, mapping, ontology, _with_accounts(org, accounts))
    converted = canonicalize(org.org_id, _with_accounts(org, accounts), org.schema,
                             mapping.org(org.org_id), ontology, currency_rates={"BRL": 0.2})
    revenue = next(c for c in converted.conversions if c.field == "AnnualRevenue")
    assert revenue.scale == pytest.approx(0.2)


def test_missing_dates_stay_missing() -> None:
    dates = pd.Series(pd.to_datetime(["2024-01-01", None]))
    for as_of in (pd.Timestamp("2025-01-01"), pd.Series(pd.to_datetime(["2025-01-01"] * 2))):
        days = days_before(dates, as_of)
        assert days.iloc[0] == 366.0 and np.isnan(days.iloc[1])


@pytest.mark.parametrize("rates, named", [
    ({"USD": float("nan"), "EUR": float("nan")}, "'USD'"),
    ({"EUR": -1.08}, "'EUR'"),
    ({"GBP": 0}, "'GBP'"),
    ({"CHF": float("inf")}, "'CHF'"),
    ({"EUR": "1.08"}, "'EUR'"),
    ({"EURO": 1.08}, "'EURO'"),
])
def test_a_rate_that_is_not_a_positive_number_is_refused(federation, mapping, ontology,
                                                         rates, named) -> None:
    org = federation.orgs[0]
    with pytest.raises(ConfigError, match=f"currency_rates.*{named}") as caught:
        canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id), ontology,
                     currency_rates=rates)
    assert "currency code" in str(caught.value) or "> 0" in str(caught.value)


@pytest.mark.parametrize("code", ["EURO", "XYZ", "", "eu"])
def test_an_unknown_default_currency_is_refused(federation, mapping, ontology, code) -> None:
    org = federation.orgs[0]
    with pytest.raises(ConfigError, match=r"default_currency .* currency_rates=") as caught:
        canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id), ontology,
                     default_currency=code)
    assert "EUR" in str(caught.value)  # the codes it does know are listed


def test_rates_and_default_currency_are_read_case_insensitively(federation, mapping,
                                                                ontology) -> None:
    org = federation.orgs[0]
    canonical = canonicalize(org.org_id, org.tables, org.schema, mapping.org(org.org_id),
                             ontology, currency_rates={"brl": 0.2}, default_currency="brl")
    revenue = next(c for c in canonical.conversions if c.field == "AnnualRevenue")
    assert revenue.scale == pytest.approx(0.2)
    assert "BRL from the org default" in revenue.note


def test_15_and_18_character_ids_of_one_record_meet(federation, mapping, ontology) -> None:
    # a report export writes 15-character ids, Data Loader 18: cases whose AccountId was
    # written the short way matched no account, and every roll-up was 0
    org = federation.orgs[0]
    plain = _canonical(org, mapping, ontology)
    tables = {name: frame.copy() for name, frame in org.tables.items()}
    case_account = next(f.field for f in mapping.org(org.org_id).fields
                        if f.concept == "case.account_id")
    column = next(c for c in tables["Case"].columns if c.lower() == case_account.lower())
    assert tables["Case"][column].str.len().eq(18).all()
    tables["Case"][column] = tables["Case"][column].str[:15]
    short = _canonical(org, mapping, ontology, tables)
    pd.testing.assert_frame_equal(short.table("Case"), plain.table("Case"))
    assert plain.table("Account")["Id"].str.len().eq(15).all()
    # an 18-character value whose last three are not the checksum is no Salesforce id
    from fedcrm.features.canonical import record_ids
    assert record_ids(pd.Series(["0010300000000G8AAI", "0010300000000G8AAA", "ext-42"])
                      ).tolist() == ["0010300000000G8", "0010300000000G8AAA", "ext-42"]
    # one record given twice, once each way, is a duplicate
    accounts = org.tables["Account"].copy()
    accounts.loc[1, "Id"] = accounts.loc[0, "Id"][:15]
    with pytest.raises(FeatureError, match="names one record twice"):
        _canonical(org, mapping, ontology, _with_accounts(org, accounts))
