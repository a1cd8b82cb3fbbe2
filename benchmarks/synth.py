"""Benchmark the synthetic federation generator: generate a federation of about N records and
write it to disk, then print how long each step took.

    .venv/bin/python benchmarks/synth.py                      # 10 orgs, ~200k records
    .venv/bin/python benchmarks/synth.py --orgs 5 --records 1000000 --out /tmp/fed

The scale that gives ``--records`` is found with a small pilot run of the same seed (org sizes
and schemas do not depend on the scale), which is not part of the timings.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from fedcrm.synth import generate_federation

PILOT_SCALE = 0.01


def _records(federation) -> int:
    return sum(sum(org.records.values()) for org in federation.orgs)


def _folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=10)
    parser.add_argument("--records", type=int, default=200_000,
                        help="target total number of records (all objects, all orgs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder to write to (default: a temporary folder, removed after)")
    args = parser.parse_args(argv)

    pilot = generate_federation(args.orgs, args.seed, scale=PILOT_SCALE)
    scale = PILOT_SCALE * args.records / max(_records(pilot), 1)

    started = time.perf_counter()
    federation = generate_federation(args.orgs, args.seed, scale=scale)
    generated = time.perf_counter()
    temporary = args.out is None
    out = Path(tempfile.mkdtemp(prefix="fedcrm-synth-")) if temporary else args.out
    try:
        federation.write(out)
        written = time.perf_counter()
        n_files, n_bytes = _folder_size(out)
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)

    records = _records(federation)
    generate_s, write_s = generated - started, written - generated
    console = Console()
    table = Table(title="fedcrm.synth: generate and write a federation")
    for column in ("orgs", "accounts", "records", "generate (s)", "write (s)", "total (s)",
                   "records/s", "files", "MB on disk"):
        table.add_column(column, justify="right")
    table.add_row(
        str(args.orgs), f"{sum(o.profile.n_accounts for o in federation.orgs):,}",
        f"{records:,}", f"{generate_s:.2f}", f"{write_s:.2f}", f"{generate_s + write_s:.2f}",
        f"{records / (generate_s + write_s):,.0f}", f"{n_files:,}", f"{n_bytes / 1e6:.1f}",
    )
    console.print(table)

    per_object = Table(title="records per object")
    objects = ("Account", "Contact", "Lead", "Opportunity", "Case")
    for column in ("org", "lang", *objects, "custom object"):
        per_object.add_column(column, justify="left" if column in ("org", "lang") else "right")
    for org in federation.orgs:
        counts = org.records
        custom = sum(n for name, n in counts.items() if name.endswith("__c"))
        per_object.add_row(org.org_id, org.profile.language,
                           *(f"{counts[name]:,}" for name in objects), f"{custom:,}")
    console.print(per_object)
    console.print(
        f"scale {scale:.4f} (pilot at {PILOT_SCALE}), seed {args.seed}; "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}", highlight=False)
    command = " ".join(["python", "benchmarks/synth.py", *(argv if argv is not None
                                                          else sys.argv[1:])])
    console.print(f"reproduce: {command}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
