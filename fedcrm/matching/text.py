"""Turn Salesforce names and labels into comparable words.

API names mix conventions (``AnnualRevUSD__c``, ``annual_rev_usd__c``, ``acme__Rev_EUR__c``);
this module splits them into lower-case tokens, drops the namespace and suffix, expands common
CRM abbreviations and spots unit and currency cues.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from fedcrm.schema.models import (
    FieldMeta,
    namespace_of,  # re-exported: one rule for names
)

# the suffixes of fedcrm.schema.models.CUSTOM_SUFFIXES; "__s" is a compound field's component
# (Geolocation__Latitude__s: "Geolocation" is the field, not a namespace)
_SUFFIX_RE = re.compile(r"__(c|r|pc|x|b|e|mdt|kav|s)$", re.IGNORECASE)
# CamelCase boundaries: "AnnualRevUSD" → Annual Rev USD; "NPSScore" → NPS Score; digits apart
_CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)

#: CRM abbreviations seen in API names, expanded to the word they stand for. Domain
#: knowledge written for fedcrm; the ontology's own abbreviations are added at fit time.
ABBREVIATIONS: dict[str, str] = {
    "acct": "account", "acc": "account", "accnt": "account", "addr": "address",
    "amt": "amount", "ann": "annual", "anniv": "anniversary", "arr": "annual recurring revenue",
    "avg": "average", "bal": "balance", "bdate": "birthdate", "biz": "business",
    "cnt": "count", "co": "company", "comp": "competitor", "csat": "customer satisfaction",
    "cust": "customer", "cx": "customer experience", "dob": "birthdate", "dt": "date",
    "desc": "description", "disc": "discount", "dnc": "do not call", "emp": "employees",
    "empl": "employees", "emps": "employees", "eng": "engagement", "exec": "executive",
    "exp": "expiration", "fte": "employees", "hq": "headquarters", "id": "identifier",
    "ind": "industry", "inv": "invoice", "lang": "language", "lst": "last", "mgr": "manager",
    "mrr": "monthly recurring revenue", "mtg": "meeting", "mtgs": "meetings",
    "nbr": "number", "no": "number", "num": "number", "nps": "net promoter score",
    "opp": "opportunity", "oppty": "opportunity", "opty": "opportunity", "org": "organization",
    "pct": "percent", "perc": "percent", "ph": "phone", "pref": "preferred", "prev": "previous",
    "prob": "probability", "prod": "product", "qty": "quantity", "rec": "record",
    "ren": "renewal", "rev": "revenue", "sla": "service level agreement", "src": "source",
    "stat": "status", "tel": "telephone", "ttl": "total", "yr": "year", "yrs": "years",
    "acv": "annual contract value", "tcv": "total contract value", "ltv": "lifetime value",
    "clv": "customer lifetime value", "mql": "marketing qualified lead",
    "sql": "sales qualified lead", "roi": "return on investment", "kpi": "indicator",
    "last30d": "last 30 days", "l30d": "last 30 days", "qtr": "quarter",
}

#: words that say which currency or scale an amount is in
CURRENCY_WORDS = {
    "usd": "USD", "dollar": "USD", "dollars": "USD", "eur": "EUR", "euro": "EUR",
    "euros": "EUR", "gbp": "GBP", "pound": "GBP", "chf": "CHF", "jpy": "JPY", "yen": "JPY",
    "cad": "CAD", "aud": "AUD", "inr": "INR", "sek": "SEK", "nok": "NOK", "dkk": "DKK",
}
THOUSANDS_WORDS = {"k", "thousand", "thousands", "tsd", "tausend", "mille", "miles", "000s"}
MILLIONS_WORDS = {"m", "mm", "mio", "million", "millions", "millones", "mn"}
PERCENT_WORDS = {"pct", "percent", "percentage", "prozent", "pourcentage", "porcentaje", "%"}
DURATION_WORDS = {
    "days": "days", "day": "days", "tage": "days", "jours": "days", "dias": "days",
    "months": "months", "month": "months", "monate": "months", "mois": "months",
    "meses": "months", "years": "years", "year": "years", "jahre": "years", "ans": "years",
    "anos": "years", "hours": "hours", "hrs": "hours", "stunden": "hours", "heures": "hours",
    "horas": "hours",
    # not "min" (minimum) nor "wk" alone
    "minutes": "minutes", "minute": "minutes", "mins": "minutes", "minuten": "minutes",
    "minutos": "minutes", "weeks": "weeks", "week": "weeks", "wks": "weeks", "wochen": "weeks",
    "semaines": "weeks", "semanas": "weeks",
}


def strip_accents(text: str) -> str:
    """``Kündigungsdatum`` → ``Kundigungsdatum`` (NFKD, combining marks dropped)."""
    if text.isascii():  # NFKD leaves ASCII unchanged and it has no combining marks
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=65536)
def split_api_name(api_name: str) -> tuple[str, ...]:
    """Lower-case words of an API name, without namespace prefix and ``__c``-style suffix."""
    stem = _SUFFIX_RE.sub("", api_name)
    namespace = namespace_of(api_name)
    if namespace:
        stem = stem[len(namespace) + 2:]
    words: list[str] = []
    for chunk in re.split(r"[_\W]+", stem):
        words.extend(part.lower() for part in _CAMEL_RE.findall(chunk))
    return tuple(w for w in words if w)


@lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """Lower-case, accent-free words of free text (labels, descriptions)."""
    return tuple(w.lower() for w in _WORD_RE.findall(strip_accents(text)))


def expand(tokens: tuple[str, ...], extra: dict[str, str] | None = None) -> tuple[str, ...]:
    """Replace abbreviations by the words they stand for (``rev`` → ``revenue``)."""
    table = ABBREVIATIONS if extra is None else {**ABBREVIATIONS, **extra}
    expanded: list[str] = []
    for token in tokens:
        expanded.extend(table.get(token, token).split())
    return tuple(expanded)


def field_name_text(field: FieldMeta) -> str:
    """The API name as words (``Annual_Rev_USD__c`` → ``annual revenue usd``)."""
    return " ".join(expand(split_api_name(field.api_name)))


def field_label_text(field: FieldMeta) -> str:
    """The label as written (falls back to the API name words)."""
    return field.label or field_name_text(field)


def field_context_text(field: FieldMeta) -> str:
    """Label, description and help text in one string (for embeddings)."""
    parts = [field_label_text(field)]
    for extra in (field.description, field.help_text):
        if extra and extra not in parts:
            parts.append(extra)
    return ". ".join(parts)


def unit_cues(tokens: tuple[str, ...] | set[str]) -> dict[str, str | bool]:
    """Currency, scale, percent and duration cues found in ``tokens``."""
    token_set = set(tokens)
    currency = next((CURRENCY_WORDS[t] for t in tokens if t in CURRENCY_WORDS), None)
    duration = next((DURATION_WORDS[t] for t in tokens if t in DURATION_WORDS), None)
    return {
        "currency": currency or "",
        "thousands": bool(token_set & THOUSANDS_WORDS),
        "millions": bool(token_set & MILLIONS_WORDS),
        "percent": bool(token_set & PERCENT_WORDS),
        "duration": duration or "",
    }


def field_tokens(field: FieldMeta) -> tuple[str, ...]:
    """All words of the API name and label, abbreviations expanded, accents stripped."""
    name_tokens = expand(split_api_name(field.api_name))
    label_tokens = expand(words(field.label or ""))
    return tuple(dict.fromkeys((*name_tokens, *label_tokens)))
