"""Packed fixed-point encoding of weighted model updates into Paillier plaintexts.

One Paillier plaintext (an integer below the 2048-bit modulus ``n``) is far wider than one
quantised value, so many values share it, each in its own *slot* of ``slot_bits`` bits.
Adding ciphertexts adds plaintexts, which adds every slot at once, provided no slot sum ever
carries into its neighbour. This module owns that arithmetic; it knows nothing of keys.

Encoding of one participant's update ``x`` (float vector) with weight ``w``:

1. ``ρ = w / max_weight`` in ``(0, 1]`` (the weight folded into the fixed-point scale).
2. Each value is clipped to ``[-clip, clip]`` and scaled: ``y = ρ·x / step + L`` with
   ``L = 2^(bits-1) - 1`` levels per sign and ``step = clip / L``, so ``y ∈ [0, 2L]``;
   the offset ``L`` makes every slot non-negative.
3. ``y`` is stochastically rounded to an integer ``q`` (``E[q] = y``, error below one step).
4. Slot 0 carries the weight itself, ``round(ρ · R)`` with ``R = weight_resolution``.

Because ``ρ ≤ 1``, weighting never widens a value's range; the only headroom a slot needs is
for the sum over ``max_participants`` contributions (``P``), hence
``slot_bits = bit_length(P · 2L)`` and ``R = ⌊(2^slot_bits - 1) / P⌋``.
After decryption, slot ``j`` holds ``Σ_i q_ij``; subtracting ``L · n_participants`` (the offset
times the number of contributions) gives the exact signed integer ``Σ_i (q_ij - L)``, and
``step · max_weight`` converts it to ``Σ_i w_i · x̂_ij``. The weight slot gives ``Σ_i w_i``.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedcrm.errors import ConfigError, CryptoError

# Slot sums are decoded in uint64; keep one bit spare so that sums never reach 2^63.
MAX_SLOT_BITS = 62
MIN_KEY_BITS = 128


@dataclass(frozen=True)
class QuantizedUpdate:
    """One participant's update after clipping, weighting and stochastic rounding.

    ``values`` are integers in ``[0, 2·levels]`` (offset encoding), ``weight_units`` is the
    weight in units of ``max_weight / weight_resolution``, and ``n_clipped`` counts values
    that had to be clipped to ``[-clip, clip]``.
    """

    values: np.ndarray
    weight_units: int
    n_clipped: int


@dataclass(frozen=True)
class WeightedSum:
    """Decoded sum over ``n_participants`` updates: ``Σ w_i · x̂_i`` and ``Σ w_i``."""

    weighted_sum: np.ndarray
    total_weight: float
    n_participants: int

    @property
    def mean(self) -> np.ndarray:
        """The weighted mean ``Σ w_i · x̂_i / Σ w_i``."""
        return self.weighted_sum / self.total_weight


@dataclass(frozen=True)
class PackingSpec:
    """How float updates become packed integer plaintexts; shared by every party of a round.

    Parameters
    ----------
    clip:
        Values are clipped to ``[-clip, clip]`` before quantisation.
    max_participants:
        The most updates that will ever be added together; sets the headroom of each slot.
    max_weight:
        The largest weight (sample count × quality multiplier) any participant may use.
        Weights are relative to it, so choose it close to the real maximum.
    bits:
        Quantisation bits per value (``2^(bits-1) - 1`` levels on each side of zero).
    key_bits:
        Bit length of the Paillier modulus ``n``; plaintexts use ``key_bits - 1`` bits.
    """

    clip: float
    max_participants: int
    max_weight: float
    bits: int = 16
    key_bits: int = 2048

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ConfigError(f"clip must be a positive finite number, got {self.clip!r}")
        if not (math.isfinite(self.max_weight) and self.max_weight > 0):
            raise ConfigError(
                f"max_weight must be a positive finite number, got {self.max_weight!r}"
            )
        if isinstance(self.max_participants, bool) or self.max_participants < 1:
            raise ConfigError(
                f"max_participants must be an integer ≥ 1, got {self.max_participants!r}"
            )
        if isinstance(self.bits, bool) or not 2 <= self.bits <= 48:
            raise ConfigError(f"bits must be an integer in [2, 48], got {self.bits!r}")
        if isinstance(self.key_bits, bool) or self.key_bits < MIN_KEY_BITS:
            raise ConfigError(f"key_bits must be ≥ {MIN_KEY_BITS}, got {self.key_bits!r}")
        if self.slot_bits > MAX_SLOT_BITS:
            raise ConfigError(
                f"bits={self.bits} with max_participants={self.max_participants} needs "
                f"{self.slot_bits}-bit slots; at most {MAX_SLOT_BITS} are supported — "
                "lower bits or max_participants"
            )

    # -- derived layout -------------------------------------------------------------------
    @property
    def levels(self) -> int:
        """``L``: quantisation levels on each side of zero; also the per-value offset."""
        return (1 << (self.bits - 1)) - 1

    @property
    def step(self) -> float:
        """Quantisation step ``clip / L`` in value units (for weight ``max_weight``)."""
        return self.clip / self.levels

    @property
    def slot_bits(self) -> int:
        """Bits per slot: enough for ``max_participants`` values of at most ``2L`` each."""
        return (self.max_participants * 2 * self.levels).bit_length()

    @property
    def weight_resolution(self) -> int:
        """``R``: a weight of ``max_weight`` is encoded as ``R`` units in the weight slot."""
        return ((1 << self.slot_bits) - 1) // self.max_participants

    @property
    def slots_per_plaintext(self) -> int:
        """Slots in one plaintext; plaintexts stay below ``2^(key_bits-1) ≤ n``."""
        return (self.key_bits - 1) // self.slot_bits

    def n_plaintexts(self, n_values: int) -> int:
        """Plaintexts (hence ciphertexts) needed for ``n_values`` values plus the weight slot."""
        if n_values < 1:
            raise ConfigError(f"an update needs at least one value, got n_values={n_values}")
        return -(-(n_values + 1) // self.slots_per_plaintext)

    def fingerprint(self) -> bytes:
        """SHA-256 of the parameters, so messages can bind the spec they were encoded with."""
        blob = b"fedcrm.crypto.PackingSpec.v1" + struct.pack(
            ">ddIII", self.clip, self.max_weight, self.max_participants, self.bits, self.key_bits
        )
        return hashlib.sha256(blob).digest()

    # -- encoding -------------------------------------------------------------------------
    def quantize(
        self, update: np.ndarray, weight: float, rng: np.random.Generator | None = None
    ) -> QuantizedUpdate:
        """Clip, weight and stochastically round ``update`` (see the module docstring).

        ``rng`` drives the stochastic rounding; it need not be cryptographic (the rounding
        noise is not secret), so a seeded generator makes runs reproducible.
        """
        values = np.asarray(update)
        if values.ndim != 1 or values.size == 0:
            raise ConfigError(f"an update must be a non-empty 1-D array, got shape {values.shape}")
        if not np.issubdtype(values.dtype, np.floating) and not np.issubdtype(
            values.dtype, np.integer
        ):
            raise ConfigError(f"an update must hold real numbers, got dtype {values.dtype}")
        values = values.astype(np.float64, copy=False)
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ConfigError(
                f"update value {bad} is {values[bad]!r}; updates must be finite "
                "(clip or drop non-finite values before encryption)"
            )
        weight_units, relative_weight = self._weight_units(weight)
        n_clipped = int(np.count_nonzero(np.abs(values) > self.clip))
        clipped = np.clip(values, -self.clip, self.clip)
        two_levels = 2 * self.levels
        scaled = np.clip(relative_weight * clipped / self.step + self.levels, 0.0, two_levels)
        floor = np.floor(scaled)
        generator = rng if rng is not None else np.random.default_rng()
        # stochastic rounding: round up with probability equal to the fractional part
        rounded = floor + (generator.random(scaled.shape) < (scaled - floor))
        quantized = rounded.astype(np.int64)
        if quantized.min() < 0 or quantized.max() > two_levels:  # cannot happen; never wrap
            raise CryptoError("internal error: quantised value outside [0, 2L]")
        return QuantizedUpdate(quantized, weight_units, n_clipped)

    def _weight_units(self, weight: float) -> tuple[int, float]:
        if not (isinstance(weight, int | float | np.floating | np.integer)) or isinstance(
            weight, bool
        ):
            raise ConfigError(f"weight must be a real number, got {type(weight).__name__}")
        weight = float(weight)
        if not (math.isfinite(weight) and 0 < weight <= self.max_weight):
            raise ConfigError(
                # the weight itself stays out of the message: it is the org's secret
                f"the weight is outside (0, max_weight={self.max_weight!r}]; raise "
                "max_weight in the PackingSpec (all participants must agree on it)"
            )
        relative = weight / self.max_weight
        # nearest unit, at least one so that a participant's weight never vanishes
        units = max(1, math.floor(relative * self.weight_resolution + 0.5))
        return units, relative

    def pack(
        self, update: np.ndarray, weight: float, rng: np.random.Generator | None = None
    ) -> list[int]:
        """Quantise ``update`` with ``weight`` and pack it into plaintext integers."""
        return self.pack_quantized(self.quantize(update, weight, rng))

    def pack_quantized(self, quantized: QuantizedUpdate) -> list[int]:
        """Pack a :class:`QuantizedUpdate`: slot 0 is the weight, slots 1.. are the values."""
        values = quantized.values
        if values.min() < 0 or values.max() > 2 * self.levels:
            raise CryptoError(f"quantised values must lie in [0, {2 * self.levels}]")
        if not 1 <= quantized.weight_units <= self.weight_resolution:
            raise CryptoError(
                f"weight units {quantized.weight_units} outside [1, {self.weight_resolution}]"
            )
        slots = np.empty(values.size + 1, dtype=np.uint64)
        slots[0] = quantized.weight_units
        slots[1:] = values
        return _slots_to_integers(slots, self.slot_bits, self.slots_per_plaintext)

    # -- decoding -------------------------------------------------------------------------
    def unpack_sum(
        self, plaintexts: Sequence[int], n_values: int, n_participants: int
    ) -> WeightedSum:
        """Decode the sum of ``n_participants`` packed updates, checking for overflow.

        Raises :class:`CryptoError` when the plaintexts cannot be an honest sum: more
        participants than planned, a slot above its maximum, a carry past the last slot,
        non-zero padding, or a weight total outside its possible range.
        """
        if not 1 <= n_participants <= self.max_participants:
            raise CryptoError(
                f"cannot decode a sum of {n_participants} updates: the packing spec has "
                f"headroom for 1..{self.max_participants} participants (slots would overflow)"
            )
        expected = self.n_plaintexts(n_values)
        if len(plaintexts) != expected:
            raise CryptoError(
                f"{n_values} values need {expected} plaintexts, got {len(plaintexts)}"
            )
        slots = _integers_to_slots(plaintexts, self.slot_bits, self.slots_per_plaintext)
        used = n_values + 1
        if np.any(slots[used:] != 0):
            raise CryptoError("slot overflow: padding slots after the last value are not zero")
        weight_slot = int(slots[0])
        if not n_participants <= weight_slot <= n_participants * self.weight_resolution:
            raise CryptoError(
                f"slot overflow: the weight total {weight_slot} is impossible for "
                f"{n_participants} participants (expected {n_participants}.."
                f"{n_participants * self.weight_resolution})"
            )
        value_slots = slots[1:used]
        ceiling = n_participants * 2 * self.levels
        if value_slots.size and int(value_slots.max()) > ceiling:
            worst = int(np.argmax(value_slots))
            raise CryptoError(
                f"slot overflow at value {worst}: sum {int(value_slots[worst])} exceeds the "
                f"maximum {ceiling} for {n_participants} participants"
            )
        # exact signed integers: subtract the offset once per contribution
        signed = value_slots.astype(np.int64) - self.levels * n_participants
        weighted_sum = signed.astype(np.float64) * (self.step * self.max_weight)
        total_weight = weight_slot / self.weight_resolution * self.max_weight
        return WeightedSum(weighted_sum, total_weight, n_participants)

    def error_bound(self, n_participants: int, total_weight: float) -> float:
        """Worst-case ``|decoded mean - weighted mean of the clipped values|`` per value.

        With ``ρ_i = w_i / max_weight``, ``A = Σ ρ_i x_i`` and ``T = Σ ρ_i``: stochastic
        rounding moves each ``ρ_i x_i`` by less than one ``step`` so ``|Â - A| < N·step``;
        weight rounding moves each ``ρ_i`` by at most ``1/R`` so ``|T̂ - T| ≤ N/R``. Then
        ``|Â/T̂ - A/T| ≤ (|Â - A| + |A/T|·|T̂ - T|) / T̂ ≤ N·(step + clip/R) / T̂``
        with ``T̂ = total_weight / max_weight`` (the decoded total).
        """
        relative_total = total_weight / self.max_weight
        return n_participants * (self.step + self.clip / self.weight_resolution) / relative_total


def _slots_to_integers(slots: np.ndarray, slot_bits: int, per_plaintext: int) -> list[int]:
    """Little-endian bit packing: slot ``j`` of a plaintext occupies bits ``[j·S, (j+1)·S)``."""
    n_plaintexts = -(-slots.size // per_plaintext)
    padded = np.zeros(n_plaintexts * per_plaintext, dtype=np.uint64)
    padded[: slots.size] = slots
    shifts = np.arange(slot_bits, dtype=np.uint64)
    bits = ((padded[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(n_plaintexts, per_plaintext * slot_bits)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def _integers_to_slots(plaintexts: Sequence[int], slot_bits: int, per_plaintext: int) -> np.ndarray:
    used_bits = per_plaintext * slot_bits
    width = -(-used_bits // 8)
    chunks = []
    for index, plaintext in enumerate(plaintexts):
        plaintext = int(plaintext)
        if plaintext < 0 or plaintext.bit_length() > used_bits:
            raise CryptoError(
                f"slot overflow: plaintext {index} does not fit in {per_plaintext} slots of "
                f"{slot_bits} bits (a sum carried past the last slot)"
            )
        chunks.append(plaintext.to_bytes(width, "little"))
    raw = np.frombuffer(b"".join(chunks), dtype=np.uint8).reshape(len(chunks), width)
    bits = np.unpackbits(raw, axis=1, bitorder="little")[:, :used_bits]
    bits = bits.reshape(-1, slot_bits).astype(np.uint64)
    return (bits << np.arange(slot_bits, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
