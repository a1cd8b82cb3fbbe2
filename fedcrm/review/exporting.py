"""What leaves the review store: the approved mapping (with provenance), annotation labels and
the audit log."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import func, select

from fedcrm import __version__
from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import FieldLabel, read_labels, write_labels
from fedcrm.matching.proposal import (
    CUSTOM_BLOCK_PREFIX,
    Candidate,
    FieldMapping,
    MappingProposal,
    OrgMapping,
)
from fedcrm.review._util import sha256_hex, utc_now
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
    """The provenance sidecar of an approved mapping file: ``x.json`` → ``x.provenance.json``."""
    path = Path(mapping_path)
    stem = path.name[: -len(".json")] if path.name.endswith(".json") else path.name
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


def export_approved(
    store: ReviewStore, path: str | Path, *, exported_by: str, approved_only: bool = False
) -> ExportResult:
    """Write the approved mapping in the ``fedcrm match`` format, plus a provenance sidecar.

    Every present field of every imported org appears exactly once. Decided fields carry the
    steward's decision (confidence 1); undecided ones keep the matcher's proposal, or map to
    nothing with ``approved_only``. Each export gets the next version number; a folder as
    ``path`` receives ``approved-mapping-v<N>.json``. The file loads with
    :meth:`MappingProposal.from_json`; provenance goes to ``<name>.provenance.json``.
    """
    target = Path(path)
    with store.session() as session:
        # FOR SHARE on server databases: decisions wait until the export has read them all
        rows = list(session.scalars(
            select(FieldProposal).where(FieldProposal.present.is_(True))
            .order_by(FieldProposal.id).with_for_update(read=True)
        ))
        if not rows:
            raise MappingError("nothing to export: the review store has no fields; "
                               "import a mapping first (fedcrm review import)")
        rejected = rejections_by_field(session, [row.id for row in rows])
        batch_ids = sorted({row.batch_id for row in rows})
        batches = list(session.scalars(
            select(ImportBatch).where(ImportBatch.id.in_(batch_ids)).order_by(ImportBatch.id)
        ))
        latest = batches[-1]
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
        if target.is_dir() or str(path).endswith(("/", "\\")):
            target = target / APPROVED_NAME.format(version=version)
        effective = [row.last_decision_id for row in rows
                     if Status(row.status).decided and row.last_decision_id is not None]
        reviewers: Counter[str] = Counter()
        for start in range(0, len(effective), 500):
            reviewers.update(session.scalars(
                select(Decision.reviewer).where(Decision.id.in_(effective[start:start + 500]))
            ))
        actions: Counter[str] = Counter()
        for action, count in session.execute(
            select(Decision.action, func.count()).group_by(Decision.action)
        ):
            actions[action] = count
        text = mapping.model_dump_json(indent=1) + "\n"
        now = utc_now()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
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
        sidecar = provenance_path(target)
        sidecar.write_text(provenance.model_dump_json(indent=1) + "\n", encoding="utf-8")
        session.add(ApprovedExport(version=version, exported_at=now, exported_by=exported_by,
                                   path=str(target)[:1000], sha256=digest,
                                   approved_only=approved_only, n_fields=len(rows)))
        session.add(AuditLog(at=now, actor=exported_by, event="export",
                             matcher_version=latest.matcher_version,
                             ontology_version=latest.ontology_version,
                             details={"version": version, "path": str(target),
                                      "sha256": digest, "approved_only": approved_only,
                                      "n_fields": len(rows)}))
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
    with store.session() as session:
        rows = list(session.scalars(
            select(FieldProposal).where(
                FieldProposal.present.is_(True),
                FieldProposal.status.in_([Status.APPROVED.value, Status.NO_EQUIVALENT.value]),
            ).order_by(FieldProposal.id)
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
    files: list[str] = []
    added = replaced = unchanged = 0
    conflicts: list[LabelConflict] = []
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
            write_labels(path, existing.values())
            files.append(str(path))
    report = LabelExportReport(files=files, added=added, replaced=replaced,
                               unchanged=unchanged, conflicts=conflicts)
    store.record_event("labels", exported_by, {
        "folder": str(root), "added": added, "replaced": replaced, "unchanged": unchanged,
        "conflicts": len(conflicts),
    })
    return report


_CSV_COLUMNS = ("id", "at", "actor", "event", "org", "object", "field", "field_id", "before",
                "after", "matcher_version", "ontology_version", "comment", "details")


def export_audit(store: ReviewStore, path: str | Path, *, format: str = "jsonl") -> int:
    """Write the whole audit log to ``path`` as JSON lines or CSV; return the entry count.

    In CSV, the structured columns (before, after, details) hold JSON text.
    """
    if format not in AUDIT_FORMATS:
        raise ConfigError(f"audit format must be one of {AUDIT_FORMATS}, not {format!r}")
    entries = store.audit_log()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        if format == "jsonl":
            for entry in entries:
                handle.write(entry.model_dump_json() + "\n")
        else:
            writer = csv.writer(handle)
            writer.writerow(_CSV_COLUMNS)
            for entry in entries:
                data = entry.model_dump(mode="json")
                writer.writerow([
                    json.dumps(data[c], sort_keys=True) if isinstance(data[c], dict)
                    else ("" if data[c] is None else data[c])
                    for c in _CSV_COLUMNS
                ])
    return len(entries)
