"""The active-learning loop: select → export → (label) → import → retrain → evaluate → record.

:class:`AnnotationLoop` works on an annotations folder (see :mod:`fedcrm.matching.corpus`)
whose orgs may be partially labelled. Held-out orgs — fully labelled, never in the pool and
never trained on — measure the matcher after every round; each measurement is a
:class:`CurvePoint` of the :class:`LearningCurve` (labels spent vs precision, coverage and
pairwise F1), saved as JSON and drawn as a PNG.

*Labels spent* is read from the corpus itself: the number of labels with
``method="active_learning"`` in the orgs the matcher trains on.

For simulations (:func:`truth_oracle`) the "annotator" answers from the ground truth, through
the same task files and import path a person's answers take.
"""

from __future__ import annotations

import difflib
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator

from fedcrm._files import write_atomically
from fedcrm.annotate.exchange import (
    AnnotationTask,
    Answer,
    AnswerSheet,
    make_tasks,
    read_answers,
    utc_now,
    write_label_studio_export,
    write_tasks,
)
from fedcrm.annotate.merge import MAX_LISTED, MergeReport, merge_answers
from fedcrm.annotate.pool import (
    NO_CONCEPT,
    PoolField,
    is_complete,
    load_annotations,
    training_corpus,
    unlabelled_pool,
)
from fedcrm.annotate.strategies import Query, QueryStrategy
from fedcrm.errors import ConfigError, MappingError, validation_problems
from fedcrm.matching.corpus import AnnotatedOrg, FieldLabel, read_labels
from fedcrm.ontology import load_ontology
from fedcrm.ontology.models import Ontology
from fedcrm.schema.models import OrgSchema

if TYPE_CHECKING:
    from fedcrm.matching.embeddings import Embedder
    from fedcrm.matching.evaluate import MethodScores, Prediction
    from fedcrm.matching.model import FieldMatcher

REPORT_FORMAT = 1
#: matcher parameters for quick rounds (the matcher's defaults are 300 rounds, 5 folds, 10
#: folds for the pair model, one cross-validation; the pair model's folds follow ``n_folds``
#: here, :func:`with_pair_folds`); 3 repetitions of the cross-validation steady the
#: abstention threshold of a matcher trained on a few orgs (docs/annotate.md)
FAST_MATCHER_PARAMS: dict[str, Any] = {"n_rounds": 100, "n_folds": 3, "n_repeats": 3}
_EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "label-studio": "json"}


def with_pair_folds(params: Mapping[str, Any]) -> dict[str, Any]:
    """The loop's matcher parameters with the pair model's folds following ``n_folds`` unless
    ``pair_folds`` is given (the matcher's default of 10 folds needs many orgs; the loop's
    quick fits use as many as for the concept model, as before ``pair_folds`` existed)."""
    if "n_folds" in params and "pair_folds" not in params:
        return {**params, "pair_folds": params["n_folds"]}
    return dict(params)


#: turns exported tasks into answered tasks (a person, or the ground truth in a simulation)
Oracle = Callable[[Sequence[AnnotationTask]], list[AnnotationTask]]


class CurvePoint(BaseModel):
    """The matcher on the held-out orgs after one round."""

    strategy: str
    round: int
    labels_spent: int
    #: labelled custom fields the matcher was trained on
    n_training_fields: int
    precision: float
    coverage: float
    recall: float
    top1: float
    pair_precision: float
    pair_recall: float
    pair_f1: float
    #: the matcher's abstention threshold; None when no threshold reached its target
    #: precision and it accepts nothing (an infinite threshold, which JSON cannot hold)
    threshold: float | None
    #: coverage at the matcher's target precision with the best threshold for the held-out
    #: orgs (:func:`coverage_at_precision`): what the scores allow, whatever the threshold
    coverage_at_target: float | None = None
    fit_seconds: float
    at: str


class PendingRound(BaseModel):
    """A round whose tasks were exported and whose answers have not been imported yet."""

    round: int
    strategy: str
    n: int
    task_file: str
    format: str
    task_ids: list[str]
    created_at: str


#: the strategy name of the point measured before any label was asked for (round 0)
START = "start"


