"""Find and load the canonical vocabulary from ``ontology/*.yaml``."""

from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fedcrm.errors import OntologyError
from fedcrm.ontology.models import Ontology

HEADER_FILE = "ontology.yaml"
ENV_VAR = "FEDCRM_ONTOLOGY"


def default_ontology_dir() -> Path:
    """Where the shipped ontology lives: ``$FEDCRM_ONTOLOGY``, the repository's ``ontology/``
    (source checkouts and editable installs), or ``<prefix>/share/fedcrm/ontology`` (wheels)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    candidates = [
        Path(__file__).resolve().parents[2] / "ontology",
        Path(sys.prefix) / "share" / "fedcrm" / "ontology",
    ]
    for candidate in candidates:
        if (candidate / HEADER_FILE).is_file():
            return candidate
    raise OntologyError(
        "cannot find the ontology (looked in "
        + ", ".join(str(c) for c in candidates)
        + f"); set {ENV_VAR} to the ontology folder"
    )


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise OntologyError(f"{path}: malformed YAML ({exc})") from exc
    except OSError as exc:
        raise OntologyError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _describe_errors(exc: ValidationError, concepts_by_index: dict[int, tuple[Path, Any]]) -> str:
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "concepts" and isinstance(loc[1], int):
            path, raw = concepts_by_index.get(loc[1], (None, None))
            concept_id = raw.get("id") if isinstance(raw, dict) else None
            where = f"{path}: concept {concept_id or '#' + str(loc[1])}: " + ".".join(
                str(p) for p in loc[2:]
            )
        elif not loc:
            # whole-ontology checks (cross references, duplicates) name concept ids: add files
            files = sorted(
                {
                    str(path)
                    for path, raw in concepts_by_index.values()
                    if isinstance(raw, dict) and str(raw.get("id")) in error["msg"]
                }
            )
            where = ", ".join(files) or "ontology"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def load_ontology(path: str | Path | None = None) -> Ontology:
    """Load and validate the ontology folder (default: the one shipped with fedcrm).

    The folder holds ``ontology.yaml`` (version, objects, units, value sets) and one YAML file
    per object whose ``concepts:`` list holds that object's concepts.
    """
    folder = Path(path) if path is not None else default_ontology_dir()
    return _load_cached(folder.resolve())


@lru_cache(maxsize=8)
def _load_cached(folder: Path) -> Ontology:
    header_path = folder / HEADER_FILE
    if not header_path.is_file():
        raise OntologyError(f"{folder}: no {HEADER_FILE}; is this an ontology folder?")
    header = _read_yaml(header_path)
    if not isinstance(header, dict):
        raise OntologyError(f"{header_path}: expected a mapping at the top level")
    concepts: list[Any] = list(header.pop("concepts", None) or [])
    origin: dict[int, tuple[Path, Any]] = {i: (header_path, c) for i, c in enumerate(concepts)}
    for file in sorted(folder.glob("*.yaml")):
        if file.name == HEADER_FILE:
            continue
        document = _read_yaml(file)
        if not isinstance(document, dict) or not isinstance(document.get("concepts"), list):
            raise OntologyError(f"{file}: expected a mapping with a 'concepts:' list")
        for raw in document["concepts"]:
            origin[len(concepts)] = (file, raw)
            concepts.append(raw)
    try:
        ontology = Ontology.model_validate({**header, "concepts": concepts})
    except ValidationError as exc:
        details = _describe_errors(exc, origin)
        raise OntologyError(f"invalid ontology in {folder}: {details}") from exc
    return ontology


def ontology_fingerprint(path: str | Path | None = None) -> str:
    """SHA-256 over the ontology files, so audits can name the exact vocabulary used."""
    folder = Path(path) if path is not None else default_ontology_dir()
    digest = hashlib.sha256()
    for file in sorted(folder.glob("*.yaml")):
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
