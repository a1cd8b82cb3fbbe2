"""Encrypted aggregation mode of the federated trainer.

In this mode the coordinator never holds one participant's update. Each round:

1. Every selected participant gates the global model and trains as usual
   (:meth:`Participant.train`: validation gating, norm-bounded delta).
2. It computes its own aggregation weight with the strategy's rule (sample count × quality
   multiplier for :class:`QualityWeighted`, sample count for FedAvg/FedProx), folds it into the
   fixed-point packing (:class:`fedcrm.crypto.PackingSpec`), encrypts the packed update under
   the federation's threshold Paillier key with randomness precomputed between rounds, and
   signs the message bound to the federation, the round, the key and the packing.
3. The coordinator verifies every message with :class:`fedcrm.crypto.SecureAggregator`
   (refusing unsigned, tampered, replayed, stale, wrong-round and malformed ones, each named in
   the round log, and carrying on) and multiplies the valid ciphertexts: the sum of the
   weighted updates and, in slot 0, of the weights.
4. It asks key holders for partial decryptions until a quorum has answered. Each key holder
   (:class:`fedcrm.crypto.KeyHolder`) re-verifies the forwarded updates, refuses anything but an
   honest aggregate of at least ``min_contributors`` participants, and proves its partial
   correct. Key holders that have vanished are dropouts; as long as a quorum remains the round
   succeeds, otherwise it is skipped loudly with the model unchanged.
5. The coordinator applies the decrypted weighted mean ``Σ w_i Δ_i / Σ w_i``.

What the coordinator learns: who was selected, who sent a valid update, who decrypted, the
weighted mean step and the total weight ``Σ w_i`` of the contributors. Never one update, one
weight, or whether one update was norm-clipped (``RoundRecord.weights`` and ``clipped`` stay
empty in this mode).

Defences are client-side only (DESIGN.md): a server that sees ciphertexts cannot clip, take a
median of, or trim updates, so :class:`SecureCoordinator` refuses robust strategies and does no
server-side clipping. An honest participant's influence is bounded by its own norm bound
(``TrainingConfig.max_update_norm``), the packing clip (every value to ``±clip``, by default
the norm bound, so an honest bounded update is never clipped twice) and the packing's
``max_weight``. A dishonest one that encrypts raw slot values instead of packing them is
bounded only by the slots' headroom (there are no range proofs; docs/crypto.md, "Trust
model"): encryption protects confidentiality, the validation gates guard against poisoning.

In this in-process simulation every role lives in one Python process; the code keeps them
apart (the coordinator touches only bytes coming out of :class:`SecureClient`), so each
client can move into its own org's process unchanged. See ``docs/crypto.md``.
"""

from __future__ import annotations

import math
import secrets
import time
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedcrm._args import string_list
from fedcrm.crypto import (
    AggregationResult,
    EncryptedUpdate,
    KeyHolder,
    KeyShare,
    PackingSpec,
    ParticipantEncryptor,
    SecureAggregator,
    ThresholdPublicKey,
    UpdateRejected,
    deal,
    model_digest,
)
from fedcrm.crypto._wire import check_identifier
from fedcrm.crypto.threshold import DEFAULT_KEY_BITS
from fedcrm.errors import AggregationError, ConfigError, CryptoError, PrivacyBudgetExceeded
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.coordinator import Coordinator, EncryptedRound, RoundRecord
from fedcrm.federation.participant import Participant, Update
from fedcrm.federation.privacy import (
    SEALED_BUDGET_REASON,
    check_client_level_weighting,
    sealed_privacy_report,
)
from fedcrm.federation.strategies import CoordinateMedian, RoundPlan, Strategy, TrimmedMean

#: what a client raises when it cannot be reached (a dropout, not a bug)
UNREACHABLE = (ConnectionError, TimeoutError)


