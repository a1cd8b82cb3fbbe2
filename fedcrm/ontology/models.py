"""The canonical vocabulary as validated data: concepts, value sets and units."""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fedcrm.schema.models import DataKind

CONCEPT_ID_RE = re.compile(r"^[a-z]+\.[a-z0-9_]+$")
VALUE_CODE_RE = re.compile(r"^[a-z0-9_]+$")
LANGUAGES = ("de", "fr", "es", "it", "nl", "pt")


class Task(StrEnum):
    """The three prediction tasks fedcrm ships."""

    CHURN = "churn"
    LEAD_CONVERSION = "lead_conversion"
    WIN_PROBABILITY = "win_probability"


class Usage(StrEnum):
    """What downstream code may do with a concept's values."""

    #: a model input
    FEATURE = "feature"
    #: defines or dates a task's outcome; never a model input (it would leak the label)
    LABEL = "label"
    #: record keys and references used to join objects; never a model input
    KEY = "key"
    #: personal data (names, emails, phones, addresses); never leaves the org, never an input
    PII = "pii"
    #: free text and descriptive fields; matched for completeness, not used as inputs
    TEXT = "text"
    #: bookkeeping (owner, created date); usable for recency, not as a direct input
    SYSTEM = "system"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class CanonicalValue(_Frozen):
    """One canonical picklist value and the spellings orgs use for it."""

    code: str
    label: str
    #: the Salesforce standard API value, where one exists
    standard_value: str | None = None
    synonyms: tuple[str, ...] = ()

    @field_validator("code")
    @classmethod
    def _code_format(cls, code: str) -> str:
        if not VALUE_CODE_RE.match(code):
            raise ValueError(f"value code {code!r} must be lower_snake_case")
        return code


class ValueSet(_Frozen):
    """A canonical picklist (e.g. industry, opportunity stage)."""

    id: str
    label: str
    description: str
    values: tuple[CanonicalValue, ...] = Field(min_length=1)
    #: value code that unknown org values map to, if the set has one
    other: str | None = None

    @model_validator(mode="after")
    def _unique_codes(self) -> ValueSet:
        codes = [v.code for v in self.values]
        duplicates = sorted({c for c in codes if codes.count(c) > 1})
        if duplicates:
            raise ValueError(f"value set {self.id}: duplicate codes {duplicates}")
        if self.other is not None and self.other not in codes:
            raise ValueError(f"value set {self.id}: 'other' code {self.other!r} is not a value")
        return self

    def lookup(self) -> dict[str, str]:
        """Lower-cased spelling (code, label, standard value, synonym) → canonical code."""
        table: dict[str, str] = {}
        for value in self.values:
            for spelling in (value.code, value.label, value.standard_value, *value.synonyms):
                if spelling:
                    table.setdefault(spelling.strip().lower(), value.code)
        return table


class Unit(_Frozen):
    """A unit a numeric concept is expressed in, and how to convert to the canonical one."""

    id: str
    label: str
    description: str


