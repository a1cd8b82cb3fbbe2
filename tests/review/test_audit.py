"""The audit log: complete, append-only (in code and in the database), exportable."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import Executable, delete, insert, literal, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DatabaseError

from fedcrm.errors import ConfigError, MappingError
from fedcrm.review import Action, ReviewStore
from fedcrm.review.tables import AuditLog, Base, Decision

from ._helpers import MATCHER_VERSION, decide


def test_every_decision_records_who_when_what_and_versions(
    store: ReviewStore, ontology: object
) -> None:
    decide(store, "acme", "Account", "Emp_Count__c", Action.CHOOSE, reviewer="ben",
           concept="account.seats_purchased", comment="licences, not people")
    entries = store.audit_log()
    assert [e.event for e in entries] == ["import", "decision"]
    entry = entries[-1]
    assert entry.actor == "ben"
    assert entry.at.endswith("+00:00") and entry.at > entries[0].at
    assert (entry.org, entry.object, entry.field) == ("acme", "Account", "Emp_Count__c")
    assert entry.before == {"status": "pending", "concept": None, "block": None,
                            "proposed_concept": "account.number_of_employees",
                            "proposed_block": "account.number_of_employees"}
    assert entry.after == {"status": "approved", "concept": "account.seats_purchased",
                           "block": "account.seats_purchased"}
    assert entry.matcher_version == MATCHER_VERSION
    assert entry.ontology_version == store.ontology.version
    assert entry.comment == "licences, not people"
    assert entry.details is not None
    assert entry.details["rejected"] == ["account.number_of_employees"]
    assert (entry.details["seen_version"], entry.details["new_version"]) == (1, 2)
    record = store.history("acme", "Account", "Emp_Count__c")[0]
    assert record.matcher_version == MATCHER_VERSION and record.reviewer == "ben"
    assert record.previous["status"] == "pending"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'mallory'",
    "DELETE FROM audit_log",
    "UPDATE decision SET reviewer = 'mallory'",
    "DELETE FROM decision",
    # REPLACE deletes the old row without firing DELETE triggers: a BEFORE INSERT one refuses
    "INSERT OR REPLACE INTO audit_log (id, at, actor, event) "
    "VALUES (1, '1970-01-01T00:00:00+00:00', 'mallory', 'import')",
    "REPLACE INTO decision (id, field_id, action, reviewer, decided_at, seen_version, "
    "new_version, batch_id, matcher_version, ontology_version, previous) "
    "SELECT id, field_id, 'no_equivalent', 'mallory', decided_at, seen_version, new_version, "
    "batch_id, matcher_version, ontology_version, previous FROM decision",
    "INSERT INTO audit_log (id, at, actor, event) VALUES (1, 'now', 'mallory', 'import') "
    "ON CONFLICT (id) DO UPDATE SET actor = excluded.actor",
])
def test_the_database_refuses_to_change_the_log(store: ReviewStore, statement: str) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    before = store.audit_log()
    with pytest.raises(DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(text(statement))
    assert store.audit_log() == before
    history = store.history("acme", "Account", "Annual_Rev__c")
    assert [(d.reviewer, d.action) for d in history] == [("ana", Action.ACCEPT)]


def test_the_session_refuses_to_change_the_log(store: ReviewStore) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    with pytest.raises(MappingError, match="append-only"), store.session() as session:
        session.execute(update(AuditLog).values(actor="mallory"))
    with pytest.raises(MappingError, match="append-only"), store.session() as session:
        session.execute(delete(Decision))
    with pytest.raises(MappingError, match="append-only"), store.session() as session:
        entry = session.get_one(AuditLog, 1)
        entry.actor = "mallory"
        session.flush()
    with pytest.raises(MappingError, match="append-only"), store.session() as session:
        session.delete(session.get_one(Decision, 1))
        session.flush()
    assert {e.actor for e in store.audit_log()} == {"importer", "ana"}


@pytest.mark.parametrize("statement", [
    insert(AuditLog).prefix_with("OR REPLACE").values(
        id=1, at="1970-01-01T00:00:00+00:00", actor="mallory", event="import"),
    insert(Base.metadata.tables["audit_log"]).prefix_with("OR REPLACE").values(
        id=1, at="1970-01-01T00:00:00+00:00", actor="mallory", event="import"),
    sqlite_insert(AuditLog).values(id=1, at="now", actor="mallory", event="import")
    .on_conflict_do_update(index_elements=["id"], set_={"actor": "mallory"}),
    insert(Decision).prefix_with("OR REPLACE").from_select(
        ["id", "field_id", "action", "reviewer", "decided_at", "seen_version", "new_version",
         "batch_id", "matcher_version", "ontology_version", "previous"],
        select(Decision.id, Decision.field_id, literal("no_equivalent"), literal("mallory"),
               Decision.decided_at, Decision.seen_version, Decision.new_version,
               Decision.batch_id, Decision.matcher_version, Decision.ontology_version,
               Decision.previous)),
], ids=["audit-or-replace", "audit-table-or-replace", "audit-on-conflict",
        "decision-or-replace"])
def test_the_session_refuses_inserts_that_replace_log_rows(
    store: ReviewStore, statement: Executable
) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    before = store.audit_log()
    with pytest.raises(MappingError, match="append-only.*OR REPLACE"), \
            store.session() as session:
        session.execute(statement)
    assert store.audit_log() == before
    history = store.history("acme", "Account", "Annual_Rev__c")
    assert [(d.reviewer, d.action) for d in history] == [("ana", Action.ACCEPT)]
    with store.session() as session:  # plain inserts still work
        session.execute(insert(AuditLog).values(at="now", actor="ana", event="note"))
    assert [e.event for e in store.audit_log()] == ["import", "decision", "note"]


def test_audit_log_exports_as_jsonl_and_csv(store: ReviewStore, tmp_path: Path) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT, comment='says "yes"')
    decide(store, "acme", "Account", "Fax_Line__c", Action.NO_EQUIVALENT, reviewer="ben")
    store.export_approved(tmp_path / "m.json", exported_by="ana")
    assert store.export_audit(tmp_path / "audit.jsonl") == 4
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["import", "decision", "decision", "export"]
    assert lines[2]["actor"] == "ben" and lines[2]["after"]["status"] == "no_equivalent"

    assert store.export_audit(tmp_path / "audit.csv", format="csv") == 4
    with (tmp_path / "audit.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[1]["comment"] == 'says "yes"' and rows[1]["actor"] == "ana"
    assert json.loads(rows[1]["after"])["concept"] == "account.annual_revenue"
    assert rows[0]["org"] == "" and rows[3]["event"] == "export"
    # what people typed opens as text in a spreadsheet, never as a formula
    decide(store, "acme", "Account", "Emp_Count__c", Action.DEFER,
           reviewer="=cmd|' /C calc'!A0", comment="@SUM(1+1)")
    store.export_audit(tmp_path / "audit2.csv", format="csv")
    with (tmp_path / "audit2.csv").open(newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert (last["actor"], last["comment"]) == ("'=cmd|' /C calc'!A0", "'@SUM(1+1)")
    with pytest.raises(ConfigError, match="jsonl"):
        store.export_audit(tmp_path / "audit.xml", format="xml")


def test_audit_log_is_ordered_and_can_be_read_incrementally(store: ReviewStore) -> None:
    decide(store, "acme", "Account", "Annual_Rev__c", Action.ACCEPT)
    first = store.audit_log()
    decide(store, "acme", "Account", "Sector__c", Action.DEFER)
    newer = store.audit_log(since_id=first[-1].id)
    assert [e.field for e in newer] == ["Sector__c"]
    ids = [e.id for e in store.audit_log()]
    assert ids == sorted(ids)
