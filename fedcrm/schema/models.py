"""Immutable metadata model of a Salesforce org: ``OrgSchema`` → ``SObjectSchema`` → ``FieldMeta``.

Every loader (sfdx source, Metadata API, REST describe, live org) produces these models, so
nothing downstream needs to know which format a user had.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fedcrm.errors import SchemaError

_NAMESPACE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)__(.+)$")
#: API-name suffixes of custom fields and objects (``__c``, person-account ``__pc``, external
#: ``__x``, big objects ``__b``, platform events ``__e``, metadata types ``__mdt``, ...)
#: ``__s``: a component of a custom compound field (``Location__Latitude__s`` of the
#: geolocation field ``Location__c``)
CUSTOM_SUFFIXES = ("__c", "__r", "__pc", "__x", "__b", "__e", "__mdt", "__kav", "__s")


def namespace_of(api_name: str) -> str | None:
    """The managed-package namespace prefix of a field or object API name (``npe01`` in
    ``npe01__Type__c``), if any; suffixes in any case (``TIER__C`` has none)."""
    stem = api_name
    for suffix in CUSTOM_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            if suffix == "__s":  # Location__Latitude: the component is no namespace
                stem = stem.rpartition("__")[0] or stem
            break
    match = _NAMESPACE_RE.match(stem)
    return match.group(1) if match else None


class DataKind(StrEnum):
    """One type system for both Salesforce type systems (Metadata API and REST describe)."""

    TEXT = "text"
    TEXTAREA = "textarea"
    LONG_TEXTAREA = "long_textarea"
    RICH_TEXT = "rich_text"
    ENCRYPTED_TEXT = "encrypted_text"
    NUMBER = "number"
    CURRENCY = "currency"
    PERCENT = "percent"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    PICKLIST = "picklist"
    MULTIPICKLIST = "multipicklist"
    COMBOBOX = "combobox"
    REFERENCE = "reference"
    EMAIL = "email"
    PHONE = "phone"
    URL = "url"
    ID = "id"
    AUTO_NUMBER = "auto_number"
    LOCATION = "location"
    ADDRESS = "address"
    BINARY = "binary"
    ANY = "any"
    JSON = "json"
    #: A standard field whose metadata file does not declare a type (Salesforce allows this
    #: for standard-field overrides). Never used for a custom field.
    UNKNOWN = "unknown"

    @property
    def family(self) -> str:
        """Coarse family used for type compatibility: text, numeric, boolean, temporal,
        categorical, reference, contact, identifier, other."""
        return _FAMILY[self]


_FAMILY: dict[DataKind, str] = {
    DataKind.TEXT: "text",
    DataKind.TEXTAREA: "text",
    DataKind.LONG_TEXTAREA: "text",
    DataKind.RICH_TEXT: "text",
    DataKind.ENCRYPTED_TEXT: "text",
    DataKind.NUMBER: "numeric",
    DataKind.CURRENCY: "numeric",
    DataKind.PERCENT: "numeric",
    DataKind.BOOLEAN: "boolean",
    DataKind.DATE: "temporal",
    DataKind.DATETIME: "temporal",
    DataKind.TIME: "temporal",
    DataKind.PICKLIST: "categorical",
    DataKind.MULTIPICKLIST: "categorical",
    DataKind.COMBOBOX: "categorical",
    DataKind.REFERENCE: "reference",
    DataKind.EMAIL: "contact",
    DataKind.PHONE: "contact",
    DataKind.URL: "contact",
    DataKind.ID: "identifier",
    DataKind.AUTO_NUMBER: "identifier",
    DataKind.LOCATION: "other",
    DataKind.ADDRESS: "other",
    DataKind.BINARY: "other",
    DataKind.ANY: "other",
    DataKind.JSON: "other",
    DataKind.UNKNOWN: "other",
}


class SourceFormat(StrEnum):
    """Where an ``OrgSchema`` came from."""

    SFDX = "sfdx"
    MDAPI = "mdapi"
    DESCRIBE = "describe"
    LIVE = "live"
    PYTHON = "python"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class PicklistValue(_Frozen):
    """One value of a picklist: the stored API value and its display label."""

    value: str
    label: str | None = None
    default: bool = False
    active: bool = True


class CategoryCount(_Frozen):
    """A category and how often it was seen (only categories seen at least k times)."""

    value: str
    count: int = Field(ge=1)


class FieldProfile(_Frozen):
    """Privacy-safe statistics of one field's values, computed inside the org.

    Build it with :func:`fedcrm.schema.profile_series`. No entry ever holds a value seen
    fewer than ``k`` times: categories are listed only when seen at least ``k`` times, and each
    numeric or length quantile is the mean of at least ``k`` neighbouring order statistics, an
    aggregate of ``k`` records rather than one record's value.
    """

    k: int = Field(ge=2)
    n_rows: int = Field(ge=0)
    null_rate: float = Field(ge=0.0, le=1.0)
    distinct_ratio: float = Field(ge=0.0, le=1.0)
    #: quantile level (0.05, 0.25, 0.5, 0.75, 0.95) → k-aggregated value; empty if not numeric
    numeric_quantiles: dict[str, float] = Field(default_factory=dict)
    numeric_mean: float | None = None
    numeric_std: float | None = None
    true_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    categories: tuple[CategoryCount, ...] = ()
    n_suppressed_categories: int = Field(default=0, ge=0)
    length_mean: float | None = None
    length_quantiles: dict[str, float] = Field(default_factory=dict)
    #: share of non-null values that look like email / phone / url / date / salesforce_id
    pattern_shares: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_k_threshold(self) -> FieldProfile:
        for category in self.categories:
            if category.count < self.k:
                raise ValueError(
                    f"category {category.value!r} was seen {category.count} times, fewer than "
                    f"k={self.k}; a profile may not contain it"
                )
        return self


class FieldMeta(_Frozen):
    """Metadata of one field, as the org declares it (never any record values)."""

    api_name: str = Field(min_length=1)
    label: str | None = None
    kind: DataKind
    #: the type exactly as the source spelled it (``Currency``, ``double``, ...)
    source_type: str | None = None
    length: int | None = Field(default=None, ge=0)
    precision: int | None = Field(default=None, ge=0)
    scale: int | None = Field(default=None, ge=0)
    description: str | None = None
    help_text: str | None = None
    picklist_values: tuple[PicklistValue, ...] = ()
    #: name of a global value set the picklist takes its values from, if any
    value_set_name: str | None = None
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    formula: str | None = None
    default_value: str | None = None
    required: bool = False
    unique: bool = False
    external_id: bool = False
    is_formula: bool = False
    is_rollup_summary: bool = False
    is_master_detail: bool = False
    is_name_field: bool = False
    #: roll-up summary details: operation (count/sum/min/max) and the summarised field
    summary_operation: str | None = None
    summarized_field: str | None = None
    #: where it was read from (file path, or ``describe:<object>``)
    source: str | None = None
    profile: FieldProfile | None = None

    @property
    def is_custom(self) -> bool:
        """True for custom fields (API name ends in ``__c`` and similar suffixes)."""
        return self.api_name.endswith(CUSTOM_SUFFIXES)

    @property
    def namespace(self) -> str | None:
        """Managed-package namespace prefix (``npe01`` in ``npe01__Type__c``), if any."""
        return namespace_of(self.api_name)

    def with_profile(self, profile: FieldProfile | None) -> FieldMeta:
        """Return a copy of this field carrying ``profile``."""
        return self.model_copy(update={"profile": profile})


class SObjectSchema(_Frozen):
    """One Salesforce object (standard or custom) and its fields."""

    api_name: str = Field(min_length=1)
    label: str | None = None
    plural_label: str | None = None
    description: str | None = None
    fields: tuple[FieldMeta, ...] = ()
    source: str | None = None

    @model_validator(mode="after")
    def _unique_field_names(self) -> SObjectSchema:
        seen: set[str] = set()
        for field in self.fields:
            key = field.api_name.lower()
            if key in seen:
                raise SchemaError(
                    "duplicate field (API names are case-insensitive); remove one of the two "
                    "definitions",
                    path=field.source,
                    sobject=self.api_name,
                    field=field.api_name,
                )
            seen.add(key)
        return self

    @property
    def is_custom(self) -> bool:
        """True for custom objects (``__c`` and related suffixes)."""
        return self.api_name.endswith(CUSTOM_SUFFIXES)

    @property
    def namespace(self) -> str | None:
        """Managed-package namespace prefix (``npe01`` in ``npe01__OppPayment__c``), if any.
        A custom object's companions (``Invoice__Share``, ``ns__Invoice__History``) have their
        object's; a standard object has none."""
        name = self.api_name
        companion = re.search(r"__(share|history|feed|changeevent|tag|ownersharingrule)$",
                              name, re.IGNORECASE)
        if companion:
            name = name[: companion.start()] + "__c"
        return namespace_of(name) if name.lower().endswith(CUSTOM_SUFFIXES) else None

    def field(self, api_name: str) -> FieldMeta:
        """The field called ``api_name`` (case-insensitive), or a ``KeyError`` naming it."""
        key = api_name.lower()
        for field in self.fields:
            if field.api_name.lower() == key:
                return field
        raise KeyError(f"object {self.api_name} has no field {api_name!r}")

    def __getitem__(self, api_name: str) -> FieldMeta:
        return self.field(api_name)

    def __contains__(self, api_name: builtins.object) -> bool:
        return isinstance(api_name, str) and any(
            f.api_name.lower() == api_name.lower() for f in self.fields
        )


