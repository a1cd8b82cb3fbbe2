"""Writing a federation folder safely: the layout ``fedcrm synth`` and ``fedcrm datasets export``
share (``federation.json`` and one folder per org, see docs/synth.md).

:func:`write_federation_folder` writes every org into a hidden staging folder inside the output
folder first, so a failure while writing leaves an earlier federation there exactly as it was.
Only then does it swap: a marker file naming every folder the swap may leave behind is written,
``federation.json`` is removed, the earlier org folders are removed, the new ones are renamed in,
``federation.json`` is written (atomically) and the marker removed. A swap stopped half-way
leaves no manifest, so nothing reads the folder as a federation, and the marker lets the next
write finish the job. It only ever removes what an earlier write of ours left: org folders its
manifest (one whose ``generator`` is fedcrm's) or marker names that hold nothing but what
:func:`write_org_folder` writes, and its own staging folders and temporary files. Anything else
of the user's in the folder stays, and a ``federation.json`` fedcrm did not write is refused.

Hand-written: no library swaps a set of folders in as one unit; this is the usual
write-aside-then-rename scheme, with a marker for the part a rename cannot make atomic.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from fedcrm._files import check_writable, write_atomically
from fedcrm.errors import ConfigError
from fedcrm.matching.corpus import FieldLabel, write_labels
from fedcrm.schema.models import OrgSchema
from fedcrm.synth.sfdx_writer import write_metadata

if TYPE_CHECKING:
    from fedcrm.synth.planner import CustomObjectPlan

__all__ = ["ORG_ENTRIES", "write_federation_folder", "write_org_folder"]

#: everything :func:`write_org_folder` puts in an org folder
ORG_ENTRIES = frozenset({"metadata", "records", "latent", "ground_truth.jsonl", "units.json"})
_MANIFEST = "federation.json"
#: hidden staging folders inside the output folder (left over only if the process was killed)
_STAGING_PREFIX = ".fedcrm-writing-"
#: written before the swap and removed after it: the folders a stopped swap may leave behind
_MARKER = ".fedcrm-swap.json"
_MARKER_NOTE = ("An unfinished write of a federation (it was interrupted while swapping in the "
                "new org folders). Write again into this folder to finish; the folders listed "
                "here are replaced.")
#: leftovers of ours: staging folders, and write_atomically's temporary files
_OURS_TEMPORARY = (_STAGING_PREFIX, f".{_MARKER}.", f".{_MANIFEST}.",
                   # names of the two earlier implementations' staging folders and marker
                   ".fedcrm-synth-tmp-", ".fedcrm-export-", ".fedcrm-synth-writing.json")
#: the ``generator`` of the manifests this module writes (fedcrm synth, fedcrm datasets export)
_GENERATORS = frozenset({"fedcrm.synth", "fedcrm.datasets"})


def write_org_folder(
    folder: Path,
    schema: OrgSchema,
    tables: Mapping[str, pd.DataFrame],
    labels: Iterable[FieldLabel],
    units: Mapping[tuple[str, str], BaseModel],
    *,
    custom_object: CustomObjectPlan | None = None,
    latent: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Write one org: ``metadata/`` (sfdx XML), ``records/<Object>.csv``,
    ``ground_truth.jsonl``, ``units.json`` and, if given, ``latent/<Object>.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_metadata(schema, folder / "metadata", custom_object)
    records = folder / "records"
    records.mkdir(exist_ok=True)
    for sobject, table in tables.items():
        table.to_csv(records / f"{sobject}.csv", index=False, lineterminator="\n")
    write_labels(folder / "ground_truth.jsonl", list(labels))
    encoded = {f"{obj}.{name}": encoding.model_dump(mode="json", exclude_defaults=True)
               for (obj, name), encoding in sorted(units.items())}
    (folder / "units.json").write_text(
        json.dumps(encoded, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if latent is not None:
        latent_folder = folder / "latent"
        latent_folder.mkdir(exist_ok=True)
        for sobject, frame in latent.items():
            frame.to_csv(latent_folder / f"{sobject}.csv", index=False, lineterminator="\n")


def write_federation_folder(
    out: Path,
    org_ids: Sequence[str],
    write_org: Callable[[str, Path], None],
    manifest: str,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Write a federation into ``out`` (empty, missing, or an earlier federation of ours).

    ``write_org(org_id, folder)`` writes one org into ``folder``; ``manifest`` is the text of
    ``federation.json``. ``progress("write", done, total)`` is called after each org.

    Raises:
        ConfigError: ``out`` is a file, or a non-empty folder that is not a federation of ours,
            or holds a folder of the user's under a new org's name (refused before anything is
            written); or a write or rename failed (the message says what the folder holds).
    """
    created = not out.exists()
    _check(out, org_ids)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = out / f"{_STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
        staging.mkdir()
    except OSError as exc:
        raise ConfigError(f"cannot write the federation to {out} ({exc.strerror or exc})") from exc
    try:
        try:
            for done, org_id in enumerate(org_ids, start=1):
                write_org(org_id, staging / org_id)
                if progress is not None:
                    progress("write", done, len(org_ids))
        except OSError as exc:
            raise ConfigError(
                f"cannot write the federation to {out} ({exc.strerror or exc}); "
                + ("nothing was written" if created else
                   "what the folder held before is unchanged")) from exc
        try:
            _swap_in(staging, out, org_ids, manifest)
        except OSError as exc:
            raise ConfigError(
                f"cannot move the new federation into {out} ({exc.strerror or exc}); the folder "
                "is left without federation.json, so nothing reads it as a federation: write "
                "it again to finish") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
    return out


