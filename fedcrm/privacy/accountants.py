"""Privacy accounting: thin, deterministic wrappers over Opacus and dp-accounting.

Record-level DP-SGD is accounted with Opacus' accountants (PRV by default, Gopi et al. 2021,
"Numerical composition of differential privacy"; RDP available, Mironov 2017, "Rényi
differential privacy"). An Opacus accountant's ``state_dict`` holds exactly two things: its
``mechanism`` name and its ``history``, a list of ``(noise_multiplier, sample_rate, steps)``
triples (consecutive identical steps are merged). There is no cached ε: ε is recomputed from the
history, so a restored history gives the same ε bit for bit.

Client-level DP (DP-FedAvg) is accounted with Google's dp-accounting library (RDP or PLD) by
composing one ``PoissonSampledDpEvent(q, GaussianDpEvent(σ))`` per federated round. Its
accountants have no ``state_dict``; we keep the same kind of history ourselves and rebuild a
fresh accountant from it, composing each history entry with ``count`` — so ε after three rounds
is ε of one accountant fed all three, and a restored engine gives the same ε.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Literal

import dp_accounting
import numpy as np
from dp_accounting import pld, rdp
from opacus.accountants import IAccountant, create_accountant
from opacus.accountants.rdp import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from fedcrm.errors import ConfigError

__all__ = [
    "CLIENT_LEVEL_ACCOUNTANTS",
    "MIN_CLIENT_NOISE_MULTIPLIER",
    "RECORD_LEVEL_ACCOUNTANTS",
    "ClientLevelAccountantName",
    "RecordLevelAccountantName",
    "calibrate_client_noise_multiplier",
    "calibrate_record_noise_multiplier",
    "client_level_epsilon",
    "client_level_history_epsilon",
    "make_record_accountant",
    "record_level_epsilon",
    "total_steps",
]

RecordLevelAccountantName = Literal["prv", "rdp"]
ClientLevelAccountantName = Literal["rdp", "pld"]
RECORD_LEVEL_ACCOUNTANTS: tuple[str, ...] = ("prv", "rdp")
CLIENT_LEVEL_ACCOUNTANTS: tuple[str, ...] = ("rdp", "pld")

#: RDP orders for the Opacus RDP accountant: Opacus' defaults (1.1 … 63) plus orders closer to 1
#: (optimal for large ε) and larger ones (optimal for small ε), so both ends get a tight bound
#: instead of Opacus' "optimal order is the smallest/largest alpha" warning and a loose ε
#: (Mironov 2017, Prop. 3: ε = rdp(α) + log(1/δ)/(α−1), minimised over α).
OPACUS_RDP_ORDERS: tuple[float, ...] = (
    1.01,
    1.02,
    1.03,
    1.05,
    1.075,
    *RDPAccountant.DEFAULT_ALPHAS,
    80,
    96,
    128,
    192,
    256,
    512,
    1024,
)
#: Precision of the PRV accountant's ε upper bound (Opacus' default, made explicit).
PRV_EPSILON_ERROR = 0.01
#: Tolerance of Opacus' binary search for the noise multiplier: the planned ε lies in
#: [target − tolerance, target].
RECORD_CALIBRATION_TOLERANCE = 0.01
#: We do not calibrate client-level noise below this σ: at σ = 0.3 one Gaussian release
#: already costs ε in the hundreds, so a smaller σ protects nothing, and the PLD accountant's
#: discretisation needs memory proportional to the privacy-loss range.
MIN_CLIENT_NOISE_MULTIPLIER = 0.3
_MAX_NOISE_MULTIPLIER = 1e6


# --------------------------------------------------------------------------- record level
def make_record_accountant(name: str) -> IAccountant:
    """A fresh Opacus accountant (``"prv"`` or ``"rdp"``)."""
    if name not in RECORD_LEVEL_ACCOUNTANTS:
        raise ConfigError(
            f"record-level accountant must be one of {RECORD_LEVEL_ACCOUNTANTS}, got {name!r}"
        )
    return create_accountant(mechanism=name)


@contextmanager
def _quiet_prv_domain_bound(name: str) -> Iterator[None]:
    """Silence Opacus' RDP "optimal order is the largest alpha" warning inside PRV.

    The PRV accountant uses an RDP bound only to size its discretisation domain (at a tiny
    δ); a loose bound there makes the domain larger, never ε smaller, so the warning tells the
    user nothing about the ε we report. For the RDP accountant itself the warning is kept.
    With sample rate q = 1 (batch = whole dataset) the PRV formulas take log(1 − q) = −∞
    inside ``np.where`` on purpose; numpy's "divide by zero" warnings are silenced for that.
    """
    if name != "prv":
        yield
        return
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.filterwarnings(
            "ignore", message="Optimal order is the largest alpha", category=UserWarning
        )
        yield


def _opacus_epsilon_kwargs(name: str) -> dict[str, object]:
    if name == "rdp":
        return {"alphas": list(OPACUS_RDP_ORDERS)}
    return {"eps_error": PRV_EPSILON_ERROR}


def total_steps(history: Sequence[Sequence[float]]) -> int:
    """Number of DP-SGD steps recorded in an Opacus accountant history."""
    return int(sum(entry[2] for entry in history))


@lru_cache(maxsize=512)
def _record_epsilon_cached(
    name: str, history: tuple[tuple[float, float, int], ...], delta: float
) -> float:
    accountant = make_record_accountant(name)
    accountant.history = list(history)
    with _quiet_prv_domain_bound(name):
        return float(accountant.get_epsilon(delta, **_opacus_epsilon_kwargs(name)))


def record_level_epsilon(accountant: IAccountant, delta: float) -> float:
    """ε spent by an Opacus accountant at ``delta`` (0.0 before the first step).

    Uses the same accountant options everywhere (PRV error 0.01, extended RDP orders), and
    caches on the history, because a PRV evaluation costs tens of milliseconds.
    """
    if total_steps(accountant.history) == 0:
        return 0.0
    key = tuple((float(s), float(q), int(k)) for s, q, k in accountant.history)
    return _record_epsilon_cached(accountant.mechanism(), key, float(delta))


def calibrate_record_noise_multiplier(
    *,
    epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    accountant: str,
    participant_id: str,
) -> float:
    """Noise multiplier σ such that ``steps`` DP-SGD steps at ``sample_rate`` spend ≤ ε.

    Delegates the search to ``opacus.accountants.utils.get_noise_multiplier`` (binary search
    over σ with the chosen accountant; Abadi et al. 2016, "Deep learning with differential
    privacy", for the subsampled Gaussian mechanism it accounts).
    """
    make_record_accountant(accountant)  # validates the name
    kwargs = _opacus_epsilon_kwargs(accountant)
    try:
        with _quiet_prv_domain_bound(accountant):
            sigma = float(
                get_noise_multiplier(
                    target_epsilon=epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    accountant=accountant,
                    epsilon_tolerance=RECORD_CALIBRATION_TOLERANCE,
                    **kwargs,
                )
            )
    except ValueError as error:
        raise ConfigError(
            f"participant {participant_id!r}: no noise multiplier reaches ε={epsilon:g} at "
            f"δ={delta:g} over {steps} DP-SGD steps at sample rate {sample_rate:.4g} "
            f"({accountant} accountant): {error} Raise ε, or plan fewer rounds × local epochs."
        ) from error
    # get_noise_multiplier already returns a σ whose ε is ≤ target; re-check with the exact
    # options the engine uses later, so the plan is affordable by construction.
    probe = make_record_accountant(accountant)
    probe.history = [(sigma, sample_rate, steps)]
    while record_level_epsilon(probe, delta) > epsilon:
        sigma *= 1.01
        probe.history = [(sigma, sample_rate, steps)]
    return sigma


# --------------------------------------------------------------------------- client level
class _QuietFractionalOrders(logging.Filter):
    """Drops dp-accounting's "failed to converge … excluding this order" warnings.

    dp-accounting logs one line per fractional RDP order whose series does not converge and
    then leaves that order out of the minimum over orders. The resulting ε is still a valid
    (if slightly less tight) bound, so the lines are noise to a user; other absl messages pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to converge" not in record.getMessage()


@contextmanager
def _quiet_fractional_orders() -> Iterator[None]:
    logger = logging.getLogger("absl")
    quiet = _QuietFractionalOrders()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def _make_client_accountant(name: str) -> dp_accounting.PrivacyAccountant:
    if name == "rdp":
        return rdp.RdpAccountant()
    if name == "pld":
        return pld.PLDAccountant()
    raise ConfigError(
        f"client-level accountant must be one of {CLIENT_LEVEL_ACCOUNTANTS}, got {name!r}"
    )


def _round_event(noise_multiplier: float, sample_rate: float) -> dp_accounting.DpEvent:
    # One DP-FedAvg round: each participant is included with probability q and the sum of
    # clipped updates gets Gaussian noise of std σ·C (McMahan et al. 2018, "Learning
    # differentially private recurrent language models", Alg. 1 with Poisson sampling).
    return dp_accounting.PoissonSampledDpEvent(
        sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
    )


@lru_cache(maxsize=512)
def _client_epsilon_cached(
    name: str, history: tuple[tuple[float, float, int], ...], delta: float
) -> float:
    accountant = _make_client_accountant(name)
    with _quiet_fractional_orders():
        for noise_multiplier, sample_rate, count in history:
            accountant.compose(_round_event(noise_multiplier, sample_rate), count)
        return float(accountant.get_epsilon(delta))


def client_level_history_epsilon(
    history: Sequence[tuple[float, float, int]], delta: float, accountant: str
) -> float:
    """ε of a client-level history of ``(σ, q, rounds)`` entries (0.0 for no rounds)."""
    if sum(count for _, _, count in history) == 0:
        return 0.0
    key = tuple((float(s), float(q), int(k)) for s, q, k in history if k > 0)
    return _client_epsilon_cached(accountant, key, float(delta))


def client_level_epsilon(
    *,
    noise_multiplier: float,
    rounds: int,
    sample_rate: float,
    delta: float,
    accountant: str = "rdp",
) -> float:
    """ε after ``rounds`` DP-FedAvg rounds with noise multiplier σ and participant rate q."""
    return client_level_history_epsilon(
        [(noise_multiplier, sample_rate, rounds)], delta, accountant
    )


def calibrate_client_noise_multiplier(
    *,
    epsilon: float,
    delta: float,
    rounds: int,
    sample_rate: float = 1.0,
    accountant: str = "rdp",
    tolerance: float = 1e-3,
) -> float:
    """Smallest σ (within ``tolerance``) whose ε after ``rounds`` rounds is ≤ ``epsilon``.

    Brackets the root by doubling or halving σ from 1, then lets
    ``dp_accounting.calibrate_dp_mechanism`` search it (Brent's method with a bisection
    fallback that guarantees ε ≤ target). The result is
    re-checked with the engine's own ε computation and never exceeds the target. Targets so
    loose that σ = 0.3 already meets them return 0.3 (ε then lies below the target).
    """
    _make_client_accountant(accountant)  # validates the name
    if not 0 < sample_rate <= 1:
        raise ConfigError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    if rounds < 1:
        raise ConfigError(f"rounds must be ≥ 1, got {rounds!r}")

    def epsilon_at(sigma: float) -> float:
        return client_level_epsilon(
            noise_multiplier=sigma,
            rounds=rounds,
            sample_rate=sample_rate,
            delta=delta,
            accountant=accountant,
        )

    # Bracket the root starting at σ = 1 (small σ is the expensive end for PLD): double up
    # while ε is too high, or halve down to the floor while it is already low enough.
    low, high = 1.0, 1.0
    if epsilon_at(high) > epsilon:
        while epsilon_at(high) > epsilon:
            low, high = high, high * 2
            if high > _MAX_NOISE_MULTIPLIER:
                raise ConfigError(
                    f"no client-level noise multiplier ≤ {_MAX_NOISE_MULTIPLIER:g} reaches "
                    f"ε={epsilon:g} at δ={delta:g} over {rounds} rounds; raise ε or plan fewer "
                    f"rounds"
                )
    else:
        while True:
            if low <= MIN_CLIENT_NOISE_MULTIPLIER:
                return MIN_CLIENT_NOISE_MULTIPLIER
            low = max(MIN_CLIENT_NOISE_MULTIPLIER, low / 2)
            if epsilon_at(low) > epsilon:
                break
            high = low
    with _quiet_fractional_orders():
        sigma = float(
            dp_accounting.calibrate_dp_mechanism(
                lambda: _make_client_accountant(accountant),
                lambda s: dp_accounting.SelfComposedDpEvent(_round_event(s, sample_rate), rounds),
                epsilon,
                delta,
                bracket_interval=dp_accounting.ExplicitBracketInterval(low, high),
                tol=tolerance,
            )
        )
    while epsilon_at(sigma) > epsilon:  # guard the guarantee against rounding differences
        sigma += tolerance
    if not math.isfinite(sigma):
        raise ConfigError(f"noise calibration failed for ε={epsilon:g}, δ={delta:g}")
    return sigma
