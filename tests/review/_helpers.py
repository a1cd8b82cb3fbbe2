"""Small, hand-built federations for the review tests: two orgs, a proposal in the
``fedcrm match`` format and the orgs' metadata (no trained matcher involved)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fedcrm.matching.proposal import Candidate, FieldMapping, MappingProposal, OrgMapping
from fedcrm.ontology import load_ontology
from fedcrm.review import Action, DecisionRequest, ReviewStore
from fedcrm.review.models import FieldView
from fedcrm.schema.models import (
    CategoryCount,
    DataKind,
    FieldMeta,
    FieldProfile,
    OrgSchema,
    PicklistValue,
    SObjectSchema,
    SourceFormat,
)

MATCHER_VERSION = "matcher-test-1"

#: org → object → field → (proposed concept, confidence, block, [(candidate, score)])
FIELDS: dict[str, dict[str, dict[str, tuple[str | None, float, str | None,
                                             list[tuple[str, float]]]]]] = {
    "acme": {
        "Account": {
            "Annual_Rev__c": ("account.annual_revenue", 0.97, None,
                              [("account.annual_revenue", 0.97), ("account.arr", 0.4)]),
            "Emp_Count__c": ("account.number_of_employees", 0.55, None,
                             [("account.number_of_employees", 0.55),
                              ("account.seats_purchased", 0.3)]),
            "Sector__c": (None, 0.6, None,
                          [("account.industry", 0.4), ("account.type", 0.25)]),
            "Fax_Line__c": ("account.fax", 0.5, None,
                            [("account.fax", 0.5), ("account.phone", 0.45)]),
        },
        "Opportunity": {
            "Win_Chance__c": ("opportunity.probability", 0.7, None,
                              [("opportunity.probability", 0.7)]),
        },
    },
    "globex": {
        "Account": {
            "Revenue__c": ("account.annual_revenue", 0.92, None,
                           [("account.annual_revenue", 0.92)]),
            "Loyalty_Tier__c": (None, 0.8, "custom:loyalty_tier",
                                [("account.product_tier", 0.2)]),
        },
    },
}

LABELS = {
    "Annual_Rev__c": ("Annual revenue (USD)", "Yearly revenue in US dollars"),
    "Emp_Count__c": ("Employees", "Head count at the last survey"),
    "Sector__c": ("Sector", "Industry sector of the customer"),
    "Fax_Line__c": ("Fax", None),
    "Win_Chance__c": ("Win chance %", "Sales rep's estimate"),
    "Revenue__c": ("Revenue", None),
    "Loyalty_Tier__c": ("Loyalty tier", "Bronze, silver or gold"),
}
KINDS = {
    "Annual_Rev__c": DataKind.CURRENCY, "Emp_Count__c": DataKind.NUMBER,
    "Sector__c": DataKind.PICKLIST, "Fax_Line__c": DataKind.PHONE,
    "Win_Chance__c": DataKind.PERCENT, "Revenue__c": DataKind.CURRENCY,
    "Loyalty_Tier__c": DataKind.PICKLIST,
}


def make_proposal(
    overrides: dict[tuple[str, str, str], tuple[str | None, float, str | None,
                                                 list[tuple[str, float]]]] | None = None,
    *, drop: set[tuple[str, str, str]] | None = None, matcher_version: str = MATCHER_VERSION,
) -> MappingProposal:
    """The test proposal, with some fields changed or left out."""
    ontology = load_ontology()
    orgs = []
    for org, objects in FIELDS.items():
        fields = []
        for sobject, entries in objects.items():
            for field, entry in entries.items():
                if drop and (org, sobject, field) in drop:
                    continue
                concept, confidence, block, candidates = (overrides or {}).get(
                    (org, sobject, field), entry)
                fields.append(FieldMapping(
                    object=sobject, field=field, concept=concept, confidence=confidence,
                    block=block if concept is None else concept,
                    candidates=[Candidate(concept=c, score=s,
                                          evidence=[f"name similarity to {c}: {s:.2f}"])
                                for c, s in candidates],
                ))
        orgs.append(OrgMapping(org=org, fields=fields))
    return MappingProposal(ontology_version=ontology.version, matcher_version=matcher_version,
                           orgs=orgs)


def make_schemas(label_changes: dict[tuple[str, str], str] | None = None) -> list[OrgSchema]:
    """The orgs' metadata; ``label_changes`` ((org, field) → new label) simulates edits."""
    schemas = []
    for org, objects in FIELDS.items():
        sobjects = []
        for sobject, entries in objects.items():
            metas = []
            for field in entries:
                label, description = LABELS[field]
                label = (label_changes or {}).get((org, field), label)
                extra: dict[str, Any] = {}
                if KINDS[field] is DataKind.PICKLIST:
                    extra["picklist_values"] = (PicklistValue(value="A"), PicklistValue(value="B"))
                    extra["profile"] = FieldProfile(
                        k=5, n_rows=1200, null_rate=0.05, distinct_ratio=0.01,
                        categories=(CategoryCount(value="A", count=700),
                                    CategoryCount(value="B", count=440)),
                        n_suppressed_categories=2,
                    )
                elif KINDS[field] in (DataKind.CURRENCY, DataKind.NUMBER, DataKind.PERCENT):
                    extra["profile"] = FieldProfile(
                        k=5, n_rows=1200, null_rate=0.1, distinct_ratio=0.8,
                        numeric_quantiles={"0.05": 10.0, "0.5": 250.0, "0.95": 9000.0},
                        numeric_mean=1300.0, numeric_std=2100.0,
                    )
                metas.append(FieldMeta(api_name=field, label=label, description=description,
                                       kind=KINDS[field], **extra))
            sobjects.append(SObjectSchema(api_name=sobject, fields=tuple(metas)))
        schemas.append(OrgSchema(org_id=org, source_format=SourceFormat.PYTHON,
                                 objects=tuple(sobjects)))
    return schemas


