"""Advice on ε per participant, and a helper to measure what privacy costs in utility.

The rule behind :func:`advise_epsilon` (conservative: when utility and regulation disagree,
regulation wins):

1. **Utility.** For DP-SGD with a fixed batch size, number of epochs and noise-to-signal ratio
   in the averaged gradient, ε scales like 1/√n: ε ≈ q·√(T·log(1/δ))/σ with q = B/n and
   T = epochs·n/B steps gives ε ∝ √(B·epochs/n)/σ (Abadi et al. 2016, Thm. 1). We anchor
   the curve at ε = 3 for n = 10 000 records, a level at which DP-SGD on tabular CRM-sized
   models typically keeps most of its non-private AUC: ``ε_utility(n) = 3·√(10 000/n)``.
   Smaller orgs need a larger ε for the same utility.
2. **Regulation caps.** The tier caps ε, tighter for larger n (a large org can afford strong
   privacy): ``strict`` (GDPR Art. 9 special categories, HIPAA) 2 → 1, ``standard`` 8 → 3,
   ``relaxed`` 10, interpolated on log₁₀ n between n = 1 000 and n = 100 000.
3. **Floor.** Never below ε = 0.5: below it even very large orgs lose most utility, and the
   cap already protects.

Recommended ε = max(0.5, min(cap(tier, n), ε_utility(n))). It is non-increasing in n and
ordered strict ≤ standard ≤ relaxed for every n. The suggested δ is min(10⁻⁵, 0.1/n), well
below 1/n.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from fedcrm.errors import ConfigError
from fedcrm.privacy.budget import is_positive_integer

__all__ = [
    "EpsilonAdvice",
    "SensitivityRow",
    "Tier",
    "advise_epsilon",
    "sensitivity_analysis",
]

UTILITY_ANCHOR_EPSILON = 3.0
UTILITY_ANCHOR_N = 10_000
EPSILON_FLOOR = 0.5
#: below this many records DP-SGD rarely learns anything useful at a cap-respecting ε
SMALL_DATA_WARNING_N = 1_000
_CAP_SMALL_N, _CAP_LARGE_N = 1_000, 100_000


class Tier(StrEnum):
    """Regulatory tier of a participant's data."""

    #: special categories (GDPR Art. 9: health, religion, …) or HIPAA-covered data
    STRICT = "strict"
    #: ordinary personal data (GDPR Art. 6) in CRM records
    STANDARD = "standard"
    #: pseudonymous or low-risk business data, with the data owner's explicit agreement
    RELAXED = "relaxed"


# (cap for n ≤ 1 000, cap for n ≥ 100 000)
_TIER_CAPS: dict[Tier, tuple[float, float]] = {
    Tier.STRICT: (2.0, 1.0),
    Tier.STANDARD: (8.0, 3.0),
    Tier.RELAXED: (10.0, 10.0),
}


class EpsilonAdvice(BaseModel):
    """What :func:`advise_epsilon` recommends, and why."""

    model_config = ConfigDict(frozen=True)

    n_samples: int
    tier: Tier
    epsilon: float
    epsilon_cap: float
    epsilon_for_utility: float
    delta: float
    rationale: str
    warnings: list[str]


def _tier_cap(tier: Tier, n_samples: int) -> float:
    small, large = _TIER_CAPS[tier]
    position = (math.log10(n_samples) - math.log10(_CAP_SMALL_N)) / (
        math.log10(_CAP_LARGE_N) - math.log10(_CAP_SMALL_N)
    )
    position = min(1.0, max(0.0, position))
    return small + (large - small) * position


