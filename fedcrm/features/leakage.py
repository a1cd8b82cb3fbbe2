"""Target-leakage screen, run inside each org on its training split before anything is trained.

A field that is filled in only *after* the outcome (an exit survey sent to accounts that left, a
win/loss interview logged on closed deals, a renewal counter that is never 0 on a live account)
separates the classes far better than anything known beforehand. A model trained on it scores
well on the org's own history and fails on live records, whose outcome is not known yet.
Metadata cannot catch this for custom fields (they have no ontology ``usage``), so the screen
looks at the values.

The rule: a column is flagged when a one-sided threshold on it (``x ≤ t`` or ``x ≥ t``; for a
0/1 column, "is 1" or "is 0") marks off a region that holds a share s ≥ ``min_share`` of one
class's training records (and at least ``min_records`` of them) but at most s / ``min_ratio``
of the other class's. With the defaults: a fifth or more of the churned accounts and at most
1/50 as large a share of the retained ones, a likelihood ratio of 50 or more on a fifth of a
class, which honest pre-outcome fields rarely reach (``docs/federation.md`` lists what it flags
on the synthetic and the public datasets, one honest feature included). Kaufman et al. 2012
("Leakage in data mining: formulation, detection, and avoidance", ACM TKDD 6(4)) describe
spotting leaks by predictive power that is too good to be true; this is a one-sided, per-column
version of that test, so that a field populated on part of one class only is caught.

"At most 1/50 of the share" only means something when the other class has at least
``min_class`` records (with 20 records it means none, which a column with no signal at all
manages by chance), so a region is only looked for when the other class is that large; an org
where neither direction qualifies is not screened and says so (``None``).

What happens to a flagged source is the federation's policy
(:func:`fedcrm.federation.experiment.prepare_task`).

Only column names and shares leave the org (:class:`LeakageFinding`), never values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class LeakageFinding(BaseModel):
    """One column that separates part of one class almost perfectly (shareable: no values)."""

    model_config = ConfigDict(frozen=True)
    column: str
    #: the class the region isolates (1 = positive outcome)
    outcome: int
    #: "low" (x ≤ t) or "high" (x ≥ t)
    side: Literal["low", "high"]
    #: share of that class's training records in the region
    share: float = Field(ge=0, le=1)
    #: share of the other class's training records in the region
    other_share: float = Field(ge=0, le=1)
    n_records: int = Field(ge=0)


class LeakageScreen(BaseModel):
    """Thresholds of the screen (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_share: float = Field(default=0.2, gt=0, le=1)
    min_ratio: float = Field(default=50.0, gt=1)
    min_records: int = Field(default=20, ge=1)
    min_class: int = Field(default=50, ge=1)


def _best_region(column: str, values: np.ndarray, y: np.ndarray, n_pos: int, n_neg: int,
                 screen: LeakageScreen) -> LeakageFinding | None:
    """The largest qualifying one-sided region of one column, or None."""
    if len(values) == 0:
        return None
    unique, inverse = np.unique(values, return_inverse=True)
    # regions are prefixes of the sorted distinct values; when every record is in ``values``
    # the last prefix (everything) is no region at all
    end = -1 if len(values) == n_pos + n_neg else None
    pos = np.bincount(inverse, weights=y, minlength=len(unique))
    neg = np.bincount(inverse, minlength=len(unique)) - pos
    best: LeakageFinding | None = None
    best_share = -1.0
    sides: tuple[tuple[Literal["low", "high"], slice], ...] = (
        ("low", slice(None)), ("high", slice(None, None, -1)))
    for side, order in sides:
        cum_pos = np.cumsum(pos[order])[:end]
        cum_neg = np.cumsum(neg[order])[:end]
        for outcome, mine, other, n_mine, n_other in ((1, cum_pos, cum_neg, n_pos, n_neg),
                                                      (0, cum_neg, cum_pos, n_neg, n_pos)):
            if n_other < screen.min_class:
                continue
            share, other_share = mine / n_mine, other / n_other
            ok = ((other_share * screen.min_ratio <= share) & (share >= screen.min_share)
                  & (mine >= screen.min_records))
            if not ok.any():
                continue
            k = int(np.flatnonzero(ok)[np.argmax(share[ok])])
            if share[k] > best_share:
                best_share = float(share[k])
                best = LeakageFinding(column=column, outcome=outcome, side=side,
                                      share=round(float(share[k]), 4),
                                      other_share=round(float(other_share[k]), 4),
                                      n_records=int(mine[k] + other[k]))
    return best


def screen_leakage(x: np.ndarray, y: np.ndarray, names: Sequence[str],
                   screen: LeakageScreen | None = None, *,
                   observed: np.ndarray | None = None) -> list[LeakageFinding] | None:
    """Columns of ``x`` (rows: training records, labels ``y`` in {0, 1}) that look like target
    leakage; ``None`` when the split is too small to screen (no class has ``screen.min_class``
    records, or one has fewer than ``screen.min_records``).

    ``observed`` (same shape as ``x``) marks the cells that hold a real value: a missing value
    encoded as 0 must not join the region of real zeros (a renewal count of 0 that only churned
    accounts have would otherwise be diluted by every blank one). Shares stay relative to all
    of a class's records."""
    screen = screen or LeakageScreen()
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or x.shape[1] != len(names) or len(x) != len(y):
        raise ValueError(f"x has shape {x.shape}, y {y.shape} and there are {len(names)} names")
    if observed is not None and np.shape(observed) != x.shape:
        raise ValueError(f"observed has shape {np.shape(observed)}, x {x.shape}")
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if max(n_pos, n_neg) < screen.min_class or min(n_pos, n_neg) < screen.min_records:
        return None
    findings = []
    for j, name in enumerate(names):
        rows = slice(None) if observed is None else np.asarray(observed[:, j], dtype=bool)
        finding = _best_region(name, x[rows, j], y[rows], n_pos, n_neg, screen)
        if finding is not None:
            findings.append(finding)
    return findings
