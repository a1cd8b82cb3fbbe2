"""Shared small federations for the generator tests (generated and written once per session)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fedcrm.synth import Federation, generate_federation

SEED = 11


@pytest.fixture(scope="session")
def federation() -> Federation:
    """Five small orgs (tens to a few hundred accounts each)."""
    return generate_federation(5, seed=SEED, scale=0.02)


@pytest.fixture(scope="session")
def written(federation: Federation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``federation`` written to disk."""
    return federation.write(tmp_path_factory.mktemp("federation"))


def read_records(folder: Path, sobject: str) -> pd.DataFrame:
    """A records CSV as text, empty cells as empty strings (as a downstream reader sees it)."""
    return pd.read_csv(folder / "records" / f"{sobject}.csv", dtype=str, keep_default_na=False)
