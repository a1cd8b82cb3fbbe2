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

import functools
import math
import re
from collections.abc import Iterable, Mapping
from numbers import Real

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from fedcrm.errors import ConfigError
from fedcrm.features.values import ValueMapper
from fedcrm.matching.text import CURRENCY_WORDS, expand, split_api_name, unit_cues, words
from fedcrm.ontology.models import Concept, Ontology, Usage
from fedcrm.schema.models import DataKind, FieldMeta

#: Reference conversion rates to USD (approximate 2024 annual averages, ECB / Federal Reserve
#: H.10 series). Cross-org comparability needs one fixed table more than daily precision;
#: override with ``currency_rates=`` where an org reports in another basis.
USD_PER_UNIT: dict[str, float] = {
    "USD": 1.0, "EUR": 1.08, "GBP": 1.28, "CHF": 1.14, "JPY": 0.0066, "CAD": 0.73,
    "AUD": 0.66, "INR": 0.012, "SEK": 0.095, "NOK": 0.093, "DKK": 0.145,
}
TRUE_WORDS = frozenset({
    "true", "yes", "y", "1", "x", "ja", "j", "oui", "o", "si", "sí", "s", "vrai", "verdadero",
    "wahr",
    "checked", "on",
})
FALSE_WORDS = frozenset({
    "false", "no", "n", "0", "nein", "non", "faux", "falso", "falsch", "unchecked", "off",
})
_DURATION_TO_DAYS = {"days": 1.0, "months": 30.4375, "years": 365.25, "hours": 1 / 24,
                     "minutes": 1 / 1440, "weeks": 7.0}
# Everything but digits, separators and signs goes; an ``e``/``E`` stays only as an exponent
# (after a digit, before a digit), so "12 EUR" and "EUR 12" are 12, "1.5e3" is 1500.
_NUMBER_CLEAN = re.compile(r"[^\d,.\-eE+]|(?<![\d.])[eE]|[eE](?![-+]?\d)")
_SYMBOL_CURRENCY = {"€": "EUR", "£": "GBP", "₹": "INR"}
#: symbols several currencies write: the org's default currency when it is one of them, else
#: nothing for "¥" (yen and yuan differ twentyfold; the note asks for a default) and "kr"
_AMBIGUOUS_SYMBOLS = {"$": ("USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"),
                      "¥": ("JPY", "CNY"), "kr": ("SEK", "NOK", "DKK", "ISK")}
#: currencies written with a sign of their own, not "$": in an org of one of them "$" is USD;
#: in any other org it is the org's currency (the real's R$, the pesos' $, ...)
_OWN_SIGN = frozenset({"EUR", "GBP", "INR", "JPY", "CNY", "CHF", "SEK", "NOK", "DKK", "ISK"})
#: the one-character symbols (a character class of the patterns)
_SYMBOL_CHARACTERS = "".join(s for s in (*_SYMBOL_CURRENCY, *_AMBIGUOUS_SYMBOLS) if len(s) == 1)
#: dollars (and the real) with their country's letters before the sign: "US$ 12", "C$ 12"
_PREFIXED_DOLLARS = {"US": "USD", "C": "CAD", "CA": "CAD", "CAN": "CAD", "A": "AUD",
                     "AU": "AUD", "NZ": "NZD", "S": "SGD", "SG": "SGD", "HK": "HKD",
                     "MX": "MXN", "MEX": "MXN", "NT": "TWD", "R": "BRL"}
_DOLLAR_PREFIXES = "|".join(sorted(_PREFIXED_DOLLARS, key=lambda p: (-len(p), p)))
_PREFIXED_DOLLAR = rf"(?<![A-Za-z])({_DOLLAR_PREFIXES})\$"
#: a number followed by a magnitude ("250k", "1,5 Mio.", "2M", "3 Tsd", "EUR 250k", "(250k)"),
#: optionally with a currency symbol or an upper-case code; lower-case "m" is left alone
#: (metres, minutes), and so is "100 Mbps"
_MAGNITUDE_SUFFIX = re.compile(
    r"\(?\s*[-+]?\s*(?:[$€£₹¥]|[A-Z]{3})?\s*\d[\d.,]*\s*(?:[kK]|M|(?i:mio|mrd|bn|tsd|"
    r"thousands?|millions?|billions?)\.?)\s*(?:[$€£₹¥]|[A-Z]{3})?\s*\)?")
