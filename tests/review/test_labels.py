"""Decisions feed the annotated corpus as labels, without silently overwriting other labels."""

from __future__ import annotations

from pathlib import Path

from fedcrm.matching.corpus import FieldLabel, read_labels, write_labels
from fedcrm.review import Action, ReviewStore

from ._helpers import annotations_folder, decide, event_details


def decide_some(store: ReviewStore) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT, reviewer="ana",
           comment="standard revenue")
    decide(store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT, reviewer="ben")
    decide(store, "acme", "Account", "Sector__c", Action.DEFER, reviewer="ana")
    decide(store, "globex", "Account", "Loyalty_Tier__c", Action.ACCEPT, reviewer="ben")


def test_decided_fields_become_review_labels(store: ReviewStore, tmp_path: Path) -> None:
    decide_some(store)
    report = store.export_labels(annotations_folder(tmp_path / "annotations"), exported_by="ana")
    assert (report.added, report.replaced, report.unchanged, report.conflicts) == (3, 0, 0, [])
    acme = {label.field: label for label in
            read_labels(tmp_path / "annotations" / "labels" / "acme.jsonl")}
    assert set(acme) == {"Annual_Rev__c", "Fax_Line__c"}  # deferred fields are not labels
    revenue = acme["Annual_Rev__c"]
    assert (revenue.concept, revenue.group, revenue.method) == (
        "account.annual_revenue", None, "review")
    assert revenue.annotator == "ana" and revenue.note == "standard revenue"
    decided_at = store.history("acme", "Account", "Annual_Rev__c")[0].decided_at
    assert revenue.labelled_at == decided_at
    assert (acme["Fax_Line__c"].concept, acme["Fax_Line__c"].group) == (None, None)
    assert acme["Fax_Line__c"].annotator == "ben"
    globex = read_labels(tmp_path / "annotations" / "labels" / "globex.jsonl")
    assert [(g.field, g.concept, g.group) for g in globex] == [
        ("Loyalty_Tier__c", None, "loyalty_tier")]
    assert [d["added"] for d in event_details(store, "labels")] == [3]


def test_existing_labels_are_kept_and_conflicts_reported(
    store: ReviewStore, tmp_path: Path
) -> None:
    decide_some(store)
    labels_file = tmp_path / "labels" / "acme.jsonl"
    hand = [
        FieldLabel(org="acme", object="Account", field="Annual_Rev__c",
                   concept="account.annual_revenue", annotator="carla"),
        FieldLabel(org="acme", object="Account", field="Fax_Line__c", concept="account.fax",
                   annotator="carla"),
        FieldLabel(org="acme", object="Account", field="Other__c", group="other",
                   annotator="carla"),
    ]
    write_labels(labels_file, hand)
    original = labels_file.read_text()

    report = store.export_labels(annotations_folder(tmp_path))
    assert (report.added, report.unchanged, report.replaced) == (1, 1, 0)  # globex is new
    assert [(c.field, c.existing_concept, c.decided_concept, c.existing_annotator)
            for c in report.conflicts] == [("Fax_Line__c", "account.fax", None, "carla")]
    assert labels_file.read_text() == original  # nothing changed behind carla's back

    replaced = store.export_labels(tmp_path, replace=True)
    assert (replaced.replaced, replaced.unchanged, replaced.conflicts) == (1, 2, [])
    by_field = {label.field: label for label in read_labels(labels_file)}
    assert by_field["Fax_Line__c"].concept is None
    assert by_field["Fax_Line__c"].method == "review"
    assert by_field["Annual_Rev__c"].annotator == "carla"  # identical label left alone
    assert by_field["Other__c"].group == "other"  # unrelated labels kept
