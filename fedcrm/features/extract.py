"""Build one org's model-ready matrix for a task, inside the org.

``build_task_matrix`` joins the canonical tables, computes the outcome and the as-of time of
every record, applies the privacy filters (rare-value suppression, minimum examples for custom
features), encodes every source of the shared :class:`FeatureSpace` and splits the labelled
records into train / validation / test (the test split is never touched by training).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from numbers import Integral, Real

import numpy as np
import pandas as pd
from pydantic import BaseModel
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from fedcrm.errors import ConfigError, FeatureError
from fedcrm.features.canonical import ID_COLUMN, CanonicalOrg, days_before
from fedcrm.features.convert import parse_booleans, parse_dates, parse_numbers
from fedcrm.features.leakage import LeakageFinding, LeakageScreen, screen_leakage
from fedcrm.features.privacy_filters import (
    ExclusionReport,
    SuppressionReport,
    enough_examples,
    suppress_rare,
)
from fedcrm.features.quality import QualityMetrics, quality_multiplier
from fedcrm.features.space import FeatureSpace, SourceSpec, transform_numeric
from fedcrm.ontology.models import Task
from fedcrm.tasks import TASKS, Outcome

HIGH_PRIORITY = ("critical", "high")
RECENT_DAYS = 365
#: an event less than this many days after the as-of time (midnight of the as-of day) is not
#: in the future: a date-time later on that day; the next day's date is
FUTURE_GRACE_DAYS = 1.0
#: the seeds scikit-learn's splitters accept (numpy's ``RandomState`` range)
MAX_SEED = 2**32 - 1


class MatrixReport(BaseModel):
    """What building the matrix did (shareable: counts and column names only)."""

    org_id: str
    task: str
    n_records: int
    n_labelled: int
    n_train: int
    n_validation: int
    n_test: int
    positive_rate: float
    sources_present: list[str]
    sources_missing: list[str]
    suppressed: list[SuppressionReport]
    excluded: list[ExclusionReport]
    quality: QualityMetrics
    quality_multiplier: float
    #: columns the target-leakage screen flagged on the training split (None: not screened,
    #: a class had too few records)
    leakage: list[LeakageFinding] | None = None
    #: labelled records with a value, per source counted in ``quality.completeness``: every
    #: ontology source of the space, 0 where the org does not map it, and the custom blocks
    #: it has (so a restricted matrix can recompute its completeness without the sources it
    #: lost)
    filled: dict[str, int] = {}
    #: labelled records whose event date lay after their as-of time, per source; read as
    #: missing (written later, not known then; see ``Concept.planned``)
    future_dated: dict[str, int] = {}


@dataclass
class TaskMatrix:
    """One org's encoded records for one task."""

    org_id: str
    space: FeatureSpace
    x: np.ndarray
    y: np.ndarray
    definitive: np.ndarray
    ids: np.ndarray
    split: np.ndarray  # "train" / "validation" / "test" per row
    report: MatrixReport
    local_x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    local_names: list[str] = field(default_factory=list)

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(features, labels) of one split."""
        mask = self.split == name
        return self.x[mask], self.y[mask]

    def restrict(self, space: FeatureSpace) -> TaskMatrix:
        """This matrix in ``space``, a subset of its own sources (same order)."""
        columns = {name: j for j, name in enumerate(self.space.feature_names)}
        missing = [name for name in space.feature_names if name not in columns]
        if missing or space.task != self.space.task:
            raise FeatureError(f"org {self.org_id}: cannot restrict the {self.space.task.value} "
                               f"matrix to a space with other columns ({missing[:3]})")
        keep = [columns[name] for name in space.feature_names]
        kept = {source.name for source in space.sources}
        filled = {name: n for name, n in self.report.filled.items() if name in kept}
        # completeness (and so the quality weight) counts only the sources the model sees
        quality = self.report.quality.model_copy(update={
            "completeness": _completeness(filled, self.report.n_labelled)})
        report = self.report.model_copy(update={
            "sources_present": [s for s in self.report.sources_present if s in kept],
            "sources_missing": [s for s in self.report.sources_missing if s in kept],
            "filled": filled, "quality": quality,
            "quality_multiplier": quality_multiplier(quality),
        })
        return replace(self, space=space, x=self.x[:, keep], report=report)


def _completeness(filled: dict[str, int], n_labelled: int) -> float:
    """Share of the labelled records' cells that hold a value, over the counted sources."""
    cells = n_labelled * len(filled)
    return sum(filled.values()) / cells if cells else 0.0