#: thousands prefixes of one token for scale and currency: "kEUR", "TEUR" (Tausend Euro),
#: "MilesUSD" (see :func:`_scaled_currency`)
_THOUSANDS_PREFIXES = frozenset({"k", "t", "tsd", "tausend", "miles", "mille", "milliers"})
ASSUMED_USD = "assumed USD: no currency in the field name, its values or an org default"
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
#: an amount in hundredths of its currency, named in the field's name or label
_CENTS_WORDS = frozenset({"cents", "cent", "pence", "centimes", "cts"})


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


def check_currency_options(
    currency_rates: Mapping[str, float] | None, default_currency: str | None
) -> tuple[dict[str, float] | None, str | None]:
    """Validate ``currency_rates`` and ``default_currency`` as a caller passed them.

    Returns them normalized (codes upper-case). A rate must be a finite number > 0 (USD per
    unit of the currency) keyed by a three-letter code; ``default_currency`` must be a code
    the converter has a rate for (:data:`USD_PER_UNIT` or ``currency_rates``). Anything else
    raises :class:`ConfigError`: a NaN, negative or unknown rate would silently turn every
    amount missing, negative or unconverted.
    """
    rates: dict[str, float] | None = None
    if currency_rates is not None:
        if not isinstance(currency_rates, Mapping):
            raise ConfigError(f"currency_rates must be a dict of currency code → USD per unit "
                              f"(e.g. {{'EUR': 1.08}}), got {type(currency_rates).__name__}")
        rates = {}
        for key, rate in currency_rates.items():
            code = key.strip().upper() if isinstance(key, str) else key
            if not isinstance(code, str) or not _CURRENCY_CODE.fullmatch(code):
                raise ConfigError(f"currency_rates key {key!r} is not a three-letter "
                                  "currency code; use an ISO 4217 code such as 'EUR'")
            if code in rates:
                raise ConfigError(f"currency_rates gives {code} twice (keys are "
                                  "case-insensitive); keep one rate per currency")
            if (not isinstance(rate, Real) or isinstance(rate, bool)
                    or not math.isfinite(float(rate)) or float(rate) <= 0):
                raise ConfigError(f"currency_rates[{key!r}] is {rate!r}; a rate must be a "
                                  f"finite number > 0, the USD value of one {code}")
            rates[code] = float(rate)
    if default_currency is None:
        return rates, None
    known = sorted({*USD_PER_UNIT, *(rates or {})})
    code = default_currency.strip().upper() if isinstance(default_currency, str) else None
    if code is None or not _CURRENCY_CODE.fullmatch(code) or code not in known:
        raise ConfigError(
            f"default_currency {default_currency!r} is not a currency code the converter "
            f"knows ({', '.join(known)}); pass one of those, or add its rate with "
            "currency_rates={'<CODE>': <USD per unit>}")
    return rates, code


def field_tokens(meta: FieldMeta, *, prose: bool = False) -> tuple[str, ...]:
    """API-name and label words of a field (abbreviations expanded); with ``prose``, the
    description's and help text's words too. Money scale and currency read the name and
    label only: prose such as "the full amount, not in thousands" or "accounts above 1 m"
    names a scale the field does not have (a review saw 250000 read as 2.5e8)."""
    named = (*expand(split_api_name(meta.api_name)), *expand(words(meta.label or "")))
    if not prose:
        return named
    return (*named, *words(meta.description or ""), *words(meta.help_text or ""))


