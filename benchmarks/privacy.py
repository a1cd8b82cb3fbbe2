"""DP-SGD (fedcrm.privacy.RecordLevelDP over Opacus) training time vs non-private training.

Trains a logistic regression and a small MLP on a synthetic tabular problem (default 20 000
rows × 40 float32 features, binary cross-entropy), once without privacy and once with
record-level DP-SGD (per-example clipping, Gaussian noise, Poisson sampling), with the same
batch size, epochs and optimizer, and prints the median wall time of each, their ratio
(target: DP-SGD ≤ 2.5× non-private), held-out AUC, and the ε spent. Calibrating σ happens once
per plan, before training, and is reported separately.

Section "federated privacy/utility" (``--section federated``): a small federation of orgs whose
labels follow one shared logistic rule plus an org-specific intercept (the data style of
``tests/federation/helpers.logistic_org``), trained with the federated trainer
(:mod:`fedcrm.federation`) without DP and with record-level DP-SGD at each ε
(``attach_record_level_dp``). For each ε it prints the mean test AUC over the orgs and the AUC of
a loss-threshold membership-inference attack (Yeom et al. 2018, ``membership_inference_auc``)
on the global model, members = the orgs' training records, non-members = their held-out
records. The table per CRM task on the synthetic federation (fedcrm.synth) is
``benchmarks/federation.py --section privacy``.

Run:  .venv/bin/python benchmarks/privacy.py   (see --help for sizes and --section)
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedcrm.federation import (
    Coordinator,
    FedAvg,
    Participant,
    ParticipantData,
    TrainingConfig,
    attach_record_level_dp,
)
from fedcrm.federation.models import get_parameters, set_parameters
from fedcrm.privacy import RecordLevelDP, membership_inference_auc

TARGET_RATIO = 2.5


def synthetic_task(rows: int, features: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logistic ground truth (the same for every seed) with label noise, float32 features."""
    weights = torch.randn(features, generator=torch.Generator().manual_seed(12345)) / features**0.5
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, features, generator=generator)
    probability = torch.sigmoid(3 * x @ weights)
    y = (torch.rand(rows, generator=generator) < probability).float()
    return x, y


def make_model(kind: str, features: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "logistic":
        return nn.Linear(features, 1)
    return nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 1))


def run_epochs(
    model: nn.Module, optimizer: torch.optim.Optimizer, loader: DataLoader, epochs: int
) -> None:
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        for batch_x, batch_y in loader:
            optimizer.zero_grad()
            loss_fn(model(batch_x).reshape(-1), batch_y).backward()
            optimizer.step()


def auc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(roc_auc_score(y.numpy(), model(x).reshape(-1).numpy()))


def measure(
    args: argparse.Namespace,
    kind: str,
    batch_size: int,
    dataset: TensorDataset,
    test: tuple[torch.Tensor, torch.Tensor],
) -> dict[str, float | str | int]:
    """Median times of non-private and DP-SGD training for one model and batch size."""

    def loader() -> DataLoader:
        return DataLoader(dataset, batch_size=batch_size, shuffle=True)

    plan_start = time.perf_counter()
    plan = RecordLevelDP.from_budget(
        "benchmark",
        epsilon=args.epsilon,
        delta=args.delta,
        n_samples=len(dataset),
        batch_size=batch_size,
        rounds=1,
        local_epochs=args.epochs,
        accountant=args.accountant,
    ).plan
    calibration_seconds = time.perf_counter() - plan_start

    plain_times, private_times = [], []
    plain_auc = private_auc = spent = 0.0
    for repeat in range(args.repeats + 1):  # repeat 0 warms up and is not counted
        model = make_model(kind, args.features, seed=repeat)
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
        start = time.perf_counter()
        run_epochs(model, optimizer, loader(), args.epochs)
        plain_seconds = time.perf_counter() - start
        plain_auc = auc(model, *test)

        engine = RecordLevelDP(plan)
        model = make_model(kind, args.features, seed=repeat)
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
        start = time.perf_counter()
        module, private_optimizer, private_loader = engine.wrap(
            model, optimizer, loader(), grad_sample_mode=args.grad_sample_mode
        )
        run_epochs(module, private_optimizer, private_loader, args.epochs)
        engine.record_round()
        private_seconds = time.perf_counter() - start
        private_auc, spent = auc(model, *test), engine.get_epsilon()
        if repeat > 0:
            plain_times.append(plain_seconds)
            private_times.append(private_seconds)
    plain_median, private_median = statistics.median(plain_times), statistics.median(private_times)
    # each repeat times the two back to back, so the per-repeat ratio is robust to other load
    # on the machine; report the median of those ratios
    ratio = statistics.median(p / n for p, n in zip(private_times, plain_times, strict=True))
    return {
        "model": kind,
        "batch": batch_size,
        "steps": plan.steps_per_round,
        "sigma": plan.noise_multiplier,
        "calibration_s": calibration_seconds,
        "plain_s": plain_median,
        "private_s": private_median,
        "ratio": ratio,
        "plain_auc": plain_auc,
        "private_auc": private_auc,
        "epsilon": spent,
    }


