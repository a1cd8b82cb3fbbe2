"""Decide one org's metadata: which fields it has, what it calls them, how it types them,
which unit or picklist spelling it stores values in, and what each field truly means.

The result, an :class:`OrgPlan`, is the single source of truth for the org's
:class:`~fedcrm.schema.OrgSchema`, its sfdx XML, its ground-truth labels, its ``units.json`` and
the transforms :mod:`fedcrm.synth.encode` applies to the latent values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedcrm.schema.models import (
    FieldMeta,
    OrgSchema,
    PicklistValue,
    SObjectSchema,
    SourceFormat,
)
from fedcrm.schema.types import kind_from_metadata_type
from fedcrm.synth import naming
from fedcrm.synth.catalog import (
    CONCEPT_FIELDS,
    DISTRACTORS,
    GROUP_FIELDS,
    HARD_NEGATIVE_SLOTS,
    OBJECTS,
    STANDARD_FIELDS,
    VISIT_OBJECT_NAMES,
    CustomSpec,
    DistractorSpec,
    Meaning,
    StandardField,
    ValueKind,
)
from fedcrm.synth.models import FieldEncoding
from fedcrm.synth.values import EXTRA_SPELLINGS, VALUE_SPELLINGS
from fedcrm.synth.vocabulary import (
    CONCEPT_WORDS,
    DESCRIPTION_TEMPLATES,
    DISTRACTOR_WORDS,
    GROUP_WORDS,
    LABEL_DECORATIONS,
    SYSTEMS,
    TEAMS,
    UNIT_WORDS,
    UNMAPPED_WORDS,
    YES_NO,
    FieldWords,
)

#: Fixed exchange rates of the synthetic world (USD per unit); canonical money is USD.
FX_TO_USD: dict[str, float] = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27}
CANONICAL_CURRENCY = "USD"

#: canonical duration unit → stored unit → multiplier (stored = canonical * multiplier)
_DURATION_FACTORS: dict[tuple[str, str], tuple[float, int]] = {
    ("months", "months"): (1.0, 1), ("months", "days"): (30.4375, 0),
    ("months", "years"): (1 / 12, 2), ("days", "days"): (1.0, 2), ("days", "hours"): (24.0, 1),
    ("hours", "hours"): (1.0, 2), ("hours", "minutes"): (60.0, 0), ("hours", "days"): (1 / 24, 2),
}

_DATE_FORMATS: dict[str, tuple[str, ...]] = {
    "en": ("%m/%d/%Y", "%Y-%m-%d"), "de": ("%d.%m.%Y",), "fr": ("%d/%m/%Y",),
    "es": ("%d/%m/%Y", "%d-%m-%Y"),
}

_NUMBER_DECIMALS: dict[str, int] = {"x:credit_score": 0, "group:carbon_footprint": 1}

#: generic single-word labels of hard-negative slots, by stem and language
_SLOT_WORDS: dict[str, dict[str, str]] = {
    "Score": {"en": "Score", "de": "Score", "fr": "Score", "es": "Puntuación"},
    "Status": {"en": "Status", "de": "Status", "fr": "Statut", "es": "Estado"},
    "Revenue": {"en": "Revenue", "de": "Umsatz", "fr": "Chiffre d'affaires", "es": "Ingresos"},
    "Tier": {"en": "Tier", "de": "Stufe", "fr": "Niveau", "es": "Nivel"},
}

_OBJECT_HINTS: dict[str, str] = {
    "Account": "Acct", "Contact": "Ct", "Lead": "Ld", "Opportunity": "Opp", "Case": "Cs",
}

_VISIT_FIELD_WORDS: dict[str, dict[str, str]] = {
    "account": {"en": "Account", "de": "Kunde", "fr": "Compte", "es": "Cuenta"},
    "date": {"en": "Visit Date", "de": "Besuchsdatum", "fr": "Date de visite",
             "es": "Fecha visita"},
    "outcome": {"en": "Outcome", "de": "Ergebnis", "fr": "Résultat", "es": "Resultado"},
    "notes": {"en": "Notes", "de": "Notizen", "fr": "Notes", "es": "Notas"},
}


@dataclass(frozen=True)
class Representation:
    """How canonical values become stored values: ``stored = canonical / to_canonical``."""

    xml_type: str
    kind: ValueKind | str
    to_canonical: float = 1.0
    decimals: int | None = None
    as_text: bool = False
    date_format: str | None = None
    #: canonical code → stored value (picklists and categories stored as text)
    value_map: dict[str, str] | None = None
    yes_no: tuple[str, str] | None = None
    currency: str | None = None
    scale: float | None = None
    unit: str | None = None
    canonical_unit: str | None = None


@dataclass
class PlannedField:
    """One field of the org: its metadata, meaning and how to fill its column."""

    sobject: str
    meta: FieldMeta
    role: str
    rep: Representation
    latent: str | None = None
    concept: str | None = None
    group: str | None = None
    note: str | None = None
    distractor: str | None = None
    #: subject to the org's completeness (blanked at the org's null rate)
    quality: bool = False
    null_multiplier: float = 1.0
    #: counted when measuring completeness (a dense feature field, not a checkbox)
    measured: bool = False
    #: deprecated twin: values are a stale, partial copy
    stale: bool = False

    @property
    def api_name(self) -> str:
        """The field's API name."""
        return self.meta.api_name


