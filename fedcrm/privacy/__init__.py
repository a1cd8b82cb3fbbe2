"""Differential privacy for federated training: budgets, engines, ledger, advice, attacks.

Two modes, one engine object per participant that owns its privacy state:

* :class:`RecordLevelDP` — record-level DP-SGD with Opacus (per-example clipping, Gaussian
  noise, Poisson sampling), σ calibrated from the participant's (ε, δ), rounds and local
  epochs; PRV accountant by default, RDP available.
* :class:`ClientLevelDP` — client-level DP-FedAvg: clipped updates with distributed Gaussian
  noise shares for encrypted aggregation, accounted with dp-accounting (RDP or PLD).

Both check before every round that it is affordable (raising :class:`BudgetExhausted`, a
:class:`fedcrm.errors.PrivacyBudgetExceeded`), write an append-only JSON-lines ledger
(:func:`read_ledger`, :func:`summarize_ledger`), and save/restore their accountant so ε is
identical after a restart. **Smaller ε is stronger privacy.**
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fedcrm.privacy.accountants import (
        calibrate_client_noise_multiplier,
        client_level_epsilon,
    )
    from fedcrm.privacy.advice import (
        EpsilonAdvice,
        SensitivityRow,
        Tier,
        advise_epsilon,
        sensitivity_analysis,
    )
    from fedcrm.privacy.attacks import (
        membership_inference_auc,
        per_example_losses,
        shadow_model_attack_auc,
    )
    from fedcrm.privacy.budget import (
        BudgetExhausted,
        LedgerError,
        RoundStepLimitExceeded,
        validate_budget,
    )
    from fedcrm.privacy.client_level import (
        ClientLevelDP,
        PrivatizedUpdate,
        add_noise_share,
        clip_update,
        update_norm,
    )
    from fedcrm.privacy.ledger import (
        LedgerEvent,
        LedgerRecord,
        LedgerSummary,
        PrivacyLedger,
        read_ledger,
        summarize_ledger,
    )
    from fedcrm.privacy.models import (
        ClientLevelPlan,
        ClientLevelState,
        RecordLevelPlan,
        RecordLevelState,
        RoundSpend,
    )
    from fedcrm.privacy.record_level import PrivateTraining, RecordLevelDP
    from fedcrm.privacy.state import Recovery, load_engine, read_state, recover_state

# Submodules are imported on first use (PEP 562), so that `fedcrm privacy advise` and
# `import fedcrm.privacy.ledger` do not pay for importing torch, Opacus and dp-accounting.
_EXPORTS: dict[str, str] = {
    "BudgetExhausted": "fedcrm.privacy.budget",
    "ClientLevelDP": "fedcrm.privacy.client_level",
    "ClientLevelPlan": "fedcrm.privacy.models",
    "ClientLevelState": "fedcrm.privacy.models",
    "EpsilonAdvice": "fedcrm.privacy.advice",
    "LedgerError": "fedcrm.privacy.budget",
    "LedgerEvent": "fedcrm.privacy.ledger",
    "LedgerRecord": "fedcrm.privacy.ledger",
    "LedgerSummary": "fedcrm.privacy.ledger",
    "PrivacyLedger": "fedcrm.privacy.ledger",
    "PrivateTraining": "fedcrm.privacy.record_level",
    "PrivatizedUpdate": "fedcrm.privacy.client_level",
    "RecordLevelDP": "fedcrm.privacy.record_level",
    "RecordLevelPlan": "fedcrm.privacy.models",
    "RecordLevelState": "fedcrm.privacy.models",
    "Recovery": "fedcrm.privacy.state",
    "RoundSpend": "fedcrm.privacy.models",
    "RoundStepLimitExceeded": "fedcrm.privacy.budget",
    "SensitivityRow": "fedcrm.privacy.advice",
    "Tier": "fedcrm.privacy.advice",
    "add_noise_share": "fedcrm.privacy.client_level",
    "advise_epsilon": "fedcrm.privacy.advice",
    "calibrate_client_noise_multiplier": "fedcrm.privacy.accountants",
    "client_level_epsilon": "fedcrm.privacy.accountants",
    "clip_update": "fedcrm.privacy.client_level",
    "load_engine": "fedcrm.privacy.state",
    "membership_inference_auc": "fedcrm.privacy.attacks",
    "per_example_losses": "fedcrm.privacy.attacks",
    "read_ledger": "fedcrm.privacy.ledger",
    "read_state": "fedcrm.privacy.state",
    "recover_state": "fedcrm.privacy.state",
    "sensitivity_analysis": "fedcrm.privacy.advice",
    "shadow_model_attack_auc": "fedcrm.privacy.attacks",
    "summarize_ledger": "fedcrm.privacy.ledger",
    "update_norm": "fedcrm.privacy.client_level",
    "validate_budget": "fedcrm.privacy.budget",
}

__all__ = [
    "BudgetExhausted",
    "ClientLevelDP",
    "ClientLevelPlan",
    "ClientLevelState",
    "EpsilonAdvice",
    "LedgerError",
    "LedgerEvent",
    "LedgerRecord",
    "LedgerSummary",
    "PrivacyLedger",
    "PrivateTraining",
    "PrivatizedUpdate",
    "RecordLevelDP",
    "RecordLevelPlan",
    "RecordLevelState",
    "Recovery",
    "RoundSpend",
    "RoundStepLimitExceeded",
    "SensitivityRow",
    "Tier",
    "add_noise_share",
    "advise_epsilon",
    "calibrate_client_noise_multiplier",
    "client_level_epsilon",
    "clip_update",
    "load_engine",
    "membership_inference_auc",
    "per_example_losses",
    "read_ledger",
    "read_state",
    "recover_state",
    "sensitivity_analysis",
    "shadow_model_attack_auc",
    "summarize_ledger",
    "update_norm",
    "validate_budget",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fedcrm.privacy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
