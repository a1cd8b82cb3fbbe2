"""Synthetic federations of Salesforce orgs with known ground truth.

``generate_federation`` builds several orgs that differ the way real ones do (names, languages,
types, units, picklist spellings, sizes, data quality) and whose churn, lead-conversion and
win outcomes follow one shared rule plus org-specific shifts. See ``docs/synth.md``.
"""

from fedcrm.synth.federation import (
    DEFAULT_REFERENCE_DATE,
    Federation,
    SyntheticOrg,
    generate_federation,
)
from fedcrm.synth.models import (
    FederationManifest,
    FieldEncoding,
    GenerationParams,
    MeasuredQuality,
    OrgProfile,
    QualityParameters,
)
from fedcrm.synth.quality import measure_quality
from fedcrm.synth.rules import RULES, design_matrix

__all__ = [
    "DEFAULT_REFERENCE_DATE",
    "RULES",
    "Federation",
    "FederationManifest",
    "FieldEncoding",
    "GenerationParams",
    "MeasuredQuality",
    "OrgProfile",
    "QualityParameters",
    "SyntheticOrg",
    "design_matrix",
    "generate_federation",
    "measure_quality",
]