@dataclass
class CustomObjectPlan:
    """The optional custom object (site visits)."""

    api_name: str
    label: str
    plural_label: str
    description: str | None
    name_field: FieldMeta
    display_format: str


@dataclass
class OrgStyle:
    """The naming habits of one org."""

    language: str
    name_language: str
    naming_style: str
    base_style: str
    namespace: str | None
    currency: str
    description_rate: float
    typo_rate: float
    english_label_rate: float


@dataclass
class OrgPlan:
    """Everything decided about one org's metadata."""

    style: OrgStyle
    fields: dict[str, list[PlannedField]] = field(default_factory=dict)
    custom_object: CustomObjectPlan | None = None
    hard_negatives: list[tuple[str, str, str]] = field(default_factory=list)

    def all_fields(self) -> list[PlannedField]:
        """Every planned field, objects in order."""
        return [f for fields in self.fields.values() for f in fields]

    def schema(self, org_id: str) -> OrgSchema:
        """The :class:`OrgSchema` that loading the written sfdx folder yields (``source``
        attributes aside, which name the files)."""
        objects: list[SObjectSchema] = []
        for sobject, fields in self.fields.items():
            metas = [f.meta for f in fields]
            label = plural = description = None
            if self.custom_object is not None and sobject == self.custom_object.api_name:
                metas.append(self.custom_object.name_field)
                label = self.custom_object.label
                plural = self.custom_object.plural_label
                description = self.custom_object.description
            objects.append(SObjectSchema(
                api_name=sobject, label=label, plural_label=plural, description=description,
                fields=tuple(sorted(metas, key=lambda m: m.api_name.lower())),
            ))
        objects.sort(key=lambda o: o.api_name.lower())
        return OrgSchema(org_id=org_id, source_format=SourceFormat.SFDX, objects=tuple(objects))

    def encodings(self) -> dict[tuple[str, str], FieldEncoding]:
        """Ground truth of non-canonical storage for fields that carry a meaning."""
        result: dict[tuple[str, str], FieldEncoding] = {}
        for planned in self.all_fields():
            if planned.concept is None and planned.group is None:
                continue
            encoding = _encoding(planned)
            if encoding is not None:
                result[(planned.sobject, planned.api_name)] = encoding
        return result


def _encoding(planned: PlannedField) -> FieldEncoding | None:
    rep = planned.rep
    values: dict[str, object] = {}
    if rep.currency is not None and (rep.currency != CANONICAL_CURRENCY or rep.scale):
        values.update(currency=rep.currency, canonical_unit="currency",
                      to_canonical=rep.to_canonical)
        if rep.scale:
            values["scale"] = rep.scale
    elif rep.unit is not None and rep.unit != rep.canonical_unit:
        values.update(unit=rep.unit, canonical_unit=rep.canonical_unit,
                      to_canonical=rep.to_canonical)
    if rep.date_format is not None:
        values["date_format"] = rep.date_format
    if rep.as_text and rep.kind not in ("date", "datetime", "category", "text"):
        values["number_as_text"] = True
    if rep.yes_no is not None:
        values.update(true_values=(rep.yes_no[0],), false_values=(rep.yes_no[1],))
    if rep.value_map:
        values["value_map"] = {stored: code for code, stored in rep.value_map.items()}
    if not values:
        return None
    return FieldEncoding(object=planned.sobject, field=planned.api_name, concept=planned.concept,
                         group=planned.group, stored_as=rep.xml_type, **values)  # type: ignore[arg-type]


