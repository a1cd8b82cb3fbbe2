"""Privacy-safe value profiles of one field, computed inside the org.

The profile is what may leave an org to help the matcher (value ranges, category vocabularies,
formats). Two rules keep single records out of it:

* a category appears only if it was seen at least ``k`` times (k-anonymity threshold,
  Sweeney 2002, "k-anonymity: a model for protecting privacy");
* a quantile is the mean of the block of order statistics holding its rank (disjoint blocks of
  ``k`` from the lowest, the last one taking the remainder), so every reported number
  aggregates at least ``k`` records and no two of them can be subtracted to single one out;
  min and max (one record each) are never reported;
* a checkbox's true rate is reported only when both values are seen at least ``k`` times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from fedcrm.errors import ConfigError
from fedcrm.schema.models import CategoryCount, FieldProfile, OrgSchema

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)

PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"),
    # at least 7 digits, and not an ISO date (which is also digits and dashes)
    "phone": re.compile(r"^(?!\d{4}-\d{2}-\d{2}$)(?=(?:\D*\d){7})\+?[\d\s().\-/]{7,20}$"),
    "url": re.compile(r"^(https?://|www\.)\S+$", re.IGNORECASE),
    "date": re.compile(
        r"^(\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
        r"|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})$"
    ),
    # 15- or 18-character record ids; the 18-character form ends in a 3-character checksum
    # drawn from A-Z0-5 (Salesforce "What is a Salesforce ID" knowledge article).
    "salesforce_id": re.compile(r"^(?=.*\d)[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$"),
}


def k_aggregated_quantiles(values: np.ndarray, k: int) -> dict[str, float]:
    """Quantiles where each value is the mean of the block of order statistics holding its
    rank: the sorted values cut into blocks of ``k`` from the lowest, the last block taking the
    remainder (``k`` to ``2k - 1`` values).

    Blocks, not windows centred on each rank: two windows one value apart would give away
    the difference of two single records, and the mean of all values minus a window of all but
    one would give away that one (a review recovered the largest of six amounts that way). The
    blocks are disjoint and each holds at least ``k`` values, so any combination of the
    quantiles, the mean and the count aggregates at least ``k`` records.
    Returns an empty dict when fewer than ``k`` values exist.
    """
    count = len(values)
    if count < k:
        return {}
    ordered = np.sort(values.astype(float))
    n_blocks = count // k
    result: dict[str, float] = {}
    for level in QUANTILE_LEVELS:
        block = min(int(level * (count - 1)) // k, n_blocks - 1)
        end = count if block == n_blocks - 1 else (block + 1) * k
        result[f"{level:g}"] = float(ordered[block * k:end].mean())
    return result


def profile_series(series: pd.Series | Iterable[object], *, k: int = 5,
                   max_categories: int = 50) -> FieldProfile:
    """Profile one column of records without letting any rare value out.

    ``series`` is a pandas Series or any sequence of values. ``k`` is the minimum number of
    records a reported category must have (default 5). Infinite numbers count as values but
    are left out of the numeric statistics (quantiles, mean, standard deviation), which
    describe the finite ones.
    """
    if not isinstance(series, pd.Series):
        if isinstance(series, str | bytes) or not isinstance(series, Iterable):
            raise ConfigError(f"profile_series takes a pandas Series or a list of values, got "
                              f"{type(series).__name__}")
        series = pd.Series(list(series))
    if not isinstance(k, int) or k < 2:
        raise ConfigError(f"k must be an integer >= 2, got {k!r}")
    if max_categories < 0:
        raise ConfigError(f"max_categories must be >= 0, got {max_categories}")
    n_rows = len(series)
    non_null = series.dropna()
    if pd.api.types.is_string_dtype(non_null) or non_null.dtype == object:
        non_null = non_null[non_null.astype(str).str.strip() != ""]
    if non_null.dtype == object and n_rows and non_null.map(type).eq(bool).all():
        non_null = non_null.astype(bool)
    n_values = len(non_null)
    null_rate = 1.0 - n_values / n_rows if n_rows else 0.0
    n_distinct = int(non_null.nunique()) if n_values else 0
    profile: dict[str, object] = {
        "k": k,
        "n_rows": n_rows,
        "null_rate": null_rate,
        "distinct_ratio": n_distinct / n_values if n_values else 0.0,
    }
    is_bool = pd.api.types.is_bool_dtype(non_null)
    is_numeric = pd.api.types.is_numeric_dtype(non_null) and not is_bool
    n_true = int(non_null.astype(bool).sum()) if is_bool else 0
    if is_bool and min(n_true, n_values - n_true) >= k:
        # with n_rows, the rate gives the count: a count under k would say "exactly one record
        # is true" where the category list suppresses it
        profile["true_rate"] = n_true / n_values
    numbers = non_null.to_numpy(dtype=float) if is_numeric else np.zeros(0)
    numbers = numbers[np.isfinite(numbers)]
    if is_numeric and len(numbers) >= k:
        profile["numeric_quantiles"] = k_aggregated_quantiles(numbers, k)
        profile["numeric_mean"] = float(numbers.mean())
        profile["numeric_std"] = float(numbers.std())
    if pd.api.types.is_datetime64_any_dtype(non_null):
        texts = non_null.dt.strftime("%Y-%m-%d")
    else:
        texts = non_null.astype(str).str.strip()
    if (not is_numeric or n_distinct <= max_categories) and n_values:
        counts = texts.value_counts()
        frequent = counts[counts >= k]
        profile["categories"] = tuple(
            CategoryCount(value=str(value), count=int(count))
            for value, count in frequent.head(max_categories).items()
        )
        profile["n_suppressed_categories"] = int((counts < k).sum())
    if not is_numeric and not is_bool and n_values:
        lengths = texts.str.len().to_numpy(dtype=float)
        if n_values >= k:
            profile["length_mean"] = float(lengths.mean())
            profile["length_quantiles"] = k_aggregated_quantiles(lengths, k)
        profile["pattern_shares"] = {
            name: float(texts.str.match(pattern).mean()) for name, pattern in PATTERNS.items()
        }
    return FieldProfile.model_validate(profile)


def profile_frame(
    frame: pd.DataFrame, *, k: int = 5, max_categories: int = 50
) -> dict[str, FieldProfile]:
    """Profile every column of ``frame`` (column name → profile)."""
    return {
        str(column): profile_series(frame[column], k=k, max_categories=max_categories)
        for column in frame.columns
    }


#: kinds whose values are never listed as categories (identifiers, long or rich text)
_NO_CATEGORIES = frozenset({"id", "reference", "long_textarea", "rich_text", "textarea", "binary"})


def profile_schema(schema: OrgSchema, tables: Mapping[str, pd.DataFrame], *, k: int = 5,
                   max_categories: int = 50) -> tuple[OrgSchema, list[str]]:
    """``schema`` with a value profile on every field its records hold, and the fields
    profiled (``Object.Field``).

    ``tables`` maps object names to record tables (:func:`fedcrm.features.read_records`
    reads an org's ``<Object>.csv`` files as text); objects and columns match the metadata in
    any case. Numbers, currencies and percentages are read as numbers and checkboxes as
    booleans, as the features are; encrypted text is never profiled, and identifiers,
    lookups and long text get no category list. Fields without a column keep the profile
    they had (none, from metadata).
    """
    from fedcrm.features.convert import parse_booleans, parse_numbers
    from fedcrm.schema.models import DataKind

    by_name = {name.lower(): frame for name, frame in tables.items()}
    profiled: list[str] = []
    objects = []
    for sobject in schema.objects:
        frame = by_name.get(sobject.api_name.lower())
        columns = {str(c).lower(): c for c in frame.columns} if frame is not None else {}
        fields = []
        for meta in sobject.fields:
            column = columns.get(meta.api_name.lower())
            if frame is None or column is None or meta.kind is DataKind.ENCRYPTED_TEXT:
                fields.append(meta)
                continue
            values = frame[column]
            if meta.kind in (DataKind.NUMBER, DataKind.CURRENCY, DataKind.PERCENT):
                values = parse_numbers(values)
            elif meta.kind is DataKind.BOOLEAN:
                values = parse_booleans(values).map({1.0: True, 0.0: False})
            limit = 0 if meta.kind.value in _NO_CATEGORIES else max_categories
            fields.append(meta.with_profile(profile_series(values, k=k,
                                                           max_categories=limit)))
            profiled.append(f"{sobject.api_name}.{meta.api_name}")
        objects.append(sobject.model_copy(update={"fields": tuple(fields)}))
    return schema.model_copy(update={"objects": tuple(objects)}), profiled
