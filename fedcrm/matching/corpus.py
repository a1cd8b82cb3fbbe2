"""The annotated corpus the matcher learns from (``annotations/``).

Layout::

    annotations/
      DATASHEET.md            sources, how labelled, counts, known gaps
      sources.yaml            one entry per annotated org: kind, origin, licence
      labels/<org>.jsonl      one label per field: concept id or null, cross-org group or null
      schemas/<org>.json      metadata snapshot (synthetic orgs only; real orgs are read from
                              their public source, see sources.yaml)

A label says what one field *means*: ``concept`` is an ontology concept id, or null when no
concept fits; ``group`` names a cross-org equivalence group for fields without a concept
(the same group id in two orgs means the two fields are the same thing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from fedcrm.errors import MappingError
from fedcrm.ontology.models import Ontology
from fedcrm.schema import load_schema
from fedcrm.schema.models import OrgSchema

ENV_ANNOTATIONS = "FEDCRM_ANNOTATIONS"
ENV_METADATA_ROOT = "FEDCRM_METADATA_ROOT"


class FieldLabel(BaseModel):
    """What one field of one org means, and who said so."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    org: str
    object: str
    field: str
    concept: str | None = None
    group: str | None = None
    annotator: str = "unknown"
    #: how the label was made: by hand, from the synthetic generator, from a review decision,
    #: or from an active-learning round
    method: Literal["hand", "synthetic", "review", "active_learning"] = "hand"
    labelled_at: str | None = None
    round: int | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _concept_or_group(self) -> FieldLabel:
        if self.concept is not None and self.group is not None:
            raise ValueError(
                f"{self.org} {self.object}.{self.field}: give a concept or a group, not both "
                "(groups are for fields without a concept)"
            )
        return self

    @property
    def key(self) -> tuple[str, str]:
        """(object, field) in lower case."""
        return (self.object.lower(), self.field.lower())


class OrgSource(BaseModel):
    """Where an annotated org comes from."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    org: str
    kind: Literal["real", "synthetic"]
    description: str = ""
    #: real orgs: repository and commit the metadata was taken from
    repository: str | None = None
    commit: str | None = None
    licence: str
    #: real orgs: folder relative to the metadata root (default: the org id)
    path: str | None = None


@dataclass
class AnnotatedOrg:
    """One org's metadata together with a label for every field."""

    schema: OrgSchema
    source: OrgSource
    labels: dict[tuple[str, str], FieldLabel] = field(default_factory=dict)
    #: only a selection of the org's fields is shown (the labelled ones, as active learning
    #: leaves an org): they train the matcher but do not choose its abstention threshold,
    #: because fields picked for their uncertainty are harder than the org's fields at large
    partial: bool = False

    @property
    def org_id(self) -> str:
        """The org id."""
        return self.schema.org_id

    def label(self, sobject: str, field_name: str) -> FieldLabel:
        """The label of ``sobject.field_name``."""
        return self.labels[(sobject.lower(), field_name.lower())]

    def block_of(self, sobject: str, field_name: str) -> str | None:
        """The equivalence block a correct mapping assigns: concept id, ``custom:<group>``
        or None."""
        label = self.label(sobject, field_name)
        if label.concept is not None:
            return label.concept
        return f"custom:{label.group}" if label.group else None


def default_annotations_dir() -> Path:
    """``$FEDCRM_ANNOTATIONS`` or the repository's ``annotations/``."""
    override = os.environ.get(ENV_ANNOTATIONS)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "annotations"


def default_metadata_root() -> Path:
    """Where real orgs' metadata is read from: ``$FEDCRM_METADATA_ROOT`` or
    ``../shared/data/salesforce-metadata/orgs`` beside the repository."""
    override = os.environ.get(ENV_METADATA_ROOT)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "salesforce-metadata" / "orgs"


