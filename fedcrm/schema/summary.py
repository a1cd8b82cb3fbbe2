"""Counts that describe an org's metadata at a glance (what ``fedcrm schema summary`` prints)."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, ConfigDict

from fedcrm.schema.models import OrgSchema


class ObjectSummary(BaseModel):
    """Field counts of one object."""

    model_config = ConfigDict(frozen=True)
    object: str
    label: str | None
    n_fields: int
    n_custom: int
    n_formula: int
    n_picklist: int
    n_reference: int
    kinds: dict[str, int]


class SchemaSummary(BaseModel):
    """Field counts of a whole org."""

    model_config = ConfigDict(frozen=True)
    org_id: str
    source_format: str
    source: str | None
    n_objects: int
    n_fields: int
    n_custom_fields: int
    namespaces: list[str]
    objects: list[ObjectSummary]
    n_warnings: int
    n_skipped: int


def summarize_schema(schema: OrgSchema) -> SchemaSummary:
    """Summarise ``schema``: per-object field counts by kind, custom fields, namespaces."""
    objects = []
    namespaces: set[str] = set()
    for sobject in schema.objects:
        kinds = Counter(f.kind.value for f in sobject.fields)
        if sobject.namespace:  # npe01__OppPayment__c: a package's object
            namespaces.add(sobject.namespace)
        for field in sobject.fields:
            if field.namespace:
                namespaces.add(field.namespace)
        objects.append(
            ObjectSummary(
                object=sobject.api_name,
                label=sobject.label,
                n_fields=len(sobject.fields),
                n_custom=sum(f.is_custom for f in sobject.fields),
                n_formula=sum(f.is_formula for f in sobject.fields),
                n_picklist=sum(f.kind.family == "categorical" for f in sobject.fields),
                n_reference=sum(f.kind.value == "reference" for f in sobject.fields),
                kinds=dict(sorted(kinds.items())),
            )
        )
    return SchemaSummary(
        org_id=schema.org_id,
        source_format=schema.source_format.value,
        source=schema.source,
        n_objects=len(schema.objects),
        n_fields=schema.n_fields,
        n_custom_fields=sum(o.n_custom for o in objects),
        namespaces=sorted(namespaces),
        objects=objects,
        n_warnings=len(schema.warnings),
        n_skipped=sum(w.skipped for w in schema.warnings),
    )