def parse_numbers(values: pd.Series) -> pd.Series:
    """Floats from numbers, booleans or text (``"1.234,5"``, ``"8"``, ``"12 %"``)."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    # U+2212, the typographic minus sign, was dropped with the other symbols: "−5" read as 5
    text = values.astype("string").str.strip().str.replace("\u2212", "-", regex=False)
    # a dot right after a word is an abbreviation's ("kr. 500", "Rs. 1,200", "ca. 40"), not
    # a decimal point: it read as ".500", 0.5
    text = text.str.replace(r"(?<=[^\W\d_])\.", " ", regex=True)
    # a magnitude word or letter after the number ("1.5k", "2 Mio", "3,5 Tsd") would be
    # dropped with the other letters (1.5k read as 1.5): such values are left unparsed, so
    # the count of unreadable values shows them
    magnitude = text.str.fullmatch(_MAGNITUDE_SUFFIX, na=False)
    # accounting negatives: "(500)", "$(1,250.00)", "(1.250,00 €)"
    # (only a plain amount in the brackets, with at most a currency symbol or code around)
    negative = text.str.fullmatch(
        r"[$€£₹¥]?\s*\(\s*[$€£₹¥]?\s*\d[\d.,\s]*\s*(?:[$€£₹¥]|[A-Za-z]{3})?\s*\)\s*"
        r"(?:[$€£₹¥]|[A-Za-z]{3})?", na=False)
    text = text.where(~negative, "-" + text.str.replace(r"[()]", "", regex=True))
    cleaned = text.str.replace(_NUMBER_CLEAN, "", regex=True)
    # "1.234,5" (decimal comma with thousands dots) and "12,5" → dot decimals. A single comma
    # before exactly three digits is a thousands separator ("3,000"), except after a lone
    # leading zero: nobody writes "0,125" for 125, so that one is the decimal 0.125.
    decimal_comma = (cleaned.str.contains(r",\d{1,2}$", regex=True, na=False)
                     | cleaned.str.fullmatch(r"[-+]?0,\d{3}", na=False))
    cleaned = cleaned.where(~decimal_comma,
                            cleaned.str.replace(".", "", regex=False).str.replace(",", "."))
    cleaned = cleaned.str.replace(",", "", regex=False)
    # "1.234.567": two or more dots before groups of three digits are thousands separators
    # (German style without decimals); a single dot stays a decimal point ("1.234" = 1.234)
    dotted = cleaned.str.fullmatch(r"[-+]?\d{1,3}(\.\d{3}){2,}", na=False)
    cleaned = cleaned.where(~dotted, cleaned.str.replace(".", "", regex=False))
    return pd.to_numeric(cleaned, errors="coerce").astype(float).where(~magnitude)


_SUFFIX_PATTERN = re.compile(r"__c$", re.IGNORECASE)


@functools.cache
def iso_currency_codes() -> frozenset[str]:
    """The ISO 4217 currency codes (from pycountry), less XXX and XTS (no currency, testing)."""
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies) - {"XXX", "XTS"}


#: ISO 4217 codes that are also everyday words in capitals ("ALL regions", "TOP 5"): they count
#: only where their rate is given (taught codes)
_WORD_CODES = frozenset({"ALL", "TOP"})


def _name_currency(meta: FieldMeta) -> str:
    """The currency a field's name or label states beyond the built-in and taught codes: a
    prefixed dollar in the label ("Revenue (US$)"), or an ISO 4217 code in capitals alone in
    brackets in the label ("Revenue (MXN)"), as the label's last word ("Revenue MXN") or as the
    API name's last word (``Rev_BRL__c``), in a label or name that is not all capitals; ""
    for none. Anywhere else a capitals word is more often a word than a currency ("TOP
    Accounts Revenue", "AMD deal value", "Revenue (IRR adj.)")."""
    label = meta.label or ""
    dollar = re.search(_PREFIXED_DOLLAR, label)
    if dollar:
        return _PREFIXED_DOLLARS[dollar.group(1)]
    codes = iso_currency_codes() - _WORD_CODES
    candidates: list[str] = []
    if re.search(r"[a-z]", label):
        candidates += re.findall(r"\(\s*([A-Z]{3})\s*\)", label)
        candidates += re.findall(r"(?<![A-Za-z])([A-Z]{3})\W*$", label)
    api = _SUFFIX_PATTERN.sub("", meta.api_name)
    if re.search(r"[a-z]", api):
        candidates += re.findall(r"(?<=_)([A-Z]{3})$", api)
    return next((code for code in candidates if code in codes), "")


def currencies_in(values: pd.Series, codes: Iterable[str] = (),
                  default_currency: str | None = None) -> list[str]:
    """Currency codes written in text values (``"12 EUR"``, ``"€ 5"``), sorted; ``codes``
    adds codes to look for beyond :data:`USD_PER_UNIT` (those of ``currency_rates``).

    ``"$"``, ``"¥"`` and ``"kr"`` are the org's ``default_currency`` when it writes them
    (``"$"`` is CAD in an org whose default is CAD, BRL in one whose default is BRL);
    otherwise ``"$"`` is USD, and ``"¥"`` and ``"kr"`` (lower case, ``"kr."``) are listed as
    ``"¥ (JPY or CNY)"`` or ``"kr (SEK, NOK, DKK or ISK)"``, currencies no rate converts."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return []
    found = values.dropna().astype("string").str.extractall(_currency_in_text(tuple(codes)))
    if found.empty:
        return sorted(_iso_codes_in(values))
    written = found["symbol"].fillna(found["crowns"].notna().map({True: "kr", False: None}))
    symbols = {symbol: code for symbol in written.dropna().unique()
               if (code := symbol_currency(symbol, default_currency))}
    codes_found = (found["code"].str.upper().fillna(found["dollar"].map(_PREFIXED_DOLLARS))
                   .fillna(written.map(symbols)))
    return sorted(set(codes_found.dropna()) | _iso_codes_in(values))


def _iso_codes_in(values: pd.Series) -> set[str]:
    """ISO 4217 codes of :data:`_AMOUNT_WITH_CODE` values that are not built in (those the
    main pattern reads wherever they stand)."""
    text = values.dropna().astype("string")
    whole = text.str.extract(_AMOUNT_WITH_CODE.pattern.join(["^(?:", ")$"]))
    codes = set(whole["before"].dropna()) | set(whole["after"].dropna())
    return {code for code in codes if code in iso_currency_codes() - _WORD_CODES
            and code not in USD_PER_UNIT}


def symbol_currency(symbol: str, default_currency: str | None = None) -> str:
    """The currency a symbol writes: ``"€"`` EUR; an ambiguous ``"$"`` or ``"¥"`` the
    ``default_currency`` when it writes it, else USD for ``"$"`` and ``"¥ (JPY or CNY)"``."""
    if symbol in _SYMBOL_CURRENCY:
        return _SYMBOL_CURRENCY[symbol]
    candidates = _AMBIGUOUS_SYMBOLS.get(symbol, ())
    default = default_currency.strip().upper() if default_currency else None
    if default in candidates:
        return str(default)
    if symbol == "$":
        # any currency of the dollar's sign (BRL's R$, ARS, CLP, COP, TWD, ...) is the org's
        return default if default is not None and default not in _OWN_SIGN else "USD"
    if not candidates:
        return ""
    return f"{symbol} ({', '.join(candidates[:-1])} or {candidates[-1]})"


@functools.lru_cache(maxsize=64)
def _currency_in_text(extra: tuple[str, ...]) -> re.Pattern[str]:
    """The pattern finding a dollar with its country's letters (``dollar``: "US$"), a code
    (``code``: of :data:`USD_PER_UNIT` in any case, of ``extra`` or ISO 4217 in capitals), a
    currency symbol (``symbol``) or Nordic crowns (``crowns``)."""
    known = "|".join(sorted(USD_PER_UNIT))
    # a taught code only in capitals ("1,200 (all-in)" is no amount in lek)
    taught = "|".join(sorted({code.upper() for code in extra} - set(USD_PER_UNIT)))
    symbols = re.escape(_SYMBOL_CHARACTERS)
    # "kr" / "kr." as a word of its own (Nordic crowns): "1.200 kr", "kr 1 200"
    crowns = r"(?<!\w)(?P<crowns>[Kk]r)\.?(?!\w)"  # not "KR" (Korea), nor "Kredit"
    dollar = rf"(?<![A-Za-z])(?P<dollar>{_DOLLAR_PREFIXES})\$"
    code = rf"(?i:{known})|{taught}" if taught else rf"(?i:{known})"
    return re.compile(rf"{dollar}|\b(?P<code>{code})\b|(?P<symbol>[{symbols}])|{crowns}")


#: a value that is an amount and an ISO 4217 code in capitals and nothing else ("12 BRL",
#: "BRL 1.200,50", "(12 BRL)"): the only place a code without a rate is read in values, since
#: "12 ALL-IN" or "TOP 5 deal" hold words that are also codes
_AMOUNT_WITH_CODE = re.compile(
    r"\s*[-+(]?\s*(?:(?P<before>[A-Z]{3})\s*[-+(]?\s*)?\d[\d.,'\s]*\)?\s*"
    r"(?:(?P<after>[A-Z]{3})\s*\)?\s*)?")


def scale_cues(tokens: tuple[str, ...], codes: Iterable[str] = (),
               capitals: str | None = None) -> tuple[str, str]:
    """(``"thousands"`` / ``"millions"`` / ``""``, currency code or ``""``) from whole words.

    Word-level on purpose: a substring test would read "tsd" in ``AmountsDue__c``.
    Compound tokens such as ``keur`` (``REV_KEUR__C``) or ``teur`` carry both. ``codes`` are
    further currency codes to read (those of ``currency_rates``: ``Rev_BRL__c``, ``kBRL``),
    only where ``capitals`` (the name and label as written), when given, has them in capitals.
    """
    cues = unit_cues(tokens)
    scale = "thousands" if cues["thousands"] else "millions" if cues["millions"] else ""
    currency = str(cues["currency"])
    extra = {code.lower() for code in codes} - set(CURRENCY_WORDS)
    if capitals is not None:
        # a taught code counts only where written in capitals (kBRL, REV_KBRL__C): ALL, TOP,
        # TRY and PEN are also words ("All_Time_Revenue__c" is no amount in Albanian lek; an
        # API name all in capitals cannot tell, and is read as the currency)
        extra = {code for code in extra if code.upper() in capitals}
    if not currency and extra:
        currency = next((token.upper() for token in tokens if token in extra), "")
    scaled = _scaled_currency(tuple(sorted(extra)))
    for token in tokens:
        match = scaled.fullmatch(token)
        if match:
            scale = scale or ("thousands" if match.group(1) in _THOUSANDS_PREFIXES
                              else "millions")
            currency = currency or match.group(2).upper()
    return scale, currency


@functools.lru_cache(maxsize=64)
def _scaled_currency(extra: tuple[str, ...]) -> re.Pattern[str]:
    """One token for scale and currency (``keur``, ``teur``, ``mioeur``): a scale prefix, then
    a code of :data:`USD_PER_UNIT` or of ``extra`` (lower case)."""
    codes = sorted({*(code.lower() for code in USD_PER_UNIT), *extra})
    return re.compile(rf"({'|'.join(sorted(_THOUSANDS_PREFIXES))}|m|mm|mn|mio)"
                      rf"({'|'.join(codes)})")


def parse_booleans(values: pd.Series) -> pd.Series:
    """Booleans (as float 1/0, NaN unknown) from checkboxes, yes/no words or numbers."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    if pd.api.types.is_numeric_dtype(values):
        return (values.astype(float) != 0).astype(float).where(values.notna())
    text = values.astype("string").str.strip().str.lower()
    result = pd.Series(np.nan, index=values.index, dtype=float)
    # numbers written as text ("1.0", "0.0" from a spreadsheet): non-zero is true
    numbers = pd.to_numeric(text, errors="coerce")
    result[numbers.notna()] = (numbers[numbers.notna()] != 0).astype(float)
    result[text.isin(TRUE_WORDS)] = 1.0
    result[text.isin(FALSE_WORDS)] = 0.0
    return result


#: tried in order; the one that reads the most values wins, the first on a tie (so a column
#: whose days are all 12 or less is read day first: see :func:`day_month_ambiguous`).
#: Salesforce's US report exports write "3/15/2024 10:30 AM"
_DATE_FORMATS = ("ISO8601", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y",
                 "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
                 "%m/%d/%Y %I:%M %p")
#: day-first formats of :data:`_DATE_FORMATS` → the month-first format that can read the same
#: text another way
_MONTH_FIRST = {"%d/%m/%Y": "%m/%d/%Y", "%d-%m-%Y": "%m-%d-%Y",
                "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M"}


def day_month_ambiguous(values: pd.Series, date_format: str) -> bool:
    """Whether ``values``, read in full with the day-first ``date_format`` (as
    :func:`read_dates` chose it), read in full month first too, as other dates: no day in
    them is above 12, so the order is a guess."""
    partner = _MONTH_FIRST.get(date_format)
    if partner is None or pd.api.types.is_datetime64_any_dtype(values):
        return False
    text = values.astype("string").str.strip()
    present = int((text.notna() & (text != "")).sum())
    day_first = pd.to_datetime(text, errors="coerce", format=date_format)
    if present == 0 or int(day_first.notna().sum()) < present:
        return False
    month_first = pd.to_datetime(text, errors="coerce", format=partner)
    return int(month_first.notna().sum()) == present and not day_first.equals(month_first)


def read_dates(values: pd.Series, *, date_only: bool = False) -> tuple[pd.Series, str]:
    """:func:`parse_dates`, and the format of :data:`_DATE_FORMATS` that read the text
    (``""`` for values that were dates already)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        converted = pd.to_datetime(values, errors="coerce")
        if converted.dt.tz is not None:
            # tz_convert(None) goes to UTC first; tz_localize(None) keeps the local wall time
            converted = (converted.dt.tz_localize(None) if date_only
                         else converted.dt.tz_convert(None))
        return (converted.dt.normalize() if date_only else converted), ""
    text = values.astype("string").str.strip()
    if date_only:
        # the day as written: drop an ISO time and offset before parsing in UTC
        text = text.str.replace(r"^(\d{4}-\d{2}-\d{2})[T ]\S.*$", r"\1", regex=True)
    present = int((text.notna() & (text != "")).sum())
    best: pd.Series | None = None
    chosen = ""
    for date_format in _DATE_FORMATS:
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format=date_format)
        if best is None or parsed.notna().sum() > best.notna().sum():
            best, chosen = parsed, date_format
        if int(best.notna().sum()) >= present:
            break  # every value read: a later format could only tie, and a tie keeps the first
    assert best is not None
    naive = best.dt.tz_localize(None)
    return (naive.dt.normalize() if date_only else naive), chosen


def parse_dates(values: pd.Series, *, date_only: bool = False) -> pd.Series:
    """UTC-naive timestamps from dates, date-times, epoch-free text in common orders.

    ``date_only`` (a date field or concept): the calendar day as the org wrote it, at
    midnight. A time-zone-aware ``2024-03-01 00:00+01:00`` stays 1 March; converting it to
    UTC first, as a date-time is, would move it to 29 February.
    """
    return read_dates(values, date_only=date_only)[0]


def numeric_scale(
    meta: FieldMeta,
    concept: Concept,
    values: pd.Series,
    *,
    currency_rates: dict[str, float] | None = None,
    default_currency: str | None = None,
    default_currency_source: str = "org default",
    value_currencies: list[str] | None = None,
    percent_signs: bool = False,
) -> tuple[float, str]:
    """Factor turning this field's numbers into the concept's unit, and why.

    Money scale and currency come from the API name and label (``Revenue_kEUR__c``, "Umsatz
    (Tsd. €)"), not from the description or help text, whose prose names scales in passing;
    a duration's unit may also come from them ("Contract length ... in months"). For
    percentages the value range decides between 0-1 and 0-100, unless the values were written
    with a ``%`` sign (``percent_signs``: "0.5%" is half a percent, not 50 %).

    An amount's currency is, in order: the one its name or label states, the single one its
    text values carry (``value_currencies``, see :func:`currencies_in`), ``default_currency``
    (the org's, described by ``default_currency_source``), else USD. The note always says
    which and why, so an assumed currency is never silent.
    """
    rates = {**USD_PER_UNIT, **(currency_rates or {})}
    tokens = field_tokens(meta)
    cues = unit_cues(field_tokens(meta, prose=True))  # read for the duration only
    text = f"{meta.api_name} {meta.label or ''}"
    factor, notes = 1.0, []
    unit = concept.unit
    if unit == "currency":
        learned = tuple(code for code in rates if code not in USD_PER_UNIT)
        scale, named = scale_cues(tokens, learned, capitals=text)
        # a symbol in the label ("Revenue ($)"); "kr" only as a word of its own in the label,
        # not in capitals (an API name's KR, a Korea region, is none)
        label = meta.label or ""
        named = named or _name_currency(meta) or next((symbol_currency(symbol, default_currency)
                               for symbol in (*_SYMBOL_CURRENCY, *_AMBIGUOUS_SYMBOLS)
                               if (re.search(r"(?<!\w)[Kk]r\.?(?!\w)", label)
                                   if symbol == "kr" else symbol in text)), "")
        in_values = value_currencies or []
        if named:
            currency, origin = named, "from the field name"
        elif len(in_values) == 1:
            currency, origin = in_values[0], "from the values"
        elif default_currency:
            currency, origin = default_currency.upper(), f"from the {default_currency_source}"
        else:
            currency, origin = "USD", ""
        notes.append(f"{currency} {origin}" if origin else ASSUMED_USD)
        if not named and len(in_values) > 1:
            notes.append(f"values mention several currencies ({', '.join(in_values)}); "
                         f"all read as {currency}")
        if currency not in rates:
            notes.append(f"unknown currency {currency}, left as is" + (
                f": add its rate (currency_rates={{'{currency}': <USD per unit>}}, "
                f"--currency-rate {currency}=<USD per unit>)"
                if _CURRENCY_CODE.fullmatch(currency) else ""))
        else:
            factor *= rates[currency]
            if currency != "USD":
                notes.append(f"{currency}→USD ×{rates[currency]}")
        if _CENTS_WORDS & set(tokens):  # "Revenue (cents)", "Amount_Pence__c"
            factor *= 0.01
            notes.append("cents ×0.01")
        if scale == "thousands":
            factor *= 1000.0
            notes.append("thousands ×1000")
        elif scale == "millions":
            factor *= 1e6
            notes.append("millions ×1e6")
    elif unit in ("percent", "ratio"):
        finite = values[np.isfinite(values)]
        looks_fraction = len(finite) > 0 and finite.abs().quantile(0.95) <= 1.0
        if (unit == "percent" and looks_fraction and meta.kind is not DataKind.PERCENT
                and not percent_signs):
            factor, note = 100.0, "fraction → percent ×100"
            notes.append(note)
        elif unit == "ratio" and (not looks_fraction or percent_signs):
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
    default_currency: str | None = None,
    default_currency_source: str = "org default",
) -> tuple[pd.Series, Conversion]:
    """Canonical values of ``concept`` from one org field's raw ``values``.

    ``default_currency`` is the org's currency for amounts whose name and values state none
    (``None``: assume USD, and say so in the conversion's note). Both currency options are
    checked as :func:`check_currency_options` does (:class:`ConfigError`).
    """
    currency_rates, default_currency = check_currency_options(currency_rates, default_currency)
    present = values.notna() & (values.astype("string").str.strip() != "")
    n_values = int(present.sum())
    n_other, scale, note = 0, 1.0, ""
    family = concept.kind.family
    if family == "numeric":
        numbers = parse_numbers(values)
        written = values[present].astype("string")
        scale, note = numeric_scale(
            meta, concept, numbers, currency_rates=currency_rates,
            percent_signs=bool(len(written)) and bool(written.str.contains("%").all()),
            default_currency=default_currency, default_currency_source=default_currency_source,
            value_currencies=(currencies_in(values, currency_rates or (), default_currency)
                              if concept.unit == "currency" else None))
        converted = numbers * scale
    elif family == "boolean":
        converted = parse_booleans(values)
    elif family == "temporal":
        converted, date_format = read_dates(values, date_only=concept.kind is DataKind.DATE)
        if day_month_ambiguous(values, date_format):
            note = ("day and month order ambiguous (no day above 12): read day first "
                    "(03/09/2024 as 3 September); export ISO dates (2024-09-03) to be sure")
    elif family == "categorical" and concept.value_set:
        mapper = ValueMapper(ontology.value_set(concept.value_set),
                             label=concept.usage is Usage.LABEL)
        labels = {v.value: v.label for v in meta.picklist_values if v.label}
        text = values.astype("string")
        table: dict[str, str | None] = {}
        inside = 0
        for value in text.dropna().unique():
            code, whole = mapper.match(value)
            if code is None and labels.get(value, value) != value:
                code, whole = mapper.match(labels[value])
            table[value] = code
            inside += code is not None and not whole
        if inside:
            # counted, not listed: a text field's values may be record contents
            note = (f"{inside} distinct value(s) mapped by an ontology spelling found inside "
                    "them; check them in the mapping review")
        codes = text.map(lambda v: table.get(v) if isinstance(v, str) else None)
        unknown = present & codes.isna()
        n_other = int(unknown.sum())
        fallback = mapper.value_set.other
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
