"""How much each concept matters downstream: the weights of the ``impact`` strategy.

Two sources:

* :func:`default_concept_weights` — from the ontology alone (no records): the review queue's
  weights, ``(1 + tasks using the concept) × (2 if it is a model input or a task outcome
  else 1)`` (:func:`fedcrm.review.impact.default_impact_weights`), so the review queue and
  the annotation queue agree on what is costly.
* :func:`downstream_impact_weights` — from a trained downstream model: the permutation
  importance (Breiman 2001, "Random forests", §10; Fisher et al. 2019, "All models are
  wrong, but many are useful") of each concept's columns on a task's validation split.
  Feature columns are named ``<concept>``, ``<concept>=<code>``, ``<concept>#missing``,
  ``<concept>#days``, ``<concept>#present`` (:class:`fedcrm.features.SourceSpec`); all columns
  of one concept are permuted together, roll-ups (``rollup:…``) credit the concepts they are
  computed from, and shared custom blocks (``custom:…``) have no concept and are skipped.
  Training and permuting take minutes, so results are cached in a JSON file keyed by
  everything they depend on.

This module sits beside :mod:`fedcrm.review`; the downstream part reaches *up* the data flow
into :mod:`fedcrm.features` and :mod:`fedcrm.federation`, so those are imported only inside
:func:`downstream_impact_weights` and never by ``import fedcrm.annotate``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from fedcrm._files import write_atomically
from fedcrm.errors import ConfigError, FeatureError
from fedcrm.ontology.models import Ontology, Task, Usage

if TYPE_CHECKING:
    import pandas as pd

    from fedcrm.federation.config import TrainingConfig
    from fedcrm.federation.experiment import OrgInput
    from fedcrm.matching.proposal import MappingProposal

#: bump when the cached file's meaning changes (2: the key hashes the records' contents;
#: 3: the task models are a federation of one, account.type is no churn or win feature;
#: 4: deals closed at a stage without a result are unlabelled, zoned dates are read as UTC)
CACHE_FORMAT = 4
_SUFFIXES = ("#missing", "#days", "#present")


def default_concept_weights(ontology: Ontology) -> dict[str, float]:
    """Concept id → weight from the ontology alone (tasks using it, usage); needs no records."""
    # imported here: fedcrm.review's package init loads the review store (SQLAlchemy)
    from fedcrm.review.impact import default_impact_weights

    return default_impact_weights(ontology)


def load_weights(path: str | Path, ontology: Ontology | None = None) -> dict[str, float]:
    """Concept weights from a JSON file: ``{"weights": {concept: w}}`` (as
    :func:`downstream_impact_weights` caches them) or a plain ``{concept: w}`` object.

    Weights must be finite and >= 0. With ``ontology``, an empty table or a concept id the
    ontology does not have is refused: a misspelt id would silently weigh the default 1, and
    a table without one known id makes ``impact`` rank nothing."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read impact weights ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not JSON ({exc.msg})") from exc
    table = document.get("weights", document) if isinstance(document, dict) else None
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in table.items()
    ):
        raise ConfigError(f"{path}: expected {{concept id: number}} (optionally under "
                          "'weights')")
    weights = {k: float(v) for k, v in table.items()}
    bad = sorted(k for k, v in weights.items() if not (math.isfinite(v) and v >= 0))
    if bad:
        raise ConfigError(f"{path}: impact weights must be finite and >= 0; check {bad[:5]}")
    if ontology is not None:
        if not weights:
            raise ConfigError(f"{path}: no concept weights; give {{concept id: number}}")
        known = {concept.id for concept in ontology.concepts}
        unknown = sorted(set(weights) - known)
        if unknown:
            hints = "".join(f"; {name!r}: did you mean {close[0]!r}?" for name in unknown[:5]
                            if (close := difflib.get_close_matches(name, known, n=1)))
            raise ConfigError(
                f"{path}: {len(unknown)} concept id(s) not in ontology {ontology.version}: "
                f"{unknown[:5]}{hints} (see `fedcrm ontology`; a file made for another "
                "ontology version: run `fedcrm annotate impact` again)")
    return weights