class _Planner:
    """Builds one :class:`OrgPlan`; holds the org's RNG and naming state."""

    def __init__(self, style: OrgStyle, rng: np.random.Generator) -> None:
        self.style = style
        self.rng = rng
        self.used: dict[str, set[str]] = {}
        self.variants: dict[str, tuple[str, int, str, int]] = {}

    # --- randomness helpers --------------------------------------------------------------
    def chance(self, probability: float) -> bool:
        return bool(self.rng.random() < probability)

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    # --- picklist spellings --------------------------------------------------------------
    def variant(self, value_set: str) -> tuple[str, int, str, int]:
        """(API language, API variant, label language, label variant) for one value set;
        fixed per org so a picklist reads consistently."""
        if value_set not in self.variants:
            language = self.style.language
            if language == "en":
                index = 0 if self.chance(0.65) else 1
                self.variants[value_set] = ("en", index, "en", index)
            elif self.chance(0.35):
                # translated labels over English API values (Translation Workbench style)
                self.variants[value_set] = ("en", 0, language, 0)
            else:
                index = 0 if self.chance(0.6) else 1
                self.variants[value_set] = (language, index, language, index)
        return self.variants[value_set]

    def picklist(self, value_set: str) -> tuple[tuple[PicklistValue, ...], dict[str, str]]:
        table = VALUE_SPELLINGS.get(value_set) or EXTRA_SPELLINGS[value_set]
        api_language, api_variant, label_language, label_variant = self.variant(value_set)
        values: list[PicklistValue] = []
        mapping: dict[str, str] = {}
        for code, spellings in table.items():
            api_options = spellings[api_language]
            label_options = spellings[label_language]
            api_value = api_options[api_variant % len(api_options)]
            label = label_options[label_variant % len(label_options)]
            values.append(PicklistValue(value=api_value, label=label))
            mapping[code] = api_value
        return tuple(values), mapping

    def spellings(self, value_set: str) -> dict[str, str]:
        """Code → the label spelling (used for categories stored as free text)."""
        table = VALUE_SPELLINGS.get(value_set) or EXTRA_SPELLINGS[value_set]
        _, _, language, index = self.variant(value_set)
        return {code: s[language][index % len(s[language])] for code, s in table.items()}

    # --- representation -----------------------------------------------------------------
    def representation(self, kind: ValueKind | str, *, value_set: str | None = None,
                       units: tuple[str, ...] = (), latent: str | None = None
                       ) -> tuple[Representation, dict[str, object], list[str], str]:
        """A storage choice for a custom field: representation, FieldMeta attributes, extra
        API-name words (units) and a label suffix."""
        language = self.style.language
        unit_words = UNIT_WORDS[language]
        if kind == "count":
            if self.chance(0.9):
                return (Representation("Number", kind, decimals=0),
                        {"precision": 18, "scale": 0}, [], "")
            return (Representation("Text", kind, decimals=0, as_text=True), {"length": 10}, [], "")
        if kind == "number":
            decimals = _NUMBER_DECIMALS.get(latent or "", 1)
            return (Representation("Number", kind, decimals=decimals),
                    {"precision": 12, "scale": decimals}, [], "")
        if kind in ("score10", "score5", "score100"):
            top = {"score10": 10, "score5": 5, "score100": 100}[kind]
            draw = self.rng.random()
            if draw < 0.6 or (kind == "score100" and draw < 0.85):
                return (Representation("Number", kind, decimals=0),
                        {"precision": 3, "scale": 0}, [], "")
            if draw < 0.8 or kind == "score100":
                return (Representation("Text", kind, decimals=0, as_text=True),
                        {"length": 5}, [], "")
            low = 1 if kind == "score5" else 0
            options = tuple(PicklistValue(value=str(v), label=str(v))
                            for v in range(low, top + 1))
            return (Representation("Picklist", kind, decimals=0, as_text=True),
                    {"picklist_values": options}, [], "")
        if kind == "money":
            currency = self.style.currency
            fx = FX_TO_USD
            if self.chance(0.6):
                code_words = [currency] if self.chance(0.3) else []
                return (Representation("Currency", kind, to_canonical=fx[currency], decimals=2,
                                       currency=currency, canonical_unit="currency"),
                        {"precision": 16, "scale": 2}, code_words, "")
            if self.chance(0.4):
                currency = "USD" if currency != "USD" else self.pick(["EUR", "GBP"])
            scale = 1000.0 if self.chance(0.5) else None
            marker = unit_words["thousands"][0] if scale else ""
            decimals = 1 if scale else 2
            return (Representation("Number", kind, to_canonical=fx[currency] * (scale or 1),
                                   decimals=decimals, currency=currency, scale=scale,
                                   canonical_unit="currency"),
                    {"precision": 16, "scale": decimals}, [f"{marker}{currency}"],
                    f" ({marker}{currency})")
        if kind == "percent":
            if self.chance(0.7):
                return (Representation("Percent", kind, decimals=1, unit="percent",
                                       canonical_unit="percent"),
                        {"precision": 5, "scale": 2}, [], "")
            ratio_words = [unit_words["ratio"][0]] if self.chance(0.4) else []
            return (Representation("Number", kind, to_canonical=100.0, decimals=4, unit="ratio",
                                   canonical_unit="percent"),
                    {"precision": 5, "scale": 4}, ratio_words, " (0-1)")
        if kind == "duration":
            canonical = units[0]
            stored = canonical
            if len(units) > 1 and self.chance(0.4):
                stored = self.pick(list(units[1:]))
            multiplier, decimals = _DURATION_FACTORS[(canonical, stored)]
            duration_words: list[str] = []
            suffix = ""
            if stored != canonical or self.chance(0.3):
                duration_words = [unit_words[stored][0]]
                suffix = f" ({unit_words[stored][0]})"
            return (Representation("Number", kind, to_canonical=1 / multiplier, decimals=decimals,
                                   unit=stored, canonical_unit=canonical),
                    {"precision": 10, "scale": decimals}, duration_words, suffix)
        if kind == "bool":
            if self.chance(0.75):
                return Representation("Checkbox", kind), {"default_value": "false"}, [], ""
            yes, no = YES_NO[language][int(self.rng.integers(0, len(YES_NO[language])))]
            options = (PicklistValue(value=yes, label=yes), PicklistValue(value=no, label=no))
            return (Representation("Picklist", kind, yes_no=(yes, no)),
                    {"picklist_values": options}, [], "")
        if kind == "date":
            if self.chance(0.8):
                return Representation("Date", kind), {}, [], ""
            fmt = self.pick(_DATE_FORMATS[language])
            return (Representation("Text", kind, as_text=True, date_format=fmt),
                    {"length": 10}, [], "")
        if kind == "datetime":
            if self.chance(0.85):
                return Representation("DateTime", kind), {}, [], ""
            return Representation("Date", kind), {}, [], ""
        if kind == "category":
            assert value_set is not None
            if self.chance(0.88):
                values, mapping = self.picklist(value_set)
                return (Representation("Picklist", kind, value_map=mapping),
                        {"picklist_values": values}, [], "")
            return (Representation("Text", kind, as_text=True,
                                   value_map=self.spellings(value_set)),
                    {"length": 80}, [], "")
        # text
        return Representation("Text", "text"), {"length": 255 if self.chance(0.5) else 80}, [], ""

    # --- names --------------------------------------------------------------------------
    def claim(self, sobject: str, name: str) -> bool:
        used = self.used.setdefault(sobject, set())
        if name.lower() in used:
            return False
        used.add(name.lower())
        return True

    def name_field(self, sobject: str, words_entry: FieldWords, unit_words: list[str],
                   label_suffix: str) -> tuple[str, str]:
        """(API name, label) for a custom field, unique within its object."""
        style = self.style
        label_language = "en" if (style.language != "en"
                                  and self.chance(style.english_label_rate)) else style.language
        for attempt in range(8):
            label_phrase = self.pick(words_entry.phrases(label_language))
            name_language = style.name_language
            if style.naming_style == "abbreviated" and name_language == "en" and words_entry.abbr \
                    and self.chance(0.7):
                parts = [self.pick(words_entry.abbr)]
            elif name_language == label_language and self.chance(0.7):
                parts = naming.words(label_phrase)
            else:
                parts = naming.words(self.pick(words_entry.phrases(name_language)))
            parts = parts + unit_words
            if attempt >= 4:
                parts = [*parts, _OBJECT_HINTS.get(sobject, "X")]
            namespace = None
            if style.naming_style == "namespaced":
                # fields of the installed package carry its prefix, the org's own do not
                name_style = style.base_style
                if self.chance(0.6):
                    namespace = style.namespace
            else:
                name_style = style.naming_style
            stem = naming.render_stem(parts, name_style)
            if self.chance(style.typo_rate):
                stem = naming.add_typo(stem, self.rng)
            api = naming.api_name(stem, namespace)
            if self.claim(sobject, api):
                label = label_phrase + label_suffix
                if self.chance(0.2):
                    label = self.pick(LABEL_DECORATIONS[label_language]).format(label=label)
                return api, naming.clip_label(label)
        raise RuntimeError(f"could not name a field on {sobject} uniquely")  # pragma: no cover

    def describe(self, words_entry: FieldWords, label: str) -> tuple[str | None, str | None]:
        """Description and help text, present for some fields only."""
        style = self.style
        description = help_text = None
        if self.chance(style.description_rate):
            if style.language == "en" or self.chance(0.3):
                description = words_entry.gloss
            else:
                template = self.pick(DESCRIPTION_TEMPLATES[style.language])
                description = template.format(label=label,
                                              team=self.pick(TEAMS[style.language]),
                                              system=self.pick(SYSTEMS))
        if self.chance(style.description_rate / 2):
            help_text = words_entry.gloss if style.language == "en" else None
            if help_text is None:
                template = DESCRIPTION_TEMPLATES[style.language][0]
                help_text = template.format(label=label, team=self.pick(TEAMS[style.language]),
                                            system="")
        return description, help_text