# --------------------------------------------------------------------- federated privacy/utility
#: org-specific intercepts, cycled over the orgs (as in tests/federation/helpers.logistic_org)
ORG_SHIFTS = (0.3, -0.2, 0.0, 0.4)


def logistic_org_data(n: int, shift: float, seed: int, n_features: int) -> ParticipantData:
    """One org: labels from the shared logistic rule (fixed weights) plus the org's intercept;
    70 % train, 15 % validation, 15 % test."""
    weights = np.random.default_rng(99).normal(size=n_features) * 3 / n_features**0.5
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, n_features)).astype(np.float32)
    probability = 1 / (1 + np.exp(-(features @ weights + shift)))
    labels = (rng.random(n) < probability).astype(np.float32)
    train_end, validation_end = int(n * 0.7), int(n * 0.85)
    return ParticipantData(
        features[:train_end], labels[:train_end],
        features[train_end:validation_end], labels[train_end:validation_end],
        features[validation_end:], labels[validation_end:],
    )


def attack_auc(participants: list[Participant], parameters: np.ndarray, seed: int) -> float:
    """Loss-threshold membership inference against the global model.

    Members: training records; non-members: the same orgs' validation and test records (never
    trained on). Per org as many members as non-members are drawn, so the pooled sets have the
    same mix of orgs and the attack cannot win by telling orgs apart.
    """
    model = participants[0].new_model()
    set_parameters(model, parameters)
    rng = np.random.default_rng(seed)
    members_x, members_y, outsiders_x, outsiders_y = [], [], [], []
    for participant in participants:
        data = participant.data
        held_out_x = np.vstack([data.validation_x, data.test_x])
        held_out_y = np.concatenate([data.validation_y, data.test_y])
        rows = rng.choice(len(data.train_y), size=len(held_out_y), replace=False)
        members_x.append(data.train_x[rows])
        members_y.append(data.train_y[rows])
        outsiders_x.append(held_out_x)
        outsiders_y.append(held_out_y)
    return membership_inference_auc(
        model, np.vstack(members_x), np.concatenate(members_y),
        np.vstack(outsiders_x), np.concatenate(outsiders_y),
    )


def federation_participants(args: argparse.Namespace, config: TrainingConfig,
                            seed: int) -> list[Participant]:
    """The section's orgs for one seed."""
    sizes = [int(size) for size in args.fed_orgs.split(",")]
    return [
        Participant(
            f"org{i}",
            logistic_org_data(n, ORG_SHIFTS[i % len(ORG_SHIFTS)], seed * 100 + i,
                              args.fed_features),
            config=config,
        )
        for i, n in enumerate(sizes)
    ]


