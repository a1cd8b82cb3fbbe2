"""The annotation active-learning loop: ask for the labels that improve the matcher most.

* :mod:`~fedcrm.annotate.strategies` — query strategies (margin / entropy uncertainty,
  downstream impact, diversity, random) composed by wrapping;
* :mod:`~fedcrm.annotate.impact` — per-concept weights: from the ontology, or from a trained
  downstream model's permutation importance;
* :mod:`~fedcrm.annotate.exchange` — task files for annotators (JSONL, CSV, Label Studio);
* :mod:`~fedcrm.annotate.merge` — validated import into ``annotations/`` with provenance and
  loud conflicts, also for review decisions;
* :mod:`~fedcrm.annotate.loop` — rounds: select → export → import → retrain → evaluate on
  held-out orgs → learning curve (JSON + PNG).

The command line is :mod:`fedcrm.annotate.cli` (``fedcrm annotate …``).
"""

from __future__ import annotations

from fedcrm.annotate.exchange import (
    AnnotationTask,
    Answer,
    AnswerSheet,
    make_tasks,
    read_answers,
    write_label_studio_export,
    write_tasks,
)
from fedcrm.annotate.impact import (
    ImpactWeights,
    default_concept_weights,
    downstream_impact_weights,
    load_weights,
    permutation_importance,
    synthetic_impact_weights,
)
from fedcrm.annotate.loop import (
    AnnotationLoop,
    CurvePoint,
    LearningCurve,
    held_out_scores,
    truth_oracle,
)
from fedcrm.annotate.merge import (
    Conflict,
    LabelConflictError,
    MergeReport,
    import_answers,
    import_review_labels,
    merge_answers,
)
from fedcrm.annotate.plot import plot_learning_curve
from fedcrm.annotate.pool import (
    NO_CONCEPT,
    PoolField,
    load_annotations,
    score_pool,
    training_corpus,
    training_view,
)
from fedcrm.annotate.strategies import (
    DEFAULT_STRATEGY,
    Diverse,
    Entropy,
    Explore,
    Impact,
    Margin,
    Product,
    Query,
    QueryStrategy,
    RandomSampling,
    make_strategy,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "NO_CONCEPT",
    "AnnotationLoop",
    "AnnotationTask",
    "Answer",
    "AnswerSheet",
    "Conflict",
    "CurvePoint",
    "Diverse",
    "Entropy",
    "Explore",
    "Impact",
    "ImpactWeights",
    "LabelConflictError",
    "LearningCurve",
    "Margin",
    "MergeReport",
    "PoolField",
    "Product",
    "Query",
    "QueryStrategy",
    "RandomSampling",
    "default_concept_weights",
    "downstream_impact_weights",
    "held_out_scores",
    "import_answers",
    "import_review_labels",
    "load_annotations",
    "load_weights",
    "make_strategy",
    "make_tasks",
    "merge_answers",
    "permutation_importance",
    "plot_learning_curve",
    "read_answers",
    "score_pool",
    "synthetic_impact_weights",
    "training_corpus",
    "training_view",
    "truth_oracle",
    "write_label_studio_export",
    "write_tasks",
]
