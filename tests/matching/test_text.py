from __future__ import annotations

from fedcrm.matching.text import expand, namespace_of, split_api_name, unit_cues, words


def test_split_conventions() -> None:
    assert split_api_name("Annual_Rev_USD__c") == ("annual", "rev", "usd")
    assert split_api_name("AnnualRevUSD__c") == ("annual", "rev", "usd")
    assert split_api_name("acme__annual_rev_usd__c") == ("annual", "rev", "usd")
    assert split_api_name("NPSScore__c") == ("nps", "score")
    assert split_api_name("npe01__HomeEmail__c") == ("home", "email")
    assert split_api_name("Industry") == ("industry",)
    # a compound field's component: "Geolocation" was dropped as a namespace, "s" a word
    assert split_api_name("Geolocation__Latitude__s") == ("geolocation", "latitude")
    assert split_api_name("ns__Location__Longitude__s") == ("location", "longitude")
    assert namespace_of("Geolocation__Latitude__s") is None
    assert namespace_of("ns__Location__Longitude__s") == "ns"
    # suffixes in any case ("TIER__C" had become () with namespace TIER)
    assert split_api_name("TIER__C") == ("tier",) and namespace_of("Revenue__C") is None
    assert split_api_name("Geolocation__Latitude__S") == ("geolocation", "latitude")


def test_namespace_and_expansion() -> None:
    assert namespace_of("npe01__HomeEmail__c") == "npe01"
    assert namespace_of("HomeEmail__c") is None
    assert expand(("ann", "rev", "k")) == ("annual", "revenue", "k")
    assert expand(("mrr",)) == ("monthly", "recurring", "revenue")


def test_words_strip_accents() -> None:
    assert words("Kündigungsdatum (Kunde)") == ("kundigungsdatum", "kunde")
    assert words("Date de résiliation") == ("date", "de", "resiliation")


def test_unit_cues() -> None:
    cues = unit_cues(("revenue", "eur", "k"))
    assert cues["currency"] == "EUR" and cues["thousands"] and not cues["percent"]
    assert unit_cues(("discount", "pct"))["percent"]
    assert unit_cues(("tenure", "months"))["duration"] == "months"