def _window_counts(
    base: pd.DataFrame, child: pd.DataFrame, key: str, date: str, days: int | None,
    mask: pd.Series | None = None, value: str | None = None,
) -> pd.Series:
    """Per base record: count (or sum of ``value``) of child rows dated in the ``days`` before
    the base record's as-of time (all earlier rows when ``days`` is None)."""
    if key not in child or date not in child or (value is not None and value not in child):
        return pd.Series(np.nan, index=base.index)
    if child[date].isna().all() and child[key].notna().any():
        # no child row has a readable date (a format the parser does not know): the window
        # cannot be counted (missing), not "no rows in it" (0) for every record
        return pd.Series(np.nan, index=base.index)
    rows = child[[key, date] + ([value] if value else [])].copy()
    if mask is not None:
        rows = rows[mask.reindex(rows.index).fillna(False).astype(bool)]
    rows = rows.dropna(subset=[key, date])
    joined = rows.merge(base[[ID_COLUMN, "__as_of"]], left_on=key, right_on=ID_COLUMN)
    when = pd.to_datetime(joined[date])
    keep = when <= joined["__as_of"]
    if days is not None:
        keep &= when > joined["__as_of"] - pd.Timedelta(days=days)
    joined = joined[keep]
    totals = joined.groupby(key)[value].sum(min_count=1) if value else joined.groupby(key).size()
    return base[ID_COLUMN].map(totals).fillna(0.0).astype(float)


def _rollup(name: str, base: pd.DataFrame, canonical: CanonicalOrg) -> pd.Series:
    cases = canonical.table("Case")
    deals = canonical.table("Opportunity")
    contacts = canonical.table("Contact")
    if name == "rollup:cases_90d":
        return _window_counts(base, cases, "case.account_id", "case.created_date", 90)
    # a filtered roll-up whose filter this org does not map is unknown (missing), never the
    # unfiltered count: "all cases" read as "escalated cases" would change its meaning
    unknown = pd.Series(np.nan, index=base.index)
    if name == "rollup:escalated_cases_90d":
        if "case.is_escalated" not in cases:
            return unknown
        mask = cases["case.is_escalated"] == 1
        return _window_counts(base, cases, "case.account_id", "case.created_date", 90, mask)
    if name == "rollup:high_priority_cases_90d":
        if "case.priority" not in cases:
            return unknown
        mask = cases["case.priority"].isin(HIGH_PRIORITY)
        return _window_counts(base, cases, "case.account_id", "case.created_date", 90, mask)
    if name == "rollup:cases_total":
        return _window_counts(base, cases, "case.account_id", "case.created_date", None)
    if name in ("rollup:won_deals_365d", "rollup:won_amount_365d"):
        if "opportunity.stage" in deals:
            won = deals["opportunity.stage"] == "closed_won"
        elif "opportunity.is_won" in deals:
            won = deals["opportunity.is_won"] == 1
        else:
            return unknown
        if "opportunity.type" not in deals:
            # renewals cannot be told apart: counting them would count the booked renewal
            # that makes a retained label definitive (the churn outcome itself)
            return unknown
        # a won renewal is the booked renewal that makes a retained label definitive (the
        # churn outcome itself, as account.renewal_count): only other wins count, and only
        # where the type is known (a blank type may be a renewal)
        kind = deals["opportunity.type"]
        won &= kind.notna() & (kind != "renewal")
        value = "opportunity.amount" if name == "rollup:won_amount_365d" else None
        return _window_counts(base, deals, "opportunity.account_id", "opportunity.close_date",
                              365, won, value=value)
    if name == "rollup:contacts":
        if "contact.account_id" not in contacts:
            return pd.Series(np.nan, index=base.index)
        if "contact.created_date" in contacts:
            # contacts added after the as-of time were not there yet; undated ones count
            dated = contacts.assign(__created=pd.to_datetime(
                contacts["contact.created_date"]).fillna(pd.Timestamp("1900-01-01")))
            return _window_counts(base, dated, "contact.account_id", "__created", None)
        counts = contacts.groupby("contact.account_id").size()
        return base[ID_COLUMN].map(counts).fillna(0.0).astype(float)
    raise FeatureError(f"unknown roll-up {name!r}")