# ------------------------------------------------------------------------------ key material
@dataclass(frozen=True, repr=False)
class FederationKeys:
    """Key material of an encrypted federation.

    ``public_key`` is the threshold Paillier key everyone encrypts under; ``shares`` maps each
    key holder to its secret share of the decryption exponent; ``signing_keys`` maps each
    participant to its Ed25519 signing key (the roster of public halves is what the
    coordinator and the key holders verify messages with). In a deployment each share and
    signing key exists only inside its own org; here they travel together because every org
    runs in one process. A modulus under 2048 bits is refused (:class:`ConfigError`) unless
    ``allow_insecure_bits`` (tests only), as :func:`fedcrm.crypto.deal` refuses to deal one.
    """

    public_key: ThresholdPublicKey
    shares: Mapping[str, KeyShare]
    signing_keys: Mapping[str, Ed25519PrivateKey]
    allow_insecure_bits: bool = False

    def __post_init__(self) -> None:
        self.public_key.check_size(allow_insecure_bits=self.allow_insecure_bits)
        holders = set(self.public_key.participant_ids)
        if set(self.shares) != holders:
            raise ConfigError(
                f"the key has shares for {sorted(holders)} but shares were given for "
                f"{sorted(self.shares)}; pass exactly the shares the ceremony dealt"
            )
        for participant_id, share in self.shares.items():
            if share.participant_id != participant_id:
                raise ConfigError(f"participant {participant_id!r}: its key share is "
                                  f"{share.participant_id!r}'s")
            share.check(self.public_key)
        missing = sorted(holders - set(self.signing_keys))
        if missing:
            raise ConfigError(f"key holders without an Ed25519 signing key: {missing}")
        for participant_id, key in self.signing_keys.items():
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(
                    f"participant {participant_id!r}: signing key must be an "
                    f"Ed25519PrivateKey, got {type(key).__name__}"
                )

    @classmethod
    def from_deal(
        cls,
        public_key: ThresholdPublicKey,
        shares: Sequence[KeyShare],
        signing_keys: Mapping[str, Ed25519PrivateKey] | None = None,
        *,
        allow_insecure_bits: bool = False,
    ) -> FederationKeys:
        """Wrap what :func:`fedcrm.crypto.deal` returned (pre-dealt keys).

        Without ``signing_keys`` every key holder gets a fresh Ed25519 key (in a deployment
        each org generates its own and publishes the public half). A key under 2048 bits
        needs ``allow_insecure_bits`` here too (tests only).
        """
        keys = dict(signing_keys) if signing_keys is not None else {
            share.participant_id: Ed25519PrivateKey.generate() for share in shares}
        return cls(public_key, {share.participant_id: share for share in shares}, keys,
                   allow_insecure_bits=allow_insecure_bits)

    @property
    def roster(self) -> dict[str, Ed25519PublicKey]:
        """Participant id → Ed25519 public key: who may contribute, and how to check it."""
        return {pid: key.public_key() for pid, key in self.signing_keys.items()}

    @property
    def key_bits(self) -> int:
        """Bit length of the Paillier modulus."""
        return self.public_key.n.bit_length()

    @property
    def quorum(self) -> int:
        """How many key holders must cooperate to decrypt."""
        return self.public_key.quorum


def key_ceremony(
    participant_ids: Sequence[str],
    *,
    quorum: int | None = None,
    key_bits: int = DEFAULT_KEY_BITS,
    safe_primes: tuple[int, int] | None = None,
    allow_insecure_bits: bool = False,
) -> FederationKeys:
    """Deal a threshold key to ``participant_ids`` and give each an Ed25519 signing key.

    ``key_bits`` is 2048 (default) or 3072; smaller keys need ``allow_insecure_bits`` and are
    for tests only. Generating the two safe primes of a 2048-bit key takes from under a second
    to about a minute; pass ``safe_primes`` (checked) to reuse ones you generated, or deal with
    :func:`fedcrm.crypto.deal` and wrap the result with :meth:`FederationKeys.from_deal`.
    Nothing is cached.

    The dealer learns ``p``, ``q`` and the decryption exponent ``d``: :func:`~fedcrm.crypto.deal`
    keeps them in local variables only, so they are unreachable once it returns, but Python
    cannot wipe memory. For real use run the ceremony in a short-lived process that sends each
    share to its org over an authenticated private channel, publishes the public key, and
    exits. ``quorum`` defaults to 60 % of the key holders, rounded up.
    """
    ids = string_list(participant_ids, "participant_ids")
    public_key, shares = deal(ids, quorum, bits=key_bits, safe_primes=safe_primes,
                              allow_insecure_bits=allow_insecure_bits)
    return FederationKeys.from_deal(public_key, shares, allow_insecure_bits=allow_insecure_bits)


# --------------------------------------------------------------------------------- settings
def _random_federation_id() -> str:
    return f"fedcrm-{secrets.token_hex(8)}"


