"""Example org metadata bundled with fedcrm (invented, for the quick start and tutorials)."""

from __future__ import annotations

from pathlib import Path

from fedcrm.errors import ConfigError

_ROOT = Path(__file__).resolve().parent


def example_org_path(name: str = "acme") -> Path:
    """Path of a bundled example org (``acme``: a small sfdx project)."""
    path = _ROOT / name
    if not path.is_dir():
        available = sorted(
            p.name for p in _ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")
        )
        raise ConfigError(f"no example org {name!r}; available: {', '.join(available)}")
    return path
