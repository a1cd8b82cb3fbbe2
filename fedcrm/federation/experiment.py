"""Run one task end to end on several orgs: features → local-only, federated and centralised
models → per-org test metrics. Used by ``fedcrm demo`` and the benchmarks."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from fedcrm._args import string_list
from fedcrm.errors import ConfigError, FeatureError
from fedcrm.features import (
    FeatureSpace,
    TaskMatrix,
    build_feature_space,
    build_task_matrix,
    canonicalize,
)
from fedcrm.features.convert import check_currency_options
from fedcrm.features.leakage import LeakageScreen
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.coordinator import Coordinator
from fedcrm.federation.data import participant_data
from fedcrm.federation.participant import Participant, ParticipantData
from fedcrm.federation.strategies import make_strategy
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology.models import Ontology, Task
from fedcrm.schema.models import OrgSchema
from fedcrm.tasks import get_task

METHODS = ("local", "fedavg", "quality_weighted", "centralised")


@dataclass
class OrgInput:
    """One org as the pipeline sees it: its metadata and its records (own field names).

    ``default_currency`` is the currency of its amounts whose name and values state none; it
    comes before the records' currency column (see :func:`fedcrm.features.canonicalize`).
    """

    org_id: str
    schema: OrgSchema
    tables: dict[str, pd.DataFrame]
    default_currency: str | None = None


class OrgScore(BaseModel):
    """One method's test metrics in one org."""

    org: str
    n_train: int
    n_test: int
    quality_multiplier: float
    metrics: dict[str, dict[str, float | None]]


class TaskResult(BaseModel):
    """All methods on one task: per-org metrics, means and timing."""

    task: str
    metric: str
    feature_space: str
    n_features: int
    orgs: list[OrgScore]
    mean: dict[str, float | None]
    mean_spearman: dict[str, float | None] = {}
    seconds_per_round: dict[str, float] = {}
    skipped_orgs: dict[str, str] = {}
    #: sources the target-leakage screen flagged → the orgs whose training split flagged them
    leakage: dict[str, list[str]] = {}
    #: the flagged sources left out of the feature space (the others were kept as warnings)
    left_out: list[str] = []


@dataclass
class PreparedTask:
    """Feature space and matrices of the orgs that can take part in a task."""

    space: FeatureSpace
    matrices: list[TaskMatrix]
    skipped: dict[str, str] = field(default_factory=dict)
    #: sources the leakage screen flagged → the orgs that flagged them
    leakage: dict[str, list[str]] = field(default_factory=dict)
    #: the flagged sources left out of ``space``
    left_out: list[str] = field(default_factory=list)


