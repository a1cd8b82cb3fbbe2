"""Find and load the canonical vocabulary from ``ontology/*.yaml``."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fedcrm.errors import OntologyError
from fedcrm.ontology.models import Ontology

HEADER_FILE = "ontology.yaml"
ENV_VAR = "FEDCRM_ONTOLOGY"
#: how many parsed ontologies (folder and content) :func:`load_ontology` keeps
CACHE_SIZE = 8

# (folder, SHA-256 of its files) → parsed ontology; keyed on the content, not the folder
# alone, so an edited file is re-read and the result always agrees with ontology_fingerprint
_cache: OrderedDict[tuple[Path, str], Ontology] = OrderedDict()
_cache_lock = threading.Lock()


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


def _read_files(folder: Path) -> list[tuple[Path, bytes]]:
    """The folder's ``*.yaml`` files and their bytes, sorted by name; the folder must hold
    ``ontology.yaml``."""
    if not (folder / HEADER_FILE).is_file():
        raise OntologyError(
            f"{folder}: no {HEADER_FILE}; is this an ontology folder? (set {ENV_VAR} or pass "
            "the folder holding ontology.yaml)"
        )
    files = []
    for file in sorted(folder.glob("*.yaml")):
        try:
            files.append((file, file.read_bytes()))
        except OSError as exc:
            raise OntologyError(f"{file}: cannot read ({exc.strerror or exc})") from exc
    return files


def _parse_yaml(path: Path, data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OntologyError(f"{path}: not UTF-8 (byte {exc.start}); re-save as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OntologyError(f"{path}: malformed YAML ({exc})") from exc


def _describe_errors(
    exc: ValidationError, concepts_by_index: dict[int, tuple[Path, int, int, Any]]
) -> str:
    """One clause per validation error, naming the file and the concept (its id, or its
    position in that file's ``concepts:`` list when it has no id)."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "concepts" and isinstance(loc[1], int):
            path, position, count, raw = concepts_by_index[loc[1]]
            concept_id = raw.get("id") if isinstance(raw, dict) else None
            where = f"{path}: concept {concept_id or f'{position} of {count}'}"
            field_path = ".".join(str(p) for p in loc[2:])
            if field_path:
                where += f": {field_path}"
        elif not loc:
            # whole-ontology checks (cross references, duplicates) name concept ids: add files
            files = sorted(
                {
                    str(path)
                    for path, _, _, raw in concepts_by_index.values()
                    if isinstance(raw, dict) and str(raw.get("id")) in error["msg"]
                }
            )
            where = ", ".join(files) or "ontology"
        lines.append(f"{where}: {error['msg']}")
    return "; ".join(lines)


def _concept_list(path: Path, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise OntologyError(
            f"{path}: 'concepts:' must be a list of concepts, not {type(value).__name__}"
        )
    return value


def _parse(folder: Path, files: list[tuple[Path, bytes]]) -> Ontology:
    header_path = folder / HEADER_FILE
    documents = {path.name: _parse_yaml(path, data) for path, data in files}
    header = documents.pop(HEADER_FILE)
    if not isinstance(header, dict):
        raise OntologyError(f"{header_path}: expected a mapping at the top level")
    header = dict(header)
    raw_header_concepts = header.pop("concepts", None)
    lists = [(header_path, [] if raw_header_concepts is None
              else _concept_list(header_path, raw_header_concepts))]
    for path, _ in files:
        if path.name == HEADER_FILE:
            continue
        document = documents[path.name]
        if not isinstance(document, dict) or "concepts" not in document:
            raise OntologyError(f"{path}: expected a mapping with a 'concepts:' list")
        lists.append((path, _concept_list(path, document["concepts"])))
    concepts: list[Any] = []
    # list index → (file, 1-based position in that file, concepts in that file, raw concept)
    origin: dict[int, tuple[Path, int, int, Any]] = {}
    for path, items in lists:
        for position, raw in enumerate(items, start=1):
            origin[len(concepts)] = (path, position, len(items), raw)
            concepts.append(raw)
    try:
        return Ontology.model_validate({**header, "concepts": concepts})
    except ValidationError as exc:
        details = _describe_errors(exc, origin)
        raise OntologyError(f"invalid ontology in {folder}: {details}") from exc


def _digest(files: list[tuple[Path, bytes]]) -> str:
    digest = hashlib.sha256()
    for path, data in files:
        digest.update(path.name.encode())
        digest.update(data)
    return digest.hexdigest()


def load_ontology(path: str | Path | None = None) -> Ontology:
    """Load and validate the ontology folder (default: the one shipped with fedcrm).

    The folder holds ``ontology.yaml`` (version, objects, units, value sets) and one YAML file
    per object whose ``concepts:`` list holds that object's concepts. Parsed ontologies are
    cached by folder *and* content: editing a file gives a fresh ontology on the next call.
    """
    folder = (Path(path) if path is not None else default_ontology_dir()).resolve()
    files = _read_files(folder)
    key = (folder, _digest(files))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    ontology = _parse(folder, files)
    with _cache_lock:
        _cache[key] = ontology
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return ontology


def ontology_fingerprint(path: str | Path | None = None) -> str:
    """SHA-256 over the ontology files, so audits can name the exact vocabulary used.

    Raises :class:`OntologyError` when the folder has no ``ontology.yaml``.
    """
    folder = Path(path) if path is not None else default_ontology_dir()
    return _digest(_read_files(folder))[:16]
