from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fedcrm.errors import ConfigError
from fedcrm.features.convert import (
    ASSUMED_USD,
    USD_PER_UNIT,
    convert_field,
    currencies_in,
    numeric_scale,
    parse_booleans,
    parse_dates,
    parse_numbers,
)
from fedcrm.ontology import Ontology, load_ontology
from fedcrm.schema import DataKind, FieldMeta


@pytest.fixture(scope="module")
def ontology() -> Ontology:
    return load_ontology()


def meta(name: str, label: str, kind: DataKind = DataKind.NUMBER) -> FieldMeta:
    return FieldMeta(api_name=name, label=label, kind=kind)


def test_numbers_from_text_in_several_conventions() -> None:
    values = pd.Series(["1.234,5", "8", "12 %", None, "n/a", "3,000", 7])
    parsed = parse_numbers(values.astype(object))
    assert parsed.tolist()[:3] == [1234.5, 8.0, 12.0]
    assert np.isnan(parsed[3]) and np.isnan(parsed[4])
    assert parsed[5] == 3000.0


def test_german_thousands_without_decimals() -> None:
    parsed = parse_numbers(pd.Series(["1.234.567", "-2.000.000", "1.234", "1.234.567,5"]))
    assert parsed.tolist() == [1234567.0, -2000000.0, 1.234, 1234567.5]


def test_booleans_in_four_languages() -> None:
    parsed = parse_booleans(pd.Series(["Ja", "Nein", "oui", "non", "Sí", "no", "true", "?"]))
    assert parsed.tolist()[:7] == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert np.isnan(parsed.iloc[7])


def test_dates_iso_and_day_first() -> None:
    assert parse_dates(pd.Series(["2024-05-01", None])).iloc[0] == pd.Timestamp("2024-05-01")
    german = parse_dates(pd.Series(["31.12.2024", "01.02.2023"]))
    assert german.iloc[0] == pd.Timestamp("2024-12-31")
    assert parse_dates(pd.Series(["2024-05-01T10:00:00.000Z"])).iloc[0].hour == 10
    # text with an offset and a time-zone-aware column alike come out as naive UTC
    assert parse_dates(pd.Series(["2024-05-01T10:00:00+02:00"])).iloc[0].hour == 8
    aware = pd.Series(pd.to_datetime(["2024-05-01 10:00"])).dt.tz_localize("Europe/Berlin")
    assert parse_dates(aware).tolist() == [pd.Timestamp("2024-05-01 08:00")]