@dataclass(frozen=True, repr=False)
class SecureAggregation:
    """Settings that turn on encrypted aggregation; pass to :class:`SecureCoordinator`.

    Parameters
    ----------
    keys:
        The federation's key material (:func:`key_ceremony` or pre-dealt keys).
    federation_id:
        Names this training session; every message is signed bound to it, so messages of
        another session (same keys, other id) are rejected. Default: a fresh random id.
    clip:
        Every update value is clipped to ``±clip`` when packed. Default: the config's
        ``max_update_norm``, which an honest norm-bounded update never exceeds in any value;
        with client-level DP at least C + 6·σC/√m, so that no noisy value is clipped (a
        smaller ``clip`` is refused: clipping the noise shares would leave the decrypted sum
        with less noise than the privacy accounts assume).
    bits:
        Quantisation bits per value. 24 keeps the error far below local-training noise; the
        trainer's models are small, so the extra ciphertext bytes cost little.
    max_weight:
        Largest weight any participant may encrypt. Default: the largest participant weight
        rounded up to a power of two (so the setup reveals only its order of magnitude). It
        caps how much weight a dishonest participant can claim.
    min_contributors:
        Key holders refuse to decrypt an aggregate of fewer distinct participants (a sum of
        one update *is* that update).
    on_failure:
        ``"raise"`` (default): a round whose aggregate cannot be decrypted is logged as
        skipped, the model is left unchanged, and :class:`AggregationError` is raised.
        ``"skip"``: the same, with a warning instead of the exception, and training goes on.
    """

    keys: FederationKeys
    federation_id: str = field(default_factory=_random_federation_id)
    clip: float | None = None
    bits: int = 24
    max_weight: float | None = None
    min_contributors: int = 2
    on_failure: Literal["raise", "skip"] = "raise"

    def __post_init__(self) -> None:
        if not isinstance(self.keys, FederationKeys):
            raise ConfigError(f"keys must be FederationKeys, got {type(self.keys).__name__}")
        check_identifier(self.federation_id, "federation_id")
        if self.clip is not None and not (math.isfinite(self.clip) and self.clip > 0):
            raise ConfigError(f"clip must be a positive finite number, got {self.clip!r}")
        if self.max_weight is not None and not (math.isfinite(self.max_weight)
                                                and self.max_weight > 0):
            raise ConfigError(f"max_weight must be a positive number, got {self.max_weight!r}")
        if self.min_contributors < 2:
            raise ConfigError(
                f"min_contributors must be ≥ 2, got {self.min_contributors}: decrypting an "
                "aggregate of one participant reveals its update"
            )
        if self.on_failure not in ("raise", "skip"):
            raise ConfigError(f"on_failure must be 'raise' or 'skip', got {self.on_failure!r}")

    def __repr__(self) -> str:
        return (f"SecureAggregation(federation_id={self.federation_id!r}, "
                f"key_bits={self.keys.key_bits}, quorum={self.keys.quorum}, clip={self.clip}, "
                f"bits={self.bits}, max_weight={self.max_weight}, "
                f"on_failure={self.on_failure!r})")


def check_encryptable(strategy: Strategy) -> None:
    """Raise :class:`ConfigError` unless ``strategy`` aggregates by a weighted mean.

    Encrypted aggregation computes one thing: ``Σ w_i Δ_i / Σ w_i`` with each participant's
    weight from ``strategy.weight``. A strategy that looks at individual updates (coordinate-wise
    median, trimmed mean) or has any other ``aggregate`` rule cannot run on ciphertexts.
    """
    if type(strategy).aggregate is Strategy.aggregate:
        return
    if isinstance(strategy, CoordinateMedian | TrimmedMean):
        raise ConfigError(
            f"strategy {strategy.name!r} cannot run with encrypted aggregation: it needs every "
            "participant's update in the clear (a median or trimmed mean sorts individual "
            "values), but an encrypting coordinator only ever holds ciphertexts and can only "
            "add them. Robust and encrypted aggregation are different modes (DESIGN.md): use "
            "QualityWeighted, FedAvg or FedProx with encryption, whose defences are client-side "
            "(norm bounds, validation gating), or the robust strategy without encryption"
        )
    raise ConfigError(
        f"strategy {strategy.name!r} cannot run with encrypted aggregation: it defines its own "
        "aggregate(), but an encrypting coordinator only ever holds ciphertexts and computes "
        "one thing, the weighted mean Σ w_i Δ_i / Σ w_i with weights from the strategy's "
        "weight(); use QualityWeighted, FedAvg or FedProx, or this strategy without encryption"
    )


def participant_weight(strategy: Strategy, participant: Participant) -> float:
    """The weight ``participant`` gives itself under ``strategy``'s rule (own data only)."""
    probe = Update(participant_id=participant.participant_id, round=0,
                   delta=np.zeros(0, dtype=np.float32), n_samples=participant.n_samples,
                   quality_multiplier=participant.quality_multiplier, norm=0.0, clipped=False,
                   train_loss=0.0)
    return float(strategy.weight(probe))


# ---------------------------------------------------------------------------- participant side
@dataclass(frozen=True)
class SealedUpdate:
    """What a participant sends in encrypted mode: the signed ciphertext message and its
    privacy spend for the round log (empty without a privacy hook). Nothing else."""

    message: bytes
    privacy: dict[str, Any] = field(default_factory=dict)


