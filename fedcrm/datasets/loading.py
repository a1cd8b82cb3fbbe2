"""The steps every loader shares: split the task object's rows by the natural key, take a
slice if asked, and build each org."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from fedcrm.datasets.build import build_org
from fedcrm.datasets.federation import OutcomeFunction, RealFederation
from fedcrm.datasets.source import check_max_rows, check_seed, slice_rows
from fedcrm.datasets.spec import DatasetDefinition, DatasetError, OrgSpec

#: (org, its rows of the task object, org index) → the source rows of every object
FramesFor = Callable[[OrgSpec, pd.DataFrame, int], dict[str, pd.DataFrame]]


def build_federation(
    definition: DatasetDefinition,
    frame: pd.DataFrame,
    *,
    seed: int,
    max_rows: int | None,
    outcome: OutcomeFunction,
    frames_for: FramesFor | None = None,
) -> RealFederation:
    """Split ``frame`` (the task object's source rows) into the definition's orgs by
    ``definition.split_key`` and build each org.

    Every row must belong to exactly one org; a key value no org claims is an error naming
    the file and the value. With ``max_rows`` a seeded slice of about that many rows is taken,
    spread over the orgs in proportion to their sizes (see :func:`~fedcrm.datasets.source.
    allocate`). ``frames_for`` supplies further objects (the sales pipeline's accounts).
    """
    seed = check_seed(seed)
    max_rows = check_max_rows(max_rows, len(definition.orgs))
    key = frame[definition.split_key].astype(str).str.strip()
    claimed = [value for spec in definition.orgs for value in spec.keys]
    unclaimed = sorted(set(key) - set(claimed))
    if unclaimed:  # named after the file the split key comes from (a joined one, maybe)
        source = next((c.file for c in definition.columns
                       if c.source == definition.split_key and c.file), definition.files[0])
        raise DatasetError(f"{source}, column {definition.split_key!r}: value(s) "
                           f"{unclaimed} belong to no org of {definition.name}")
    groups = [frame.index[key.isin(spec.keys)] for spec in definition.orgs]
    empty = [spec.org_id for spec, rows in zip(definition.orgs, groups, strict=True)
             if len(rows) == 0]
    if empty:
        raise DatasetError(f"{definition.files[0]}: no rows for org(s) {empty} (column "
                           f"{definition.split_key!r})")
    chosen = slice_rows(frame, groups, max_rows, seed)
    orgs = []
    for index, (spec, rows) in enumerate(zip(definition.orgs, chosen, strict=True)):
        subset = frame.loc[rows].reset_index(drop=True)
        frames = frames_for(spec, subset, index) if frames_for is not None else \
            {definition.task_object: subset}
        orgs.append(build_org(definition, spec, frames, seed=seed, org_index=index))
    return RealFederation(definition=definition, orgs=orgs, seed=seed, max_rows=max_rows,
                          outcome=outcome)
