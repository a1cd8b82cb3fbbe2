"""DP-SGD (fedcrm.privacy.RecordLevelDP over Opacus) training time vs non-private training.

Trains a logistic regression and a small MLP on a synthetic tabular problem (default 20 000
rows × 40 float32 features, binary cross-entropy), once without privacy and once with
record-level DP-SGD (per-example clipping, Gaussian noise, Poisson sampling), with the same
batch size, epochs and optimizer, and prints the median wall time of each, their ratio
(target: DP-SGD ≤ 2.5× non-private), held-out AUC, and the ε spent. Calibrating σ happens once
per plan, before training, and is reported separately.

Run:  .venv/bin/python benchmarks/privacy.py   (see --help for sizes)
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time

import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fedcrm.privacy import RecordLevelDP

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
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

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
    command = " ".join(
        shlex.quote(part) for part in [".venv/bin/python", "benchmarks/privacy.py", *sys.argv[1:]]
    )
    print(f"reproduce: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
