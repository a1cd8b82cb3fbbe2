"""Turn canonical latent values into one org's records: its field names, units, types and
picklist spellings, with values blanked according to the org's completeness."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fedcrm.synth import fake
from fedcrm.synth.latent import LatentOrg
from fedcrm.synth.planner import OrgPlan, PlannedField, Representation

_NUMERIC_KINDS = frozenset({"count", "number", "money", "percent", "score10", "score5",
                            "score100", "duration"})

_ID_COLUMNS: dict[str, str] = {
    "Account": "account.id", "Contact": "contact.id", "Lead": "lead.id",
    "Opportunity": "opportunity.id", "Case": "case.id",
}

_DISTRACTOR_NOTES: tuple[str, ...] = (
    "see old CRM", "migrated 2019", "check with finance", "n/a", "duplicate?", "VIP",
)


def _format_numbers(values: np.ndarray, decimals: int) -> np.ndarray:
    """Numbers as text (``"12"``, ``"3.5"``), ``None`` for missing."""
    result = np.full(len(values), None, dtype=object)
    present = ~np.isnan(values)
    if decimals == 0:
        result[present] = values[present].astype(np.int64).astype(str)
    else:
        result[present] = np.char.mod(f"%.{decimals}f", values[present])
    return result


def encode_values(canonical: pd.Series, rep: Representation) -> pd.Series | np.ndarray:
    """Canonical values → stored values for one representation (no missingness yet)."""
    kind = rep.kind
    if kind in _NUMERIC_KINDS:
        numbers = canonical.to_numpy(dtype=float, na_value=np.nan) / rep.to_canonical
        if rep.decimals is not None:
            numbers = np.round(numbers, rep.decimals)
        if rep.as_text or rep.xml_type == "Picklist":
            return _format_numbers(numbers, rep.decimals or 0)
        if rep.decimals == 0:
            return pd.array(np.where(np.isnan(numbers), None, numbers), dtype="Int64")
        return numbers
    if kind == "bool":
        flags = canonical.to_numpy(dtype=bool, na_value=False)
        if rep.yes_no is not None:
            return np.where(flags, rep.yes_no[0], rep.yes_no[1]).astype(object)
        return flags
    if kind in ("date", "datetime"):
        stamps = canonical.to_numpy(dtype="datetime64[s]")
        if rep.date_format is not None:
            text = pd.Series(stamps).dt.strftime(rep.date_format).to_numpy(dtype=object)
            return np.where(pd.isna(stamps), None, text)
        if rep.xml_type == "Date":
            return stamps.astype("datetime64[D]").astype("datetime64[s]")
        return stamps
    if kind == "category":
        assert rep.value_map is not None
        return canonical.map(rep.value_map).to_numpy(dtype=object, na_value=None)
    return canonical.to_numpy(dtype=object, na_value=None)


def _blank(values: pd.Series | np.ndarray, mask: np.ndarray, rep: Representation
           ) -> pd.Series | np.ndarray:
    """Blank masked values; checkboxes cannot be empty, so they fall back to false."""
    if not mask.any():
        return values
    if rep.xml_type == "Checkbox":
        flags = np.asarray(values, dtype=bool).copy()
        flags[mask] = False
        return flags
    if isinstance(values, pd.api.extensions.ExtensionArray):
        result = values.copy()
        result[mask] = pd.NA
        return result
    array = np.asarray(values)
    if array.dtype.kind == "M":
        array = array.copy()
        array[mask] = np.datetime64("NaT")
        return array
    if array.dtype.kind == "f":
        array = array.copy()
        array[mask] = np.nan
        return array
    array = array.astype(object)
    array[mask] = None
    return array


def _stale(canonical: pd.Series, rep: Representation, rng: np.random.Generator) -> pd.Series:
    """A deprecated twin's values: an older, partial and drifted copy."""
    n = len(canonical)
    kept = rng.random(n) < 0.35
    if rep.kind in _NUMERIC_KINDS:
        values = canonical.to_numpy(dtype=float, na_value=np.nan) * rng.uniform(0.6, 1.1, n)
        values = np.where(kept, values, np.nan)
        return pd.Series(values, index=canonical.index)
    if rep.kind in ("date", "datetime"):
        stamps = canonical.to_numpy(dtype="datetime64[s]")
        shift = (rng.uniform(30, 400, n) * 86_400).astype(np.int64).astype("timedelta64[s]")
        stamps = np.where(kept, stamps - shift, np.datetime64("NaT"))
        return pd.Series(stamps, index=canonical.index)
    shuffled = canonical.to_numpy(dtype=object)[rng.permutation(n)]
    if rep.kind == "bool":
        return pd.Series(np.where(kept, shuffled, False).astype(bool), index=canonical.index)
    return pd.Series(np.where(kept, shuffled, None), index=canonical.index)


