"""A field's metadata fingerprint: what re-matching compares to tell a changed field from an
unchanged one.

The fingerprint covers what a steward's decision rests on: the type, label, description,
help text, picklist values, referenced objects and formula. It leaves out what does not change
a field's meaning (the file it was read from, value profiles, which drift with the data).
"""

from __future__ import annotations

import hashlib
import json

from fedcrm.schema.models import FieldMeta


def field_fingerprint(field: FieldMeta) -> str:
    """SHA-256 (hex) of the meaning-bearing parts of ``field``'s metadata."""
    parts = {
        "kind": field.kind.value,
        "label": field.label or "",
        "description": field.description or "",
        "help_text": field.help_text or "",
        "picklist": sorted(value.value for value in field.picklist_values),
        "value_set": field.value_set_name or "",
        "reference_to": sorted(field.reference_to),
        "formula": field.formula or "",
    }
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