class SecureClient:
    """One org's side of encrypted aggregation: train, weight, encrypt, sign; hold a key share.

    The plaintext :class:`Update` lives only inside :meth:`contribute`; what comes out is bytes.
    ``online`` is a simulation switch: an offline client raises :class:`ConnectionError`, as an
    unreachable org would (a dropout).
    """

    def __init__(self, participant: Participant, encryptor: ParticipantEncryptor,
                 key_holder: KeyHolder | None, *, strategy: Strategy,
                 prox_mu: float) -> None:
        if encryptor.participant_id != participant.participant_id:
            raise ConfigError(f"the encryptor of {encryptor.participant_id!r} cannot serve "
                              f"participant {participant.participant_id!r}")
        self.participant = participant
        self.encryptor = encryptor
        self.key_holder = key_holder
        #: the weighting rule and proximal term agreed at setup; a round asking for others is
        #: refused (a coordinator that pins the other orgs' updates to the global model with
        #: a large μ, or weights them near zero, would read one org's update from the sum)
        self.strategy = strategy
        self.prox_mu = float(prox_mu)
        self.online = True

    @property
    def participant_id(self) -> str:
        """The org this client speaks for."""
        return self.participant.participant_id

    def _require_online(self) -> None:
        if not self.online:
            raise ConnectionError(f"participant {self.participant_id!r} is unreachable")

    def precompute(self, n_values: int, rounds: int = 1) -> None:
        """Offline step, between rounds: top the randomness pool up for ``rounds`` updates."""
        needed = self.encryptor.pool_values_needed(n_values, rounds) - len(self.encryptor.pool)
        if needed > 0:
            self.encryptor.pool.precompute(needed)

    def contribute(self, parameters: np.ndarray, round_number: int, *,
                   prox_mu: float | None = None, strategy: Strategy | None = None,
                   ) -> SealedUpdate:
        """Train on ``parameters`` and return the signed encryption of the weighted delta.

        The weight is the agreed strategy's ``weight`` of this org's own update (its sample
        count and quality multiplier); it is folded into the packing, so only the sum of
        weights is ever decrypted. ``prox_mu`` and ``strategy`` are what the coordinator asks
        for; they must be the ones agreed at setup (:class:`ConfigError` otherwise, before
        any training).
        """
        self._require_online()
        if prox_mu is not None and not math.isclose(prox_mu, self.prox_mu, rel_tol=1e-12,
                                                    abs_tol=0.0):
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator asks for the proximal "
                f"term mu={prox_mu:g}, but the federation agreed on mu={self.prox_mu:g}; a "
                "different mu for some orgs could expose another org's update in the sum")
        if strategy is not None and not _same_rule(strategy, self.strategy):
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator asks for weights by "
                f"{_rule_text(strategy)}, not by {_rule_text(self.strategy)} as agreed at "
                "setup; an org weights its own update by the agreed rule only")
        update = self.participant.train(parameters, round_number, prox_mu=self.prox_mu)
        weight = float(self.strategy.weight(update))
        message = self.encryptor.encrypt(update.delta, weight, round_number,
                                         model=model_digest(parameters))
        return SealedUpdate(message=message.to_bytes(),
                            privacy=sealed_privacy_report(update.privacy))

    def partial_decrypt(self, aggregate: bytes, updates: Sequence[bytes]) -> bytes:
        """Key-holder step: check ``aggregate`` against the forwarded ``updates`` and return
        this share's partial decryption (raises :class:`CryptoError` when it refuses)."""
        self._require_online()
        if self.key_holder is None:
            raise CryptoError(f"participant {self.participant_id!r} holds no key share")
        return self.key_holder.partial_decrypt(aggregate, updates).to_bytes()


def _same_rule(one: Strategy, other: Strategy) -> bool:
    """Whether two strategy objects are the same rule: one object, or one class with equal
    settings (arrays compared by value; anything that cannot be compared is not the same)."""
    if one is other:
        return True
    if type(one) is not type(other) or vars(one).keys() != vars(other).keys():
        return False
    try:
        return all(np.array_equal(value, vars(other)[key])
                   if isinstance(value, np.ndarray) else bool(value == vars(other)[key])
                   for key, value in vars(one).items())
    except (TypeError, ValueError):  # e.g. a container of arrays
        return False


def _above(required: Mapping[str, float], limit: float) -> tuple[list[str], float]:
    """The participants whose requirement exceeds ``limit`` (sorted), and the largest such
    requirement (0 when none does)."""
    short = sorted(pid for pid, need in required.items() if need > limit)
    return short, max((required[pid] for pid in short), default=0.0)


def _rule_text(strategy: Strategy) -> str:
    """A strategy's name and settings for a message (``fedprox {'mu': 0.2}``)."""
    settings = {key: value for key, value in vars(strategy).items() if not key.startswith("_")}
    return f"{strategy.name} {settings}" if settings else repr(strategy.name)


# ---------------------------------------------------------------------------- coordinator side
def _power_of_two_ceiling(value: float) -> float:
    """The smallest power of two ≥ ``value`` (so a published bound shows only magnitude).
    Exact: ``math.frexp`` splits off the binary exponent, where ``log2`` rounds a value one
    float step above a power of two down to it."""
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"a weight ceiling needs a finite weight > 0, got {value!r}")
    mantissa, exponent = math.frexp(value)  # value = mantissa · 2**exponent, 0.5 ≤ mantissa < 1
    return math.ldexp(1.0, exponent - 1 if mantissa == 0.5 else exponent)