def n_fields() -> int:
    """Fields in the test federation."""
    return sum(len(entries) for objects in FIELDS.values() for entries in objects.values())


def decide(store: ReviewStore, org: str, sobject: str, field: str, action: Action,
           reviewer: str = "ana", concept: str | None = None, comment: str | None = None,
           seen_version: int | None = None) -> FieldView:
    """Decide on the current version (unless told otherwise) and return the field after."""
    version = seen_version if seen_version is not None else store.field(org, sobject,
                                                                          field).version
    store.decide(DecisionRequest(org=org, object=sobject, field=field, action=action,
                                 seen_version=version, reviewer=reviewer, concept=concept,
                                 comment=comment))
    return store.field(org, sobject, field)


def event_details(store: ReviewStore, event: str) -> list[dict[str, Any]]:
    """The ``details`` of every audit entry of one kind, oldest first."""
    found = []
    for entry in store.audit_log():
        if entry.event == event:
            assert entry.details is not None, entry
            found.append(entry.details)
    return found


def run_together(jobs: list[Callable[[], object]]) -> list[object]:
    """Run ``jobs`` in threads released at the same moment; results or exceptions, in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results[index] = jobs[index]()
        except Exception as exc:  # collected and asserted on by the caller
            results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def annotations_folder(path: Path) -> Path:
    """An annotations folder at ``path`` with no labels yet, whose ``sources.yaml`` lists the
    test proposal's orgs: labels are only written into a folder with a ``sources.yaml``, and
    only for the orgs it lists."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "sources.yaml").write_text(sources_yaml(), encoding="utf-8")
    return path


def sources_yaml(orgs: Iterable[str] | None = None) -> str:
    """A ``sources.yaml`` listing ``orgs`` (default: the test proposal's) as synthetic orgs."""
    listed = list(FIELDS) if orgs is None else list(orgs)
    return "orgs:\n" + "".join(f"- org: {org}\n  kind: synthetic\n  licence: CC0-1.0\n"
                                for org in listed)
