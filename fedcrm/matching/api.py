"""``fedcrm.match``: map org metadata with the matcher that ships in the package."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from fedcrm.errors import MappingError
from fedcrm.matching.model import FieldMatcher
from fedcrm.matching.proposal import MappingProposal
from fedcrm.schema import load_schema
from fedcrm.schema.models import OrgSchema

#: the trained default matcher, built from annotations/ by `fedcrm matcher train`
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[1] / "data" / "matcher" / "default.zip"


@lru_cache(maxsize=2)
def _load_cached(path: str, modified: int, size: int) -> FieldMatcher:
    return FieldMatcher.load(path)


def default_matcher(path: str | Path | None = None) -> FieldMatcher:
    """The shipped matcher (or the one at ``path``), loaded once per process and again when
    the file changes (a notebook that retrains into the same file gets the new matcher)."""
    chosen = Path(path) if path is not None else DEFAULT_MODEL_PATH
    if chosen.is_dir():
        raise MappingError(f"{chosen} is a folder; give the matcher file (a .zip written by "
                           "`fedcrm matcher train --out FILE`)")
    if not chosen.is_file():
        raise MappingError(
            f"no trained matcher at {chosen}; build it with `fedcrm matcher train` "
            "(or pass a model path)"
        )
    stat = chosen.stat()
    return _load_cached(str(chosen.resolve()), stat.st_mtime_ns, stat.st_size)


def as_schemas(sources: Sequence[Any], *, strict: bool = True) -> list[OrgSchema]:
    """Load each source (path, describe data, client or OrgSchema) as an OrgSchema."""
    schemas = []
    for source in sources:
        if isinstance(source, OrgSchema):
            schemas.append(source)
        else:
            schemas.append(load_schema(source, strict=strict))
    return schemas


def match(
    sources: Sequence[Any] | Any,
    *,
    model: str | Path | FieldMatcher | None = None,
    strict: bool = True,
) -> MappingProposal:
    """Match one or more orgs: paths (sfdx, Metadata API, describe JSON), schemas or clients.

    Returns the proposal in the ``fedcrm match`` JSON format (every field once; fields of
    different orgs are equivalent exactly when their ``block`` is equal).
    """
    if isinstance(sources, str | Path | OrgSchema) or not isinstance(sources, Sequence):
        sources = [sources]
    if not sources:
        raise MappingError("give at least one org to match")
    matcher = model if isinstance(model, FieldMatcher) else default_matcher(model)
    schemas = as_schemas(list(sources), strict=strict)
    empty = [s.org_id for s in schemas if s.n_fields == 0]
    if empty:
        raise MappingError(f"org(s) {empty} have no fields to match; check the metadata folder")
    return matcher.predict(schemas)
