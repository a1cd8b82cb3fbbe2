"""Versioned DDL: a fresh database, an upgrade from version 1 with data in it, and databases
the code must refuse."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect, text

from fedcrm.errors import ConfigError
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology.models import Ontology
from fedcrm.review import SCHEMA_VERSION, Action, ReviewStore, Status, migrate
from fedcrm.review import migrations as migrations_module
from fedcrm.review.store import create_review_engine
from fedcrm.review.tables import Base

from ._helpers import decide


def describe_schema(path: Path) -> tuple[dict[str, list[tuple[str, str, bool]]], list[str]]:
    """(table → columns, trigger names) of a SQLite file."""
    engine = create_review_engine(path)
    try:
        inspector = inspect(engine)
        tables = {
            name: sorted((c["name"], str(c["type"]), c["nullable"])
                         for c in inspector.get_columns(name))
            for name in inspector.get_table_names()
        }
        with engine.connect() as conn:
            triggers = sorted(conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars())
        return tables, triggers
    finally:
        engine.dispose()


def fill_version_1(path: Path) -> None:
    """What fedcrm with review schema version 1 would have written: one import, one field,
    one decision, one audit entry (plain SQL, no current code involved)."""
    connection = sqlite3.connect(path)
    now = "2026-01-05T10:00:00.000000+00:00"
    candidates = json.dumps([{"concept": "account.industry", "score": 0.8,
                              "evidence": ["label matches"]}])
    with connection:
        connection.execute(
            "INSERT INTO import_batch VALUES (1, 'old.json', 'ab', 'm-old', 'o-old', ?, 'eve', "
            "'[\"old\"]', 2)", (now,))
        for number, (field, status) in enumerate(
                [("Industry__c", "approved"), ("Segment__c", "pending")], start=1):
            connection.execute(
                "INSERT INTO field_proposal (id, org, object, field, object_key, field_key, "
                "batch_id, present, candidates, proposed_concept, proposed_block, confidence, "
                "status, decided_concept, decided_block, last_decision_id, version, updated_at) "
                "VALUES (?, 'old', 'Account', ?, 'account', ?, 1, 1, ?, 'account.industry', "
                "'account.industry', 0.8, ?, ?, ?, ?, ?, ?)",
                (number, field, field.lower(), candidates, status,
                 "account.industry" if status == "approved" else None,
                 "account.industry" if status == "approved" else None,
                 1 if status == "approved" else None, 2 if status == "approved" else 1, now))
        connection.execute(
            "INSERT INTO decision VALUES (1, 1, 'accept', 'account.industry', "
            "'account.industry', NULL, 'eve', ?, 1, 2, 1, 'm-old', 'o-old', '{}')", (now,))
        connection.execute(
            "INSERT INTO audit_log (id, at, actor, event, org, object, field, field_id) "
            "VALUES (1, ?, 'eve', 'decision', 'old', 'Account', 'Industry__c', 1)", (now,))
    connection.close()


def test_fresh_database_gets_every_version(db_path: Path, ontology: Ontology) -> None:
    with ReviewStore(db_path, ontology=ontology) as store:
        assert store.applied_migrations == list(range(1, SCHEMA_VERSION + 1))
        assert store.schema_version == SCHEMA_VERSION


def test_orm_classes_match_the_migrated_schema(db_path: Path, ontology: Ontology) -> None:
    ReviewStore(db_path, ontology=ontology).close()
    tables, triggers = describe_schema(db_path)
    assert triggers == ["audit_log_no_delete", "audit_log_no_replace", "audit_log_no_update",
                        "decision_no_delete", "decision_no_replace", "decision_no_update"]
    for table in Base.metadata.sorted_tables:
        assert table.name in tables, table.name
        assert sorted(c.name for c in table.columns) == sorted(c[0] for c in tables[table.name])


def test_upgrade_from_version_1_keeps_data_and_matches_a_fresh_schema(
    tmp_path: Path, ontology: Ontology
) -> None:
    old = tmp_path / "old.db"
    engine = create_review_engine(old)
    assert migrate(engine, target=1) == [1]
    engine.dispose()
    assert "approved_export" not in describe_schema(old)[0]
    fill_version_1(old)

    with ReviewStore(old, ontology=ontology) as store:
        assert store.applied_migrations == [2, 3]
        kept = store.field("old", "Account", "Industry__c")
        assert kept.status is Status.APPROVED and kept.decided_concept == "account.industry"
        assert kept.last_decision is not None and kept.last_decision.reviewer == "eve"
        assert [e.actor for e in store.audit_log()] == ["eve"]
        # the upgraded store works: decide, export (a version 2 feature)
        decide(store, "old", "Account", "Segment__c", Action.NO_EQUIVALENT)
        result = store.export_approved(tmp_path / "m.json", exported_by="ana")
        assert result.version == 1
        mapping = MappingProposal.from_json(result.path)
        assert mapping.matcher_version == "m-old"
        assert mapping.org("old").field("Account", "Industry__c").concept == "account.industry"

    fresh = tmp_path / "fresh.db"
    ReviewStore(fresh, ontology=ontology).close()
    assert describe_schema(old) == describe_schema(fresh)


def test_upgrade_from_version_2_makes_the_log_refuse_insert_or_replace(
    tmp_path: Path, ontology: Ontology
) -> None:
    old = tmp_path / "old.db"
    engine = create_review_engine(old)
    assert migrate(engine, target=2) == [1, 2]
    engine.dispose()
    fill_version_1(old)  # version 2 only added a table: the same rows fit
    replace = ("INSERT OR REPLACE INTO audit_log (id, at, actor, event) "
               "VALUES (1, '1970-01-01T00:00:00+00:00', 'mallory', 'import')")
    with sqlite3.connect(old) as connection:  # what version 2 let through
        connection.execute(replace)
    with sqlite3.connect(old) as connection:
        assert connection.execute("SELECT actor FROM audit_log").fetchall() == [("mallory",)]

    with ReviewStore(old, ontology=ontology) as store:
        assert store.applied_migrations == [3]
    with sqlite3.connect(old) as connection:
        with pytest.raises(sqlite3.DatabaseError, match="audit_log is append-only"):
            connection.execute(replace.replace("mallory", "eve"))
        with pytest.raises(sqlite3.DatabaseError, match="decision is append-only"):
            connection.execute("REPLACE INTO decision SELECT * FROM decision")
    with sqlite3.connect(old) as connection:
        assert connection.execute("SELECT actor FROM audit_log").fetchall() == [("mallory",)]
        assert connection.execute("SELECT reviewer FROM decision").fetchall() == [("eve",)]
    fresh = tmp_path / "fresh.db"
    ReviewStore(fresh, ontology=ontology).close()
    assert describe_schema(old) == describe_schema(fresh)


def test_a_failing_migration_leaves_the_database_as_it_was(
    db_path: Path, ontology: Ontology, monkeypatch: pytest.MonkeyPatch
) -> None:
    ReviewStore(db_path, ontology=ontology).close()

    def broken(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (id INTEGER)"))
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(migrations_module, "MIGRATIONS",
                        (*migrations_module.MIGRATIONS, ("broken step", broken)))
    monkeypatch.setattr(migrations_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    engine = create_review_engine(db_path)
    with pytest.raises(RuntimeError, match="disk on fire"):
        migrate(engine, target=SCHEMA_VERSION + 1)
    engine.dispose()
    assert "half_done" not in describe_schema(db_path)[0]
    engine = create_review_engine(db_path)
    assert migrations_module.schema_version(engine) == SCHEMA_VERSION
    engine.dispose()


def test_a_newer_database_is_refused(db_path: Path, ontology: Ontology) -> None:
    ReviewStore(db_path, ontology=ontology).close()
    with sqlite3.connect(db_path) as connection:
        connection.execute("INSERT INTO schema_version VALUES (99, 'from the future', 'now')")
    with pytest.raises(ConfigError, match="version 99, newer than this fedcrm"):
        ReviewStore(db_path, ontology=ontology)


def test_a_foreign_database_is_refused(tmp_path: Path, ontology: Ontology) -> None:
    other = tmp_path / "crm.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(ConfigError, match="not a fedcrm review database"):
        ReviewStore(other, ontology=ontology)
    assert describe_schema(other)[0] == {"customers": [("id", "INTEGER", True)]}
