"""The end-to-end demo: synthetic orgs on disk → schemas → matching → features → federated
training for the three tasks, compared with local-only and centralised models.

Everything runs from files, as a user's pipeline would: the generated federation is written
to a folder first and read back through the same loaders a real deployment uses.
"""

from __future__ import annotations

import difflib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field, ValidationError

from fedcrm._args import string_list
from fedcrm._files import write_atomically
from fedcrm.errors import ConfigError, FeatureError, validation_problems
from fedcrm.features.canonical import read_records
from fedcrm.features.convert import check_currency_options
from fedcrm.features.extract import reference_timestamp
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.experiment import (
    OrgInput,
    TaskResult,
    check_workers,
    prepare_task,
    run_task,
)
from fedcrm.federation.models import resolve_device
from fedcrm.matching.corpus import read_labels
from fedcrm.matching.proposal import MappingProposal
from fedcrm.ontology import load_ontology
from fedcrm.ontology.models import Task
from fedcrm.schema import load_schema
from fedcrm.schema.models import CUSTOM_SUFFIXES

#: demo defaults: five orgs, small enough that a single org learns poorly alone
DEMO_ORGS = 5
DEMO_ACCOUNTS = (2000, 50000)
DEMO_SCALE = 0.05
ALL_TASKS: tuple[str, ...] = tuple(task.value for task in Task)


#: federated rounds per task in the demo: with 60 instead of 30 the federated models came
#: within 1 AUC point of centralised training on every task (docs/federation.md)
DEMO_ROUNDS = 60


def demo_config(*, rounds: int = DEMO_ROUNDS, model: str = "logistic",
                seed: int = 0, device: str = "cpu") -> TrainingConfig:
    """The demo's training settings: FedAvg-style local SGD, 60 rounds of 5 local epochs,
    server momentum 0.9 (FedAvgM; without it the federated models need ~5× the rounds to come
    close to the centralised one, see ``docs/federation.md``), local training on ``device``.

    Raises :class:`ConfigError` naming the setting (``--rounds``, ``--model``, ``--device``) if
    one is invalid.
    """
    try:
        config = TrainingConfig(rounds=rounds, local_epochs=5, learning_rate=0.1,
                                optimizer="sgd", batch_size=64,
                                model=model,  # type: ignore[arg-type]
                                seed=seed, server_momentum=0.9, device=device)
    except ConfigError as exc:
        if not isinstance(exc.__cause__, ValidationError):
            raise
        raise ConfigError(f"invalid demo setting: "
                          f"{validation_problems(exc.__cause__, options=True)}") from None
    try:
        resolve_device(config.device)  # a GPU that is not there is refused before any work
    except ConfigError as exc:
        raise ConfigError(f"--{exc}") from None  # "--device 'cuda': torch sees no CUDA GPU"
    return config


class MatchingSummary(BaseModel):
    """How the shipped matcher did on the demo orgs (against ground truth when present)."""

    n_fields: int
    n_mapped: int
    n_custom_blocks: int
    concept_precision: float | None = None
    concept_recall: float | None = None
    seconds: float


class DemoResult(BaseModel):
    """Everything the demo measured."""

    data: str
    orgs: list[str]
    matching: MatchingSummary
    tasks: dict[str, TaskResult]
    #: tasks left out because no org could take part (or no feature was left), with why; only
    #: when the tasks were not chosen (every task, or the task a dataset export names)
    skipped_tasks: dict[str, str] = Field(default_factory=dict)
    seconds: float
    #: where the orgs trained (``TrainingConfig.device`` resolved: ``cpu``, ``cuda``, ``cuda:1``)
    device: str = "cpu"
    #: processes that trained each task's methods side by side (1: one after the other)
    workers: int = 1

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Task → method → mean metric over the orgs' held-out test sets."""
        return {name: dict(result.mean) for name, result in self.tasks.items()}

    def to_json(self, path: str | Path) -> None:
        """Write ``{"tasks": {task: {method: mean AUC}}, "details": ...}``.

        The file is replaced atomically (a failed write leaves the previous file whole);
        missing parent folders are created. Raises :class:`ConfigError` naming the path
        if it cannot be written."""
        target = Path(path)
        if target.is_dir():
            raise ConfigError(f"{target} is a folder; give a file name such as "
                              f"{target / 'demo.json'}")
        payload = {"tasks": self.summary(), "details": self.model_dump(mode="json")}
        try:
            write_atomically(target, json.dumps(payload, indent=1) + "\n")
        except OSError as exc:
            raise ConfigError(f"cannot write the demo results to {target} "
                              f"({exc.strerror or exc})") from exc


