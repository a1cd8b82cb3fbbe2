"""Validate answers and merge them into the annotated corpus, with provenance.

Every answer is checked before anything is written — the org has metadata, the field exists,
the concept is in the ontology, a concept and a group are not both given, the same field is
not answered two ways, the round and the labelling time are sound — and all problems are
reported together, each naming the file and line (or Label Studio task) and the fix. An
answer that disagrees with a label the corpus already has is a *conflict*: the import stops
and lists them all, unless ``replace`` is given with a reason, which is then kept in the new
label's note.

Merging edits ``labels/<org>.jsonl`` line by line: a replaced label's line is rewritten in
place, new labels are inserted where the file's sort order puts them (appended if the file is
not sorted), and every other line stays byte-identical. The import is all-or-nothing: every
org's new file is written before any is replaced, and if one replacement fails the files
already replaced are restored from backups (:func:`write_files_atomically`).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, ValidationError

from fedcrm._files import json_lines, locked_folder, new_file_mode
from fedcrm.annotate.exchange import Answer, read_answers, utc_now, utc_timestamp
from fedcrm.annotate.pool import load_org_schema
from fedcrm.errors import ConfigError, MappingError, validation_problems
from fedcrm.matching.corpus import (
    GROUP_PATTERN,
    FieldLabel,
    OrgSource,
    default_annotations_dir,
    default_metadata_root,
    read_labels,
    read_sources,
)
from fedcrm.ontology import load_ontology
from fedcrm.ontology.models import Ontology
from fedcrm.schema.models import OrgSchema

if TYPE_CHECKING:
    from fedcrm.review.store import ReviewStore

Method = Literal["hand", "synthetic", "review", "active_learning"]
_SAFE_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: how many problems an error message lists before summarising the rest
MAX_LISTED = 20


class Conflict(BaseModel):
    """An answer that disagrees with the label the corpus already has."""

    where: str
    org: str
    object: str
    field: str
    existing_concept: str | None
    existing_group: str | None
    existing_annotator: str
    existing_method: str
    new_concept: str | None
    new_group: str | None

    def describe(self) -> str:
        """One line for error messages."""
        old = _describe(self.existing_concept, self.existing_group)
        new = _describe(self.new_concept, self.new_group)
        return (f"{self.where}: {self.org} {self.object}.{self.field} is labelled {old} by "
                f"{self.existing_annotator} ({self.existing_method}); the answer says {new}")


class LabelConflictError(MappingError):
    """Answers disagree with existing labels; nothing was imported."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        lines = [c.describe() for c in conflicts[:MAX_LISTED]]
        if len(conflicts) > MAX_LISTED:
            lines.append(f"... and {len(conflicts) - MAX_LISTED} more")
        super().__init__(
            f"{len(conflicts)} answer(s) conflict with existing labels; nothing was imported. "
            "Check them, then re-import with --replace --reason '<why>' (replace=True, "
            "reason=...) to overwrite:\n  " + "\n  ".join(lines)
        )


class MergeReport(BaseModel):
    """What an import wrote."""

    files: list[str] = Field(default_factory=list)
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    #: rows nobody answered (skipped)
    unanswered: int = 0
    #: the labels written (added or replaced), with their provenance
    labels: list[FieldLabel] = Field(default_factory=list)
    #: orgs whose labels were written but which ``sources.yaml`` does not list (the matcher
    #: does not train on them until they are registered)
    unregistered_orgs: list[str] = Field(default_factory=list)


def _describe(concept: str | None, group: str | None) -> str:
    if concept is not None:
        return concept
    return f"group {group}" if group else "'no concept'"


