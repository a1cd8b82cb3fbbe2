"""Local-only vs centralised models for each task, on the synthetic federation and on the real
CRM datasets split into orgs (``fedcrm.datasets``): AUC per org and mean (and Spearman for win
probability), with LightGBM and with the torch model the federation trains, once on the
ground-truth mapping (``ground_truth.jsonl``: measures the tasks) and once on the shipped
matcher's mapping (``fedcrm.match``: measures what a user gets).

    .venv/bin/python benchmarks/tasks.py                                # everything
    .venv/bin/python benchmarks/tasks.py --datasets bank-churn,telco-churn --mappings truth
    .venv/bin/python benchmarks/tasks.py --json tasks.json

Every federation is written to a temporary folder and read back through the same loaders a
deployment uses (``load_schema``, ``read_records``), as ``fedcrm demo --data`` does. Both
models see the same feature matrices and the same train / validation / test splits of each
org (``fedcrm.features.build_task_matrix``); metrics are on each org's held-out test split.
"Local" trains on one org's training split only; "centralised" on all orgs' training splits
pooled, scored on each org's test split — the upper bound a federation aims for.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import lightgbm
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from fedcrm.datasets import LOADERS, load_dataset, truth_mapping
from fedcrm.demo import DEMO_ACCOUNTS, DEMO_SCALE, demo_config, read_federation
from fedcrm.errors import FeatureError
from fedcrm.features import TaskMatrix
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.experiment import prepare_task, run_task
from fedcrm.matching.api import match
from fedcrm.matching.corpus import read_labels
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology import load_ontology
from fedcrm.ontology.models import Task
from fedcrm.synth import generate_federation
from fedcrm.tasks import get_task

SYNTHETIC = "synthetic"
ALL_FEDERATIONS = (SYNTHETIC, *LOADERS)
MODELS = ("lgbm_local", "lgbm_central", "torch_local", "torch_central")
MODEL_TITLES = {"lgbm_local": "LGBM local", "lgbm_central": "LGBM central",
                "torch_local": "torch local", "torch_central": "torch central"}
MAPPING_TITLES = {"truth": "ground-truth mapping", "matcher": "matcher mapping"}
METRIC_TITLES = {"auc": "AUC", "spearman": "Spearman"}
console = Console(width=160)


@dataclass
class OrgRow:
    """One org's test metrics for one task and mapping."""

    federation: str
    task: str
    mapping: str
    org: str
    n_train: int
    n_test: int
    positive_rate: float
    auc: dict[str, float | None] = field(default_factory=dict)
    spearman: dict[str, float | None] = field(default_factory=dict)


@dataclass
class MatcherScore:
    """How the matcher's concept decisions compare with the ground truth."""

    federation: str
    n_fields: int
    precision: float | None
    recall: float | None
    custom_precision: float | None
    custom_recall: float | None
    seconds: float


def _lgbm(train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
          seed: int, threads: int) -> lightgbm.Booster:
    """Gradient-boosted trees with early stopping on the validation AUC (when it has both
    classes; a fixed 200 trees otherwise)."""
    params = {"objective": "binary", "metric": "auc", "learning_rate": 0.05, "num_leaves": 15,
              "min_data_in_leaf": 20, "bagging_fraction": 0.8, "bagging_freq": 1,
              "feature_fraction": 0.8, "lambda_l2": 1.0, "seed": seed,
              "num_threads": threads, "verbose": -1}
    data = lightgbm.Dataset(train[0], label=train[1])
    if len(np.unique(validation[1])) < 2:
        return lightgbm.train(params, data, num_boost_round=200)
    checked = lightgbm.Dataset(validation[0], label=validation[1], reference=data)
    return lightgbm.train(params, data, num_boost_round=500, valid_sets=[checked],
                          callbacks=[lightgbm.early_stopping(50, verbose=False)])


