"""Turn one org's source rows into a Salesforce org: fields named in the org's own style,
values in its own spelling, sfdx metadata, records and a ground-truth label per field.

Everything an org does differently is decided here from its :class:`OrgSpec` and a seeded
random stream, so one seed always gives the same files.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from fedcrm.datasets.spec import (
    ColumnSpec,
    DatasetDefinition,
    DatasetError,
    OrgSpec,
    SourceValueError,
)
from fedcrm.datasets.vocabulary import (
    UNIT_WORDS,
    VALUE_CODES,
    VALUE_SPELLINGS,
    WORDS,
    YES_NO,
)
from fedcrm.matching.corpus import FieldLabel
from fedcrm.schema.models import FieldMeta, OrgSchema, PicklistValue, SObjectSchema, SourceFormat
from fedcrm.schema.types import kind_from_metadata_type
from fedcrm.synth import naming
from fedcrm.synth.fake import KEY_PREFIXES, salesforce_ids
from fedcrm.synth.models import FieldEncoding

ANNOTATOR = "fedcrm.datasets"
ID_COLUMN = "Id"
#: share of a namespaced org's fields that carry the package prefix
NAMESPACED_SHARE = 0.6

_XML_TYPES = {"text": "Text", "id": "Text", "number": "Number", "currency": "Currency",
              "checkbox": "Checkbox", "boolean": "Checkbox", "picklist": "Picklist",
              "date": "Date", "lookup": "Lookup"}
#: lengths of the standard text fields used here (Salesforce Object Reference)
_STANDARD_LENGTHS = {"Name": 255, "AccountNumber": 40, "BillingCountry": 80, "YearStarted": 4,
                     "Country": 80, "City": 40}


class FieldSource(BaseModel):
    """Where one org field comes from (written to ``federation.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    source: str
    file: str
    object: str
    field: str
    label: str | None = None
    concept: str | None = None
    group: str | None = None
    stored_as: str
    derived: str | None = None
    #: source value → the org's spelling, for picklists and flags (absent: kept as written)
    values: dict[str, str] = {}


@dataclass
class RealOrg:
    """One org cut from a real dataset: metadata, records in its own names, ground truth."""

    spec: OrgSpec
    schema: OrgSchema
    #: object → records (``Id`` first, then one column per field, text as written to CSV)
    tables: dict[str, pd.DataFrame]
    labels: list[FieldLabel]
    #: (object, field) → how the field stores its meaning when that is not canonical
    units: dict[tuple[str, str], FieldEncoding]
    fields: list[FieldSource]
    namespace: str | None
    #: object → the source rows behind the records, same order, source column names
    source_rows: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)

    @property
    def org_id(self) -> str:
        """The org id (its folder name)."""
        return self.spec.org_id

    @property
    def records(self) -> dict[str, int]:
        """Number of records per object."""
        return {name: len(table) for name, table in self.tables.items()}

    def label(self, sobject: str, field_name: str) -> FieldLabel:
        """The ground-truth label of one field (case-insensitive)."""
        key = (sobject.lower(), field_name.lower())
        for label in self.labels:
            if label.key == key:
                return label
        raise KeyError(f"org {self.org_id} has no field {sobject}.{field_name}")

    def field_for(self, source: str, sobject: str | None = None) -> FieldSource:
        """The field that holds source column ``source``."""
        for entry in self.fields:
            if entry.source == source and (sobject is None or entry.object == sobject):
                return entry
        raise KeyError(f"org {self.org_id} has no field for source column {source!r}")


def record_ids(sobject: str, count: int, pod: int) -> np.ndarray:
    """``count`` Salesforce-like 18-character ids of ``sobject`` (its key prefix), unique
    within one pod."""
    return salesforce_ids(KEY_PREFIXES[sobject], count, pod=pod, start=1)


def org_rng(seed: int, dataset: str, org_index: int) -> np.random.Generator:
    """The seeded stream of one org of one dataset."""
    return np.random.default_rng(np.random.SeedSequence(
        [seed, zlib.crc32(dataset.encode("utf-8")), org_index]))


