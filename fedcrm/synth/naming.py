"""Turn a label phrasing into a Salesforce API name in an org's naming convention.

Styles (one per org; namespaced orgs mix package fields with their own style):

- ``camel``: ``AnnualRevenueUSD__c``
- ``title_snake``: ``Annual_Revenue_USD__c``
- ``lower_snake``: ``annual_revenue_usd__c``
- ``abbreviated``: ``AnnRevUSD__c``
- ``namespaced``: ``acme__Rev__c`` for fields of an installed package, the org's own style for
  the rest

API names follow Salesforce's rules: ASCII letters, digits and single underscores, starting
with a letter, at most 40 characters before the ``__c`` suffix.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from fedcrm.synth.vocabulary import ABBREVIATIONS

STYLES: tuple[str, ...] = ("camel", "title_snake", "lower_snake", "abbreviated", "namespaced")
#: styles a namespaced org uses for the fields it created itself
BASE_STYLES: tuple[str, ...] = ("camel", "title_snake", "lower_snake")
#: vendor package prefixes (invented)
NAMESPACES: tuple[str, ...] = ("apx", "crmx", "sfa", "gpx", "zedq", "lumi", "ntk")

MAX_STEM = 40
MAX_LABEL = 40

_STOPWORDS = frozenset({
    "a", "of", "the", "in", "on", "for", "by", "as", "at",
    "der", "die", "das", "des", "den", "im", "am", "zum", "zur", "von", "und",
    "de", "du", "la", "le", "les", "d", "l", "au", "aux", "en", "et", "par", "pour",
    "del", "el", "los", "las", "y", "con", "por",
})

_GERMAN_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe",
                              "Ü": "Ue", "ß": "ss", "€": "EUR", "£": "GBP", "$": "USD"})
_WORD_RE = re.compile(r"[A-Za-z0-9]+")

#: how orgs mark a deprecated twin of a field: (API suffix, label suffix) per language
DEPRECATED_MARKS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("2", " 2"), ("Old", " (old)"), ("Legacy", " (legacy)"), ("v1", " v1")),
    "de": (("2", " 2"), ("Alt", " (alt)"), ("Veraltet", " (veraltet)")),
    "fr": (("2", " 2"), ("Ancien", " (ancien)"), ("Old", " (old)")),
    "es": (("2", " 2"), ("Antiguo", " (antiguo)"), ("Old", " (old)")),
}


def fold_ascii(text: str) -> str:
    """``Kündigungsdatum`` → ``Kuendigungsdatum``; ``Début`` → ``Debut``; ``T€`` → ``TEUR``."""
    text = text.translate(_GERMAN_FOLD)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def words(phrase: str, *, drop_stopwords: bool = True) -> list[str]:
    """ASCII words of a phrase (stop words dropped unless that leaves nothing)."""
    found = _WORD_RE.findall(fold_ascii(phrase))
    if drop_stopwords:
        kept = [w for w in found if w.lower() not in _STOPWORDS]
        return kept or found
    return found


def _cap(word: str) -> str:
    # acronyms and unit tokens (NPS, kEUR, 30d) keep their case
    return word[:1].upper() + word[1:] if word.islower() else word


def abbreviate(word: str) -> str:
    """Shorten a word the way admins do (``Revenue`` → ``Rev``, ``Contract`` → ``Ctr``)."""
    known = ABBREVIATIONS.get(word.lower())
    if known:
        return known
    if len(word) > 8 and word.isalpha():
        return _cap(word[:6].lower())
    return _cap(word)


def render_stem(parts: list[str], style: str) -> str:
    """Join words in a style (``abbreviated`` abbreviates, then joins like ``camel``)."""
    if style == "lower_snake":
        stem = "_".join(w.lower() for w in parts)
    elif style == "title_snake":
        stem = "_".join(_cap(w) for w in parts)
    elif style == "abbreviated":
        stem = "".join(abbreviate(w) for w in parts)
    else:
        stem = "".join(_cap(w) for w in parts)
    return sanitize_stem(stem)


def sanitize_stem(stem: str) -> str:
    """Make a stem a legal API name body: letters, digits, single underscores, starts with a
    letter, no trailing underscore, at most :data:`MAX_STEM` characters."""
    stem = re.sub(r"[^A-Za-z0-9_]", "", fold_ascii(stem))
    stem = re.sub(r"_+", "_", stem).strip("_")
    if not stem or not stem[0].isalpha():
        stem = "F" + stem
    return stem[:MAX_STEM].rstrip("_")


def api_name(stem: str, namespace: str | None = None) -> str:
    """``<namespace>__<stem>__c`` or ``<stem>__c``."""
    return f"{namespace}__{stem}__c" if namespace else f"{stem}__c"


def add_typo(stem: str, rng: np.random.Generator) -> str:
    """A plausible typing slip: drop a doubled letter, swap two letters or drop a vowel.

    Returns the stem unchanged when no slip applies (very short stems)."""
    letters = list(stem)
    doubled = [i for i in range(1, len(letters)) if letters[i] == letters[i - 1]
               and letters[i].isalpha()]
    if doubled and rng.random() < 0.5:
        del letters[doubled[int(rng.integers(0, len(doubled)))]]
        return sanitize_stem("".join(letters))
    inner = [i for i in range(1, len(letters) - 2)
             if letters[i].isalpha() and letters[i + 1].isalpha()
             and letters[i].islower() and letters[i + 1].islower()]
    if not inner:
        return stem
    position = inner[int(rng.integers(0, len(inner)))]
    if rng.random() < 0.5:
        letters[position], letters[position + 1] = letters[position + 1], letters[position]
    else:
        vowels = [i for i in inner if letters[i] in "aeiou"]
        if not vowels:
            return stem
        del letters[vowels[int(rng.integers(0, len(vowels)))]]
    candidate = sanitize_stem("".join(letters))
    return candidate if candidate.lower() != stem.lower() else stem


def clip_label(label: str) -> str:
    """Salesforce labels hold at most 40 characters; cut at a word boundary."""
    label = " ".join(label.split())
    if len(label) <= MAX_LABEL:
        return label
    cut = label[:MAX_LABEL].rsplit(" ", 1)[0]
    return cut.rstrip(" -(/,")