def reselect_for_known_model(plan: RoundPlan, model: bytes,
                             decrypted_from: Mapping[bytes, Sequence[str]],
                             active: Sequence[str]) -> RoundPlan:
    """The round's plan, with the participants whose updates from this global model were
    sent for decryption before, when there are such (the model was restored by a rollback,
    or left unchanged by a round whose decryption failed).

    Key holders refuse a sum from one model of other participants than an earlier sum from it
    (:class:`~fedcrm.crypto.KeyHolder`; a holder that gave its partial decryption cannot know
    whether a quorum did), so a round from that model asks the same ones. If one of them has
    left the federation, no later round from this model can be decrypted:
    :class:`AggregationError` says so instead of failing every round.
    """
    earlier = decrypted_from.get(model)
    if earlier is None:
        return plan
    gone = sorted(set(earlier) - set(active))
    if gone:
        raise AggregationError(
            f"the global model was already sent for decryption in a sum of {sorted(earlier)}, "
            f"and {gone} have left the federation; key holders decrypt no sum of other "
            "participants from this model (the difference of two such sums could reveal one "
            "org's update), so every round from it would fail. Bring them back, or start again "
            "with a new key ceremony (a new federation id and keys)")
    return replace(plan, participants=[pid for pid in active if pid in set(earlier)])