def federation_config(args: argparse.Namespace, seed: int) -> TrainingConfig:
    """The section's training settings for one seed."""
    return TrainingConfig(
        rounds=args.fed_rounds, local_epochs=args.fed_local_epochs, batch_size=args.fed_batch,
        learning_rate=args.fed_lr, optimizer=args.fed_optimizer, model=args.fed_model,
        hidden=(64, 32), seed=seed,
        # gating off: this section measures what DP noise costs, not what rollbacks cost
        validation_tolerance=1.0,
    )


def run_federation(
    args: argparse.Namespace, epsilon: float | None, seed: int
) -> dict[str, float]:
    """One federation (no DP when ``epsilon`` is None): test AUC, attack AUC, ε spent."""
    config = federation_config(args, seed)
    participants = federation_participants(args, config, seed)
    hooks = {}
    if epsilon is not None:
        hooks = attach_record_level_dp(
            participants, (epsilon, args.delta), config, accountant=args.accountant,
            max_grad_norm=1.0, seed=seed,
        )
    result = Coordinator(participants, FedAvg(), config).run(progress=False)
    # the delivered model (the mean of the last rounds' models): post-processing, covered by ε
    return {
        "test_auc": result.averaged_mean_test_auc,
        "attack_auc": attack_auc(participants, result.averaged_parameters, seed),
        "epsilon_spent": max((h.engine.epsilon_spent for h in hooks.values()), default=0.0),
    }


