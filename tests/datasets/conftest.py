"""Small slices of the real CRM datasets in ../shared/data/crm-datasets, loaded and written
once per session. Every test here skips when the shared data is absent (unless
FEDCRM_REQUIRE_SHARED=1)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedcrm.datasets import LOADERS, RealFederation
from tests.conftest import SHARED_DATA, _require_shared

#: rows per slice: enough for every org to keep both outcome classes
SLICE_ROWS = 600
NAMES = tuple(LOADERS)


@pytest.fixture(scope="session")
def crm_root() -> Path:
    """../shared/data/crm-datasets."""
    return _require_shared(SHARED_DATA / "crm-datasets")


@pytest.fixture(scope="session")
def slices(crm_root: Path) -> dict[str, RealFederation]:
    """Every dataset as a federation of a seeded 600-row slice."""
    return {name: loader(crm_root, seed=0, max_rows=SLICE_ROWS)
            for name, loader in LOADERS.items()}


@pytest.fixture(scope="session")
def written(slices: dict[str, RealFederation],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every slice written in the synth layout."""
    return {name: federation.write(tmp_path_factory.mktemp(name))
            for name, federation in slices.items()}


def read_source(crm_root: Path, folder: str, file: str) -> pd.DataFrame:
    """A source CSV as text, blank cells as empty strings (as the loaders read it)."""
    return pd.read_csv(crm_root / folder / file, dtype=str, keep_default_na=False)


def read_org_records(folder: Path, sobject: str) -> pd.DataFrame:
    """An org's records CSV as text, empty cells as empty strings."""
    return pd.read_csv(folder / "records" / f"{sobject}.csv", dtype=str,
                       keep_default_na=False)
