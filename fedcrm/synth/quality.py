"""Measure an org's data quality from its records and ground truth, the way a downstream
module can: completeness, temporal recency, and definitive vs inferred outcome labels.

Works on the in-memory tables and on CSVs read back as text (``pd.read_csv(..., dtype=str)``):
values are decoded to canonical form with the org's field encodings (``units.json``).

How labels are classified (all from canonical concepts in the records):

- churn (Account): *definitive* when ``account.churned`` is true and ``account.churn_date`` is
  set, or ``account.churned`` is false and ``account.renewal_count`` >= 1 (a renewal was
  booked); otherwise *inferred* (the churn flag was set or left by a dormancy rule).
- win (Opportunity, closed ones): *definitive* when ``opportunity.is_won`` is true or
  ``opportunity.loss_reason`` is set (a rep closed it); *inferred* when it is closed lost
  without a reason (auto-closed stale deal).
- lead conversion (Lead): *definitive* when ``lead.status`` is ``closed_converted`` or
  ``closed_not_converted``; *inferred* when still open and created at least 180 days before
  the reference date (an old unqualified lead counted as lost); younger open leads are
  undecided and not labelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from fedcrm.matching.corpus import FieldLabel
from fedcrm.schema.models import DataKind, OrgSchema
from fedcrm.synth.catalog import CONCEPT_FIELDS, GROUP_FIELDS, STANDARD_FIELDS
from fedcrm.synth.latent import DORMANCY_DAYS, LEAD_STALE_AGE_DAYS
from fedcrm.synth.models import FieldEncoding, MeasuredQuality

#: concepts (and groups) whose fields are dense features: a missing value is a quality defect
DENSE_FEATURES: frozenset[str] = frozenset(
    [s.concept for s in STANDARD_FIELDS if s.quality_applies and s.concept]
    + [s.key for s in CONCEPT_FIELDS if not (s.sparse or s.critical or s.leakage)]
    + [s.key for s in GROUP_FIELDS]
)


def decode(values: pd.Series, kind: str, encoding: FieldEncoding | None) -> pd.Series:
    """Stored values (typed or text) → canonical ``bool``, ``date``, ``number`` or
    ``category`` values."""
    if kind == "bool":
        if encoding is not None and encoding.true_values:
            return values.isin(encoding.true_values)
        return values.astype(str).str.lower().eq("true")
    if kind == "date":
        if encoding is not None and encoding.date_format:
            return pd.to_datetime(values, format=encoding.date_format, errors="coerce")
        parsed = pd.to_datetime(values, errors="coerce", utc=True)
        return parsed.dt.tz_localize(None)
    if kind == "number":
        numbers = pd.Series(pd.to_numeric(values, errors="coerce").to_numpy(
            dtype=float, na_value=np.nan), index=values.index)
        factor = encoding.to_canonical if encoding is not None and encoding.to_canonical else 1.0
        return numbers * factor
    if encoding is not None and encoding.value_map:
        return values.map(encoding.value_map)
    return values


def _fields_by_concept(labels: Iterable[FieldLabel]) -> dict[tuple[str, str], str]:
    return {(label.object, label.concept): label.field for label in labels if label.concept}


def measure_quality(
    tables: Mapping[str, pd.DataFrame],
    schema: OrgSchema,
    labels: Iterable[FieldLabel],
    encodings: Mapping[tuple[str, str], FieldEncoding],
    reference_date: dt.date,
) -> MeasuredQuality:
    """Completeness, recency and definitive-label shares of one org."""
    labels = list(labels)
    by_concept = _fields_by_concept(labels)
    reference = pd.Timestamp(reference_date)

    present: list[float] = []
    for label in labels:
        key = label.concept or label.group
        if key is None or key not in DENSE_FEATURES or label.object not in tables:
            continue
        if label.concept and label.concept.split(".", 1)[0] != label.object.lower():
            continue
        meta = schema[label.object][label.field]
        if meta.kind is DataKind.BOOLEAN or meta.is_formula:
            continue
        column = tables[label.object][label.field]
        filled = column.notna() & column.astype(str).ne("")
        present.append(float(filled.mean()) if len(column) else 1.0)
    completeness = float(np.mean(present)) if present else 1.0

    def canonical_column(sobject: str, concept: str, kind: str) -> pd.Series | None:
        name = by_concept.get((sobject, concept))
        if name is None or sobject not in tables:
            return None
        raw = tables[sobject][name]
        if kind != "bool":
            raw = raw.where(raw.astype(str).ne(""))
        return decode(raw, kind, encodings.get((sobject, name)))

    activity = canonical_column("Account", "account.last_activity_date", "date")
    recency = 0.0
    if activity is not None and len(activity):
        recency = float((activity >= reference - pd.Timedelta(days=DORMANCY_DAYS)).mean())

    shares: dict[str, float] = {}
    counts: dict[str, dict[str, int]] = {}

    churned = canonical_column("Account", "account.churned", "bool")
    churn_date = canonical_column("Account", "account.churn_date", "date")
    renewals = canonical_column("Account", "account.renewal_count", "number")
    if churned is not None and churn_date is not None and renewals is not None:
        definitive = (churned & churn_date.notna()) | (~churned & (renewals >= 1))
        counts["churn"] = {"definitive": int(definitive.sum()),
                           "inferred": int((~definitive).sum())}

    closed = canonical_column("Opportunity", "opportunity.is_closed", "bool")
    won = canonical_column("Opportunity", "opportunity.is_won", "bool")
    reason = canonical_column("Opportunity", "opportunity.loss_reason", "category")
    if closed is not None and won is not None and reason is not None:
        definitive = closed & (won | reason.notna())
        counts["win_probability"] = {"definitive": int(definitive.sum()),
                                     "inferred": int((closed & ~definitive).sum())}

    status = canonical_column("Lead", "lead.status", "category")
    created = canonical_column("Lead", "lead.created_date", "date")
    if status is not None and created is not None:
        definitive = status.isin(["closed_converted", "closed_not_converted"])
        stale = created <= reference - pd.Timedelta(days=LEAD_STALE_AGE_DAYS)
        counts["lead_conversion"] = {"definitive": int(definitive.sum()),
                                     "inferred": int((~definitive & stale).sum())}

    for task, numbers in counts.items():
        total = numbers["definitive"] + numbers["inferred"]
        shares[task] = round(numbers["definitive"] / total, 4) if total else 0.0
    return MeasuredQuality(completeness=round(completeness, 4), recency=round(recency, 4),
                           definitive_share=shares, labelled=counts)