def advise_epsilon(n_samples: int, tier: Tier | str = Tier.STANDARD) -> EpsilonAdvice:
    """Recommend a record-level ε (and δ) for a participant with ``n_samples`` records.

    See the module docstring for the rule. Smaller ε is stronger privacy; the recommendation
    is the *largest* ε the tier allows that the data size needs, never more.

    Raises:
        ConfigError: ``n_samples`` < 1 or an unknown tier.
    """
    if not is_positive_integer(n_samples):
        raise ConfigError(f"n_samples must be an integer ≥ 1, got {n_samples!r}")
    n_samples = int(n_samples)
    try:
        tier = Tier(tier)
    except ValueError:
        raise ConfigError(f"tier must be one of {[t.value for t in Tier]}, got {tier!r}") from None
    # ε ∝ 1/√n at fixed utility (Abadi et al. 2016, Thm. 1 with q = B/n, T = epochs·n/B)
    for_utility = UTILITY_ANCHOR_EPSILON * math.sqrt(UTILITY_ANCHOR_N / n_samples)
    cap = _tier_cap(tier, n_samples)
    epsilon = max(EPSILON_FLOOR, min(cap, for_utility))
    delta = min(1e-5, 0.1 / n_samples)
    if for_utility > cap:
        reason = (
            f"the data size alone would call for ε≈{for_utility:.2f}, but the {tier.value} tier "
            f"caps ε at {cap:.2f} for n={n_samples}; the cap wins (expect some utility loss)"
        )
    elif for_utility < EPSILON_FLOOR:
        reason = (
            f"with n={n_samples} records even ε≈{for_utility:.2f} would keep utility, but we do "
            f"not go below ε={EPSILON_FLOOR}"
        )
    else:
        reason = (
            f"n={n_samples} records need about ε≈{for_utility:.2f} to keep utility "
            f"(3·√(10 000/n)), within the {tier.value} tier's cap of {cap:.2f}"
        )
    warnings: list[str] = []
    if n_samples < SMALL_DATA_WARNING_N:
        warnings.append(
            f"only {n_samples} records: record-level DP-SGD will cost a lot of accuracy at this "
            f"ε; consider client-level DP, or check the loss with sensitivity_analysis()"
        )
    if tier is Tier.RELAXED:
        warnings.append(
            "relaxed tier: ε up to 10 gives weak formal guarantees; get the data owner's "
            "explicit agreement and run the membership-inference check"
        )
    shown = min(round(epsilon, 2), _down(cap))  # the cap rounded down: never above it
    return EpsilonAdvice(
        n_samples=n_samples,
        tier=tier,
        epsilon=shown,
        epsilon_cap=_down(cap),
        epsilon_for_utility=round(for_utility, 2),
        delta=delta,
        rationale=f"recommended ε={shown:.2f}, δ={delta:.3g}: {reason}. Smaller ε is stronger "
        f"privacy.",
        warnings=warnings,
    )


class SensitivityRow(BaseModel):
    """One row of a privacy/utility table (see :func:`sensitivity_analysis`)."""

    model_config = ConfigDict(frozen=True)

    epsilon: float
    utility: float
    #: utility lost going from the previous (larger) ε to this one; None on the first row
    step_cost: float | None
    #: utility lost relative to the reference (non-private if given, else the largest ε)
    total_cost: float
    #: total_cost as a fraction of the reference utility (None when the reference is 0)
    relative_cost: float | None


def sensitivity_analysis(
    train_fn: Callable[[float], float],
    epsilons: Iterable[float],
    *,
    non_private_utility: float | None = None,
) -> list[SensitivityRow]:
    """Call ``train_fn(ε)`` for each ε and report what each tightening step costs.

    ``train_fn`` trains (e.g. with :class:`~fedcrm.privacy.RecordLevelDP` at that ε) and returns
    a utility where higher is better (AUC, accuracy). Rows go from the weakest privacy (largest
    ε) to the strongest, so ``step_cost`` reads as "what tightening to this ε cost". Small orgs
    typically show large steps at low ε.

    Raises:
        ConfigError: no ε, an ε ≤ 0 or not finite, duplicates, or a non-finite utility.
    """
    values = [float(e) for e in epsilons]
    if not values:
        raise ConfigError("epsilons is empty; give at least one ε > 0")
    bad = [e for e in values if not math.isfinite(e) or e <= 0]
    if bad:
        raise ConfigError(f"every ε must be a finite number > 0, got {bad}")
    if len(set(values)) != len(values):
        raise ConfigError(f"epsilons contains duplicates: {values}")
    utilities: list[tuple[float, float]] = []
    for epsilon in sorted(values, reverse=True):
        utility = float(train_fn(epsilon))
        if not math.isfinite(utility):
            raise ConfigError(
                f"train_fn({epsilon:g}) returned {utility!r}; expected a finite utility"
            )
        utilities.append((epsilon, utility))
    reference = non_private_utility if non_private_utility is not None else utilities[0][1]
    rows: list[SensitivityRow] = []
    previous: float | None = None
    for epsilon, utility in utilities:
        total = reference - utility
        rows.append(
            SensitivityRow(
                epsilon=epsilon,
                utility=utility,
                step_cost=None if previous is None else previous - utility,
                total_cost=total,
                relative_cost=total / reference if reference else None,
            )
        )
        previous = utility
    return rows


def _down(value: float) -> float:
    """``value`` rounded down to two decimals (a float just under x.yz stays below it)."""
    return math.floor(value * 100 + 1e-9) / 100
