"""The review store: proposals, decisions, rejections and the audit log in a SQL database.

SQLite (a file) by default, any SQLAlchemy URL by option. Opening a store applies the schema
migrations it lacks. Every decision is a compare-and-swap on the field's ``version``: a
reviewer who decided on a version that has since changed gets a
:class:`~fedcrm.review.errors.StaleVersionError` instead of silently overwriting someone else.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Engine, create_engine, delete, event, func, select, update
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.session import ORMExecuteState
from sqlalchemy.pool import StaticPool

from fedcrm._files import undecodable_at
from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import GROUP_PATTERN, FieldLabel
from fedcrm.matching.proposal import CUSTOM_BLOCK_PREFIX, MappingProposal
from fedcrm.ontology import load_ontology
from fedcrm.ontology.models import Ontology
from fedcrm.review._util import sha256_hex, utc_now
from fedcrm.review.errors import ReviewBusy, StaleVersionError, UnknownFieldError
from fedcrm.review.exporting import decided_labels, export_approved, export_audit, export_labels
from fedcrm.review.fingerprint import field_fingerprint
from fedcrm.review.impact import default_impact_weights, field_impact, priority
from fedcrm.review.migrations import READ_ONLY, migrate, schema_version
from fedcrm.review.models import (
    Action,
    AuditEntry,
    CandidateView,
    DecisionRecord,
    DecisionRequest,
    ExportResult,
    FieldView,
    ImportReport,
    LabelExportReport,
    Progress,
    Status,
    Tier,
)
from fedcrm.review.tables import (
    APPEND_ONLY,
    AuditLog,
    Decision,
    FieldProposal,
    ImportBatch,
    Rejection,
    rejections_by_field,
)
from fedcrm.schema.models import FieldMeta, FieldProfile, OrgSchema

#: where ``fedcrm review`` keeps its database unless told otherwise
DEFAULT_DB = Path(".fedcrm") / "review.db"
#: SQLite waits this long for another writer before giving up
SQLITE_BUSY_TIMEOUT_S = 30.0
_APPEND_ONLY_TABLE_NAMES = frozenset(table.__tablename__ for table in APPEND_ONLY)
_QUEUE_GROUPS = {Status.NEEDS_REVIEW: 0, Status.PENDING: 1, Status.DEFERRED: 2}


class _ReviewSession(Session):
    """A session that refuses to change append-only rows (the database refuses it too)."""


@event.listens_for(_ReviewSession, "before_flush")
def _refuse_append_only_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, APPEND_ONLY):
            raise MappingError(f"{obj.__tablename__} is append-only: rows cannot be deleted")
    for obj in session.dirty:
        if isinstance(obj, APPEND_ONLY) and session.is_modified(obj):
            raise MappingError(f"{obj.__tablename__} is append-only: rows cannot be changed")


@event.listens_for(_ReviewSession, "do_orm_execute")
def _refuse_append_only_statements(state: ORMExecuteState) -> None:
    if state.is_insert:
        _refuse_replacing_insert(state)
        return
    if not (state.is_update or state.is_delete):
        return
    for mapper in state.all_mappers:
        if mapper.class_ in APPEND_ONLY:
            raise MappingError(
                f"{mapper.class_.__tablename__} is append-only: UPDATE and DELETE are refused"
            )


def _refuse_replacing_insert(state: ORMExecuteState) -> None:
    """Refuse ``INSERT OR REPLACE`` and ``INSERT … ON CONFLICT`` (or ``ON DUPLICATE KEY``)
    into an append-only table: they overwrite an existing row instead of adding one."""
    statement = state.statement
    table_name = getattr(getattr(statement, "table", None), "name", None)
    if table_name not in _APPEND_ONLY_TABLE_NAMES:
        return
    # SQLAlchemy keeps prefix_with() clauses in _prefixes and the dialects' on_conflict_*()
    # and on_duplicate_key_update() clauses in _post_values_clause; neither has a public
    # accessor
    prefixes = " ".join(str(prefix) for prefix, _dialect in getattr(statement, "_prefixes", ()))
    if "REPLACE" in prefixes.upper() or getattr(statement, "_post_values_clause", None) \
            is not None:
        raise MappingError(
            f"{table_name} is append-only: an INSERT with a conflict clause (OR REPLACE, "
            "ON CONFLICT, ON DUPLICATE KEY) is refused; insert new rows only"
        )


def database_url(location: str | Path | None = None) -> str:
    """A SQLAlchemy URL for ``location``: a URL as given, or a SQLite file path."""
    if location is None:
        location = DEFAULT_DB
    text = str(location)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


def create_review_engine(location: str | Path | None = None, *, create: bool = True) -> Engine:
    """An engine for the review database at ``location`` (SQLite path or SQLAlchemy URL).

    SQLite gets a write-ahead log, a busy timeout and ``BEGIN IMMEDIATE`` transactions, so
    concurrent reviewers queue for the write lock instead of failing half-way. With
    ``create=False`` a SQLite file that does not exist is refused instead of created (a
    database server's URL cannot be checked that way and is used as given).
    """
    try:
        url = make_url(database_url(location))
    except (ArgumentError, ValueError) as exc:
        # the URL may hold a password (FEDCRM_REVIEW_URL ends up in CI logs)
        shown = re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", str(location))
        raise ConfigError(f"invalid database URL {shown!r}: "
                          f"{str(exc).replace(str(location), shown)}") from exc
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:
            raise ConfigError(
                f"cannot use database {url.render_as_string(hide_password=True)}: {exc} "
                "(is its driver installed?)"
            ) from exc
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(url)
    # a file: URI (?uri=true) names its file in a form a Path cannot check
    checkable = not in_memory and "uri" not in url.query
    if checkable and not create and not Path(database).exists():
        raise ConfigError(f"no review database at {database}; run `fedcrm review import` "
                          "first (or check the --db path)")
    if checkable and not create and Path(database).is_file() \
            and Path(database).stat().st_size == 0:
        # a mistyped --db naming an empty file: opening it would write SQLite's header
        raise ConfigError(f"{database} is not a review database (it is empty); run `fedcrm "
                          "review import` first (or check the --db path)")
    if checkable:  # a file: URI's path is not a folder path (mkdir made 'file:/tmp/...' here)
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the folder {folder} for the review database {database}: "
                f"{exc.strerror or exc}; give a --db path in a folder you can write to"
            ) from exc
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        poolclass=StaticPool if in_memory else None,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy, not the sqlite3 module, decide when transactions begin
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # take the write lock up front: a transaction that read first and writes later
        # would otherwise fail with "database is locked" instead of waiting its turn; reads
        # (READ_ONLY) take no lock, so in WAL mode they never wait for a writer
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _locked(error: DBAPIError) -> bool:
    """Whether a driver error says the database is locked (SQLite's busy timeout ran out)."""
    text = str(error.orig).lower()
    return "database is locked" in text or "database is busy" in text


def _field_key(org: str, sobject: str, field: str) -> tuple[str, str, str]:
    return (org, sobject.lower(), field.lower())


def _proposal_state(row: FieldProposal) -> dict[str, Any]:
    return {"status": row.status, "concept": row.decided_concept, "block": row.decided_block}


class ReviewStore:
    """Proposals, decisions and the audit log of one federation's mapping review.

    ``location`` is a SQLite file path (default ``.fedcrm/review.db``) or any SQLAlchemy URL
    (``postgresql+psycopg://…``). Concept ids are checked against ``ontology`` (default: the
    shipped one); ``impact_weights`` (concept id → weight) overrides the queue's default
    weights (see :mod:`fedcrm.review.impact`). ``create=False`` opens an existing review only:
    a SQLite file that does not exist, or is empty, raises :class:`~fedcrm.errors.ConfigError`
    and nothing is created or written (for readers, which would otherwise show a typo'd path
    as an empty review).
    """

    def __init__(
        self,
        location: str | Path | None = None,
        *,
        ontology: Ontology | None = None,
        impact_weights: Mapping[str, float] | None = None,
        create: bool = True,
    ) -> None:
        self.url = database_url(location)
        self.engine = create_review_engine(location, create=create)
        try:
            self.applied_migrations = migrate(self.engine)
        except DBAPIError as exc:
            # OperationalError (a folder, no permission, server down) and DatabaseError
            # (SQLite's "file is not a database") alike
            self.engine.dispose()
            if _locked(exc):
                raise ReviewBusy(
                    f"the review database {self.describe()} is busy: another process held its "
                    f"write lock for more than {SQLITE_BUSY_TIMEOUT_S:g} s while it was being "
                    "opened; try again when it is done"
                ) from exc
            hint = (" (if the file is fine, its folder may be read-only: SQLite writes its "
                    "-wal and -shm files beside the database)"
                    if "unable to open" in str(exc.orig) else "")
            raise ConfigError(
                f"cannot open the review database {self.describe()}: {exc.orig}{hint}; give "
                "the path of a review database or of a new file (--db), or a database URL "
                "(--url)"
            ) from exc
        self.ontology = ontology if ontology is not None else load_ontology()
        self._concepts = {c.id: c for c in self.ontology.concepts}
        self.impact_weights = dict(
            impact_weights if impact_weights is not None
            else default_impact_weights(self.ontology)
        )
        self._sessions = sessionmaker(self.engine, class_=_ReviewSession, expire_on_commit=False)
        self._reads = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                   class_=_ReviewSession, expire_on_commit=False)

    # -- plumbing ---------------------------------------------------------------------------

    def describe(self) -> str:
        """The database location, without any password."""
        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def schema_version(self) -> int:
        """The database's schema version."""
        return schema_version(self.engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction, committed on success (for advanced use and tests).

        On SQLite it holds the write lock until it ends, so do not call other store methods
        that write from inside it.
        """
        with self._transaction() as session:
            yield session

    @contextlib.contextmanager
    def _transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """One transaction; a database still locked after the busy timeout is a
        :class:`ReviewBusy` error, not a driver traceback."""
        maker = self._reads if read_only else self._sessions
        try:
            with maker.begin() as session:
                yield session
        except OperationalError as exc:
            if not _locked(exc):
                raise self._driver_error(exc) from exc
            raise ReviewBusy(
                f"the review database {self.describe()} is busy: another process held its "
                f"write lock for more than {SQLITE_BUSY_TIMEOUT_S:g} s; nothing was changed, "
                "try again when it is done"
            ) from exc
        except DBAPIError as exc:  # e.g. "database disk image is malformed"
            raise self._driver_error(exc) from exc

    def _driver_error(self, exc: DBAPIError) -> ConfigError:
        """A database error the reviewer can act on, naming the database (nothing changed:
        the transaction was rolled back)."""
        reason = str(exc.orig)
        if "readonly" in reason.replace("-", "").replace(" ", ""):
            advice = "make the file (and its folder) writable, or work on a copy"
        elif "malformed" in reason or "not a database" in reason:
            advice = "restore it from a backup or an exported mapping"
        else:
            advice = "check the database and try again"
        return ConfigError(f"the review database {self.describe()}: {reason}; nothing was "
                           f"changed; {advice}")

    # -- import -----------------------------------------------------------------------------

    def import_proposal(
        self,
        source: MappingProposal | str | Path,
        *,
        schemas: Mapping[str, OrgSchema] | Iterable[OrgSchema] = (),
        imported_by: str,
    ) -> ImportReport:
        """Import a ``fedcrm match`` result (a file or a :class:`MappingProposal`).

        ``schemas`` (the orgs' metadata, keyed by org id or carrying it) add each field's label,
        description, type and value profile, and the metadata fingerprint that tells a re-match
        which fields changed. Decided fields whose fingerprint is unchanged keep their
        decision; changed ones become ``needs_review`` with the old decision kept for display.
        Concepts rejected for a field are dropped from its candidates; a rejected proposal is
        withdrawn. Fields of an imported org that are missing from the new mapping are marked
        removed (their history stays).
        """
        try:
            proposal, source_name, source_sha = _read_proposal(source)
        except MappingError:
            # a field mapped to a concept the ontology lacks also breaks the rule that its
            # block is its concept; the unknown concept is the thing to say
            self._check_raw_concepts(source)
            raise
        schema_by_org = self._schemas_by_org(schemas, proposal)
        self._check_proposal_concepts(proposal, source_name)
        now = utc_now()
        org_ids = [org.org for org in proposal.orgs]
        flagged: list[str] = []
        withdrawn: list[str] = []
        removed: list[str] = []
        n_new = n_kept = n_unverified = n_unverified_earlier = 0
        with self._transaction() as session:
            batch = ImportBatch(
                source=source_name[:500], source_sha256=source_sha,
                matcher_version=proposal.matcher_version,
                ontology_version=proposal.ontology_version, imported_at=now,
                imported_by=imported_by, orgs=org_ids,
                n_fields=sum(len(org.fields) for org in proposal.orgs),
            )
            session.add(batch)
            session.flush()
            existing = {
                (row.org, row.object_key, row.field_key): row
                # server databases: lock the rows so a decision committed meanwhile is not
                # overwritten (SQLite's BEGIN IMMEDIATE already serialises whole transactions)
                for row in session.scalars(
                    select(FieldProposal).where(FieldProposal.org.in_(org_ids)).with_for_update()
                )
            }
            rejected = rejections_by_field(session, [row.id for row in existing.values()])
            for org_id, mapping in proposal.iter_fields():
                name = f"{org_id} {mapping.object}.{mapping.field}"
                meta = _field_meta(schema_by_org.get(org_id), org_id, mapping.object,
                                   mapping.field)
                row = existing.pop(_field_key(org_id, mapping.object, mapping.field), None)
                ruled_out = rejected.get(row.id, set()) if row is not None else set()
                candidates = [
                    c.model_dump(mode="json") for c in mapping.candidates
                    if c.concept not in ruled_out
                ]
                concept, block, confidence = mapping.concept, mapping.block, mapping.confidence
                if concept is not None and concept in ruled_out:
                    # the matcher insists on a concept a steward ruled out: do not propose it;
                    # like the matcher's own abstentions, confidence is P(no candidate fits)
                    assert row is not None  # rejections exist only for known fields
                    session.add(self._audit_row(
                        now, imported_by, "withdraw", row, before={"proposed": concept},
                        after={"proposed": None}, batch=batch,
                        comment="the matcher proposed a concept a decision ruled out"))
                    concept, block, confidence = None, None, _abstention_confidence(candidates)
                    withdrawn.append(name)
                values: dict[str, Any] = {
                    "batch_id": batch.id, "present": True, "candidates": candidates,
                    "proposed_concept": concept, "proposed_block": block,
                    "confidence": confidence,
                }
                if meta is not None:
                    values.update(
                        fingerprint=field_fingerprint(meta), label=meta.label,
                        description=meta.description, kind=meta.kind.value,
                        profile=meta.profile.model_dump(mode="json") if meta.profile else None,
                    )
                if row is None:
                    session.add(FieldProposal(
                        org=org_id, object=mapping.object, field=mapping.field,
                        object_key=mapping.object.lower(), field_key=mapping.field.lower(),
                        status=Status.PENDING.value, version=1, updated_at=now,
                        **{"fingerprint": None, "label": None, "description": None,
                           "kind": None, "profile": None, **values},
                    ))
                    n_new += 1
                    continue
                if not row.present:
                    # back in the mapping after an import that left it out
                    session.add(self._audit_row(
                        now, imported_by, "restore", row,
                        before={**_proposal_state(row), "present": False},
                        after={**_proposal_state(row), "present": True}, batch=batch,
                        comment="in the imported mapping again"))
                new_fingerprint = values.get("fingerprint")
                if new_fingerprint is None or row.fingerprint is None:
                    n_unverified += 1
                    n_unverified_earlier += new_fingerprint is not None
                changed = (
                    new_fingerprint is not None and row.fingerprint is not None
                    and new_fingerprint != row.fingerprint
                )
                status = Status(row.status)
                if status.decided and changed:
                    values.update(status=Status.NEEDS_REVIEW.value, decided_concept=None,
                                  decided_block=None, prior_decision_id=row.last_decision_id)
                    flagged.append(name)
                    session.add(self._audit_row(
                        now, imported_by, "flag", row, before=_proposal_state(row),
                        after={"status": Status.NEEDS_REVIEW.value, "concept": None,
                               "block": None},
                        batch=batch, comment="metadata changed since the last decision",
                    ))
                elif status.decided:
                    n_kept += 1
                elif status is Status.DEFERRED and changed:
                    values["status"] = Status.PENDING.value
                if any(getattr(row, key) != value for key, value in values.items()
                       if key != "batch_id"):
                    for key, value in values.items():
                        setattr(row, key, value)
                    row.version += 1
                    row.updated_at = now
                else:
                    row.batch_id = batch.id
            for row in existing.values():
                if row.present:
                    # one entry per field: a decided field leaving the approved mapping (or
                    # coming back, "restore" above) is named, not only counted
                    session.add(self._audit_row(
                        now, imported_by, "remove", row,
                        before={**_proposal_state(row), "present": True},
                        after={**_proposal_state(row), "present": False}, batch=batch,
                        comment="not in the imported mapping"))
                    row.present = False
                    row.version += 1
                    row.updated_at = now
                    removed.append(f"{row.org} {row.object}.{row.field}")
            report = ImportReport(
                batch_id=batch.id, source=source_name, source_sha256=source_sha,
                matcher_version=proposal.matcher_version,
                ontology_version=proposal.ontology_version, orgs=org_ids,
                n_fields=batch.n_fields, n_new=n_new, n_kept=n_kept, flagged=flagged,
                withdrawn=withdrawn, removed=removed, n_unverified=n_unverified,
                n_unverified_earlier=n_unverified_earlier,
            )
            session.add(AuditLog(
                at=now, actor=imported_by, event="import",
                matcher_version=proposal.matcher_version,
                ontology_version=proposal.ontology_version,
                details=report.model_dump(mode="json", exclude={"flagged", "withdrawn",
                                                                 "removed"})
                | {"n_flagged": len(flagged), "n_withdrawn": len(withdrawn),
                   "n_removed": len(removed)},
            ))
        return report

    def _schemas_by_org(
        self, schemas: Mapping[str, OrgSchema] | Iterable[OrgSchema], proposal: MappingProposal
    ) -> dict[str, OrgSchema]:
        by_org = dict(schemas) if isinstance(schemas, Mapping) else {
            schema.org_id: schema for schema in schemas
        }
        known = {org.org for org in proposal.orgs}
        stray = sorted(set(by_org) - known)
        if stray:
            raise MappingError(
                f"schema(s) given for org(s) {stray}, but the mapping has orgs {sorted(known)}; "
                "name each schema with the org id the mapping uses (--schema ORG=PATH)"
            )
        return by_org

    def _check_raw_concepts(self, source: MappingProposal | str | Path) -> None:
        """Refuse a mapping file whose fields name concepts the ontology lacks, read from its
        JSON as written (for a file that is not a valid mapping for that reason too)."""
        if isinstance(source, MappingProposal):
            return
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
            fields = [field for org in data["orgs"] for field in org["fields"]]
            used = {str(field["concept"]) for field in fields
                    if isinstance(field, dict) and field.get("concept")}
            used |= {str(candidate["concept"]) for field in fields if isinstance(field, dict)
                     for candidate in field.get("candidates") or []
                     if isinstance(candidate, dict) and candidate.get("concept")}
            version = data.get("ontology_version")
        except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return  # not readable that far: the parse error says what is wrong
        unknown = sorted(used - set(self._concepts))
        if unknown:
            raise MappingError(
                f"{source}: concept id(s) not in the ontology (version {self.ontology.version}; "
                f"the mapping says {version}): {', '.join(unknown[:10])}; re-run fedcrm match "
                "with this ontology")

    def _check_proposal_concepts(self, proposal: MappingProposal, source_name: str) -> None:
        used: set[str] = set()
        for _, mapping in proposal.iter_fields():
            if mapping.concept:
                used.add(mapping.concept)
            used.update(c.concept for c in mapping.candidates)
        unknown = sorted(used - set(self._concepts))
        if unknown:
            raise MappingError(
                f"{source_name}: concept id(s) not in the ontology (version "
                f"{self.ontology.version}; the mapping says {proposal.ontology_version}): "
                f"{', '.join(unknown[:10])}; re-run fedcrm match with this ontology"
            )
        # a custom block the label corpus cannot store would be approved here and refused
        # only by `annotate from-review`: the same rule as choosing one (_check_choice)
        for org, mapping in proposal.iter_fields():
            if mapping.block is not None and mapping.block.startswith(CUSTOM_BLOCK_PREFIX):
                self._check_choice(mapping.block,
                                   f"{source_name}: {org} {mapping.object}.{mapping.field}")

    # -- decisions --------------------------------------------------------------------------

    def decide(self, request: DecisionRequest) -> DecisionRecord:
        """Record one decision, if the field is still at ``request.seen_version``.

        ``accept`` takes the proposal; ``choose`` maps to ``request.concept`` (an ontology
        concept or a ``custom:<id>`` block) and rejects the proposed concept; ``no_equivalent``
        maps to nothing and rejects every candidate shown; ``defer`` leaves the field
        undecided. Rejected concepts are never proposed for this field again.
        ``auto_accept`` is refused here (:class:`MappingError`): it is recorded only by
        :meth:`auto_accept`, for the fields above the threshold a steward confirmed, so the
        audit log never shows a person's single choice as a bulk acceptance.
        """
        if request.action is Action.AUTO_ACCEPT:
            raise MappingError(
                f"{request.org} {request.object}.{request.field}: 'auto_accept' is recorded "
                "only by auto_accept(threshold, reviewer, confirm=True) (CLI: fedcrm review "
                "auto-accept); accept one field with action 'accept'")
        return self._decide(request)

    def _decide(self, request: DecisionRequest) -> DecisionRecord:
        """:meth:`decide` for any action, ``auto_accept`` included."""
        where = f"{request.org} {request.object}.{request.field}"
        target = request.concept
        if request.action is Action.CHOOSE and target is not None:
            self._check_choice(target, where)
        now = utc_now()
        with self._transaction() as session:
            row = self._find(session, request.org, request.object, request.field)
            if row.version != request.seen_version:
                raise StaleVersionError(row.org, row.object, row.field,
                                        request.seen_version, row.version)
            batch = session.get_one(ImportBatch, row.batch_id)
            status, concept, block, rejects = self._outcome(row, request)
            previous = _proposal_state(row) | {"proposed_concept": row.proposed_concept,
                                               "proposed_block": row.proposed_block}
            already = rejections_by_field(session, [row.id]).get(row.id, set())
            # a rejected proposal is withdrawn now, as a re-import would: otherwise a later
            # defer puts the field back in the queue proposing it, and accepting that would
            # approve the rejected concept
            withdrawn = (row.proposed_concept
                         if row.proposed_concept is not None
                         and row.proposed_concept in rejects - {concept} else None)
            proposal: dict[str, Any] = {}
            if withdrawn is not None:
                ruled_out = (already | rejects) - {concept}
                remaining = [c for c in row.candidates if c["concept"] not in ruled_out]
                proposal = {"proposed_concept": None, "proposed_block": None,
                            "confidence": _abstention_confidence(remaining),
                            "candidates": remaining}
            new_version = request.seen_version + 1
            keep_prior = not status.decided
            swapped = cast(CursorResult[Any], session.execute(
                update(FieldProposal)
                .where(FieldProposal.id == row.id,
                       FieldProposal.version == request.seen_version)
                .values(status=status.value, decided_concept=concept, decided_block=block,
                        version=new_version, updated_at=now,
                        prior_decision_id=row.prior_decision_id if keep_prior else None,
                        **proposal)
                .execution_options(synchronize_session=False)
            ))
            if swapped.rowcount != 1:
                current = session.scalar(
                    select(FieldProposal.version).where(FieldProposal.id == row.id)
                )
                raise StaleVersionError(row.org, row.object, row.field,
                                        request.seen_version, int(current or 0))
            decision = Decision(
                field_id=row.id, action=request.action.value, concept=concept, block=block,
                comment=request.comment, reviewer=request.reviewer, decided_at=now,
                seen_version=request.seen_version, new_version=new_version,
                batch_id=batch.id, matcher_version=batch.matcher_version,
                ontology_version=batch.ontology_version, previous=previous,
            )
            session.add(decision)
            session.flush()
            session.execute(
                update(FieldProposal).where(FieldProposal.id == row.id)
                .values(last_decision_id=decision.id)
                .execution_options(synchronize_session=False)
            )
            if request.action is Action.CHOOSE and concept is not None and concept in already:
                # a steward may take back an earlier rejection by choosing the concept
                session.execute(delete(Rejection).where(Rejection.field_id == row.id,
                                                        Rejection.concept == concept))
            new_rejections = sorted(rejects - already - {concept})
            for rejected in new_rejections:
                session.add(Rejection(field_id=row.id, concept=rejected, decision_id=decision.id,
                                      reviewer=request.reviewer, rejected_at=now))
            session.add(AuditLog(
                at=now, actor=request.reviewer, event="decision", org=row.org,
                object=row.object, field=row.field, field_id=row.id, before=previous,
                after={"status": status.value, "concept": concept, "block": block},
                matcher_version=batch.matcher_version, ontology_version=batch.ontology_version,
                comment=request.comment,
                details={"action": request.action.value, "decision_id": decision.id,
                         "seen_version": request.seen_version, "new_version": new_version,
                         "rejected": new_rejections,
                         **({"proposal_withdrawn": withdrawn} if withdrawn else {})},
            ))
            return _decision_record(decision, row)

    def _outcome(
        self, row: FieldProposal, request: DecisionRequest
    ) -> tuple[Status, str | None, str | None, set[str]]:
        """(status, concept, block, concepts to reject) that ``request`` leads to."""
        action = request.action
        if action in (Action.ACCEPT, Action.AUTO_ACCEPT):
            if row.proposed_concept is None and row.proposed_block is None:
                # accepting an abstention: the field has no equivalent, but the steward did
                # not rule the candidates out
                return Status.NO_EQUIVALENT, None, None, set()
            return Status.APPROVED, row.proposed_concept, row.proposed_block, set()
        if action is Action.CHOOSE:
            target = request.concept or ""
            rejects = {row.proposed_concept} if row.proposed_concept else set()
            if target.startswith(CUSTOM_BLOCK_PREFIX):
                return Status.APPROVED, None, target, rejects
            return Status.APPROVED, target, target, rejects
        if action is Action.NO_EQUIVALENT:
            rejects = {c["concept"] for c in row.candidates}
            if row.proposed_concept:
                rejects.add(row.proposed_concept)
            return Status.NO_EQUIVALENT, None, None, rejects
        return Status.DEFERRED, None, None, set()

    def _check_choice(self, target: str, where: str) -> None:
        if target.startswith(CUSTOM_BLOCK_PREFIX):
            # the group must be one the annotation corpus can store (fedcrm annotate
            # from-review, export_labels): an id of the right form, and not a concept's
            group = target[len(CUSTOM_BLOCK_PREFIX):]
            if group in self._concepts:
                raise MappingError(f"{where}: {group!r} is a concept id; choose the concept "
                                   f"{group!r} itself, not a custom block of that name")
            if not GROUP_PATTERN.match(group):
                raise MappingError(f"{where}: custom block id {group!r} must be letters, "
                                   "digits, '_', '.' or '-' (e.g. custom:account.loyalty_tier)")
            return
        if target not in self._concepts:
            close = difflib.get_close_matches(target, list(self._concepts), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise MappingError(
                f"{where}: {target!r} is not a concept of the ontology (version "
                f"{self.ontology.version}){hint} (use 'custom:<id>' for a shared custom block)"
            )

    def auto_accept(
        self, threshold: float, reviewer: str, *, confirm: bool = False
    ) -> list[DecisionRecord]:
        """Accept every pending concept proposal with confidence ≥ ``threshold``.

        Never runs by default: the steward must pass ``confirm=True``. Deferred, flagged
        (``needs_review``) and abstained fields are left for a person. Each acceptance is an
        ordinary decision (action ``auto_accept``) in the audit log.
        """
        if not confirm:
            raise ConfigError(
                "auto-accept accepts fields nobody looked at; call it with confirm=True "
                "(CLI: --yes) once you have chosen the threshold deliberately"
            )
        if not 0.5 <= threshold <= 1.0:
            raise ConfigError(f"auto-accept threshold must be between 0.5 and 1, not {threshold}")
        with self._transaction(read_only=True) as session:
            targets = session.execute(
                select(FieldProposal.org, FieldProposal.object, FieldProposal.field,
                       FieldProposal.version)
                .where(FieldProposal.present.is_(True),
                       FieldProposal.status == Status.PENDING.value,
                       FieldProposal.proposed_concept.is_not(None),
                       FieldProposal.confidence >= threshold)
                .order_by(FieldProposal.id)
            ).all()
        records: list[DecisionRecord] = []
        skipped = 0
        for org, sobject, field, version in targets:
            try:
                records.append(self._decide(DecisionRequest.from_input(
                    org=org, object=sobject, field=field, action=Action.AUTO_ACCEPT,
                    seen_version=version, reviewer=reviewer,
                    comment=f"auto-accepted: confidence >= {threshold:g}",
                )))
            except StaleVersionError:
                skipped += 1  # someone decided it meanwhile; theirs stands
        with self._transaction() as session:
            session.add(AuditLog(at=utc_now(), actor=reviewer, event="auto_accept",
                                 details={"threshold": threshold, "accepted": len(records),
                                          "skipped_stale": skipped}))
        return records

    # -- reading ----------------------------------------------------------------------------

    def _find(self, session: Session, org: str, sobject: str, field: str) -> FieldProposal:
        row = session.scalar(
            select(FieldProposal).where(
                FieldProposal.org == org, FieldProposal.object_key == sobject.lower(),
                FieldProposal.field_key == field.lower(),
            )
        )
        if row is None:
            orgs = session.scalars(select(FieldProposal.org).distinct()).all()
            hint = "" if org in orgs else f"known orgs: {', '.join(sorted(orgs)) or 'none'}"
            raise UnknownFieldError(org, sobject, field, hint)
        if not row.present:
            raise UnknownFieldError(org, sobject, field,
                                    "it was removed from the org's latest mapping")
        return row

    def _views(self, session: Session, rows: list[FieldProposal]) -> list[FieldView]:
        ids = [row.id for row in rows]
        rejected = rejections_by_field(session, ids)
        batch_ids = {row.batch_id for row in rows}
        batches = {
            b.id: b for b in session.scalars(
                select(ImportBatch).where(ImportBatch.id.in_(batch_ids))
            )
        } if batch_ids else {}
        decision_ids = {
            i for row in rows for i in (row.last_decision_id, row.prior_decision_id)
            if i is not None
        }
        decisions: dict[int, Decision] = {}
        for start in range(0, len(decision_ids), 500):
            chunk = sorted(decision_ids)[start:start + 500]
            decisions.update(
                (d.id, d) for d in session.scalars(select(Decision).where(Decision.id.in_(chunk)))
            )
        return [self._view(row, batches[row.batch_id], rejected.get(row.id, set()), decisions)
                for row in rows]

    def _view(
        self, row: FieldProposal, batch: ImportBatch, rejected: set[str],
        decisions: Mapping[int, Decision],
    ) -> FieldView:
        candidates = [
            CandidateView(
                concept=c["concept"], score=c["score"], evidence=c.get("evidence", []),
                label=self._concepts[c["concept"]].label if c["concept"] in self._concepts
                else None,
                impact=self.impact_weights.get(c["concept"], 1.0),
            )
            for c in row.candidates if c["concept"] not in rejected
        ]
        impact = field_impact(row.proposed_concept, [c.concept for c in candidates],
                              self.impact_weights)
        last = decisions.get(row.last_decision_id) if row.last_decision_id else None
        prior = decisions.get(row.prior_decision_id) if row.prior_decision_id else None
        return FieldView(
            id=row.id, org=row.org, object=row.object, field=row.field, label=row.label,
            description=row.description, kind=row.kind,
            profile=FieldProfile.model_validate(row.profile) if row.profile else None,
            candidates=candidates, proposed_concept=row.proposed_concept,
            proposed_block=row.proposed_block, confidence=row.confidence,
            tier=Tier.of(row.confidence), impact=impact,
            priority=round(priority(row.confidence, impact), 6), status=Status(row.status),
            decided_concept=row.decided_concept, decided_block=row.decided_block,
            prior_decision=_decision_record(prior, row) if prior else None,
            last_decision=_decision_record(last, row) if last else None,
            rejected=sorted(rejected), version=row.version,
            matcher_version=batch.matcher_version, ontology_version=batch.ontology_version,
        )

    def field(self, org: str, sobject: str, field: str) -> FieldView:
        """Everything about one field (case-insensitive object and field names)."""
        with self._transaction(read_only=True) as session:
            return self._views(session, [self._find(session, org, sobject, field)])[0]

    def field_by_id(self, field_id: int) -> FieldView:
        """Everything about the field with store id ``field_id``."""
        with self._transaction(read_only=True) as session:
            row = session.get(FieldProposal, field_id)
            if row is None or not row.present:
                raise UnknownFieldError.by_id(field_id)
            return self._views(session, [row])[0]

    def fields(self, *, org: str | None = None) -> list[FieldView]:
        """Every present field, in import order."""
        with self._transaction(read_only=True) as session:
            query = select(FieldProposal).where(FieldProposal.present.is_(True))
            if org is not None:
                query = query.where(FieldProposal.org == org)
            return self._views(session, list(session.scalars(query.order_by(FieldProposal.id))))

    def queue(
        self, *, org: str | None = None, limit: int | None = None, include_deferred: bool = True
    ) -> list[FieldView]:
        """Undecided fields, most important first.

        Order: fields flagged ``needs_review`` after a re-match, then pending, then deferred;
        within each, highest ``(1 − confidence) × impact`` first (see
        :mod:`fedcrm.review.impact`), ties by org, object and field.
        """
        wanted = [Status.NEEDS_REVIEW, Status.PENDING]
        if include_deferred:
            wanted.append(Status.DEFERRED)
        with self._transaction(read_only=True) as session:
            query = select(FieldProposal).where(
                FieldProposal.present.is_(True),
                FieldProposal.status.in_([s.value for s in wanted]),
            )
            if org is not None:
                query = query.where(FieldProposal.org == org)
            views = self._views(session, list(session.scalars(query)))
        views.sort(key=lambda v: (_QUEUE_GROUPS[v.status], -v.priority, v.org,
                                  v.object.lower(), v.field.lower()))
        return views[:limit] if limit is not None else views

    def next_field(self, *, org: str | None = None) -> FieldView | None:
        """The first field of the queue (deferred ones last), or None when all are decided."""
        found = self.queue(org=org, limit=1)
        return found[0] if found else None

    def history(self, org: str, sobject: str, field: str) -> list[DecisionRecord]:
        """Every decision on one field, oldest first."""
        with self._transaction(read_only=True) as session:
            row = self._find(session, org, sobject, field)
            return [_decision_record(d, row) for d in session.scalars(
                select(Decision).where(Decision.field_id == row.id).order_by(Decision.id)
            )]

    def decisions(self) -> list[DecisionRecord]:
        """Every decision in the store, oldest first."""
        with self._transaction(read_only=True) as session:
            rows = {r.id: r for r in session.scalars(select(FieldProposal))}
            return [_decision_record(d, rows[d.field_id])
                    for d in session.scalars(select(Decision).order_by(Decision.id))]

    def rejected_concepts(self, org: str, sobject: str, field: str) -> set[str]:
        """Concepts ruled out for one field."""
        with self._transaction(read_only=True) as session:
            row = self._find(session, org, sobject, field)
            return rejections_by_field(session, [row.id]).get(row.id, set())

    def progress(self, *, org: str | None = None) -> Progress:
        """How many fields are decided, by status and by org."""
        with self._transaction(read_only=True) as session:
            query = (
                select(FieldProposal.org, FieldProposal.status, func.count())
                .where(FieldProposal.present.is_(True))
                .group_by(FieldProposal.org, FieldProposal.status)
            )
            if org is not None:
                query = query.where(FieldProposal.org == org)
            counts = session.execute(query).all()
        by_status: Counter[str] = Counter()
        by_org: dict[str, dict[str, int]] = defaultdict(dict)
        for org_id, status, count in counts:
            by_status[status] += count
            by_org[org_id][status] = count
        decided = sum(n for s, n in by_status.items() if Status(s).decided)
        return Progress(total=sum(by_status.values()), decided=decided,
                        by_status=dict(by_status), by_org=dict(by_org))

    # -- audit ------------------------------------------------------------------------------

    def _audit_row(
        self, at: str, actor: str, event_name: str, row: FieldProposal, *,
        before: dict[str, Any] | None, after: dict[str, Any] | None, batch: ImportBatch,
        comment: str | None = None,
    ) -> AuditLog:
        return AuditLog(at=at, actor=actor, event=event_name, org=row.org, object=row.object,
                        field=row.field, field_id=row.id, before=before, after=after,
                        matcher_version=batch.matcher_version,
                        ontology_version=batch.ontology_version, comment=comment)

    def record_event(self, event_name: str, actor: str, details: dict[str, Any]) -> None:
        """Append a store-wide event (exports, label exports) to the audit log."""
        with self._transaction() as session:
            session.add(AuditLog(at=utc_now(), actor=actor, event=event_name, details=details))

    def audit_log(self, *, since_id: int = 0) -> list[AuditEntry]:
        """The audit log, oldest first (entries after ``since_id``)."""
        with self._transaction(read_only=True) as session:
            return [
                AuditEntry.model_validate(row, from_attributes=True)
                for row in session.scalars(
                    select(AuditLog).where(AuditLog.id > since_id).order_by(AuditLog.id)
                )
            ]

    # -- exports (fedcrm.review.exporting) -----------------------------------

    def export_approved(
        self, path: str | Path, *, exported_by: str, approved_only: bool = False
    ) -> ExportResult:
        """Write the approved mapping and its provenance sidecar; see
        :func:`fedcrm.review.exporting.export_approved`."""
        return export_approved(self, path, exported_by=exported_by, approved_only=approved_only)

    def export_labels(self, folder: str | Path, *, replace: bool = False,
                      exported_by: str = "review") -> LabelExportReport:
        """Write decisions as annotation labels; see
        :func:`fedcrm.review.exporting.export_labels`."""
        return export_labels(self, folder, replace=replace, exported_by=exported_by)

    def decided_labels(self) -> dict[str, list[FieldLabel]]:
        """Org → the labels of its decided fields (approved or no equivalent), as
        :meth:`export_labels` would write them; reads only, records nothing."""
        with self._transaction(read_only=True) as session:
            return decided_labels(session)

    def record_label_import(self, folder: str | Path, *, added: int, replaced: int,
                            unchanged: int, actor: str) -> None:
        """Append the audit entry of decisions merged into an annotations folder by another
        tool (``fedcrm annotate from-review``), once the merge has succeeded."""
        with self._transaction() as session:
            session.add(AuditLog(at=utc_now(), actor=actor, event="labels", details={
                "folder": os.path.realpath(folder), "added": added, "replaced": replaced,
                "unchanged": unchanged, "conflicts": 0}))

    def export_audit(self, path: str | Path, *, format: str = "jsonl") -> int:
        """Write the audit log as JSON lines or CSV; see
        :func:`fedcrm.review.exporting.export_audit`."""
        return export_audit(self, path, format=format)


def _decision_record(decision: Decision, row: FieldProposal) -> DecisionRecord:
    return DecisionRecord(
        id=decision.id, field_id=decision.field_id, org=row.org, object=row.object,
        field=row.field, action=Action(decision.action), concept=decision.concept,
        block=decision.block, comment=decision.comment, reviewer=decision.reviewer,
        decided_at=decision.decided_at, seen_version=decision.seen_version,
        new_version=decision.new_version, matcher_version=decision.matcher_version,
        ontology_version=decision.ontology_version, previous=decision.previous,
    )


def _abstention_confidence(candidates: Iterable[Mapping[str, Any]]) -> float:
    """The confidence of a withdrawn proposal: like the matcher's own abstentions, P(no
    remaining candidate fits) = 1 − the best remaining score."""
    return round(1.0 - max((float(c["score"]) for c in candidates), default=0.0), 4)


def _read_proposal(source: MappingProposal | str | Path) -> tuple[MappingProposal, str, str]:
    """(proposal, source name, SHA-256 of its bytes)."""
    if isinstance(source, MappingProposal):
        return source, "<MappingProposal>", sha256_hex(source.to_json().encode("utf-8"))
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping ({exc.strerror or exc})") from exc
    try:
        proposal = MappingProposal.from_json(path)
    except MappingError as exc:
        raise MappingError(
            f"cannot import {exc}; expected the JSON that `fedcrm match --out` writes"
        ) from exc
    except UnicodeDecodeError as exc:
        raise MappingError(f"cannot import {path}: the file is not UTF-8 text "
                           f"({undecodable_at(exc)}); `fedcrm match --out` writes UTF-8 JSON: "
                           "re-save it as UTF-8") from exc
    except ValidationError as exc:
        raise MappingError(f"cannot import {path}: not a fedcrm match result ({exc})") from exc
    return proposal, str(path), sha256_hex(data)


def _field_meta(
    schema: OrgSchema | None, org_id: str, sobject: str, field: str
) -> FieldMeta | None:
    if schema is None:
        return None
    try:
        return schema.object(sobject).field(field)
    except KeyError as exc:
        raise MappingError(
            f"the mapping has field {sobject}.{field} of org {org_id}, but the schema given for "
            f"{org_id} does not; pass the metadata the mapping was made from"
        ) from exc
