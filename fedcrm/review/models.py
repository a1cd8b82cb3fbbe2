"""What crosses the review store's boundary: decisions coming in, views, reports and audit
entries going out. All pydantic, so the CLI, the web page and notebooks validate the same way."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fedcrm._config import UserModel
from fedcrm.errors import FedcrmError, MappingError
from fedcrm.matching.proposal import CUSTOM_BLOCK_PREFIX
from fedcrm.schema.models import FieldProfile

#: confidence at or above which a proposal is in the "high" tier
HIGH_CONFIDENCE = 0.9
#: confidence at or above which a proposal is in the "medium" tier (below: "low")
MEDIUM_CONFIDENCE = 0.6


class Action(StrEnum):
    """What a reviewer can do with a field."""

    #: take the proposal as it is (a concept, a shared custom block, or the matcher's
    #: abstention, which makes the field ``no_equivalent`` without rejecting candidates)
    ACCEPT = "accept"
    #: map the field to another concept (or ``custom:<id>`` block); rejects the proposal
    CHOOSE = "choose"
    #: the field has no equivalent concept; rejects every candidate shown
    NO_EQUIVALENT = "no_equivalent"
    #: decide later; the field stays in the queue, after the undecided ones
    DEFER = "defer"
    #: accepted in bulk above a confidence threshold the steward chose (never by default)
    AUTO_ACCEPT = "auto_accept"


class Status(StrEnum):
    """Where a field stands in the review."""

    PENDING = "pending"
    DEFERRED = "deferred"
    #: decided before, but its metadata changed at a re-import: the old decision is shown
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"
    NO_EQUIVALENT = "no_equivalent"

    @property
    def decided(self) -> bool:
        """True for statuses the approved mapping takes as a steward's decision."""
        return self in (Status.APPROVED, Status.NO_EQUIVALENT)


