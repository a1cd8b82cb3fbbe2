"""Active learning for the matcher with a simulated annotator: strategies vs random sampling.

Reproduce:  .venv/bin/python benchmarks/active_learning.py                  (the default run)
            .venv/bin/python benchmarks/active_learning.py --quick          (a few minutes)
            .venv/bin/python benchmarks/active_learning.py --plot docs/img/active_learning.png

Setup (all orgs are synthetic orgs of annotations/, read-only; the loop works on copies in a
temporary folder):

* **seed** orgs start fully labelled;
* **pool** orgs start with no labels; their true labels are the oracle, which answers every
  selected field through the real task-file → import path (JSON lines);
* **held-out** orgs are fully labelled, never in the pool, never trained on; precision,
  coverage and pairwise F1 are measured on them after every round.

Every strategy starts from the same seed matcher and spends labels by the same schedule (a
batch per round). A *reference* matcher trained on seed + the whole labelled pool gives the
ceiling. "Labels to target" is the first point of a curve that reaches the target precision
and coverage; the default target is the reference's coverage minus ``--coverage-slack`` at the
reference's precision minus ``--precision-slack`` (``--target-precision`` /
``--target-coverage`` set absolute targets instead), with the matcher's own threshold. The
oracle column measures the ranking alone: the first point whose coverage at the matcher's
target precision, with the best threshold for the held-out orgs, reaches the reference's same
coverage minus ``--coverage-slack`` (no own-threshold condition). Random sampling runs with
several seeds; ``--strategy-seeds`` repeats each strategy too. A run's seed also seeds the
matchers its rounds fit (LightGBM's bagging and the repeated cross-validation), and a row
"(mean)" gives the mean
labels to target over a strategy's runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from fedcrm.annotate.impact import default_concept_weights
from fedcrm.annotate.loop import (
    AnnotationLoop,
    CurvePoint,
    LearningCurve,
    coverage_at_precision,
    held_out_prediction,
    held_out_scores,
    shared_embedder,
    truth_oracle,
)
from fedcrm.annotate.plot import plot_learning_curve
from fedcrm.annotate.strategies import make_strategy
from fedcrm.matching.corpus import AnnotatedOrg, load_corpus, write_labels
from fedcrm.matching.model import FieldMatcher
from fedcrm.ontology import load_ontology

console = Console()

DEFAULT_SEED_ORGS = ("syn101_org01_bocage", "syn101_org02_alpenwerk")
DEFAULT_POOL_ORGS = ("syn102_org01_bluefin", "syn102_org02_levante", "syn102_org03_vercors",
                     "syn102_org04_moselhof", "syn102_org05_acme", "syn102_org06_sierra",
                     "syn103_org01_levante", "syn103_org02_alpenwerk")
DEFAULT_HELD_OUT = ("syn104_org01_isarwerk", "syn104_org02_northpeak", "syn104_org03_bocage")
DEFAULT_STRATEGIES = ("margin", "margin*impact+diverse")
DEFAULT_SCHEDULE = (10, 10, 20, 20, 40, 40, 80, 80, 160)


def write_folder(folder: Path, orgs: Sequence[AnnotatedOrg], labelled: set[str]) -> Path:
    """An annotations folder with ``orgs`` (as synthetic schemas); only ``labelled`` orgs
    get their label files."""
    (folder / "schemas").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(exist_ok=True)
    sources = [{"org": o.org_id, "kind": "synthetic", "licence": o.source.licence}
               for o in orgs]
    (folder / "sources.yaml").write_text(yaml.safe_dump({"orgs": sources}), encoding="utf-8")
    for org in orgs:
        (folder / "schemas" / f"{org.org_id}.json").write_text(org.schema.model_dump_json(),
                                                                encoding="utf-8")
        if org.org_id in labelled:
            write_labels(folder / "labels" / f"{org.org_id}.jsonl", org.labels.values())
    return folder


def run_strategy(
    name: str, spec: str, seed: int, base: Path, work: Path, truth: Sequence[AnnotatedOrg],
    held_out: Sequence[str], pool: Sequence[str], schedule: Sequence[int], start: CurvePoint,
    start_matcher: FieldMatcher, params: dict[str, object], weights: dict[str, float],
) -> list[CurvePoint]:
    """Rounds of one strategy from the shared starting point; returns its curve."""
    folder = work / name.replace("*", "x").replace("+", "_").replace("(", "").replace(")", "")
    shutil.copytree(base, folder)
    loop = AnnotationLoop(folder, held_out=held_out, pool_orgs=pool, matcher_params=params,
                          embedder=start_matcher.embedder)
    loop.curve.points.append(start.model_copy(update={"strategy": name}))
    strategy = make_strategy(spec, weights=weights, seed=seed, embedder=start_matcher.embedder)
    strategy.name = name
    oracle = truth_oracle(truth)
    matcher = start_matcher
    for number, batch in enumerate(schedule, start=1):
        started = time.perf_counter()
        matcher, point = loop.run_round(strategy, batch, oracle, workdir=folder / "rounds",
                                        matcher=matcher, round=number)
        console.print(f"  {name:<26} round {number:>2}: {point.labels_spent:>4} labels → "
                      f"P {point.precision:.3f}  C {point.coverage:.3f}  pairF1 "
                      f"{point.pair_f1:.3f}  ({time.perf_counter() - started:.0f} s)")
    return loop.curve.points


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-orgs", nargs="+", default=list(DEFAULT_SEED_ORGS))
    parser.add_argument("--pool-orgs", nargs="+", default=list(DEFAULT_POOL_ORGS))
    parser.add_argument("--held-out", nargs="+", default=list(DEFAULT_HELD_OUT))
    parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES),
                        help="strategy specs besides random (see fedcrm.annotate.make_strategy)")
    parser.add_argument("--random-seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--strategy-seeds", nargs="+", type=int, default=[0],
                        help="repetitions of each strategy: the seed of the strategy and of the "
                             "matchers its rounds fit (random(seed=s) fits with seed s too)")
    parser.add_argument("--schedule", type=lambda s: [int(x) for x in s.split(",")],
                        default=list(DEFAULT_SCHEDULE), help="labels per round, e.g. 10,10,20")
    parser.add_argument("--lgbm-rounds", type=int, default=100)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3,
                        help="repetitions of the matcher's out-of-fold cross-validation")
    parser.add_argument("--target-precision", type=float, default=None)
    parser.add_argument("--target-coverage", type=float, default=None)
    parser.add_argument("--precision-slack", type=float, default=0.02)
    parser.add_argument("--coverage-slack", type=float, default=0.02)
    parser.add_argument("--quick", action="store_true",
                        help="4 pool orgs, 2 held-out, schedule 10,10,20,40, one random seed")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the report JSON (default: a temporary folder)")
    parser.add_argument("--plot", type=Path, default=None, help="also draw the PNG here")
    args = parser.parse_args(argv)
    if args.quick:
        args.pool_orgs, args.held_out = args.pool_orgs[:4], args.held_out[:2]
        args.schedule, args.random_seeds = [10, 10, 20, 40], args.random_seeds[:1]
    command = "python benchmarks/active_learning.py " + " ".join(sys.argv[1:] if argv is None
                                                                 else argv)
    started = time.perf_counter()
    ontology = load_ontology()
    wanted = [*args.seed_orgs, *args.pool_orgs, *args.held_out]
    corpus = {o.org_id: o for o in load_corpus(orgs=wanted, ontology=ontology)}
    missing = sorted(set(wanted) - set(corpus))
    if missing:
        parser.error(f"not orgs of annotations/: {missing}")
    truth = [corpus[o] for o in wanted]
    params: dict[str, object] = {"n_rounds": args.lgbm_rounds, "n_folds": args.folds,
                                 "n_repeats": args.repeats}
    pool_fields = sum(1 for o in args.pool_orgs for _, f in corpus[o].schema.iter_fields()
                      if f.is_custom)
    console.print(f"seed {args.seed_orgs}\npool {len(args.pool_orgs)} orgs, {pool_fields} "
                  f"custom fields\nheld out {args.held_out}\nschedule {args.schedule} "
                  f"(total {sum(args.schedule)}), matcher {params}")
    weights = default_concept_weights(ontology)
    embedder = shared_embedder()
    work = Path(tempfile.mkdtemp(prefix="fedcrm-al-bench-"))
    try:
        base = write_folder(work / "base", truth, {*args.seed_orgs, *args.held_out})
        # the reference ceiling: every pool label known
        reference_folder = write_folder(work / "reference", truth, set(wanted))
        reference_loop = AnnotationLoop(reference_folder, held_out=args.held_out,
                                        matcher_params=params, embedder=embedder)
        ref_orgs = reference_loop.orgs()
        tick = time.perf_counter()
        reference_matcher = reference_loop.fit(ref_orgs)
        ref_tests = [o for o in ref_orgs if o.org_id in args.held_out]
        ref_context = [o for o in ref_orgs if o.org_id not in args.held_out]
        ref_scores = held_out_scores(reference_matcher, ref_tests, ref_context)
        # the ranking's own reference: coverage at the matcher's target precision with the
        # best threshold, as every point's coverage_at_target is measured
        ref_oracle = coverage_at_precision(
            held_out_prediction(reference_matcher, ref_tests, ref_context), ref_tests,
            reference_matcher.target_precision)
        console.print(f"reference (all {pool_fields} pool labels): P {ref_scores.precision:.3f}"
                      f"  C {ref_scores.coverage:.3f}  pairF1 {ref_scores.pair_f1:.3f}  "
                      f"C at P {reference_matcher.target_precision} (best threshold) "
                      f"{ref_oracle:.3f} ({time.perf_counter() - tick:.0f} s)")
        target_precision = args.target_precision if args.target_precision is not None else \
            round(ref_scores.precision - args.precision_slack, 3)
        target_coverage = args.target_coverage if args.target_coverage is not None else \
            round(ref_scores.coverage - args.coverage_slack, 3)
        loop = AnnotationLoop(base, held_out=args.held_out, pool_orgs=args.pool_orgs,
                              matcher_params=params, embedder=embedder)
        tick = time.perf_counter()
        start_matcher, start = loop.retrain_and_measure(strategy="start", round=0)
        console.print(f"start (seed only): P {start.precision:.3f}  C {start.coverage:.3f}  "
                      f"pairF1 {start.pair_f1:.3f} ({time.perf_counter() - tick:.0f} s)")
        runs = [(f"random(seed={s})", "random", s) for s in args.random_seeds]
        runs += [(run_name(spec, s, args.strategy_seeds), spec, s)
                 for spec in args.strategies for s in args.strategy_seeds]
        curve = LearningCurve(held_out=args.held_out, pool_orgs=args.pool_orgs,
                              matcher_params=params, target_precision=target_precision,
                              target_coverage=target_coverage,
                              target_oracle_coverage=round(ref_oracle - args.coverage_slack, 3))
        for name, spec, seed in runs:
            # the run's seed also seeds its matchers' bagging and cross-validation, so the
            # repetitions of a strategy differ as much as random sampling's seeds do
            curve.points.extend(run_strategy(
                name, spec, seed, base, work, truth, args.held_out, args.pool_orgs,
                args.schedule, start, start_matcher, {**params, "random_state": seed},
                weights))
            if args.out is not None:
                curve.save(args.out / "active_learning.json")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_tables(curve, args.schedule, ref_scores.precision, ref_scores.coverage,
                 ref_scores.pair_f1, pool_fields, args.random_seeds, args.strategies,
                 args.strategy_seeds)
    if args.out is not None:
        report = curve.save(args.out / "active_learning.json")
        extra = {"reference": {"precision": ref_scores.precision,
                               "coverage": ref_scores.coverage, "pair_f1": ref_scores.pair_f1,
                               "coverage_at_target": ref_oracle,
                               "pool_fields": pool_fields},
                 "command": command, "seconds": round(time.perf_counter() - started)}
        (args.out / "active_learning.meta.json").write_text(json.dumps(extra, indent=1) + "\n")
        console.print(f"Wrote {report}")
    if args.plot is not None:
        plot_learning_curve(curve, args.plot, title=(
            f"Simulated annotator: {len(args.pool_orgs)} pool orgs ({pool_fields} fields), "
            f"held-out {len(args.held_out)} orgs"))
        console.print(f"Wrote {args.plot}")
    console.print(f"\nReproduce: {command}\nTotal {time.perf_counter() - started:.0f} s")
    return 0


def run_name(spec: str, seed: int, seeds: Sequence[int]) -> str:
    """A strategy run's name on the curve: the spec, with its seed when it is repeated."""
    return spec if list(seeds) == [0] else f"{spec}(seed={seed})"