class _Namer:
    """Names an org's custom fields in its style and language, uniquely per object."""

    def __init__(self, spec: OrgSpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self.rng = rng
        self.namespace = (naming.NAMESPACES[int(rng.integers(0, len(naming.NAMESPACES)))]
                          if spec.naming_style == "namespaced" else None)
        self.base_style = spec.naming_style if spec.naming_style in naming.BASE_STYLES else \
            naming.BASE_STYLES[int(rng.integers(0, len(naming.BASE_STYLES)))]
        self.claimed: set[tuple[str, str]] = set()

    def pick(self, options: tuple[str, ...]) -> str:
        return options[int(self.rng.integers(0, len(options)))]

    def name(self, column: ColumnSpec) -> tuple[str, str]:
        """(API name, label) of a custom field."""
        assert column.words is not None
        words = WORDS[column.words]
        spec = self.spec
        phrase = self.pick(words.phrases(spec.language))
        if spec.naming_style == "abbreviated" and spec.name_language == "en" and words.abbr \
                and self.rng.random() < 0.7:
            parts = [self.pick(words.abbr)]
        elif spec.name_language == spec.language:
            parts = naming.words(phrase)
        else:
            parts = naming.words(self.pick(words.phrases(spec.name_language)))
        if column.unit:  # the unit is named, so a reader (and the converter) can tell
            parts = [*parts, *UNIT_WORDS[column.unit][spec.name_language][1].split("_")]
            phrase = f"{phrase} {UNIT_WORDS[column.unit][spec.language][0]}"
        namespace = None
        if spec.naming_style == "namespaced":
            style = self.base_style
            if self.rng.random() < NAMESPACED_SHARE:
                namespace = self.namespace
        else:
            style = spec.naming_style
        stem = naming.render_stem(parts, style)
        api = naming.api_name(stem, namespace)
        number = 2
        while (column.sobject, api.lower()) in self.claimed:
            api = naming.api_name(naming.sanitize_stem(f"{stem}{number}"), namespace)
            number += 1
        self.claimed.add((column.sobject, api.lower()))
        return api, naming.clip_label(phrase)

    def description(self, column: ColumnSpec) -> str | None:
        """The English gloss, for some fields."""
        gloss = WORDS[column.words].gloss if column.words else ""
        if gloss and self.rng.random() < self.spec.description_rate:
            return gloss
        return None


@dataclass
class _Encoded:
    values: pd.Series
    picklist: tuple[str, ...] = ()
    translation: dict[str, str] = field(default_factory=dict)
    #: source value → org spelling for every value of the value set (seen or not)
    spelled: dict[str, str] = field(default_factory=dict)
    yes_no: tuple[str, str] | None = None
    xml_type: str = "Text"


def _where(file: str, column: ColumnSpec) -> str:
    return f"{file}, column {column.source!r}"


def _spelling(column: ColumnSpec, spec: OrgSpec, value: str, file: str) -> str:
    assert column.values is not None
    table = VALUE_SPELLINGS[column.values]
    if value not in table:
        raise SourceValueError(f"{_where(file, column)}: value {value!r} has no spelling in "
                               f"value set {column.values!r}; known: {sorted(table)}",
                               file=file, column=column.source, cell=value)
    spellings = table[value].get(spec.language) or table[value]["en"]
    return spellings[spec.variant % len(spellings)]


def _is_outcome(column: ColumnSpec) -> bool:
    """Whether ``column`` holds a task's outcome: noted so, or mapped to a label concept."""
    if column.note == "outcome":
        return True
    if column.concept is None:
        return False
    from fedcrm.ontology import Usage, load_ontology

    try:
        return load_ontology().concept(column.concept).usage is Usage.LABEL
    except KeyError:
        return False


def encode(column: ColumnSpec, spec: OrgSpec, raw: pd.Series, file: str) -> _Encoded:
    """The org's stored values of one source column (blank cells become empty strings)."""
    values = raw.astype(str).str.strip()
    blank = values == ""
    kind = column.field_type
    if kind in ("number", "currency"):
        parsed = pd.to_numeric(values.where(~blank), errors="coerce")
        bad = values[~blank & parsed.isna()]
        if len(bad):
            raise SourceValueError(f"{_where(file, column)}: {len(bad)} value(s) are not "
                                   f"numbers, e.g. {bad.iloc[0]!r}",
                                   file=file, column=column.source, cell=bad.iloc[0])
        return _Encoded(values, xml_type=_XML_TYPES[kind])
    if kind == "date":
        parsed = pd.to_datetime(values.where(~blank), format=column.date_format,
                                errors="coerce")
        bad = values[~blank & parsed.isna()]
        if len(bad):
            raise SourceValueError(f"{_where(file, column)}: {len(bad)} value(s) do not match "
                                   f"the date format {column.date_format}, e.g. "
                                   f"{bad.iloc[0]!r}", file=file, column=column.source,
                                   cell=bad.iloc[0])
        return _Encoded(parsed.dt.strftime("%Y-%m-%d").fillna(""), xml_type="Date")
    if kind in ("checkbox", "boolean"):
        if blank.any() and _is_outcome(column):
            # a checkbox stores a blank as false: an unknown outcome would become a negative
            # label (and a yes/no picklist would leave it unlabelled: orgs would disagree)
            raise SourceValueError(
                f"{_where(file, column)}: {int(blank.sum())} blank cell(s) in an outcome "
                "column; an outcome must be known (a blank would be read as false): drop those "
                "rows from the source or fill them in", file=file, column=column.source,
                cell="")
        truth = values.isin(column.true_values)
        # everything but the true spellings reads as false, so a stray value (a "yes" beside
        # "Yes"/"No") would silently become false: only the declared spellings, or one
        falses = sorted(set(values[~blank & ~truth]))
        stray = ([v for v in falses if v not in column.false_values] if column.false_values
                 else falses[1:])
        if stray:
            raise SourceValueError(
                f"{_where(file, column)}: {stray} would be read as false; a yes/no column holds "
                f"the true spelling(s) {list(column.true_values)} and one false spelling "
                f"({list(column.false_values) or falses[0]})", file=file,
                column=column.source, cell=stray[0])
        if kind == "boolean" and spec.yes_no_picklists and column.standard is None:
            options = YES_NO[spec.language]
            yes, no = options[spec.variant % len(options)]
            stored = pd.Series(np.where(truth, yes, no), index=values.index).where(~blank, "")
            seen = sorted(set(values[~blank]))
            return _Encoded(stored, picklist=(yes, no), yes_no=(yes, no), xml_type="Picklist",
                            translation={v: (yes if v in column.true_values else no)
                                         for v in seen})
        stored = pd.Series(np.where(truth, "true", "false"), index=values.index)
        seen = sorted(set(values))
        return _Encoded(stored, xml_type="Checkbox",
                        translation={v: ("true" if v in column.true_values else "false")
                                     for v in seen})
    if kind in ("picklist", "text") and column.values in VALUE_SPELLINGS:
        # the org's own spelling of every value (text fields too: a country name)
        table = VALUE_SPELLINGS[column.values]
        mapping = {v: _spelling(column, spec, v, file) for v in sorted(set(values[~blank]))}
        spelled = {v: _spelling(column, spec, v, file) for v in table}
        if len(set(spelled.values())) != len(table):
            raise DatasetError(f"value set {column.values!r}: two values share a spelling in "
                               f"{spec.language} variant {spec.variant}")
        stored = values.map(lambda v: mapping.get(v, ""))
        return _Encoded(stored, picklist=tuple(spelled.values()) if kind == "picklist" else (),
                        translation=mapping, spelled=spelled, xml_type=_XML_TYPES[kind])
    if kind == "picklist":
        present = tuple(sorted(set(values[~blank]), key=lambda v: (v.lower(), v)))
        return _Encoded(values, picklist=present, xml_type="Picklist")
    return _Encoded(values, xml_type=_XML_TYPES[kind])


def _meta(column: ColumnSpec, encoded: _Encoded, api: str, label: str | None,
          description: str | None) -> FieldMeta:
    xml_type = encoded.xml_type
    attributes: dict[str, object] = {}
    if xml_type == "Text":
        attributes["length"] = _STANDARD_LENGTHS.get(api, 255) if column.standard else \
            (40 if column.field_type == "id" else 255)
        if column.field_type == "id":
            attributes["external_id"] = True
    elif xml_type == "Number":
        attributes.update(precision=8 if api == "NumberOfEmployees" else 18,
                          scale=column.decimals)
    elif xml_type == "Currency":
        attributes.update(precision=18, scale=2)
    elif xml_type == "Checkbox":
        attributes["default_value"] = "false"
    elif xml_type == "Picklist":
        attributes["picklist_values"] = tuple(PicklistValue(value=v, label=v)
                                              for v in encoded.picklist)
    elif xml_type == "Lookup":
        attributes.update(reference_to=(column.reference_to,),
                          relationship_name=column.relationship_name)
    kind = kind_from_metadata_type(xml_type)
    assert kind is not None, xml_type
    return FieldMeta(api_name=api, label=label, kind=kind, source_type=xml_type,
                     description=description, **attributes)  # type: ignore[arg-type]


def _encoding(column: ColumnSpec, meta: FieldMeta, encoded: _Encoded) -> FieldEncoding | None:
    """``units.json`` entry of a concept or block field stored in a non-canonical form."""
    if column.concept is None and column.group is None:
        return None
    extra: dict[str, object] = {}
    if column.unit == "years":
        extra.update(unit="years", canonical_unit="months", to_canonical=12.0)
    elif column.unit == "usd_millions":
        extra.update(currency="USD", scale=1e6, canonical_unit="currency", to_canonical=1e6)
    if encoded.yes_no is not None:
        extra.update(true_values=(encoded.yes_no[0],), false_values=(encoded.yes_no[1],))
    codes = VALUE_CODES.get(column.values or "")
    if codes is not None and column.concept is not None and encoded.xml_type == "Picklist":
        spelled = encoded.spelled or {v: v for v in encoded.picklist}
        extra["value_map"] = {stored: codes[source] for source, stored in spelled.items()
                              if source in codes}
    if not extra:
        return None
    return FieldEncoding(object=column.sobject, field=meta.api_name, concept=column.concept,
                         group=column.group, stored_as=encoded.xml_type,
                         **extra)  # type: ignore[arg-type]


def build_org(definition: DatasetDefinition, spec: OrgSpec, frames: dict[str, pd.DataFrame],
              *, seed: int, org_index: int) -> RealOrg:
    """One org from its source rows: ``frames`` maps each object of the definition to the
    rows it holds (source column names; an ``Id`` column if the loader assigned ids)."""
    rng = org_rng(seed, definition.name, org_index)
    namer = _Namer(spec, rng)
    objects: list[SObjectSchema] = []
    tables: dict[str, pd.DataFrame] = {}
    labels: list[FieldLabel] = []
    units: dict[tuple[str, str], FieldEncoding] = {}
    sources: list[FieldSource] = []
    for sobject in definition.objects:
        frame = frames[sobject]
        ids = frame[ID_COLUMN].to_numpy() if ID_COLUMN in frame else \
            record_ids(sobject, len(frame), pod=10 + org_index)
        columns: dict[str, object] = {ID_COLUMN: ids}
        metas: list[FieldMeta] = []
        for column in definition.columns_of(sobject):
            file = column.file or definition.files[0]
            if column.source not in frame:
                raise DatasetError(f"{definition.folder}/{file}: no column {column.source!r} for "
                                   f"{sobject} in org {spec.org_id}")
            # errors name the dataset's folder too: "telco-churn/telco_customer_churn.csv"
            encoded = encode(column, spec, frame[column.source], f"{definition.folder}/{file}")
            if column.standard is not None:
                api, label, description = column.standard, None, None
            else:
                api, label = namer.name(column)
                description = namer.description(column)
            meta = _meta(column, encoded, api, label, description)
            metas.append(meta)
            columns[api] = encoded.values.to_numpy()
            note = f"source column {column.source!r}" + (f"; {column.note}" if column.note
                                                         else "")
            labels.append(FieldLabel(org=spec.org_id, object=sobject, field=api,
                                     concept=column.concept, group=column.group,
                                     annotator=ANNOTATOR, method="hand", note=note))
            encoding = _encoding(column, meta, encoded)
            if encoding is not None:
                units[(sobject, api)] = encoding
            sources.append(FieldSource(source=column.source, file=file, object=sobject, field=api,
                                       label=label, concept=column.concept, group=column.group,
                                       stored_as=encoded.xml_type, derived=column.derived,
                                       values=encoded.translation))
        tables[sobject] = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
        objects.append(SObjectSchema(api_name=sobject, fields=tuple(
            sorted(metas, key=lambda m: m.api_name.lower()))))
    schema = OrgSchema(org_id=spec.org_id, source_format=SourceFormat.SFDX,
                       objects=tuple(sorted(objects, key=lambda o: o.api_name.lower())))
    return RealOrg(spec=spec, schema=schema, tables=tables, labels=labels, units=units,
                   fields=sources, namespace=namer.namespace,
                   source_rows={name: frame.reset_index(drop=True)
                                for name, frame in frames.items()})