def test_a_date_keeps_the_day_the_org_wrote() -> None:
    # local midnight in Berlin is 23:00 the day before in UTC: a date must not move a day
    aware = pd.Series(pd.to_datetime(["2024-03-01", "2024-07-31"])).dt.tz_localize("Europe/Berlin")
    assert parse_dates(aware, date_only=True).tolist() == [pd.Timestamp("2024-03-01"),
                                                           pd.Timestamp("2024-07-31")]
    assert parse_dates(aware).iloc[0] == pd.Timestamp("2024-02-29 23:00")
    text = pd.Series(["2024-03-01T00:00:00+01:00", "2024-03-01T23:30:00.000-0500", "2024-03-02"])
    assert parse_dates(text, date_only=True).tolist() == [
        pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-01"), pd.Timestamp("2024-03-02")]
    assert parse_dates(text).iloc[1] == pd.Timestamp("2024-03-02 04:30")


def test_convert_field_reads_a_date_concept_as_a_day_and_a_date_time_in_utc(
        ontology: Ontology) -> None:
    aware = pd.Series(pd.to_datetime(["2024-03-01 00:00"])).dt.tz_localize("Europe/Berlin")
    close, created = (ontology.concept("opportunity.close_date"),
                      ontology.concept("opportunity.created_date"))
    assert (close.kind, created.kind) == (DataKind.DATE, DataKind.DATETIME)
    day, _ = convert_field(aware, meta("Close__c", "Close", DataKind.DATE), close, ontology)
    stamp, _ = convert_field(aware, meta("Seen__c", "Seen", DataKind.DATETIME), created,
                             ontology)
    assert day.tolist() == [pd.Timestamp("2024-03-01")]
    assert stamp.tolist() == [pd.Timestamp("2024-02-29 23:00")]


def test_dashed_dates_take_the_order_that_reads_every_value() -> None:
    day_first = parse_dates(pd.Series(["31-12-2024", "01-02-2023"]))
    assert day_first.tolist() == [pd.Timestamp("2024-12-31"), pd.Timestamp("2023-02-01")]
    month_first = parse_dates(pd.Series(["12-31-2024", "01-05-2024"]))
    assert month_first.tolist() == [pd.Timestamp("2024-12-31"), pd.Timestamp("2024-01-05")]


def test_dates_in_every_format_the_generator_writes() -> None:
    from fedcrm.synth.planner import _DATE_FORMATS

    stamps = pd.Series(pd.to_datetime(["2024-12-31", "2023-02-01", "2022-07-15"]))
    for formats in _DATE_FORMATS.values():
        for fmt in formats:
            parsed = parse_dates(stamps.dt.strftime(fmt))
            assert parsed.tolist() == stamps.tolist(), fmt


def test_currency_thousands_and_percent_scaling(ontology: Ontology) -> None:
    revenue = ontology.concept("account.annual_revenue")
    factor, note = numeric_scale(meta("Umsatz_kEUR__c", "Umsatz (Tsd. EUR)"), revenue,
                                 pd.Series([1.0, 2.0]))
    assert factor == pytest.approx(1.08 * 1000) and "EUR" in note and "thousands" in note
    factor, _ = numeric_scale(meta("Revenue_USD__c", "Revenue"), revenue, pd.Series([5.0]))
    assert factor == 1.0
    discount = ontology.concept("opportunity.discount_percent")
    fraction, note = numeric_scale(meta("Disc__c", "Discount"), discount,
                                   pd.Series([0.1, 0.25, 0.05]))
    assert fraction == 100.0 and "percent" in note
    already, _ = numeric_scale(meta("Disc__c", "Discount", DataKind.PERCENT), discount,
                               pd.Series([10.0, 25.0]))
    assert already == 1.0


def test_picklist_to_value_set_codes(ontology: Ontology) -> None:
    stage = ontology.concept("opportunity.stage")
    values = pd.Series(["Gewonnen", "Closed Lost", "Ganz was anderes", None])
    converted, report = convert_field(values, meta("Phase__c", "Phase", DataKind.PICKLIST),
                                      stage, ontology)
    assert converted.tolist()[:3] == ["closed_won", "closed_lost", "other"]
    assert converted.iloc[3] is None or pd.isna(converted.iloc[3])
    assert report.n_other == 1 and report.n_values == 3


def test_nps_stored_as_text(ontology: Ontology) -> None:
    nps = ontology.concept("account.nps_score")
    converted, report = convert_field(pd.Series(["8", "10", "", "x"]),
                                      meta("NPS__c", "NPS", DataKind.TEXT), nps, ontology)
    assert converted.tolist()[:2] == [8.0, 10.0]
    assert report.n_values == 3 and report.n_converted == 2 and report.n_unparsed == 1


@pytest.mark.parametrize("name", ["AmountsDue__c", "PaymentsDue__c", "CostsDue__c"])
def test_letters_tsd_inside_a_word_are_not_thousands(ontology: Ontology, name: str) -> None:
    revenue = ontology.concept("account.annual_revenue")
    factor, note = numeric_scale(meta(name, name), revenue, pd.Series([5.0]))
    assert factor == 1.0 and "thousands" not in note


@pytest.mark.parametrize(("name", "label", "factor"), [
    ("Rev_TSD__c", "Revenue", 1000.0),
    ("RevTSD__c", "Revenue", 1000.0),
    ("Umsatz__c", "Umsatz (Tsd. €)", 1080.0),
    ("npe01__REV_KEUR__C", "Revenue", 1080.0),  # one token carries scale and currency
    ("Auftragswert_TEUR__c", "Auftragswert", 1080.0),
    ("valor_milesusd__c", "Valor (MilesUSD)", 1000.0),
    ("Revenue__c", "Revenue (kUSD)", 1000.0),
])
def test_thousands_from_whole_words(ontology: Ontology, name: str, label: str,
                                    factor: float) -> None:
    revenue = ontology.concept("account.annual_revenue")
    found, note = numeric_scale(meta(name, label), revenue, pd.Series([5.0]))
    assert found == pytest.approx(factor) and "thousands ×1000" in note


@pytest.mark.parametrize(("name", "concept", "factor"), [
    ("FirstResponseMinutes__c", "case.first_response_hours", 1 / 60),
    ("Avg_Resolution_Minutes__c", "account.avg_resolution_time_hours", 1 / 60),
    ("Antwortzeit_Minuten__c", "case.first_response_hours", 1 / 60),
    ("Response_Weeks__c", "lead.days_to_first_response", 7.0),
    ("Min_Response_Hours__c", "case.first_response_hours", 1.0),  # "min" is not minutes
])
def test_durations_in_minutes_and_weeks_are_converted(ontology: Ontology, name: str,
                                                      concept: str, factor: float) -> None:
    found, _ = numeric_scale(meta(name, name), ontology.concept(concept), pd.Series([90.0]))
    assert found == pytest.approx(factor)


def test_currency_is_never_assumed_silently(ontology: Ontology) -> None:
    revenue = ontology.concept("account.annual_revenue")
    field = meta("AnnualRevenue", "Annual Revenue", DataKind.CURRENCY)
    factor, note = numeric_scale(field, revenue, pd.Series([5.0]))
    assert factor == 1.0 and "assumed USD" in note
    factor, note = numeric_scale(field, revenue, pd.Series([5.0]), default_currency="EUR")
    assert factor == pytest.approx(1.08) and "EUR from the org default" in note
    named, note = numeric_scale(meta("Revenue_GBP__c", "Revenue"), revenue, pd.Series([5.0]),
                                default_currency="EUR")
    assert named == pytest.approx(1.28) and "GBP from the field name" in note
    converted, report = convert_field(pd.Series(["12 EUR", "10 EUR", None]), field, revenue,
                                      ontology)
    assert converted.tolist()[:2] == pytest.approx([12 * 1.08, 10 * 1.08])
    assert "EUR from the values" in report.note
    _, report = convert_field(pd.Series(["12 EUR", "10 GBP"]), field, revenue, ontology)
    assert "several currencies (EUR, GBP)" in report.note and "assumed USD" in report.note


def test_numbers_with_currency_codes_exponents_and_a_decimal_comma() -> None:
    parsed = parse_numbers(pd.Series(["12 EUR", "EUR 12", "12,50 €", "1.5e3", "0,125",
                                      "-0,125", "3,000", "1,250", "12-34"], dtype=object))
    assert parsed.tolist()[:8] == pytest.approx([12.0, 12.0, 12.5, 1500.0, 0.125, -0.125,
                                                3000.0, 1250.0])
    assert np.isnan(parsed.iloc[8])  # a range is not a number


@pytest.mark.parametrize(("options", "expected"), [
    ({"currency_rates": {"EUR": float("nan")}}, r"currency_rates\['EUR'\] is nan"),
    ({"currency_rates": {"EUR": -1.0}}, "finite number > 0"),
    ({"default_currency": "XYZ"}, "XYZ"),
])
def test_convert_field_checks_its_currency_options(ontology: Ontology, options: dict,
                                                   expected: str) -> None:
    # canonicalize checked these; convert_field, public too, took them unchecked
    field = meta("AnnualRevenue", "Annual Revenue", DataKind.CURRENCY)
    with pytest.raises(ConfigError, match=expected):
        convert_field(pd.Series(["12", "10"]), field,
                      ontology.concept("account.annual_revenue"), ontology, **options)


def test_german_false_numbers_as_text_and_accounting_negatives() -> None:
    # FALSCH was unread (WAHR was), so a German churn flag lost every retained account
    assert parse_booleans(pd.Series(["WAHR", "FALSCH", "1.0", "0.0", "2"])).tolist() == [
        1.0, 0.0, 1.0, 0.0, 1.0]
    assert parse_numbers(pd.Series(["(500)", "$(1,250.00)", "(1.250,00 €)", "-3"])).tolist() \
        == [-500.0, -1250.0, -1250.0, -3.0]
    # a signed number or words in brackets are not an accounting negative
    assert parse_numbers(pd.Series(["-(5)", "(-5)", "(+5)", "(est 1200)"])).tolist() == [
        -5.0, -5.0, 5.0, 1200.0]


def test_a_scale_named_in_prose_is_not_applied(ontology: Ontology) -> None:
    # "not in thousands" in the help text multiplied a full amount by 1000
    revenue = ontology.concept("account.annual_revenue")
    field = FieldMeta(api_name="Annual_Amount__c", label="Annual amount", kind=DataKind.CURRENCY,
                      help_text="Enter the full amount in dollars, not in thousands.",
                      description="Accounts above 1 m are reviewed")
    factor, note = numeric_scale(field, revenue, pd.Series([250000.0]))
    assert factor == 1.0 and "thousands" not in note and "millions" not in note
    # a duration's unit may still come from the description
    age = ontology.concept("opportunity.deal_age_days")
    length = FieldMeta(api_name="Contract_Length__c", label="Contract Length",
                       kind=DataKind.NUMBER, description="The length in months")
    assert numeric_scale(length, age, pd.Series([3.0]))[0] == pytest.approx(30.4375)


def test_a_currency_given_a_rate_is_read_in_names_and_values(ontology: Ontology) -> None:
    # currency_rates={'BRL': ...} did not teach the converter the code: Rev_BRL__c was USD
    revenue = ontology.concept("account.annual_revenue")
    rates = {"brl": 0.2}
    factor, note = numeric_scale(meta("Rev_BRL__c", "Revenue"), revenue, pd.Series([5.0]),
                                 currency_rates={"BRL": 0.2})
    assert factor == pytest.approx(0.2) and "BRL from the field name" in note
    factor, note = numeric_scale(meta("Umsatz_kBRL__c", "Umsatz"), revenue, pd.Series([5.0]),
                                 currency_rates={"BRL": 0.2})
    assert factor == pytest.approx(200.0) and "thousands" in note
    field = meta("Revenue__c", "Revenue", DataKind.CURRENCY)
    converted, report = convert_field(pd.Series(["12 BRL", "10 BRL"]), field, revenue, ontology,
                                      currency_rates=rates)
    assert converted.tolist() == pytest.approx([2.4, 2.0]) and "BRL from the values" in report.note
    _, report = convert_field(pd.Series(["12 BRL"]), meta("Rev_BRL__c", "Revenue"), revenue,
                              ontology)
    # without a rate the code is named and the amount left as is (it was "assumed USD")
    assert "unknown currency BRL, left as is" in report.note and "assumed USD" not in report.note


def test_a_taught_code_counts_only_in_capitals(ontology: Ontology) -> None:
    # ALL, TOP, TRY are ISO codes and English words: "All_Time_Revenue__c" was read in lek
    revenue = ontology.concept("account.annual_revenue")
    rates = {"ALL": 0.011}
    factor, note = numeric_scale(meta("All_Time_Revenue__c", "All time revenue"), revenue,
                                 pd.Series([5.0]), currency_rates=rates)
    assert factor == 1.0 and "assumed USD" in note
    factor, _ = numeric_scale(meta("Rev_ALL__c", "Revenue"), revenue, pd.Series([5.0]),
                              currency_rates=rates)
    assert factor == pytest.approx(0.011)
    factor, _ = numeric_scale(meta("REV_KBRL__C", "REV KBRL"), revenue, pd.Series([5.0]),
                              currency_rates={"BRL": 0.18})
    assert factor == pytest.approx(180.0)  # all capitals, with the thousands prefix
    field = meta("Revenue__c", "Revenue", DataKind.CURRENCY)
    _, report = convert_field(pd.Series(["1,200 (all-in)", "900 (all-in)"]), field, revenue,
                              ontology, currency_rates=rates)
    assert "assumed USD" in report.note


def test_a_minus_sign_and_magnitude_suffixes_are_not_dropped_silently() -> None:
    # the cleaning dropped every other character: "−5" (U+2212) was 5, "1.5k" was 1.5
    parsed = parse_numbers(pd.Series(["\u22125", "1.5k", "250K", "2 Mio.", "3,5 Tsd", "2M",
                                      "1.2 million", "12 %", "12 EUR", "5 m"]))
    assert parsed[0] == -5.0
    assert parsed[1:7].isna().all()  # unparsed: the conversion counts them
    assert parsed[7:].tolist() == [12.0, 12.0, 5.0]
    # with a currency code before the number, or in accounting brackets, too; a unit in lower
    # case after an M is no magnitude
    more = parse_numbers(pd.Series(["EUR 250k", "USD 1.5M", "(250k)", "100 Mbps", "(500)"]))
    assert more[:3].isna().all() and more[3:].tolist() == [100.0, -500.0]


def test_percentages_written_with_a_sign_are_not_taken_for_fractions(
        ontology: Ontology) -> None:
    discount = ontology.concept("opportunity.discount_percent")
    values = pd.Series(["0.5%", "0.8%", "1%"])
    converted, conversion = convert_field(values, meta("Disc__c", "Discount"), discount,
                                          ontology)
    assert converted.tolist() == [0.5, 0.8, 1.0] and conversion.scale == 1.0
    # without the sign the range still decides: 0-1 is a fraction
    converted, conversion = convert_field(pd.Series(["0.5", "0.8", "1"]),
                                          meta("Disc__c", "Discount"), discount, ontology)
    assert converted.tolist() == [50.0, 80.0, 100.0] and "fraction" in conversion.note


def test_the_rupee_sign_names_its_currency(ontology: Ontology) -> None:
    assert currencies_in(pd.Series(["\u20b9120,000", "\u20b95"])) == ["INR"]
    revenue = ontology.concept("account.annual_revenue")
    converted, conversion = convert_field(pd.Series(["\u20b9120,000"]),
                                          meta("Revenue__c", "Revenue"), revenue, ontology)
    assert "INR from the values" in conversion.note
    assert converted[0] == pytest.approx(120_000 * 0.012)


def test_dollar_and_yen_signs_read_with_the_orgs_default_currency(ontology: Ontology) -> None:
    revenue = ontology.concept("account.annual_revenue")
    field = meta("Revenue__c", "Revenue")
    # "$" in a yen org was read as yen (12,000 yen: about 79 USD); it is USD unless the org's
    # default currency writes "$"
    dollars = pd.Series(["$12,000", "$(500)"])
    converted, conversion = convert_field(dollars, field, revenue, ontology,
                                          default_currency="JPY")
    assert converted.tolist() == [12_000.0, -500.0] and "USD from the values" in conversion.note
    converted, conversion = convert_field(dollars, field, revenue, ontology,
                                          default_currency="CAD")
    assert converted[0] == pytest.approx(12_000 * 0.73) and "CAD from the values" in \
        conversion.note
    # so in an org of any currency written with "$" (the real's R$, the pesos): its own
    converted, conversion = convert_field(pd.Series(["R$ 1.200,00"]), field, revenue,
                                          ontology, default_currency="BRL",
                                          currency_rates={"BRL": 0.18})
    assert converted[0] == pytest.approx(1_200 * 0.18) and "BRL from the values" in \
        conversion.note
    # "¥" is the org's JPY (or CNY); without such a default it is named, not guessed
    yen = pd.Series(["¥1,200,000"])
    converted, conversion = convert_field(yen, field, revenue, ontology, default_currency="JPY")
    assert converted[0] == pytest.approx(1_200_000 * 0.0066)
    converted, conversion = convert_field(yen, field, revenue, ontology)
    assert "unknown currency ¥ (JPY or CNY), left as is" in conversion.note
    # a symbol in the label reads the same way
    _, labelled = convert_field(pd.Series(["12,000"]), meta("Revenue__c", "Revenue ($)"),
                                revenue, ontology, default_currency="EUR")
    assert "USD from the field name" in labelled.note
    # Nordic crowns: "kr" as a word of its own ("Kredit" is none)
    crowns = pd.Series(["12000 kr", "kr. 500"])
    converted, conversion = convert_field(crowns, field, revenue, ontology,
                                          default_currency="SEK")
    assert converted.tolist() == pytest.approx([12_000 * 0.095, 500 * 0.095])
    _, conversion = convert_field(crowns, field, revenue, ontology)
    assert "unknown currency kr (SEK, NOK, DKK or ISK), left as is" in conversion.note
    _, labelled = convert_field(pd.Series(["12000"]), meta("Omsattning__c", "Omsättning (kr)"),
                                revenue, ontology, default_currency="NOK")
    assert "NOK from the field name" in labelled.note
    assert currencies_in(pd.Series(["Kredit 5", "5 krona", "5 KR"])) == []
    # a KR of an API name or label in capitals (a Korea region) names no currency
    _, korea = convert_field(pd.Series(["1000"]), meta("Revenue_KR__c", "Revenue KR"), revenue,
                             ontology, default_currency="EUR")
    assert "EUR from the org default" in korea.note


def test_dollars_with_their_countrys_letters_name_their_currency(ontology: Ontology) -> None:
    """"US$", "C$", "A$" were read as a bare "$": US$ 12 became 8.76 USD in a CAD org, and
    A$ 12 and C$ 12 were 12 USD in a EUR org."""
    revenue = ontology.concept("account.annual_revenue")
    field = meta("Revenue__c", "Revenue")
    for written, default, currency in [("US$ 12", "CAD", "USD"), ("A$ 12", "EUR", "AUD"),
                                       ("C$12", "EUR", "CAD"), ("CA$ 12", "USD", "CAD"),
                                       ("AU$12", "CAD", "AUD")]:
        converted, conversion = convert_field(pd.Series([written]), field, revenue, ontology,
                                              default_currency=default)
        assert f"{currency} from the values" in conversion.note, written
        assert converted[0] == pytest.approx(12 * USD_PER_UNIT[currency]), written
    assert currencies_in(pd.Series(["NZ$ 5", "HK$5", "S$ 5", "R$ 5", "MX$ 5"])) == [
        "BRL", "HKD", "MXN", "NZD", "SGD"]
    # the letters belong to the sign only when no letter comes before them
    assert currencies_in(pd.Series(["BUS$ 5"])) == ["USD"]
    _, labelled = convert_field(pd.Series(["12"]), meta("Revenue__c", "Revenue (US$)"),
                                revenue, ontology, default_currency="CAD")
    assert "USD from the field name" in labelled.note


def test_iso_codes_without_a_rate_are_named_not_assumed_usd(ontology: Ontology) -> None:
    """"12 BRL", Rev_BRL__c and "Revenue (MXN)" were read with the note 'assumed USD: no
    currency in the field name, its values or an org default', which was false."""
    revenue = ontology.concept("account.annual_revenue")
    cases = [(pd.Series(["12 BRL"]), meta("Revenue__c", "Revenue"), "BRL from the values"),
             (pd.Series(["CNY 12"]), meta("Revenue__c", "Revenue"), "CNY from the values"),
             (pd.Series(["12"]), meta("Rev_BRL__c", "Revenue"), "BRL from the field name"),
             (pd.Series(["12"]), meta("Revenue__c", "Revenue (MXN)"),
              "MXN from the field name")]
    for values, field, origin in cases:
        converted, conversion = convert_field(values, field, revenue, ontology)
        assert origin in conversion.note and ASSUMED_USD not in conversion.note
        code = origin[:3]
        assert f"unknown currency {code}, left as is: add its rate" in conversion.note
        assert f"--currency-rate {code}=" in conversion.note
        assert converted[0] == 12.0  # left as is, as the note says
        # with its rate it converts
        converted, conversion = convert_field(values, field, revenue, ontology,
                                              currency_rates={code: 0.5})
        assert converted[0] == pytest.approx(6.0) and f"{code}→USD ×0.5" in conversion.note
    # in an all-capitals name a code cannot be told from a word (ALL is also the lek), and a
    # code is read only in capitals
    for field in (meta("ALL_TIME_REVENUE__C", "ALL TIME REVENUE"),
                  meta("All_Time_Revenue__c", "All time revenue")):
        _, conversion = convert_field(pd.Series(["12"]), field, revenue, ontology)
        assert conversion.note == ASSUMED_USD
    assert currencies_in(pd.Series(["12 all-in", "5 try", "7 (top)"])) == []
    # a code without a rate is read in a value only beside the amount and nothing else, and
    # in a name only alone in brackets or as the last word: capitals words are words too
    # (a review found "12 ALL-IN" read as lek, and "TOP Accounts Revenue" left unconverted)
    assert currencies_in(pd.Series(["12 TRY", "(BRL 1.200,50)", "PEN 7"])) == [
        "BRL", "PEN", "TRY"]
    for written in ("12 ALL-IN", "1,200 (ALL IN)", "TOP 5", "12,000 ALL", "12 PHP project",
                    "USD 1,000 (TOP deal)"):
        assert set(currencies_in(pd.Series([written]))) <= {"USD"}, written
    for name, label in [("Top_Revenue__c", "TOP Accounts Revenue"),
                        ("Revenue__c", "ALL Regions Revenue"),
                        ("Revenue__c", "Revenue (IRR adj.)"),
                        ("AMD_Deal_Value__c", "AMD deal value"),
                        ("Revenue_ALL__c", "Revenue all regions"),
                        ("Revenue__c", "Revenue (ARR)")]:
        _, conversion = convert_field(pd.Series(["1000"]), meta(name, label), revenue, ontology,
                                      default_currency="EUR")
        assert conversion.note == "EUR from the org default; EUR→USD ×1.08", (name, label)
    _, conversion = convert_field(pd.Series(["1000"]), meta("Revenue__c", "Revenue MXN"),
                                  revenue, ontology, default_currency="EUR")
    assert "MXN from the field name" in conversion.note


def test_us_report_date_times_and_an_ambiguous_day_month_order(ontology: Ontology) -> None:
    us = parse_dates(pd.Series(["3/15/2024 10:30 AM", "12/1/2024 1:05 PM"]))
    assert us.tolist() == [pd.Timestamp("2024-03-15 10:30"), pd.Timestamp("2024-12-01 13:05")]
    european = parse_dates(pd.Series(["15/03/2024 10:30", "01/12/2024 13:05"]))
    assert european.tolist() == [pd.Timestamp("2024-03-15 10:30"),
                                 pd.Timestamp("2024-12-01 13:05")]
    churn_date = ontology.concept("account.churn_date")
    field = meta("Churned_On__c", "Churned on", DataKind.DATE)
    _, ambiguous = convert_field(pd.Series(["01/11/2024", "03/09/2024"]), field, churn_date,
                                 ontology)
    assert "ambiguous" in ambiguous.note and "day first" in ambiguous.note
    _, clear = convert_field(pd.Series(["13/11/2024", "03/09/2024"]), field, churn_date,
                             ontology)
    assert clear.note == ""
    # neither a mostly-ISO column with one other date nor a column whose dates each read only
    # one way is "ambiguous"
    for values in (["2024-01-02", "2024-02-03", "01/02/2024"], ["13/01/2024", "01/13/2024"]):
        _, other = convert_field(pd.Series(values), field, churn_date, ontology)
        assert "ambiguous" not in other.note, values


def test_an_amount_in_cents_is_divided_by_100(ontology: Ontology) -> None:
    revenue = ontology.concept("account.annual_revenue")
    factor, note = numeric_scale(meta("Revenue_Cents__c", "Revenue (cents)"), revenue,
                                 pd.Series([1250.0]))
    assert factor == pytest.approx(0.01) and "cents" in note
    factor, note = numeric_scale(meta("Revenue_EUR__c", "Revenue in cents (EUR)"), revenue,
                                 pd.Series([1250.0]))
    assert factor == pytest.approx(1.08 * 0.01) and "EUR" in note
    factor, _ = numeric_scale(meta("Percent_Revenue__c", "Share of revenue"), revenue,
                              pd.Series([5.0]))
    assert factor == 1.0