def _lgbm_scores(task: str, matrices: list[TaskMatrix], seed: int,
                 threads: int) -> dict[str, dict[str, dict[str, float | None]]]:
    """org → {"lgbm_local": metrics, "lgbm_central": metrics}."""
    definition = get_task(task)
    parts = {m.org_id: (m.part("train"), m.part("validation"), m.part("test")) for m in matrices}

    def pooled(split: int) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([p[split][0] for p in parts.values()]),
                np.concatenate([p[split][1] for p in parts.values()]))

    central = _lgbm(pooled(0), pooled(1), seed, threads)
    scores = {}
    for org_id, (train, validation, test) in parts.items():
        local = _lgbm(train, validation, seed, threads)
        scores[org_id] = {
            "lgbm_local": definition.score(test[1], np.asarray(local.predict(test[0]))),
            "lgbm_central": definition.score(test[1], np.asarray(central.predict(test[0]))),
        }
    return scores


def _score_matcher(federation: str, folder: Path, orgs: list[str], proposal: MappingProposal,
                   seconds: float) -> MatcherScore:
    """Concept precision / recall of the matcher against ground_truth.jsonl (all fields, and
    custom fields only, as ``fedcrm demo`` reports)."""
    counts = {"all": [0, 0, 0], "custom": [0, 0, 0]}  # accepted, correct, true concepts
    n_fields = 0
    for org_id in orgs:
        truth = {(lab.object, lab.field): lab.concept
                 for lab in read_labels(folder / org_id / "ground_truth.jsonl")}
        for decision in proposal.org(org_id).fields:
            n_fields += 1
            expected = truth.get((decision.object, decision.field))
            groups = ["all", "custom"] if decision.field.endswith("__c") else ["all"]
            for group in groups:
                counts[group][0] += decision.concept is not None
                counts[group][1] += decision.concept is not None and \
                    decision.concept == expected
                counts[group][2] += expected is not None

    def ratio(numerator: int, denominator: int) -> float | None:
        return numerator / denominator if denominator else None

    return MatcherScore(federation, n_fields, ratio(counts["all"][1], counts["all"][0]),
                        ratio(counts["all"][1], counts["all"][2]),
                        ratio(counts["custom"][1], counts["custom"][0]),
                        ratio(counts["custom"][1], counts["custom"][2]), round(seconds, 1))


def write_federation(name: str, out: Path,
                     args: argparse.Namespace) -> tuple[Path, tuple[str, ...]]:
    """Write one federation; returns its folder and the tasks to run on it."""
    if name == SYNTHETIC:
        federation = generate_federation(args.synthetic_orgs, seed=args.seed, scale=args.scale,
                                         accounts=DEMO_ACCOUNTS)
        return federation.write(out), tuple(task.value for task in Task)
    real = load_dataset(name, args.root, seed=args.seed)
    return real.write(out), (real.definition.task.value,)


def run_federation(name: str, args: argparse.Namespace, config: TrainingConfig,
                   workdir: Path) -> tuple[list[OrgRow], MatcherScore | None, list[str]]:
    """Every task × mapping × model on one federation."""
    folder, tasks = write_federation(name, workdir / name, args)
    reference, inputs = read_federation(folder)
    orgs = [org.org_id for org in inputs]
    mappings: dict[str, MappingProposal] = {}
    matcher_score = None
    if "truth" in args.mappings:
        mappings["truth"] = truth_mapping(folder, orgs)
    if "matcher" in args.mappings:
        started = time.perf_counter()
        mappings["matcher"] = match([org.schema for org in inputs])
        matcher_score = _score_matcher(name, folder, orgs, mappings["matcher"],
                                       time.perf_counter() - started)
    ontology = load_ontology()
    rows: list[OrgRow] = []
    notes: list[str] = []
    for task in tasks:
        for mapping_name, mapping in mappings.items():
            try:
                prepared = prepare_task(task, inputs, mapping, ontology, reference,
                                        seed=args.seed)
            except FeatureError as exc:
                notes.append(f"{name} / {task} / {mapping_name}: not possible ({exc})")
                continue
            for org_id, reason in prepared.skipped.items():
                notes.append(f"{name} / {task} / {mapping_name}: {org_id} skipped ({reason})")
            torch_result = run_task(prepared, config, methods=("local", "centralised"),
                                    progress=False)
            lgbm = _lgbm_scores(task, prepared.matrices, args.seed, args.threads)
            for score, matrix in zip(torch_result.orgs, prepared.matrices, strict=True):
                metrics = {"torch_local": score.metrics["local"],
                           "torch_central": score.metrics["centralised"], **lgbm[score.org]}
                rows.append(OrgRow(
                    federation=name, task=task, mapping=mapping_name, org=score.org,
                    n_train=score.n_train, n_test=score.n_test,
                    positive_rate=round(matrix.report.positive_rate, 3),
                    auc={model: metrics[model].get("auc") for model in MODELS},
                    spearman={model: metrics[model].get("spearman") for model in MODELS}
                    if task == Task.WIN_PROBABILITY.value else {},
                ))
    return rows, matcher_score, notes


