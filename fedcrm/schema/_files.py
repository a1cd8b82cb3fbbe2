"""File discovery shared by the folder-based loaders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

#: tool, VCS and environment folders that never hold org metadata
SKIP_DIRS = frozenset({".git", ".sfdx", ".sf", "node_modules", "__pycache__", ".venv"})


def walk_files(root: Path) -> Iterator[Path]:
    """Files under ``root`` in sorted (deterministic) order, skipping :data:`SKIP_DIRS`."""
    for entry in sorted(root.iterdir()):
        if entry.is_dir():
            if entry.name not in SKIP_DIRS:
                yield from walk_files(entry)
        elif entry.is_file():
            yield entry
