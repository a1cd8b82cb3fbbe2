"""The learning-curve plot: labels spent vs precision, coverage and pairwise F1."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fedcrm.errors import ConfigError

if TYPE_CHECKING:
    from fedcrm.annotate.loop import LearningCurve

_PANELS = (("precision", "precision (accepted mappings)"),
           ("coverage", "coverage (fields mapped)"),
           ("pair_f1", "pairwise F1 (cross-org blocks)"))


def plot_learning_curve(curve: LearningCurve, path: str | Path, *, title: str | None = None
                        ) -> Path:
    """Draw one line per strategy in three panels and write a PNG to ``path``.

    Uses matplotlib's object API (no pyplot state), so it is safe in servers and threads.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("drawing the learning curve needs matplotlib: pip install "
                          "matplotlib") from exc
    figure = Figure(figsize=(13, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(_PANELS))
    targets = {"precision": curve.target_precision, "coverage": curve.target_coverage}
    for axis, (metric, heading) in zip(axes, _PANELS, strict=True):
        for strategy in curve.strategies:
            points = curve.curve(strategy)
            axis.plot([p.labels_spent for p in points], [getattr(p, metric) for p in points],
                      marker="o", markersize=3, linewidth=1.5, label=strategy)
        target = targets.get(metric)
        if target is not None:
            axis.axhline(target, color="grey", linestyle="--", linewidth=1,
                         label=f"target {target:.2f}")
        axis.set_title(heading, fontsize=10)
        axis.set_xlabel("labels spent")
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    held = ", ".join(curve.held_out) if len(curve.held_out) <= 4 else \
        f"{len(curve.held_out)} orgs"
    figure.suptitle(title or f"Active learning, measured on held-out {held}", fontsize=11)
    target_path = Path(path)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target_path, dpi=110)
    return target_path