def column_concept(column: str) -> str | None:
    """The source a feature column belongs to: ``account.industry=tech`` → ``account.industry``.

    Roll-ups (``rollup:…``) and custom blocks (``custom:…``) keep their own name.
    """
    name = column.split("=", 1)[0]
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name or None


def columns_by_source(feature_names: Sequence[str]) -> dict[str, list[int]]:
    """Source name (concept id, ``rollup:…`` or ``custom:…``) → its column positions."""
    sources: dict[str, list[int]] = defaultdict(list)
    for position, column in enumerate(feature_names):
        source = column_concept(column)
        if source is not None:
            sources[source].append(position)
    return dict(sources)


def permutation_importance(
    predict: Callable[[np.ndarray], np.ndarray],
    features: np.ndarray,
    labels: np.ndarray,
    feature_names: Sequence[str],
    *,
    n_repeats: int = 5,
    seed: int = 0,
    metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
) -> dict[str, float]:
    """Drop in ``metric`` (default ROC AUC) when a source's columns are permuted together.

    Returns source name → mean drop over ``n_repeats`` shuffles, clipped at 0 (a source whose
    shuffling helps by chance is worth nothing, not less).
    """
    if features.shape[1] != len(feature_names):
        raise ConfigError(f"{features.shape[1]} feature columns but {len(feature_names)} names")
    if n_repeats < 1:
        raise ConfigError(f"n_repeats must be at least 1, got {n_repeats}")
    if metric is None:
        from sklearn.metrics import roc_auc_score

        def metric(y: np.ndarray, p: np.ndarray) -> float:
            return float(roc_auc_score(y, p))

    if len(np.unique(labels)) < 2:
        raise FeatureError("permutation importance needs both classes in the validation split")
    baseline = metric(labels, predict(features))
    rng = np.random.default_rng(seed)
    importance: dict[str, float] = {}
    for source, columns in columns_by_source(feature_names).items():
        drops = []
        for _ in range(n_repeats):
            shuffled = features.copy()
            shuffled[:, columns] = features[rng.permutation(len(features))][:, columns]
            drops.append(baseline - metric(labels, predict(shuffled)))
        importance[source] = max(0.0, float(np.mean(drops)))
    return importance


def concept_importance(source_importance: Mapping[str, float]) -> dict[str, float]:
    """Source importance → concept importance: concepts keep theirs, a roll-up's importance
    is shared equally by the concepts it is computed from, custom blocks are dropped."""
    from fedcrm.features.space import ROLLUP_NEEDS

    result: dict[str, float] = defaultdict(float)
    for source, value in source_importance.items():
        if source.startswith("custom:"):
            continue
        if source.startswith("rollup:"):
            needs = ROLLUP_NEEDS.get(source, ())
            for concept in needs:
                result[concept] += value / len(needs)
            continue
        result[source] += value
    return dict(result)


def weights_from_importance(
    importance: Mapping[str, Mapping[str, float]], ontology: Ontology, *, scale: float = 5.0
) -> dict[str, float]:
    """Task → concept importance → concept weights for :class:`~fedcrm.annotate.Impact`.

    ``w = 1 + scale × Σ_tasks importance / (the task's largest importance)``; a task's outcome
    concepts (usage ``label``) get the task's full ``scale``, since a mis-mapped outcome breaks
    the task outright. A feature of a task that the data could not measure (no org has it, so
    it is not in the feature space) gets the task's mean measured share: unknown is not
    worthless, and a user's org may well have it. Every concept of the ontology gets a weight
    (at least 1).
    """
    from fedcrm.tasks import get_task

    weights = {concept.id: 1.0 for concept in ontology.concepts}
    for task_name, values in importance.items():
        task = Task(task_name)
        top = max(values.values(), default=0.0)
        shares = {concept_id: scale * value / top for concept_id, value in values.items()
                  if concept_id in weights and top > 0}
        for concept_id, share in shares.items():
            weights[concept_id] += share
        typical = float(np.mean(list(shares.values()))) if shares else 0.0
        excluded = get_task(task).excluded
        for concept in ontology.concepts:
            if concept.usage is Usage.LABEL and task in concept.tasks:
                weights[concept.id] += scale
            elif (concept.usage is Usage.FEATURE and task in concept.tasks
                  and concept.id not in values and concept.id not in excluded):
                weights[concept.id] += typical
    return weights


