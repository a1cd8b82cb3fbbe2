"""Federation backends besides the in-process simulation (:class:`fedcrm.federation.Coordinator`).

``flower`` runs the same federation on Flower (``pip install "flwr[simulation]>=1.42,<1.43"``):
:func:`run_flower_simulation` on Flower's simulation engine, :class:`LocalFederation` as real
SuperLink/SuperNode processes on this machine, and ``deployment_server_app`` /
``deployment_client_app`` for SuperNodes in separate organisations. Names are imported on
first use, so ``import fedcrm.federation`` never needs Flower. See ``docs/flower.md``.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

from fedcrm.errors import ConfigError
from fedcrm.federation.models import resolve_device

# Flower reports usage events to its makers unless told not to (read when flwr is first
# imported); a federation across companies should not phone home. Set it to 1 to opt in.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

_EXPORTS = {
    "FlowerCoordinator": "fedcrm.federation.backends.flower",
    "FlowerSecureCoordinator": "fedcrm.federation.backends.flower",
    "SimulatedOrg": "fedcrm.federation.backends.flower",
    "deployment_client_app": "fedcrm.federation.backends.flower",
    "deployment_server_app": "fedcrm.federation.backends.flower",
    "make_client_app": "fedcrm.federation.backends.flower",
    "make_server_app": "fedcrm.federation.backends.flower",
    "read_result": "fedcrm.federation.backends.flower",
    "run_federation": "fedcrm.federation.backends.flower",
    "run_flower_simulation": "fedcrm.federation.backends.flower",
    "LocalFederation": "fedcrm.federation.backends.local",
    "LocalOrg": "fedcrm.federation.backends.local",
    "LocalRunError": "fedcrm.federation.backends.local",
    "NodeResources": "fedcrm.federation.backends.node",
    "save_participant_data": "fedcrm.federation.backends.node",
    "write_key_files": "fedcrm.federation.backends.node",
    "run_task_flower": "fedcrm.federation.backends.task",
}

__all__ = sorted([*_EXPORTS, "check_simulation_device"])


def check_simulation_device(device: str) -> None:
    """Refuse a GPU for Flower's simulation engine (here, not in the Flower module, so it is
    checked before anything needs Flower): Ray starts the virtual nodes with no GPU share and
    hides the GPUs from them, so ``cuda`` would fail in every node at enrolment and ``auto``
    would train the nodes on the CPU while the in-process baselines use the GPU."""
    if resolve_device(device).type != "cpu":
        raise ConfigError(
            f"device {device!r}: Flower's simulation engine gives its virtual nodes no GPU; "
            "use device 'cpu' with backend 'flower' (or the in-process backend to train on "
            "the GPU). In a Flower deployment each node sets its own device.")


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = import_module(_EXPORTS[name])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("flwr", "ray"):
            raise ImportError(
                f"fedcrm.federation.backends.{name} needs Flower: "
                'pip install "flwr[simulation]>=1.42,<1.43"') from exc
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value
