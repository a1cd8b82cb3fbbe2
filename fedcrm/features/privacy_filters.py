"""Privacy filters applied inside the org before anything is shared.

* **Rare-value suppression**: category values seen fewer than ``k`` times (k = 5 by default)
  are merged into one ``"other"`` value, so a one-hot column can never single out a handful
  of records (the k-anonymity threshold of Sweeney 2002). Counts are taken on the records that
  are shared (an org's labelled records), and an ``"other"`` bucket that still holds fewer
  than ``k`` of them is suppressed (its values become null) like a rare value without a
  bucket.
* **Minimum examples**: a custom (participant-specific or shared-block) feature with fewer than
  ``min_examples`` non-null training values (50 by default) is excluded.

Both return what they did, so the org can report it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from fedcrm.errors import ConfigError

OTHER = "other"


class SuppressionReport(BaseModel):
    """What rare-value suppression merged in one column."""

    model_config = ConfigDict(frozen=True)
    column: str
    k: int
    n_values_merged: int = Field(ge=0)
    n_records_affected: int = Field(ge=0)
    #: records whose value was suppressed (made null) instead of merged: an ``other`` bucket
    #: of fewer than ``k`` records, or rare values where the column has no such bucket
    n_records_suppressed: int = Field(default=0, ge=0)


class ExclusionReport(BaseModel):
    """A feature left out because it had too few examples."""

    model_config = ConfigDict(frozen=True)
    column: str
    n_examples: int
    min_examples: int


def suppress_rare(
    values: pd.Series, *, k: int = 5, other: str = OTHER,
    counted: pd.Series | np.ndarray | None = None,
) -> tuple[pd.Series, SuppressionReport]:
    """Replace category values seen fewer than ``k`` times by ``other`` (nulls stay null).

    ``counted`` (a boolean mask aligned with ``values``): count only those rows, the ones that
    are shared (default: all); every row is replaced alike. If the ``other`` bucket then holds
    fewer than ``k`` counted rows, its rows become null as well, and with ``other=""`` (a
    column without such a bucket) rare values become null directly: either way no value,
    bucket included, is left to single out fewer than ``k`` records. The report counts rows
    among the counted ones.
    """
    if not isinstance(k, int) or k < 2:
        raise ConfigError(f"k must be an integer >= 2, got {k!r}")
    in_shared = pd.Series(True if counted is None else np.asarray(counted, dtype=bool),
                          index=values.index)
    shared = values[in_shared]
    counts = shared.value_counts(dropna=True)
    rare = counts[counts < k]
    if other:
        rare = rare[rare.index != other]
    mask = values.isin(rare.index)
    result = values.astype(object).where(~mask, other if other else None)
    suppressed = mask if not other else pd.Series(False, index=values.index)
    if other:
        bucket = result == other
        if 0 < int((bucket & in_shared).sum()) < k:
            result = result.where(~bucket, None)
            suppressed = bucket
    return result, SuppressionReport(
        column=str(values.name), k=k, n_values_merged=len(rare),
        n_records_affected=int((mask & in_shared).sum()),
        n_records_suppressed=int((suppressed & in_shared).sum()),
    )


def enough_examples(
    frame: pd.DataFrame, columns: list[str], *, min_examples: int = 50
) -> tuple[list[str], list[ExclusionReport]]:
    """Split ``columns`` into those with at least ``min_examples`` non-null values and
    reports for the rest."""
    if min_examples < 1:
        raise ConfigError(f"min_examples must be >= 1, got {min_examples}")
    kept, excluded = [], []
    for column in columns:
        count = int(frame[column].notna().sum()) if column in frame else 0
        if count >= min_examples:
            kept.append(column)
        else:
            excluded.append(ExclusionReport(column=column, n_examples=count,
                                            min_examples=min_examples))
    return kept, excluded
