"""Records that cross a boundary: plans, per-round spends, saved engine state.

All are frozen pydantic models, so what is written to a file or sent to a coordinator is
validated on the way back in.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "ClientLevelPlan",
    "ClientLevelState",
    "EngineState",
    "Plan",
    "RecordLevelPlan",
    "RecordLevelState",
    "RoundSpend",
]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RecordLevelPlan(BaseModel):
    """How one participant's record-level DP-SGD budget is spent over the federation.

    ``sample_rate`` and ``steps_per_epoch`` are what Opacus' Poisson loader really uses for a
    ``DataLoader`` of ``n_samples`` rows and ``batch_size``: ``q = 1/⌈n/B⌉`` and ``int(1/q)``
    steps per pass, as Opacus counts them (``⌈n/B⌉``, or one fewer where ``1/q`` rounds down in
    floating point, e.g. n = 93, B = 1); ``q = B/n`` exactly when B divides n.
    ``epsilon_planned`` is ε after all planned rounds; it is ≤ ``epsilon``.
    """

    model_config = _FROZEN

    mode: Literal["record"] = "record"
    participant_id: str = Field(min_length=1)
    epsilon: float = Field(gt=0, description="target ε (smaller is stronger privacy)")
    delta: float = Field(gt=0, lt=1)
    accountant: Literal["prv", "rdp"]
    noise_multiplier: float = Field(gt=0)
    max_grad_norm: float = Field(gt=0, description="per-example L2 clipping bound C")
    n_samples: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    drop_last: bool = False
    sample_rate: float = Field(gt=0, le=1)
    steps_per_epoch: int = Field(ge=1)
    local_epochs: int = Field(ge=1)
    rounds: int = Field(ge=1)
    steps_per_round: int = Field(ge=1)
    epsilon_planned: float = Field(ge=0)
    secure_mode: bool = False


def short_round_delta(sample_rate: float, rounds: int, total_participants: int,
                      participants_in_sum: int) -> float:
    """rounds · P(Binomial(N − 1, q) < m), at most 1; 0 at q = 1 (see
    :attr:`ClientLevelPlan.short_round_delta`)."""
    if sample_rate >= 1:
        return 0.0
    from scipy.stats import binom

    one_round = float(binom.cdf(participants_in_sum - 1, total_participants - 1, sample_rate))
    return min(1.0, rounds * one_round)


class ClientLevelPlan(BaseModel):
    """How one participant's client-level (DP-FedAvg) budget is spent.

    Each round the participant clips its update to L2 norm ``clip_norm`` (C) and adds
    Gaussian noise of std ``noise_std_per_participant`` = σ·C/√m, where m =
    ``participants_in_sum`` is the guaranteed minimum number of honest participants whose
    noisy updates are in every released sum; the sum then carries noise of std ≥ σ·C.
    """

    model_config = _FROZEN

    mode: Literal["client"] = "client"
    participant_id: str = Field(min_length=1)
    epsilon: float = Field(gt=0)
    delta: float = Field(gt=0, lt=1)
    accountant: Literal["rdp", "pld"]
    noise_multiplier: float = Field(gt=0)
    clip_norm: float = Field(gt=0)
    sample_rate: float = Field(gt=0, le=1, description="Poisson rate q of participants per round")
    rounds: int = Field(ge=1)
    total_participants: int = Field(ge=1)
    participants_in_sum: int = Field(ge=1)
    noise_std_per_participant: float = Field(gt=0)
    epsilon_planned: float = Field(ge=0)

    @property
    def short_round_delta(self) -> float:
        """The part of δ spent on rounds that draw too few participants (``sample_rate`` < 1).

        A sum of fewer than m updates is not released, so whether a round is released depends
        on who was drawn, which the accountant's Poisson-sampled Gaussian does not cover.
        Conditioned on every round drawing at least m participants besides the protected one,
        every round is released whoever took part; that condition fails with probability at
        most rounds · P(Binomial(N − 1, q) < m), which is added to δ (the union bound). At
        q = 1 the coordinator selects participants and who takes part is not secret: 0.
        """
        return short_round_delta(self.sample_rate, self.rounds, self.total_participants,
                                 self.participants_in_sum)

    @property
    def accounting_delta(self) -> float:
        """δ the accountant works at: the budget's δ less :attr:`short_round_delta`."""
        return self.delta - self.short_round_delta


Plan = Annotated[RecordLevelPlan | ClientLevelPlan, Field(discriminator="mode")]


class RoundSpend(BaseModel):
    """What one recorded round cost: returned by ``record_round()``."""

    model_config = _FROZEN

    participant_id: str
    round_index: int = Field(ge=1, description="1-based index of the round just recorded")
    steps: int = Field(ge=0, description="DP-SGD steps (record level) or 1 (client level)")
    epsilon_spent: float = Field(ge=0, description="ε spent so far, this round included")
    epsilon_remaining: float = Field(ge=0)
    epsilon_target: float
    delta: float


class _AccountantHistory(BaseModel):
    model_config = _FROZEN

    mechanism: str
    #: (noise_multiplier, sample_rate, count) triples, in order
    history: list[tuple[float, float, int]]


class RecordLevelState(BaseModel):
    """Saved state of a :class:`~fedcrm.privacy.RecordLevelDP` engine."""

    model_config = _FROZEN

    format_version: Literal[1] = 1
    mode: Literal["record"] = "record"
    saved_at: AwareDatetime
    plan: RecordLevelPlan
    accountant: _AccountantHistory
    rounds_completed: int = Field(ge=0)
    exhausted: bool
    #: steps already charged in a round that was open when the state was saved
    open_round_steps: int | None = None
    ledger_path: str | None = None


class ClientLevelState(BaseModel):
    """Saved state of a :class:`~fedcrm.privacy.ClientLevelDP` engine."""

    model_config = _FROZEN

    format_version: Literal[1] = 1
    mode: Literal["client"] = "client"
    saved_at: AwareDatetime
    plan: ClientLevelPlan
    accountant: _AccountantHistory
    rounds_completed: int = Field(ge=0)
    exhausted: bool
    open_round_steps: int | None = None
    ledger_path: str | None = None


EngineState = Annotated[RecordLevelState | ClientLevelState, Field(discriminator="mode")]
