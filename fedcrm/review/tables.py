"""ORM mapping of the review database.

The tables themselves are created and changed only by :mod:`fedcrm.review.migrations`
(versioned DDL); these classes describe the latest schema version and must agree with it
(a test compares them). ``Decision`` and ``AuditLog`` rows are append-only: the session
refuses to update or delete them, and the database refuses it too (triggers).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the review tables."""


class SchemaVersion(Base):
    """One applied migration."""

    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    description: Mapped[str] = mapped_column(String(200))
    applied_at: Mapped[str] = mapped_column(String(40))


class ImportBatch(Base):
    """One imported ``fedcrm match`` result."""

    __tablename__ = "import_batch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(500))
    source_sha256: Mapped[str] = mapped_column(String(64))
    matcher_version: Mapped[str] = mapped_column(String(200))
    ontology_version: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[str] = mapped_column(String(40))
    imported_by: Mapped[str] = mapped_column(String(200))
    orgs: Mapped[list[str]] = mapped_column(JSON)
    n_fields: Mapped[int] = mapped_column(Integer)


class FieldProposal(Base):
    """One field of one org: its latest proposal, metadata and review state."""

    __tablename__ = "field_proposal"
    __table_args__ = (UniqueConstraint("org", "object_key", "field_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org: Mapped[str] = mapped_column(String(200))
    object: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(200))
    object_key: Mapped[str] = mapped_column(String(200))
    field_key: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))
    present: Mapped[bool] = mapped_column(Boolean)
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    label: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str | None] = mapped_column(String(40), nullable=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    proposed_concept: Mapped[str | None] = mapped_column(String(200), nullable=True)
    proposed_block: Mapped[str | None] = mapped_column(String(200), nullable=True)
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))
    decided_concept: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_block: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prior_decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[str] = mapped_column(String(40))


class Decision(Base):
    """One reviewer decision (append-only)."""

    __tablename__ = "decision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("field_proposal.id"))
    action: Mapped[str] = mapped_column(String(20))
    concept: Mapped[str | None] = mapped_column(String(200), nullable=True)
    block: Mapped[str | None] = mapped_column(String(200), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[str] = mapped_column(String(40))
    seen_version: Mapped[int] = mapped_column(Integer)
    new_version: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id"))
    matcher_version: Mapped[str] = mapped_column(String(200))
    ontology_version: Mapped[str] = mapped_column(String(200))
    previous: Mapped[dict[str, Any]] = mapped_column(JSON)


class Rejection(Base):
    """A concept a reviewer ruled out for a field: never proposed for it again."""

    __tablename__ = "rejection"
    __table_args__ = (UniqueConstraint("field_id", "concept"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    field_id: Mapped[int] = mapped_column(ForeignKey("field_proposal.id"))
    concept: Mapped[str] = mapped_column(String(200))
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"))
    reviewer: Mapped[str] = mapped_column(String(200))
    rejected_at: Mapped[str] = mapped_column(String(40))


class AuditLog(Base):
    """One audit event (append-only): imports, decisions, flags, exports."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(40))
    org: Mapped[str | None] = mapped_column(String(200), nullable=True)
    object: Mapped[str | None] = mapped_column(String(200), nullable=True)
    field: Mapped[str | None] = mapped_column(String(200), nullable=True)
    field_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    matcher_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ontology_version: Mapped[str | None] = mapped_column(String(200), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ApprovedExport(Base):
    """One exported approved mapping (schema version 2)."""

    __tablename__ = "approved_export"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    exported_at: Mapped[str] = mapped_column(String(40))
    exported_by: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    approved_only: Mapped[bool] = mapped_column(Boolean)
    n_fields: Mapped[int] = mapped_column(Integer)


#: tables whose rows may only ever be inserted
APPEND_ONLY = (Decision, AuditLog)


def rejections_by_field(session: Session, field_ids: list[int]) -> dict[int, set[str]]:
    """Field id → the concepts rejected for it."""
    found: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(field_ids), 500):
        chunk = field_ids[start:start + 500]
        for field_id, concept in session.execute(
            select(Rejection.field_id, Rejection.concept).where(Rejection.field_id.in_(chunk))
        ):
            found[field_id].add(concept)
    return found