@dataclass
class Grid:
    """A table to print (rich) or write (markdown)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    #: index of the first summary row (drawn below a rule), if any
    summary_from: int | None = None


def _show(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _metric(row: OrgRow, metric: str, model: str) -> float | None:
    return (row.auc if metric == "auc" else row.spearman).get(model)


def _model_headers(mappings: list[str]) -> list[str]:
    return [f"{MODEL_TITLES[m]} ({'truth' if mapping == 'truth' else 'matcher'})"
            for mapping in mappings for m in MODELS]


def _metrics_of(task: str) -> tuple[str, ...]:
    return ("auc", "spearman") if task == Task.WIN_PROBABILITY.value else ("auc",)


def task_grids(federation: str, task: str, rows: list[OrgRow], mappings: list[str]) -> list[Grid]:
    """Per-org test metrics of one task (one grid per metric), mean in the last row."""
    grids = []
    orgs = list(dict.fromkeys(r.org for r in rows))
    for metric in _metrics_of(task):
        body = []
        for org in orgs:
            per_mapping = {r.mapping: r for r in rows if r.org == org}
            first = next(iter(per_mapping.values()))
            cells = [_show(_metric(per_mapping[mapping], metric, model))
                     if mapping in per_mapping else "n/a"
                     for mapping in mappings for model in MODELS]
            body.append([org, f"{first.n_train:,}", f"{first.n_test:,}",
                         f"{first.positive_rate:.0%}", *cells])
        means = [_show(_mean([_metric(r, metric, model) for r in rows if r.mapping == mapping]))
                 for mapping in mappings for model in MODELS]
        body.append(["mean", "", "", "", *means])
        grids.append(Grid(f"{federation} — {task}: test {METRIC_TITLES[metric]} per org",
                          ["org", "train", "test", "positive", *_model_headers(mappings)],
                          body, summary_from=len(body) - 1))
    return grids


def summary_grid(rows: list[OrgRow], mappings: list[str]) -> Grid:
    """Mean over orgs, per federation, task and metric."""
    body = []
    for federation, task in dict.fromkeys((r.federation, r.task) for r in rows):
        chosen = [r for r in rows if (r.federation, r.task) == (federation, task)]
        n_orgs = len({r.org for r in chosen})
        for metric in _metrics_of(task):
            body.append([federation, task, METRIC_TITLES[metric], str(n_orgs), *[
                _show(_mean([_metric(r, metric, model) for r in chosen
                             if r.mapping == mapping]))
                for mapping in mappings for model in MODELS]])
    return Grid("Summary: mean over orgs of the test metric",
                ["federation", "task", "metric", "orgs", *_model_headers(mappings)], body)


def matcher_grid(scores: list[MatcherScore]) -> Grid:
    """The matcher's concept precision and recall per federation."""
    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return Grid("Matcher (fedcrm.match, shipped model) against the ground truth",
                ["federation", "fields", "concept precision", "concept recall",
                 "custom-field precision", "custom-field recall", "seconds"],
                [[s.federation, str(s.n_fields), show(s.precision), show(s.recall),
                  show(s.custom_precision), show(s.custom_recall), f"{s.seconds:.1f}"]
                 for s in scores])


def _numeric_columns(grid: Grid) -> list[bool]:
    return [index > 0 and all(row[index][:1].isdigit() or row[index][:1] in "-n"
                              or row[index] == "" for row in grid.rows)
            for index in range(len(grid.headers))]


def to_rich(grid: Grid) -> Table:
    """A rich table of ``grid`` (numbers right-aligned)."""
    table = Table(title=grid.title, title_justify="left")
    for header, numeric in zip(grid.headers, _numeric_columns(grid), strict=True):
        table.add_column(header.replace(" (", "\n("), justify="right" if numeric else "left")
    for index, row in enumerate(grid.rows):
        if index == grid.summary_from:
            table.add_section()
        table.add_row(*row)
    return table


