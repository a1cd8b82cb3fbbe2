"""Versioned DDL for the review database, applied when a store is opened.

Each migration is a function that takes the database from version ``n - 1`` to ``n``; the
list only ever grows (never edit a released step, add a new one). Steps declare their own
tables instead of using the ORM classes, so that what version 1 creates never changes when
the ORM moves on. ``schema_version`` holds one row per applied step.

Version history:

1. proposals, import batches, decisions, rejections and the audit log; decisions and the
   audit log refuse UPDATE and DELETE (triggers on SQLite and PostgreSQL).
2. ``approved_export``: the numbered history of exported approved mappings.
3. decisions and the audit log also refuse an INSERT that would replace an existing row
   (SQLite's ``INSERT OR REPLACE`` deletes the old row without firing DELETE triggers).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)

from fedcrm.errors import ConfigError
from fedcrm.review._util import utc_now

Migration = Callable[[Connection], None]

#: tables that may only be inserted into
APPEND_ONLY_TABLES = ("decision", "audit_log")


def _append_only_triggers(conn: Connection, table: str) -> None:
    """Make the database itself refuse UPDATE and DELETE on ``table``."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )
    elif dialect == "postgresql":
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION fedcrm_review_append_only() RETURNS trigger AS $$ "
            # no '%' placeholders: DB-API drivers would take them for parameters
            "BEGIN RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || "
            "TG_OP || ' refused'; END; "
            "$$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION fedcrm_review_append_only()"
        )
    # other databases: the session-level guard in fedcrm.review.store still refuses it


def _no_replace_trigger(conn: Connection, table: str) -> None:
    """Make the database refuse an INSERT into ``table`` that reuses an existing ``id``.

    SQLite resolves ``INSERT OR REPLACE`` (and ``REPLACE INTO``) by deleting the old row
    without firing DELETE triggers (unless ``recursive_triggers`` is on), so the version 1
    triggers let an append-only row be overwritten; a BEFORE INSERT trigger runs before the
    conflict is resolved. PostgreSQL needs nothing more: it has no REPLACE, and ``INSERT …
    ON CONFLICT DO UPDATE`` fires the BEFORE UPDATE trigger of version 1.
    """
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: REPLACE refused'); END"
        )
    # other databases: the session-level guard in fedcrm.review.store still refuses it


def _v1_core(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "schema_version", metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", String(200), nullable=False),
        Column("applied_at", String(40), nullable=False),
    )
    Table(
        "import_batch", metadata,
        Column("id", Integer, primary_key=True),
        Column("source", String(500), nullable=False),
        Column("source_sha256", String(64), nullable=False),
        Column("matcher_version", String(200), nullable=False),
        Column("ontology_version", String(200), nullable=False),
        Column("imported_at", String(40), nullable=False),
        Column("imported_by", String(200), nullable=False),
        Column("orgs", JSON, nullable=False),
        Column("n_fields", Integer, nullable=False),
    )
    Table(
        "field_proposal", metadata,
        Column("id", Integer, primary_key=True),
        Column("org", String(200), nullable=False),
        Column("object", String(200), nullable=False),
        Column("field", String(200), nullable=False),
        Column("object_key", String(200), nullable=False),
        Column("field_key", String(200), nullable=False),
        Column("batch_id", Integer, ForeignKey("import_batch.id"), nullable=False),
        Column("present", Boolean, nullable=False),
        Column("fingerprint", String(64)),
        Column("label", Text),
        Column("description", Text),
        Column("kind", String(40)),
        Column("profile", JSON),
        Column("candidates", JSON, nullable=False),
        Column("proposed_concept", String(200)),
        Column("proposed_block", String(200)),
        Column("confidence", Float, nullable=False),
        Column("status", String(20), nullable=False),
        Column("decided_concept", String(200)),
        Column("decided_block", String(200)),
        Column("last_decision_id", Integer),
        Column("prior_decision_id", Integer),
        Column("version", Integer, nullable=False),
        Column("updated_at", String(40), nullable=False),
        UniqueConstraint("org", "object_key", "field_key"),
    )
    Table(
        "decision", metadata,
        Column("id", Integer, primary_key=True),
        Column("field_id", Integer, ForeignKey("field_proposal.id"), nullable=False),
        Column("action", String(20), nullable=False),
        Column("concept", String(200)),
        Column("block", String(200)),
        Column("comment", Text),
        Column("reviewer", String(200), nullable=False),
        Column("decided_at", String(40), nullable=False),
        Column("seen_version", Integer, nullable=False),
        Column("new_version", Integer, nullable=False),
        Column("batch_id", Integer, ForeignKey("import_batch.id"), nullable=False),
        Column("matcher_version", String(200), nullable=False),
        Column("ontology_version", String(200), nullable=False),
        Column("previous", JSON, nullable=False),
        Index("ix_decision_field", "field_id"),
    )
    Table(
        "rejection", metadata,
        Column("id", Integer, primary_key=True),
        Column("field_id", Integer, ForeignKey("field_proposal.id"), nullable=False),
        Column("concept", String(200), nullable=False),
        Column("decision_id", Integer, ForeignKey("decision.id"), nullable=False),
        Column("reviewer", String(200), nullable=False),
        Column("rejected_at", String(40), nullable=False),
        UniqueConstraint("field_id", "concept"),
    )
    Table(
        "audit_log", metadata,
        Column("id", Integer, primary_key=True),
        Column("at", String(40), nullable=False),
        Column("actor", String(200), nullable=False),
        Column("event", String(40), nullable=False),
        Column("org", String(200)),
        Column("object", String(200)),
        Column("field", String(200)),
        Column("field_id", Integer),
        Column("before", JSON),
        Column("after", JSON),
        Column("matcher_version", String(200)),
        Column("ontology_version", String(200)),
        Column("comment", Text),
        Column("details", JSON),
    )
    metadata.create_all(conn)
    for table in APPEND_ONLY_TABLES:
        _append_only_triggers(conn, table)