def _meta(api: str, label: str | None, xml_type: str, attributes: dict[str, object],
          description: str | None = None, help_text: str | None = None,
          formula: str | None = None) -> FieldMeta:
    kind = kind_from_metadata_type(xml_type)
    assert kind is not None, xml_type
    return FieldMeta(
        api_name=api, label=label, kind=kind, source_type=xml_type, description=description,
        help_text=help_text, formula=formula, is_formula=formula is not None,
        is_master_detail=xml_type == "MasterDetail", **attributes,  # type: ignore[arg-type]
    )


def _standard(planner: _Planner, spec: StandardField) -> PlannedField:
    attributes: dict[str, object] = {}
    for key in ("length", "precision", "scale"):
        value = getattr(spec, key)
        if value is not None:
            attributes[key] = value
    if spec.reference_to:
        attributes["reference_to"] = (spec.reference_to,)
        attributes["relationship_name"] = spec.relationship_name
    rep: Representation
    if spec.value_set is not None:
        values, mapping = planner.picklist(spec.value_set)
        attributes["picklist_values"] = values
        rep = Representation("Picklist", "category", value_map=mapping)
    elif spec.type == "Currency":
        currency = planner.style.currency
        rep = Representation("Currency", "money", to_canonical=FX_TO_USD[currency],
                             decimals=spec.scale, currency=currency, canonical_unit="currency")
    elif spec.type == "Number":
        rep = Representation("Number", "count", decimals=0)
    elif spec.type == "Percent":
        rep = Representation("Percent", "percent", decimals=0)
    elif spec.type == "Checkbox":
        rep = Representation("Checkbox", "bool")
        attributes["default_value"] = "false"
    elif spec.type == "Date":
        rep = Representation("Date", "date")
    elif spec.type == "DateTime":
        rep = Representation("DateTime", "datetime")
    else:
        rep = Representation(spec.type, "text")
    meta = _meta(spec.api_name, None, spec.type, attributes)
    return PlannedField(
        sobject=spec.sobject, meta=meta, role="standard", rep=rep, latent=spec.latent,
        concept=spec.concept, quality=spec.quality_applies,
        null_multiplier=float(planner.rng.uniform(0.4, 1.6)),
        measured=spec.quality_applies and spec.type != "Checkbox",
    )