def to_markdown(grid: Grid) -> str:
    """``grid`` as a GitHub markdown table under a bold title."""
    lines = [f"**{grid.title}**", "", "| " + " | ".join(grid.headers) + " |",
             "|" + "|".join("---:" if numeric else "---"
                            for numeric in _numeric_columns(grid)) + "|"]
    for index, row in enumerate(grid.rows):
        cells = [f"**{c}**" if index == grid.summary_from and c else c for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(ALL_FEDERATIONS),
                        help=f"comma-separated, from {', '.join(ALL_FEDERATIONS)}")
    parser.add_argument("--mappings", default="truth,matcher",
                        help="truth, matcher or both (comma-separated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=DEMO_SCALE,
                        help="synthetic federation size (as `fedcrm demo`)")
    parser.add_argument("--synthetic-orgs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=None,
                        help="training rounds (default: the demo's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and LightGBM threads (tiny models run fastest on one)")
    parser.add_argument("--root", type=Path, default=None,
                        help="the crm-datasets folder (default: ../shared/data/crm-datasets)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the tables here as markdown")
    args = parser.parse_args(argv)
    args.mappings = [m.strip() for m in args.mappings.split(",") if m.strip()]
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(ALL_FEDERATIONS)) + sorted(
        set(args.mappings) - set(MAPPING_TITLES))
    if unknown:
        parser.error(f"unknown dataset(s) or mapping(s) {unknown}")
    torch.set_num_threads(args.threads)
    # the demo's training configuration (`fedcrm demo`), so the numbers are comparable
    config = demo_config(seed=args.seed) if args.rounds is None else \
        demo_config(rounds=args.rounds, seed=args.seed)
    started = time.perf_counter()
    rows: list[OrgRow] = []
    scores: list[MatcherScore] = []
    notes: list[str] = []
    timings: dict[str, float] = {}
    grids: list[Grid] = []
    with tempfile.TemporaryDirectory(prefix="fedcrm-tasks-") as workdir:
        for name in names:
            began = time.perf_counter()
            with console.status(f"{name}: writing, matching, training"):
                federation_rows, score, federation_notes = run_federation(
                    name, args, config, Path(workdir))
            timings[name] = round(time.perf_counter() - began, 1)
            rows += federation_rows
            notes += federation_notes
            if score is not None:
                scores.append(score)
            for task in dict.fromkeys(r.task for r in federation_rows):
                task_rows = [r for r in federation_rows if r.task == task]
                for grid in task_grids(name, task, task_rows, args.mappings):
                    grids.append(grid)
                    console.print(to_rich(grid))
    grids.insert(0, summary_grid(rows, args.mappings))
    console.print(to_rich(grids[0]))
    if scores:
        grids.insert(1, matcher_grid(scores))
        console.print(to_rich(grids[1]))
    total = time.perf_counter() - started
    command = " ".join(["python", "benchmarks/tasks.py", *(argv if argv is not None
                                                          else sys.argv[1:])])
    footer_lines = [
        *(f"note: {note}" for note in notes),
        f"torch: logistic regression, {config.rounds} rounds × {config.local_epochs} local "
        f"epochs, {config.optimizer.upper()} lr {config.learning_rate}, batch "
        f"{config.batch_size} (fedcrm demo's settings); LightGBM: up to 500 trees, early "
        "stopping on the validation AUC.",
        f"{total:.0f} s in all ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}); "
        f"{os.cpu_count()} CPUs visible, {args.threads} thread(s); Python "
        f"{platform.python_version()}, torch {torch.__version__}, LightGBM "
        f"{lightgbm.__version__}.",
        f"reproduce: .venv/bin/{command}",
    ]
    footer = "\n\n".join(footer_lines)
    for line in footer_lines:
        console.print(line, highlight=False)
    if args.markdown is not None:
        args.markdown.write_text("\n".join(to_markdown(grid) for grid in grids)
                                 + f"\n{footer}\n", encoding="utf-8")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows],
                                         "matcher": [asdict(s) for s in scores],
                                         "notes": notes, "seconds": timings}, indent=1) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
