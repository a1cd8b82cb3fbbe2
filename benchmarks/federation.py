"""Federated vs local-only vs centralised, per task, on the synthetic federation and on the real
CRM datasets; the quality-weighting ablation; and the privacy/utility table of the three CRM
tasks under record-level DP.

    .venv/bin/python benchmarks/federation.py                              # both sections
    .venv/bin/python benchmarks/federation.py --section compare --datasets synthetic,bank-churn
    .venv/bin/python benchmarks/federation.py --section privacy --epsilons 1,8
    .venv/bin/python benchmarks/federation.py --section round --threads 2

Section ``compare``: each federation is written to a temporary folder and read back through
the deployment loaders (as ``fedcrm demo --data`` does), mapped with the ground-truth mapping
(``--mapping truth``, default: measures the learning) or the shipped matcher (``--mapping
matcher``: what a user gets), and every task is trained four ways with the demo's training
settings (:func:`fedcrm.demo.demo_config`): local-only, FedAvg, quality-weighted FedAvg and
centralised. Numbers are mean test AUC over the orgs' held-out test splits.

Section ``privacy``: the synthetic federation, quality-weighted FedAvg with record-level DP-SGD
in every org (Opacus, Poisson sampling, clipping norm C = 5 by ``--clip``, one (ε, δ = 1e-5)
budget per org over all rounds, PRV accountant) at each ε, against no DP with the same training
settings; test AUC per task and the loss-threshold
membership-inference AUC on the global model (Yeom et al. 2018; 0.5 = no leakage). Smaller ε
is stronger privacy.

Section ``quality``: the quality-weighting ablation. Federations whose orgs differ a lot in data
quality (each org draws completeness, recency and label reliability from the wide
``--quality-*`` ranges; low label reliability means many outcome labels are inferred rather
than recorded, i.e. noisy), one per seed in ``--quality-seeds``; FedAvg and quality-weighted
FedAvg on the same participants, mean test AUC over orgs against the recorded test labels and
against the true outcomes the generator keeps, and the paired difference per seed.

Section ``round``: seconds per quality-weighted round on a 10-org synthetic federation of
200,000 records in all (``--round-orgs``, ``--round-records``), for each task.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from privacy import attack_auc  # benchmarks/privacy.py, beside this script
from tasks import ALL_FEDERATIONS, SYNTHETIC, write_federation

from fedcrm.datasets import truth_mapping
from fedcrm.demo import (
    ALL_TASKS,
    DEMO_ACCOUNTS,
    DEMO_ROUNDS,
    DEMO_SCALE,
    demo_config,
    read_federation,
)
from fedcrm.federation import Coordinator, Participant, TrainingConfig, make_strategy
from fedcrm.federation.data import participant_data
from fedcrm.federation.experiment import (
    METHODS,
    PreparedTask,
    prepare_task,
    run_task,
)
from fedcrm.federation.privacy import attach_record_level_dp
from fedcrm.matching.api import match
from fedcrm.ontology import load_ontology
from fedcrm.tasks import get_task

TITLES = {"local": "local", "fedavg": "FedAvg", "quality_weighted": "quality-weighted",
          "centralised": "centralised"}


def prepared_tasks(name: str, args: argparse.Namespace, workdir: Path) -> list[PreparedTask]:
    """Every task of one federation, written to disk and read back, on the chosen mapping."""
    folder, tasks = write_federation(name, workdir / name, args)
    reference, inputs = read_federation(folder)
    orgs = [org.org_id for org in inputs]
    mapping = (truth_mapping(folder, orgs) if args.mapping == "truth"
               else match([org.schema for org in inputs]))
    ontology = load_ontology()
    return [prepare_task(task, inputs, mapping, ontology, reference, seed=args.seed)
            for task in tasks]


def compare_section(args: argparse.Namespace, workdir: Path) -> None:
    """Mean test AUC of every method, per federation, task and seed; with several seeds a
    summary over them (mean, and the paired differences with their standard error)."""
    seeds = _seeds(args.seeds) if args.seeds else [args.seed]
    config = training_config(args)
    print(f"## Federated vs local vs centralised ({args.mapping} mapping; demo training "
          f"settings: {config.model}, {config.optimizer} lr {config.learning_rate}, "
          f"{config.local_epochs} local epochs"
          + (f", {config.local_steps} local steps" if config.local_steps else "")
          + f", {config.rounds} rounds, server momentum {config.server_momentum:g}, the mean "
          f"model of the last {config.averaged_rounds()} rounds; scale "
          f"{args.scale}, seeds {','.join(map(str, seeds))}; mean test AUC over orgs)")
    print()
    print("| federation | task | seed | orgs | flagged as leakage | "
          + " | ".join(TITLES[m] for m in METHODS)
          + " | QW − FedAvg | fed − central | fed − local | s/round |")
    print("|---|---|---:|---:|---|" + "---:|" * (len(METHODS) + 4))
    means: dict[tuple[str, str], list[dict[str, float]]] = {}
    for seed in seeds:
        run_args = argparse.Namespace(**{**vars(args), "seed": seed})
        run_config = config.model_copy(update={"seed": seed})
        for name in args.datasets.split(","):
            for prepared in prepared_tasks(name, run_args, workdir / f"seed{seed}"):
                result = run_task(prepared, run_config, progress=False,
                                  workers=args.workers)
                mean = {m: result.mean[m] or float("nan") for m in METHODS}
                means.setdefault((name, result.task), []).append(mean)
                leaked = ", ".join(
                    f"{source} ({'left out' if source in result.left_out else 'kept'})"
                    for source in sorted(result.leakage)) or "–"
                print(f"| {name} | {result.task} | {seed} | {len(result.orgs)} | {leaked} | "
                      + " | ".join(f"{mean[m]:.3f}" for m in METHODS)
                      + f" | {100 * (mean['quality_weighted'] - mean['fedavg']):+.1f} pt"
                      f" | {100 * (mean['quality_weighted'] - mean['centralised']):+.1f} pt"
                      f" | {100 * (mean['quality_weighted'] - mean['local']):+.1f} pt"
                      f" | {result.seconds_per_round.get('quality_weighted', 0.0):.2f} |",
                      flush=True)
    print()
    if len(seeds) < 2:
        return
    print(f"Over {len(seeds)} seeds (mean; differences in AUC points, ± one standard error of "
          f"the mean paired difference):")
    print()
    print("| federation | task | seeds | " + " | ".join(TITLES[m] for m in METHODS)
          + " | QW − FedAvg | QW − centralised | QW − local | centralised − local |")
    print("|---|---|---:|" + "---:|" * (len(METHODS) + 4))
    for (name, task), rows in means.items():
        table = {m: np.array([row[m] for row in rows]) for m in METHODS}
        pairs = (("quality_weighted", "fedavg"), ("quality_weighted", "centralised"),
                 ("quality_weighted", "local"), ("centralised", "local"))
        print(f"| {name} | {task} | {len(rows)} | "
              + " | ".join(f"{float(table[m].mean()):.3f}" for m in METHODS)
              + "".join(f" | {_paired(table[a], table[b])}" for a, b in pairs) + " |")
    print()


def _paired(a: np.ndarray, b: np.ndarray) -> str:
    """Mean of ``a − b`` in AUC points ± its standard error."""
    d = 100 * (a - b)
    return f"{float(d.mean()):+.1f} ± {float(d.std(ddof=1) / np.sqrt(len(d))):.1f}"


def _seeds(text: str) -> list[int]:
    """``"0-19"`` or ``"0,3,5"``."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-", 1))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",") if part.strip()]


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The demo's training settings, with this run's overrides (DP-SGD usually wants fewer
    local epochs, larger batches and a larger step than non-private SGD)."""
    config = demo_config(rounds=args.rounds, seed=args.seed, model=args.model)
    overrides = {key: value for key, value in (("local_epochs", args.local_epochs),
                                                ("batch_size", args.batch),
                                                ("learning_rate", args.lr),
                                                ("server_momentum", args.server_momentum),
                                                ("local_steps", args.local_steps),
                                                ("average_fraction", args.average_fraction))
                 if value is not None}
    if overrides.get("local_steps") == 0:
        overrides["local_steps"] = None
    return config.model_copy(update=overrides)


def participants_of(prepared: PreparedTask, config: TrainingConfig) -> list[Participant]:
    """One participant per org of the task, with its quality multiplier."""
    return [Participant(m.org_id, participant_data(m), config=config,
                        quality_multiplier=m.report.quality_multiplier)
            for m in prepared.matrices]


def dp_run(prepared: PreparedTask, epsilon: float | None, args: argparse.Namespace
           ) -> tuple[float, float, float]:
    """(mean test AUC, attack AUC, largest ε spent) of one quality-weighted federation."""
    config = training_config(args)
    definition = get_task(prepared.space.task)
    participants = participants_of(prepared, config)
    hooks = {}
    if epsilon is not None:
        hooks = attach_record_level_dp(participants, (epsilon, args.delta), config,
                                       accountant="prv", max_grad_norm=args.clip, seed=args.seed)
    result = Coordinator(participants, make_strategy("quality_weighted"), config).run(
        progress=False)
    # the delivered model, as run_task scores it (post-processing of the rounds' DP models)
    delivered = result.averaged_parameters
    aucs = [definition.score(p.data.test_y, p.predict(delivered, p.data.test_x)).get("auc")
            for p in participants]
    known = [a for a in aucs if a is not None]
    spent = max((h.engine.epsilon_spent for h in hooks.values()), default=0.0)
    return float(np.mean(known)), attack_auc(participants, delivered, args.seed), spent


def privacy_section(args: argparse.Namespace, workdir: Path) -> None:
    """Test AUC and attack AUC per task at each ε, on the synthetic federation."""
    epsilons: list[float | None] = [None, *(float(e) for e in args.epsilons.split(","))]
    config = training_config(args)
    print(f"## Privacy/utility on the synthetic federation ({args.synthetic_orgs} orgs, scale "
          f"{args.scale}, {args.mapping} mapping; quality-weighted, {config.rounds} rounds × "
          f"{config.local_epochs} local epochs, batch {config.batch_size}, {config.optimizer} lr "
          f"{config.learning_rate}, server momentum {config.server_momentum:g} for every row; "
          f"record-level DP-SGD per org, C = {args.clip:g}, "
          f"δ = {args.delta:g}; AUC: mean test AUC over orgs; attack: membership inference "
          f"AUC, 0.5 = no leakage)")
    print()
    prepared = prepared_tasks(SYNTHETIC, args, workdir)
    header = " | ".join(f"{p.space.task} AUC | {p.space.task} attack" for p in prepared)
    print(f"| ε | {header} | max ε spent | s |")
    print("|---|" + "---:|" * (2 * len(prepared) + 2))
    for epsilon in epsilons:
        started = time.perf_counter()
        runs = [dp_run(p, epsilon, args) for p in prepared]
        cells = " | ".join(f"{auc:.3f} | {attack:.3f}" for auc, attack, _ in runs)
        spent = "—" if epsilon is None else f"{max(r[2] for r in runs):.3f}"
        label = "no DP" if epsilon is None else f"{epsilon:g}"
        print(f"| {label} | {cells} | {spent} | {time.perf_counter() - started:.0f} |",
              flush=True)
    print()


def _range(text: str) -> tuple[float, float]:
    low, high = (float(v) for v in text.split(","))
    return low, high


#: where the generator keeps each task's true outcome (before label noise), per record id
TRUE_OUTCOME = {"churn": ("Account", "account.id", "truth:churned"),
                "lead_conversion": ("Lead", "lead.id", "truth:converted"),
                "win_probability": ("Opportunity", "opportunity.id", "truth:won")}


def scored_aucs(prepared: PreparedTask, participants: list[Participant], parameters: np.ndarray,
                truth: dict[str, dict[str, bool]]) -> tuple[float, float]:
    """(mean test AUC on the recorded labels, on the true outcomes) of ``parameters`` over the
    orgs of ``prepared`` (``participants`` in the same order)."""
    definition = get_task(prepared.space.task)
    recorded, true = [], []
    for matrix, participant in zip(prepared.matrices, participants, strict=True):
        scores = participant.predict(parameters, participant.data.test_x)
        outcome = np.array([truth[matrix.org_id][i] for i in matrix.ids[matrix.split == "test"]],
                           dtype=float)
        for target, into in ((participant.data.test_y, recorded), (outcome, true)):
            auc = definition.score(target, scores).get("auc")  # None when one class only
            if auc is not None:
                into.append(auc)
    return float(np.mean(recorded)), float(np.mean(true))


def _quality_run(prepared: PreparedTask, strategy: str, config: TrainingConfig,
                 truth: dict[str, dict[str, bool]]) -> tuple[float, float]:
    """(mean test AUC on the recorded labels, on the true outcomes) of one federation, with
    the model it delivers (as run_task scores the federated methods)."""
    participants = participants_of(prepared, config)
    result = Coordinator(participants, make_strategy(strategy), config).run(progress=False)
    return scored_aucs(prepared, participants, result.averaged_parameters, truth)


def quality_section(args: argparse.Namespace, workdir: Path) -> None:
    """QW − FedAvg on federations with very unequal org quality, one per seed, scored on the
    orgs' recorded test labels and on the generator's true outcomes."""
    from scipy import stats

    from fedcrm.synth import generate_federation

    config = training_config(args)
    seeds = [int(s) for s in args.quality_seeds.split(",")]
    print(f"## Quality-weighting ablation ({args.quality_orgs} synthetic orgs per federation, "
          f"scale {args.scale}, completeness {args.quality_completeness}, recency "
          f"{args.quality_recency}, label reliability {args.quality_labels}; {config.model}, "
          f"{config.rounds} rounds, server momentum {config.server_momentum:g}; mean test AUC "
          f"over orgs against the recorded labels | against the true outcomes; one federation "
          f"per seed)")
    print()
    print("| task | seed | multipliers (min–max) | FedAvg | quality-weighted | QW − FedAvg |")
    print("|---|---:|---|---:|---:|---:|")
    differences: dict[str, dict[str, list[float]]] = {"recorded": {}, "true": {}}
    ontology = load_ontology()
    for seed in seeds:
        federation = generate_federation(
            args.quality_orgs, seed=seed, scale=args.scale, accounts=DEMO_ACCOUNTS,
            completeness=_range(args.quality_completeness),
            recency=_range(args.quality_recency),
            label_reliability=_range(args.quality_labels))
        folder = federation.write(workdir / f"quality-{seed}")
        reference, inputs = read_federation(folder)
        mapping = truth_mapping(folder, [org.org_id for org in inputs])
        for task in ALL_TASKS:
            obj, id_column, column = TRUE_OUTCOME[task]
            truth = {org.org_id: dict(zip(org.latent[obj][id_column],
                                          org.latent[obj][column].astype(bool), strict=True))
                     for org in federation.orgs}
            prepared = prepare_task(task, inputs, mapping, ontology, reference, seed=seed)
            seeded = config.model_copy(update={"seed": seed})
            fedavg = _quality_run(prepared, "fedavg", seeded, truth)
            weighted = _quality_run(prepared, "quality_weighted", seeded, truth)
            multipliers = [m.report.quality_multiplier for m in prepared.matrices]
            for index, kind in enumerate(("recorded", "true")):
                differences[kind].setdefault(task, []).append(weighted[index] - fedavg[index])
            cells = [f"{fedavg[0]:.3f} \\| {fedavg[1]:.3f}",
                     f"{weighted[0]:.3f} \\| {weighted[1]:.3f}",
                     f"{100 * (weighted[0] - fedavg[0]):+.1f} \\| "
                     f"{100 * (weighted[1] - fedavg[1]):+.1f} pt"]
            print(f"| {task} | {seed} | {min(multipliers):.2f}–{max(multipliers):.2f} | "
                  + " | ".join(cells) + " |", flush=True)
    print()
    print("| scored against | task | federations | mean QW − FedAvg | seeds QW ahead | "
          "paired t-test p |")
    print("|---|---|---:|---:|---:|---:|")
    for kind, by_task in differences.items():
        for task, values in [*by_task.items(),
                             ("all tasks", [v for vs in by_task.values() for v in vs])]:
            p_value = (float(stats.ttest_1samp(values, 0.0).pvalue) if len(values) > 1
                       and np.std(values) > 0 else float("nan"))
            print(f"| {kind} | {task} | {len(values)} | {100 * float(np.mean(values)):+.2f} pt"
                  f" | {sum(v > 0 for v in values)}/{len(values)} | {p_value:.3f} |")
    print()


def round_section(args: argparse.Namespace, workdir: Path) -> None:
    """Seconds per federated round with ``--round-orgs`` orgs of ``--round-records`` records
    in total (all objects), for each task."""
    from synth import PILOT_SCALE, _records

    from fedcrm.synth import generate_federation

    pilot = generate_federation(args.round_orgs, args.seed, scale=PILOT_SCALE)
    scale = PILOT_SCALE * args.round_records / max(_records(pilot), 1)
    federation = generate_federation(args.round_orgs, args.seed, scale=scale)
    records = _records(federation)
    folder = federation.write(workdir / "round")
    reference, inputs = read_federation(folder)
    orgs = [org.org_id for org in inputs]
    mapping = truth_mapping(folder, orgs)
    config = training_config(args).model_copy(update={"rounds": 3})
    print(f"## Time per federated round: {len(orgs)} orgs, {records:,} records in all (scale "
          f"{scale:.3f}), quality-weighted, {config.local_epochs} local epochs, batch "
          f"{config.batch_size}, {torch.get_num_threads()} torch thread(s); median of "
          f"{config.rounds} rounds (configure + local training + aggregation + validation)")
    print()
    print("| task | training rows (all orgs) | features | median s/round | max s/round |")
    print("|---|---:|---:|---:|---:|")
    ontology = load_ontology()
    for task in ALL_TASKS:
        prepared = prepare_task(task, inputs, mapping, ontology, reference, seed=args.seed)
        participants = participants_of(prepared, config)
        coordinator = Coordinator(participants, make_strategy("quality_weighted"), config)
        seconds = []
        for number in range(config.rounds):
            started = time.perf_counter()
            coordinator.run_round(number)
            seconds.append(time.perf_counter() - started)
        rows = sum(p.n_samples for p in participants)
        print(f"| {task} | {rows:,} | {prepared.space.n_features} | "
              f"{float(np.median(seconds)):.2f} | {max(seconds):.2f} |", flush=True)
    print()


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections and print their tables (markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", default="all",
                        choices=["all", "compare", "privacy", "quality", "round"])
    parser.add_argument("--datasets", default=",".join(ALL_FEDERATIONS),
                        help="comma-separated federations for the compare section")
    parser.add_argument("--mapping", choices=["truth", "matcher"], default="truth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", default=None,
                        help="compare section: several seeds (\"0-19\" or \"0,3,5\") and a summary")
    parser.add_argument("--scale", type=float, default=DEMO_SCALE)
    parser.add_argument("--synthetic-orgs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=DEMO_ROUNDS)
    parser.add_argument("--model", choices=["logistic", "mlp"], default="logistic",
                        help="the torch model every method trains")
    parser.add_argument("--local-epochs", type=int, default=None,
                        help="override the demo's local epochs")
    parser.add_argument("--batch", type=int, default=None, help="override the demo's batch size")
    parser.add_argument("--local-steps", type=int, default=None,
                        help="override the demo's SGD steps per round (0: train in epochs)")
    parser.add_argument("--lr", type=float, default=None,
                        help="override the demo's learning rate")
    parser.add_argument("--server-momentum", type=float, default=None,
                        help="override the demo's server momentum (0 = plain FedAvg)")
    parser.add_argument("--average-fraction", type=float, default=None,
                        help="share of the last rounds whose global models the delivered model "
                             "averages (default: the config's 1/3; 0 = the last round's)")
    parser.add_argument("--epsilons", default="1,2,5,8,10")
    parser.add_argument("--clip", type=float, default=5.0,
                        help="DP-SGD per-example clipping norm C")
    parser.add_argument("--quality-seeds", default="0,1,2,3,4",
                        help="one quality-ablation federation per seed")
    parser.add_argument("--quality-orgs", type=int, default=8)
    parser.add_argument("--quality-completeness", default="0.3,0.98",
                        help="range each org's completeness is drawn from")
    parser.add_argument("--quality-recency", default="0.2,0.95")
    parser.add_argument("--quality-labels", default="0.05,0.95",
                        help="range each org's label reliability is drawn from")
    parser.add_argument("--round-orgs", type=int, default=10)
    parser.add_argument("--round-records", type=int, default=200_000)
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--workers", type=int, default=1,
                        help="compare: processes that train a task's methods side by side "
                             "(same models; s/round then includes their competition)")
    parser.add_argument("--root", type=Path, default=None,
                        help="the crm-datasets folder (default: ../shared/data/crm-datasets)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"command: .venv/bin/python benchmarks/federation.py "
          f"{shlex.join(argv if argv is not None else sys.argv[1:])}")
    print()
    with tempfile.TemporaryDirectory(prefix="fedcrm-bench-") as tmp:
        if args.section in ("all", "compare"):
            compare_section(args, Path(tmp))
        if args.section in ("all", "privacy"):
            privacy_section(args, Path(tmp))
        if args.section in ("all", "quality"):
            quality_section(args, Path(tmp))
        if args.section in ("all", "round"):
            round_section(args, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
