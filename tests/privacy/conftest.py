"""Shared settings for the privacy tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def _single_threaded_torch() -> Iterator[None]:
    # The models here are tiny; on a 2-core machine torch's intra-op threads cost more in
    # synchronisation than they gain (measured 5× slower). Restored for other packages' tests.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