class LearningCurve(BaseModel):
    """Every round's measurement, per strategy (the JSON report)."""

    format: int = REPORT_FORMAT
    held_out: list[str]
    pool_orgs: list[str] | None = None
    #: the annotations folder the rounds import into (absolute; None in older reports)
    annotations: str | None = None
    matcher_params: dict[str, Any] = Field(default_factory=dict)
    #: targets drawn on the plot and used by :meth:`labels_to_target`
    target_precision: float | None = None
    target_coverage: float | None = None
    #: the target of ``coverage_at_target`` (the ranking's coverage at the matcher's target
    #: precision with the best threshold), e.g. a reference's own such coverage less a slack
    target_oracle_coverage: float | None = None
    points: list[CurvePoint] = Field(default_factory=list)
    pending: PendingRound | None = None

    @field_validator("matcher_params")
    @classmethod
    def _pair_folds_of_older_reports(cls, params: dict[str, Any]) -> dict[str, Any]:
        # reports written before the matcher had pair_folds used n_folds for the pair model
        return with_pair_folds(params)

    @classmethod
    def load(cls, path: str | Path) -> LearningCurve:
        """Read a report written by :meth:`save`."""
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise MappingError(f"{path}: cannot read the learning-curve report "
                               f"({exc.strerror or exc})") from exc
        except ValidationError as exc:
            problems = validation_problems(exc, root="the file", limit=3)
            raise MappingError(f"{path}: not a learning-curve report ({problems}); give "
                               "the JSON file `fedcrm annotate round` wrote") from None
        except ValueError as exc:  # not UTF-8 text
            raise MappingError(f"{path}: not a learning-curve report ({exc}); give the JSON "
                               "file `fedcrm annotate round` wrote") from None

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON, atomically (a temporary file beside it, then
        ``os.replace``): an interrupted save leaves the previous report, never half of one."""
        return write_atomically(path, self.model_dump_json(indent=1) + "\n")

    @property
    def strategies(self) -> list[str]:
        """Strategy names in order of first appearance; the starting point (``START``) is
        one of them only while no strategy has a point (it begins every strategy's curve)."""
        names = list(dict.fromkeys(p.strategy for p in self.points))
        return names if names == [START] else [n for n in names if n != START]

    def curve(self, strategy: str) -> list[CurvePoint]:
        """One strategy's points, by labels spent then round. A strategy without a point of
        its own at round 0 starts from the loop's starting point (the last ``START`` point):
        its first labels were chosen from that matcher, and a target it already met counts
        as reached with 0 labels."""
        own = [p for p in self.points if p.strategy == strategy]
        starts = [p for p in self.points if p.strategy == START]
        if strategy != START and starts and not any(p.round == 0 for p in own):
            own.insert(0, starts[-1])
        return sorted(own, key=lambda p: (p.labels_spent, p.round))

    def next_round(self) -> int:
        """The number the next round gets (1 after the starting point 0)."""
        numbers = [p.round for p in self.points]
        if self.pending is not None:
            numbers.append(self.pending.round)
        return max(numbers, default=0) + 1

    def labels_to_target(
        self,
        strategy: str,
        *,
        precision: float | None = None,
        coverage: float | None = None,
        sustained: bool = False,
        coverage_metric: str = "coverage",
    ) -> int | None:
        """Fewest labels spent at which ``strategy`` reached both targets (None: never).

        With ``sustained`` the targets must also hold at every later point of the curve (a
        curve that touches the target once and falls back has not reached it).
        ``coverage_metric`` is ``coverage`` (the matcher's own threshold: its held-out
        precision and coverage against ``target_precision`` and ``target_coverage``) or
        ``coverage_at_target`` (the ranking: its coverage at the matcher's target precision
        with the best threshold for the held-out orgs, against ``target_oracle_coverage``;
        the precision is fixed by that metric, so no precision target applies). Until
        2026-11-27 the ranking's count also required the *own* threshold's precision and
        compared with the own threshold's coverage target, which counted too few labels.
        """
        if coverage_metric not in ("coverage", "coverage_at_target"):
            raise ConfigError(f"coverage_metric must be coverage or coverage_at_target, not "
                              f"{coverage_metric!r}")
        if coverage_metric == "coverage_at_target":
            precision = None
            coverage = coverage if coverage is not None else self.target_oracle_coverage
            if coverage is None:
                raise ConfigError("give a target for the coverage at the target precision "
                                  "(coverage=, or the curve's target_oracle_coverage)")
        else:
            precision = precision if precision is not None else self.target_precision
            coverage = coverage if coverage is not None else self.target_coverage
        if precision is None and coverage is None:
            raise ConfigError("give a target precision and/or coverage")
        points = self.curve(strategy)
        ok = [
            (precision is None or p.precision >= precision)
            and (coverage is None or (getattr(p, coverage_metric) or 0.0) >= coverage)
            for p in points
        ]
        for position, point in enumerate(points):
            if ok[position] and (not sustained or all(ok[position:])):
                return point.labels_spent
        return None


# ------------------------------------------------------------------------------ evaluation
def held_out_prediction(
    matcher: FieldMatcher,
    test_orgs: Sequence[AnnotatedOrg],
    context_orgs: Sequence[AnnotatedOrg],
) -> Prediction:
    """What the fitted matcher says about ``test_orgs``; ``context_orgs`` are the orgs already
    mapped (their labelled blocks), which the test orgs' custom fields may join."""
    from fedcrm.matching.evaluate import Prediction

    fixed = {
        org.org_id: {
            (o.api_name, f.api_name): org.block_of(o.api_name, f.api_name)
            for o, f in org.schema.iter_fields()
        }
        for org in context_orgs
    }
    proposal = matcher.predict([o.schema for o in test_orgs], fixed=fixed,
                               fixed_schemas=[o.schema for o in context_orgs])
    custom = {
        (org.org_id, o.api_name, f.api_name)
        for org in test_orgs for o, f in org.schema.iter_fields() if f.is_custom
    }
    prediction = Prediction()
    for org_id, mapping in proposal.iter_fields():
        key = (org_id, mapping.object, mapping.field)
        prediction.blocks[key] = mapping.block
        if key in custom:
            prediction.ranked[key] = [(c.concept, c.score) for c in mapping.candidates]
            prediction.accepted[key] = mapping.concept
    return prediction


def held_out_scores(
    matcher: FieldMatcher,
    test_orgs: Sequence[AnnotatedOrg],
    context_orgs: Sequence[AnnotatedOrg],
) -> MethodScores:
    """The fitted matcher on fully labelled ``test_orgs`` (pooled), as
    :func:`fedcrm.matching.evaluate.score_method` scores it (see :func:`held_out_prediction`)."""
    from fedcrm.matching.evaluate import score_method

    started = time.perf_counter()
    prediction = held_out_prediction(matcher, test_orgs, context_orgs)
    return score_method("matcher", prediction, test_orgs, context_orgs,
                        time.perf_counter() - started)


def coverage_at_precision(
    prediction: Prediction, test_orgs: Sequence[AnnotatedOrg], target: float
) -> float:
    """The largest share of the test orgs' custom fields that accepting the top candidate
    above *some* score threshold maps with precision >= ``target`` on these orgs.

    A threshold-free view of the scores' quality: the matcher itself picks its threshold on
    out-of-fold predictions for the labelled fields, which with few labels is cautious and
    jumpy; this is the coverage a perfectly chosen threshold would give.
    """
    scores, correct = [], []
    for org in test_orgs:
        for sobject, meta in org.schema.iter_fields():
            if not meta.is_custom:
                continue
            ranked = prediction.ranked.get((org.org_id, sobject.api_name, meta.api_name), [])
            truth = org.label(sobject.api_name, meta.api_name).concept
            scores.append(ranked[0][1] if ranked else 0.0)
            correct.append(bool(ranked) and truth is not None and ranked[0][0] == truth)
    if not scores:
        return 0.0
    order = np.argsort(-np.asarray(scores), kind="stable")
    sorted_scores = np.asarray(scores)[order]
    hits = np.cumsum(np.asarray(correct)[order])
    counts = np.arange(1, len(scores) + 1)
    # only cut between distinct scores: tied fields are accepted or refused together
    cut = np.r_[sorted_scores[1:] < sorted_scores[:-1], True] & (sorted_scores > 0)
    good = cut & (hits / counts >= target)
    return float(counts[good].max() / len(scores)) if good.any() else 0.0


def labels_spent(orgs: Sequence[AnnotatedOrg]) -> int:
    """Labels made by active learning in ``orgs``."""
    return sum(lab.method == "active_learning" for org in orgs for lab in org.labels.values())


def truth_oracle(truth: Sequence[AnnotatedOrg], *, annotator: str = "oracle") -> Oracle:
    """An oracle that answers from the ground-truth labels of ``truth`` (for simulations)."""
    by_org = {org.org_id: org for org in truth}

    def answer(tasks: Sequence[AnnotationTask]) -> list[AnnotationTask]:
        answered = []
        for task in tasks:
            label = by_org[task.org].label(task.object, task.field)
            concept = label.concept or (None if label.group else NO_CONCEPT)
            answered.append(task.model_copy(update={
                "concept": concept, "group": label.group, "annotator": annotator}))
        return answered

    return answer


# ------------------------------------------------------------------------------- the loop
class AnnotationLoop:
    """Rounds of active learning on one annotations folder.

    ``held_out`` orgs are evaluated on and never selected from or trained on (selection alone
    needs none; :meth:`measure` needs at least one); the pool is the
    unlabelled custom fields of ``pool_orgs`` (default: every other org). ``matcher_params``
    go to :class:`~fedcrm.matching.FieldMatcher` (e.g. ``{"n_rounds": 100, "n_folds": 3}``
    for quicker rounds; ``pair_folds`` follows ``n_folds`` unless given); ``embedder``
    shares one embedding cache across the round's fits.
    With ``report`` the learning curve is saved there after every round, with a PNG beside it.

    An existing ``report`` fixes the setup: its held-out orgs, matcher parameters and (unless
    ``pool_orgs`` is given: it then replaces the report's pool) pool orgs are used, and a
    ``held_out`` or ``matcher_params`` that contradicts them raises :class:`ConfigError` (a
    curve compares rounds of one matcher on one held-out set). Leave them out to continue the
    report, or start a new report. The report also records ``annotations_dir``: another
    folder raises :class:`ConfigError` (the answers of a round belong in the folder its fields
    were selected from).
    """

    def __init__(
        self,
        annotations_dir: str | Path,
        *,
        held_out: Sequence[str] | None = None,
        pool_orgs: Sequence[str] | None = None,
        ontology: Ontology | None = None,
        matcher_params: Mapping[str, Any] | None = None,
        metadata_root: str | Path | None = None,
        schemas: Mapping[str, OrgSchema] | None = None,
        embedder: Embedder | None = None,
        report: str | Path | None = None,
        target_precision: float | None = None,
        target_coverage: float | None = None,
    ) -> None:
        self.report_path = Path(report) if report is not None else None
        if self.report_path is not None and self.report_path.suffix.lower() == ".png":
            # the plot is drawn at plot_path(report): it would overwrite the report
            raise ConfigError(
                f"the report {self.report_path} would be overwritten by its own plot: the "
                f"report is JSON and the PNG is drawn beside it; name the report "
                f"{self.report_path.with_suffix('.json')} (the plot is then "
                f"{self.report_path.with_suffix('.png')})")
        given_pool = list(pool_orgs) if pool_orgs is not None else None
        if matcher_params is not None:
            matcher_params = with_pair_folds(matcher_params)
        existing: LearningCurve | None = None
        if self.report_path is not None and self.report_path.exists():
            existing = LearningCurve.load(self.report_path)
            _check_report_setup(existing, self.report_path, held_out, matcher_params)
            held_out = existing.held_out
            matcher_params = existing.matcher_params
            if pool_orgs is None:
                pool_orgs = existing.pool_orgs
        overlap = sorted(set(held_out or ()) & set(pool_orgs or ()))
        if overlap:
            raise ConfigError(f"org(s) {overlap} are both held out and in the pool; an org "
                              "that is evaluated on must never be trained on")
        self.annotations_dir = Path(annotations_dir)
        folder = os.path.realpath(self.annotations_dir)
        if existing is not None and existing.annotations is not None \
                and existing.annotations != folder:
            raise ConfigError(
                f"the report {self.report_path} belongs to the annotations folder "
                f"{existing.annotations}, not {self.annotations_dir}; give --annotations "
                f"{existing.annotations} (or leave it out), or start a new --report (if the "
                "folder has moved, set \"annotations\" in the report to its new place)")
        self.held_out = list(held_out or ())
        self.pool_orgs = list(pool_orgs) if pool_orgs is not None else None
        self.ontology = ontology if ontology is not None else load_ontology()
        self.matcher_params = dict(matcher_params or {})
        self.metadata_root = metadata_root
        self.schemas = dict(schemas or {})
        self.embedder = embedder
        self.curve = existing if existing is not None else LearningCurve(
            held_out=self.held_out, pool_orgs=self.pool_orgs,
            matcher_params=self.matcher_params,
        )
        if self.curve.annotations is None:
            self.curve.annotations = folder
        if given_pool is not None:  # a pool given later is the report's pool from now on
            self.curve.pool_orgs = given_pool
        if target_precision is not None:
            self.curve.target_precision = target_precision
        if target_coverage is not None:
            self.curve.target_coverage = target_coverage

    # ------------------------------------------------------------------------ corpus
    def orgs(self) -> list[AnnotatedOrg]:
        """Every org of the folder with its current labels (read from disk)."""
        orgs = load_annotations(self.annotations_dir, metadata_root=self.metadata_root,
                                ontology=self.ontology)
        known = {o.org_id for o in orgs}
        for role, named in (("held-out", self.held_out), ("pool", self.pool_orgs or ())):
            # a pool org may also be one given by its metadata (--schema ORG=PATH); a held-out
            # org needs labels, so it must be in the folder
            missing = sorted(set(named) - known - (set(self.schemas) if role == "pool"
                                                   else set()))
            if missing:
                hints = "".join(f"; did you mean {close[0]!r} for {name!r}?" for name in missing
                                if (close := difflib.get_close_matches(name, known, n=1)))
                raise ConfigError(f"{role} org(s) {missing} are not in "
                                  f"{self.annotations_dir / 'sources.yaml'}{hints} (its orgs: "
                                  f"{', '.join(sorted(known))})")
        incomplete = [o.org_id for o in orgs if o.org_id in self.held_out and not is_complete(o)]
        if incomplete:
            raise ConfigError(f"held-out org(s) {incomplete} are not fully labelled; the "
                              "matcher can only be evaluated on orgs with every field labelled")
        return orgs

    def _training(self, orgs: Sequence[AnnotatedOrg]) -> list[AnnotatedOrg]:
        return training_corpus([o for o in orgs if o.org_id not in self.held_out])

    def _pool_orgs(self, orgs: Sequence[AnnotatedOrg]) -> list[AnnotatedOrg]:
        chosen = [o for o in orgs if o.org_id not in self.held_out]
        if self.pool_orgs is not None:
            chosen = [o for o in chosen if o.org_id in self.pool_orgs]
        return chosen

    # ----------------------------------------------------------------------- matcher
    def fit(self, orgs: Sequence[AnnotatedOrg] | None = None) -> FieldMatcher:
        """A matcher trained on every labelled field outside the held-out orgs."""
        from fedcrm.matching.model import FieldMatcher

        training = self._training(orgs if orgs is not None else self.orgs())
        if len(training) < 2:
            raise ConfigError(
                f"only {len(training)} org(s) outside the held-out set have labelled custom "
                "fields; the matcher needs at least 2 to train (label a seed org first)"
            )
        matcher = FieldMatcher(**self.matcher_params)
        if self.embedder is None:
            self.embedder = shared_embedder(self.matcher_params.get("embedding_model"))
        # one embedding cache for every fit of the loop (the texts repeat round to round)
        matcher._embedder = self.embedder
        matcher.fit(training, self.ontology)
        return matcher

    def pool(
        self,
        matcher: FieldMatcher,
        orgs: Sequence[AnnotatedOrg] | None = None,
        *,
        include_labelled: bool = False,
    ) -> list[PoolField]:
        """The fields that may be asked about, scored by ``matcher``."""
        chosen = self._pool_orgs(orgs if orgs is not None else self.orgs())
        # an org given by its metadata only (not in sources.yaml) keeps its answers in
        # labels/<org>.jsonl all the same: its answered fields leave the pool (they were asked
        # again every round)
        extra = [
            AnnotatedOrg(schema=schema, source=_ad_hoc_source(org_id),
                         labels=self._labels_of(org_id))
            for org_id, schema in self.schemas.items()
            if org_id not in {o.org_id for o in chosen} and org_id not in self.held_out
            and (self.pool_orgs is None or org_id in self.pool_orgs)
        ]
        return unlabelled_pool(matcher, [*chosen, *extra], include_labelled=include_labelled)

    def _labels_of(self, org_id: str) -> dict[tuple[str, str], FieldLabel]:
        """The labels in ``labels/<org_id>.jsonl`` of the folder (none if it has no file)."""
        path = self.annotations_dir / "labels" / f"{org_id}.jsonl"
        if not path.is_file():
            return {}
        return {label.key: label for label in read_labels(path, org=org_id)}

    def select(
        self,
        strategy: QueryStrategy,
        n: int,
        matcher: FieldMatcher,
        *,
        orgs: Sequence[AnnotatedOrg] | None = None,
        include_labelled: bool = False,
    ) -> list[Query]:
        """The ``n`` fields ``strategy`` would ask about next."""
        pool = self.pool(matcher, orgs, include_labelled=include_labelled)
        if not pool:
            raise ConfigError("the pool is empty: every custom field of the pool orgs already "
                              "has a label")
        return strategy.select(pool, n)

    def export(
        self,
        queries: Sequence[Query],
        path: str | Path,
        *,
        round: int | None,
        strategy: str,
        format: str | None = None,
        matcher_version: str | None = None,
    ) -> list[Path]:
        """Write the selected fields as a task file (see :mod:`fedcrm.annotate.exchange`)."""
        tasks = make_tasks(queries, round=round, strategy=strategy, ontology=self.ontology)
        return write_tasks(tasks, path, format=format, ontology=self.ontology,
                           matcher_version=matcher_version)

    def import_answers(
        self,
        path: str | Path,
        *,
        round: int | None = None,
        annotator: str | None = None,
        replace: bool = False,
        reason: str | None = None,
        format: str | None = None,
    ) -> MergeReport:
        """Validate and merge an answers file into the folder (``method="active_learning"``).

        Answers about held-out orgs are refused (nothing is imported): the matcher is
        measured on those orgs, so their labels must not change in the middle of a curve.
        """
        sheet = read_answers(path, format=format)
        self._refuse(sheet, [self._held_out_problem(answer) for answer in sheet.answers],
                     "are about held-out orgs")
        return self._merge(sheet, round=round, annotator=annotator, replace=replace,
                           reason=reason)

    def import_round_answers(
        self,
        path: str | Path,
        *,
        annotator: str | None = None,
        replace: bool = False,
        reason: str | None = None,
        format: str | None = None,
    ) -> MergeReport:
        """Import the answers to the pending round (:attr:`LearningCurve.pending`) and clear
        it; :meth:`retrain_and_measure` then records (and saves) the round's point.

        The file is read with ``format``, else the pending round's format when ``path`` is the
        round's task file, else the format its extension names. Every answer must be about a
        field the round asked about (its task ids) outside the held-out orgs, and a filled
        round column must be the round's number; otherwise nothing is imported and every
        such row is listed (a field answered outside the round would be counted as a label
        the round's strategy spent). A file in which no row has an answer (the task file
        before anyone filled it in) is refused and the round stays pending: closing it would
        retrain and record a curve point for no labels.
        """
        pending = self.curve.pending
        if pending is None:
            raise ConfigError(f"{self.report_path or 'the learning curve'}: no round is "
                              "waiting for answers; start one with `fedcrm annotate round` "
                              "(without --answers)")
        if format is None and _same_file(path, pending.task_file):
            format = pending.format
        sheet = read_answers(path, format=format)
        if not sheet.answers:
            raise MappingError(
                f"{sheet.path}: no row has a concept or group ({sheet.unanswered} unanswered); "
                "fill in the concept column (a concept id, or 'none') and import again; round "
                f"{pending.round} is still waiting for its answers"
            )
        asked = {task_id.casefold() for task_id in pending.task_ids}
        problems = []
        for answer in sheet.answers:
            task_id = f"{answer.org}/{answer.object}.{answer.field}"
            problem = self._held_out_problem(answer)
            if problem is None and task_id.casefold() not in asked:
                problem = (f"{answer.where}: {task_id} was not asked in round "
                           f"{pending.round}; delete the row (the round asked about the "
                           f"{len(pending.task_ids)} field(s) of {pending.task_file})")
            if problem is None and answer.round is not None and answer.round != pending.round:
                problem = (f"{answer.where}: the round column says {answer.round}, but these "
                           f"are the answers of round {pending.round}; correct the round "
                           "column or clear it")
            problems.append(problem)
        self._refuse(sheet, problems, f"do not belong to round {pending.round}")
        report = self._merge(sheet, round=pending.round, annotator=annotator, replace=replace,
                             reason=reason)
        self.curve.pending = None
        return report

    def _held_out_problem(self, answer: Answer) -> str | None:
        if answer.org not in self.held_out:
            return None
        return (f"{answer.where}: {answer.org} {answer.object}.{answer.field} belongs to "
                f"held-out org {answer.org}, which the matcher is measured on and never asked "
                "about; delete the row")

    @staticmethod
    def _refuse(sheet: AnswerSheet, problems: Sequence[str | None], what: str) -> None:
        found = [problem for problem in problems if problem is not None]
        if not found:
            return
        listed = found[:MAX_LISTED]
        if len(found) > MAX_LISTED:
            listed.append(f"... and {len(found) - MAX_LISTED} more")
        raise MappingError(f"{sheet.path}: {len(found)} answer(s) {what}; nothing was "
                           "imported:\n  " + "\n  ".join(listed))

    def _merge(self, sheet: AnswerSheet, *, round: int | None, annotator: str | None,
               replace: bool, reason: str | None) -> MergeReport:
        report = merge_answers(
            sheet.answers, self.annotations_dir, ontology=self.ontology, schemas=self.schemas,
            metadata_root=self.metadata_root, round=round, annotator=annotator,
            replace=replace, reason=reason,
        )
        report.unanswered = sheet.unanswered
        return report

    # -------------------------------------------------------------------- measuring
    def measure(
        self,
        matcher: FieldMatcher,
        *,
        strategy: str,
        round: int,
        fit_seconds: float = 0.0,
        orgs: Sequence[AnnotatedOrg] | None = None,
    ) -> CurvePoint:
        """Evaluate ``matcher`` on the held-out orgs and record the point (and save)."""
        if not self.held_out:
            raise ConfigError("name at least one held-out org to evaluate on (fully labelled, "
                              "never in the pool or the training set)")
        orgs = list(orgs) if orgs is not None else self.orgs()
        tests = [o for o in orgs if o.org_id in self.held_out]
        training = self._training(orgs)
        started = time.perf_counter()
        prediction = held_out_prediction(matcher, tests, training)
        from fedcrm.matching.evaluate import score_method

        scores = score_method("matcher", prediction, tests, training,
                              time.perf_counter() - started)
        point = CurvePoint(
            strategy=strategy, round=round,
            labels_spent=labels_spent([o for o in orgs if o.org_id not in self.held_out]),
            n_training_fields=sum(
                1 for org in training for _, f in org.schema.iter_fields() if f.is_custom),
            precision=scores.precision, coverage=scores.coverage, recall=scores.recall,
            top1=scores.top1_accuracy, pair_precision=scores.pair_precision,
            pair_recall=scores.pair_recall, pair_f1=scores.pair_f1,
            threshold=(None if math.isinf(matcher.threshold_)
                       else float(matcher.threshold_)),
            coverage_at_target=coverage_at_precision(prediction, tests,
                                                     matcher.target_precision),
            fit_seconds=round_seconds(fit_seconds),
            at=utc_now(),
        )
        self.curve.points.append(point)
        self.save()
        return point

    def save(self) -> None:
        """Write the report and its plot, if the loop has a report path."""
        if self.report_path is None:
            return
        self.curve.save(self.report_path)
        if self.curve.points:
            from fedcrm.annotate.plot import plot_learning_curve

            plot_learning_curve(self.curve, plot_path(self.report_path))

    def retrain_and_measure(self, *, strategy: str, round: int) -> tuple[FieldMatcher,
                                                                         CurvePoint]:
        """Fit on the current labels and record the held-out point."""
        orgs = self.orgs()
        started = time.perf_counter()
        matcher = self.fit(orgs)
        fit_seconds = time.perf_counter() - started
        return matcher, self.measure(matcher, strategy=strategy, round=round,
                                     fit_seconds=fit_seconds, orgs=orgs)

    def run_round(
        self,
        strategy: QueryStrategy,
        n: int,
        oracle: Oracle,
        *,
        workdir: str | Path,
        matcher: FieldMatcher | None = None,
        format: str = "jsonl",
        round: int | None = None,
    ) -> tuple[FieldMatcher, CurvePoint]:
        """One whole round with ``oracle`` as the annotator: select ``n`` fields, export them,
        have them answered, import, retrain, evaluate and record. Returns the retrained
        matcher (for the next round's selection) and the new point."""
        number = round if round is not None else self.curve.next_round()
        if matcher is None:
            matcher = self.fit()
        queries = self.select(strategy, n, matcher)
        if format not in _EXTENSIONS:
            raise ConfigError(f"unknown format {format!r}; use one of {list(_EXTENSIONS)}")
        folder = Path(workdir)
        tasks_path = folder / f"round-{number:03d}-{_slug(strategy.name)}-tasks." \
            f"{_EXTENSIONS[format]}"
        self.export(queries, tasks_path, round=number, strategy=strategy.name, format=format,
                    matcher_version=getattr(matcher, "version_", None))
        tasks = make_tasks(queries, round=number, strategy=strategy.name,
                           ontology=self.ontology)
        answered = oracle(tasks)
        answers_path = tasks_path.with_name(tasks_path.name.replace("-tasks.", "-answers."))
        if format == "label-studio":
            write_label_studio_export(answered, answers_path)
        else:
            write_tasks(answered, answers_path, format=format)
        self.import_answers(answers_path, round=number, format=format)
        return self.retrain_and_measure(strategy=strategy.name, round=number)


def shared_embedder(embedding_model: str | Path | None = None) -> Embedder:
    """An embedder for the loop's fits, its cache seeded with the ontology's concept vectors
    from the shipped matcher when that matcher uses the same model and ontology (encoding the
    ontology's few thousand names on a CPU takes a minute; every round needs them)."""
    from fedcrm.errors import FedcrmError
    from fedcrm.matching.embeddings import Embedder

    if embedding_model is None:
        try:
            from fedcrm.matching.api import default_matcher

            return default_matcher().embedder
        except FedcrmError:
            pass  # no shipped matcher, or one trained on another ontology: start empty
    return Embedder(embedding_model)


def _check_report_setup(
    curve: LearningCurve,
    path: Path,
    held_out: Sequence[str] | None,
    matcher_params: Mapping[str, Any] | None,
) -> None:
    """Refuse a held-out set or matcher parameters that contradict an existing report."""
    if held_out and set(held_out) != set(curve.held_out):
        raise ConfigError(
            f"{path} measures the matcher on held-out orgs {curve.held_out}, not "
            f"{list(held_out)}; points measured on other orgs cannot share a curve. Leave "
            "held_out (--held-out) out to continue the report, or start a new curve in "
            "another report (--report NEW.json)"
        )
    if matcher_params is None:
        return
    kept, given = curve.matcher_params, dict(matcher_params)
    missing = "the matcher's default"
    clashes = [f"{key}={given.get(key, missing)} (the report has {kept.get(key, missing)})"
               for key in sorted(set(kept) | set(given)) if kept.get(key) != given.get(key)]
    if clashes:
        raise ConfigError(
            f"{path} was started with matcher parameters {kept}; {', '.join(clashes)} would "
            "mix two matcher setups in one curve. Leave matcher_params (--lgbm-rounds, "
            "--folds, --repeats) out to continue the report, or start a new curve in another "
            "report (--report NEW.json)"
        )


def _same_file(path: str | Path, other: str | Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them is missing: compare the names
        return Path(path).resolve() == Path(other).resolve()


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name).strip("-") or "strategy"


def _ad_hoc_source(org_id: str) -> Any:
    from fedcrm.matching.corpus import OrgSource

    return OrgSource(org=org_id, kind="real", licence="unknown")


def round_seconds(value: float) -> float:
    """Seconds as reported (one decimal)."""
    return round(float(value), 1)


def plot_path(report_path: str | Path) -> Path:
    """The PNG drawn beside a report: ``curve.json`` → ``curve.png``."""
    return Path(report_path).with_suffix(".png")