def prepare_task(
    task: Task | str,
    orgs: Sequence[OrgInput],
    mapping: MappingProposal,
    ontology: Ontology,
    reference_date: pd.Timestamp | str,
    *,
    seed: int = 0,
    k: int = 5,
    min_examples: int = 50,
    leakage: LeakageScreen | None = None,
    drop_leakage: Literal["custom", "all", "none"] = "custom",
    currency_rates: Mapping[str, float] | None = None,
) -> PreparedTask:
    """Build the shared feature space and every org's matrix; orgs that cannot take part (no
    outcome mapped, no labels) are skipped with the reason.

    Every org screens its training split for target leakage (:mod:`fedcrm.features.leakage`,
    thresholds ``leakage``) and reports only the flagged column names (``leakage``: source →
    orgs). What is left out of the shared space, for every org, is ``drop_leakage``:
    ``"custom"`` (default) drops flagged shared custom blocks, whose meaning nobody vetted, and
    keeps flagged ontology features (the ontology declares them known before the outcome; a
    very strong honest feature can trip the screen) as warnings; ``"all"`` drops every flagged
    source; ``"none"`` only reports.

    ``currency_rates`` (USD per unit, by three-letter code) override or extend the
    converter's table for every org; a code it adds is also read in field names and values
    (``Rev_BRL__c``, ``"12 BRL"``). A bad rate, or an org's ``default_currency`` without
    one, is a :class:`ConfigError` before any org is converted.
    """
    if drop_leakage not in ("custom", "all", "none"):
        raise ConfigError(f"drop_leakage must be 'custom', 'all' or 'none', got {drop_leakage!r}")
    task = _task(task)
    if isinstance(orgs, OrgInput | str):
        raise ConfigError("orgs must be a list of OrgInput (one per org), not a single one")
    orgs = list(orgs)
    if not orgs or not all(isinstance(org, OrgInput) for org in orgs):
        raise ConfigError("orgs must be a non-empty list of OrgInput (one per org)")
    ids = [org.org_id for org in orgs]
    repeated = sorted({org_id for org_id in ids if ids.count(org_id) > 1})
    if repeated:
        raise ConfigError(f"org id(s) {repeated} are given more than once; each org takes part "
                          "once")
    unmapped = [org_id for org_id in ids if org_id not in {o.org for o in mapping.orgs}]
    if unmapped:
        raise ConfigError(f"org(s) {unmapped} have no mapping in the proposal, which maps "
                          f"{[o.org for o in mapping.orgs]} (org ids are case-sensitive); "
                          "match their metadata first")
    rates, _ = check_currency_options(currency_rates, None)
    for org in orgs:
        try:
            check_currency_options(rates, org.default_currency)
        except ConfigError as exc:
            raise ConfigError(f"org {org.org_id}: {exc}") from None
    space = build_feature_space(task, ontology, mapping, {o.org_id: o.schema for o in orgs})
    matrices, skipped = [], {}
    for org in orgs:
        try:
            canonical = canonicalize(org.org_id, org.tables, org.schema,
                                     mapping.org(org.org_id), ontology, currency_rates=rates,
                                     default_currency=org.default_currency)
            matrices.append(build_task_matrix(canonical, space, reference_date, k=k,
                                              min_examples=min_examples, seed=seed,
                                              leakage=leakage))
        except FeatureError as exc:  # keyed by org: the message need not name it again
            skipped[org.org_id] = str(exc).removeprefix(f"org {org.org_id}: ")
    if not matrices:
        raise FeatureError(f"no org can take part in {Task(task).value}: "
                           + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    flagged: dict[str, list[str]] = {}
    for matrix in matrices:
        for finding in matrix.report.leakage or []:
            orgs_of = flagged.setdefault(space.source_of(finding.column), [])
            if matrix.org_id not in orgs_of:
                orgs_of.append(matrix.org_id)
    drop = left_out_for_leakage(flagged, drop_leakage)
    if drop:
        space = space.without(set(drop))
        if space.n_features == 0:
            raise FeatureError(f"{Task(task).value}: every feature looks like target leakage "
                               f"({drop}); check what the fields mean")
        matrices = [matrix.restrict(space) for matrix in matrices]
    return PreparedTask(space=space, matrices=matrices, skipped=skipped, leakage=flagged,
                        left_out=drop)


def left_out_for_leakage(flagged: Iterable[str], policy: str) -> list[str]:
    """The flagged sources ``policy`` leaves out (``prepare_task``'s ``drop_leakage``):
    ``"custom"`` the shared custom blocks and the roll-ups (fedcrm computes those; no ontology
    usage vouches for them), keeping flagged ontology features as warnings; ``"all"`` every
    one; ``"none"`` none."""
    return sorted(name for name in flagged
                  if policy == "all" or (policy == "custom"
                                         and name.startswith(("custom:", "rollup:"))))


def _task(task: Task | str) -> Task:
    """``task`` as a :class:`Task`, or a :class:`ConfigError` that lists the tasks."""
    try:
        return Task(task)
    except ValueError:
        raise ConfigError(f"unknown task {task!r}; choose from "
                          f"{', '.join(t.value for t in Task)}") from None


def _pooled(datas: Sequence[ParticipantData]) -> ParticipantData:
    return ParticipantData(
        np.concatenate([d.train_x for d in datas]), np.concatenate([d.train_y for d in datas]),
        np.concatenate([d.validation_x for d in datas]),
        np.concatenate([d.validation_y for d in datas]),
        np.concatenate([d.test_x for d in datas]), np.concatenate([d.test_y for d in datas]),
    )


def run_task(
    prepared: PreparedTask,
    config: TrainingConfig,
    *,
    methods: Sequence[str] = METHODS,
    progress: bool = True,
    workers: int = 1,
) -> TaskResult:
    """Train every method and score it on each org's held-out test set.

    ``workers`` > 1 trains the methods (and each org's local-only model) side by side in that
    many worker processes, one torch thread each. The models are the same as one at a time
    (each training is seeded on its own); the seconds per round then include the other
    trainings' competition for the cores, and no progress bar is shown.
    """
    methods = string_list(methods, "methods")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    check_workers(workers)
    definition = get_task(prepared.space.task)
    datas = {m.org_id: participant_data(m) for m in prepared.matrices}
    multipliers = {m.org_id: m.report.quality_multiplier for m in prepared.matrices}
    # the longest trainings first, so side by side they end at about the same time
    jobs: list[tuple[str, str | None]] = [
        (method, None) for method in ("centralised", "fedavg", "quality_weighted")
        if method in methods]
    if "local" in methods:
        jobs += [("local", org_id) for org_id in datas]
    trained: dict[tuple[str, str | None], tuple[np.ndarray, float | None]] = {}
    if workers == 1 or len(jobs) == 1:
        for method, org_id in jobs:
            trained[method, org_id] = _train(method, org_id, datas, multipliers, config,
                                             progress)
    else:
        context = multiprocessing.get_context("spawn")  # torch is not fork-safe
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context,
                                 initializer=_one_torch_thread) as pool:
            futures = {
                (method, org_id): pool.submit(
                    _train, method, org_id,
                    datas if org_id is None else {org_id: datas[org_id]},  # only what it needs
                    multipliers, config, False)
                for method, org_id in jobs}
            trained = {job: future.result() for job, future in futures.items()}
    parameters: dict[str, dict[str, np.ndarray]] = {}
    timing: dict[str, float] = {}
    for method in METHODS:  # the results in the methods' order, whatever order they ended in
        if method not in methods:
            continue
        if method == "local":
            parameters[method] = {org_id: trained[method, org_id][0] for org_id in datas}
            continue
        model, seconds = trained[method, None]
        parameters[method] = dict.fromkeys(datas, model)
        if seconds is not None:
            timing[method] = seconds
    scorer = Participant(next(iter(datas)), next(iter(datas.values())), config=config)
    scores: list[OrgScore] = []
    for matrix in prepared.matrices:
        data = datas[matrix.org_id]
        metrics = {
            method: definition.score(data.test_y, scorer.predict(values[matrix.org_id],
                                                                 data.test_x))
            for method, values in parameters.items()
        }
        scores.append(OrgScore(org=matrix.org_id, n_train=len(data.train_y),
                               n_test=len(data.test_y),
                               quality_multiplier=round(multipliers[matrix.org_id], 3),
                               metrics=metrics))

    return task_result(prepared, scores, list(parameters),
                       {k: round(v, 3) for k, v in timing.items()})