def federated_section(args: argparse.Namespace) -> None:
    """Print the federated privacy/utility table."""
    epsilons: list[float | None] = [None, *(float(e) for e in args.fed_epsilons.split(","))]
    seeds = range(args.fed_seeds)
    rows = []
    for epsilon in epsilons:
        start = time.perf_counter()
        runs = [run_federation(args, epsilon, seed) for seed in seeds]
        rows.append((epsilon, runs, (time.perf_counter() - start) / len(runs)))
    # the attack against the untrained initial model: how far from 0.5 the estimate strays by
    # chance alone with this many members and non-members
    untrained = []
    for seed in seeds:
        participants = federation_participants(args, federation_config(args, seed), seed)
        initial = get_parameters(participants[0].new_model_seeded())
        untrained.append(attack_auc(participants, initial, seed))

    print(
        f"Federated privacy/utility: {len(args.fed_orgs.split(','))} orgs of "
        f"{args.fed_orgs} records × {args.fed_features} features (shared logistic rule + "
        f"org intercept, logistic_org-style; 70/15/15 split), {args.fed_model} model, FedAvg, "
        f"{args.fed_rounds} rounds × {args.fed_local_epochs} local epochs, batch "
        f"{args.fed_batch}, {args.fed_optimizer} lr {args.fed_lr}, validation gating off; "
        f"the delivered model (mean of the last third of the rounds' models); mean ± std over "
        f"{args.fed_seeds} seeds (data, model and DP noise)"
    )
    print(
        f"DP: record-level DP-SGD per org (Opacus, Poisson sampling, C=1.0), one "
        f"(ε, δ={args.delta:g}) budget per org, {args.accountant} accountant. Attack: "
        f"loss-threshold membership inference (Yeom et al. 2018) on the global model; "
        f"0.5 = no leakage. "
        f"Smaller ε is stronger privacy."
    )
    print(
        "The table per CRM task on the synthetic federation: benchmarks/federation.py "
        "--section privacy."
    )
    print()
    print("| ε | mean test AUC | attack AUC | max ε spent | s per run |")
    print("|---|---:|---:|---:|---:|")
    for epsilon, runs, seconds in rows:
        test = [r["test_auc"] for r in runs if r["test_auc"] is not None]
        attack = [r["attack_auc"] for r in runs]
        label = "no DP" if epsilon is None else f"{epsilon:g}"
        spent = "—" if epsilon is None else f"{max(r['epsilon_spent'] for r in runs):.3f}"
        tested = f"{statistics.mean(test):.3f} ± {_std(test):.3f}" if test else "n/a"
        print(
            f"| {label} | {tested} | "
            f"{statistics.mean(attack):.3f} ± {_std(attack):.3f} | {spent} | {seconds:.1f} |"
        )
    print()
    print(
        f"attack AUC against the untrained initial model (the estimate's noise floor): "
        f"{statistics.mean(untrained):.3f} ± {_std(untrained):.3f}"
    )


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def timing_section(args: argparse.Namespace) -> None:
    """Print the DP-SGD vs non-private training-time table."""
    x, y = synthetic_task(args.rows, args.features, seed=0)
    test = synthetic_task(5_000, args.features, seed=1)
    dataset = TensorDataset(x, y)
    results = [
        measure(args, kind.strip(), int(batch), dataset, test)
        for batch in args.batch_sizes.split(",")
        for kind in args.models.split(",")
    ]

    print(
        f"DP-SGD vs non-private training: {args.rows} rows × {args.features} float32 features, "
        f"{args.epochs} epochs, SGD lr {args.lr}, BCE loss; torch {torch.__version__} on "
        f"{torch.get_num_threads()} thread(s), grad_sample_mode={args.grad_sample_mode}; "
        f"median of {args.repeats} runs after one warm-up (ratio: median of per-run ratios)"
    )
    print(
        f"DP: ε={args.epsilon:g}, δ={args.delta:g}, {args.accountant} accountant, C=1.0, "
        f"Poisson sampling; σ calibrated once per batch size (time in the last column)"
    )
    print()
    print(
        "| model | batch | steps | σ | non-private s | DP-SGD s | ratio | AUC non-private "
        "| AUC DP | ε spent | calibration s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['model']} | {r['batch']} | {r['steps']} | {r['sigma']:.3f} | "
            f"{r['plain_s']:.3f} | {r['private_s']:.3f} | {r['ratio']:.2f}× | "
            f"{r['plain_auc']:.3f} | {r['private_auc']:.3f} | {r['epsilon']:.3f} | "
            f"{r['calibration_s']:.2f} |"
        )
    worst = max(float(r["ratio"]) for r in results)
    verdict = "met" if worst <= TARGET_RATIO else "NOT met"
    print()
    print(f"target DP-SGD ≤ {TARGET_RATIO}× non-private: {verdict} (worst {worst:.2f}×)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-sizes", default="256,512", help="comma-separated")
    parser.add_argument("--models", default="logistic,mlp", help="comma-separated")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epsilon", type=float, default=3.0)
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--accountant", choices=["prv", "rdp"], default="prv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grad-sample-mode", choices=["hooks", "ew", "functorch"], default="hooks")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--section", choices=["all", "timing", "federated"], default="all")
    federated = parser.add_argument_group("federated privacy/utility")
    federated.add_argument("--fed-orgs", default="300,500,800,1200",
                           help="records per org, comma-separated")
    federated.add_argument("--fed-features", type=int, default=60)
    federated.add_argument("--fed-model", choices=["logistic", "mlp"], default="mlp")
    federated.add_argument("--fed-rounds", type=int, default=20)
    federated.add_argument("--fed-local-epochs", type=int, default=5)
    federated.add_argument("--fed-batch", type=int, default=32)
    federated.add_argument("--fed-optimizer", choices=["sgd", "adam"], default="sgd")
    federated.add_argument("--fed-lr", type=float, default=0.1)
    federated.add_argument("--fed-epsilons", default="1,2,5,8,10", help="comma-separated")
    federated.add_argument("--fed-seeds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.section in ("all", "timing"):
        timing_section(args)
    if args.section == "all":
        print()
    if args.section in ("all", "federated"):
        federated_section(args)
    command = " ".join(
        shlex.quote(part) for part in [".venv/bin/python", "benchmarks/privacy.py", *sys.argv[1:]]
    )
    print(f"reproduce: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
