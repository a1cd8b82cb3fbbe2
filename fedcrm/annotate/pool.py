"""The pool of fields an annotator may be asked about, and the partially labelled corpus.

An active-learning corpus is *partial*: an org joins with its metadata and few or no labels,
and labels arrive a round at a time. :func:`load_annotations` reads such a folder (the
``annotations/`` layout of :mod:`fedcrm.matching.corpus`, where a label file may be missing
or cover only some fields); :func:`training_view` turns a partially labelled org into one the
matcher can learn from (its metadata restricted to the labelled fields, so every field it
sees has a label).

A :class:`PoolField` is one custom field that could be labelled, with the calibrated
candidate concepts the current matcher proposes for it (:meth:`FieldMatcher.score_fields`).
Standard fields are not in the pool: the ontology decides them by rule.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from fedcrm._args import string_list
from fedcrm.errors import ConfigError, MappingError
from fedcrm.matching.corpus import (
    AnnotatedOrg,
    OrgSource,
    check_labels,
    default_annotations_dir,
    default_metadata_root,
    read_labels,
    read_sources,
)
from fedcrm.ontology.models import Ontology
from fedcrm.schema.models import OrgSchema, SObjectSchema

if TYPE_CHECKING:
    from fedcrm.matching.model import FieldMatcher

#: (org, object, field), as written in the org's metadata
FieldKey = tuple[str, str, str]
#: the token annotators write for "no concept fits this field"
NO_CONCEPT = "none"


@dataclass(frozen=True)
class PoolField:
    """One custom field that could be labelled, with the matcher's calibrated candidates."""

    org: str
    object: str
    field: str
    label: str
    kind: str
    description: str = ""
    picklist_values: tuple[str, ...] = ()
    #: (concept id, calibrated probability), best first
    candidates: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        odd = [(c, p) for c, p in self.candidates if not 0.0 <= p <= 1.0]  # NaN fails too
        if odd:
            raise ConfigError(f"{self.task_id}: candidate probabilities must be in [0, 1], "
                              f"got {odd}")

    @property
    def key(self) -> FieldKey:
        """(org, object, field)."""
        return (self.org, self.object, self.field)

    @property
    def task_id(self) -> str:
        """``org/Object.Field``: how exported task files name the field."""
        return f"{self.org}/{self.object}.{self.field}"

    @property
    def none_probability(self) -> float:
        """Probability that no candidate is right: ``1 − Σ p`` clipped to [0, 1].

        The calibrated scores are per (field, concept) pair and need not sum to one; what the
        candidates leave over is the chance that the field has no concept among them. For a
        label the matcher cannot read (no Latin letter: "年間売上高") it is at most what the
        matcher's own abstention claims there (``UNREADABLE_CONFIDENCE``, 0.5): low scores
        say the matcher cannot read it, not that no concept fits, so uncertainty sampling
        must not rank such a field as the surest of all.
        """
        from fedcrm.matching.model import UNREADABLE_CONFIDENCE, unreadable_script

        left = min(1.0, max(0.0, 1.0 - sum(p for _, p in self.candidates)))
        return min(left, UNREADABLE_CONFIDENCE) if unreadable_script(self.label) else left

    @property
    def text(self) -> str:
        """The words that say what the field is (object, label, API name), for similarity."""
        api_words = self.field.removesuffix("__c").replace("_", " ")
        return f"{self.object.removesuffix('__c').replace('_', ' ')}: {self.label} ({api_words})"