def check_output_folder(out: Path) -> None:
    """Refuse an output folder the federation could not be written to (a file, a folder of
    the user's, a place that cannot be written), before the work that produces it; the
    org-name clashes are checked at the write, when the org ids are known."""
    _check(out, ())
    try:
        check_writable(out / _MANIFEST)
    except OSError as exc:
        raise ConfigError(f"cannot write the federation to {out} "
                          f"({exc.strerror or exc})") from exc


def _check(out: Path, org_ids: Sequence[str]) -> None:
    """Refuse an output that is not ours to rewrite, before anything is written."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} is a file; give a folder")
    if not out.is_dir():
        return
    try:
        entries = list(out.iterdir())
    except OSError as exc:
        raise ConfigError(f"cannot read output folder {out} ({exc.strerror or exc})") from exc
    previous = set(_previous(out))
    ours = _manifest_is_ours(out / _MANIFEST)
    if (out / _MANIFEST).exists() and not ours:
        # a federation.json of the user's (or of another tool) would be replaced
        raise ConfigError(
            f"output folder {out} holds a federation.json that fedcrm did not write (no "
            "\"generator\": \"fedcrm.synth\" or \"fedcrm.datasets\" in it); choose an empty "
            "folder so nothing of yours is overwritten")
    marked = ours or (out / _MARKER).is_file()
    if not marked and not all(e in previous or e.name == _MARKER for e in entries):
        raise ConfigError(
            f"output folder {out} is not empty and holds no federation.json; choose an empty "
            "folder so nothing of yours is overwritten")
    clashes = [name for name in org_ids
               if ((out / name).exists() or (out / name).is_symlink())
               and out / name not in previous]
    if clashes:
        raise ConfigError(
            f"output folder {out} already holds {', '.join(clashes)}, which is not an org "
            "folder an earlier write left there and would be replaced; move or rename it, or "
            "choose another folder")


def _swap_in(staging: Path, out: Path, org_ids: Sequence[str], manifest: str) -> None:
    """Replace what an earlier write left in ``out`` by the orgs written in ``staging``."""
    previous = [p for p in _previous(out) if p != staging]
    owned = sorted({p.name for p in previous if p.is_dir() and not p.name.startswith(".")}
                   | set(org_ids))
    write_atomically(out / _MARKER, json.dumps({"note": _MARKER_NOTE, "folders": owned},
                                               indent=2) + "\n")
    (out / _MANIFEST).unlink(missing_ok=True)
    for path in previous:
        if path.is_dir() and not path.is_symlink() and not path.name.startswith("."):
            # renamed aside first (atomic), so a kill mid-delete leaves a hidden leftover of
            # ours, never a half-emptied org folder that no longer looks like one
            aside = out / f"{_STAGING_PREFIX}old-{uuid.uuid4().hex[:8]}-{path.name}"
            os.replace(path, aside)
            path = aside
        _remove(path)
    for org_id in org_ids:
        os.replace(staging / org_id, out / org_id)
    write_atomically(out / _MANIFEST, manifest)
    (out / _MARKER).unlink()


def _is_org_folder(path: Path, named: set[str]) -> bool:
    """A folder holding nothing but what :func:`write_org_folder` writes, that our manifest or
    marker names, whole. A folder merely named like a generated org (``org07_mine``) is not
    ours: one holding a user's ``records/`` was taken for an earlier write's and deleted."""
    if path.name not in named or not path.is_dir() or path.is_symlink():
        return False
    if not all(child.name in ORG_ENTRIES for child in path.iterdir()):
        return False
    return (path / "ground_truth.jsonl").is_file()


def _manifest_is_ours(path: Path) -> bool:
    """True for a ``federation.json`` this module wrote (its ``generator`` says so)."""
    data = _json_object(path)
    return data is not None and data.get("generator") in _GENERATORS


def _previous(out: Path) -> list[Path]:
    """What earlier writes of ours left in ``out``: org folders, staging folders, temporary
    files (never the marker itself, which the swap rewrites)."""
    manifest = _named(out / _MANIFEST) if _manifest_is_ours(out / _MANIFEST) else set()
    named = {name for name in manifest | _named(out / _MARKER)
             if name and Path(name).name == name and name not in {".", ".."}}
    return sorted(
        entry for entry in out.iterdir()
        if entry.name != _MARKER and (
            entry.name.startswith(_OURS_TEMPORARY) or _is_org_folder(entry, named)))


def _named(path: Path) -> set[str]:
    """Org folder names in a manifest (``orgs[].profile.org_id`` or ``orgs[].org_id``) or a
    marker (``folders``); nothing from a file that is missing or damaged."""
    data = _json_object(path)
    if data is None:
        return set()
    names: set[str] = set()
    folders = data.get("folders")
    for name in folders if isinstance(folders, list) else []:
        if isinstance(name, str):
            names.add(name)
    orgs = data.get("orgs")
    for org in orgs if isinstance(orgs, list) else []:
        if not isinstance(org, dict):
            continue
        profile = org.get("profile")
        org_id = profile.get("org_id") if isinstance(profile, dict) else org.get("org_id")
        if isinstance(org_id, str):
            names.add(org_id)
    return names


def _json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` if it is missing, damaged or not an object."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _remove(path: Path) -> None:
    """Delete a file or folder of ours if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