def _v2_export_history(conn: Connection) -> None:
    metadata = MetaData()
    Table(
        "approved_export", metadata,
        Column("id", Integer, primary_key=True),
        Column("version", Integer, nullable=False, unique=True),
        Column("exported_at", String(40), nullable=False),
        Column("exported_by", String(200), nullable=False),
        Column("path", String(1000), nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("approved_only", Boolean, nullable=False),
        Column("n_fields", Integer, nullable=False),
    )
    metadata.create_all(conn)


def _v3_no_replace(conn: Connection) -> None:
    for table in APPEND_ONLY_TABLES:
        _no_replace_trigger(conn, table)


#: (description, step); step ``i`` (0-based) takes the database to version ``i + 1``
MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("proposals, decisions, rejections, append-only audit log", _v1_core),
    ("history of exported approved mappings", _v2_export_history),
    ("append-only tables refuse INSERT OR REPLACE", _v3_no_replace),
)
#: the schema version this code writes
SCHEMA_VERSION = len(MIGRATIONS)


#: execution option of a read-only transaction: SQLite begins it without the write lock
READ_ONLY = "fedcrm_read_only"


def _version_in(conn: Connection, where: str) -> int:
    inspector = inspect(conn)
    if not inspector.has_table("schema_version"):
        others = sorted(inspector.get_table_names())
        if others:
            raise ConfigError(
                f"{where} is not a fedcrm review database (it has tables {others[:5]} but no "
                "schema_version); give another --db or --url"
            )
        return 0
    value = conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(value or 0)


def schema_version(engine: Engine) -> int:
    """The schema version of the database behind ``engine`` (0 when empty); a read, without
    the write lock."""
    with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
        return _version_in(conn, engine.url.render_as_string(hide_password=True))


def migrate(engine: Engine, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring the database up to ``target`` and return the versions applied.

    All steps run in one transaction, so a failing step leaves the database as it was. A
    database newer than this code is refused rather than guessed at. A database already at
    ``target`` is only read (no write lock), so opening a review never waits for a writer.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ConfigError(f"schema version must be between 0 and {SCHEMA_VERSION}, not {target}")
    where = engine.url.render_as_string(hide_password=True)
    with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
        if _version_in(conn, where) == target:
            return []
    applied: list[int] = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # two processes opening a fresh database at once must not both create the tables
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7346123)")
        current = _version_in(conn, where)
        if current > SCHEMA_VERSION:
            raise ConfigError(
                f"{where} has review schema version {current}, newer than this fedcrm "
                f"understands ({SCHEMA_VERSION}); upgrade fedcrm to open it"
            )
        for version in range(current + 1, target + 1):
            description, step = MIGRATIONS[version - 1]
            step(conn)
            conn.execute(
                text(
                    "INSERT INTO schema_version (version, description, applied_at) "
                    "VALUES (:version, :description, :applied_at)"
                ),
                {"version": version, "description": description, "applied_at": utc_now()},
            )
            applied.append(version)
    return applied