class SecureCoordinator(Coordinator):
    """A :class:`Coordinator` whose rounds aggregate encrypted, client-weighted updates.

    Same rounds as the plaintext coordinator (selection, validation gating, rollback,
    evaluation, JSON round log) with these differences: participants send
    :class:`SealedUpdate` bytes instead of updates; the global step is the threshold-decrypted
    weighted mean; ``RoundRecord.encryption`` records rejected messages, decryptors,
    key-holder refusals, the total weight, the quantisation error bound and any failure; the
    rollback rule counts rejecting participants by head (their weights are secret); there is
    no server-side clipping; and round numbers must increase (key holders never decrypt an
    older or repeated round).

    Raises :class:`ConfigError` for a robust strategy, a roster or key that does not match the
    participants, rounds of fewer than ``min_contributors`` participants, a weight above
    ``max_weight``, or client-level DP with unequal weights.
    """

    encrypted = True

    def _client_level_plans(self) -> dict[str, Any]:
        """Participant → its client-level DP plan (participants with that hook only)."""
        return {pid: p.privacy.engine.plan for pid, p in self.participants.items()
                if getattr(p.privacy, "mode", None) == "client"}

    def _packing_clip(self, secure: SecureAggregation) -> float:
        """The packing clip: ``secure.clip``, or by default the norm bound, raised for
        client-level DP to C + 6·σC/√m so that no noise share is clipped (a noise value beyond
        6 standard deviations has probability 2e-9). Clipping a share would take noise out of
        the decrypted sum that the privacy accounts count on, so a smaller ``secure.clip`` is
        refused."""
        if secure.clip is not None:
            self._refuse_clip_below_noise(secure.clip)
            return secure.clip
        bounds = [b for b in (self.config.max_update_norm, *self._noise_bounds().values())
                  if b is not None]
        if not bounds:
            raise ConfigError("encrypted aggregation needs a bound on update values: set "
                              "TrainingConfig.max_update_norm or SecureAggregation.clip")
        return float(max(bounds))

    def _noise_bounds(self) -> dict[str, float]:
        """Participant → the largest packed value its client-level DP update may hold: C + 6·σC/√m
        (the update is clipped to norm C, so no value exceeds C before noise)."""
        return {pid: plan.clip_norm + 6 * plan.noise_std_per_participant
                for pid, plan in self._client_level_plans().items()}

    def _refuse_clip_below_noise(self, clip: float) -> None:
        """Refuse a packing clip that would clip some participant's client-level DP noise."""
        short, bound = _above(self._noise_bounds(), clip)
        if short:
            raise ConfigError(
                f"SecureAggregation(clip={clip:g}) would clip the client-level DP "
                f"noise of participants {short} (clip bound C plus 6 noise standard "
                f"deviations is {bound:.4g}), and the decrypted sums would carry less noise "
                f"than their privacy accounts assume: set clip >= {bound:.4g}, or leave it "
                "unset to have it chosen")

    def _check_sum_sizes(self, secure: SecureAggregation) -> None:
        """Client-level DP splits its noise over sums of at least m updates; key holders must
        then refuse smaller sums (McMahan et al. 2018 DP-FedAvg, with the noise shared out)."""
        short, needed = _above({pid: plan.participants_in_sum
                                for pid, plan in self._client_level_plans().items()},
                               secure.min_contributors)
        if short:
            raise ConfigError(
                f"participants {short} add client-level DP noise planned for sums of at least "
                f"{needed} updates, but key holders decrypt sums of {secure.min_contributors}; "
                f"a smaller sum carries too little noise: set SecureAggregation("
                f"min_contributors={needed}) or plan participants_in_sum={secure.min_contributors}"
            )

    def _check_late_client_level_dp(self) -> None:
        """Client-level DP attached after this coordinator was built: its packing clip and its
        key holders' smallest sum were fixed then. Refuse a round (before anyone trains) whose
        noise shares the packing would clip, or whose sums would be too small for the noise."""
        try:
            self._check_sum_sizes(self.secure)
            self._refuse_clip_below_noise(self.spec.clip)
        except ConfigError as exc:
            raise ConfigError(
                f"client-level DP was attached after the SecureCoordinator was built, which "
                f"fixed its packing (clip={self.spec.clip:g}) and its key holders' smallest sum "
                f"({self.secure.min_contributors}) for no noise: attach it before building the "
                f"SecureCoordinator. ({exc})") from None

    def __init__(
        self,
        participants: Sequence[Participant],
        strategy: Strategy,
        config: TrainingConfig | None = None,
        *,
        secure: SecureAggregation,
        log_path: str | Path | None = None,
    ) -> None:
        check_encryptable(strategy)
        super().__init__(participants, strategy, config, log_path=log_path,
                         server_side_clipping=False)
        self.secure = secure
        keys = secure.keys
        ids = list(self.participants)
        unsigned = [pid for pid in ids if pid not in keys.signing_keys]
        if unsigned:
            raise ConfigError(f"participants without a signing key in the federation's keys: "
                              f"{unsigned}; run the key ceremony over every participant")
        strangers = [pid for pid in keys.public_key.participant_ids if pid not in self.participants]
        if strangers:
            raise ConfigError(f"key shares were dealt to {strangers}, who are not participants "
                              "of this federation")
        if self.config.per_round(len(ids)) < secure.min_contributors:
            raise ConfigError(
                f"encrypted rounds need at least {secure.min_contributors} participants, but "
                f"this config selects {self.config.per_round(len(ids))} per round; key holders "
                "refuse to decrypt a sum of fewer updates"
            )
        self._check_sum_sizes(secure)
        clip = self._packing_clip(secure)
        # each org's weight, as the setup would agree an upper bound on (not kept afterwards)
        weights = {pid: participant_weight(strategy, p) for pid, p in self.participants.items()}
        weightless = sorted(pid for pid, w in weights.items() if not (math.isfinite(w) and w > 0))
        if weightless:
            raise ConfigError(f"strategy {strategy.name!r} gives participants {weightless} no "
                              "positive weight; encrypted aggregation needs weights > 0")
        max_weight = (secure.max_weight if secure.max_weight is not None
                      else _power_of_two_ceiling(max(weights.values())))
        too_heavy = sorted(pid for pid, w in weights.items() if w > max_weight)
        if too_heavy:
            raise ConfigError(f"participants {too_heavy} weigh more than max_weight="
                              f"{max_weight}; raise SecureAggregation.max_weight")
        #: aggregation weights are secret in encrypted mode: the coordinator keeps none
        self.enrolled = {}
        self.roster = {pid: keys.signing_keys[pid].public_key() for pid in ids}
        self.n_values = int(self.parameters.size)
        self.spec = PackingSpec(clip=float(clip), max_participants=len(ids),
                                max_weight=float(max_weight), bits=secure.bits,
                                key_bits=keys.key_bits)
        self.clients: dict[str, SecureClient] = {}
        # the proximal term every round asks for (FedProx's mu, else the config's)
        agreed_mu = float(getattr(strategy, "mu", None) or self.config.prox_mu)
        self._agreed_mu = agreed_mu
        for pid, participant in self.participants.items():
            encryptor = ParticipantEncryptor(
                pid, keys.public_key, self.spec, keys.signing_keys[pid],
                federation_id=secure.federation_id,
                # stochastic rounding needs no secrecy; seeding it makes runs reproducible
                rng=np.random.default_rng([self.config.seed, zlib.crc32(pid.encode())]))
            holder = None
            if pid in keys.shares:
                holder = KeyHolder(keys.shares[pid], keys.public_key, self.spec,
                                   federation_id=secure.federation_id, roster=self.roster,
                                   min_contributors=secure.min_contributors)
            self.clients[pid] = SecureClient(participant, encryptor, holder,
                                             strategy=strategy, prox_mu=agreed_mu)
        for client in self.clients.values():  # offline, before the first round
            client.precompute(self.n_values)
        self._last_round = -1
        #: model digest → the contributors of the sum from that model sent for decryption
        self._decrypted_from: dict[bytes, list[str]] = {}

    # ---------------------------------------------------------------------------- rounds
    def run_round(self, round_number: int) -> RoundRecord:
        """One encrypted round: configure, gate, train and encrypt, aggregate ciphertexts,
        threshold-decrypt with a quorum, apply the weighted mean, evaluate."""
        if round_number <= self._last_round:
            raise ConfigError(
                f"encrypted rounds must be numbered upwards: round {round_number} after round "
                f"{self._last_round} (key holders never decrypt a repeated or older round); "
                "continue with a higher round number or start a new coordinator"
            )
        self._check_late_client_level_dp()
        self._last_round = round_number
        timings: dict[str, float] = {}
        start = time.perf_counter()
        active = self._active_ids()
        if not active:
            raise AggregationError("every participant has dropped out; nothing to train")
        plan = self.strategy.configure_round(round_number, active,
                                             self.config.per_round(len(active)), self._rng)
        if not math.isclose(self._prox_mu(plan), self._agreed_mu, rel_tol=1e-12, abs_tol=0.0):
            raise ConfigError(
                f"round {round_number}: strategy {self.strategy.name!r} asks for the proximal "
                f"term mu={self._prox_mu(plan):g}, but encrypted rounds train with the one "
                f"agreed at setup (mu={self._agreed_mu:g}: FedProx's mu, else "
                "TrainingConfig.prox_mu); a mu set per round (RoundPlan.prox_mu) cannot run "
                "encrypted, since a coordinator could give orgs different ones and read one "
                "org's update from the sum. Fix mu, or run without encryption")
        trained_from = model_digest(self.parameters)
        plan = reselect_for_known_model(plan, trained_from, self._decrypted_from, active)
        timings["configure"] = time.perf_counter() - start
        rejections: dict[str, str] = {}
        dropped: dict[str, str] = {}
        privacy: dict[str, dict[str, Any]] = {}
        messages: dict[str, bytes] = {}
        start = time.perf_counter()
        for pid in plan.participants:
            participant = self.participants[pid]
            gate = participant.check(self.parameters)
            if not gate.accepted:
                rejections[pid] = gate.reason
                continue
            try:
                sealed = self.clients[pid].contribute(self.parameters, round_number,
                                                      prox_mu=self._prox_mu(plan),
                                                      strategy=self.strategy)
            except PrivacyBudgetExceeded:
                participant.active = False
                dropped[pid] = SEALED_BUDGET_REASON
                continue
            except UNREACHABLE as exc:
                dropped[pid] = f"dropped out before sending its update: {exc}"
                continue
            messages[pid] = sealed.message
            if sealed.privacy:
                privacy[pid] = sealed.privacy
        timings["local_training"] = time.perf_counter() - start
        check_client_level_weighting(self.strategy, privacy, encrypted=True)
        # by head count (encrypted): the coordinator does not know the participants' weights
        rolled_back = self._rollback_due(self._rejected_share(rejections, plan.participants))
        encryption = EncryptedRound(key_bits=self.secure.keys.key_bits,
                                    quorum=self.secure.keys.quorum)
        contributed: list[str] = []
        cause: Exception | None = None
        if rolled_back:
            self._roll_back()
        elif messages:
            contributed, encryption, cause = self._aggregate(round_number, messages, dropped,
                                                             timings, trained_from)
        start = time.perf_counter()
        validation = self._validate(self.parameters, active, dropped)
        timings["evaluate"] = time.perf_counter() - start
        start = time.perf_counter()
        for client in self.clients.values():  # offline work for the next round
            client.precompute(self.n_values)
        timings["offline_precompute"] = time.perf_counter() - start
        record = RoundRecord(
            round=round_number, strategy=self.strategy.name, selected=plan.participants,
            contributed=contributed if not rolled_back else [], weights={},
            rejections=rejections, rolled_back=rolled_back, dropped=dropped,
            validation_auc=validation,
            seconds={k: round(v, 4) for k, v in timings.items()}, privacy=privacy,
            encryption=encryption,
        )
        record = self._keep(record)
        if encryption.failure is not None:
            if self.secure.on_failure == "raise":
                raise AggregationError(encryption.failure) from cause
            warnings.warn(encryption.failure, RuntimeWarning, stacklevel=2)
        return record

    def _aggregate(
        self, round_number: int, messages: Mapping[str, bytes], dropped: dict[str, str],
        timings: dict[str, float], trained_from: bytes,
    ) -> tuple[list[str], EncryptedRound, Exception | None]:
        """Verify and add the messages, threshold-decrypt, apply the mean; never raises a
        crypto failure (it is returned, with the model left unchanged)."""
        keys = self.secure.keys
        start = time.perf_counter()
        aggregator = SecureAggregator(keys.public_key, self.spec,
                                      federation_id=self.secure.federation_id,
                                      round_number=round_number, n_values=self.n_values,
                                      roster=self.roster)
        rejected: dict[str, str] = {}
        accepted: list[bytes] = []
        for sender, message in messages.items():
            reason = _submit(aggregator, sender, message)
            if reason is None:
                accepted.append(message)
            else:
                rejected[sender] = reason
        timings["aggregate"] = time.perf_counter() - start
        start = time.perf_counter()
        refused: dict[str, str] = {}
        try:
            if not accepted:
                raise AggregationError(
                    f"no valid encrypted update: every message was rejected "
                    f"({'; '.join(f'{k}: {v}' for k, v in rejected.items())})")
            if len(accepted) < self.secure.min_contributors:
                raise AggregationError(
                    f"only {list(aggregator.contributors)} sent a valid encrypted update; key "
                    f"holders decrypt sums of at least {self.secure.min_contributors} "
                    "participants (a sum of one update is that update)")
            aggregate = aggregator.encrypted_aggregate().to_bytes()
            # recorded before any key holder is asked: a holder that answers is bound to this
            # set for this model, whether or not a quorum follows
            self._decrypted_from[trained_from] = list(aggregator.contributors)
            result = self._decrypt(aggregator, aggregate, accepted, dropped, refused)
        except (AggregationError, CryptoError) as exc:
            timings["decrypt"] = time.perf_counter() - start
            contributors = list(aggregator.contributors)
            failure = (f"round {round_number} skipped, global model unchanged: {exc}"
                       + (f" (encrypted updates from {contributors} discarded)"
                          if contributors else ""))
            return [], EncryptedRound(
                key_bits=keys.key_bits, quorum=keys.quorum, rejected_updates=rejected,
                refused_decryption=refused, failure=failure), exc
        timings["decrypt"] = time.perf_counter() - start
        for index_name, reason in result.rejected_partials.items():
            refused[holder_name(keys.public_key, index_name)] = reason
        # global step Σ w_i Δ_i / Σ w_i (McMahan et al. 2017, Algorithm 1), weights client-side
        self._apply_step(result.weighted_mean)
        return list(result.contributors), EncryptedRound(
            key_bits=keys.key_bits, quorum=keys.quorum, rejected_updates=rejected,
            decrypted_by=list(result.decrypted_by), refused_decryption=refused,
            total_weight=result.total_weight, error_bound=result.error_bound), None

    def _decrypt(self, aggregator: SecureAggregator, aggregate: bytes, accepted: list[bytes],
                 dropped: dict[str, str], refused: dict[str, str]) -> AggregationResult:
        """Ask key holders, in key order, until a quorum has answered; combine. Holders that
        are unreachable are dropouts; holders that refuse are named. If a partial turns out
        invalid, the remaining holders are asked before giving up."""
        quorum = self.secure.keys.quorum
        waiting = list(self.secure.keys.public_key.participant_ids)
        partials: list[bytes] = []
        unreachable: list[str] = []

        def ask(count: int) -> None:
            while count > 0 and waiting:
                holder = waiting.pop(0)
                try:
                    partials.append(self.clients[holder].partial_decrypt(aggregate, accepted))
                except UNREACHABLE as exc:
                    unreachable.append(holder)
                    dropped[holder] = ("dropped out: did not answer the request for a partial "
                                       f"decryption ({exc})")
                    continue
                except CryptoError as exc:
                    refused[holder] = str(exc)
                    continue
                count -= 1

        return decrypt_with_quorum(aggregator, quorum, ask, waiting, partials, unreachable,
                                   refused)


