"""Convert one org field's values into a concept's canonical representation.

Orgs store a concept in their own type, unit and spelling (an NPS as text, revenue in
thousands of euros, a churn flag as a Ja/Nein picklist). This module turns a column of raw
values into the canonical form the ontology defines:

* numbers in the concept's unit (currency converted to USD, thousands/millions expanded,
  percent as 0-100, ratios as 0-1, durations in the concept's unit);
* booleans from checkboxes, yes/no picklists in several languages, or 0/1;
* timestamps from dates, date-times or text dates in ISO or day-first/month-first order;
* value-set codes for picklists (unknown spellings → the set's ``other`` code).

Each conversion reports what it did, so nothing is silently lost.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from fedcrm.matching.features import normalise
from fedcrm.matching.text import expand, split_api_name, unit_cues, words
from fedcrm.ontology.models import Concept, Ontology
from fedcrm.schema.models import DataKind, FieldMeta

#: Reference conversion rates to USD (approximate 2024 annual averages, ECB / Federal Reserve
#: H.10 series). Cross-org comparability needs one fixed table more than daily precision;
#: override with ``currency_rates=`` where an org reports in another basis.
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.28, "CHF": 1.14, "JPY": 0.0066, "CAD": 0.73,
    "AUD": 0.66, "INR": 0.012, "SEK": 0.095, "NOK": 0.093, "DKK": 0.145,
}
TRUE_WORDS = frozenset({
    "true", "yes", "y", "1", "x", "ja", "j", "oui", "si", "sí", "vrai", "verdadero", "wahr",
    "checked", "on",
})
FALSE_WORDS = frozenset({
    "false", "no", "n", "0", "nein", "non", "faux", "falso", "unchecked", "off",
})
_DURATION_TO_DAYS = {"days": 1.0, "months": 30.4375, "years": 365.25, "hours": 1 / 24}
_NUMBER_CLEAN = re.compile(r"[^\d,.\-eE+]")


class Conversion(BaseModel):
    """What converting one field did."""

    model_config = ConfigDict(frozen=True)
    field: str
    concept: str
    n_values: int
    n_converted: int
    n_unparsed: int
    n_other: int = 0
    scale: float = 1.0
    note: str = ""


def field_tokens(meta: FieldMeta) -> tuple[str, ...]:
    """API-name and label words of a field (abbreviations expanded)."""
    return (*expand(split_api_name(meta.api_name)), *expand(words(meta.label or "")),
            *words(meta.description or ""), *words(meta.help_text or ""))


def parse_numbers(values: pd.Series) -> pd.Series:
    """Floats from numbers, booleans or text (``"1.234,5"``, ``"8"``, ``"12 %"``)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype("string").str.strip()
    cleaned = text.str.replace(_NUMBER_CLEAN, "", regex=True)
    # "1.234,5" (decimal comma with thousands dots) and "12,5" → dot decimals
    decimal_comma = cleaned.str.contains(r",\d{1,2}$", regex=True, na=False)
    cleaned = cleaned.where(~decimal_comma,
                            cleaned.str.replace(".", "", regex=False).str.replace(",", "."))
    cleaned = cleaned.str.replace(",", "", regex=False)
    return pd.to_numeric(cleaned, errors="coerce").astype(float)


