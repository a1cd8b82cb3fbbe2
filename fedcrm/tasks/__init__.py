"""The three CRM tasks: what is predicted, from which record, how it is labelled and scored.

Each task reads only canonical concepts, so it means the same thing in every org:

* **churn** (Account): ``account.churned``, or a recorded ``account.churn_date`` where the
  flag is missing (row by row). Definitive: churned with a date, or retained with a booked
  renewal; inferred: any other flag (e.g. one set by a dormancy rule).
* **lead_conversion** (Lead): converted (``lead.is_converted`` or status closed-converted).
  With a creation date mapped, only the cohort of leads created at least 180 days before the
  reference date is labelled, converted or not (converted later than the reference counts as
  not converted); definitive: status closed-converted or closed-not-converted, inferred: an
  open lead counted as not converted. Labelling young leads only when they had converted
  made a lead's age predict its label. Without a creation date, the status alone labels.
* **win_probability** (Opportunity): ``opportunity.is_won`` among closed deals. Definitive: won,
  or lost with a loss reason; inferred: lost without a reason (an auto-closed stale deal). A deal
  closed by ``opportunity.is_closed`` at a stage that names no result (or in an org without a
  stage), with no ``opportunity.is_won`` for it (not mapped, or blank or unreadable), is
  unlabelled (whether it was won is not recorded) unless it has a loss reason.

Every record also gets an *as-of* time, the moment its features describe: the churn date for
churned accounts and the close date for closed deals (so roll-ups over "the last 90 days" look
at the 90 days before the outcome, not before today, which would leak it), the reference date
otherwise; never later than the reference date. A churned account without a churn date is
described as of the reference date, after it left: its date features and roll-ups can give
the outcome away (the leakage screen catches blatant cases only).

Nothing after the reference date counts (a backtest with an earlier reference sees the data as
it was then): records created after it are unlabelled, and a churn, conversion or close dated
after it has not happened yet (the account is unlabelled, the lead open, the deal open).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from fedcrm.errors import FeatureError
from fedcrm.ontology.models import Task

#: open leads at least this old count as not converted (an inferred label)
LEAD_STALE_DAYS = 180


@dataclass(frozen=True)
class Outcome:
    """Labels of one org's records for one task."""

    y: pd.Series  # 1.0 / 0.0, NaN where unlabelled
    definitive: pd.Series  # bool: label from a definitive business event
    as_of: pd.Series  # timestamp the features of each record describe

    @property
    def labelled(self) -> pd.Series:
        """Records with a label."""
        return self.y.notna()

    @property
    def label_reliability(self) -> float:
        """Share of labels from definitive events (0 if nothing is labelled)."""
        labelled = self.labelled
        return float(self.definitive[labelled].mean()) if labelled.any() else 0.0


def _flag(table: pd.DataFrame, concept: str) -> pd.Series | None:
    return table[concept].astype(float) if concept in table else None


def _date(table: pd.DataFrame, concept: str) -> pd.Series | None:
    return pd.to_datetime(table[concept]) if concept in table else None


def _after(dates: pd.Series | None, reference: pd.Timestamp, index: pd.Index) -> pd.Series:
    """True where a date is later than the reference (False where missing)."""
    if dates is None:
        return pd.Series(False, index=index)
    return (dates > reference).fillna(False).astype(bool)


def _as_of(values: pd.Series, reference: pd.Timestamp) -> pd.Series:
    """As-of times, never later than the reference date."""
    stamps = pd.to_datetime(values).fillna(reference)
    return stamps.where(stamps <= reference, reference)


def churn_outcome(table: pd.DataFrame, reference: pd.Timestamp) -> Outcome:
    """Account churn: the churned flag, or a recorded churn date where the flag is missing."""
    churned = _flag(table, "account.churned")
    churn_date = _date(table, "account.churn_date")
    if churned is None and churn_date is None:
        raise FeatureError("churn needs account.churned or account.churn_date mapped; neither "
                           "is in this org's approved mapping")
    index = table.index
    has_date = churn_date.notna() if churn_date is not None else pd.Series(False, index=index)
    if churned is None:
        churned = has_date.astype(float)
    else:
        # a churn date where the flag is blank (or its value unreadable) means churned
        churned = churned.where(churned.notna() | ~has_date, 1.0)
    renewals = table["account.renewal_count"].astype(float) if "account.renewal_count" in \
        table else pd.Series(np.nan, index=index)
    definitive = ((churned == 1) & has_date) | ((churned == 0) & (renewals >= 1))
    # as of the reference date, an account that churns later, or did not exist yet, has no
    # outcome to learn from
    created = _date(table, "account.created_date")
    later = _after(churn_date, reference, index) | _after(created, reference, index)
    y = churned.where(~later)
    as_of = pd.Series(reference, index=index)
    if churn_date is not None:
        as_of = churn_date.where((churned == 1) & has_date, as_of)
    return Outcome(y=y, definitive=(definitive & ~later).fillna(False).astype(bool),
                   as_of=_as_of(as_of, reference))


