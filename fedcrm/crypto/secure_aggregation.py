"""Encrypted, signed, quality-weighted aggregation of model updates with threshold decryption.

Three roles, one class each:

* :class:`ParticipantEncryptor` (each org): quantises and packs its weighted update
  (:mod:`~fedcrm.crypto.packing`), encrypts it online with precomputed randomness
  (:mod:`~fedcrm.crypto.randomness`), proves it knows every plaintext
  (:mod:`~fedcrm.crypto.plaintext_proofs`) and signs it with Ed25519.
* :class:`SecureAggregator` (coordinator): verifies each message (signature, then fields,
  then the proof of plaintext knowledge), rejects bad ones with a reason naming the
  participant and carries on, multiplies the valid ciphertexts (adding the plaintexts), and
  turns a quorum of partial decryptions into the weighted mean.
* :class:`KeyHolder` (each org holding a key share): re-verifies the signed updates and
  their proofs and recomputes the aggregate before partially decrypting it, so a coordinator
  cannot get a single org's update, two different aggregates of one round, or sums of
  different participants trained from one global model decrypted, nor cancel an org out of
  the sum with a colluding participant's signed transform of that org's ciphertexts.

The coordinator only ever holds ciphertexts and the decrypted aggregate: the weighted sum,
the total weight (encrypted in slot 0, so no org's own weight is revealed) and who
contributed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import gmpy2
import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fedcrm.crypto._wire import check_identifier
from fedcrm.crypto.messages import (
    MAX_ROUND,
    MODEL_DIGEST_BYTES,
    EncryptedAggregate,
    EncryptedUpdate,
    context_digest,
)
from fedcrm.crypto.packing import PackingSpec
from fedcrm.crypto.plaintext_proofs import (
    POOL_PAIRS_PER_PROOF,
    ProofBinding,
    encrypt_and_prove,
    proof_from_bytes,
    proof_to_bytes,
    verify_plaintext_proof,
)
from fedcrm.crypto.randomness import RandomnessPool
from fedcrm.crypto.threshold import (
    KeyShare,
    PartialDecryption,
    ThresholdPublicKey,
    combine,
    partial_decrypt,
)
from fedcrm.errors import AggregationError, ConfigError, CryptoError

Roster = Mapping[str, Ed25519PublicKey | bytes]


class UpdateRejected(CryptoError):
    """An encrypted update was rejected; ``participant_id`` is ``None`` if unreadable."""

    def __init__(self, participant_id: str | None, reason: str) -> None:
        self.participant_id = participant_id
        self.reason = reason
        who = f"participant {participant_id!r}" if participant_id else "an unknown participant"
        super().__init__(f"update from {who} rejected: {reason}")


@dataclass(frozen=True)
class Rejection:
    """Why one message was not aggregated."""

    participant_id: str | None
    reason: str


@dataclass(frozen=True)
class AggregationResult:
    """The decrypted outcome of one round.

    ``weighted_mean`` is ``Σ w_i x̂_i / Σ w_i`` over ``contributors``; it differs from the
    weighted mean of the clipped float updates by at most ``error_bound`` per value.
    """

    weighted_mean: np.ndarray
    total_weight: float
    contributors: tuple[str, ...]
    decrypted_by: tuple[str, ...]
    error_bound: float
    rejected_updates: tuple[Rejection, ...] = ()
    rejected_partials: dict[str, str] = field(default_factory=dict)


def _normalise_roster(roster: Roster) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    for participant_id, key in roster.items():
        check_identifier(participant_id, "a roster entry's participant id")
        if isinstance(key, bytes):
            try:
                key = Ed25519PublicKey.from_public_bytes(key)
            except ValueError as exc:
                raise ConfigError(
                    f"roster entry {participant_id!r} is not a 32-byte Ed25519 public key"
                ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"roster entry {participant_id!r} is not an Ed25519 public key")
        keys[participant_id] = key
    if not keys:
        raise ConfigError("the roster of participants is empty")
    return keys


def _ciphertexts_to_bytes(ciphertexts: Iterable[int], width: int) -> bytes:
    return b"".join(int(c).to_bytes(width, "big") for c in ciphertexts)


def _ciphertexts_from_bytes(blob: bytes, width: int) -> list[gmpy2.mpz]:
    return [
        gmpy2.mpz(int.from_bytes(blob[k : k + width], "big")) for k in range(0, len(blob), width)
    ]


class ParticipantEncryptor:
    """Participant side: pack, encrypt (online, pooled randomness) and sign an update.

    Parameters
    ----------
    participant_id, signing_key:
        Who this is, and its Ed25519 key (the coordinator's roster holds the public half).
    public_key, spec, federation_id:
        The federation's threshold key, packing spec and session id, shared by everyone.
    pool:
        Precomputed randomness; by default an empty pool that raises when exhausted, so
        call :meth:`precompute` between rounds. Each ciphertext takes one pooled pair, and
        each update one more for the commitment of its proof of plaintext knowledge.
    rng:
        Generator for stochastic rounding (not secret); default: freshly seeded.
    """

    def __init__(
        self,
        participant_id: str,
        public_key: ThresholdPublicKey,
        spec: PackingSpec,
        signing_key: Ed25519PrivateKey,
        *,
        federation_id: str,
        pool: RandomnessPool | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_identifier(participant_id, "participant_id")
        check_identifier(federation_id, "federation_id")
        if pool is not None and pool.n != public_key.n:
            raise ConfigError("the randomness pool was built for a different public key")
        self.participant_id = participant_id
        self.public_key = public_key
        self.spec = spec
        self.federation_id = federation_id
        self.pool = pool if pool is not None else RandomnessPool(public_key)
        self._signing_key = signing_key
        self._rng = rng if rng is not None else np.random.default_rng()
        self._context = context_digest(public_key, spec)

    def pool_values_needed(self, n_values: int, rounds: int = 1) -> int:
        """Pooled pairs that ``rounds`` updates of ``n_values`` values consume."""
        return (self.spec.n_plaintexts(n_values) + POOL_PAIRS_PER_PROOF) * rounds

    def precompute(self, n_values: int, rounds: int = 1) -> None:
        """Offline step: fill the pool for ``rounds`` updates of ``n_values`` values."""
        self.pool.precompute(self.pool_values_needed(n_values, rounds))

    def encrypt(self, update: np.ndarray, weight: float, round_number: int, *,
                model: bytes) -> EncryptedUpdate:
        """Online step: the signed encryption of ``weight · update`` for ``round_number``.

        ``weight`` is this participant's sample count × quality multiplier, at most the
        spec's ``max_weight``. ``model`` is :func:`~fedcrm.crypto.model_digest` of the global
        model the update was trained from.
        """
        if isinstance(round_number, bool) or not isinstance(round_number, int | np.integer) \
                or not 0 <= round_number <= MAX_ROUND:
            raise ConfigError(f"round_number must be an integer in [0, 2**63), got "
                              f"{round_number!r}")
        if not isinstance(model, bytes) or len(model) != MODEL_DIGEST_BYTES:
            raise ConfigError(f"model must be the {MODEL_DIGEST_BYTES}-byte model_digest of the "
                              "global model the update was trained from")
        round_number = int(round_number)
        plaintexts = self.spec.pack(update, weight, self._rng)
        binding = ProofBinding(
            self.federation_id, round_number, self.participant_id, self._context
        )
        ciphertexts, proof = encrypt_and_prove(self.public_key, self.pool, plaintexts, binding)
        unsigned = EncryptedUpdate(
            federation_id=self.federation_id,
            round_number=round_number,
            participant_id=self.participant_id,
            context=self._context,
            model=model,
            n_values=int(np.asarray(update).size),
            ciphertexts=_ciphertexts_to_bytes(ciphertexts, self.public_key.ciphertext_bytes),
            proof=proof_to_bytes(self.public_key, proof),
        )
        return unsigned.with_signature(self._signing_key.sign(unsigned.signing_payload()))


class SecureAggregator:
    """Coordinator side for one round: verify, add homomorphically, then decrypt the sum.

    Parameters
    ----------
    public_key, spec, federation_id:
        As for :class:`ParticipantEncryptor`.
    round_number:
        The round being aggregated; messages for any other round are rejected.
    n_values:
        Length of every update (the model's parameter count).
    roster:
        Participant id → Ed25519 public key (or its 32 raw bytes) of everyone allowed to
        contribute; at most ``spec.max_participants`` entries, so slots cannot overflow.
    """

    def __init__(
        self,
        public_key: ThresholdPublicKey,
        spec: PackingSpec,
        *,
        federation_id: str,
        round_number: int,
        n_values: int,
        roster: Roster,
    ) -> None:
        self.public_key = public_key
        self.spec = spec
        self.federation_id = check_identifier(federation_id, "federation_id")
        self.round_number = round_number
        self.n_values = n_values
        self.roster = _normalise_roster(roster)
        if len(self.roster) > spec.max_participants:
            raise ConfigError(
                f"the roster has {len(self.roster)} participants but the packing spec has "
                f"headroom for {spec.max_participants}; raise max_participants"
            )
        self._context = context_digest(public_key, spec)
        self._n_ciphertexts = spec.n_plaintexts(n_values)
        self._nsquare = gmpy2.mpz(public_key.nsquare)
        self._accumulated: list[gmpy2.mpz] | None = None
        self._contributors: list[str] = []
        self._models: dict[str, bytes] = {}
        self.rejections: list[Rejection] = []

    @property
    def contributors(self) -> tuple[str, ...]:
        """Participants whose updates are in the aggregate, in arrival order."""
        return tuple(self._contributors)

    @property
    def models(self) -> dict[str, bytes]:
        """Contributor → the signed digest of the global model its update was trained from."""
        return dict(self._models)

    # -- verification and homomorphic addition ------------------------------------------
    def submit(self, message: EncryptedUpdate | bytes) -> None:
        """Verify one update and add it; raise :class:`UpdateRejected` if it is refused.

        A refused message leaves the aggregate untouched and is recorded in
        :attr:`rejections`, so the round carries on with the other participants.
        """
        try:
            update, ciphertexts = self._verify(message)
        except UpdateRejected as rejection:
            self.rejections.append(Rejection(rejection.participant_id, rejection.reason))
            raise
        nsquare = self._nsquare
        if self._accumulated is None:
            self._accumulated = ciphertexts
        else:
            # ciphertext product = plaintext sum (Paillier 1999, §4)
            self._accumulated = [
                a * c % nsquare for a, c in zip(self._accumulated, ciphertexts, strict=True)
            ]
        self._contributors.append(update.participant_id)
        self._models[update.participant_id] = update.model

    def submit_all(self, messages: Iterable[EncryptedUpdate | bytes]) -> list[Rejection]:
        """Submit every message, keep going past rejections, and return them."""
        rejected = []
        for message in messages:
            try:
                self.submit(message)
            except UpdateRejected as rejection:
                rejected.append(Rejection(rejection.participant_id, rejection.reason))
        return rejected

    def _verify(self, message: EncryptedUpdate | bytes) -> tuple[EncryptedUpdate, list[gmpy2.mpz]]:
        if isinstance(message, bytes | bytearray | memoryview):
            try:
                update = EncryptedUpdate.from_bytes(bytes(message))
            except CryptoError as exc:
                raise UpdateRejected(None, str(exc)) from exc
        elif isinstance(message, EncryptedUpdate):
            update = message
        else:
            raise UpdateRejected(None, f"expected bytes or EncryptedUpdate, got {type(message)}")
        who = update.participant_id

        def reject(reason: str) -> UpdateRejected:
            return UpdateRejected(who, reason)

        verifying_key = self.roster.get(who)
        if verifying_key is None:
            raise reject("not in this federation's roster of participants")
        if not update.signature:
            raise reject("unsigned message")
        try:
            verifying_key.verify(update.signature, update.signing_payload())
        except InvalidSignature:
            raise reject(
                "bad signature (the message was altered, or not signed with the key in the roster)"
            ) from None
        if update.federation_id != self.federation_id:
            raise reject(
                f"belongs to federation {update.federation_id!r}, not {self.federation_id!r}"
            )
        if update.context != self._context:
            raise reject("encrypted under a different public key or packing spec")
        if update.round_number < self.round_number:
            raise reject(
                f"replayed or stale: signed for round {update.round_number}, the current "
                f"round is {self.round_number}"
            )
        if update.round_number != self.round_number:
            raise reject(
                f"wrong round: signed for round {update.round_number}, the current round is "
                f"{self.round_number}"
            )
        if who in self._contributors:
            raise reject(f"replay: already contributed to round {self.round_number}")
        if update.n_values != self.n_values:
            raise reject(f"has {update.n_values} values, this round expects {self.n_values}")
        width = self.public_key.ciphertext_bytes
        if len(update.ciphertexts) != self._n_ciphertexts * width:
            raise reject(
                f"malformed: {len(update.ciphertexts)} ciphertext bytes, expected "
                f"{self._n_ciphertexts} ciphertexts of {width} bytes"
            )
        ciphertexts = _ciphertexts_from_bytes(update.ciphertexts, width)
        nsquare, n = self._nsquare, gmpy2.mpz(self.public_key.n)
        # all units iff their product mod n is one: one gcd instead of one per ciphertext
        product = gmpy2.mpz(1)
        for ciphertext in ciphertexts:
            product = product * ciphertext % n
        if not all(0 < c < nsquare for c in ciphertexts) or gmpy2.gcd(product, n) != 1:
            position = next(
                k
                for k, c in enumerate(ciphertexts)
                if not 0 < c < nsquare or gmpy2.gcd(c, n) != 1
            )
            raise reject(f"malformed: ciphertext {position} is not a unit modulo n²")
        # last, as the costliest check: the signer knows every plaintext it sent, so its
        # update cannot be a transform of another org's ciphertexts
        binding = ProofBinding(
            update.federation_id, update.round_number, who, update.context
        )
        try:
            proof = proof_from_bytes(self.public_key, update.proof)
            verify_plaintext_proof(self.public_key, binding, ciphertexts, proof)
        except CryptoError as exc:
            raise reject(str(exc)) from None
        return update, ciphertexts

    # -- decryption -----------------------------------------------------------------------
    def encrypted_aggregate(self) -> EncryptedAggregate:
        """The sum of the accepted updates, to be partially decrypted by key holders."""
        if self._accumulated is None:
            raise AggregationError(
                f"round {self.round_number} has no valid update to aggregate "
                f"({len(self.rejections)} rejected)"
            )
        return EncryptedAggregate(
            federation_id=self.federation_id,
            round_number=self.round_number,
            context=self._context,
            n_values=self.n_values,
            contributors=self.contributors,
            ciphertexts=_ciphertexts_to_bytes(self._accumulated, self.public_key.ciphertext_bytes),
        )

    def finalize(self, partials: Sequence[PartialDecryption | bytes]) -> AggregationResult:
        """Verify the partial decryptions, combine a quorum and decode the weighted mean.

        Invalid partials are named in ``rejected_partials``; fewer valid ones than the
        quorum raise :class:`CryptoError`.
        """
        aggregate = self.encrypted_aggregate()
        ciphertexts = [int(c) for c in self._accumulated or ()]
        parsed: list[PartialDecryption] = []
        unreadable: dict[str, str] = {}
        for position, partial in enumerate(partials):
            if isinstance(partial, PartialDecryption):
                parsed.append(partial)
                continue
            try:
                if not isinstance(partial, bytes | bytearray | memoryview):
                    raise CryptoError(f"expected bytes or PartialDecryption, got "
                                      f"{type(partial).__name__}")
                parsed.append(PartialDecryption.from_bytes(bytes(partial)))
            except CryptoError as exc:
                unreadable[f"partial decryption message {position}"] = str(exc)
        try:
            decryption = combine(self.public_key, ciphertexts, parsed)
        except CryptoError as exc:
            if unreadable:
                details = "; ".join(f"{k}: {v}" for k, v in unreadable.items())
                raise CryptoError(f"{exc}; also unreadable: {details}") from exc
            raise
        total = self.spec.unpack_sum(decryption.plaintexts, self.n_values, len(self.contributors))
        return AggregationResult(
            weighted_mean=total.mean,
            total_weight=total.total_weight,
            contributors=aggregate.contributors,
            decrypted_by=decryption.used,
            error_bound=self.spec.error_bound(len(self.contributors), total.total_weight),
            rejected_updates=tuple(self.rejections),
            rejected_partials={**decryption.rejected, **unreadable},
        )


class KeyHolder:
    """A participant's decryption role: check what it is asked to decrypt, then do it.

    Before partially decrypting an aggregate, the key holder re-verifies the signed updates
    the coordinator forwards, with their proofs of plaintext knowledge (so no contributor's
    ciphertexts are a transform of another's), and recomputes their product. It refuses
    when the product differs, when fewer than ``min_contributors`` distinct participants
    contributed (so no single org's update can be decrypted), when it already decrypted
    a different aggregate for the same or a later round (so no difference of two aggregates can
    isolate one update), and when the updates trained from one global model (the digest each
    signs) come from other participants than a sum it decrypted before from that model: a
    coordinator that sends the same model again and leaves one org out of the second sum would
    otherwise read that org's update from the difference. ``roster`` must come from the
    federation's setup, not from the coordinator.

    A coordinator that sends a slightly changed model instead gets updates that differ only a
    little, so differencing across rounds still estimates one org's update; only differential
    privacy bounds that (So et al. 2023, "Securing Secure Aggregation: Mitigating Multi-Round
    Privacy Leakage in Federated Learning").
    """

    def __init__(
        self,
        share: KeyShare,
        public_key: ThresholdPublicKey,
        spec: PackingSpec,
        *,
        federation_id: str,
        roster: Roster,
        min_contributors: int = 2,
    ) -> None:
        if min_contributors < 1:
            raise ConfigError(f"min_contributors must be ≥ 1, got {min_contributors}")
        share.check(public_key)
        self.share = share
        self.public_key = public_key
        self.spec = spec
        self.federation_id = check_identifier(federation_id, "federation_id")
        self.roster = _normalise_roster(roster)
        self.min_contributors = min_contributors
        self._decrypted: dict[int, bytes] = {}
        #: model digest → the participants whose updates trained from it were decrypted
        self._trained_from: dict[bytes, frozenset[str]] = {}

    def partial_decrypt(
        self,
        aggregate: EncryptedAggregate | bytes,
        updates: Sequence[EncryptedUpdate | bytes],
    ) -> PartialDecryption:
        """Verify ``aggregate`` against ``updates`` and return this share's partial."""
        if not isinstance(aggregate, EncryptedAggregate):
            if not isinstance(aggregate, bytes | bytearray | memoryview):
                raise CryptoError(f"{self.share.participant_id}: expected the aggregate as bytes "
                                  f"or EncryptedAggregate, got {type(aggregate).__name__}")
            aggregate = EncryptedAggregate.from_bytes(bytes(aggregate))
        me = self.share.participant_id
        if aggregate.federation_id != self.federation_id:
            raise CryptoError(
                f"{me}: refusing to decrypt an aggregate of federation {aggregate.federation_id!r}"
            )
        digest = aggregate.digest()
        latest = max(self._decrypted, default=-1)
        if aggregate.round_number in self._decrypted:
            if self._decrypted[aggregate.round_number] != digest:
                raise CryptoError(
                    f"{me}: refusing to decrypt a second, different aggregate for round "
                    f"{aggregate.round_number} (its difference with the first could reveal "
                    "one participant's update)"
                )
        elif aggregate.round_number < latest:
            raise CryptoError(
                f"{me}: refusing to decrypt round {aggregate.round_number}; round {latest} "
                "was already decrypted"
            )
        if len(set(aggregate.contributors)) < self.min_contributors:
            raise CryptoError(
                f"{me}: refusing to decrypt an aggregate of {len(set(aggregate.contributors))}"
                f" participant(s); at least {self.min_contributors} are required"
            )
        try:
            check = SecureAggregator(
                self.public_key,
                self.spec,
                federation_id=self.federation_id,
                round_number=aggregate.round_number,
                n_values=aggregate.n_values,
                roster=self.roster,
            )
        except ConfigError as exc:  # the coordinator's numbers: a refusal, not a crash
            raise CryptoError(f"{me}: refusing to decrypt a malformed aggregate ({exc})") from exc
        for update in updates:
            try:
                check.submit(update)
            except UpdateRejected as exc:
                raise CryptoError(
                    f"{me}: refusing to decrypt: the coordinator forwarded an invalid update "
                    f"({exc})"
                ) from exc
        if sorted(check.contributors) != sorted(aggregate.contributors):
            raise CryptoError(
                f"{me}: refusing to decrypt: the aggregate claims contributors "
                f"{sorted(aggregate.contributors)} but the forwarded updates come from "
                f"{sorted(check.contributors)}"
            )
        recomputed = check.encrypted_aggregate()
        if (
            recomputed.ciphertexts != aggregate.ciphertexts
            or recomputed.context != aggregate.context
        ):
            raise CryptoError(
                f"{me}: refusing to decrypt: the aggregate is not the product of the "
                "forwarded updates"
            )
        groups = _by_model(check.models)
        if len(groups) > 1:
            # an honest coordinator sends one global model per round; sums over models that
            # differ by a hair, each model given to other participants, combine into one
            # participant's update: (a+b) − (b+c) + (a+c) = 2a
            raise CryptoError(
                f"{me}: refusing to decrypt: the contributors of round "
                f"{aggregate.round_number} trained from {len(groups)} different global models "
                f"({'; '.join(sorted(', '.join(sorted(g)) for g in groups.values()))}); a round "
                "has one model")
        for model, group in groups.items():
            before = self._trained_from.get(model)
            if before is not None and before != group:
                raise CryptoError(
                    f"{me}: refusing to decrypt: {sorted(group)} trained from a global model "
                    f"whose updates were already decrypted in a sum of {sorted(before)}; the "
                    "difference of the two sums could reveal one participant's update (after "
                    "a rollback, select the same participants again)"
                )
        ciphertexts = [
            int(c)
            for c in _ciphertexts_from_bytes(
                aggregate.ciphertexts, self.public_key.ciphertext_bytes
            )
        ]
        partial = partial_decrypt(self.share, self.public_key, ciphertexts)
        self._decrypted[aggregate.round_number] = digest
        self._trained_from.update(groups)
        return partial


def _by_model(models: Mapping[str, bytes]) -> dict[bytes, frozenset[str]]:
    """Model digest → the contributors whose updates were trained from that model."""
    groups: dict[bytes, set[str]] = {}
    for participant_id, model in models.items():
        groups.setdefault(model, set()).add(participant_id)
    return {model: frozenset(group) for model, group in groups.items()}