class Tier(StrEnum):
    """Confidence tier shown next to a proposal."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @classmethod
    def of(cls, confidence: float) -> Tier:
        """The tier of a confidence value."""
        if confidence >= HIGH_CONFIDENCE:
            return cls.HIGH
        if confidence >= MEDIUM_CONFIDENCE:
            return cls.MEDIUM
        return cls.LOW


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DecisionRequest(UserModel):
    """One reviewer's decision on one field, as the CLI, the web page or a notebook sends it.

    ``seen_version`` is the field version the reviewer looked at; the store refuses the
    decision when the field has changed since (optimistic locking). A request that breaks a
    rule raises :class:`~fedcrm.MappingError` with one line that names the field and the rule
    (pydantic's ``ValidationError`` is its ``__cause__``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    org: str = Field(min_length=1)
    object: str = Field(min_length=1)
    field: str = Field(min_length=1)
    action: Action
    seen_version: int = Field(ge=1)
    reviewer: str = Field(min_length=1, max_length=200)
    #: the concept id (or ``custom:<id>`` block) for ``choose``; must be empty otherwise
    concept: str | None = None
    comment: str | None = Field(default=None, max_length=4000)

    @field_validator("reviewer", "concept", "comment", mode="before")
    @classmethod
    def _strip(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            # a blank reviewer stays "" so that the error says it is empty, not "not a string"
            return value if value or info.field_name == "reviewer" else None
        return value

    @model_validator(mode="after")
    def _concept_matches_action(self) -> DecisionRequest:
        where = f"{self.org} {self.object}.{self.field}"
        if self.action is Action.CHOOSE and not self.concept:
            raise ValueError(f"{where}: 'choose' needs the concept id to map the field to")
        if self.action is not Action.CHOOSE and self.concept:
            raise ValueError(
                f"{where}: only 'choose' takes a concept (got {self.concept!r} with "
                f"{self.action.value!r})"
            )
        if self.concept == CUSTOM_BLOCK_PREFIX:
            raise ValueError(f"{where}: a custom block needs an id after {CUSTOM_BLOCK_PREFIX!r}")
        return self

    @classmethod
    def constructor_error(cls, error: ValidationError, values: dict[str, Any]) -> FedcrmError:
        where = f"{values.get('org')} {values.get('object')}.{values.get('field')}"
        return MappingError(_one_line(error, where))

    @classmethod
    def from_input(cls, **values: Any) -> DecisionRequest:
        """A request from what a person typed (CLI options, a web form): the constructor,
        which raises :class:`~fedcrm.MappingError` for a problem."""
        return cls(**values)


def _one_line(error: ValidationError, where: str) -> str:
    """pydantic's errors as ``where: field: rule`` (joined by ``;``), without its URLs."""
    problems = []
    for detail in error.errors(include_url=False):
        cause = detail.get("ctx", {}).get("error")
        if not detail["loc"] and isinstance(cause, ValueError):
            problems.append(str(cause))  # a model check: its message names the field already
            continue
        field = ".".join(str(part) for part in detail["loc"]) or "decision"
        given = detail.get("input")
        shown = (f" (got {len(given)} characters)" if isinstance(given, str) and len(given) > 60
                 else f" (got {given!r})")
        problems.append(f"{where}: {field}: {detail['msg']}{shown}")
    return "; ".join(problems)


class CandidateView(_Model):
    """A candidate concept as a reviewer sees it."""

    concept: str
    score: float
    evidence: list[str] = Field(default_factory=list)
    #: the concept's label in the ontology, when known
    label: str | None = None
    #: the concept's downstream impact weight (see :mod:`fedcrm.review.impact`)
    impact: float = 1.0


class DecisionRecord(_Model):
    """One stored decision (append-only)."""

    id: int
    field_id: int
    org: str
    object: str
    field: str
    action: Action
    concept: str | None
    block: str | None
    comment: str | None
    reviewer: str
    decided_at: str
    seen_version: int
    new_version: int
    matcher_version: str
    ontology_version: str
    #: the field's status, concept and block before this decision
    previous: dict[str, Any]


class FieldView(_Model):
    """Everything a reviewer needs to decide one field, and where it stands."""

    id: int
    org: str
    object: str
    field: str
    label: str | None = None
    description: str | None = None
    kind: str | None = None
    #: privacy-safe value statistics (no record values; see :class:`fedcrm.FieldProfile`)
    profile: FieldProfile | None = None
    #: candidates, best first, without the concepts rejected for this field
    candidates: list[CandidateView]
    proposed_concept: str | None
    proposed_block: str | None
    confidence: float
    tier: Tier
    impact: float
    #: queue priority: (1 − confidence) × impact; higher is reviewed first
    priority: float
    status: Status
    decided_concept: str | None = None
    decided_block: str | None = None
    #: for ``needs_review``: the decision taken before the field's metadata changed
    prior_decision: DecisionRecord | None = None
    last_decision: DecisionRecord | None = None
    rejected: list[str] = Field(default_factory=list)
    version: int
    matcher_version: str
    ontology_version: str

    @property
    def qualified_name(self) -> str:
        """``Object.Field``."""
        return f"{self.object}.{self.field}"


class ImportReport(_Model):
    """What one import changed."""

    batch_id: int
    source: str
    source_sha256: str
    matcher_version: str
    ontology_version: str
    orgs: list[str]
    n_fields: int
    n_new: int
    #: decided fields whose metadata did not change: their decisions are kept
    n_kept: int
    #: decided fields whose metadata changed: flagged ``needs_review``
    flagged: list[str] = Field(default_factory=list)
    #: fields whose proposed concept was rejected before: the proposal is withdrawn
    withdrawn: list[str] = Field(default_factory=list)
    #: fields that were in the store but are no longer in the org's mapping
    removed: list[str] = Field(default_factory=list)
    #: fields whose metadata could not be compared (no schema given at one of the imports)
    n_unverified: int = 0
    #: of those, the ones whose metadata this import gave but an earlier one did not: they are
    #: compared from the next import on
    n_unverified_earlier: int = 0


class Progress(_Model):
    """How far the review is."""

    total: int
    decided: int
    by_status: dict[str, int]
    by_org: dict[str, dict[str, int]]

    @property
    def fraction(self) -> float:
        """Share of fields decided (0 when nothing is imported)."""
        return self.decided / self.total if self.total else 0.0


class AuditEntry(_Model):
    """One line of the append-only audit log."""

    id: int
    at: str
    actor: str
    event: str
    org: str | None = None
    object: str | None = None
    field: str | None = None
    field_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    matcher_version: str | None = None
    ontology_version: str | None = None
    comment: str | None = None
    details: dict[str, Any] | None = None


class Provenance(_Model):
    """The sidecar of an approved mapping: who decided what, from which imports."""

    mapping_file: str
    mapping_sha256: str
    export_version: int
    exported_at: str
    exported_by: str
    approved_only: bool
    fedcrm_version: str
    store_schema_version: int
    imports: list[dict[str, Any]]
    reviewers: dict[str, int]
    decisions_by_action: dict[str, int]
    fields_by_status: dict[str, int]
    n_fields: int


class ExportResult(_Model):
    """Where an approved mapping was written."""

    path: str
    provenance_path: str
    version: int
    n_fields: int
    n_decided: int


class LabelConflict(_Model):
    """A review decision that disagrees with a label already in the annotations."""

    org: str
    object: str
    field: str
    existing_concept: str | None
    existing_group: str | None
    decided_concept: str | None
    decided_group: str | None
    existing_annotator: str


class LabelExportReport(_Model):
    """What :meth:`ReviewStore.export_labels` wrote."""

    files: list[str]
    added: int
    replaced: int
    unchanged: int
    conflicts: list[LabelConflict] = Field(default_factory=list)
    #: orgs whose labels were written but which the folder's ``sources.yaml`` does not list:
    #: no training reads them until they are registered there (or imported with ``fedcrm
    #: annotate from-review --labels-dir FOLDER --schema ORG=PATH``)
    unregistered_orgs: list[str] = Field(default_factory=list)
