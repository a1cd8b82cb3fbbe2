"""The mapping a matcher proposes, in the ``fedcrm match`` JSON format.

```
{"version": 1, "ontology_version": "...", "matcher_version": "...",
 "orgs": [{"org": "<org id>",
           "fields": [{"object": "Account", "field": "Annual_Rev__c",
                       "concept": "account.annual_revenue" | null, "confidence": 0.97,
                       "block": "<concept id>" | "custom:<id>" | null,
                       "candidates": [{"concept": "...", "score": 0.97, "evidence": ["..."]}]}]}]}
```

Every field of every object appears exactly once. Two fields of different orgs are equivalent
exactly when their ``block`` is the same non-null value. ``fedcrm.features`` and
``fedcrm.review`` read and write this format.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fedcrm._files import write_atomically
from fedcrm.errors import MappingError, validation_problems

FORMAT_VERSION = 1
CUSTOM_BLOCK_PREFIX = "custom:"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Model):
    """One candidate concept for a field, with its calibrated score and evidence."""

    concept: str
    score: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)


class FieldMapping(_Model):
    """The decision for one field: its concept (or none), confidence, block and candidates."""

    object: str
    field: str
    concept: str | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    block: str | None = None
    candidates: list[Candidate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _block_agrees_with_concept(self) -> FieldMapping:
        if self.concept is not None and self.block != self.concept:
            raise ValueError(
                f"{self.object}.{self.field}: a field mapped to {self.concept} must have "
                f"block {self.concept!r}, not {self.block!r}"
            )
        if (
            self.concept is None
            and self.block is not None
            and not self.block.startswith(CUSTOM_BLOCK_PREFIX)
        ):
            raise ValueError(
                f"{self.object}.{self.field}: without a concept the block must be "
                f"'{CUSTOM_BLOCK_PREFIX}<id>' or null, not {self.block!r}"
            )
        return self

    @property
    def key(self) -> tuple[str, str]:
        """(object, field) with the object as written."""
        return (self.object, self.field)


class OrgMapping(_Model):
    """All field decisions of one org."""

    org: str = Field(min_length=1)
    fields: list[FieldMapping]

    @model_validator(mode="after")
    def _each_field_once(self) -> OrgMapping:
        seen: set[tuple[str, str]] = set()
        for mapping in self.fields:
            key = (mapping.object.lower(), mapping.field.lower())
            if key in seen:
                raise ValueError(f"org {self.org}: field {mapping.object}.{mapping.field} twice")
            seen.add(key)
        return self

    def field(self, sobject: str, field: str) -> FieldMapping:
        """The decision for ``sobject.field`` (case-insensitive)."""
        key = (sobject.lower(), field.lower())
        for mapping in self.fields:
            if (mapping.object.lower(), mapping.field.lower()) == key:
                return mapping
        raise KeyError(f"org {self.org} has no field {sobject}.{field} in this mapping")


class UnknownOrgError(MappingError, KeyError):
    """An org the mapping does not have (a :class:`KeyError` too, as it was before)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class MappingProposal(_Model):
    """A whole federation's mapping (proposed by the matcher or approved by a steward)."""

    version: int = FORMAT_VERSION
    ontology_version: str
    matcher_version: str
    orgs: list[OrgMapping]

    @model_validator(mode="after")
    def _orgs_once(self) -> MappingProposal:
        names = [o.org for o in self.orgs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"org(s) {duplicates} appear more than once")
        if self.version != FORMAT_VERSION:
            raise ValueError(f"unsupported mapping format version {self.version}")
        return self

    def org(self, org_id: str) -> OrgMapping:
        """The mapping of one org."""
        for org in self.orgs:
            if org.org == org_id:
                return org
        raise UnknownOrgError(f"no org {org_id!r} in this mapping; it has "
                           f"{[o.org for o in self.orgs]} (org ids are case-sensitive; match "
                           "the org's metadata to add it)")

    def iter_fields(self) -> Iterator[tuple[str, FieldMapping]]:
        """(org id, field decision) for every field."""
        for org in self.orgs:
            for mapping in org.fields:
                yield org.org, mapping

    def blocks(self) -> dict[str, list[tuple[str, str, str]]]:
        """Block → members (org, object, field)."""
        members: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for org_id, mapping in self.iter_fields():
            if mapping.block is not None:
                members[mapping.block].append((org_id, mapping.object, mapping.field))
        return dict(members)

    def equivalent_pairs(self) -> set[frozenset[tuple[str, str, str]]]:
        """Unordered pairs of fields of *different* orgs that share a block."""
        pairs: set[frozenset[tuple[str, str, str]]] = set()
        for members in self.blocks().values():
            for a, b in combinations(members, 2):
                if a[0] != b[0]:
                    pairs.add(frozenset((a, b)))
        return pairs

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise (and write to ``path`` if given).

        The file is replaced atomically, so a failed write leaves the previous mapping whole;
        missing parent folders are created. A path that cannot be written (a folder, a
        read-only place) raises :class:`MappingError` naming it."""
        text = self.model_dump_json(indent=1)
        if path is not None:
            target = Path(path)
            if target.is_dir():
                raise MappingError(f"{target} is a folder; give a file name such as "
                                   f"{target / 'mapping.json'}")
            try:
                write_atomically(target, text + "\n")
            except OSError as exc:
                raise MappingError(
                    f"cannot write the mapping to {target} ({exc.strerror or exc})") from exc
        return text

    @classmethod
    def from_json(cls, source: str | Path) -> MappingProposal:
        """Read a mapping file (or JSON text), validating it; errors name the problem."""
        path = Path(source) if not str(source).lstrip().startswith("{") else None
        try:
            text = path.read_text(encoding="utf-8-sig") if path is not None else str(source)
            return cls.model_validate(json.loads(text))
        except OSError as exc:
            raise MappingError(f"{path}: cannot read mapping ({exc.strerror or exc})") from exc
        except json.JSONDecodeError as exc:
            raise MappingError(
                f"{path or 'mapping'}: malformed JSON at line {exc.lineno}: {exc.msg}"
            ) from exc
        except ValidationError as exc:
            raise MappingError(f"{path or 'mapping'}: invalid mapping "
                               f"({validation_problems(exc, limit=10)})") from exc