class ImpactWeights(BaseModel):
    """Downstream concept weights with the importances they came from (the cache file)."""

    model_config = ConfigDict(extra="forbid")
    format: int = CACHE_FORMAT
    key: str
    weights: dict[str, float]
    #: task → concept → permutation importance (AUC drop)
    importance: dict[str, dict[str, float]]
    #: task → validation AUC of the model the importances were measured on
    validation_auc: dict[str, float]
    from_cache: bool = False


def table_digest(table: pd.DataFrame) -> str:
    """A hash of a table's contents: column names, dtypes, index and every value.

    Row counts alone would let a cache computed on other records of the same size be read back.
    """
    import pandas as pd

    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in table.dtypes.items()]).encode())
    try:
        values = pd.util.hash_pandas_object(table, index=True).to_numpy()
    except TypeError:  # unhashable cells (lists, dicts): hash their text instead
        values = pd.util.hash_pandas_object(table.astype(str), index=True).to_numpy()
    digest.update(values.tobytes())
    return digest.hexdigest()


def _cache_key(
    tasks: Sequence[str], orgs: Sequence[OrgInput], mapping: MappingProposal,
    reference_date: Any, config: TrainingConfig, n_repeats: int, seed: int, scale: float,
    ontology: Ontology,
) -> str:
    payload = {
        "format": CACHE_FORMAT, "tasks": sorted(tasks), "ontology": ontology.version,
        "orgs": sorted(
            (o.org_id, hashlib.sha256(o.schema.model_dump_json().encode()).hexdigest(),
             sorted((name, len(t), table_digest(t)) for name, t in o.tables.items()))
            for o in orgs
        ),
        "mapping": hashlib.sha256(mapping.model_dump_json().encode()).hexdigest(),
        # where the model trained does not change the weights (and keeps older caches valid)
        "reference_date": str(reference_date),
        "config": config.model_dump(mode="json", exclude={"device"}),
        "n_repeats": n_repeats, "seed": seed, "scale": scale,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def downstream_impact_weights(
    orgs: Sequence[OrgInput],
    mapping: MappingProposal,
    ontology: Ontology,
    reference_date: pd.Timestamp | str,
    *,
    tasks: Sequence[Task | str] = tuple(Task),
    config: TrainingConfig | None = None,
    n_repeats: int = 5,
    seed: int = 0,
    scale: float = 5.0,
    cache: str | Path | None = None,
) -> ImpactWeights:
    """Concept weights from the permutation importance of a trained downstream model.

    For each task, the orgs' canonical feature matrices are built from ``mapping`` (an
    approved mapping, or the ground truth of synthetic orgs), one centralised model is trained
    on their pooled training splits (the federation's model family, as in
    :func:`fedcrm.federation.experiment.run_task`) and each concept's columns are permuted on
    the pooled validation split. With ``cache``, a result computed from the same inputs is read
    back instead of recomputed. Tasks no org can take part in are skipped.
    """
    from fedcrm.federation.config import TrainingConfig
    from fedcrm.federation.data import participant_data
    from fedcrm.federation.experiment import prepare_task
    from fedcrm.federation.participant import Participant, ParticipantData

    config = config or TrainingConfig(rounds=10, local_epochs=2, learning_rate=0.05, seed=seed)
    task_names = [Task(t).value for t in tasks]
    key = _cache_key(task_names, orgs, mapping, reference_date, config, n_repeats, seed, scale,
                     ontology)
    cache_path = Path(cache) if cache is not None else None
    if cache_path is not None and cache_path.is_file():
        try:
            cached = ImpactWeights.model_validate_json(cache_path.read_text(encoding="utf-8"))
        except ValidationError:
            cached = None  # an unreadable cache is recomputed and overwritten
        if cached is not None and cached.key == key:
            return cached.model_copy(update={"from_cache": True})
    importance: dict[str, dict[str, float]] = {}
    validation_auc: dict[str, float] = {}
    for task in task_names:
        try:
            prepared = prepare_task(task, orgs, mapping, ontology, reference_date, seed=seed)
        except FeatureError:
            continue
        datas = [participant_data(m) for m in prepared.matrices]
        def stacked(part: str, datas: list[ParticipantData] = datas) -> np.ndarray:
            return np.concatenate([getattr(d, part) for d in datas])

        pooled = ParticipantData(
            stacked("train_x"), stacked("train_y"), stacked("validation_x"),
            stacked("validation_y"), stacked("test_x"), stacked("test_y"),
            feature_names=prepared.space.feature_names,
        )
        if len(np.unique(pooled.validation_y)) < 2:
            continue
        model = Participant("impact", pooled, config=config)
        parameters = model.fit_local()
        auc = model.evaluate(parameters, "validation")["auc"]
        validation_auc[task] = float(auc) if auc is not None else float("nan")

        def predict(x: np.ndarray, model: Participant = model,
                    parameters: np.ndarray = parameters) -> np.ndarray:
            return model.predict(parameters, x)

        source_importance = permutation_importance(
            predict, pooled.validation_x, pooled.validation_y, prepared.space.feature_names,
            n_repeats=n_repeats, seed=seed,
        )
        importance[task] = concept_importance(source_importance)
    if not importance:
        raise FeatureError("no task could be trained on these orgs; check that the mapping "
                           "maps each task's outcome concept")
    result = ImpactWeights(
        key=key, weights=weights_from_importance(importance, ontology, scale=scale),
        importance=importance, validation_auc=validation_auc,
    )
    if cache_path is not None:
        write_atomically(cache_path, result.model_dump_json(indent=1) + "\n")
    return result


def synthetic_impact_weights(
    ontology: Ontology,
    *,
    n_orgs: int = 3,
    seed: int = 0,
    scale_records: float = 0.03,
    cache: str | Path | None = None,
    **kwargs: Any,
) -> ImpactWeights:
    """:func:`downstream_impact_weights` on a generated synthetic federation with its ground
    truth mapping — importances of a model trained on data like a real deployment's, for when
    no approved mapping with records is at hand yet."""
    import pandas as pd

    from fedcrm.federation.experiment import OrgInput
    from fedcrm.matching.proposal import FieldMapping, MappingProposal, OrgMapping
    from fedcrm.synth import generate_federation

    federation = generate_federation(n_orgs, seed=seed, scale=scale_records)
    inputs = [OrgInput(o.org_id, o.schema, o.tables) for o in federation.orgs]
    mapping = MappingProposal(
        ontology_version=ontology.version, matcher_version="ground-truth",
        orgs=[OrgMapping(org=o.org_id, fields=[
            FieldMapping(object=lab.object, field=lab.field, concept=lab.concept,
                         confidence=1.0,
                         block=lab.concept or (f"custom:{lab.group}" if lab.group else None))
            for lab in o.labels
        ]) for o in federation.orgs],
    )
    return downstream_impact_weights(
        inputs, mapping, ontology, pd.Timestamp(federation.params.reference_date),
        seed=seed, cache=cache, **kwargs,
    )
