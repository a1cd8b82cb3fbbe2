"""CPU against CUDA for the two paths a GPU can take: sentence embeddings and local training
(plain SGD and record-level DP-SGD), on the machine the script runs on.

    .venv/bin/python benchmarks/device.py                       # both sections
    .venv/bin/python benchmarks/device.py --section embeddings --repeat 3
    .venv/bin/python benchmarks/device.py --section training --records 100000

Section ``embeddings``: the label and the "object · label · description" text of every field
of the annotation corpus' synthetic schemas (``annotations/schemas``), encoded by the
matcher's embedder (all-MiniLM-L6-v2 unless ``--model``) on each device and precision, after a
warm-up; texts per second (best of ``--repeat``), and how far each configuration's vectors are
from the CPU float32 ones (lowest cosine, and the share of texts whose nearest other text
changes: what the matcher's similarity features would notice).

Section ``training``: one participant with ``--records`` synthetic records (a logistic rule
over ``--features`` standard-normal columns), one local round of one epoch from the seeded
initial model, as :meth:`fedcrm.federation.Participant.train` runs it, for each model
(logistic, the MLP), batch size, device and privacy mode (none, record-level DP-SGD with
Opacus at ε = 8 over 10 rounds); seconds per round (best of ``--repeat``), the validation AUC
after the round and the ε it spent.

Devices the machine lacks are left out (without a GPU only the CPU rows print). Nothing here
is a unit test: it measures, and prints the table with the command that made it.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from fedcrm.federation import ParticipantData, TrainingConfig

# each section imports what it needs, so one runs where the other's packages are missing

COMMAND = "benchmarks/device.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def machine() -> str:
    cpu = f"{platform.machine()}, {torch.get_num_threads()} torch threads"
    if torch.cuda.is_available():
        return f"{cpu}; GPU {torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{cpu}; no GPU, torch {torch.__version__}"


def synchronise(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# ----------------------------------------------------------------------------- embeddings
def corpus_texts(root: Path) -> list[str]:
    """Two texts per field of the corpus' synthetic schemas, as a matcher meets them."""
    from fedcrm.schema.models import OrgSchema

    texts: list[str] = []
    for path in sorted((root / "schemas").glob("*.json")):
        schema = OrgSchema.model_validate_json(path.read_text(encoding="utf-8"))
        for sobject, field in schema.iter_fields():
            label = field.label or field.api_name
            texts.append(label)
            texts.append(" · ".join(part for part in (sobject.label or sobject.api_name, label,
                                                      field.description or "") if part))
    return list(dict.fromkeys(texts))


def nearest_other(vectors: np.ndarray) -> np.ndarray:
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    return similarity.argmax(axis=1)


def embeddings_section(args: argparse.Namespace) -> list[dict[str, object]]:
    from fedcrm.matching.embeddings import Embedder

    texts = corpus_texts(REPO / "annotations")
    warm = [f"warm-up {text}" for text in texts[:256]]
    rows: list[dict[str, object]] = []
    reference: np.ndarray | None = None
    for device in devices():
        for precision in ("float32", "bfloat16"):
            best = float("inf")
            vectors = np.zeros(0)
            for _ in range(args.repeat):
                embedder = Embedder(args.model, device=device, precision=precision,
                                    batch_size=args.batch_size)
                embedder.encode(warm)  # loads the model, compiles kernels
                synchronise(device)
                started = time.perf_counter()
                vectors = embedder.encode(texts)
                synchronise(device)
                best = min(best, time.perf_counter() - started)
            if reference is None:
                reference = vectors
            cosine = np.sum(vectors * reference, axis=1)
            changed = float(np.mean(nearest_other(vectors) != nearest_other(reference)))
            rows.append({"device": device, "precision": precision, "texts": len(texts),
                         "seconds": round(best, 3), "texts_per_s": round(len(texts) / best),
                         "lowest_cosine_to_cpu_fp32": round(float(cosine.min()), 5),
                         "nearest_text_changed": round(changed, 4)})
            print(rows[-1], flush=True)
    return rows