def _distractor_values(key: str, rep: Representation, n: int, rng: np.random.Generator
                       ) -> pd.Series | np.ndarray:
    if key == "golf_handicap":
        return np.round(rng.uniform(0, 36, n), 1)
    if key == "office_floor":
        return rng.integers(0, 30, n).astype(float)
    if rep.kind == "category":
        assert rep.value_map is not None
        codes = np.asarray(list(rep.value_map), dtype=object)
        return pd.Series(codes[rng.integers(0, len(codes), n)]).map(rep.value_map).to_numpy(
            dtype=object)
    if rep.kind == "bool":
        return rng.random(n) < 0.25
    digits = rng.integers(0, 10_000_000, n).astype(str).astype(object)
    if key == "legacy_system_id":
        return "L" + fake.zero_padded(digits, 7)
    if key == "parking_spot":
        return "P-" + rng.integers(1, 400, n).astype(str).astype(object)
    if key == "migration_batch":
        years = rng.integers(2012, 2021, n).astype(str).astype(object)
        months = fake.zero_padded(rng.integers(1, 13, n), 2)
        return "MIG-" + years + "-" + months
    if key == "trade_fair_badge":
        return "B-" + fake.zero_padded(rng.integers(0, 999_999, n), 6)
    return np.asarray(_DISTRACTOR_NOTES, dtype=object)[rng.integers(0, len(_DISTRACTOR_NOTES), n)]


def _column(planned: PlannedField, frame: pd.DataFrame, completeness: float,
            rng: np.random.Generator) -> pd.Series | np.ndarray:
    n = len(frame)
    rep = planned.rep
    if planned.distractor is not None and planned.latent is None:
        values = _distractor_values(planned.distractor, rep, n, rng)
        null_rate = 0.0 if rep.kind == "bool" else float(rng.uniform(0.3, 0.9))
        return _blank(values, rng.random(n) < null_rate, rep)
    assert planned.latent is not None
    canonical = frame[planned.latent]
    if planned.stale:
        canonical = _stale(canonical, rep, rng)
    values = encode_values(canonical, rep)
    if planned.quality:
        null_rate = min(0.95, (1.0 - completeness) * planned.null_multiplier)
        values = _blank(values, rng.random(n) < null_rate, rep)
    return values


def build_tables(latent: LatentOrg, plan: OrgPlan, completeness: float,
                 rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """One DataFrame per object, columns named by the org's field API names (``Id`` first)."""
    tables: dict[str, pd.DataFrame] = {}
    for sobject, fields in plan.fields.items():
        if plan.custom_object is not None and sobject == plan.custom_object.api_name:
            frame = latent.frames["Visit"]
            columns: dict[str, object] = {
                "Id": frame["x:visit_id"].to_numpy(),
                "Name": frame["x:visit_number"].to_numpy(),
            }
        else:
            frame = latent.frames[sobject]
            columns = {"Id": frame[_ID_COLUMNS[sobject]].to_numpy()}
        for planned in fields:
            columns[planned.api_name] = _column(planned, frame, completeness, rng)
        table = pd.DataFrame(columns)
        ordered = ["Id", *sorted((c for c in table.columns if c != "Id"), key=str.lower)]
        tables[sobject] = table[ordered]
    return tables