def lead_outcome(table: pd.DataFrame, reference: pd.Timestamp) -> Outcome:
    """Lead conversion over the cohort of leads at least 180 days old (see the module)."""
    status = table.get("lead.status", None)
    converted = _flag(table, "lead.is_converted")
    if status is None and converted is None:
        raise FeatureError("lead conversion needs lead.is_converted or lead.status mapped")
    index = table.index
    closed_converted = (status == "closed_converted") if status is not None else \
        pd.Series(False, index=index)
    closed_lost = (status == "closed_not_converted") if status is not None else \
        pd.Series(False, index=index)
    is_converted = (converted == 1) if converted is not None else closed_converted
    # a blank or unreadable converted flag whose status does not decide either: unlabelled,
    # as churn and win leave such records (a "Konvertiert" the parser cannot read was a
    # negative)
    # (without a flag, a blank status or one the value mapper could not read, canonical
    # "other", is as unknown: "Converted - Partner" read as other was a negative)
    unknown = (converted.isna() & ~closed_converted.fillna(False).astype(bool)
               & ~closed_lost.fillna(False).astype(bool)) if converted is not None else \
        (status.isna() | (status == "other")).fillna(True).astype(bool)
    is_converted = is_converted.fillna(False) | closed_converted.fillna(False)
    # converted after the reference date: still open then
    is_converted = is_converted & ~_after(_date(table, "lead.converted_date"), reference, index)
    closed_lost = closed_lost.fillna(False).astype(bool)
    y = pd.Series(np.nan, index=index)
    created = _date(table, "lead.created_date")
    if created is not None:
        # one rule for every lead of the cohort, whatever its outcome: labelling young leads
        # only when they had converted would let age predict the label
        cohort = ((reference - created).dt.days >= LEAD_STALE_DAYS).fillna(False) & ~unknown
        y[cohort] = is_converted[cohort].astype(float)
        definitive = cohort & (is_converted | closed_lost)
    elif status is not None:
        y[is_converted] = 1.0
        y[closed_lost & ~is_converted] = 0.0
        definitive = y.notna()
    else:
        # no status and no creation date: the converted flag is all there is
        y = is_converted.astype(float).where(~unknown)
        definitive = pd.Series(False, index=index)
    return Outcome(y=y, definitive=definitive.astype(bool),
                   as_of=pd.Series(reference, index=index))


def win_outcome(table: pd.DataFrame, reference: pd.Timestamp) -> Outcome:
    """Opportunity win among closed deals."""
    stage = table.get("opportunity.stage", None)
    won = _flag(table, "opportunity.is_won")
    closed = _flag(table, "opportunity.is_closed")
    if stage is None and (won is None or closed is None):
        raise FeatureError("win probability needs opportunity.stage, or both "
                           "opportunity.is_won and opportunity.is_closed, mapped")
    index = table.index
    has_reason = table["opportunity.loss_reason"].notna() if "opportunity.loss_reason" in \
        table else pd.Series(False, index=index)
    # closed (by the flag) at a stage that names no result, with no loss reason and no won
    # flag (not mapped, or blank or unreadable for the deal): whether the deal was won is not
    # recorded, so it gets no label, not "lost"
    not_recorded = won.isna() if won is not None else pd.Series(True, index=index)
    if stage is not None:
        stage_decides = stage.isin(["closed_won", "closed_lost"]).fillna(False)
        is_closed = stage_decides
        is_won = (stage == "closed_won").fillna(False)
        if won is not None:
            is_won = is_won | (won == 1)
        unknown = pd.Series(False, index=index)
        if closed is not None:
            unknown = (closed == 1) & ~stage_decides & ~has_reason & not_recorded
            is_closed = is_closed | (closed == 1)
    else:
        assert won is not None and closed is not None
        is_closed, is_won = (closed == 1), (won == 1)
        unknown = is_closed & ~has_reason & not_recorded
    close = _date(table, "opportunity.close_date")
    # closed after the reference date: still open then; created after it: not there yet
    is_closed = is_closed & ~_after(close, reference, index) & ~_after(
        _date(table, "opportunity.created_date"), reference, index) & ~unknown
    y = pd.Series(np.nan, index=index)
    y[is_closed] = is_won[is_closed].astype(float)
    definitive = is_closed & (is_won | has_reason)
    as_of = pd.Series(reference, index=index)
    if close is not None:
        as_of = close.where(is_closed & close.notna(), as_of)
    return Outcome(y=y, definitive=definitive.astype(bool), as_of=_as_of(as_of, reference))


