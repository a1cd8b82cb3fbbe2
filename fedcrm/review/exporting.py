"""What leaves the review store: the approved mapping (with provenance), annotation labels and
the audit log."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fedcrm import __version__
from fedcrm._csv import csv_safe
from fedcrm._files import locked_folder, write_atomically
from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import FieldLabel, labels_text, read_labels, read_sources
from fedcrm.matching.proposal import (
    CUSTOM_BLOCK_PREFIX,
    Candidate,
    FieldMapping,
    MappingProposal,
    OrgMapping,
)
from fedcrm.review._util import sha256_hex, utc_now
from fedcrm.review.errors import ReviewBusy
from fedcrm.review.migrations import SCHEMA_VERSION
from fedcrm.review.models import (
    ExportResult,
    LabelConflict,
    LabelExportReport,
    Provenance,
    Status,
)
from fedcrm.review.tables import (
    ApprovedExport,
    AuditLog,
    Decision,
    FieldProposal,
    ImportBatch,
    rejections_by_field,
)

if TYPE_CHECKING:
    from fedcrm.review.store import ReviewStore

#: file name of an approved mapping written into a folder
APPROVED_NAME = "approved-mapping-v{version}.json"
AUDIT_FORMATS = ("jsonl", "csv")
_SAFE_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def provenance_path(mapping_path: str | Path) -> Path:
    """The provenance sidecar of an approved mapping file: ``x.json`` → ``x.provenance.json``
    (``X.JSON`` → ``X.provenance.json``: a mapping file is one whose name ends in ``.json`` in
    any case)."""
    path = Path(mapping_path)
    stem = path.name[: -len(".json")] if path.name.lower().endswith(".json") else path.name
    return path.with_name(f"{stem}.provenance.json")


def _field_mapping(row: FieldProposal, rejected: set[str], approved_only: bool) -> FieldMapping:
    candidates = [Candidate.model_validate(c) for c in row.candidates
                  if c["concept"] not in rejected]
    status = Status(row.status)
    if status.decided:
        # a steward's decision is certain as far as the mapping is concerned
        concept, block, confidence = row.decided_concept, row.decided_block, 1.0
    elif approved_only:
        concept, block, confidence = None, None, 0.0
    else:
        concept, block, confidence = row.proposed_concept, row.proposed_block, row.confidence
    return FieldMapping(object=row.object, field=row.field, concept=concept, block=block,
                        confidence=confidence, candidates=candidates)


def _refuse_overwriting_an_import(session: Session, target: Path) -> None:
    """An export written over a mapping file the store imported (found by its bytes, so a
    relative path or another spelling is found too) would replace the matcher's proposal the
    review rests on, and a later re-import would read the approved mapping as one."""
    try:
        existing = sha256_hex(target.read_bytes()) if target.is_file() else None
    except OSError:
        return  # unreadable: writing it fails with its own message
    if existing is None:
        return
    batch = session.scalar(select(ImportBatch.id).where(ImportBatch.source_sha256 == existing)
                           .order_by(ImportBatch.id).limit(1))
    if batch is not None:
        raise MappingError(
            f"{target} is the mapping imported as batch {batch} (fedcrm review import); "
            "exporting over it would replace the matcher's proposal the review rests on: "
            "write the approved mapping elsewhere")


def approved_target(path: str | Path, version: int) -> Path:
    """Where :func:`export_approved` writes export ``version`` when asked for ``path``.

    ``path`` is a folder, and gets :data:`APPROVED_NAME`, when it is an existing directory,
    ends in a path separator, or does not end in ``.json``; otherwise it is the file itself.
    (The suffix rule matters because ``Path("approved/")``, and so the CLI's argument
    parsing, drops the trailing slash.)
    """
    text = os.fspath(path)
    target = Path(text)
    is_folder = (
        text.endswith(("/", os.sep)) or target.is_dir()
        or not target.name.lower().endswith(".json")
    )
    return target / APPROVED_NAME.format(version=version) if is_folder else target


class _WrittenFiles:
    """Files an export wrote, put back as they were (restored or removed, with the folders it
    created) if the export fails afterwards, so that no file outlives its database rows."""

    def __init__(self) -> None:
        self._before: list[tuple[Path, bytes | None]] = []
        self._new_folders: list[Path] = []

    def write(self, path: Path, text: str, *, what: str = "",
              fix: str = "export to a folder you can write to, or to a .json file whose name "
                         "is not taken by a folder") -> None:
        """Write ``text`` to ``path`` atomically; an OSError becomes a ConfigError naming it
        (``what`` the file holds, ``fix`` what to do)."""
        try:
            before = path.read_bytes() if path.is_file() else None
            missing = [folder for folder in (path.parent, *path.parent.parents)
                       if not folder.exists()]
            write_atomically(path, text)
        except OSError as exc:
            blocking = next((folder for folder in path.parents
                             if folder.exists() and not folder.is_dir()), None)
            reason = (f"{blocking} is a file, not a folder" if blocking is not None
                      else exc.strerror or str(exc))
            raise ConfigError(f"cannot write {what}{path}: {reason}; {fix}") from exc
        self._before.append((path, before))
        self._new_folders.extend(folder for folder in missing
                                 if folder not in self._new_folders)

    def undo(self, error: BaseException) -> None:
        """Put the files back; what cannot be undone is noted on ``error``."""
        for path, before in reversed(self._before):
            try:
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomically(path, before)
            except OSError as exc:
                error.add_note(f"could not undo the write of {path}: {exc.strerror or exc}")
        for folder in self._new_folders:  # deepest first
            try:
                folder.rmdir()
            except OSError as exc:
                error.add_note(f"could not remove the new folder {folder}: "
                               f"{exc.strerror or exc}")
                break


def export_approved(
    store: ReviewStore, path: str | Path, *, exported_by: str, approved_only: bool = False
) -> ExportResult:
    """Write the approved mapping in the ``fedcrm match`` format, plus a provenance sidecar.

    Every present field of every imported org appears exactly once. Decided fields carry the
    steward's decision (confidence 1); undecided ones keep the matcher's proposal, or map to
    nothing with ``approved_only``. Each export gets the next version number; a folder as
    ``path`` (see :func:`approved_target`) receives ``approved-mapping-v<N>.json``. The file
    loads with :meth:`MappingProposal.from_json`; provenance goes to ``<name>.provenance.json``.

    Both files are written atomically once the export's database rows (``approved_export``,
    the audit entry) are flushed, and removed again (or restored, where they replaced older
    files) if anything fails before the transaction commits: files and rows stand or fall
    together. A path that cannot be written raises :class:`~fedcrm.ConfigError`.
    """
    files = _WrittenFiles()
    try:
        with store.session() as session:
            result = _export_in(session, path, files, exported_by=exported_by,
                                approved_only=approved_only)
    except BaseException as exc:
        files.undo(exc)
        raise
    return result


def _export_in(
    session: Session, path: str | Path, files: _WrittenFiles, *, exported_by: str,
    approved_only: bool,
) -> ExportResult:
    """The body of :func:`export_approved`, inside its transaction."""
    # FOR SHARE on server databases: decisions wait until the export has read them all
    rows = list(session.scalars(
        select(FieldProposal).where(FieldProposal.present.is_(True))
        .order_by(FieldProposal.id).with_for_update(read=True)
    ))
    if not rows:
        raise MappingError("nothing to export: the review store has no fields; "
                           "import a mapping first (fedcrm review import)")
    rejected = rejections_by_field(session, [row.id for row in rows])
    # every import the export draws on: the one each field's proposal came from, and the one
    # each decision in effect was made on (a re-import that left a field unchanged moves the
    # field to the new batch, but its decision rests on the proposal it was made on)
    in_effect = [row.last_decision_id for row in rows
                 if Status(row.status).decided and row.last_decision_id is not None]
    decided_on: set[int] = set()
    reviewers: Counter[str] = Counter()
    for start in range(0, len(in_effect), 500):
        for batch_id, reviewer in session.execute(
            select(Decision.batch_id, Decision.reviewer)
            .where(Decision.id.in_(in_effect[start:start + 500]))
        ):
            decided_on.add(batch_id)
            reviewers[reviewer] += 1
    latest_id = max(row.batch_id for row in rows)
    batch_ids = sorted({row.batch_id for row in rows} | decided_on)
    batches = list(session.scalars(
        select(ImportBatch).where(ImportBatch.id.in_(batch_ids)).order_by(ImportBatch.id)
    ))
    latest = next(b for b in batches if b.id == latest_id)
    by_org: dict[str, list[FieldMapping]] = {}
    for row in rows:
        by_org.setdefault(row.org, []).append(
            _field_mapping(row, rejected.get(row.id, set()), approved_only)
        )
    try:
        mapping = MappingProposal(
            ontology_version=latest.ontology_version,
            matcher_version=latest.matcher_version,
            orgs=[OrgMapping(org=org, fields=fields) for org, fields in by_org.items()],
        )
    except ValidationError as exc:  # pragma: no cover - the store only holds valid fields
        raise MappingError(f"the approved mapping is inconsistent: {exc}") from exc
    version = int(session.scalar(select(func.max(ApprovedExport.version))) or 0) + 1
    target = approved_target(path, version)
    _refuse_overwriting_an_import(session, target)
    sidecar = provenance_path(target)
    actions: Counter[str] = Counter()
    for action, count in session.execute(
        select(Decision.action, func.count()).group_by(Decision.action)
    ):
        actions[action] = count
    text = mapping.model_dump_json(indent=1) + "\n"
    now = utc_now()
    digest = sha256_hex(text.encode("utf-8"))
    provenance = Provenance(
        mapping_file=target.name, mapping_sha256=digest, export_version=version,
        exported_at=now, exported_by=exported_by, approved_only=approved_only,
        fedcrm_version=__version__, store_schema_version=SCHEMA_VERSION,
        imports=[{"batch_id": b.id, "source": b.source, "source_sha256": b.source_sha256,
                  "matcher_version": b.matcher_version,
                  "ontology_version": b.ontology_version, "imported_at": b.imported_at,
                  "imported_by": b.imported_by} for b in batches],
        reviewers=dict(sorted(reviewers.items())),
        decisions_by_action=dict(sorted(actions.items())),
        fields_by_status=dict(sorted(Counter(row.status for row in rows).items())),
        n_fields=len(rows),
    )
    session.add(ApprovedExport(version=version, exported_at=now, exported_by=exported_by,
                               path=str(target)[:1000], sha256=digest,
                               approved_only=approved_only, n_fields=len(rows)))
    session.add(AuditLog(at=now, actor=exported_by, event="export",
                         matcher_version=latest.matcher_version,
                         ontology_version=latest.ontology_version,
                         details={"version": version, "path": str(target),
                                  "sha256": digest, "approved_only": approved_only,
                                  "n_fields": len(rows)}))
    # rows first: a version number taken meanwhile (server databases) fails here, before any
    # file is touched
    try:
        session.flush()
    except IntegrityError as exc:
        raise ReviewBusy(
            f"another export took version {version} at the same time; nothing was written, "
            "export again"
        ) from exc
    files.write(target, text)
    files.write(sidecar, provenance.model_dump_json(indent=1) + "\n")
    return ExportResult(path=str(target), provenance_path=str(sidecar), version=version,
                        n_fields=len(rows), n_decided=sum(reviewers.values()))


def _group_of(block: str | None) -> str | None:
    if block is not None and block.startswith(CUSTOM_BLOCK_PREFIX):
        return block[len(CUSTOM_BLOCK_PREFIX):]
    return None


def export_labels(
    store: ReviewStore, folder: str | Path, *, replace: bool = False,
    exported_by: str = "review",
) -> LabelExportReport:
    """Write every decided field as a :class:`FieldLabel` into ``<folder>/labels/<org>.jsonl``.

    ``folder`` is an annotations folder (``annotations/``). Labels are merged into existing
    files: an identical label is left alone; a different one is reported as a conflict and
    kept, unless ``replace`` is true. Labels carry ``method="review"``, the reviewer as
    annotator, the decision time and the comment.
    """
    root = Path(folder)
    if not (root / "sources.yaml").is_file():
        # a mistyped folder got a labels/ of its own, which no import or training reads
        raise ConfigError(f"{root} is not an annotations folder (no sources.yaml in it); give "
                          "the annotations folder the labels belong to")
    files = _WrittenFiles()
    # the folder's lock keeps `fedcrm annotate import` (which takes it too) from interleaving
    # with the read-merge-write, and from slipping in before a failed export's files are put
    # back (the undo runs under the lock)
    with locked_folder(root):
        try:
            # one transaction (on SQLite the write lock) from reading the decisions to the
            # audit entry: two label exports cannot interleave their read-merge-write of one
            # file, and files and audit entry stand or fall together
            with store.session() as session:
                return _labels_in(session, root, files, replace=replace,
                                  exported_by=exported_by)
        except BaseException as exc:
            files.undo(exc)
            raise


def decided_labels(session: Session) -> dict[str, list[FieldLabel]]:
    """Org → a :class:`FieldLabel` for every decided field (approved or no equivalent), with
    the reviewer as annotator, the decision time and the comment; writes nothing."""
    # FOR SHARE on server databases: decisions wait until the export has written them
    rows = list(session.scalars(
        select(FieldProposal).where(
            FieldProposal.present.is_(True),
            FieldProposal.status.in_([Status.APPROVED.value, Status.NO_EQUIVALENT.value]),
        ).order_by(FieldProposal.id).with_for_update(read=True)
    ))
    decision_ids = [row.last_decision_id for row in rows if row.last_decision_id]
    decisions = {d.id: d for d in session.scalars(
        select(Decision).where(Decision.id.in_(decision_ids))
    )} if decision_ids else {}
    by_org: dict[str, list[FieldLabel]] = {}
    for row in rows:
        decision = decisions.get(row.last_decision_id or -1)
        if decision is None:  # pragma: no cover - decided rows always have a decision
            continue
        if not _SAFE_ORG.match(row.org):
            raise MappingError(
                f"org id {row.org!r} cannot be a label file name; use letters, digits, '_', "
                "'.' and '-'"
            )
        by_org.setdefault(row.org, []).append(FieldLabel(
            org=row.org, object=row.object, field=row.field, concept=row.decided_concept,
            group=_group_of(row.decided_block), annotator=decision.reviewer, method="review",
            labelled_at=decision.decided_at, note=decision.comment,
        ))
    return by_org


def _labels_in(
    session: Session, root: Path, files: _WrittenFiles, *, replace: bool, exported_by: str,
) -> LabelExportReport:
    """The body of :func:`export_labels`, inside its transaction."""
    by_org = decided_labels(session)
    registered = {source.org for source in read_sources(root)}
    # labels/<org>.jsonl of an org sources.yaml does not list is read by no training (a
    # staging folder for `fedcrm annotate from-review --labels-dir` is fine): named in the
    # report, not refused
    unregistered = sorted(set(by_org) - registered)
    added = replaced = unchanged = 0
    conflicts: list[LabelConflict] = []
    changed_files: dict[Path, list[FieldLabel]] = {}
    for org, labels in by_org.items():
        path = root / "labels" / f"{org}.jsonl"
        existing = {label.key: label for label in read_labels(path)} if path.exists() else {}
        changed = False
        for label in labels:
            old = existing.get(label.key)
            if old is None:
                existing[label.key] = label
                added += 1
                changed = True
            elif (old.concept, old.group) == (label.concept, label.group):
                unchanged += 1
            elif replace:
                existing[label.key] = label
                replaced += 1
                changed = True
            else:
                conflicts.append(LabelConflict(
                    org=org, object=label.object, field=label.field,
                    existing_concept=old.concept, existing_group=old.group,
                    decided_concept=label.concept, decided_group=label.group,
                    existing_annotator=old.annotator,
                ))
        if changed:
            changed_files[path] = list(existing.values())
    session.add(AuditLog(at=utc_now(), actor=exported_by, event="labels", details={
        "folder": str(root), "added": added, "replaced": replaced, "unchanged": unchanged,
        "conflicts": len(conflicts),
    }))
    session.flush()  # the audit entry first: if it cannot be written, no file is touched
    for path, labels in changed_files.items():
        files.write(path, labels_text(labels), what="labels to ",
                    fix="give an annotations folder you can write to")
    return LabelExportReport(files=[str(path) for path in changed_files], added=added,
                             replaced=replaced, unchanged=unchanged, conflicts=conflicts,
                             unregistered_orgs=unregistered)


_CSV_COLUMNS = ("id", "at", "actor", "event", "org", "object", "field", "field_id", "before",
                "after", "matcher_version", "ontology_version", "comment", "details")


def export_audit(store: ReviewStore, path: str | Path, *, format: str = "jsonl") -> int:
    """Write the whole audit log to ``path`` as JSON lines or CSV; return the entry count.

    In CSV, the structured columns (before, after, details) hold JSON text.
    """
    if format not in AUDIT_FORMATS:
        raise ConfigError(f"audit format must be one of {AUDIT_FORMATS}, not {format!r}")
    entries = store.audit_log()
    buffer = io.StringIO(newline="")
    if format == "jsonl":
        for entry in entries:
            buffer.write(entry.model_dump_json() + "\n")
    else:
        writer = csv.writer(buffer)
        writer.writerow(_CSV_COLUMNS)
        for entry in entries:
            data = entry.model_dump(mode="json")
            # names and comments are typed by people: a spreadsheet must not run them
            writer.writerow([
                json.dumps(data[c], sort_keys=True) if isinstance(data[c], dict)
                else "" if data[c] is None
                else csv_safe(data[c]) if isinstance(data[c], str) else data[c]
                for c in _CSV_COLUMNS
            ])
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as exc:
        raise ConfigError(
            f"cannot write the audit log to {path}: {exc.strerror or exc}; give a file path in "
            "a folder you can write to"
        ) from exc
    return len(entries)
