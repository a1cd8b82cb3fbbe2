"""Data-quality metrics an org shares as summary statistics, and the quality multiplier.

Three metrics, each a share in [0, 1]:

* **completeness** — share of non-null values over the task's canonical feature cells;
* **recency** — share of records with activity in the 12 months before the reference date
  (their last activity or their creation, whichever the org maps);
* **label reliability** — share of outcome labels that come from a definitive business event
  (closed-won/lost by a rep, a recorded churn date or renewal, a lead converted or closed)
  rather than from an inferred state (a dormant account, an auto-closed deal, an old lead).

:func:`quality_multiplier` turns them into a weight in [0.6, 1.4] that scales an org's
sample count in quality-weighted aggregation.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from fedcrm.errors import ConfigError

MULTIPLIER_MIN = 0.6
MULTIPLIER_MAX = 1.4
#: weights of completeness, recency and label reliability in the quality score; label
#: reliability and completeness matter most because they corrupt what the model learns,
#: stale records only shift it
DEFAULT_WEIGHTS = (0.4, 0.2, 0.4)


class QualityMetrics(BaseModel):
    """An org's data-quality summary for one task (safe to share: three numbers)."""

    model_config = ConfigDict(frozen=True)
    completeness: float = Field(ge=0.0, le=1.0)
    recency: float = Field(ge=0.0, le=1.0)
    label_reliability: float = Field(ge=0.0, le=1.0)
    n_records: int = Field(ge=0)
    n_labelled: int = Field(ge=0)


def quality_score(
    metrics: QualityMetrics, weights: tuple[float, float, float] = DEFAULT_WEIGHTS
) -> float:
    """Weighted mean of the three metrics, in [0, 1]."""
    # NaN fails every comparison, so test finiteness first: (nan, 1, 1) would pass `w < 0`
    # and `sum <= 0` and give a NaN multiplier
    # (and the sum too: three finite 1e308 sum to inf, and inf / inf is NaN)
    if (len(weights) != 3 or not all(math.isfinite(w) for w in weights)
            or any(w < 0 for w in weights) or not 0 < sum(weights) < math.inf):
        raise ConfigError(f"weights must be three finite, non-negative numbers with a positive "
                          f"sum (completeness, recency, label reliability), got {weights}")
    total = sum(weights)
    return (
        weights[0] * metrics.completeness
        + weights[1] * metrics.recency
        + weights[2] * metrics.label_reliability
    ) / total


def quality_multiplier(
    metrics: QualityMetrics, weights: tuple[float, float, float] = DEFAULT_WEIGHTS
) -> float:
    """Map the quality score linearly onto [0.6, 1.4]: ``0.6 + 0.8 × score``.

    An org with perfect data counts 1.4× its sample size, one with none of it 0.6×, and an
    org at score 0.5 exactly its sample size. The bounds keep any org from being silenced or
    from dominating on quality alone (the design's [0.6, 1.4] range).
    """
    score = quality_score(metrics, weights)
    return MULTIPLIER_MIN + (MULTIPLIER_MAX - MULTIPLIER_MIN) * score
