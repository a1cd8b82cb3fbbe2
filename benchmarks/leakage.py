"""What the target-leakage screen flags, on the synthetic federations, the real CRM datasets and
the raw lead-scoring file (before its loader drops the columns the dataset's description calls
leakage).

    .venv/bin/python benchmarks/leakage.py                      # seeds 0-4, every dataset
    .venv/bin/python benchmarks/leakage.py --seeds 0-1 --datasets synthetic

For each federation, task and seed: the sources any org flagged (``fedcrm.features.leakage``,
default thresholds), the orgs that flagged them, the share of the isolated outcome and of the
other one, and what ``prepare_task`` did with them (left out / kept). Orgs too small to screen
are counted. The raw lead file is screened per ``Lead Origin`` with every categorical column
one-hot encoded (40 most frequent values) and every numeric column as is.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from federation import _seeds, prepared_tasks  # benchmarks/federation.py, beside this script
from tasks import ALL_FEDERATIONS

from fedcrm.datasets.leads import DEFINITION as LEADS
from fedcrm.datasets.leads import FILE as LEADS_FILE
from fedcrm.datasets.source import resolve_root
from fedcrm.demo import DEMO_SCALE
from fedcrm.features.leakage import screen_leakage


def federations(args: argparse.Namespace) -> None:
    """One row per flagged source (and one per task that flagged nothing)."""
    print("| federation | task | seed | orgs screened | flagged source | by | isolated outcome "
          "share / other share | done |")
    print("|---|---|---:|---:|---|---|---|---|")
    for seed in _seeds(args.seeds):
        run = argparse.Namespace(synthetic_orgs=args.synthetic_orgs, seed=seed,
                                 scale=args.scale, mapping="truth", root=args.root)
        for name in args.datasets.split(","):
            with tempfile.TemporaryDirectory(prefix="fedcrm-leak-") as tmp:
                prepared_list = prepared_tasks(name, run, Path(tmp))
            for prepared in prepared_list:
                task = prepared.space.task.value
                screened = sum(m.report.leakage is not None for m in prepared.matrices)
                head = f"| {name} | {task} | {seed} | {screened}/{len(prepared.matrices)}"
                if not prepared.leakage:
                    print(f"{head} | – | | | |")
                    continue
                for source, orgs in sorted(prepared.leakage.items()):
                    shares = "; ".join(
                        f"{f.column}: y={f.outcome} {f.share:.2f} / {f.other_share:.3f}"
                        for m in prepared.matrices for f in m.report.leakage or []
                        if f.column == source or f.column.startswith((f"{source}=",
                                                                        f"{source}#")))
                    done = "left out" if source in prepared.left_out else "kept"
                    print(f"{head} | {source} | {', '.join(orgs)} | {shares} | {done} |",
                          flush=True)
    print()


def raw_leads(root: Path | None) -> None:
    """The raw lead-scoring file, one org per ``Lead Origin``."""
    frame = pd.read_csv(resolve_root(root) / LEADS.folder / LEADS_FILE, dtype=str,
                        keep_default_na=False)
    y = (frame["Converted"].str.strip() == "1").to_numpy(dtype=float)
    columns: dict[str, np.ndarray] = {}
    for column in frame.columns:
        if column in ("Converted", "Prospect ID", "Lead Number"):
            continue
        values = frame[column].str.strip().replace("Select", "")
        numbers = pd.to_numeric(values, errors="coerce")
        filled = values != ""
        if filled.any() and numbers[filled].notna().mean() > 0.9:
            columns[column] = numbers.fillna(-1).to_numpy()
            columns[f"{column}#missing"] = numbers.isna().to_numpy(dtype=float)
        else:
            for value in values[filled].value_counts().index[:40]:
                columns[f"{column}={value}"] = (values == value).to_numpy(dtype=float)
    names = list(columns)
    x = np.stack([columns[name] for name in names], axis=1)
    print("| raw lead file: org (Lead Origin) | leads | flagged column: isolated outcome "
          "share / other share |")
    print("|---|---:|---|")
    for origin, rows in frame.groupby("Lead Origin"):
        index = rows.index.to_numpy()
        findings = screen_leakage(x[index], y[index], names)
        text = ("not screened (too small)" if findings is None else
                "; ".join(f"{f.column}: y={f.outcome} {f.share:.2f} / {f.other_share:.3f}"
                          for f in findings) or "–")
        print(f"| {origin} | {len(index)} | {text} |", flush=True)
    print()


def main(argv: list[str] | None = None) -> int:
    """Print both tables (markdown)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-4", help='"0-4" or "0,3"')
    parser.add_argument("--datasets", default=",".join(ALL_FEDERATIONS))
    parser.add_argument("--scale", type=float, default=DEMO_SCALE)
    parser.add_argument("--synthetic-orgs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=None,
                        help="the crm-datasets folder (default: ../shared/data/crm-datasets)")
    args = parser.parse_args(argv)
    print(f"command: .venv/bin/python benchmarks/leakage.py "
          f"{shlex.join(argv if argv is not None else sys.argv[1:])}")
    print()
    federations(args)
    raw_leads(args.root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
