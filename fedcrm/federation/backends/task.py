"""``run_task`` on the Flower backend: what ``fedcrm demo --backend flower`` calls.

The federated methods (``fedavg``, ``quality_weighted``) train on Flower's simulation engine,
one virtual SuperNode per org; the local-only and centralised baselines, the scoring and the
result are :func:`fedcrm.federation.experiment.run_task`'s, so the two backends' task results
have the same shape (and, with the same seed, the same numbers).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from fedcrm.errors import ConfigError
from fedcrm.federation.backends import check_simulation_device
from fedcrm.federation.backends.flower import SimulatedOrg, run_flower_simulation
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.data import participant_data
from fedcrm.federation.experiment import (
    METHODS,
    OrgScore,
    PreparedTask,
    TaskResult,
    run_task,
    task_result,
)
from fedcrm.federation.participant import Participant
from fedcrm.federation.settings import FederationConfig
from fedcrm.tasks import get_task

__all__ = ["run_task_flower"]

FEDERATED = ("fedavg", "quality_weighted")


def run_task_flower(
    prepared: PreparedTask,
    config: TrainingConfig | FederationConfig,
    *,
    methods: Sequence[str] = METHODS,
    progress: bool = False,
) -> TaskResult:
    """Like :func:`~fedcrm.federation.experiment.run_task`, with the federated methods run
    on Flower's simulation engine. ``config`` is the training config, or a whole federation
    config (its ``[flower]`` settings apply; its strategy is replaced by each method's)."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    settings = (config if isinstance(config, FederationConfig)
                else FederationConfig(training=config))
    training = settings.training
    check_simulation_device(training.device)  # before the baselines train
    baselines = [m for m in methods if m not in FEDERATED]
    result = run_task(prepared, training, methods=baselines, progress=progress) if baselines \
        else None
    definition = get_task(prepared.space.task)
    datas = {m.org_id: participant_data(m) for m in prepared.matrices}
    multipliers = {m.org_id: m.report.quality_multiplier for m in prepared.matrices}
    orgs = [SimulatedOrg(org_id, data, multipliers[org_id]) for org_id, data in datas.items()]
    federated: dict[str, np.ndarray] = {}
    timing: dict[str, float] = {}
    for method in (m for m in FEDERATED if m in methods):
        run_settings = settings.model_copy(update={
            "backend": "flower", "strategy": settings.strategy.model_copy(
                update={"name": method})})
        started = time.perf_counter()
        outcome = run_flower_simulation(orgs, run_settings)
        timing[method] = (time.perf_counter() - started) / training.rounds
        federated[method] = outcome.averaged_parameters  # the delivered model, as run_task
    scorer = Participant("scorer", next(iter(datas.values())), config=training)
    scores: list[OrgScore] = []
    for matrix in prepared.matrices:
        data = datas[matrix.org_id]
        metrics = dict(next((s.metrics for s in result.orgs if s.org == matrix.org_id), {})
                       if result is not None else {})
        for method, parameters in federated.items():
            metrics[method] = definition.score(data.test_y, scorer.predict(parameters,
                                                                           data.test_x))
        scores.append(OrgScore(org=matrix.org_id, n_train=len(data.train_y),
                               n_test=len(data.test_y),
                               quality_multiplier=round(multipliers[matrix.org_id], 3),
                               metrics=metrics))

    return task_result(prepared, scores, [m for m in METHODS if m in methods],
                       {**(result.seconds_per_round if result is not None else {}),
                        **{k: round(v, 3) for k, v in timing.items()}})
