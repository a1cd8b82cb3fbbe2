"""Encrypted, quality-weighted aggregation: packed Paillier with threshold decryption.

Participants encrypt their weighted float updates under one threshold Paillier key
(``phe``-compatible, ``g = n + 1``), many fixed-point values per ciphertext; the coordinator
multiplies ciphertexts and needs a quorum of participants to decrypt the sum. See
``docs/crypto.md`` for the design, the message formats and the trust model.

Modules: :mod:`~fedcrm.crypto.packing` (fixed-point slots), :mod:`~fedcrm.crypto.randomness`
(offline/online encryption), :mod:`~fedcrm.crypto.threshold` (key ceremony, verifiable
partial decryption, combination), :mod:`~fedcrm.crypto.messages` (signed plain records) and
:mod:`~fedcrm.crypto.secure_aggregation` (the three roles).
"""

from fedcrm.crypto.messages import (
    EncryptedAggregate,
    EncryptedUpdate,
    context_digest,
    model_digest,
)
from fedcrm.crypto.packing import PackingSpec, QuantizedUpdate, WeightedSum
from fedcrm.crypto.randomness import RandomnessPool
from fedcrm.crypto.secure_aggregation import (
    AggregationResult,
    KeyHolder,
    ParticipantEncryptor,
    Rejection,
    SecureAggregator,
    UpdateRejected,
)
from fedcrm.crypto.threshold import (
    KeyShare,
    PartialDecryption,
    ThresholdDecryption,
    ThresholdPublicKey,
    combine,
    deal,
    default_quorum,
    partial_decrypt,
    verify_partial,
)

__all__ = [
    "AggregationResult",
    "EncryptedAggregate",
    "EncryptedUpdate",
    "KeyHolder",
    "KeyShare",
    "PackingSpec",
    "PartialDecryption",
    "ParticipantEncryptor",
    "QuantizedUpdate",
    "RandomnessPool",
    "Rejection",
    "SecureAggregator",
    "ThresholdDecryption",
    "ThresholdPublicKey",
    "UpdateRejected",
    "WeightedSum",
    "combine",
    "context_digest",
    "deal",
    "default_quorum",
    "model_digest",
    "partial_decrypt",
    "verify_partial",
]