def _split(
    idx: np.ndarray, y_all: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` into (rest, held out ≈ ``fraction``), stratified by label when each class
    has two records; with ``groups``, records of one group stay on one side (the held-out part
    is one fold of scikit-learn's ``StratifiedGroupKFold``, so its size is about the fraction).
    """
    strata = y_all[idx].astype(int)
    # scikit-learn holds out ceil(fraction · n) records; stratifying needs a record of each
    # class on both sides
    n_held = math.ceil(fraction * len(idx))
    if n_held >= len(idx):
        raise FeatureError(f"{len(idx)} records cannot be split")
    classes = len(np.unique(strata))
    stratify = (min(np.bincount(strata)) >= 2 and n_held >= classes
                and len(idx) - n_held >= classes)
    keys = None
    if groups is not None:
        # a record without a group is a group of its own
        keys = pd.Series(groups[idx]).astype("string")
        keys = keys.fillna(pd.Series([f"\0row{i}" for i in idx]).astype("string"))
    n_splits = max(2, round(1 / fraction))
    if keys is None or keys.nunique() < 2:
        rest, held = train_test_split(idx, test_size=fraction, random_state=seed,
                                      stratify=strata if stratify else None)
        return rest, held
    # StratifiedGroupKFold refuses (a ValueError) when every class has fewer than n_splits
    # records: 5 won and 7 lost deals split 1/8 ended the whole win-probability task
    if stratify and keys.nunique() >= n_splits and max(np.bincount(strata)) >= n_splits:
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        rest_at, held_at = next(folds.split(idx, strata, keys.to_numpy()))
    else:
        shuffle = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        rest_at, held_at = next(shuffle.split(idx, strata, keys.to_numpy()))
    return idx[rest_at], idx[held_at]


def _base_table(canonical: CanonicalOrg, space: FeatureSpace) -> pd.DataFrame:
    definition = TASKS[space.task]
    base = canonical.table(definition.sobject).copy()
    if base.empty:
        raise FeatureError(f"org {canonical.org_id}: no {definition.sobject} records for task "
                           f"{space.task.value}")
    if space.task is Task.WIN_PROBABILITY and "opportunity.account_id" in base:
        accounts = canonical.table("Account")
        account_columns = [s.name for s in space.sources if s.sobject == "Account"
                           and s.name in accounts]
        if account_columns:
            joined = accounts[[ID_COLUMN, *account_columns]].rename(
                columns={ID_COLUMN: "__account"})
            base = base.merge(joined, how="left", left_on="opportunity.account_id",
                              right_on="__account").drop(columns="__account")
            base.index = canonical.table(definition.sobject).index
    return base


def _encode_source(
    source: SourceSpec, values: pd.Series | None, as_of: pd.Series, k: int,
    suppressed: list[SuppressionReport], shared: np.ndarray,
    future_dated: dict[str, int] | None = None,
) -> np.ndarray:
    """Columns of one source (values, then the missing indicator); ``shared`` marks the rows
    that go into the matrix (rare-value suppression counts those, and ``future_dated`` hears
    of those whose event date lay after their as-of time)."""
    n = len(as_of)
    width = len(source.columns)
    if values is None:
        out = np.zeros((n, width), dtype=np.float32)
        out[:, -1] = 1.0
        return out
    missing = values.isna().to_numpy()
    if source.kind in ("numeric", "rollup"):
        # custom blocks arrive in each org's own type (a number stored as text, ...)
        parsed = parse_numbers(values)
        missing = parsed.isna().to_numpy()
        block = np.nan_to_num(transform_numeric(parsed.to_numpy(), source.unit))[:, None]
    elif source.kind == "boolean":
        parsed = parse_booleans(values)
        missing = parsed.isna().to_numpy()
        block = np.nan_to_num(parsed.to_numpy())[:, None]
    elif source.kind == "date":
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            # a number member of a date block (space built without its metadata) would
            # otherwise be read as seconds since 1970
            raise FeatureError(f"the {source.name} values are numbers, not dates; map that "
                               "field to another custom block")
        # text members of a date block: values that are not dates ("n/a") become missing
        days = days_before(parse_dates(values), as_of).to_numpy()
        if source.event:
            # an event dated after the as-of time was written later: an MQL date after a
            # backtest's reference date was encoded as -63 days, and a churned account's
            # activity after it left marked it churned. Not known then, so missing. A day's
            # grace: a date-time later on the as-of day is no future
            later = days <= -FUTURE_GRACE_DAYS
            if later.any():
                if future_dated is not None:
                    future_dated[source.name] = int((later & np.asarray(shared)).sum())
                days = np.where(later, np.nan, days)
        block = np.nan_to_num(np.clip(days / 365.0, -10, 10))[:, None]
        missing = np.isnan(days)
    elif source.kind == "category":
        # counted on the rows that are shared (the labelled ones); a suppressed value is
        # null, so its records join the missing indicator's
        merged, report = suppress_rare(values.astype(object), k=k,
                                       other="other" if "other" in source.categories else "",
                                       counted=shared)
        missing = merged.isna().to_numpy()
        if report.n_values_merged or report.n_records_suppressed:
            suppressed.append(report)
        block = np.stack([(merged == code).to_numpy(dtype=float) for code in source.categories],
                         axis=1) if source.categories else np.zeros((n, 0))
    else:  # present
        block = (~missing).astype(float)[:, None]
    return np.concatenate([block, missing.astype(float)[:, None]], axis=1).astype(np.float32)


def _observed(x: np.ndarray, space: FeatureSpace) -> np.ndarray:
    """Cells of ``x`` that hold a real value: a source's value columns where its ``#missing``
    indicator (its last column) is 0; the indicator itself everywhere."""
    observed = np.ones(x.shape, dtype=bool)
    start = 0
    for source in space.sources:
        width = len(source.columns)
        present = x[:, start + width - 1] == 0
        observed[:, start:start + width - 1] = present[:, None]
        start += width
    return observed


def reference_timestamp(reference_date: object, where: str = "reference_date") -> pd.Timestamp:
    """``reference_date`` as a naive UTC timestamp (record dates are read as naive UTC, see
    :func:`~fedcrm.features.convert.parse_dates`), or a :class:`ConfigError` that names
    ``where`` it came from (an argument, an option, a file)."""
    problem = f"{where} {reference_date!r} is not a date; use YYYY-MM-DD"
    # numbers are refused: pd.Timestamp(20240101) is a nanosecond count in 1970, not a date
    if not isinstance(reference_date, (str, dt.date, np.datetime64)):
        raise ConfigError(problem)
    try:
        reference = pd.Timestamp(reference_date)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(problem) from None
    if pd.isna(reference):  # "NaT", np.datetime64("NaT")
        raise ConfigError(problem)
    if reference.tz is not None:
        reference = reference.tz_convert(None)
    return reference


def _check_split_options(test_size: float, validation_size: float, seed: int) -> None:
    """Refuse split sizes and seeds that scikit-learn (or the arithmetic here) cannot use."""
    for name, size in (("test_size", test_size), ("validation_size", validation_size)):
        if (not isinstance(size, Real) or isinstance(size, bool)
                or not math.isfinite(float(size)) or not 0 < float(size) < 1):
            raise ConfigError(f"{name} must be a fraction of the labelled records, a number "
                              f"strictly between 0 and 1 (e.g. 0.2), got {size!r}")
    total = float(test_size) + float(validation_size)
    if total >= 1:
        raise ConfigError(f"test_size + validation_size must be below 1 to leave training "
                          f"records, got {test_size!r} + {validation_size!r} = {total:g}; "
                          "make them smaller")
    if not isinstance(seed, Integral) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")


def build_task_matrix(
    canonical: CanonicalOrg,
    space: FeatureSpace,
    reference_date: pd.Timestamp | str,
    *,
    k: int = 5,
    min_examples: int = 50,
    seed: int = 0,
    test_size: float = 0.2,
    validation_size: float = 0.1,
    leakage: LeakageScreen | None = None,
) -> TaskMatrix:
    """Encode the org's labelled records of ``space.task`` and split them.

    The training split is screened for target leakage (``leakage``, default thresholds of
    :class:`LeakageScreen`); the findings are in ``report.leakage``. The matrix keeps every
    column: dropping flagged sources is the federation's decision (:meth:`TaskMatrix.restrict`,
    done by :func:`fedcrm.federation.experiment.prepare_task`), since all orgs share one space.

    ``reference_date`` is a date (``"YYYY-MM-DD"``, ``datetime``, ``date`` or
    ``pd.Timestamp``; a time-zone aware one is converted to naive UTC). ``test_size`` and
    ``validation_size`` are fractions of the labelled records (each strictly between 0 and 1,
    together below 1); ``seed`` is an integer from 0 to 2**32 - 1.

    Raises :class:`ConfigError` for an argument outside those ranges, and
    :class:`FeatureError` for an org with no labelled records (or one class only).
    """
    _check_split_options(test_size, validation_size, seed)
    reference = reference_timestamp(reference_date)
    definition = TASKS[space.task]
    base = _base_table(canonical, space)
    outcome: Outcome = definition.outcome(base, reference)
    base["__as_of"] = outcome.as_of.fillna(reference)
    labelled = outcome.labelled.to_numpy()
    if labelled.sum() == 0:
        raise FeatureError(f"org {canonical.org_id}: no labelled {definition.sobject} records "
                           f"for {space.task.value}")
    y_all = outcome.y.to_numpy()
    if len(np.unique(y_all[labelled])) < 2:
        raise FeatureError(f"org {canonical.org_id}: every labelled record has the same "
                           f"{space.task.value} outcome; nothing to learn from")
    idx = np.arange(len(base))[labelled]
    # an account's deals share its account columns: they go to one split together
    groups = (base["opportunity.account_id"].to_numpy()
              if space.task is Task.WIN_PROBABILITY and "opportunity.account_id" in base
              else None)
    try:
        train_val, test = _split(idx, y_all, groups, test_size, seed)
        relative = validation_size / (1 - test_size)
        train, validation = _split(train_val, y_all, groups, relative, seed)
    except FeatureError:
        raise FeatureError(
            f"org {canonical.org_id}: {len(idx)} labelled {definition.sobject} records are too "
            f"few to split into training, validation and test records for "
            f"{space.task.value}") from None
    split = np.empty(len(base), dtype=object)
    split[train], split[validation], split[test] = "train", "validation", "test"
    # custom features need enough training examples, or they are excluded (privacy filter)
    custom_sources = [s.name for s in space.sources
                      if s.name.startswith("custom:") and s.name in base]
    train_rows = base.iloc[train]
    kept, excluded = enough_examples(train_rows, custom_sources, min_examples=min_examples)
    blocks: list[np.ndarray] = []
    suppressed: list[SuppressionReport] = []
    present, absent = [], []
    filled: dict[str, int] = {}  # per source: labelled records with a value
    future_dated: dict[str, int] = {}
    for source in space.sources:
        values: pd.Series | None
        if source.kind == "rollup":
            values = _rollup(source.name, base, canonical)
            if values is not None and bool(values.isna().all()):
                values = None  # e.g. its filter is not mapped: same columns, reported missing
        elif source.name in base and not (source.name.startswith("custom:")
                                          and source.name not in kept):
            values = base[source.name]
        else:
            values = None
        if values is None and source.name.startswith("custom:") and source.name in base:
            # a block the org has but too few training examples kept out of the model: its
            # data are there all the same (completeness counts the blocks the org has)
            filled[source.name] = int(base[source.name][labelled].notna().sum())
        if values is None:
            absent.append(source.name)
            if source.kind != "rollup" and not source.name.startswith("custom:"):
                # a shared concept the org does not map is as empty as one it leaves blank
                # (the model sees the same); counting neither would let an org raise its
                # quality weight by leaving its sparse fields unmapped. A participant-
                # specific block is absent by design and is not counted.
                filled[source.name] = 0
        else:
            present.append(source.name)
            if source.kind != "rollup":
                filled[source.name] = int(values[labelled].notna().sum())
        try:
            blocks.append(_encode_source(source, values, base["__as_of"], k, suppressed,
                                         labelled, future_dated))
        except FeatureError as exc:
            raise FeatureError(f"org {canonical.org_id}: {exc}") from None
    x = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(base), 0), np.float32)
    # evidence of activity: the last activity, and the creation (a record created in the
    # last 12 months was active then); an org that maps only one has only that evidence. (The
    # creation date used to stand in for an unmapped last activity, so an org whose records
    # were all active last month but created years ago went from recency 1 to 0.)
    dates = [pd.to_datetime(base[c]) for c in (f"{definition.sobject.lower()}.last_activity_date",
                                                f"{definition.sobject.lower()}.created_date")
             if c in base]
    recency = 0.0
    if dates:
        # activity in the 12 months before the reference, not after it (a backtest)
        recent = pd.Series(False, index=base.index)[labelled]
        for date in dates:
            days = days_before(date, reference)[labelled]
            recent |= ((days >= 0) & (days <= RECENT_DAYS)).fillna(False).astype(bool)
        recency = float(recent.mean())
    metrics = QualityMetrics(
        completeness=_completeness(filled, int(labelled.sum())),
        recency=recency,
        label_reliability=outcome.label_reliability,
        n_records=len(base),
        n_labelled=int(labelled.sum()),
    )
    local_names = [c for c in base.columns if c.startswith("local:")]
    local = np.zeros((len(base), 0), dtype=np.float32)
    if local_names:
        local = np.stack([
            pd.to_numeric(base[c], errors="coerce").fillna(0.0).to_numpy(dtype=float)
            if base[c].dtype != object and not pd.api.types.is_string_dtype(base[c])
            else base[c].notna().to_numpy(dtype=float)
            for c in local_names
        ], axis=1).astype(np.float32)
    keep = labelled
    report = MatrixReport(
        org_id=canonical.org_id, task=space.task.value, n_records=len(base),
        n_labelled=int(labelled.sum()), n_train=len(train), n_validation=len(validation),
        n_test=len(test), positive_rate=float(np.nanmean(y_all[labelled])),
        sources_present=present, sources_missing=absent, suppressed=suppressed,
        excluded=excluded, quality=metrics, quality_multiplier=quality_multiplier(metrics),
        filled=filled, future_dated={name: n for name, n in future_dated.items() if n},
        leakage=screen_leakage(x[train], y_all[train], space.feature_names, leakage,
                               observed=_observed(x[train], space)),
    )
    return TaskMatrix(
        org_id=canonical.org_id, space=space, x=x[keep], y=y_all[keep].astype(np.float32),
        definitive=outcome.definitive.to_numpy()[keep], ids=base[ID_COLUMN].to_numpy()[keep],
        split=split[keep], report=report, local_x=local[keep], local_names=local_names,
    )
