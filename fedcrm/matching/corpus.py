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
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from fedcrm._files import json_lines
from fedcrm.errors import ConfigError, MappingError, validation_problems
from fedcrm.ontology.loader import load_ontology
from fedcrm.ontology.models import Ontology
from fedcrm.schema import load_schema
from fedcrm.schema.models import OrgSchema

ENV_ANNOTATIONS = "FEDCRM_ANNOTATIONS"
ENV_METADATA_ROOT = "FEDCRM_METADATA_ROOT"
KINDS = ("real", "synthetic")


#: what a cross-org group id may look like (``account.loyalty_tier``): letters, digits, ``_``,
#: ``.`` and ``-``, starting with a letter or digit; the review and the annotation import
#: refuse anything else, so a group chosen in one can always be stored by the other
GROUP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


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


def _read_text(path: Path, what: str) -> str:
    """``path`` decoded as UTF-8; errors name the file (and the first bad byte)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: not UTF-8 (byte {exc.start}); re-save as UTF-8") from None


def read_labels(path: Path, *, org: str | None = None) -> list[FieldLabel]:
    """Labels from a JSON-lines file; errors name the file and line. With ``org``, every row
    must name that org (a label file holds one org's labels)."""
    labels: list[FieldLabel] = []
    lines = json_lines(_read_text(path, "labels"))
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            label = FieldLabel.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise MappingError(f"{path}:{number}: invalid label (not JSON: {exc})") from exc
        except ValidationError as exc:
            raise MappingError(f"{path}:{number}: invalid label "
                               f"({validation_problems(exc)})") from exc
        if org is not None and label.org != org:
            raise MappingError(
                f"{path}:{number}: label of {label.object}.{label.field} names org "
                f"{label.org!r}, but this file holds the labels of org {org!r}; set its "
                f"'org' to {org!r} or move the row to labels/{label.org}.jsonl"
            )
        labels.append(label)
    return labels


def labels_text(labels: Iterable[FieldLabel]) -> str:
    """Labels as JSON lines, sorted by object and field (what :func:`write_labels` writes)."""
    rows = sorted(labels, key=lambda lab: (lab.object.lower(), lab.field.lower()))
    return "".join(lab.model_dump_json(exclude_none=True) + "\n" for lab in rows)


def write_labels(path: Path, labels: Iterable[FieldLabel]) -> None:
    """Write labels as JSON lines, sorted by object and field."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(labels_text(labels), encoding="utf-8")


def read_sources(folder: Path) -> list[OrgSource]:
    """The org sources listed in ``sources.yaml`` (each org once)."""
    path = folder / "sources.yaml"
    try:
        document = yaml.safe_load(_read_text(path, "org sources"))
    except yaml.YAMLError as exc:
        # PyYAML's message spans several lines (a caret under the spot): one line here
        raise MappingError(f"{path}: malformed YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("orgs"), list):
        raise MappingError(
            f"{path}: expected a mapping with an 'orgs:' list (one entry per annotated org: "
            "org, kind, licence)"
        )
    try:
        sources = [OrgSource.model_validate(entry) for entry in document["orgs"]]
    except ValidationError as exc:
        raise MappingError(f"{path}: invalid source entry ({exc})") from exc
    twice = sorted(org for org, n in Counter(s.org for s in sources).items() if n > 1)
    if twice:
        raise MappingError(f"{path}: org(s) {twice} listed more than once; keep one entry each")
    return sources


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


def _chosen_sources(
    root: Path, kinds: tuple[str, ...], orgs: Iterable[str] | None
) -> list[OrgSource]:
    """The sources of ``sources.yaml`` that ``kinds`` and ``orgs`` select; a filter value
    that selects nothing is an error, not an empty corpus."""
    if isinstance(kinds, str):
        raise ConfigError(f"kinds must be a tuple such as ('real',), not the string {kinds!r}")
    bad_kinds = sorted(set(kinds) - set(KINDS))
    if bad_kinds:
        raise ConfigError(f"unknown org kind(s) {bad_kinds}; kinds are {list(KINDS)}")
    if isinstance(orgs, str):
        raise ConfigError(f"orgs must be a list of org ids such as [{orgs!r}], not a string")
    sources = read_sources(root)
    if orgs is None:
        return [s for s in sources if s.kind in kinds]
    wanted = list(dict.fromkeys(orgs))
    by_org = {s.org: s for s in sources}
    unknown = [o for o in wanted if o not in by_org]
    if unknown:
        raise MappingError(
            f"{root / 'sources.yaml'}: no org(s) {unknown}; its orgs of kind "
            f"{'/'.join(kinds)} are {[s.org for s in sources if s.kind in kinds]}"
        )
    other_kind = [f"{o} ({by_org[o].kind})" for o in wanted if by_org[o].kind not in kinds]
    if other_kind:
        raise MappingError(
            f"{root / 'sources.yaml'}: org(s) {other_kind} are not of kind "
            f"{'/'.join(kinds)}; leave them out or add their kind to kinds"
        )
    chosen = set(wanted)
    return [s for s in sources if s.org in chosen]


def load_corpus(
    folder: str | Path | None = None,
    *,
    metadata_root: str | Path | None = None,
    ontology: Ontology | None = None,
    kinds: tuple[str, ...] = KINDS,
    orgs: Iterable[str] | None = None,
    skip_missing_real: bool = False,
) -> list[AnnotatedOrg]:
    """Load every annotated org (metadata + labels), checked for completeness.

    ``kinds`` and ``orgs`` select orgs of ``sources.yaml``; an unknown kind or org id, or an
    org not of ``kinds``, raises. Labels are checked against ``ontology`` (default: the
    shipped one). Real orgs' metadata is read from ``metadata_root`` (see
    :func:`default_metadata_root`); with ``skip_missing_real`` an absent real org is left
    out instead of raising.
    """
    root = Path(folder) if folder is not None else default_annotations_dir()
    meta_root = Path(metadata_root) if metadata_root is not None else default_metadata_root()
    chosen = _chosen_sources(root, kinds, orgs)
    ontology = ontology if ontology is not None else load_ontology()
    corpus: list[AnnotatedOrg] = []
    for source in chosen:
        if source.kind == "real":
            org_path = meta_root / (source.path or source.org)
            if not org_path.exists():
                if skip_missing_real:
                    continue
                fix = (f"check --metadata-root (metadata_root={meta_root})"
                       if metadata_root is not None else
                       f"set {ENV_METADATA_ROOT} (or pass --metadata-root) to the folder "
                       "holding the public org metadata")
                raise MappingError(
                    f"metadata of real org {source.org} not found at {org_path}; {fix}")
            schema = load_schema(org_path, org_id=source.org)
        else:
            schema_path = root / "schemas" / f"{source.org}.json"
            try:
                schema = OrgSchema.model_validate_json(_read_text(schema_path, "schema"))
            except ValidationError as exc:
                raise MappingError(f"{schema_path}: cannot load synthetic schema ({exc})") from exc
            if schema.org_id != source.org:
                raise MappingError(
                    f"{schema_path}: org_id is {schema.org_id!r}, but sources.yaml lists this "
                    f"file as org {source.org!r}; make the two the same"
                )
        labels_path = root / "labels" / f"{source.org}.jsonl"
        labels = read_labels(labels_path, org=source.org)
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
