"""How well a field's kind can hold a concept's kind.

Orgs store the same thing in different types (an NPS as Number, Text or Picklist; a yes/no
flag as Checkbox or Picklist), so compatibility is graded, not all-or-nothing. Zero means the
pair is never a candidate (a lookup can never be a revenue figure).
"""

from __future__ import annotations

from fedcrm.schema.models import DataKind

# field family → concept family → compatibility in [0, 1]
_COMPATIBILITY: dict[str, dict[str, float]] = {
    "numeric": {"numeric": 1.0, "categorical": 0.5, "boolean": 0.3, "text": 0.4,
                "temporal": 0.1},
    "text": {"text": 1.0, "numeric": 0.5, "categorical": 0.6, "temporal": 0.4, "contact": 0.7,
             "boolean": 0.3, "identifier": 0.5, "reference": 0.2, "other": 0.4},
    "categorical": {"categorical": 1.0, "boolean": 0.6, "numeric": 0.5, "text": 0.6,
                    "temporal": 0.1},
    "boolean": {"boolean": 1.0, "categorical": 0.5, "numeric": 0.2},
    "temporal": {"temporal": 1.0, "text": 0.3, "numeric": 0.2},
    "reference": {"reference": 1.0, "identifier": 0.6, "text": 0.3},
    "contact": {"contact": 1.0, "text": 0.7},
    "identifier": {"identifier": 1.0, "reference": 0.6, "text": 0.6},
    "other": {"other": 1.0, "text": 0.4, "contact": 0.3},
}

FAMILIES = ("text", "numeric", "boolean", "temporal", "categorical", "reference", "contact",
            "identifier", "other")
FAMILY_INDEX = {family: index for index, family in enumerate(FAMILIES)}


def type_compatibility(field_kind: DataKind, concept_kind: DataKind) -> float:
    """Compatibility of storing ``concept_kind`` data in a ``field_kind`` field (0 = never)."""
    if field_kind is DataKind.UNKNOWN:
        return 0.5
    if field_kind is concept_kind:
        return 1.0
    field_family, concept_family = field_kind.family, concept_kind.family
    if field_family == concept_family == "contact":
        return 0.2  # an email field does not hold a phone number
    return _COMPATIBILITY.get(field_family, {}).get(concept_family, 0.0)