def read_labels(path: Path) -> list[FieldLabel]:
    """Labels from a JSON-lines file; errors name the file and line."""
    labels: list[FieldLabel] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read labels ({exc.strerror or exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            labels.append(FieldLabel.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise MappingError(f"{path}:{number}: invalid label ({exc})") from exc
    return labels


def write_labels(path: Path, labels: Iterable[FieldLabel]) -> None:
    """Write labels as JSON lines, sorted by object and field."""
    rows = sorted(labels, key=lambda lab: (lab.object.lower(), lab.field.lower()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(lab.model_dump_json(exclude_none=True) + "\n" for lab in rows), encoding="utf-8"
    )


def read_sources(folder: Path) -> list[OrgSource]:
    """The org sources listed in ``sources.yaml``."""
    path = folder / "sources.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: malformed YAML ({exc})") from exc
    try:
        return [OrgSource.model_validate(entry) for entry in document.get("orgs", [])]
    except ValidationError as exc:
        raise MappingError(f"{path}: invalid source entry ({exc})") from exc


def check_labels(
    org: AnnotatedOrg, ontology: Ontology | None = None, *, require_all: bool = True
) -> None:
    """Every field has exactly one label, every label names a real field, concepts exist."""
    fields = {(o.api_name.lower(), f.api_name.lower()) for o, f in org.schema.iter_fields()}
    unknown = sorted(set(org.labels) - fields)
    if unknown:
        raise MappingError(
            f"labels of org {org.org_id} name fields its metadata does not have: "
            + ", ".join(".".join(k) for k in unknown[:10])
        )
    missing = sorted(fields - set(org.labels))
    if require_all and missing:
        raise MappingError(
            f"org {org.org_id}: {len(missing)} field(s) have no label, e.g. "
            + ", ".join(".".join(k) for k in missing[:10])
        )
    if ontology is not None:
        known = {c.id for c in ontology.concepts}
        bad = sorted({lab.concept for lab in org.labels.values() if lab.concept} - known)
        if bad:
            raise MappingError(f"org {org.org_id}: labels use unknown concept ids {bad}")


def load_corpus(
    folder: str | Path | None = None,
    *,
    metadata_root: str | Path | None = None,
    ontology: Ontology | None = None,
    kinds: tuple[str, ...] = ("real", "synthetic"),
    orgs: Iterable[str] | None = None,
    skip_missing_real: bool = False,
) -> list[AnnotatedOrg]:
    """Load every annotated org (metadata + labels), checked for completeness.

    Real orgs' metadata is read from ``metadata_root`` (see :func:`default_metadata_root`); with
    ``skip_missing_real`` an absent real org is left out instead of raising.
    """
    root = Path(folder) if folder is not None else default_annotations_dir()
    meta_root = Path(metadata_root) if metadata_root is not None else default_metadata_root()
    wanted = set(orgs) if orgs is not None else None
    corpus: list[AnnotatedOrg] = []
    for source in read_sources(root):
        if source.kind not in kinds or (wanted is not None and source.org not in wanted):
            continue
        if source.kind == "real":
            org_path = meta_root / (source.path or source.org)
            if not org_path.exists():
                if skip_missing_real:
                    continue
                raise MappingError(
                    f"metadata of real org {source.org} not found at {org_path}; set "
                    f"{ENV_METADATA_ROOT} to the folder holding the public org metadata"
                )
            schema = load_schema(org_path, org_id=source.org)
        else:
            schema_path = root / "schemas" / f"{source.org}.json"
            try:
                schema = OrgSchema.model_validate_json(schema_path.read_text(encoding="utf-8"))
            except (OSError, ValidationError) as exc:
                raise MappingError(f"{schema_path}: cannot load synthetic schema ({exc})") from exc
        labels = read_labels(root / "labels" / f"{source.org}.jsonl")
        org = AnnotatedOrg(schema=schema, source=source)
        for label in labels:
            if label.key in org.labels:
                raise MappingError(
                    f"org {source.org}: field {label.object}.{label.field} labelled twice"
                )
            org.labels[label.key] = label
        check_labels(org, ontology)
        corpus.append(org)
    return corpus
