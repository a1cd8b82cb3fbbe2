"""Turn a candidate's feature contributions into sentences a data steward understands.

LightGBM's ``pred_contrib`` gives each feature's additive contribution (SHAP values for trees,
Lundberg et al. 2020, "From local explanations to global understanding with explainable AI
for trees") to the candidate's log-odds. The largest contributions, positive and negative,
become the candidate's evidence, each with the measured value behind it — the same
"score = sum of readable parts" idea as splink's match weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from fedcrm.matching.features import FEATURE_NAMES
from fedcrm.matching.types import FAMILIES

Phrase = Callable[[float, dict[str, str]], str]


def _pct(value: float) -> str:
    return f"{value:.0%}"


PHRASES: dict[str, Phrase] = {
    "name_tset": lambda v, c: f"API name words match '{c['best_name']}' ({_pct(v)} of words)",
    "name_partial": lambda v, c: f"API name contains '{c['best_name']}' ({_pct(v)})",
    "name_ratio": lambda v, c: f"API name spelled like '{c['best_name']}' ({_pct(v)})",
    "label_tset": lambda v, c: f"label words match '{c['best_name']}' ({_pct(v)})",
    "label_partial": lambda v, c: f"label contains '{c['best_name']}' ({_pct(v)})",
    "label_ratio": lambda v, c: f"label spelled like '{c['best_name']}' ({_pct(v)})",
    "token_coverage": lambda v, c: f"{_pct(v)} of the words of a {c['target']} name appear",
    "token_jaccard": lambda v, c: f"word overlap with {c['target']} names {_pct(v)}",
    "exact_name": lambda v, c: "name identical to a known name" if v else "no identical name",
    "emb_label_names": lambda v, c: f"label means the same as '{c['best_name']}' "
    f"(similarity {v:.2f})",
    "emb_apiname_names": lambda v, c: f"API name means the same as '{c['best_name']}' "
    f"(similarity {v:.2f})",
    "emb_context_description": lambda v, c: f"label and description match the {c['target']} "
    f"description (similarity {v:.2f})",
    "emb_label_label": lambda v, c: f"label similar to '{c['target_label']}' ({v:.2f})",
    "description_tset": lambda v, c: f"descriptions share words ({_pct(v)})",
    "kind_exact": lambda v, c: "same data type" if v else "different data type",
    "family_same": lambda v, c: "same kind of data" if v else "different kind of data",
    "type_compat": lambda v, c: f"type compatibility {v:.1f}",
    "field_family": lambda v, c: f"field holds {FAMILIES[int(v)]} data",
    "target_family": lambda v, c: f"{c['target']} holds {FAMILIES[int(v)]} data",
    "value_overlap": lambda v, c: f"{_pct(v)} of picklist values are known values",
    "value_count": lambda v, c: f"{int(v)} picklist values in common",
    "unit_agree": lambda v, c: "unit or currency cue agrees" if v > 0 else (
        "unit or currency cue conflicts" if v < 0 else "no unit cue"),
    "same_object": lambda v, c: "same object" if v else "different object",
    "object_similarity": lambda v, c: f"object names alike ({_pct(v)})",
    "field_on_custom_object": lambda v, c: "field is on a custom object" if v
    else "field is on a standard object",
    "target_on_custom_object": lambda v, c: "other field is on a custom object" if v
    else "other field is on a standard object",
    "has_namespace": lambda v, c: "managed-package field" if v else "unmanaged field",
    "is_formula": lambda v, c: "formula field" if v else "stored (non-formula) field",
    "has_description": lambda v, c: "field has a description" if v else "no description",
    "profile_value_overlap": lambda v, c: f"{_pct(v)} of observed values are known values",
    "profile_fits_unit": lambda v, c: "observed value range fits the unit" if v
    else "observed value range does not fit the unit",
    "profile_format_fit": lambda v, c: f"{_pct(v)} of values have the expected format",
    "rank_meaning": lambda v, c: "closest by meaning" if v == 0
    else f"#{int(v) + 1} by meaning",
    "gap_meaning": lambda v, c: "best meaning match" if v <= 1e-6
    else f"{v:.2f} below the best meaning match",
    "rank_name": lambda v, c: "closest by name" if v == 0 else f"#{int(v) + 1} by name",
    "gap_name": lambda v, c: "best name match" if v <= 1e-6
    else f"{v:.2f} below the best name match",
}


def explain(
    features: pd.Series | np.ndarray,
    contributions: np.ndarray | None,
    *,
    importance_order: np.ndarray | None = None,
    target_label: str,
    target_names: list[str],
    field_label: str,
    limit: int = 4,
    target_kind: str = "concept",
) -> list[str]:
    """The ``limit`` strongest reasons for (``+``) and against (``-``) a candidate.

    ``contributions`` is one row of ``pred_contrib`` (one value per feature, then the bias).
    Without it (a low-probability candidate, not worth exact TreeSHAP), the pair's values of
    the model's most important features (``importance_order``, by total gain) are described
    instead, marked ``·`` rather than with a signed contribution. ``features`` is the pair's
    feature row, in ``FEATURE_NAMES`` order.
    """
    from rapidfuzz import fuzz, process

    row = features.to_numpy() if isinstance(features, pd.Series) else np.asarray(features)

    best = process.extractOne(field_label, target_names, scorer=fuzz.token_set_ratio)
    context = {
        "best_name": best[0] if best else target_label,
        "target": target_kind,
        "target_label": target_label,
        "field": field_label,
    }
    if contributions is None:
        if importance_order is None:
            raise ValueError("explain needs contributions or an importance_order")
        reasons = []
        for index in importance_order:
            name, value = FEATURE_NAMES[index], row[index]
            if pd.isna(value):
                continue
            reasons.append(f"· {PHRASES[name](float(value), context)}")
            if len(reasons) == limit:
                break
        return reasons
    values = contributions[: len(FEATURE_NAMES)]
    order = np.argsort(-np.abs(values), kind="stable")
    reasons = []
    for index in order[:limit]:
        name = FEATURE_NAMES[index]
        value = row[index]
        if abs(values[index]) < 1e-3:
            break
        if pd.isna(value):
            text = f"{name.replace('_', ' ')} unknown"
        else:
            text = PHRASES[name](float(value), context)
        reasons.append(f"{values[index]:+.2f} {text}")
    return reasons