@dataclass(frozen=True)
class TaskDefinition:
    """What one task predicts and how it is scored.

    ``excluded`` lists feature concepts the task never uses: each task's *inferred* labels are
    defined by inactivity (a dormant account, a stale lead, an auto-closed idle deal), so
    activity-recency concepts would learn the labelling rule instead of the outcome. Churn also
    leaves out ``account.renewal_count``: a booked renewal is what makes a retained label
    definitive (:func:`churn_outcome`), i.e. the outcome of the current term itself. Churn and
    win probability leave out ``account.type``: it is kept up to date, not as of the outcome,
    and its values follow the outcomes (``former_customer`` is a churned account; an account
    becomes a customer when its first deal is won, so ``prospect`` marks accounts whose deals
    were all lost). A review measured what admins' usual edits do: setting half the churned
    accounts of one synthetic org to Former Customer lifted its churn test AUC from 0.816 to
    0.891, and marking accounts without a won deal as Prospect lifted win probability from
    0.640 to 0.805. Whether a deal is new business is ``opportunity.type``, as of the deal.
    Churn leaves out ``account.is_active`` too: "holds a live contract" is the outcome itself
    (a review's constructed org: AUC 1.0 from that flag alone).
    """

    task: Task
    sobject: str
    metrics: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    def outcome(self, table: pd.DataFrame, reference: pd.Timestamp) -> Outcome:
        """Labels, label sources and as-of times of this task's records."""
        function = {Task.CHURN: churn_outcome, Task.LEAD_CONVERSION: lead_outcome,
                    Task.WIN_PROBABILITY: win_outcome}[self.task]
        return function(table, reference)

    def score(self, y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float | None]:
        """The task's metrics (AUC-ROC; Spearman too for win probability)."""
        result: dict[str, float | None] = {"auc": None}
        if len(np.unique(y_true)) == 2:
            result["auc"] = float(roc_auc_score(y_true, probabilities))
        if "spearman" in self.metrics:
            result["spearman"] = None
            if len(np.unique(y_true)) == 2:
                # a constant prediction ranks nothing: its rank correlation is 0, as its AUC
                # is 0.5 (scipy says NaN, which would drop it from one method's mean only)
                result["spearman"] = (0.0 if len(np.unique(probabilities)) < 2
                                      else float(spearmanr(probabilities, y_true).statistic))
        return result


TASKS: dict[Task, TaskDefinition] = {
    Task.CHURN: TaskDefinition(
        Task.CHURN, "Account", ("auc",),
        excluded=("account.last_activity_date", "account.last_login_date",
                  "account.days_since_last_login", "account.last_contact_date",
                  "contact.last_activity_date", "contact.last_login_date",
                  "account.renewal_count", "account.type", "account.is_active"),
    ),
    Task.LEAD_CONVERSION: TaskDefinition(
        Task.LEAD_CONVERSION, "Lead", ("auc",),
        excluded=("lead.last_activity_date", "lead.last_engagement_date"),
    ),
    Task.WIN_PROBABILITY: TaskDefinition(
        Task.WIN_PROBABILITY, "Opportunity", ("auc", "spearman"),
        excluded=("opportunity.last_activity_date", "opportunity.last_stage_change_date",
                  "account.last_activity_date", "account.type"),
    ),
}


def get_task(task: str | Task) -> TaskDefinition:
    """A task definition by name (``churn``, ``lead_conversion``, ``win_probability``)."""
    try:
        return TASKS[Task(task)]
    except ValueError:
        raise FeatureError(f"unknown task {task!r}; choose one of "
                           f"{[t.value for t in Task]}") from None


__all__ = ["TASKS", "Outcome", "TaskDefinition", "get_task"]