class LoadWarning(_Frozen):
    """A problem lenient loading skipped over instead of raising."""

    message: str
    path: str | None = None
    sobject: str | None = None
    field: str | None = None
    skipped: bool = True

    def __str__(self) -> str:
        error = SchemaError(self.message, path=self.path, sobject=self.sobject, field=self.field)
        return str(error)


class OrgSchema(_Frozen):
    """Everything fedcrm knows about one org's metadata."""

    org_id: str = Field(min_length=1)
    source_format: SourceFormat
    source: str | None = None
    objects: tuple[SObjectSchema, ...] = ()
    warnings: tuple[LoadWarning, ...] = ()

    @model_validator(mode="after")
    def _unique_object_names(self) -> OrgSchema:
        seen: set[str] = set()
        for sobject in self.objects:
            key = sobject.api_name.lower()
            if key in seen:
                raise SchemaError(
                    "object defined twice; merge the two definitions",
                    path=sobject.source,
                    sobject=sobject.api_name,
                )
            seen.add(key)
        return self

    def object(self, api_name: str) -> SObjectSchema:
        """The object called ``api_name`` (case-insensitive), or a ``KeyError`` naming it."""
        key = api_name.lower()
        for sobject in self.objects:
            if sobject.api_name.lower() == key:
                return sobject
        raise KeyError(f"org {self.org_id} has no object {api_name!r}")

    def __getitem__(self, api_name: str) -> SObjectSchema:
        return self.object(api_name)

    def __contains__(self, api_name: builtins.object) -> bool:
        return isinstance(api_name, str) and any(
            o.api_name.lower() == api_name.lower() for o in self.objects
        )

    def iter_fields(self) -> Iterator[tuple[SObjectSchema, FieldMeta]]:
        """Every (object, field) pair, in a stable order."""
        for sobject in self.objects:
            for field in sobject.fields:
                yield sobject, field

    @property
    def n_fields(self) -> int:
        """Total number of fields over all objects."""
        return sum(len(o.fields) for o in self.objects)

    def with_org_id(self, org_id: str) -> OrgSchema:
        """Return a copy under another org id."""
        return self.model_copy(update={"org_id": org_id})