def decrypt_with_quorum(
    aggregator: SecureAggregator,
    quorum: int,
    ask: Callable[[int], None],
    waiting: list[str],
    partials: list[bytes],
    unreachable: list[str],
    refused: Mapping[str, str],
) -> AggregationResult:
    """Threshold decryption of ``aggregator``'s sum, whichever backend carries the messages.

    ``ask(count)`` requests partial decryptions from the next holders in ``waiting`` until
    ``count`` more have answered, appending them to ``partials`` and noting ``unreachable`` and
    ``refused`` holders. Below the quorum the round fails naming both; if a partial turns out
    invalid when combining, the remaining holders are asked before giving up.
    """
    ask(quorum)
    if len(partials) < quorum:
        reasons = "".join(f"; {pid} refused: {why}" for pid, why in sorted(refused.items()))
        replayed = any("second, different aggregate" in why or "was already decrypted" in why
                       for why in refused.values())
        raise AggregationError(
            f"threshold decryption needs {quorum} key holders, only {len(partials)} "
            f"answered (unreachable: {unreachable or 'none'}; refused: "
            f"{sorted(refused) or 'none'}){reasons}"
            + (". Key holders remember every round they decrypted with this key, across "
               "runs: a new run of a federation needs a new federation id or key ceremony"
               if replayed else ""))
    try:
        return aggregator.finalize(partials)
    except CryptoError:
        if not waiting:
            raise
        ask(len(waiting))
        return aggregator.finalize(partials)


def holder_name(public_key: ThresholdPublicKey, description: str) -> str:
    """Map ``"participant 'org-b' (share 2)"`` back to ``org-b`` for the round log."""
    for index, pid in enumerate(public_key.participant_ids, start=1):
        if public_key.describe(index) == description:
            return pid
    return description


def _submit(aggregator: SecureAggregator, sender: str, message: bytes) -> str | None:
    """Add ``message`` from ``sender``; return why it was refused, or None if accepted."""
    try:
        parsed = EncryptedUpdate.from_bytes(message)
    except CryptoError as exc:
        return str(exc)
    if parsed.participant_id != sender:
        return (f"sent by {sender!r} but claims to come from {parsed.participant_id!r} "
                "(a forwarded or impersonated message)")
    try:
        aggregator.submit(parsed)
    except UpdateRejected as exc:
        return exc.reason
    return None
