"""How many org picklist values land on their true canonical code.

Every org written by ``fedcrm synth`` or ``fedcrm datasets export`` records in ``units.json``
the true code of each value of each picklist mapped to a concept with a value set. This script
writes synthetic federations and the real datasets to a temporary folder, maps each such
picklist's distinct values with :class:`fedcrm.features.values.ValueMapper`, as
:func:`fedcrm.features.convert.convert_field` does (ground-truth field mapping), and counts the
values that land on the true code, on the set's ``other`` code, or on a wrong code: once with
whole-value lookup only (``search_inside=False``, the converter before 2026-11-26) and once
with spellings looked for inside values (the default).

    .venv/bin/python benchmarks/values.py
    .venv/bin/python benchmarks/values.py --seeds 0-9 --datasets telco-churn
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from federation import _seeds  # benchmarks/federation.py, beside this script
from rich.console import Console
from rich.table import Table

from fedcrm.datasets import LOADERS, load_dataset
from fedcrm.demo import DEMO_ACCOUNTS
from fedcrm.features.values import ValueMapper
from fedcrm.ontology import Ontology, Usage, load_ontology
from fedcrm.synth import generate_federation


@dataclass
class Counts:
    """Distinct values by where they landed."""

    right: int = 0
    other: int = 0
    wrong: int = 0

    @property
    def total(self) -> int:
        return self.right + self.other + self.wrong


def count(folder: Path, ontology: Ontology, search_inside: bool) -> Counts:
    """Convert every value-mapped picklist of every org under ``folder``; tally the codes."""
    counts = Counts()
    for units_file in sorted(folder.glob("*/units.json")):
        for entry in json.loads(units_file.read_text(encoding="utf-8")).values():
            if "concept" not in entry or not entry.get("value_map"):
                continue
            concept = ontology.concept(entry["concept"])
            if not concept.value_set:
                continue
            value_set = ontology.value_set(concept.value_set)
            mapper = ValueMapper(value_set, search_inside=search_inside,
                                 label=concept.usage is Usage.LABEL)
            for value, true_code in entry["value_map"].items():
                code = mapper.code(value) or value_set.other
                if code == true_code:
                    counts.right += 1
                elif code == value_set.other:
                    counts.other += 1
                else:
                    counts.wrong += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-4", help="synthetic federations (e.g. 0-4)")
    parser.add_argument("--orgs", type=int, default=5, help="orgs per synthetic federation")
    parser.add_argument("--scale", type=float, default=0.02, help="synthetic org size")
    parser.add_argument("--datasets", default=",".join(LOADERS),
                        help="real datasets, comma-separated ('' for none)")
    parser.add_argument("--max-rows", type=int, default=2000, help="rows per real dataset")
    args = parser.parse_args(argv)
    ontology = load_ontology()
    started = time.perf_counter()
    rows: list[tuple[str, Counts, Counts]] = []
    with tempfile.TemporaryDirectory(prefix="fedcrm-values-") as workdir:
        synthetic: list[Path] = []
        for seed in _seeds(args.seeds):
            out = Path(workdir) / f"synthetic-{seed}"
            generate_federation(args.orgs, seed=seed, scale=args.scale,
                                accounts=DEMO_ACCOUNTS).write(out)
            synthetic.append(out)
        if synthetic:
            pair = [Counts(), Counts()]
            for out in synthetic:
                for index, inside in enumerate((False, True)):
                    found = count(out, ontology, inside)
                    pair[index].right += found.right
                    pair[index].other += found.other
                    pair[index].wrong += found.wrong
            rows.append((f"synthetic (seeds {args.seeds}, {args.orgs} orgs each)", *pair))
        for name in filter(None, args.datasets.split(",")):
            out = load_dataset(name, max_rows=args.max_rows).write(Path(workdir) / name)
            rows.append((name, count(out, ontology, False), count(out, ontology, True)))
    table = Table(title="Distinct picklist values on their true code: whole value → inside too")
    for column in ("source", "values", "right", "other", "wrong"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, before, after in rows:
        if not after.total:
            table.add_row(source, "0", "–", "–", "–")
            continue
        table.add_row(source, str(after.total),
                      f"{before.right / before.total:.3f} → {after.right / after.total:.3f}",
                      f"{before.other} → {after.other}", f"{before.wrong} → {after.wrong}")
    console = Console()
    console.print(table)
    console.print(f"{time.perf_counter() - started:.0f} s; reproduce: .venv/bin/python "
                  f"benchmarks/values.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
