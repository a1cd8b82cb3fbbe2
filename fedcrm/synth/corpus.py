"""Write synthetic orgs into the matcher's annotated corpus (``annotations/``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import yaml

from fedcrm._files import write_atomically
from fedcrm.errors import ConfigError
from fedcrm.matching.corpus import OrgSource, read_sources, write_labels
from fedcrm.synth.federation import MAX_ORGS, generate_federation

#: (orgs, seed) of the synthetic federations in the shipped corpus
DEFAULT_FEDERATIONS: tuple[tuple[int, int], ...] = ((6, 101), (6, 102), (6, 103), (6, 104))

SOURCES_HEADER = """\
# Every annotated org: where its metadata comes from and under which licence.
# Real orgs' metadata is not copied here; it is read from the public projects' files
# (default location ../shared/data/salesforce-metadata/orgs/<path>, or $FEDCRM_METADATA_ROOT).
# Synthetic orgs are written by `fedcrm matcher corpus` (schemas/ and labels/).
"""


def write_synthetic_corpus(
    folder: str | Path, federations: Sequence[tuple[int, int]] = DEFAULT_FEDERATIONS
) -> list[str]:
    """Generate the synthetic federations and write their orgs (schema + labels) into
    ``folder``, replacing earlier synthetic entries of ``sources.yaml``; returns the org ids.

    Only metadata and labels are kept, so a tiny record scale is used. Everything is generated
    into a temporary folder inside ``folder`` first; the earlier synthetic files are only
    replaced once generation has succeeded, so a failure (or Ctrl-C) while generating leaves
    the corpus as it was.

    Raises:
        ConfigError: a federation is not an (orgs, seed) pair of whole numbers with
            1 ≤ orgs ≤ 200 and seed ≥ 0, or two federations share a seed (their org ids
            would collide).
        MappingError: ``folder`` has no valid ``sources.yaml``.
    """
    chosen = _check_federations(federations)
    root = Path(folder)
    sources = read_sources(root)
    kept = [s for s in sources if s.kind != "synthetic"]
    staging = Path(tempfile.mkdtemp(prefix=".synthetic-corpus-", dir=root))
    try:
        added = _generate_into(staging, chosen)
        written = [source.org for source in added]
        # From here on nothing is generated any more. New files first, then the list, then the
        # stale files: at every step each org sources.yaml lists still has its files.
        _move_in(staging, root, written)
        document = {"orgs": [s.model_dump(exclude_none=True) for s in kept + added]}
        # one rename, keeping the file's mode: a reader sees the old list or the new one
        write_atomically(root / "sources.yaml", SOURCES_HEADER + yaml.safe_dump(
            document, sort_keys=False, allow_unicode=True, width=100))
        _remove_stale(root, keep={s.org for s in kept} | set(written))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _check_federations(federations: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (orgs, seed) pairs, checked before anything is generated or touched."""
    chosen: list[tuple[int, int]] = []
    for entry in federations:
        if isinstance(entry, str) or not isinstance(entry, Sequence) or len(entry) != 2 or any(
                isinstance(value, bool) or not isinstance(value, int) for value in entry):
            raise ConfigError(f"a synthetic federation is a pair of whole numbers "
                              f"(orgs, seed), e.g. (6, 101); got {entry!r}")
        n_orgs, seed = entry
        if not 1 <= n_orgs <= MAX_ORGS:
            raise ConfigError(f"synthetic federation {n_orgs}:{seed} (orgs:seed) needs 1 to "
                              f"{MAX_ORGS} orgs; got {n_orgs}")
        if seed < 0:
            raise ConfigError(f"synthetic federation {n_orgs}:{seed} (orgs:seed) needs a seed "
                              f"of at least 0; got {seed}")
        chosen.append((n_orgs, seed))
    shared = sorted(seed for seed, n in Counter(seed for _, seed in chosen).items() if n > 1)
    if shared:
        raise ConfigError(f"synthetic federations share seed(s) {shared}: their orgs would get "
                          f"the same ids (syn<seed>_orgNN); give each federation its own seed")
    return chosen


def _generate_into(staging: Path, federations: Sequence[tuple[int, int]]) -> list[OrgSource]:
    """Write every org's schema and labels under ``staging``; their sources, in order."""
    sources: list[OrgSource] = []
    (staging / "schemas").mkdir()
    for n_orgs, seed in federations:
        federation = generate_federation(n_orgs, seed=seed, scale=0.005)
        for org in federation.orgs:
            org_id = f"syn{seed}_{org.org_id}"
            schema = org.schema.with_org_id(org_id)
            (staging / "schemas" / f"{org_id}.json").write_text(
                schema.model_dump_json(exclude_none=True) + "\n", encoding="utf-8"
            )
            write_labels(staging / "labels" / f"{org_id}.jsonl",
                         [label.model_copy(update={"org": org_id}) for label in org.labels])
            sources.append(OrgSource(
                org=org_id, kind="synthetic", licence="CC0-1.0",
                description=f"fedcrm.synth.generate_federation({n_orgs}, seed={seed}): "
                            f"{org.profile.language}, {org.profile.naming_style} naming",
            ))
    return sources


def _move_in(staging: Path, root: Path, org_ids: Sequence[str]) -> None:
    """Move the generated files into place, replacing files of the same org."""
    for sub_folder, suffix in (("schemas", ".json"), ("labels", ".jsonl")):
        (root / sub_folder).mkdir(parents=True, exist_ok=True)
        for org_id in org_ids:
            name = f"{org_id}{suffix}"
            os.replace(staging / sub_folder / name, root / sub_folder / name)


def _remove_stale(root: Path, keep: set[str]) -> None:
    """Delete synthetic files no org of the new ``sources.yaml`` uses: the layout reserves
    ``schemas/*.json`` and ``labels/syn*.jsonl`` for synthetic orgs; files of an org still
    listed are never touched. Only these globs are deleted, never a path built from an org id
    read from ``sources.yaml`` (an id such as ``../x`` would point outside the folder).
    """
    candidates = set((root / "schemas").glob("*.json"))
    candidates |= set((root / "labels").glob("syn*.jsonl"))
    for path in sorted(candidates):
        if path.stem not in keep:
            path.unlink(missing_ok=True)