def _manifest(data: Path) -> dict[str, Any]:
    """``federation.json`` of a data folder (``fedcrm synth`` or ``fedcrm datasets export``);
    empty when there is none."""
    manifest = data / "federation.json"
    if not manifest.is_file():
        return {}
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else exc
        raise ConfigError(f"{manifest}: cannot read the manifest ({reason}); fix it, or remove "
                          "it and pass --reference-date YYYY-MM-DD") from exc
    return document if isinstance(document, dict) else {}


def _manifest_entries(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(org id, entry)`` for each org a manifest lists: ``orgs[].org_id`` of an export,
    ``orgs[].profile.org_id`` of ``fedcrm synth`` (whose profile fields are merged in)."""
    for entry in document.get("orgs") or []:
        if not isinstance(entry, dict):
            continue
        profile = entry.get("profile")
        given = {key: value for key, value in entry.items() if value not in (None, "")}
        merged = {**profile, **given} if isinstance(profile, dict) else given
        org_id = merged.get("org_id")
        if isinstance(org_id, str):
            yield org_id, merged


def _manifest_orgs(document: dict[str, Any]) -> list[str]:
    """The org ids a manifest lists."""
    return [org_id for org_id, _ in _manifest_entries(document)]


def _manifest_currencies(data: Path, document: dict[str, Any],
                         rates: Mapping[str, float] | None = None,
                         given: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each org's currency as the manifest states it (``orgs[].profile.currency`` of ``fedcrm
    synth``, ``orgs[].currency`` of an export): the currency of its amounts whose name, values
    and records name none. A code with no rate (built in or in ``rates``) is refused, naming the
    file, unless ``given`` (the caller's own org currencies) overrides that org's."""
    currencies: dict[str, str] = {}
    for org_id, entry in _manifest_entries(document):
        code = entry.get("currency")
        if code is None or org_id in (given or {}):
            continue
        try:
            currencies[org_id] = check_currency_options(rates, code)[1] or ""
        except ConfigError as exc:
            raise ConfigError(f"{data / 'federation.json'}: org {org_id}: {exc}") from None
    return currencies


def _org_folders(data: Path, manifest: dict[str, Any]) -> list[Path]:
    if not data.is_dir():
        what = "is a file, not a folder" if data.exists() else "does not exist"
        raise ConfigError(f"data folder {data} {what}; give a folder written by `fedcrm synth` "
                          "or `fedcrm datasets export` (--data)")
    try:
        candidates = sorted(p for p in data.iterdir() if p.is_dir())
        parts = {p: ((p / "metadata").is_dir(), (p / "records").is_dir()) for p in candidates}
    except OSError as exc:
        raise ConfigError(f"cannot read data folder {data} ({exc.strerror or exc})") from exc
    # an org with one half only would otherwise drop out of the federation without a word
    for folder, (metadata, records) in parts.items():
        if metadata != records:
            missing = "records" if metadata else "metadata"
            raise ConfigError(
                f"{folder}: has {'metadata' if metadata else 'records'}/ but no {missing}/ "
                f"folder (the names are lower-case); restore {folder / missing}/ or move the "
                "org's folder out of the data folder")
    folders = [p for p, (metadata, records) in parts.items() if metadata and records]
    if not folders:
        raise ConfigError(f"{data}: no orgs found (expected <org>/metadata/ and <org>/records/ "
                          "folders, as `fedcrm synth` writes them)")
    absent = [org for org in _manifest_orgs(manifest)
              if org not in {p.name for p in folders}]
    if absent:
        raise ConfigError(
            f"{data / 'federation.json'} lists org(s) {absent}, but {data} has no "
            f"<org>/metadata/ and <org>/records/ for them; restore their folders, or remove "
            "them from the manifest's orgs")
    return folders


def _reference_date(data: Path, given: str | None, manifest: dict[str, Any]) -> pd.Timestamp:
    if given:
        return reference_timestamp(given, "--reference-date")
    params = manifest.get("params")
    value = manifest.get("reference_date") or (
        params.get("reference_date") if isinstance(params, dict) else None)
    if value:
        return reference_timestamp(value, f"{data / 'federation.json'}: reference_date")
    raise ConfigError(f"{data}: no federation.json with a reference date; pass "
                      "--reference-date YYYY-MM-DD (the 'today' of the records)")


def _default_tasks(manifest: dict[str, Any]) -> tuple[str, ...]:
    """Every task, or the one task a dataset export's manifest names."""
    task = manifest.get("task")
    return (task,) if task in ALL_TASKS else ALL_TASKS


def read_federation(data: str | Path, reference_date: str | None = None
                    ) -> tuple[pd.Timestamp, list[OrgInput]]:
    """The reference date and every org (metadata and records) of a folder laid out as
    ``fedcrm synth`` writes it (``<org>/metadata/``, ``<org>/records/``, ``federation.json``)."""
    root = Path(data)
    manifest = _manifest(root)
    reference = _reference_date(root, reference_date, manifest)
    return reference, _read_orgs(_org_folders(root, manifest),
                                 _manifest_currencies(root, manifest))


def _read_orgs(folders: Sequence[Path], currencies: Mapping[str, str] | None = None
               ) -> list[OrgInput]:
    """Every org's metadata and records, with its currency from ``currencies`` (by org id)."""
    currencies = currencies or {}
    return [OrgInput(folder.name, load_schema(folder / "metadata", org_id=folder.name),
                     read_records(folder / "records"),
                     default_currency=currencies.get(folder.name) or None)
            for folder in folders]


def _set_org_currencies(inputs: Sequence[OrgInput], org_currencies: Mapping[str, str]) -> None:
    """Give each org its currency from ``org_currencies``; an org id not in the federation
    is refused (a typo would otherwise leave that org's amounts read as USD)."""
    ids = [org.org_id for org in inputs]
    for org_id in org_currencies:
        if org_id not in ids:
            close = difflib.get_close_matches(org_id, ids, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            # the CLI's option and the Python argument in one message
            raise ConfigError(f"the org currency of {org_id!r} (--org-currency {org_id}=..., "
                              f"org_currencies) names an org that is not in the federation "
                              f"({', '.join(ids)}){hint}")
    for org in inputs:
        org.default_currency = org_currencies.get(org.org_id, org.default_currency)


def _score_mapping(folders: Sequence[Path], proposal: MappingProposal) -> tuple[float | None,
                                                                                   float | None]:
    """Precision and recall of concept decisions on custom fields against ground_truth.jsonl."""
    accepted = correct = truths = 0
    seen = False
    for folder in folders:
        truth_file = folder / "ground_truth.jsonl"
        if not truth_file.is_file():
            continue
        seen = True
        truth = {(lab.object, lab.field): lab.concept for lab in read_labels(truth_file)}
        for mapping in proposal.org(folder.name).fields:
            if not mapping.field.endswith(CUSTOM_SUFFIXES):
                continue
            expected = truth.get((mapping.object, mapping.field))
            truths += expected is not None
            if mapping.concept is not None:
                accepted += 1
                correct += mapping.concept == expected
    if not seen:
        return None, None
    return (correct / accepted if accepted else None), (correct / truths if truths else None)


def run_demo(
    *,
    data: str | Path | None = None,
    out: str | Path | None = None,
    orgs: int = DEMO_ORGS,
    seed: int = 0,
    scale: float = DEMO_SCALE,
    tasks: Sequence[str] | None = None,
    config: TrainingConfig | None = None,
    reference_date: str | None = None,
    model_path: str | Path | None = None,
    status: Callable[[str], None] | None = None,
    progress: bool = True,
    backend: str = "simulation",
    workers: int = 1,
    currency_rates: Mapping[str, float] | None = None,
    org_currencies: Mapping[str, str] | None = None,
) -> DemoResult:
    """Run the demo; ``data`` is a folder written by ``fedcrm synth`` (or the same layout),
    otherwise a synthetic federation is generated into ``out`` (default: a temporary folder).

    ``tasks`` defaults to every task, or to the task a ``fedcrm datasets export`` folder was
    written for (its ``federation.json`` names it); a default task that no org can take part
    in is skipped (``DemoResult.skipped_tasks``), a chosen one is an error. Every task's
    features are built before any training, so such an error never comes after minutes of it.

    ``backend`` is ``"simulation"`` (the in-process coordinator) or ``"flower"`` (the federated
    methods on Flower's simulation engine; needs ``pip install "fedcrm[flower]"``).
    ``workers`` > 1 trains each task's methods side by side in that many processes
    (:func:`fedcrm.federation.experiment.run_task`; the simulation backend only).

    ``currency_rates`` (USD per unit, by three-letter code) override or extend the
    converter's rates, and teach it codes it does not know (``Rev_BRL__c``);
    ``org_currencies`` gives an org's currency (org id → code) for amounts whose name and
    values state none, before the manifest's (``orgs[].profile.currency`` of ``fedcrm synth``,
    ``orgs[].currency``) and the records' currency column (else USD is assumed; each
    conversion says which)."""
    if backend not in ("simulation", "flower"):
        raise ConfigError(f"unknown backend {backend!r}; choose 'simulation' or 'flower'")
    check_workers(workers)  # before the federation is generated and matched
    if backend == "flower":
        workers = 1  # Flower's simulation engine runs its own processes
    rates, _ = check_currency_options(currency_rates, None)  # before any work
    org_currencies = dict(org_currencies or {})
    for org_id, code in org_currencies.items():
        try:
            org_currencies[org_id] = check_currency_options(rates, code)[1] or code
        except ConfigError as exc:
            raise ConfigError(f"org {org_id}: {exc}") from None
    chosen = string_list(tasks, "tasks") if tasks is not None else None
    if chosen == []:
        raise ConfigError(f"tasks is empty; give one or more of {', '.join(ALL_TASKS)}, or "
                          "leave it out for the default")
    unknown = [task for task in chosen or () if task not in ALL_TASKS]
    if unknown:
        raise ConfigError(f"unknown task {unknown[0]!r}; choose from {', '.join(ALL_TASKS)}")
    if reference_date:
        reference_timestamp(reference_date, "--reference-date")
    from fedcrm.matching.api import match
    from fedcrm.synth import generate_federation

    started = time.perf_counter()
    say = status or (lambda message: None)
    config = config or demo_config(seed=seed)
    device = resolve_device(config.device)  # a GPU that is not there: refused before any work
    if backend == "flower":
        from fedcrm.federation.backends import check_simulation_device

        check_simulation_device(config.device)
    temporary: tempfile.TemporaryDirectory[str] | None = None
    if data is None:
        if out is None:
            temporary = tempfile.TemporaryDirectory(prefix="fedcrm-demo-")
            out = temporary.name
        say(f"generating {orgs} synthetic orgs into {out}")
        generate_federation(orgs, seed=seed, scale=scale, accounts=DEMO_ACCOUNTS).write(out)
        data = out
    root = Path(data)
    try:
        manifest = _manifest(root)
        folders = _org_folders(root, manifest)
        say("loading org metadata and records")
        reference = _reference_date(root, reference_date, manifest)
        inputs = _read_orgs(folders, _manifest_currencies(root, manifest, rates,
                                                          org_currencies))
        _set_org_currencies(inputs, org_currencies)
        say("matching schemas with the shipped matcher")
        matched_at = time.perf_counter()
        proposal = match([org.schema for org in inputs], model=model_path)
        precision, recall = _score_mapping(folders, proposal)
        matching = MatchingSummary(
            n_fields=sum(len(o.fields) for o in proposal.orgs),
            n_mapped=sum(f.concept is not None for _, f in proposal.iter_fields()),
            n_custom_blocks=len({f.block for _, f in proposal.iter_fields()
                                 if f.block and f.block.startswith("custom:")}),
            concept_precision=precision, concept_recall=recall,
            seconds=round(time.perf_counter() - matched_at, 2),
        )
        ontology = load_ontology()
        prepared_tasks, skipped_tasks = {}, {}
        for task in chosen if chosen is not None else _default_tasks(manifest):
            say(f"{task}: building features")
            try:
                prepared_tasks[task] = prepare_task(task, inputs, proposal, ontology, reference,
                                                    seed=seed, currency_rates=rates)
            except FeatureError as exc:
                if chosen is not None:
                    raise FeatureError(f"{task}: {exc}") from exc
                skipped_tasks[task] = str(exc)
        if not prepared_tasks:
            raise FeatureError("no task can be trained on this data: " + "; ".join(
                f"{task}: {why}" for task, why in skipped_tasks.items()))
        results: dict[str, TaskResult] = {}
        for task, prepared in prepared_tasks.items():
            say(f"{task}: training")
            if backend == "flower":
                from fedcrm.federation.backends import run_task_flower

                results[task] = run_task_flower(prepared, config, progress=progress)
            else:
                results[task] = run_task(prepared, config, progress=progress,
                                         workers=workers)
    finally:
        if temporary is not None:
            temporary.cleanup()
    return DemoResult(data=str(root) if temporary is None else "(temporary folder)",
                      orgs=[o.org_id for o in inputs], matching=matching, tasks=results,
                      skipped_tasks=skipped_tasks,
                      seconds=round(time.perf_counter() - started, 1),
                      device=str(device), workers=workers)