def parse_booleans(values: pd.Series) -> pd.Series:
    """Booleans (as float 1/0, NaN unknown) from checkboxes, yes/no words or numbers."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return (values.astype(float) != 0).astype(float).where(values.notna())
    text = values.astype("string").str.strip().str.lower()
    result = pd.Series(np.nan, index=values.index, dtype=float)
    result[text.isin(TRUE_WORDS)] = 1.0
    result[text.isin(FALSE_WORDS)] = 0.0
    return result


def parse_dates(values: pd.Series) -> pd.Series:
    """UTC-naive timestamps from dates, date-times, epoch-free text in common orders."""
    if pd.api.types.is_datetime64_any_dtype(values):
        converted = pd.to_datetime(values, errors="coerce")
        return converted.dt.tz_localize(None) if converted.dt.tz is not None else converted
    text = values.astype("string").str.strip()
    best: pd.Series | None = None
    for options in ({"format": "ISO8601"}, {"format": "%d.%m.%Y"}, {"format": "%d/%m/%Y"},
                    {"format": "%m/%d/%Y"}, {"format": "%Y-%m-%d %H:%M:%S"}):
        parsed = pd.to_datetime(text, errors="coerce", utc=True, **options)
        if best is None or parsed.notna().sum() > best.notna().sum():
            best = parsed
    assert best is not None
    return best.dt.tz_localize(None)


def numeric_scale(
    meta: FieldMeta,
    concept: Concept,
    values: pd.Series,
    *,
    currency_rates: dict[str, float] | None = None,
    default_currency: str = "USD",
) -> tuple[float, str]:
    """Factor turning this field's numbers into the concept's unit, and why.

    Cues come from the API name, label, description and help text (``Revenue_kEUR__c``,
    "Umsatz (Tsd. €)"); for percentages the value range decides between 0-1 and 0-100.
    """
    rates = {**USD_PER_UNIT, **(currency_rates or {})}
    tokens = field_tokens(meta)
    cues = unit_cues(tokens)
    text = f"{meta.api_name} {meta.label or ''}"
    factor, notes = 1.0, []
    unit = concept.unit
    if unit == "currency":
        currency = str(cues["currency"]) or ("EUR" if "€" in text else "") or (
            "GBP" if "£" in text else "") or default_currency
        if currency not in rates:
            notes.append(f"unknown currency {currency}, left as is")
        else:
            factor *= rates[currency]
            if currency != "USD":
                notes.append(f"{currency}→USD ×{rates[currency]}")
        if cues["thousands"] or re.search(r"\bk(eur|usd|gbp)?\b|tsd", normalise(text)):
            factor *= 1000.0
            notes.append("thousands ×1000")
        elif cues["millions"]:
            factor *= 1e6
            notes.append("millions ×1e6")
    elif unit in ("percent", "ratio"):
        finite = values[np.isfinite(values)]
        looks_fraction = len(finite) > 0 and finite.abs().quantile(0.95) <= 1.0
        if unit == "percent" and looks_fraction and meta.kind is not DataKind.PERCENT:
            factor, note = 100.0, "fraction → percent ×100"
            notes.append(note)
        elif unit == "ratio" and not looks_fraction:
            factor, note = 0.01, "percent → ratio ×0.01"
            notes.append(note)
    elif unit in _DURATION_TO_DAYS and cues["duration"] and cues["duration"] != unit:
        factor = _DURATION_TO_DAYS[str(cues["duration"])] / _DURATION_TO_DAYS[unit]
        notes.append(f"{cues['duration']}→{unit} ×{factor:.4g}")
    return factor, "; ".join(notes)


def convert_field(
    values: pd.Series,
    meta: FieldMeta,
    concept: Concept,
    ontology: Ontology,
    *,
    currency_rates: dict[str, float] | None = None,
    default_currency: str = "USD",
) -> tuple[pd.Series, Conversion]:
    """Canonical values of ``concept`` from one org field's raw ``values``."""
    present = values.notna() & (values.astype("string").str.strip() != "")
    n_values = int(present.sum())
    n_other, scale, note = 0, 1.0, ""
    family = concept.kind.family
    if family == "numeric":
        numbers = parse_numbers(values)
        scale, note = numeric_scale(meta, concept, numbers, currency_rates=currency_rates,
                                    default_currency=default_currency)
        converted = numbers * scale
    elif family == "boolean":
        converted = parse_booleans(values)
    elif family == "temporal":
        converted = parse_dates(values)
    elif family == "categorical" and concept.value_set:
        value_set = ontology.value_set(concept.value_set)
        lookup = {normalise(k): v for k, v in value_set.lookup().items()}
        text = values.astype("string").map(lambda v: normalise(v) if isinstance(v, str) else v)
        codes = text.map(lambda v: lookup.get(v) if isinstance(v, str) else None)
        unknown = present & codes.isna()
        n_other = int(unknown.sum())
        fallback = value_set.other
        converted = codes.astype(object).where(~unknown, fallback)
        converted = converted.where(present, None)
    else:
        converted = values.astype("string").str.strip().where(present)
    n_converted = int(pd.Series(converted).notna().sum())
    return converted, Conversion(
        field=meta.api_name, concept=concept.id, n_values=n_values,
        n_converted=n_converted, n_unparsed=max(n_values - n_converted, 0), n_other=n_other,
        scale=scale, note=note,
    )
