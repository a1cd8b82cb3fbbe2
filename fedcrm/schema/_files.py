"""File discovery shared by the folder-based loaders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from fedcrm.schema._problems import ProblemLog

#: tool, VCS and environment folders that never hold org metadata
SKIP_DIRS = frozenset({".git", ".sfdx", ".sf", "node_modules", "__pycache__", ".venv"})


#: JSON files of an sfdx project's tooling, never describe output
_TOOL_JSON = frozenset({"sfdx-project.json", "package.json", "package-lock.json",
                        "jsconfig.json", "tsconfig.json", "project-scratch-def.json"})


def is_tool_json(relative: Path) -> bool:
    """A project tool's JSON file (``sfdx-project.json``, ``config/project-scratch-def.json``,
    a hidden file such as ``.eslintrc.json``, anything under ``.vscode/`` or another hidden
    folder), given relative to the folder loaded: never describe output."""
    return (relative.name in _TOOL_JSON or relative.name.endswith("-scratch-def.json")
            or any(part.startswith(".") for part in relative.parts))


def folder_org_id(folder: Path) -> str:
    """The org id a folder stands for: its name, or for ``.`` / ``..`` the real folder's."""
    return folder.name if folder.name not in ("", "..") else folder.resolve().name


def walk_files(root: Path, *, log: ProblemLog | None = None) -> Iterator[Path]:
    """Files under ``root`` in sorted (deterministic) order, skipping :data:`SKIP_DIRS`.

    Symbolic links are followed only while they stay inside ``root`` (a link to elsewhere
    would load files that are not part of this org), and no folder is read twice (a link
    back up the tree would otherwise be walked until the OS refuses with ELOOP). ``log``
    (when given) hears of every link not followed and every folder that cannot be listed;
    without it they are passed over silently (format detection only looks).
    """
    top = Path(os.path.realpath(root))
    yield from _walk(Path(root), top, top, {top}, log)


def _walk(folder: Path, resolved_folder: Path, top: Path, visited: set[Path],
          log: ProblemLog | None) -> Iterator[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        if log is not None:
            log.problem(f"cannot list this folder ({exc.strerror or exc})", path=folder)
        return
    for entry in entries:
        resolved = resolved_folder / entry.name
        if entry.is_symlink():
            resolved = Path(os.path.realpath(entry))
            if not resolved.exists():
                if log is not None:
                    log.note("broken symbolic link (or a link loop); ignored", path=entry)
                continue
            if not resolved.is_relative_to(top):
                if log is not None:
                    log.skip(f"symbolic link to {resolved}, outside {top}; not followed "
                             "(copy the files in, or load the folder it points to)", path=entry)
                continue
        if entry.is_dir():
            if entry.name in SKIP_DIRS:
                continue
            if entry.name.lower().endswith((".xml", ".object", ".json")) and log is not None:
                # a field or object file that is a folder would otherwise vanish unnoticed
                log.problem("a folder named like a metadata file; expected the file itself",
                            path=entry)
                continue
            if resolved in visited:
                if log is not None:
                    log.note(f"the folder {resolved} again (through a symbolic link); "
                             "not read twice", path=entry)
                continue
            visited.add(resolved)
            yield from _walk(entry, resolved, top, visited, log)
        elif entry.is_file():
            yield entry