# ---------------------------------------------------------------------- the partial corpus
def load_org_schema(source: OrgSource, folder: Path, metadata_root: Path) -> OrgSchema:
    """The metadata of one org listed in ``sources.yaml``."""
    from fedcrm.schema import load_schema

    if source.kind == "real":
        org_path = metadata_root / (source.path or source.org)
        if not org_path.exists():
            raise MappingError(
                f"metadata of real org {source.org} not found at {org_path}; set "
                "FEDCRM_METADATA_ROOT to the folder holding the public org metadata"
            )
        return load_schema(org_path, org_id=source.org)
    schema_path = folder / "schemas" / f"{source.org}.json"
    try:
        return OrgSchema.model_validate_json(schema_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(
            f"{schema_path}: cannot read the metadata of org {source.org} "
            f"({exc.strerror or exc}); every org in sources.yaml needs schemas/<org>.json "
            "(synthetic) or metadata under the metadata root (real)"
        ) from exc
    except ValidationError as exc:
        raise MappingError(f"{schema_path}: invalid org metadata ({exc})") from exc


def load_annotations(
    folder: str | Path | None = None,
    *,
    metadata_root: str | Path | None = None,
    ontology: Ontology | None = None,
    orgs: Iterable[str] | None = None,
    kinds: tuple[str, ...] = ("real", "synthetic"),
    skip_missing_real: bool = False,
) -> list[AnnotatedOrg]:
    """Every org of an annotations folder with the labels it has so far.

    Unlike :func:`fedcrm.matching.load_corpus`, a field without a label is allowed (and an
    org without a label file has no labels); a label naming a field the metadata lacks, a
    field labelled twice or an unknown concept id still raise :class:`MappingError`.
    """
    root = Path(folder) if folder is not None else default_annotations_dir()
    meta_root = Path(metadata_root) if metadata_root is not None else default_metadata_root()
    wanted = set(string_list(orgs, "orgs")) if orgs is not None else None
    result: list[AnnotatedOrg] = []
    for source in read_sources(root):
        if source.kind not in kinds or (wanted is not None and source.org not in wanted):
            continue
        if source.kind == "real" and skip_missing_real and not (
            meta_root / (source.path or source.org)
        ).exists():
            continue
        org = AnnotatedOrg(schema=load_org_schema(source, root, meta_root), source=source)
        labels_path = root / "labels" / f"{source.org}.jsonl"
        if labels_path.exists():
            for label in read_labels(labels_path):
                if label.key in org.labels:
                    raise MappingError(
                        f"{labels_path}: field {label.object}.{label.field} labelled twice"
                    )
                org.labels[label.key] = label
        check_labels(org, ontology, require_all=False)
        result.append(org)
    if wanted is not None:
        missing = sorted(wanted - {o.org_id for o in result})
        if missing:
            raise MappingError(
                f"org(s) {missing} are not listed in {root / 'sources.yaml'}; add an entry "
                "(org, kind, licence) for each"
            )
    return result


def is_complete(org: AnnotatedOrg) -> bool:
    """True when every field of the org has a label."""
    return all(
        (sobject.api_name.lower(), meta.api_name.lower()) in org.labels
        for sobject, meta in org.schema.iter_fields()
    )


def training_view(org: AnnotatedOrg) -> AnnotatedOrg | None:
    """The org restricted to its labelled fields, or None if no custom field has a label.

    The matcher learns from every custom field of an org it is given, so a partially labelled
    org is shown to it with the unlabelled fields left out, marked ``partial`` (its fields
    train the matcher but do not choose the abstention threshold).
    """
    if is_complete(org):
        return org if any(meta.is_custom for _, meta in org.schema.iter_fields()) else None
    objects: list[SObjectSchema] = []
    n_custom = 0
    for sobject in org.schema.objects:
        kept = tuple(
            meta for meta in sobject.fields
            if (sobject.api_name.lower(), meta.api_name.lower()) in org.labels
        )
        if kept:
            n_custom += sum(meta.is_custom for meta in kept)
            objects.append(sobject.model_copy(update={"fields": kept}))
    if n_custom == 0:
        return None
    schema = org.schema.model_copy(update={"objects": tuple(objects)})
    return AnnotatedOrg(schema=schema, source=org.source, labels=dict(org.labels),
                        partial=True)


def training_corpus(orgs: Sequence[AnnotatedOrg]) -> list[AnnotatedOrg]:
    """The training views of ``orgs`` that have anything to learn from."""
    views = (training_view(org) for org in orgs)
    return [view for view in views if view is not None]


def unlabelled_keys(org: AnnotatedOrg) -> set[tuple[str, str]]:
    """Lower-cased (object, field) of the org's custom fields without a label."""
    return {
        (sobject.api_name.lower(), meta.api_name.lower())
        for sobject, meta in org.schema.iter_fields()
        if meta.is_custom and (sobject.api_name.lower(), meta.api_name.lower()) not in org.labels
    }


# ------------------------------------------------------------------------------ the pool
def score_pool(
    matcher: FieldMatcher,
    schemas: Sequence[OrgSchema],
    *,
    exclude: Mapping[str, Collection[tuple[str, str]]] | None = None,
) -> list[PoolField]:
    """Every custom field of ``schemas`` with the matcher's calibrated candidates.

    ``exclude`` maps an org id to lower-cased (object, field) keys to leave out (typically the
    fields that already have a label).
    """
    pool: list[PoolField] = []
    for schema in schemas:
        skip = exclude.get(schema.org_id, ()) if exclude else ()
        wanted = [
            (sobject, meta) for sobject, meta in schema.iter_fields()
            if meta.is_custom and (sobject.api_name.lower(), meta.api_name.lower()) not in skip
        ]
        if not wanted:
            continue
        scored, _, _ = matcher.score_fields(schema, explain=False)
        by_key = {(entry.object, entry.field): entry for entry in scored}
        for sobject, meta in wanted:
            entry = by_key[(sobject.api_name, meta.api_name)]
            description = " ".join(x for x in (meta.description, meta.help_text) if x)
            pool.append(PoolField(
                org=schema.org_id, object=sobject.api_name, field=meta.api_name,
                label=meta.label or meta.api_name, kind=meta.kind.value,
                description=description,
                picklist_values=tuple(v.value for v in meta.picklist_values),
                candidates=tuple((concept, float(p)) for concept, p, _ in entry.candidates),
            ))
    return pool


def unlabelled_pool(
    matcher: FieldMatcher, orgs: Sequence[AnnotatedOrg], *, include_labelled: bool = False
) -> list[PoolField]:
    """The pool of ``orgs``: their unlabelled custom fields (or all of them)."""
    exclude = None if include_labelled else {
        org.org_id: set(org.labels) for org in orgs
    }
    return score_pool(matcher, [org.schema for org in orgs], exclude=exclude)