def _words_for(key: str) -> FieldWords:
    for table in (CONCEPT_WORDS, GROUP_WORDS, UNMAPPED_WORDS, DISTRACTOR_WORDS):
        if key in table:
            return table[key]
    raise KeyError(f"no naming vocabulary for {key!r}")


def _custom(planner: _Planner, spec: CustomSpec, *, group: str | None) -> PlannedField:
    rep, attributes, unit_words, suffix = planner.representation(
        spec.kind, value_set=spec.value_set, units=spec.units, latent=spec.latent)
    words_entry = _words_for(spec.key)
    api, label = planner.name_field(spec.sobject, words_entry, unit_words, suffix)
    description, help_text = planner.describe(words_entry, label)
    meta = _meta(api, label, rep.xml_type, attributes, description, help_text)
    quality = not (spec.critical or spec.leakage)
    note = "leakage: filled only after the outcome" if spec.leakage else None
    return PlannedField(
        sobject=spec.sobject, meta=meta, role="group" if group else "concept", rep=rep,
        latent=spec.latent, concept=None if group else spec.key, group=group, note=note,
        quality=quality, null_multiplier=float(planner.rng.uniform(0.4, 1.6)),
        measured=quality and not spec.sparse and rep.xml_type != "Checkbox",
    )


def _hard_negative(planner: _Planner, slot_sobject: str, stem: str,
                   meaning: Meaning) -> PlannedField:
    value_set = meaning.value_set
    units: tuple[str, ...] = ()
    rep, attributes, _, suffix = planner.representation(
        meaning.kind, value_set=value_set, units=units, latent=meaning.latent)
    if meaning.formula is not None:
        # a formula copying the account's revenue onto the opportunity, in the org currency
        currency = planner.style.currency
        rep = Representation("Currency", "money", to_canonical=FX_TO_USD[currency], decimals=2,
                             currency=currency, canonical_unit="currency")
        attributes = {"precision": 18, "scale": 2}
        suffix = ""
    style = planner.style
    name_style = style.base_style if style.naming_style in ("namespaced", "abbreviated") \
        else style.naming_style
    api = naming.api_name(naming.render_stem([stem], name_style))
    if not planner.claim(slot_sobject, api):  # pragma: no cover - slots are unique per object
        raise RuntimeError(f"hard-negative name {api} taken on {slot_sobject}")
    words_entry = _words_for(meaning.words_key)
    if planner.chance(0.5):
        label = _SLOT_WORDS[stem][style.language]
    else:
        label = planner.pick(words_entry.phrases(style.language))
    label = naming.clip_label(label + suffix)
    description, help_text = planner.describe(words_entry, label)
    meta = _meta(api, label, rep.xml_type, attributes, description, help_text,
                 formula=meaning.formula)
    meaning_name = meaning.concept or meaning.group or meaning.latent.split(":", 1)[1]
    return PlannedField(
        sobject=slot_sobject, meta=meta, role="hard_negative", rep=rep, latent=meaning.latent,
        concept=meaning.concept, group=meaning.group,
        note=f"hard negative: {stem} here means {meaning_name}",
        quality=meaning.formula is None, null_multiplier=float(planner.rng.uniform(0.4, 1.6)),
    )