# ------------------------------------------------------------------------------ training
def synthetic_org(records: int, features: int, seed: int = 0) -> ParticipantData:
    from fedcrm.federation import ParticipantData

    rng = np.random.default_rng(seed)
    weights = rng.normal(size=features) / np.sqrt(features) * 2
    x = rng.normal(size=(records, features)).astype(np.float32)
    y = (rng.random(records) < 1 / (1 + np.exp(-(x @ weights - 0.5)))).astype(np.float32)
    a, b = int(records * 0.7), int(records * 0.85)
    return ParticipantData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


def one_round(data: ParticipantData, config: TrainingConfig, dp: bool,
              workdir: Path) -> tuple[float, float, float | None]:
    """Seconds of one local round, validation AUC after it, ε spent (with DP)."""
    from fedcrm.federation import Participant
    from fedcrm.federation.models import get_parameters
    from fedcrm.federation.privacy import attach_record_level_dp

    participant = Participant("org", data, config=config)
    hooks = {}
    if dp:
        hooks = attach_record_level_dp([participant], {"org": (8.0, 1e-5)}, config,
                                       workdir / f"ledger-{time.monotonic_ns()}.jsonl",
                                       accountant="rdp", seed=0)
    start = get_parameters(participant.new_model_seeded())  # an MLP cannot start at zero
    synchronise(config.device)
    started = time.perf_counter()
    update = participant.train(start, 0)
    synchronise(config.device)
    seconds = time.perf_counter() - started
    scores = participant.predict(start + update.delta, data.validation_x)
    auc = float(roc_auc_score(data.validation_y, scores))
    spent = hooks["org"].engine.epsilon_spent if dp else None
    return seconds, auc, spent


def training_section(args: argparse.Namespace) -> list[dict[str, object]]:
    from fedcrm.federation import TrainingConfig

    data = synthetic_org(args.records, args.features)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="fedcrm-device-") as folder:
        workdir = Path(folder)
        for model in ("logistic", "mlp"):
            for batch_size in args.batch_sizes:
                for dp in (False, True):
                    for device in devices():
                        config = TrainingConfig(rounds=10, local_epochs=1, model=model,
                                                batch_size=batch_size, learning_rate=0.05,
                                                device=device, seed=0)
                        # warm-up: CUDA context, kernels, Opacus' hooks
                        one_round(synthetic_org(2048, args.features, seed=1), config, dp,
                                  workdir)
                        runs = [one_round(data, config, dp, workdir)
                                for _ in range(args.repeat)]
                        seconds = min(run[0] for run in runs)
                        _, auc, spent = runs[0]
                        rows.append({"model": model, "batch": batch_size,
                                     "dp": "DP-SGD" if dp else "none", "device": device,
                                     "records": args.records,
                                     "seconds_per_round": round(seconds, 3),
                                     "validation_auc": round(auc, 4),
                                     "epsilon_spent": None if spent is None
                                     else round(spent, 4)})
                        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------------------------- main
def print_table(title: str, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    print(f"\n{title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join("n/a" if row[c] is None else str(row[c]) for c in columns)
              + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", choices=["all", "embeddings", "training"], default="all")
    parser.add_argument("--repeat", type=int, default=2, help="timed repetitions (best kept)")
    parser.add_argument("--model", default=None, help="embedding model folder")
    parser.add_argument("--batch-size", type=int, default=128, help="embedding batch size")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=40)
    parser.add_argument("--batch-sizes", type=lambda s: [int(v) for v in s.split(",")],
                        default=[64, 1024], help="training batch sizes, comma-separated")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    if args.repeat < 1 or args.records < 100 or args.features < 1:
        parser.error("--repeat ≥ 1, --records ≥ 100 and --features ≥ 1")
    print(f"machine: {machine()}", flush=True)
    results: dict[str, list[dict[str, object]]] = {}
    if args.section in ("all", "embeddings"):
        results["embeddings"] = embeddings_section(args)
    if args.section in ("all", "training"):
        results["training"] = training_section(args)
    print(f"\n`{COMMAND.strip()}` on {machine()}")
    print_table("Embeddings (texts of the corpus' synthetic schemas)",
                results.get("embeddings", []))
    print_table("One local round (one epoch from the seeded initial model)",
                results.get("training", []))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine(), "command": COMMAND,
                                         **results}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
