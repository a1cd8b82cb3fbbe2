"""Shared test fixtures and paths."""

from __future__ import annotations

import os
from collections.abc import Iterator
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


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread for the module's tests: their models are tiny, and on a 2-core machine
    torch's intra-op threads cost more in synchronisation than they gain (measured 5× slower).
    The previous count is restored for the other modules."""
    import torch  # here, not at the top: a test session that needs no torch does not load it

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