def _deprecated_twin(planner: _Planner, live: PlannedField) -> PlannedField:
    style = planner.style
    marks = naming.DEPRECATED_MARKS[style.language]
    api_suffix, label_suffix = marks[int(planner.rng.integers(0, len(marks)))]
    namespace = live.meta.namespace
    stem = live.api_name[:-3]
    if namespace:
        stem = stem[len(namespace) + 2:]
    snake = "_" in stem
    joiner = "_" if snake and not api_suffix.isdigit() else ""
    suffix = api_suffix.lower() if stem.islower() else api_suffix
    new_stem = naming.sanitize_stem(stem[: naming.MAX_STEM - len(suffix) - 1] + joiner + suffix)
    api = naming.api_name(new_stem, namespace)
    if not planner.claim(live.sobject, api):
        return None  # type: ignore[return-value]
    label = naming.clip_label((live.meta.label or live.api_name) + label_suffix)
    description = None
    if planner.chance(0.5):
        description = {
            "en": f"Deprecated - use {live.meta.label} instead.",
            "de": f"Veraltet - bitte {live.meta.label} verwenden.",
            "fr": f"Obsolète - utiliser {live.meta.label}.",
            "es": f"Obsoleto - usar {live.meta.label}.",
        }[style.language]
    meta = live.meta.model_copy(update={"api_name": api, "label": label,
                                        "description": description, "help_text": None})
    return PlannedField(
        sobject=live.sobject, meta=meta, role="deprecated", rep=live.rep, latent=live.latent,
        note=f"deprecated duplicate of {live.api_name} ({live.concept or live.group})",
        stale=True,
    )


