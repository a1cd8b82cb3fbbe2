"""Shared test fixtures and paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED_DATA = REPO.parent / "shared" / "data"
REAL_ORGS = SHARED_DATA / "salesforce-metadata" / "orgs"


def _require_shared(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("FEDCRM_REQUIRE_SHARED") == "1":
        raise FileNotFoundError(f"{path} is required (FEDCRM_REQUIRE_SHARED=1) but missing")
    pytest.skip(f"{path} not present (the development data lives beside the repository)")


@pytest.fixture(scope="session")
def real_orgs_dir() -> Path:
    """The real public org metadata in ../shared/data/salesforce-metadata/orgs."""
    return _require_shared(REAL_ORGS)


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data (real public datasets and metadata)."""
    return _require_shared(SHARED_DATA)