class _Schemas:
    """Org metadata by id: given schemas first, then the annotations folder's sources."""

    def __init__(self, folder: Path, metadata_root: Path,
                 given: Mapping[str, OrgSchema] | None) -> None:
        self.folder = folder
        self.metadata_root = metadata_root
        self.loaded: dict[str, OrgSchema] = dict(given or {})
        self.sources: dict[str, OrgSource] = (
            {s.org: s for s in read_sources(folder)} if (folder / "sources.yaml").exists()
            else {}
        )

    def get(self, org: str) -> OrgSchema | None:
        if org not in self.loaded and org in self.sources:
            self.loaded[org] = load_org_schema(self.sources[org], self.folder, self.metadata_root)
        return self.loaded.get(org)


def _listing(problems: list[str]) -> str:
    shown = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        shown.append(f"... and {len(problems) - MAX_LISTED} more")
    return "\n  ".join(shown)


def merge_answers(
    answers: Sequence[Answer],
    annotations_dir: str | Path | None = None,
    *,
    ontology: Ontology | None = None,
    schemas: Mapping[str, OrgSchema] | None = None,
    metadata_root: str | Path | None = None,
    method: Method = "active_learning",
    round: int | None = None,
    annotator: str | None = None,
    replace: bool = False,
    reason: str | None = None,
    now: str | None = None,
) -> MergeReport:
    """Validate ``answers`` and merge them into ``annotations_dir/labels/``.

    Provenance of each new label: ``annotator`` (the answer's own, else this argument),
    ``labelled_at`` (the answer's, an ISO 8601 time normalised to UTC, else ``now``),
    ``round`` (the answer's, else this argument; required for ``method="active_learning"``;
    an answer whose round contradicts this argument is invalid) and ``method``. Raises
    :class:`MappingError` listing every invalid answer, or :class:`LabelConflictError` listing
    every conflict; in both cases nothing is written.
    """
    if replace and not (reason and reason.strip()):
        raise ConfigError("replacing existing labels needs a reason (--reason '...'); it is "
                          "kept in the new labels' notes")
    if round is not None and (isinstance(round, bool) or not isinstance(round, int)
                              or round < 0):
        raise ConfigError(f"the round must be a whole number >= 0 (--round 3), got {round!r}")
    root = Path(annotations_dir) if annotations_dir is not None else default_annotations_dir()
    if not (root / "sources.yaml").is_file():
        # else every answer would be blamed for an unknown org
        raise ConfigError(f"{root} is not an annotations folder (no sources.yaml in it); give "
                          "the folder with --annotations")
    meta_root = Path(metadata_root) if metadata_root is not None else default_metadata_root()
    ontology = ontology if ontology is not None else load_ontology()
    concept_ids = [c.id for c in ontology.concepts]
    known_concepts = set(concept_ids)
    lookup = _Schemas(root, meta_root, schemas)
    stamp = now or utc_now()
    problems: list[str] = []
    chosen: dict[tuple[str, tuple[str, str]], tuple[Answer, FieldLabel]] = {}
    #: fields answered alike in several rows: every annotator and note, in order
    agreed: dict[tuple[str, tuple[str, str]], tuple[list[str], list[str]]] = {}
    for answer in answers:
        where = answer.where or f"{answer.org} {answer.object}.{answer.field}"
        if not _SAFE_ORG.match(answer.org):
            problems.append(f"{where}: org id {answer.org!r} cannot name a label file; use "
                            "letters, digits, '_', '.' and '-'")
            continue
        schema = lookup.get(answer.org)
        if schema is None:
            problems.append(
                f"{where}: unknown org {answer.org!r}: it is not in {root / 'sources.yaml'} and "
                f"no metadata was given for it; register it there or pass its metadata "
                f"(--schema {answer.org}=PATH)"
            )
            continue
        try:
            sobject = schema.object(answer.object)
            meta = sobject.field(answer.field)
        except KeyError:
            problems.append(
                f"{where}: org {answer.org} has no field {answer.object}.{answer.field}; "
                "use the object and field API names of the org's metadata"
            )
            continue
        if answer.concept is not None and answer.group is not None:
            problems.append(f"{where}: give a concept or a group, not both "
                            f"({answer.concept!r}, group {answer.group!r}); groups are for "
                            "fields without a concept")
            continue
        if answer.concept is not None and answer.concept not in known_concepts:
            close = difflib.get_close_matches(answer.concept, concept_ids, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else \
                "; see `fedcrm ontology` for the concept ids"
            problems.append(f"{where}: unknown concept {answer.concept!r} (ontology "
                            f"{ontology.version}){hint} Write 'none' if no concept fits.")
            continue
        if answer.group is not None and not GROUP_PATTERN.match(answer.group):
            problems.append(f"{where}: group {answer.group!r} must be letters, digits, '_', "
                            "'.' or '-' (e.g. account.loyalty_tier)")
            continue
        if answer.group is not None and answer.group in known_concepts:
            # stored as a group, the field would read "no ontology concept fits"
            problems.append(f"{where}: group {answer.group!r} is a concept id; put it in the "
                            "concept column (groups are for fields that no concept fits)")
            continue
        if round is not None and answer.round is not None and answer.round != round:
            problems.append(f"{where}: the round column says {answer.round}, but round {round} "
                            "was given (--round); correct the round column, clear it, or "
                            "leave --round out")
            continue
        effective_round = answer.round if answer.round is not None else round
        if method == "active_learning" and effective_round is None:
            problems.append(f"{where}: no round number; fill the round column or pass "
                            "--round")
            continue
        labelled_at = None
        if answer.labelled_at is not None and answer.labelled_at.strip():
            try:
                labelled_at = utc_timestamp(answer.labelled_at)
            except ValueError:
                problems.append(f"{where}: labelled_at {answer.labelled_at!r} is not an ISO "
                                "8601 time; write it like 2026-01-31T14:05:00Z, or clear it "
                                "to record the import time")
                continue
        who = answer.annotator or annotator
        if not who:
            problems.append(f"{where}: who labelled this? Fill the annotator column or pass "
                            "--annotator")
            continue
        label = FieldLabel(
            org=answer.org, object=sobject.api_name, field=meta.api_name,
            concept=answer.concept, group=answer.group, annotator=who, method=method,
            labelled_at=labelled_at or stamp, round=effective_round, note=answer.note,
        )
        key = (answer.org, label.key)
        if key in chosen:
            first, earlier = chosen[key]
            if (earlier.concept, earlier.group) != (label.concept, label.group):
                problems.append(
                    f"{where}: {answer.org} {label.object}.{label.field} is answered "
                    f"{_describe(label.concept, label.group)} here but "
                    f"{_describe(earlier.concept, earlier.group)} at {first.where}; keep one"
                )
            else:  # annotators who agree share the label: credit each, keep every note
                who, notes = agreed.setdefault(key, ([earlier.annotator],
                                                     [earlier.note] if earlier.note else []))
                if label.annotator not in who:
                    who.append(label.annotator)
                if label.note and label.note not in notes:
                    notes.append(label.note)
            continue
        chosen[key] = (answer, label)
    for key, (who, notes) in agreed.items():
        first, label = chosen[key]
        chosen[key] = (first, label.model_copy(update={
            "annotator": ", ".join(who), "note": " | ".join(notes) or None}))
    if problems:
        raise MappingError(f"{len(problems)} invalid answer(s); nothing was imported:\n  "
                           + _listing(problems))

    by_org: dict[str, list[tuple[Answer, FieldLabel]]] = {}
    for (org, _), pair in chosen.items():
        by_org.setdefault(org, []).append(pair)
    # from reading the label files to replacing them, under the annotations folder's lock: two
    # imports (or an import and `fedcrm review labels`) at once lost one's labels silently
    with locked_folder(root):
        return _merge_into(root, by_org, lookup, replace=replace, reason=reason)


def _merge_into(root: Path, by_org: dict[str, list[tuple[Answer, FieldLabel]]],
                lookup: _Schemas, *, replace: bool, reason: str | None) -> MergeReport:
    """The read-merge-write of :func:`merge_answers`, under the folder's lock."""
    report = MergeReport()
    conflicts: list[Conflict] = []
    plans: dict[str, tuple[Path, dict[tuple[str, str], FieldLabel], list[FieldLabel]]] = {}
    for org, pairs in sorted(by_org.items()):
        path = root / "labels" / f"{org}.jsonl"
        existing = {lab.key: lab for lab in read_labels(path)} if path.exists() else {}
        replacements: dict[tuple[str, str], FieldLabel] = {}
        additions: list[FieldLabel] = []
        for answer, label in pairs:
            old = existing.get(label.key)
            if old is None:
                additions.append(label)
            elif (old.concept, old.group) == (label.concept, label.group):
                report.unchanged += 1
            elif replace:
                note = (f"{reason} (replaces {_describe(old.concept, old.group)} by "
                        f"{old.annotator}, {old.method})")
                replacements[label.key] = label.model_copy(update={
                    "note": f"{note}; {label.note}" if label.note else note})
            else:
                conflicts.append(Conflict(
                    where=answer.where, org=org, object=label.object, field=label.field,
                    existing_concept=old.concept, existing_group=old.group,
                    existing_annotator=old.annotator, existing_method=old.method,
                    new_concept=label.concept, new_group=label.group,
                ))
        if replacements or additions:
            plans[org] = (path, replacements, additions)
    if conflicts:
        raise LabelConflictError(conflicts)
    # every org's new file is prepared before any is replaced: an import is all-or-nothing
    write_files_atomically({
        path: merged_label_text(path, replacements, additions)
        for path, replacements, additions in plans.values()
    })
    for org, (path, replacements, additions) in plans.items():
        report.files.append(str(path))
        report.added += len(additions)
        report.replaced += len(replacements)
        report.labels.extend([*replacements.values(), *additions])
        if org not in lookup.sources:
            report.unregistered_orgs.append(org)
    return report


def import_answers(
    path: str | Path,
    annotations_dir: str | Path | None = None,
    *,
    format: str | None = None,
    ontology: Ontology | None = None,
    schemas: Mapping[str, OrgSchema] | None = None,
    metadata_root: str | Path | None = None,
    round: int | None = None,
    annotator: str | None = None,
    replace: bool = False,
    reason: str | None = None,
    now: str | None = None,
) -> MergeReport:
    """Read an answers file (:func:`fedcrm.annotate.exchange.read_answers`) and merge it with
    ``method="active_learning"`` (:func:`merge_answers` explains the other arguments)."""
    sheet = read_answers(path, format=format)
    report = merge_answers(
        sheet.answers, annotations_dir, ontology=ontology, schemas=schemas,
        metadata_root=metadata_root, round=round, annotator=annotator, replace=replace,
        reason=reason, now=now,
    )
    report.unanswered = sheet.unanswered
    return report


# ------------------------------------------------------------------------ line-level merge
def _line_key(line: str, path: Path, number: int) -> tuple[str, str] | None:
    if not line.strip():
        return None
    try:
        return FieldLabel.model_validate_json(line).key
    except ValidationError as exc:
        raise MappingError(f"{path}:{number}: invalid label "
                           f"({validation_problems(exc)})") from exc


def merged_label_text(
    path: Path,
    replacements: Mapping[tuple[str, str], FieldLabel],
    additions: Iterable[FieldLabel],
) -> str:
    """The new text of a label file: the lines of replaced labels rewritten, new labels
    inserted where the file's sort order puts them, every other line as it is."""
    # newline="": line endings as written (read_text turned a CRLF file's into LF, so one
    # import rewrote every line)
    text = ""
    if path.exists():
        with path.open(encoding="utf-8", newline="") as handle:
            text = handle.read()
    lines = json_lines(text, keepends=True)
    # new lines end as the file's lines do
    endings = [line[len(line.rstrip("\r\n")):] for line in lines]
    eol = max(("\r\n", "\n", "\r"), key=endings.count) if any(endings) else "\n"
    keys = [_line_key(line, path, number) for number, line in enumerate(lines, start=1)]
    for position, key in enumerate(keys):
        if key is not None and key in replacements:
            ending = endings[position] or eol
            lines[position] = replacements[key].model_dump_json(exclude_none=True) + ending
    new = sorted(additions, key=lambda label: label.key)
    if new and lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += eol  # the last line had no line break; one is needed to add after it
    present = [k for k in keys if k is not None]
    merged: list[str] = []
    if present == sorted(present):
        pending = list(new)
        for line, key in zip(lines, keys, strict=True):
            while pending and key is not None and pending[0].key < key:
                merged.append(pending.pop(0).model_dump_json(exclude_none=True) + eol)
            merged.append(line)
        merged.extend(label.model_dump_json(exclude_none=True) + eol for label in pending)
    else:  # an unsorted file: keep its order, add at the end
        merged = lines + [label.model_dump_json(exclude_none=True) + eol for label in new]
    return "".join(merged)


def merge_label_file(
    path: Path,
    replacements: Mapping[tuple[str, str], FieldLabel],
    additions: Iterable[FieldLabel],
) -> None:
    """Rewrite the lines of replaced labels, insert new ones, leave every other line as is."""
    write_files_atomically({path: merged_label_text(path, replacements, additions)})


def _temporary_beside(path: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    return Path(name)


def write_files_atomically(contents: Mapping[Path, str]) -> None:
    """Write several files all-or-nothing.

    Every new text goes to a temporary file beside its target and every existing target is
    copied to a backup first; only then are the targets replaced, one ``os.replace`` each. If
    anything stops the replacing — an :class:`OSError`, but also Ctrl-C
    (:class:`KeyboardInterrupt`) or any other exception — the targets already replaced are
    restored from their backups (new files are removed) and the exception goes on, so either
    every file has its new text or every file is as it was. Backups are deleted only once
    every file is written or every file is restored. Raises :class:`MappingError` naming the
    file that could not be written (and, should restoring fail too, the backup to copy back by
    hand; for an exception other than :class:`OSError` that goes into the exception's notes).
    """
    temporaries: dict[Path, Path] = {}
    backups: dict[Path, Path] = {}
    #: targets whose replacement has begun; one interrupted mid-call is restored as well
    replaced: list[Path] = []
    settled = False  # True once every target has its new text or its old one again
    try:
        try:
            for path, text in contents.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                temporaries[path] = _temporary_beside(path, ".new")
                temporaries[path].write_text(text, encoding="utf-8", newline="")
                if path.exists():
                    backups[path] = _temporary_beside(path, ".bak")
                    shutil.copy2(path, backups[path])
                    shutil.copymode(path, temporaries[path])  # keep the file's permissions
                else:
                    temporaries[path].chmod(new_file_mode())  # not mkstemp's 0600
        except OSError as exc:
            raise MappingError(f"{exc.filename or 'a label file'}: cannot write "
                               f"({exc.strerror or exc}); nothing was imported") from exc
        try:
            for path in contents:
                replaced.append(path)
                os.replace(temporaries[path], path)
                del temporaries[path]
        except BaseException as exc:
            # not only OSError: a Ctrl-C between two replacements would leave some orgs
            # written and others not
            current = replaced[-1] if replaced else None
            if current in temporaries and temporaries[current].exists():
                replaced.pop()  # stopped before its os.replace happened: nothing to restore
            stuck = _restore(replaced, backups)
            settled = True  # the backups of `stuck` were taken out of `backups`: they stay
            by_hand = ("restoring failed; copy back by hand: "
                       + ", ".join(f"{backup} -> {target}" for target, backup in stuck))
            if isinstance(exc, OSError):
                raise MappingError(
                    f"{current}: cannot replace the label file ({exc.strerror or exc}); "
                    + ("the files already written were restored, nothing was imported"
                       if not stuck else by_hand)
                ) from exc
            if stuck:
                exc.add_note(f"writing the label files was interrupted; {by_hand}")
            raise
        settled = True
    finally:
        for leftover in temporaries.values():
            leftover.unlink(missing_ok=True)
        if settled or not replaced:
            for backup in backups.values():
                backup.unlink(missing_ok=True)


def _restore(replaced: Sequence[Path], backups: dict[Path, Path]) -> list[tuple[Path, Path]]:
    """Put the originals of ``replaced`` back (remove the ones that did not exist); the
    backups used are taken out of ``backups``. Returns (target, backup) pairs that failed,
    whose backups stay on disk."""
    stuck: list[tuple[Path, Path]] = []
    for path in reversed(replaced):
        backup = backups.pop(path, None)
        try:
            if backup is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(backup, path)
        except OSError:
            if backup is not None:
                stuck.append((path, backup))
    return stuck


# ----------------------------------------------------------------------------- review
def import_review_labels(
    source: ReviewStore | str | Path,
    annotations_dir: str | Path | None = None,
    *,
    ontology: Ontology | None = None,
    schemas: Mapping[str, OrgSchema] | None = None,
    metadata_root: str | Path | None = None,
    replace: bool = False,
    reason: str | None = None,
    exported_by: str = "fedcrm annotate",
) -> MergeReport:
    """Turn review decisions into corpus labels with the same validation and merge.

    ``source`` is a :class:`~fedcrm.review.ReviewStore` (its decided fields are read, and one
    ``labels`` audit entry naming the annotations folder, the counts and ``exported_by`` is
    appended once the merge has succeeded; a refused merge records nothing) or a folder that
    ``export_labels`` wrote. The labels keep the reviewer, decision time and comment, with
    ``method="review"``; a decision that contradicts an existing label is a conflict unless
    ``replace`` is given with a ``reason``.
    """
    if isinstance(source, str | Path):
        answers = _review_answers(Path(source))
    else:
        answers = [
            _review_answer(label, f"review decision on {label.org} {label.object}.{label.field}")
            for labels in source.decided_labels().values() for label in labels]
        if not answers:
            raise MappingError(f"the review {source.describe()} has no decided fields (approved "
                               "or no equivalent) to turn into labels; decide some first")
    report = merge_answers(answers, annotations_dir, ontology=ontology, schemas=schemas,
                           metadata_root=metadata_root, method="review", replace=replace,
                           reason=reason)
    if not isinstance(source, str | Path):
        source.record_label_import(annotations_dir if annotations_dir is not None
                                   else default_annotations_dir(), added=report.added,
                                   replaced=report.replaced, unchanged=report.unchanged,
                                   actor=exported_by)
    return report


def _review_answer(label: FieldLabel, where: str) -> Answer:
    return Answer(org=label.org, object=label.object, field=label.field, concept=label.concept,
                  group=label.group, annotator=label.annotator, labelled_at=label.labelled_at,
                  round=label.round, note=label.note, where=where)


def _review_answers(folder: Path) -> list[Answer]:
    labels_dir = folder / "labels"
    if not labels_dir.is_dir():
        raise MappingError(f"{folder}: no labels/ folder; give the folder "
                           "`ReviewStore.export_labels` wrote")
    answers: list[Answer] = []
    others = 0
    for path in sorted(labels_dir.glob("*.jsonl")):
        for number, label in enumerate(read_labels(path), start=1):
            if label.method != "review":
                # an annotations folder holds hand, synthetic and active-learning labels too;
                # merged with method "review" they lost their provenance
                others += 1
                continue
            answers.append(_review_answer(label, f"{path.name}:{number} (review decision)"))
    if not answers:
        raise MappingError(f"{labels_dir}: no review labels (method \"review\") to import"
                           + (f"; its {others} other label(s) are not review decisions"
                              if others else "") + "; give the folder `fedcrm review labels` "
                           "wrote")
    return answers