def _distractor(planner: _Planner, spec: DistractorSpec, sobject: str) -> PlannedField:
    words_entry = DISTRACTOR_WORDS[spec.key]
    attributes: dict[str, object]
    if spec.kind == "number":
        rep = Representation("Number", "number", decimals=1)
        attributes = {"precision": 6, "scale": 1}
    elif spec.kind == "category":
        assert spec.value_set is not None
        values, mapping = planner.picklist(spec.value_set)
        rep = Representation("Picklist", "category", value_map=mapping)
        attributes = {"picklist_values": values}
    elif spec.kind == "bool":
        rep = Representation("Checkbox", "bool")
        attributes = {"default_value": "false"}
    elif spec.kind == "long_text":
        rep = Representation("LongTextArea", "text")
        attributes = {"length": 32768}
    else:
        rep = Representation("Text", "text")
        attributes = {"length": 40}
        if spec.key == "legacy_system_id":
            attributes["external_id"] = True
    api, label = planner.name_field(sobject, words_entry, [], "")
    description, help_text = planner.describe(words_entry, label)
    meta = _meta(api, label, rep.xml_type, attributes, description, help_text)
    note = "distractor" + (" (leakage: set only after the outcome)" if spec.leakage else "")
    return PlannedField(sobject=sobject, meta=meta, role="distractor", rep=rep,
                        latent=f"x:{spec.key}" if spec.leakage else None, distractor=spec.key,
                        note=note)


def _custom_object(planner: _Planner) -> tuple[CustomObjectPlan, list[PlannedField]]:
    language = planner.style.language
    stem, label, plural = VISIT_OBJECT_NAMES[language]
    sobject = f"{stem}__c"
    style = planner.style.base_style
    name_language = planner.style.name_language

    def field_name(key: str) -> tuple[str, str]:
        words = naming.words(_VISIT_FIELD_WORDS[key][name_language])
        api = naming.api_name(naming.render_stem(words, style))
        planner.claim(sobject, api)
        return api, _VISIT_FIELD_WORDS[key][language]

    number_label = {"en": "Visit Number", "de": "Besuchsnummer", "fr": "Numéro de visite",
                    "es": "Número de visita"}[language]
    name_field = FieldMeta(api_name="Name", label=number_label, kind=kind_from_metadata_type(
        "AutoNumber"), source_type="AutoNumber", is_name_field=True, required=True)  # type: ignore[arg-type]
    planner.claim(sobject, "Name")
    plan = CustomObjectPlan(
        api_name=sobject, label=label, plural_label=plural,
        description={"en": "Customer site visits by the account team.",
                     "de": "Kundenbesuche des Vertriebsteams.",
                     "fr": "Visites clients de l'équipe commerciale.",
                     "es": "Visitas a clientes del equipo comercial."}[language]
        if planner.chance(0.6) else None,
        name_field=name_field, display_format="V-{00000}",
    )
    fields: list[PlannedField] = []
    api, field_label = field_name("account")
    fields.append(PlannedField(sobject, _meta(api, field_label, "MasterDetail", {
        "reference_to": ("Account",),
        "relationship_name": naming.render_stem(naming.words(plural), "title_snake")}),
        role="custom_object", rep=Representation("MasterDetail", "text"),
        latent="x:visit_account", note="custom object, no ontology concept"))
    api, field_label = field_name("date")
    fields.append(PlannedField(sobject, _meta(api, field_label, "Date", {}), role="custom_object",
                               rep=Representation("Date", "date"), latent="x:visit_date",
                               note="custom object, no ontology concept"))
    values, mapping = planner.picklist("sentiment")
    api, field_label = field_name("outcome")
    fields.append(PlannedField(sobject, _meta(api, field_label, "Picklist",
                                              {"picklist_values": values}),
                               role="custom_object",
                               rep=Representation("Picklist", "category", value_map=mapping),
                               latent="x:visit_outcome",
                               note="custom object, no ontology concept"))
    api, field_label = field_name("notes")
    fields.append(PlannedField(sobject, _meta(api, field_label, "LongTextArea",
                                              {"length": 32768}),
                               role="custom_object", rep=Representation("LongTextArea", "text"),
                               latent="x:visit_notes", note="custom object, no ontology concept"))
    return plan, fields


