"""Would stronger quality weights beat FedAvg? Org-weighting variants on unequal-quality orgs.

Reproduce:  .venv/bin/python benchmarks/quality_variants.py              (seeds 0-4, ~15 min)
            .venv/bin/python benchmarks/quality_variants.py --seeds 0,1   (quicker)

The federations of ``benchmarks/federation.py --section quality --scale 0.1
--server-momentum 0`` (8 synthetic orgs of very unequal completeness, recency and label
reliability, one per seed), each task trained and its delivered model (the mean of the last
rounds' global models, as run_task scores it) scored against the generator's true outcomes
(which no org sees) by:

* ``fedavg``: weights ∝ sample counts;
* ``qw``: quality-weighted, the shipped multiplier ``0.6 + 0.8 × score``;
* ``qw_relative``: the quality scores stretched over the federation, worst org 0.6, best 1.4;
* ``qw_label_rel``: label reliability alone, stretched the same way;
* ``fedavg_drop_lr<0.4``: FedAvg without the orgs whose label reliability is below 0.4 (not a
  bounded weighting: the most a weighting could do to them), scored on every org.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import federation as bench  # benchmarks/federation.py: run as a script, its folder is on the path
import numpy as np
import torch

from fedcrm.features.quality import quality_score
from fedcrm.federation.coordinator import Coordinator
from fedcrm.federation.strategies import make_strategy
from fedcrm.ontology import load_ontology
from fedcrm.synth import generate_federation

VARIANTS = ("qw", "qw_relative", "qw_label_rel", "fedavg_drop_lr<0.4")


def stretch(values: dict[str, float]) -> dict[str, float]:
    """Map values linearly onto [0.6, 1.4], lowest to 0.6 and highest to 1.4."""
    low, high = min(values.values()), max(values.values())
    if high == low:
        return dict.fromkeys(values, 1.0)
    # clipped so that rounding can never leave the bounds the participants validate
    return {k: float(np.clip(0.6 + 0.8 * (v - low) / (high - low), 0.6, 1.4))
            for k, v in values.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    ontology = load_ontology()
    work = Path(tempfile.mkdtemp(prefix="fedcrm-quality-variants-"))
    true_auc: dict[tuple[int, str], dict[str, float]] = {}
    print(f"command: .venv/bin/python benchmarks/quality_variants.py --seeds {args.seeds}\n")
    print("| seed | task | label reliability of the orgs | " + " | ".join(
        ("fedavg", *VARIANTS)) + " |")
    print("|---:|---|---|" + "---:|" * (1 + len(VARIANTS)))
    for seed in seeds:
        federation = generate_federation(8, seed=seed, scale=0.1, accounts=bench.DEMO_ACCOUNTS,
                                         completeness=(0.3, 0.98), recency=(0.2, 0.95),
                                         label_reliability=(0.05, 0.95))
        folder = federation.write(work / f"q{seed}")
        reference, inputs = bench.read_federation(folder)
        mapping = bench.truth_mapping(folder, [o.org_id for o in inputs])
        for task in bench.ALL_TASKS:
            obj, id_column, column = bench.TRUE_OUTCOME[task]
            truth = {o.org_id: dict(zip(o.latent[obj][id_column],
                                        o.latent[obj][column].astype(bool), strict=True))
                     for o in federation.orgs}
            prepared = bench.prepare_task(task, inputs, mapping, ontology, reference, seed=seed)
            config = bench.demo_config(rounds=30, seed=seed, model="logistic").model_copy(
                update={"server_momentum": 0.0})
            quality = {m.org_id: m.report.quality for m in prepared.matrices}
            reliability = {k: q.label_reliability for k, q in quality.items()}
            variants: dict[str, tuple[str, dict[str, float] | None, set[str]]] = {
                "fedavg": ("fedavg", None, set()),
                "qw": ("quality_weighted", None, set()),
                "qw_relative": ("quality_weighted",
                                stretch({k: quality_score(q) for k, q in quality.items()}),
                                set()),
                "qw_label_rel": ("quality_weighted", stretch(reliability), set()),
                "fedavg_drop_lr<0.4": ("fedavg", None,
                                       {k for k, r in reliability.items() if r < 0.4}),
            }
            row: dict[str, float] = {}
            for name, (strategy, multipliers, dropped) in variants.items():
                participants = bench.participants_of(prepared, config)
                if multipliers:
                    for p in participants:
                        p.quality_multiplier = float(multipliers[p.participant_id])
                training = [p for p in participants if p.participant_id not in dropped]
                result = Coordinator(training, make_strategy(strategy), config).run(
                    progress=False)
                # scored on every org, the dropped ones included
                row[name] = bench.scored_aucs(prepared, participants,
                                              result.averaged_parameters, truth)[1]
            true_auc[(seed, task)] = row
            print(f"| {seed} | {task} | " + " ".join(f"{r:.2f}" for r in sorted(
                reliability.values())) + " | " + " | ".join(
                f"{row[n]:.4f}" for n in ("fedavg", *VARIANTS)) + " |", flush=True)
    print("\n| task | variant | mean − FedAvg (true outcomes) | SD | federations ahead |")
    print("|---|---|---:|---:|---:|")
    for task in bench.ALL_TASKS:
        for name in VARIANTS:
            d = [100 * (true_auc[(s, task)][name] - true_auc[(s, task)]["fedavg"]) for s in seeds]
            sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
            print(f"| {task} | {name} | {np.mean(d):+.2f} pt | {sd:.2f} | "
                  f"{sum(x > 0 for x in d)}/{len(d)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
