"""Markers of the federation tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "flower_simulation: runs Flower's simulation engine (Ray), ~20-40 s each")
    config.addinivalue_line(
        "markers", "flower_deployment: starts real flower-superlink/flower-supernode "
        "processes on 127.0.0.1 (TLS, node authentication), up to ~2 min each")
