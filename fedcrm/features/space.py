"""The shared feature space of one task: a stable, versioned column order every participant
builds its matrix in.

A :class:`FeatureSpace` is derived from metadata only — the ontology, the federation's
approved mapping and the orgs' schemas — never from records, so every participant can build
the same one. Sources of columns:

* the task object's feature concepts (and, for win probability, the account's) that at least
  one org maps;
* roll-ups across objects (case load in the 90 days before the as-of time, escalations, won
  deals, contact counts and contact-level flags);
* shared custom blocks (``custom:<id>``) held by at least two orgs — only the orgs that have
  them fill the column, the others leave it missing.

Each source becomes value columns plus one ``#missing`` indicator, with a fixed, unit-aware
transform (no per-org scaling, so a value means the same thing in every org).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from fedcrm.errors import FeatureError
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology.models import Concept, Ontology, Task, Usage
from fedcrm.schema.models import OrgSchema
from fedcrm.tasks import TASKS

SourceKind = Literal["numeric", "boolean", "date", "category", "present", "rollup"]

#: roll-ups for account-level tasks: name → (child object, what is counted)
ROLLUPS: dict[str, tuple[str, str]] = {
    "rollup:cases_90d": ("Case", "cases created in the 90 days before the as-of time"),
    "rollup:escalated_cases_90d": ("Case", "escalated cases in those 90 days"),
    "rollup:high_priority_cases_90d": ("Case", "critical or high priority cases in those 90 days"),
    "rollup:cases_total": ("Case", "cases created before the as-of time"),
    "rollup:won_deals_365d": ("Opportunity", "deals won in the year before the as-of time"),
    "rollup:won_amount_365d": ("Opportunity", "amount won in that year"),
    "rollup:contacts": ("Contact", "contacts on the account at the as-of time"),
}
ROLLUP_NEEDS: dict[str, tuple[str, ...]] = {
    "rollup:cases_90d": ("case.account_id", "case.created_date"),
    "rollup:escalated_cases_90d": ("case.account_id", "case.created_date", "case.is_escalated"),
    "rollup:high_priority_cases_90d": ("case.account_id", "case.created_date", "case.priority"),
    "rollup:cases_total": ("case.account_id", "case.created_date"),
    # won deals other than renewals: unknown where the org does not map opportunity.type
    "rollup:won_deals_365d": ("opportunity.account_id", "opportunity.close_date",
                              "opportunity.stage", "opportunity.type"),
    "rollup:won_amount_365d": ("opportunity.account_id", "opportunity.close_date",
                               "opportunity.stage", "opportunity.amount", "opportunity.type"),
    "rollup:contacts": ("contact.account_id",),
}


class SourceSpec(BaseModel):
    """One source of columns (a concept, a roll-up or a custom block)."""

    model_config = ConfigDict(frozen=True)
    name: str
    kind: SourceKind
    #: object the source's values live on (joined to the task record if different)
    sobject: str
    unit: str | None = None
    categories: tuple[str, ...] = ()
    shared_by: int = 0
    #: a date source whose dates record events (a concept not ``planned``): one after the
    #: record's as-of time was written later, so it is read as missing
    event: bool = False

    @property
    def columns(self) -> list[str]:
        """The matrix columns this source produces, in order."""
        if self.kind == "category":
            values = [f"{self.name}={c}" for c in self.categories]
        elif self.kind == "date":
            values = [f"{self.name}#days"]
        elif self.kind == "present":
            values = [f"{self.name}#present"]
        else:
            values = [self.name]
        return [*values, f"{self.name}#missing"]


class FeatureSpace(BaseModel):
    """Column order and transforms shared by every participant of one task."""

    model_config = ConfigDict(frozen=True)
    task: Task
    ontology_version: str
    sources: tuple[SourceSpec, ...]

    @property
    def feature_names(self) -> list[str]:
        """All column names, in matrix order."""
        return [column for source in self.sources for column in source.columns]

    @property
    def n_features(self) -> int:
        """Width of the matrix."""
        return len(self.feature_names)

    def without(self, names: set[str] | frozenset[str]) -> FeatureSpace:
        """The same space without the sources named in ``names``."""
        return self.model_copy(update={"sources": tuple(s for s in self.sources
                                                        if s.name not in names)})

    def source_of(self, column: str) -> str:
        """The name of the source that produces ``column``."""
        for source in self.sources:
            if column in source.columns:
                return source.name
        raise KeyError(f"no source of the {self.task.value} space produces column {column!r}")

    @property
    def version(self) -> str:
        """A fingerprint of the column order and transforms (participants must agree)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


def _source_kind(concept: Concept) -> SourceKind:
    family = concept.kind.family
    if family == "numeric":
        return "numeric"
    if family == "boolean":
        return "boolean"
    if family == "temporal":
        return "date"
    if family == "categorical" and concept.value_set:
        return "category"
    return "present"


def _task_concepts(task: Task, ontology: Ontology) -> list[Concept]:
    definition = TASKS[task]
    objects = {definition.sobject}
    if task is Task.WIN_PROBABILITY:
        objects.add("Account")
    return [
        c for c in ontology.concepts
        if c.usage is Usage.FEATURE and task in c.tasks and c.object in objects
        and c.id not in definition.excluded
    ]


