"""Finding and reading the real datasets in ``../shared/data/crm-datasets`` (never copied into
the repository), and taking small slices of them for tests."""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from fedcrm._csv import rows_with_lines
from fedcrm.datasets.spec import DatasetError, SourceValueError
from fedcrm.errors import ConfigError

#: the shared data folder (the one holding ``crm-datasets/``), overriding the default
ENV_SHARED_DATA = "FEDCRM_SHARED_DATA"
DATASETS_FOLDER = "crm-datasets"
#: smallest number of rows an org keeps in a ``max_rows`` slice (unless it has fewer)
MIN_ROWS_PER_ORG = 25


def default_data_root() -> Path:
    """The ``crm-datasets`` folder: under ``$FEDCRM_SHARED_DATA`` when set, else under
    ``../shared/data`` beside the repository (as :func:`fedcrm.matching.corpus.
    default_metadata_root` finds the public org metadata)."""
    override = os.environ.get(ENV_SHARED_DATA)
    shared = Path(override) if override else Path(__file__).resolve().parents[3] / "shared" / \
        "data"
    return shared / DATASETS_FOLDER


def resolve_root(root: str | Path | None) -> Path:
    """The ``crm-datasets`` folder from ``root`` (that folder, or the shared data folder above
    it), or the default; a clear error when it does not exist."""
    if root is None:
        folder = default_data_root()
        hint = (f"set {ENV_SHARED_DATA} to the shared data folder (the one holding "
                f"{DATASETS_FOLDER}/) or pass it as root= (CLI: --root)")
    else:
        folder = Path(root).expanduser()
        if (folder / DATASETS_FOLDER).is_dir():
            folder = folder / DATASETS_FOLDER
        hint = f"pass the {DATASETS_FOLDER} folder (or the shared data folder holding it)"
    if not folder.is_dir():
        raise DatasetError(f"{folder}: real CRM datasets not found; {hint}. The data lives "
                           "outside the repository, in ../shared/data/crm-datasets.")
    return folder


def read_csv(path: Path, required: Iterable[str]) -> pd.DataFrame:
    """A source CSV as text (blank cells as empty strings, nothing else treated as missing),
    checked for the columns the loader needs."""
    if not path.is_file():
        if (path.parent.parent / path.name).is_file():
            raise DatasetError(f"{path}: file not found; {path.parent.parent} is the "
                               f"{path.parent.name} folder itself: pass the folder above it")
        folder = path.parent
        if not folder.is_dir():
            raise DatasetError(
                f"{path}: file not found; {folder.parent} has no {folder.name}/ folder: pass "
                f"the {DATASETS_FOLDER} folder (or the shared data folder holding it) as root")
        # the source's own spelling of the name ("Leads.csv", "Churn_Modelling.csv")
        other = next((p for p in sorted(folder.iterdir())
                      if p.name.lower() == path.name.lower() and p.is_file()), None)
        if other is not None:
            raise DatasetError(f"{path}: file not found, but {other.name} is there; rename "
                               f"it to {path.name}")
        raise DatasetError(f"{path}: file not found; the dataset folder is incomplete (it "
                           f"needs {path.name})")
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if start == b"PK\x03\x04":  # a zip: an Excel workbook saved under the .csv name
        raise DatasetError(f"{path}: a spreadsheet workbook (.xlsx), not CSV text; save it "
                           "as CSV (UTF-8)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except UnicodeDecodeError as exc:
        # pandas decodes in chunks: the byte, not its line
        raise DatasetError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
                           "save it as CSV (UTF-8)") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path}: cannot read CSV ({exc})") from exc
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")
    return frame


T = TypeVar("T")


def first_line(path: Path, column: str, cell: str) -> int | None:
    """The line of ``path`` (a CSV with a header) where the first row whose ``column`` holds
    ``cell`` (stripped) starts; None if none does or the file cannot be read."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = rows_with_lines(handle)
            _, header = next(rows, (0, []))
            if column not in header:
                return None
            position = header.index(column)
            for start, row in rows:
                if len(row) > position and row[position].strip() == cell:
                    return start
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return None


def names_source_lines(loader: Callable[..., T]) -> Callable[..., T]:
    """A dataset loader whose errors about a source cell (:class:`SourceValueError`) also name
    the first line of the file holding that cell (the example the message quotes)."""

    @functools.wraps(loader)
    def load(root: str | Path | None = None, **options: object) -> T:
        try:
            return loader(root, **options)
        except SourceValueError as exc:
            line = first_line(resolve_root(root) / exc.file, exc.column, exc.cell)
            if line is None:
                raise
            raise DatasetError(f"{exc} (first at line {line} of {exc.file})") from exc

    return load


def check_max_rows(max_rows: int | None, n_orgs: int) -> int | None:
    """Validate ``max_rows`` (None: everything)."""
    if max_rows is None:
        return None
    if isinstance(max_rows, bool) or not isinstance(max_rows, int | np.integer):
        raise ConfigError(f"max_rows must be a whole number or None, got {max_rows!r}")
    if max_rows < n_orgs:
        raise ConfigError(f"max_rows must be at least the number of orgs ({n_orgs}), "
                          f"got {max_rows}")
    return int(max_rows)


def check_seed(seed: int) -> int:
    """Validate ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative whole number, got {seed!r}")
    return int(seed)


def allocate(sizes: Sequence[int], total: int, minimum: int = MIN_ROWS_PER_ORG) -> list[int]:
    """Rows per org for a slice of ``total`` rows: proportional to ``sizes``, each org keeping
    at least ``min(size, minimum, total // n_orgs)`` so none vanishes, never more than it has,
    and a larger org never fewer rows than a smaller one (the split's imbalance is kept).

    Water-filling: find the share λ with Σ clip(λ·size, floor, size) = total, then round down
    and hand the leftover rows to the largest fractional parts.
    """
    size = np.asarray(sizes, dtype=float)
    if total >= size.sum():
        return [int(s) for s in sizes]
    floor = np.minimum(size, min(minimum, total // len(size)))

    def filled(share: float) -> np.ndarray:
        return np.clip(share * size, floor, size)

    low, high = 0.0, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if filled(middle).sum() < total else (low, middle)
    exact = filled(high)
    counts = np.floor(exact)
    leftover = round(float(total - counts.sum()))
    order = sorted(range(len(size)), key=lambda i: (-(exact[i] - counts[i]), -size[i]))
    for index in order[:max(leftover, 0)]:
        counts[index] += 1
    return [int(c) for c in counts]


def slice_rows(frame: pd.DataFrame, groups: Sequence[pd.Index], max_rows: int | None,
               seed: int) -> list[pd.Index]:
    """Row labels of each group, or a seeded random subset of about ``max_rows`` rows split
    across the groups by :func:`allocate` (rows keep their file order)."""
    if max_rows is None:
        return list(groups)
    counts = allocate([len(g) for g in groups], max_rows)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, len(frame)]))
    chosen = []
    for group, count in zip(groups, counts, strict=True):
        picked = rng.choice(len(group), size=count, replace=False)
        chosen.append(group[np.sort(picked)])
    return chosen
