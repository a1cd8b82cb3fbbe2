"""One org's records, in its own field names, → canonical tables keyed by concept id.

The approved mapping (``fedcrm match`` JSON format) says which field is which concept or
shared custom block. Each object's table becomes a frame whose columns are

* ``Id`` — the record key (always kept, never a feature);
* concept ids (``account.nps_score``) — values converted to the canonical representation
  (see :mod:`fedcrm.features.convert`); two fields of one concept are coalesced, the more
  confident mapping first;
* ``custom:<block>`` — fields of a shared custom block, as numbers / booleans / text;
* ``local:<field>`` — the org's other numeric, boolean and picklist fields (its
  participant-specific block, used only by local models).

Everything here runs inside the org; nothing leaves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fedcrm.errors import FeatureError
from fedcrm.features.convert import (
    Conversion,
    convert_field,
    parse_booleans,
    parse_dates,
    parse_numbers,
)
from fedcrm.matching.proposal import OrgMapping
from fedcrm.ontology.models import Ontology
from fedcrm.schema.models import DataKind, FieldMeta, OrgSchema

ID_COLUMN = "Id"
LOCAL_KINDS = frozenset({DataKind.NUMBER, DataKind.CURRENCY, DataKind.PERCENT,
                         DataKind.BOOLEAN, DataKind.PICKLIST})


@dataclass
class CanonicalOrg:
    """An org's records in canonical form, with a report of every conversion."""

    org_id: str
    tables: dict[str, pd.DataFrame]
    conversions: list[Conversion] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def table(self, sobject: str) -> pd.DataFrame:
        """The canonical table of one object (empty frame if the org has no such records)."""
        for name, frame in self.tables.items():
            if name.lower() == sobject.lower():
                return frame
        return pd.DataFrame({ID_COLUMN: pd.Series(dtype="string")})


def read_records(folder: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``<Object>.csv`` files (as exported from Salesforce) as text columns."""
    root = Path(folder)
    if not root.is_dir():
        raise FeatureError(f"{root}: no records folder (expected one <Object>.csv per object)")
    tables: dict[str, pd.DataFrame] = {}
    for path in sorted(root.glob("*.csv")):
        try:
            tables[path.stem] = pd.read_csv(path, dtype="string", keep_default_na=False,
                                            na_values=[""])
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise FeatureError(f"{path}: cannot read CSV ({exc})") from exc
    if not tables:
        raise FeatureError(f"{root}: no .csv record files found")
    return tables


def _raw_custom(values: pd.Series, meta: FieldMeta) -> pd.Series:
    """A custom-block or local field in a comparable form, by its declared kind."""
    family = meta.kind.family
    if family == "numeric":
        return parse_numbers(values)
    if family == "boolean":
        return parse_booleans(values)
    if family == "temporal":
        return parse_dates(values)
    return values.astype("string").str.strip()


def canonicalize(
    org_id: str,
    tables: Mapping[str, pd.DataFrame],
    schema: OrgSchema,
    mapping: OrgMapping,
    ontology: Ontology,
    *,
    currency_rates: dict[str, float] | None = None,
    default_currency: str = "USD",
) -> CanonicalOrg:
    """Convert every mapped field of every object with records into canonical columns.

    Raises :class:`FeatureError` when the mapping names a field the org's metadata lacks; a
    mapped field missing from the records is reported in ``skipped`` (it has no data).
    """
    canonical: dict[str, pd.DataFrame] = {}
    conversions: list[Conversion] = []
    skipped: list[str] = []
    decisions = {(f.object.lower(), f.field.lower()): f for f in mapping.fields}
    for listed in mapping.fields:
        try:
            schema.object(listed.object).field(listed.field)
        except KeyError:
            raise FeatureError(
                f"org {org_id}: the mapping names {listed.object}.{listed.field}, which "
                "its metadata does not have; re-run `fedcrm match` on the current metadata"
            ) from None
    for object_name, frame in tables.items():
        if object_name not in schema:
            skipped.append(f"{object_name}: records but no metadata for this object")
            continue
        sobject = schema[object_name]
        if ID_COLUMN not in frame.columns:
            raise FeatureError(f"org {org_id}: {object_name} records have no Id column")
        if frame[ID_COLUMN].isna().any() or frame[ID_COLUMN].duplicated().any():
            raise FeatureError(f"org {org_id}: {object_name} Id column has empty or duplicate "
                               "values; every record needs its own Id")
        columns: dict[str, pd.Series] = {ID_COLUMN: frame[ID_COLUMN].astype("string")}
        confidence: dict[str, float] = {}
        for meta in sobject.fields:
            decision = decisions.get((sobject.api_name.lower(), meta.api_name.lower()))
            if meta.api_name not in frame.columns:
                if decision is not None and (decision.concept or decision.block):
                    skipped.append(f"{sobject.api_name}.{meta.api_name}: mapped but absent "
                                   "from the records")
                continue
            values = frame[meta.api_name]
            if decision is not None and decision.concept is not None:
                concept = ontology.concept(decision.concept)
                converted, report = convert_field(values, meta, concept, ontology,
                                                  currency_rates=currency_rates,
                                                  default_currency=default_currency)
                conversions.append(report)
                name = concept.id
                if name in columns:
                    # two fields of one concept: keep the more confident one's values first
                    first, second = (converted, columns[name]) if (
                        decision.confidence > confidence[name]) else (columns[name], converted)
                    converted = first.where(first.notna(), second)
                confidence[name] = max(confidence.get(name, 0.0), decision.confidence)
                columns[name] = converted
            elif decision is not None and decision.block is not None:
                columns[decision.block] = _raw_custom(values, meta)
            elif meta.is_custom and meta.kind in LOCAL_KINDS:
                columns[f"local:{meta.api_name}"] = _raw_custom(values, meta)
        canonical[sobject.api_name] = pd.DataFrame(columns, index=frame.index)
    return CanonicalOrg(org_id=org_id, tables=canonical, conversions=conversions,
                        skipped=skipped)


def days_before(dates: pd.Series, as_of: pd.Series | pd.Timestamp) -> pd.Series:
    """Days from each date to its reference time (positive = in the past)."""
    delta = (as_of - dates) if isinstance(as_of, pd.Timestamp) else (as_of.values - dates)
    return pd.Series(np.asarray(delta, dtype="timedelta64[s]").astype(float) / 86400.0,
                     index=dates.index)
