"""Packed fixed-point arithmetic: layout, exact signed sums, rounding, overflow detection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedcrm.crypto import PackingSpec, QuantizedUpdate
from fedcrm.errors import ConfigError, CryptoError

SPEC = PackingSpec(clip=2.0, max_participants=6, max_weight=50.0, bits=12, key_bits=256)


def _sum_plaintexts(packed: list[list[int]]) -> list[int]:
    """What Paillier addition yields: the element-wise integer sum of the plaintexts."""
    return [sum(column) for column in zip(*packed, strict=True)]


def test_layout_of_the_default_2048_bit_spec() -> None:
    spec = PackingSpec(clip=1.0, max_participants=10, max_weight=1.0)
    assert spec.bits == 16 and spec.key_bits == 2048
    assert spec.levels == 32767
    # 10 participants × (2·32767) = 655340 < 2^20
    assert spec.slot_bits == 20
    assert spec.slots_per_plaintext == 2047 // 20 == 102
    assert spec.weight_resolution == (2**20 - 1) // 10
    assert spec.n_plaintexts(100_000) == 981  # 100 000 values + 1 weight slot
    assert spec.n_plaintexts(100_000) * 512 / 100_000 <= 8  # bytes of ciphertext per value


def test_slot_zero_holds_the_weight_and_values_follow_in_order() -> None:
    per = SPEC.slots_per_plaintext
    values = np.arange(per + 3, dtype=np.int64) % (2 * SPEC.levels + 1)
    packed = SPEC.pack_quantized(QuantizedUpdate(values, weight_units=77, n_clipped=0))
    assert len(packed) == 2
    mask = (1 << SPEC.slot_bits) - 1

    def slot(plaintext: int, j: int) -> int:
        return (plaintext >> (j * SPEC.slot_bits)) & mask

    assert slot(packed[0], 0) == 77
    assert [slot(packed[0], j) for j in range(1, per)] == values[: per - 1].tolist()
    assert [slot(packed[1], j) for j in range(4)] == values[per - 1 :].tolist()
    assert packed[1] >> (4 * SPEC.slot_bits) == 0  # padding stays zero
    assert all(p < 2 ** (SPEC.key_bits - 1) for p in packed)  # below any n of key_bits bits


@st.composite
def _quantized_updates(draw: st.DrawFn) -> list[QuantizedUpdate]:
    n_values = draw(st.integers(1, 3 * SPEC.slots_per_plaintext))
    n_participants = draw(st.integers(1, SPEC.max_participants))
    value = st.integers(0, 2 * SPEC.levels)
    updates = []
    for _ in range(n_participants):
        values = np.array(draw(st.lists(value, min_size=n_values, max_size=n_values)))
        units = draw(st.integers(1, SPEC.weight_resolution))
        updates.append(QuantizedUpdate(values.astype(np.int64), units, 0))
    return updates


@given(_quantized_updates())
@settings(max_examples=150, deadline=None)
def test_packed_sums_decode_to_exact_signed_integer_sums(updates: list[QuantizedUpdate]) -> None:
    n_values = updates[0].values.size
    total = _sum_plaintexts([SPEC.pack_quantized(u) for u in updates])
    decoded = SPEC.unpack_sum(total, n_values, len(updates))
    signed = sum(u.values - SPEC.levels for u in updates)  # may well be negative
    recovered = decoded.weighted_sum / (SPEC.step * SPEC.max_weight)
    np.testing.assert_array_equal(np.rint(recovered).astype(np.int64), signed)
    np.testing.assert_allclose(recovered, signed, rtol=0, atol=1e-6)
    units = sum(u.weight_units for u in updates)
    assert decoded.total_weight == pytest.approx(units / SPEC.weight_resolution * SPEC.max_weight)
    assert decoded.n_participants == len(updates)


@given(
    st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=40),
    st.floats(0.01, 50.0),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=200, deadline=None)
def test_quantisation_moves_each_weighted_value_by_less_than_one_step(
    values: list[float], weight: float, seed: int
) -> None:
    update = np.array(values)
    quantized = SPEC.quantize(update, weight, np.random.default_rng(seed))
    assert quantized.values.min() >= 0 and quantized.values.max() <= 2 * SPEC.levels
    represented = (quantized.values - SPEC.levels) * SPEC.step
    relative_weight = weight / SPEC.max_weight
    assert np.all(np.abs(represented - relative_weight * update) < SPEC.step)
    assert abs(quantized.weight_units / SPEC.weight_resolution - relative_weight) <= (
        1 / SPEC.weight_resolution
    )


@given(
    st.integers(1, SPEC.max_participants),
    st.integers(1, 30),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=150, deadline=None)
def test_decoded_weighted_mean_is_within_the_derived_bound(
    n_participants: int, n_values: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    updates = [rng.uniform(-3.0, 3.0, n_values) for _ in range(n_participants)]  # some clip
    weights = [float(w) for w in rng.uniform(0.05, SPEC.max_weight, n_participants)]
    total = _sum_plaintexts([SPEC.pack(u, w, rng) for u, w in zip(updates, weights, strict=True)])
    decoded = SPEC.unpack_sum(total, n_values, n_participants)
    clipped = [np.clip(u, -SPEC.clip, SPEC.clip) for u in updates]
    exact = sum(w * u for w, u in zip(weights, clipped, strict=True)) / sum(weights)
    bound = SPEC.error_bound(n_participants, decoded.total_weight)
    assert np.max(np.abs(decoded.mean - exact)) <= bound
    assert decoded.total_weight == pytest.approx(
        sum(weights), abs=n_participants * SPEC.max_weight / SPEC.weight_resolution
    )


def test_values_on_the_grid_decode_exactly_including_negative_sums() -> None:
    steps = np.array([-SPEC.levels, -5, 0, 3, SPEC.levels], dtype=np.float64)
    update = steps * SPEC.step  # exactly representable: no rounding happens at full weight
    packed = [SPEC.pack(update, SPEC.max_weight) for _ in range(3)]
    negative = SPEC.pack(np.full(5, -SPEC.clip), SPEC.max_weight)
    decoded = SPEC.unpack_sum(_sum_plaintexts([*packed, negative]), 5, 4)
    expected = (3 * update - SPEC.clip) * SPEC.max_weight
    np.testing.assert_allclose(decoded.weighted_sum, expected, rtol=0, atol=1e-12)
    assert decoded.weighted_sum[0] < 0 and decoded.weighted_sum[1] < 0
    assert decoded.total_weight == pytest.approx(4 * SPEC.max_weight)


def test_stochastic_rounding_is_unbiased() -> None:
    update = np.full(40_000, 0.3 * SPEC.step)  # 0.3 of a step at full weight
    quantized = SPEC.quantize(update, SPEC.max_weight, np.random.default_rng(7))
    offsets = quantized.values - SPEC.levels
    assert set(np.unique(offsets).tolist()) == {0, 1}
    standard_error = np.sqrt(0.3 * 0.7 / update.size)
    assert abs(offsets.mean() - 0.3) < 5 * standard_error


def test_clipping_is_counted() -> None:
    quantized = SPEC.quantize(np.array([0.5, 2.5, -9.0, 2.0]), 10.0, np.random.default_rng(0))
    assert quantized.n_clipped == 2


def test_more_participants_than_planned_is_refused() -> None:
    top = SPEC.pack(np.full(4, SPEC.clip), SPEC.max_weight)
    too_many = _sum_plaintexts([top] * (SPEC.max_participants + 1))
    with pytest.raises(CryptoError, match="headroom"):
        SPEC.unpack_sum(too_many, 4, SPEC.max_participants + 1)
    # decoding the same sum as if it came from max_participants is caught by the slot ceiling
    with pytest.raises(CryptoError, match="slot overflow"):
        SPEC.unpack_sum(too_many, 4, SPEC.max_participants)


def test_a_slot_above_its_ceiling_is_detected() -> None:
    packed = SPEC.pack(np.zeros(3), 10.0)
    overflowing = packed[0] + ((2 * SPEC.levels + 1) << (2 * SPEC.slot_bits))  # value slot 1
    with pytest.raises(CryptoError, match="slot overflow at value 1"):
        SPEC.unpack_sum([overflowing], 3, 1)


def test_a_carry_past_the_last_slot_is_detected() -> None:
    packed = SPEC.pack(np.zeros(3), 10.0)
    carried = packed[0] + (1 << (SPEC.slots_per_plaintext * SPEC.slot_bits))
    with pytest.raises(CryptoError, match="carried past the last slot"):
        SPEC.unpack_sum([carried], 3, 1)


def test_non_zero_padding_and_impossible_weight_totals_are_detected() -> None:
    packed = SPEC.pack(np.zeros(3), 10.0)
    with pytest.raises(CryptoError, match="padding"):
        SPEC.unpack_sum([packed[0] + (1 << (5 * SPEC.slot_bits))], 3, 1)
    mask = (1 << SPEC.slot_bits) - 1
    with pytest.raises(CryptoError, match="weight total"):
        SPEC.unpack_sum([packed[0] & ~mask], 3, 1)  # weight slot 0: impossible
    with pytest.raises(CryptoError, match="plaintexts"):
        SPEC.unpack_sum(packed * 2, 3, 1)


@pytest.mark.parametrize(
    ("update", "weight", "message"),
    [
        (np.array([0.1, np.nan]), 1.0, "finite"),
        (np.array([np.inf]), 1.0, "finite"),
        (np.zeros((2, 2)), 1.0, "1-D"),
        (np.array([]), 1.0, "1-D"),
        (np.array(["a"]), 1.0, "real numbers"),
        (np.zeros(3), 0.0, "outside"),
        (np.zeros(3), -1.0, "outside"),
        (np.zeros(3), 50.5, "outside"),
        (np.zeros(3), float("nan"), "outside"),
    ],
)
def test_invalid_updates_and_weights_raise(update: np.ndarray, weight: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SPEC.pack(update, weight)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clip": 0.0}, "clip"),
        ({"clip": float("inf")}, "clip"),
        ({"max_weight": -1.0}, "max_weight"),
        ({"max_participants": 0}, "max_participants"),
        ({"bits": 1}, "bits"),
        ({"bits": 48, "max_participants": 2**20}, "at most 62"),
        ({"key_bits": 64}, "key_bits"),
    ],
)
def test_invalid_specs_are_rejected(kwargs: dict[str, object], message: str) -> None:
    params: dict[str, object] = {"clip": 1.0, "max_participants": 4, "max_weight": 1.0}
    params.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        PackingSpec(**params)  # type: ignore[arg-type]


def test_fingerprint_identifies_the_parameters() -> None:
    same = PackingSpec(clip=2.0, max_participants=6, max_weight=50.0, bits=12, key_bits=256)
    other = PackingSpec(clip=2.0, max_participants=7, max_weight=50.0, bits=12, key_bits=256)
    assert SPEC.fingerprint() == same.fingerprint() != other.fingerprint()
