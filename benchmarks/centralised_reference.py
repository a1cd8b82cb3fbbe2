"""Is the trainer's centralised baseline a fair one? fedcrm's local-only, quality-weighted and
centralised models against scikit-learn's ``LogisticRegression`` on the same matrices.

    .venv/bin/python benchmarks/centralised_reference.py --seeds 0-9     (~2 min a seed)

"Within 1 point of centralised" only means something if the centralised model is trained as
well as a logistic model can be. fedcrm trains its centralised baseline with the federation's
own optimiser (SGD, the demo's epochs and learning rate) on the pooled training splits. The
reference here fits scikit-learn's L2-regularised logistic regression by L-BFGS to convergence
on exactly the same rows and columns: pooled training splits for the centralised model, each
org's own for the local one. Its ``C`` is chosen from a grid by the validation AUC (pooled
validation splits; each org's own for the local models), never by the test AUC.

Per seed: the demo-size synthetic federation (5 orgs, ground-truth mapping, the leakage
screen's default policy); every model is scored as ``run_task`` scores it, by the mean test
AUC over the orgs. The summary gives the means over the seeds and the paired differences in
AUC points ± one standard error.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from federation import _seeds, prepared_tasks, training_config  # benchmarks/federation.py

from fedcrm.demo import DEMO_ROUNDS, DEMO_SCALE
from fedcrm.federation import ParticipantData
from fedcrm.federation.data import participant_data
from fedcrm.federation.experiment import run_task

GRID = (0.01, 0.1, 1.0, 10.0)
COLUMNS = ("local", "local_sklearn", "quality_weighted", "centralised", "centralised_sklearn")
TITLES = {"local": "local", "local_sklearn": "local (sklearn)", "quality_weighted": "QW",
          "centralised": "centralised", "centralised_sklearn": "centralised (sklearn)"}


def _auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    return float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else None


def fit_reference(train_x: np.ndarray, train_y: np.ndarray, validation_x: np.ndarray,
                  validation_y: np.ndarray) -> LogisticRegression:
    """The grid's model with the best validation AUC (C = 1 when validation has one class)."""
    best: tuple[float, LogisticRegression] | None = None
    for c in GRID:
        model = LogisticRegression(C=c, max_iter=5000).fit(train_x, train_y)
        auc = _auc(validation_y, model.decision_function(validation_x))
        if auc is None:
            return LogisticRegression(C=1.0, max_iter=5000).fit(train_x, train_y)
        if best is None or auc > best[0]:
            best = (auc, model)
    assert best is not None
    return best[1]


def mean_test_auc(datas: list[ParticipantData], models: list[LogisticRegression]) -> float:
    """Mean over orgs of the test AUC (orgs whose test split has one class are left out)."""
    aucs = [_auc(d.test_y, m.decision_function(d.test_x)) for d, m in zip(datas, models,
                                                                         strict=True)]
    return float(np.mean([a for a in aucs if a is not None]))


def one_seed(seed: int, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Task → column → mean test AUC over the orgs, for one federation."""
    run = argparse.Namespace(synthetic_orgs=args.synthetic_orgs, seed=seed, scale=args.scale,
                             mapping="truth", root=None)
    config = training_config(argparse.Namespace(
        rounds=args.rounds, seed=seed, model="logistic", local_epochs=None, batch=None,
        lr=None, server_momentum=None, local_steps=None, average_fraction=None))
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="fedcrm-central-") as tmp:
        prepared_list = prepared_tasks("synthetic", run, Path(tmp))
    for prepared in prepared_list:
        result = run_task(prepared, config, methods=("local", "quality_weighted", "centralised"),
                          progress=False)
        row = {method: float(result.mean[method] or np.nan)
               for method in ("local", "quality_weighted", "centralised")}
        datas = [participant_data(m) for m in prepared.matrices]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pooled = fit_reference(np.concatenate([d.train_x for d in datas]),
                                   np.concatenate([d.train_y for d in datas]),
                                   np.concatenate([d.validation_x for d in datas]),
                                   np.concatenate([d.validation_y for d in datas]))
            local = [fit_reference(d.train_x, d.train_y, d.validation_x, d.validation_y)
                     for d in datas]
        row["centralised_sklearn"] = mean_test_auc(datas, [pooled] * len(datas))
        row["local_sklearn"] = mean_test_auc(datas, local)
        out[prepared.space.task.value] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help='"0-9" or "0,3,5"')
    parser.add_argument("--scale", type=float, default=DEMO_SCALE)
    parser.add_argument("--synthetic-orgs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=DEMO_ROUNDS)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = ".venv/bin/python benchmarks/centralised_reference.py " + shlex.join(
        argv if argv is not None else sys.argv[1:])
    print(f"command: {command}\n")
    print("| task | seed | " + " | ".join(TITLES[c] for c in COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    rows: dict[str, list[dict[str, float]]] = {}
    for seed in _seeds(args.seeds):
        for task, row in one_seed(seed, args).items():
            rows.setdefault(task, []).append(row)
            print(f"| {task} | {seed} | " + " | ".join(f"{row[c]:.3f}" for c in COLUMNS) + " |",
                  flush=True)
    print("\nMeans over the seeds; differences in AUC points ± one standard error:\n")
    pairs = (("centralised", "centralised_sklearn"), ("quality_weighted", "centralised_sklearn"),
             ("local", "local_sklearn"), ("centralised_sklearn", "local_sklearn"))
    print("| task | seeds | " + " | ".join(TITLES[c] for c in COLUMNS) + " | "
          + " | ".join(f"{TITLES[a]} − {TITLES[b]}" for a, b in pairs) + " |")
    print("|---|---:|" + "---:|" * (len(COLUMNS) + len(pairs)))
    for task, task_rows in rows.items():
        means = [np.mean([r[c] for r in task_rows]) for c in COLUMNS]
        cells = []
        for a, b in pairs:
            diff = 100 * np.array([r[a] - r[b] for r in task_rows])
            error = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            cells.append(f"{diff.mean():+.1f} ± {error:.1f}")
        print(f"| {task} | {len(task_rows)} | " + " | ".join(f"{m:.3f}" for m in means) + " | "
              + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