_BLOCK_KINDS: dict[str, SourceKind] = {"numeric": "numeric", "boolean": "boolean",
                                       "temporal": "date"}


def _block_kind(block: str, members: list[tuple[str, str, SourceKind]]) -> SourceKind:
    """The kind of a custom block, from every member field (not whichever org is first).

    Text and picklist members may hold numbers, yes/no or dates as text: they take the kind
    of the typed members, and values that do not parse become missing (as anywhere else).
    Typed members of different kinds (a date in one org, a number in another) cannot share
    a column, so they are refused: a number read as a date is a day in 1970.
    """
    typed = {kind for _, _, kind in members if kind != "present"}
    if not members:
        return "numeric"  # no metadata: the historical default
    if len(typed) > 1:
        listed = "; ".join(f"org {org_id}: {name} → {kind}" for org_id, name, kind in members)
        raise FeatureError(
            f"custom block {block} joins fields of incompatible types ({listed}); map them "
            "to different custom blocks, or correct the mapping")
    return typed.pop() if typed else "present"


def build_feature_space(
    task: Task | str,
    ontology: Ontology,
    mapping: MappingProposal,
    schemas: Mapping[str, OrgSchema] | None = None,
    *,
    min_shared: int = 2,
) -> FeatureSpace:
    """The feature space of ``task`` for the orgs in ``mapping``.

    ``schemas`` (org id → metadata) gives the types of custom-block fields; without it custom
    blocks are treated as numeric. Raises :class:`FeatureError` for a custom block whose
    member fields have incompatible types (see :func:`_block_kind`).
    """
    task = Task(task)
    definition = TASKS[task]
    mapped: Counter[str] = Counter()
    for _, field in mapping.iter_fields():
        if field.concept is not None:
            mapped[field.concept] += 1
    sources: list[SourceSpec] = []
    for concept in _task_concepts(task, ontology):
        if not mapped[concept.id]:
            continue
        kind: SourceKind = _source_kind(concept)
        categories: tuple[str, ...] = ()
        if kind == "category":
            assert concept.value_set is not None
            categories = tuple(v.code for v in ontology.value_set(concept.value_set).values)
        sources.append(SourceSpec(name=concept.id, kind=kind, sobject=concept.object,
                                  unit=concept.unit, categories=categories,
                                  shared_by=mapped[concept.id],
                                  event=kind == "date" and not concept.planned))
    if definition.sobject == "Account":
        for name, (child, _) in ROLLUPS.items():
            if all(mapped[need] for need in ROLLUP_NEEDS[name]):
                sources.append(SourceSpec(name=name, kind="rollup", sobject=child,
                                          unit="count", shared_by=min(
                                              mapped[n] for n in ROLLUP_NEEDS[name])))
    blocks: dict[str, set[str]] = {}
    members: dict[str, list[tuple[str, str, SourceKind]]] = {}
    for org_id, field in mapping.iter_fields():
        if field.concept is None and field.block and field.object.lower() == \
                definition.sobject.lower():
            blocks.setdefault(field.block, set()).add(org_id)
            if schemas and org_id in schemas:
                try:
                    meta = schemas[org_id][field.object][field.field]
                except KeyError:
                    continue
                members.setdefault(field.block, []).append(
                    (org_id, f"{field.object}.{field.field} ({meta.kind.value})",
                     _BLOCK_KINDS.get(meta.kind.family, "present")))
    for block, orgs in sorted(blocks.items()):
        if len(orgs) < min_shared:
            continue
        kind = _block_kind(block, members.get(block, []))
        sources.append(SourceSpec(name=block, kind=kind, sobject=definition.sobject,
                                  shared_by=len(orgs)))
    return FeatureSpace(task=task, ontology_version=ontology.version, sources=tuple(sources))


def transform_numeric(values: np.ndarray, unit: str | None) -> np.ndarray:
    """Fixed, unit-aware scaling to roughly [-1, 1]-sized numbers, clipped to [-5, 5].

    Money and counts are heavy-tailed, so they are log-scaled; bounded scores are divided by
    their range. The same transform in every org keeps values comparable without sharing
    per-org statistics.
    """
    v = np.asarray(values, dtype=float)
    if unit == "currency":
        out = np.log10(1.0 + np.clip(v, 0, None)) / 6.0
    elif unit in ("percent", "score_0_100"):
        out = v / 100.0
    elif unit == "ratio":
        out = v
    elif unit == "score_0_10":
        out = v / 10.0
    elif unit == "score_1_5":
        out = (v - 1.0) / 4.0
    elif unit == "nps":
        out = v / 100.0
    elif unit == "months":
        out = v / 120.0
    elif unit == "years":
        out = v / 10.0
    elif unit in ("days", "hours"):
        out = np.log1p(np.clip(v, 0, None)) / 7.0
    else:  # counts and unit-less numbers
        out = np.sign(v) * np.log1p(np.abs(v)) / 5.0
    return np.clip(out, -5.0, 5.0)
