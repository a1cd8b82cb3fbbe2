"""pydantic models for what crosses the generator's boundary: parameters, org profiles, field
encodings (``units.json``) and the federation manifest (``federation.json``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GenerationParams(_Frozen):
    """Validated arguments of :func:`fedcrm.synth.generate_federation`."""

    n_orgs: int = Field(ge=1)
    seed: int = Field(ge=0)
    accounts: tuple[int, int]
    scale: float = Field(gt=0)
    languages: tuple[str, ...]
    reference_date: dt.date
    completeness: tuple[float, float]
    recency: tuple[float, float]
    label_reliability: tuple[float, float]
    custom_object_rate: float = Field(ge=0, le=1)
    min_accounts: int = Field(ge=1)


class QualityParameters(_Frozen):
    """The data-quality knobs of one org (targets the generator aims for)."""

    #: share of feature values present (1 - per-org null rate on feature fields)
    completeness: float = Field(ge=0, le=1)
    #: share of live records touched in the 12 months before the reference date
    recency: float = Field(ge=0, le=1)
    #: share of outcome labels recorded from definitive events rather than inferred states
    label_reliability: float = Field(ge=0, le=1)


class MeasuredQuality(_Frozen):
    """Quality as measured from an org's records (see :mod:`fedcrm.synth.quality`)."""

    completeness: float
    recency: float
    #: per task: share of labelled records whose label comes from a definitive event
    definitive_share: dict[str, float]
    #: per task: number of records with a definitive / inferred label
    labelled: dict[str, dict[str, int]]


class OrgProfile(_Frozen):
    """Who an org is: language, currency, naming habits, size and data quality."""

    org_id: str
    company: str
    language: str
    currency: str
    naming_style: str
    #: the style of fields the org created itself (differs from ``naming_style`` only for
    #: namespaced orgs)
    base_style: str
    namespace: str | None = None
    #: language of API names (English or the org's language)
    name_language: str
    n_accounts: int
    quality: QualityParameters
    #: share of fields with a description
    description_rate: float
    #: share of custom API names with a typing slip
    typo_rate: float
    #: share of labels written in English although the org works in another language
    english_label_rate: float
    base_rates: dict[str, float]
    industry_mix: dict[str, float]
    region_mix: dict[str, float]
    groups: tuple[str, ...]
    has_custom_object: bool
    #: expected records per account before size effects (see docs/synth.md)
    record_ratios: dict[str, float]


class FieldEncoding(_Frozen):
    """How one field stores its meaning, when that differs from the canonical form.

    ``canonical = stored * to_canonical`` for numbers (money: into USD); dates stored as text
    use ``date_format``; yes/no picklists list their ``true_values`` and ``false_values``;
    picklists map every org value to a canonical code in ``value_map``.
    """

    object: str
    field: str
    concept: str | None = None
    group: str | None = None
    stored_as: str
    currency: str | None = None
    #: stored numbers are in multiples of ``scale`` (1000 for ``Revenue_kEUR__c``)
    scale: float | None = None
    #: the unit the value is stored in (``ratio``, ``days``, ``minutes``, ``years``, ...)
    unit: str | None = None
    canonical_unit: str | None = None
    to_canonical: float | None = None
    date_format: str | None = None
    number_as_text: bool = False
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    value_map: dict[str, str] = Field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        """Dict-style access (``encoding["currency"]``)."""
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class RuleTerm(_Frozen):
    """One term of a shared task rule, as written to the manifest."""

    name: str
    coefficient: float
    formula: str
    concepts: tuple[str, ...]
    group: str | None = None


class TaskRule(_Frozen):
    """The shared rule of one task."""

    task: str
    object: str
    terms: tuple[RuleTerm, ...]
    coefficient_sigma: float
    description: str


class OrgSummary(_Frozen):
    """One org in the manifest."""

    profile: OrgProfile
    records: dict[str, int]
    n_fields: int
    n_custom_fields: int
    measured: MeasuredQuality
    intercepts: dict[str, float]
    coefficients: dict[str, dict[str, float]]
    #: (object, field, meaning) of this org's hard-negative fields
    hard_negatives: tuple[tuple[str, str, str], ...]


class FederationManifest(_Frozen):
    """``federation.json``: everything needed to understand and reproduce a federation."""

    generator: str = "fedcrm.synth"
    format_version: int = 1
    seed: int
    params: GenerationParams
    reference_date: dt.date
    canonical_currency: str
    fx_to_usd: dict[str, float]
    rules: dict[str, TaskRule]
    orgs: tuple[OrgSummary, ...]
    reproduce: str
