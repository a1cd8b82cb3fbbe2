"""Tables for ``fedcrm demo``."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from fedcrm._console import console, plain
from fedcrm.demo import DemoResult
from fedcrm.federation.experiment import METHODS


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def print_demo(result: DemoResult) -> None:
    """One table for matching, one per task (per org and mean), and the timing."""
    matching = result.matching
    line = (f"Matched {matching.n_fields} fields of {len(result.orgs)} orgs in "
            f"{matching.seconds:.1f} s: {matching.n_mapped} mapped to concepts, "
            f"{matching.n_custom_blocks} shared custom blocks")
    if matching.concept_precision is not None:
        line += (f"; against ground truth, custom-field precision "
                 f"{matching.concept_precision:.3f}, recall {matching.concept_recall:.3f}")
    console.print(plain(line))
    for name, task in result.tasks.items():
        methods = [m for m in METHODS if m in task.mean]
        table = Table(title=plain(f"{name}: test AUC per org ({task.n_features} features, "
                                  f"feature space {task.feature_space})", style="table.title"))
        # org ids and the per-org numbers never break; a long method name is split at its
        # underscore (quality / weighted) so the table fits 80 columns
        table.add_column("org", no_wrap=True)
        for column in ("train", "quality"):
            table.add_column(column, justify="right", no_wrap=True)
        for column in methods:
            table.add_column(column.replace("_", "\n"), justify="right", overflow="fold")
        for org in task.orgs:
            table.add_row(plain(org.org), str(org.n_train), f"{org.quality_multiplier:.2f}",
                          *(_fmt(org.metrics[m]["auc"]) for m in methods))
        table.add_section()
        table.add_row("mean", "", "", *(_fmt(task.mean[m]) for m in methods))
        if task.mean_spearman:
            table.add_row("mean Spearman", "", "",
                          *(_fmt(task.mean_spearman.get(m)) for m in methods))
        console.print(table)
        timing = ", ".join(f"{k} {v:.2f} s" for k, v in task.seconds_per_round.items())
        beside = (f" (with up to {result.workers} trainings side by side)"
                  if result.workers > 1 else "")
        console.print(plain(f"time per federated round: {timing}{beside}"))
        for skipped, reason in task.skipped_orgs.items():
            console.print(Text.assemble((f"skipped {skipped}:", "yellow"), " ", reason))
        for source, flagged_by in task.leakage.items():
            action = "left out" if source in task.left_out else "kept (an ontology feature)"
            console.print(Text.assemble(
                (f"{source} looks like target leakage", "yellow"),
                f" in {', '.join(flagged_by)} (it nearly separates part of one outcome): "
                f"{action}"))
    for name, why in result.skipped_tasks.items():
        console.print(Text.assemble((f"skipped task {name}:", "yellow"), " ", why))
    console.print(plain(
        "Each org tests on a few hundred records or fewer, so one federation's means move by "
        "several AUC points from seed to seed; docs/federation.md compares the methods over 20 "
        "federations."))
    where = "" if result.device == "cpu" else f" (the orgs trained on {result.device})"
    console.print(f"demo finished in {result.seconds:.0f} s{where}")
