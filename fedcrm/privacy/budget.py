"""Privacy budgets: what a participant may spend, validated once at the boundary.

An (ε, δ) budget bounds how much any one protected unit (a CRM record in record-level mode,
a whole participant in client-level mode) can change what is released. **Smaller ε is
stronger privacy.** δ is the probability that the ε bound fails outright, so it must be well
below ``1/n``: a mechanism that publishes one of ``n`` records at random is (0, 1/n)-DP, which
is no protection at all (Dwork & Roth 2014, "The Algorithmic Foundations of Differential
Privacy", §2.3).

The signals a trainer acts on are :class:`BudgetExhausted` (the next round would overspend,
drop the participant) and :class:`RoundStepLimitExceeded` (the training loop took more
optimizer steps than the round's plan, the step was refused). Both derive from
:class:`fedcrm.errors.PrivacyBudgetExceeded`.
"""

from __future__ import annotations

import math
import numbers

from fedcrm.errors import ConfigError, FedcrmError, PrivacyBudgetExceeded

__all__ = [
    "BudgetExhausted",
    "LedgerError",
    "RoundStepLimitExceeded",
    "is_positive_integer",
    "validate_budget",
]


class BudgetExhausted(PrivacyBudgetExceeded):
    """The participant's next round would spend more ε than its budget allows.

    The trainer should stop asking this participant for updates. The numbers are attributes
    so a coordinator can log them without parsing the message.
    """

    def __init__(
        self,
        *,
        participant_id: str,
        epsilon_spent: float,
        epsilon_projected: float,
        epsilon_target: float,
        delta: float,
        rounds_completed: int,
        accountant: str,
    ) -> None:
        self.participant_id = participant_id
        self.epsilon_spent = epsilon_spent
        self.epsilon_projected = epsilon_projected
        self.epsilon_target = epsilon_target
        self.delta = delta
        self.rounds_completed = rounds_completed
        self.accountant = accountant
        super().__init__(
            f"participant {participant_id!r} stops contributing: after {rounds_completed} "
            f"round(s) it has spent ε={epsilon_spent:.4g} of its ε={epsilon_target:.4g} budget "
            f"(δ={delta:.3g}, {accountant} accountant); one more round would bring it to "
            f"ε={epsilon_projected:.4g}. Drop it from the next rounds, or plan a new budget "
            f"with the data owner."
        )


class RoundStepLimitExceeded(PrivacyBudgetExceeded):
    """The training loop tried to take more DP-SGD steps in one round than were planned.

    The step that triggered it was refused before the parameters changed, and it was not
    charged to the accountant (nothing derived from it was released).
    """

    def __init__(
        self,
        *,
        participant_id: str,
        steps_allowed: int,
        round_index: int,
        round_closed: bool = False,
    ) -> None:
        self.participant_id = participant_id
        self.steps_allowed = steps_allowed
        self.round_index = round_index
        self.round_closed = round_closed
        if round_closed:
            problem = (
                f"round {round_index} was already recorded, and its optimizer took another "
                f"DP-SGD step"
            )
        else:
            problem = (
                f"round {round_index} is planned for {steps_allowed} DP-SGD steps "
                f"(local_epochs × steps per epoch) and the training loop asked for one more"
            )
        super().__init__(
            f"participant {participant_id!r}: {problem}; the step was refused. Train exactly "
            f"`local_epochs` passes over the data loader returned by wrap(), call "
            f"record_round(), and wrap again for the next round."
        )


class LedgerError(FedcrmError):
    """A privacy ledger or saved engine state could not be read or is inconsistent."""


def is_positive_integer(value: object) -> bool:
    """Whether ``value`` is an integer ≥ 1 (numpy integers count; ``bool`` does not)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1


def is_positive_number(value: object) -> bool:
    """Whether ``value`` is a finite real number > 0 (not a bool, text or ``None``, which
    ``math.isfinite`` meets with a raw ``TypeError``)."""
    return _is_real(value) and math.isfinite(float(value)) and float(value) > 0  # type: ignore[arg-type]


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


#: the largest ε a budget may have: e^100 bounds nothing, and calibrating noise for ε in the
#: thousands takes the PRV accountant minutes
MAX_EPSILON = 100.0


def validate_budget(
    epsilon: float,
    delta: float,
    n_protected: int,
    *,
    participant_id: str,
    unit: str = "training records",
) -> None:
    """Refuse a budget that gives no meaningful guarantee, with a message that says why.

    ``n_protected`` is the number of protected units (training records for record-level DP,
    participants for client-level DP); δ must be strictly below ``1/n_protected``.

    Raises:
        ConfigError: ε ≤ 0, above :data:`MAX_EPSILON` or not finite, δ ≤ 0, or δ ≥ 1/n.
    """
    who = f"participant {participant_id!r}"
    if not is_positive_integer(n_protected):
        raise ConfigError(
            f"{who}: the number of {unit} must be an integer ≥ 1, got {n_protected!r}"
        )
    if not _is_real(epsilon) or not math.isfinite(epsilon) or epsilon <= 0:  # type: ignore[arg-type]
        raise ConfigError(
            f"{who}: epsilon must be a finite number > 0 (smaller ε is stronger privacy; "
            f"typical budgets are 0.5–10), got epsilon={epsilon!r}"
        )
    if epsilon > MAX_EPSILON:
        raise ConfigError(
            f"{who}: epsilon={epsilon!r} promises nothing (an attacker's odds may grow by "
            f"e^ε); budgets above {MAX_EPSILON:g} are refused (typical budgets are 0.5–10; to "
            "train without DP, leave privacy off)"
        )
    delta_limit = 1.0 / n_protected
    if not _is_real(delta) or not math.isfinite(delta) or delta <= 0:  # type: ignore[arg-type]
        raise ConfigError(
            f"{who}: delta must be a number in (0, 1/n) = (0, {delta_limit:.3g}) for "
            f"n={n_protected} {unit}, got delta={delta!r}"
        )
    if delta >= delta_limit:
        raise ConfigError(
            f"{who}: delta={delta:.3g} is ≥ 1/n = {delta_limit:.3g} for n={n_protected} {unit}; "
            f"such a δ allows one {unit.rstrip('s')} to be published outright. Use δ well below "
            f"1/n, e.g. delta={min(1e-5, 0.1 / n_protected):.3g}."
        )