def plan_org(style: OrgStyle, rng: np.random.Generator, *, groups: frozenset[str],
             hard_negatives: dict[int, int], has_custom_object: bool,
             richness: float) -> OrgPlan:
    """Plan one org's metadata.

    ``hard_negatives`` maps a slot index of :data:`~fedcrm.synth.catalog.HARD_NEGATIVE_SLOTS`
    to the meaning index this org uses; ``richness`` scales how many optional custom concepts
    the org keeps.
    """
    planner = _Planner(style, rng)
    plan = OrgPlan(style=style, fields={sobject: [] for sobject in OBJECTS})
    for standard in STANDARD_FIELDS:
        planner.claim(standard.sobject, standard.api_name)
    for standard in STANDARD_FIELDS:
        if standard.presence >= 1.0 or planner.chance(standard.presence):
            plan.fields[standard.sobject].append(_standard(planner, standard))

    taken: set[str] = set()
    slot_fields: list[PlannedField] = []
    for slot_index, meaning_index in sorted(hard_negatives.items()):
        slot = HARD_NEGATIVE_SLOTS[slot_index]
        meaning = slot.meanings[meaning_index]
        planned = _hard_negative(planner, slot.sobject, slot.stem, meaning)
        slot_fields.append(planned)
        if meaning.concept and meaning.concept.split(".")[0] == slot.sobject.lower():
            taken.add(meaning.concept)
        plan.hard_negatives.append(
            (slot.sobject, planned.api_name, meaning.concept or meaning.group
             or meaning.latent.split(":", 1)[1]))

    concept_fields: list[PlannedField] = []
    for custom in CONCEPT_FIELDS:
        if custom.key in taken:
            continue
        if custom.critical or planner.chance(min(1.0, custom.presence * richness)):
            concept_fields.append(_custom(planner, custom, group=None))
    for custom in GROUP_FIELDS:
        if custom.key in groups:
            concept_fields.append(_custom(planner, custom, group=custom.key))

    twins: list[PlannedField] = []
    twin_rate = float(rng.uniform(0.0, 0.1))
    for planned in concept_fields:
        if planned.note is None and planner.chance(twin_rate):
            twin = _deprecated_twin(planner, planned)
            if twin is not None:
                twins.append(twin)

    distractors: list[PlannedField] = []
    count = int(rng.integers(3, 9))
    for index in rng.permutation(len(DISTRACTORS))[:count]:
        distractor = DISTRACTORS[int(index)]
        sobject = planner.pick(list(distractor.sobjects))
        distractors.append(_distractor(planner, distractor, sobject))

    for planned in [*slot_fields, *concept_fields, *twins, *distractors]:
        plan.fields[planned.sobject].append(planned)

    if has_custom_object:
        custom_plan, custom_fields = _custom_object(planner)
        plan.custom_object = custom_plan
        plan.fields[custom_plan.api_name] = custom_fields
    for sobject, fields in plan.fields.items():
        plan.fields[sobject] = sorted(fields, key=lambda f: f.api_name.lower())
    return plan
