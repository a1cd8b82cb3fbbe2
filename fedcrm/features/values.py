"""Org picklist values onto a canonical value set's codes.

An org writes ``Cerrado - no convertido`` where the ontology knows ``No convertido`` and
``Convertido``. Exact lookup of the whole value misses it and the value falls to the set's
``other`` code, which for a label such as ``lead.status`` loses the outcome. :class:`ValueMapper`
first looks the whole value up, then looks for the ontology's spellings *inside* it, word by
word. A spelling inside a longer one that also matches (``convertido`` inside ``no convertido``)
does not count; if the spellings left name more than one code (``Kunde - Partner``), the value
is ambiguous and maps to nothing rather than to a guess. So does a value whose other words
negate the spelling or put it in the past (``Never Won``, ``Past Customer``, :data:`NEGATIONS`)
or belong to another code's spelling. For a task label's value set (``label=True``) every other
word must be a frame word such as ``closed`` or ``cerrado`` (:data:`LABEL_FRAME_WORDS`): a wrong
label is worse than a missing one.

Hand-written because no library maps free-text picklist values onto a closed vocabulary this
way; rapidfuzz's similarity scores answer a different question (how alike two whole strings
are) and map ``Nicht konvertiert`` close to ``Konvertiert``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedcrm.matching.features import normalise
from fedcrm.ontology.models import ValueSet

#: words that turn a spelling found inside a value into its opposite or its past (en, de, fr,
#: es; ``t`` is what is left of "won't" once punctuation is gone)
NEGATIONS = frozenset({
    "not", "no", "non", "nicht", "kein", "keine", "pas", "sin", "sans", "un", "ohne", "t",
    "never", "nie", "niemals", "jamais", "nunca", "nein", "almost", "fast", "presque", "casi",
    "past", "former", "ex", "ehemalig", "ehemaliger", "ehemalige", "ancien", "ancienne",
    "antiguo", "antigua", "cancelled", "canceled", "storniert", "gekundigt", "annule",
    "annulee", "resilie", "cancelado", "cancelada", "reversed", "mistake",
})
#: the only words a task label's value may have besides the spelling found in it ("Cerrado -
#: convertido", "Conclu - gagné"): anything else ("Converted by mistake", "To be converted")
#: leaves the value unmapped rather than risk the outcome
LABEL_FRAME_WORDS = frozenset({
    "closed", "close", "stage", "status", "phase", "final", "cerrado", "cerrada", "abgeschlossen",
    "geschlossen", "cloture", "cloturee", "clos", "conclu", "conclue", "ferme",
    "fermee", "etape", "etapa", "estado", "statut", "fase",
})


@dataclass(frozen=True)
class _Hit:
    code: str
    start: int
    end: int


@dataclass
class ValueMapper:
    """Maps org picklist values onto the codes of one canonical value set."""

    value_set: ValueSet
    #: also look for spellings inside a value (``False``: whole values only, as before)
    search_inside: bool = True
    #: a task label's value set: a spelling inside a value counts only when every other word
    #: is a frame word (:data:`LABEL_FRAME_WORDS`)
    label: bool = False
    _exact: dict[str, str] = field(init=False, repr=False)
    #: unambiguous phrases by their first word, so a value is only compared with phrases that
    #: can start at each of its words
    _by_first: dict[str, list[tuple[tuple[str, ...], str]]] = field(init=False, repr=False)
    #: word → the codes whose phrases contain it
    _words: dict[str, set[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact = {}
        phrases: dict[tuple[str, ...], set[str]] = {}
        for spelling, code in self.value_set.lookup().items():
            key = normalise(spelling)
            if not key:
                continue
            self._exact.setdefault(key, code)
            phrases.setdefault(tuple(key.split()), set()).add(code)
        self._by_first, self._words = {}, {}
        for words, codes in phrases.items():
            if len(codes) != 1:
                continue  # a phrase that spells two codes cannot decide between them
            code = next(iter(codes))
            self._by_first.setdefault(words[0], []).append((words, code))
            for word in words:
                self._words.setdefault(word, set()).add(code)

    def code(self, value: str) -> str | None:
        """The code ``value`` spells, or ``None`` when no code or more than one fits."""
        return self.match(value)[0]

    def match(self, value: str) -> tuple[str | None, bool]:
        """``(code, whole)``: the code ``value`` spells (``None`` when no code or more than
        one fits) and whether it was spelled as a whole value rather than found inside."""
        key = normalise(value)
        if not key:
            return None, False
        if key in self._exact:
            return self._exact[key], True
        if not self.search_inside:
            return None, False
        words = key.split()
        hits = [
            _Hit(code, start, start + len(phrase))
            for start, word in enumerate(words)
            for phrase, code in self._by_first.get(word, ())
            if tuple(words[start:start + len(phrase)]) == phrase
        ]
        kept = [hit for hit in hits if not any(
            other.start <= hit.start and hit.end <= other.end
            and other.end - other.start > hit.end - hit.start for other in hits)]
        codes = {hit.code for hit in kept}
        if len(codes) != 1:
            return None, False
        covered = {i for hit in kept for i in range(hit.start, hit.end)}
        rest = [word for i, word in enumerate(words) if i not in covered]
        # "Non cotée" is not "cotée"; "Cliente - Canal" has a word of another code's spelling
        if any(word in NEGATIONS for word in rest) or any(
                self._words.get(word, codes) - codes for word in rest):
            return None, False
        if self.label and any(word not in LABEL_FRAME_WORDS for word in rest):
            return None, False
        return codes.pop(), False