def check_workers(workers: object) -> None:
    """Refuse a ``workers`` count of :func:`run_task` that is not a whole number ≥ 1."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be a whole number ≥ 1, got {workers!r}")


def _one_torch_thread() -> None:
    """A worker's torch runs on one thread: the workers share the cores between them."""
    import torch

    torch.set_num_threads(1)


def _train(method: str, org_id: str | None, datas: dict[str, ParticipantData],
           multipliers: dict[str, float], config: TrainingConfig,
           progress: bool) -> tuple[np.ndarray, float | None]:
    """One of :func:`run_task`'s trainings: the delivered model and, for a federated method,
    the seconds per round. A top-level function, so a worker process can run it."""
    if method == "local":
        assert org_id is not None
        alone = Participant(org_id, datas[org_id], config=config,
                            quality_multiplier=multipliers[org_id])
        return alone.fit_local(), None
    if method == "centralised":
        central = Participant("centralised", _pooled(list(datas.values())), config=config)
        return central.fit_local(), None
    participants = [Participant(pid, data, config=config, quality_multiplier=multipliers[pid])
                    for pid, data in datas.items()]
    start = time.perf_counter()
    result = Coordinator(participants, make_strategy(method), config).run(progress=progress)
    # the model the federation delivers (the mean of the last rounds' global models), not the
    # round with the best mean validation AUC: averaged over small orgs' validation splits
    # that mean is mostly noise (docs/federation.md, "Which round's model")
    return result.averaged_parameters, (time.perf_counter() - start) / config.rounds


def task_result(prepared: PreparedTask, scores: list[OrgScore], methods: Sequence[str],
                seconds_per_round: dict[str, float]) -> TaskResult:
    """The task's result from its per-org scores: the means over the orgs (an org whose
    test split has one class has no AUC and is left out of every method's mean), the orgs
    the task skipped and what the leakage screen found (every backend reports alike)."""
    definition = get_task(prepared.space.task)

    def mean(method: str, metric: str) -> float | None:
        values = [s.metrics[method].get(metric) for s in scores if method in s.metrics]
        known = [v for v in values if v is not None]
        return float(np.mean(known)) if known else None

    return TaskResult(
        task=definition.task.value, metric="auc", feature_space=prepared.space.version,
        n_features=prepared.space.n_features, orgs=scores,
        mean={m: mean(m, "auc") for m in methods},
        mean_spearman={m: mean(m, "spearman") for m in methods}
        if "spearman" in definition.metrics else {},
        seconds_per_round=seconds_per_round,
        skipped_orgs=prepared.skipped,
        leakage=prepared.leakage,
        left_out=prepared.left_out,
    )