def print_tables(curve: LearningCurve, schedule: Sequence[int], ref_precision: float,
                 ref_coverage: float, ref_pair_f1: float, pool_fields: int,
                 random_seeds: Sequence[int], strategies: Sequence[str] = (),
                 strategy_seeds: Sequence[int] = (0,)) -> None:
    """The learning curves side by side and labels-to-target per run; a strategy repeated
    with several seeds gets a row with its mean too."""
    spent = [0, *[sum(schedule[: i + 1]) for i in range(len(schedule))]]
    table = Table(title="Held-out precision / coverage / pairwise F1 by labels spent "
                        f"(reference with all {pool_fields}: {ref_precision:.3f} / "
                        f"{ref_coverage:.3f} / {ref_pair_f1:.3f})")
    table.add_column("labels", justify="right")
    for strategy in curve.strategies:
        table.add_column(strategy, justify="right")
    by = {(p.strategy, p.labels_spent): p for p in curve.points}
    for labels in spent:
        cells = []
        for strategy in curve.strategies:
            point = by.get((strategy, labels))
            cells.append(f"{point.precision:.3f} / {point.coverage:.3f} / {point.pair_f1:.3f}"
                         if point else "-")
        table.add_row(str(labels), *cells)
    console.print(table)
    target = Table(title=f"Labels to target: with the matcher's own threshold (precision >= "
                         f"{curve.target_precision} and coverage >= {curve.target_coverage}), "
                         "and with the best threshold for the held-out orgs (oracle: the "
                         "ranking; coverage at the matcher's target precision >= "
                         f"{curve.target_oracle_coverage}, the reference's less the slack)")
    for column in ("strategy", "own threshold", "own vs random", "oracle threshold",
                   "oracle vs random"):
        target.add_column(column, justify="left" if column == "strategy" else "right",
                          no_wrap=column == "strategy")
    # the runs of one row: each run alone, and a repeated strategy's runs together
    rows: dict[str, list[str]] = {s: [s] for s in curve.strategies}
    rows["random (mean)"] = [f"random(seed={s})" for s in random_seeds]
    if list(strategy_seeds) != [0]:
        for spec in strategies:
            rows[f"{spec} (mean)"] = [run_name(spec, s, strategy_seeds) for s in strategy_seeds]
    cells: dict[str, list[str]] = {row: [] for row in rows}
    for metric in ("coverage", "coverage_at_target"):
        random_mean = mean_labels(curve, rows["random (mean)"], metric)
        for row, runs in rows.items():
            labels = mean_labels(curve, runs, metric)
            cells[row].append(f"{labels:.0f}" if labels is not None
                              else f"not within {sum(schedule)}")
            cells[row].append(f"{labels / random_mean:.0%}"
                              if labels is not None and random_mean else "-")
    for row in rows:
        target.add_row(row, *cells[row])
    console.print(target)


def mean_labels(curve: LearningCurve, runs: Sequence[str], metric: str) -> float | None:
    """Mean labels to target over ``runs`` (None: one of them never reached it)."""
    reached = [curve.labels_to_target(run, coverage_metric=metric) for run in runs]
    if not reached or any(r is None for r in reached):
        return None
    return statistics.mean(r for r in reached if r is not None)


if __name__ == "__main__":
    raise SystemExit(main())