class Concept(_Frozen):
    """One canonical CRM concept (``account.annual_revenue``)."""

    id: str
    object: str
    kind: DataKind
    label: str
    description: str
    synonyms: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    #: non-English labels and synonyms, by ISO 639-1 language code
    translations: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: the Salesforce standard field this concept is, if any (``AnnualRevenue``)
    standard_field: str | None = None
    unit: str | None = None
    value_set: str | None = None
    usage: Usage = Usage.FEATURE
    tasks: tuple[Task, ...] = ()
    #: a date that may lie ahead of the time a record is described at (a contract's end, an
    #: expiry); other dates record events, so one after that time was written later and is
    #: not known then (a backtest's reference date before the export, a churned account's
    #: activity after it left)
    planned: bool = False

    @field_validator("id")
    @classmethod
    def _id_format(cls, concept_id: str) -> str:
        if not CONCEPT_ID_RE.match(concept_id):
            raise ValueError(f"concept id {concept_id!r} must look like 'object.snake_name'")
        return concept_id

    @field_validator("translations")
    @classmethod
    def _known_languages(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        unknown = sorted(set(value) - set(LANGUAGES))
        if unknown:
            raise ValueError(f"unknown language code(s) {unknown}; use one of {LANGUAGES}")
        return value

    @model_validator(mode="after")
    def _id_matches_object(self) -> Concept:
        prefix = self.id.split(".", 1)[0]
        if prefix != self.object.lower():
            raise ValueError(
                f"concept {self.id}: id prefix {prefix!r} must be the object in lower case "
                f"({self.object.lower()!r})"
            )
        if self.value_set is not None and self.kind.family != "categorical":
            raise ValueError(
                f"concept {self.id}: only picklist-like kinds take a value_set, not {self.kind}"
            )
        if self.planned and self.kind.family != "temporal":
            raise ValueError(f"concept {self.id}: only dates can be planned, not {self.kind}")
        return self

    @property
    def all_names(self) -> tuple[str, ...]:
        """Label, synonyms, abbreviations, translations and standard field name."""
        names = [self.label, *self.synonyms, *self.abbreviations]
        for words in self.translations.values():
            names.extend(words)
        if self.standard_field:
            names.append(self.standard_field)
        return tuple(names)


class Ontology(_Frozen):
    """The whole canonical vocabulary."""

    version: str
    description: str
    objects: tuple[str, ...]
    units: tuple[Unit, ...] = ()
    value_sets: tuple[ValueSet, ...] = ()
    concepts: tuple[Concept, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Ontology:
        problems: list[str] = []
        ids = [c.id for c in self.concepts]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        problems.extend(f"duplicate concept id {i}" for i in duplicates)
        unit_ids = {u.id for u in self.units}
        set_ids = {s.id for s in self.value_sets}
        standard: dict[tuple[str, str], str] = {}
        for concept in self.concepts:
            if concept.object not in self.objects:
                problems.append(f"{concept.id}: object {concept.object} is not in {self.objects}")
            if concept.unit is not None and concept.unit not in unit_ids:
                problems.append(f"{concept.id}: unknown unit {concept.unit!r}")
            if concept.value_set is not None and concept.value_set not in set_ids:
                problems.append(f"{concept.id}: unknown value set {concept.value_set!r}")
            if concept.standard_field:
                key = (concept.object, concept.standard_field.lower())
                if key in standard:
                    problems.append(
                        f"{concept.id}: standard field {concept.object}.{concept.standard_field}"
                        f" is already concept {standard[key]}"
                    )
                standard[key] = concept.id
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def __iter__(self) -> Iterator[Concept]:  # type: ignore[override]
        return iter(self.concepts)

    def __len__(self) -> int:
        return len(self.concepts)

    def concept(self, concept_id: str) -> Concept:
        """The concept with this id, or a ``KeyError`` naming it."""
        for concept in self.concepts:
            if concept.id == concept_id:
                return concept
        raise KeyError(f"the ontology has no concept {concept_id!r}")

    def value_set(self, value_set_id: str) -> ValueSet:
        """The value set with this id, or a ``KeyError`` naming it."""
        for value_set in self.value_sets:
            if value_set.id == value_set_id:
                return value_set
        raise KeyError(f"the ontology has no value set {value_set_id!r}")

    def for_object(self, sobject: str) -> tuple[Concept, ...]:
        """Concepts of one object (case-insensitive)."""
        key = sobject.lower()
        return tuple(c for c in self.concepts if c.object.lower() == key)

    def standard_concept(self, sobject: str, field_api_name: str) -> Concept | None:
        """The concept a standard field is, if the ontology lists it."""
        object_key, field_key = sobject.lower(), field_api_name.lower()
        for concept in self.concepts:
            if (
                concept.standard_field
                and concept.object.lower() == object_key
                and concept.standard_field.lower() == field_key
            ):
                return concept
        return None

    def search(self, query: str, *, limit: int = 20) -> list[tuple[Concept, float]]:
        """Concepts whose names (label, synonyms, abbreviations, translations, standard field)
        resemble ``query``, best first; the description only breaks ties (rapidfuzz)."""
        from rapidfuzz import fuzz, utils

        wanted = utils.default_process(query)
        if not wanted:
            return []
        scored: list[tuple[float, float, int]] = []
        for position, concept in enumerate(self.concepts):
            names = [utils.default_process(n) for n in (concept.id.split(".", 1)[1].replace(
                "_", " "), *concept.all_names)]
            # token_sort_ratio rewards the whole query matching a whole name; token_set_ratio
            # alone scores 100 whenever one side's words are a subset of the other's
            best = max(
                (fuzz.token_sort_ratio(wanted, n) + fuzz.token_set_ratio(wanted, n)) / 2
                for n in names
                if n
            )
            tie = fuzz.token_set_ratio(wanted, utils.default_process(concept.description))
            scored.append((best, tie, position))
        scored.sort(key=lambda item: (-item[0], -item[1], item[2]))
        return [(self.concepts[p], float(score)) for score, _, p in scored[:limit]]
