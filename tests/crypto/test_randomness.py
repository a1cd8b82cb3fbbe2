"""Offline/online encryption: pooled randomness is valid, fresh and never handed out twice."""

from __future__ import annotations

import ast
import copy
import pickle
from pathlib import Path

import gmpy2
import pytest

import fedcrm.crypto
from fedcrm.crypto import RandomnessPool, combine, partial_decrypt, randomness
from fedcrm.errors import ConfigError, CryptoError
from tests.crypto._federation import Federation


def test_a_pool_value_is_never_handed_out_twice(federation: Federation) -> None:
    pool = RandomnessPool(federation.public_key)
    pool.precompute(40)
    assert len(pool) == 40
    taken = [int(v) for v in pool.take(15)] + [int(v) for _ in range(25) for v in pool.take()]
    assert len(taken) == len(set(taken)) == 40
    assert len(pool) == 0 and pool.taken_count == 40
    with pytest.raises(CryptoError, match="exhausted"):
        pool.take()
    pool.precompute(5)
    assert not set(map(int, pool.take(5))) & set(taken)  # refilling brings only new values


def test_online_encryption_consumes_one_fresh_value_per_plaintext(federation: Federation) -> None:
    pool = RandomnessPool(federation.public_key)
    pool.precompute(30)
    ciphertexts = pool.encrypt([0] * 30)  # equal plaintexts: equal ciphertexts iff reuse
    assert len(set(ciphertexts)) == 30
    assert len(pool) == 0 and pool.fallback_count == 0


def test_an_exhausted_pool_takes_nothing_and_raises(federation: Federation) -> None:
    pool = RandomnessPool(federation.public_key)
    pool.precompute(3)
    with pytest.raises(CryptoError, match="3 left"):
        pool.encrypt([1, 2, 3, 4])
    assert len(pool) == 3  # nothing consumed by the failed call


def test_explicit_fallback_computes_fresh_values_and_counts_them(federation: Federation) -> None:
    pool = RandomnessPool(federation.public_key, on_empty="compute")
    pool.precompute(2)
    values = [int(v) for v in pool.take(5)]
    assert len(set(values)) == 5
    assert pool.fallback_count == 3 and len(pool) == 0


def test_pooled_values_are_nth_residues_and_encryptions_decrypt(federation: Federation) -> None:
    key = federation.public_key
    phi = (federation.p - 1) * (federation.q - 1)
    pool = RandomnessPool(key.paillier)  # phe's public key works as well as ours
    pool.precompute(12)
    for value in pool.take(8):
        # r^n has order dividing φ(n) in Z*_{n²}; a random unit would not
        assert gmpy2.powmod(value, phi, key.nsquare) == 1
    messages = [0, 5, key.n - 1, 2**100]
    ciphertexts = pool.encrypt(messages)
    partials = [partial_decrypt(s, key, ciphertexts) for s in federation.shares[:3]]
    assert combine(key, ciphertexts, partials).plaintexts == messages


def test_online_encryption_matches_phe_raw_encrypt(
    federation: Federation, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = federation.public_key
    r = 1234567
    # make the pool draw a known r (from secrets, the only source it uses)
    monkeypatch.setattr(randomness.secrets, "randbelow", lambda upper: r - 1)
    pool = RandomnessPool(key)
    pool.precompute(1)
    monkeypatch.undo()
    assert pool.encrypt([424242]) == [key.paillier.raw_encrypt(424242, r_value=r)]


def test_pairs_keep_r_next_to_r_to_the_n_and_cannot_be_serialised(
    federation: Federation,
) -> None:
    key = federation.public_key
    pool = RandomnessPool(key)
    pool.precompute(4)
    pairs = pool.take_pairs(3)
    assert len(pool) == 1 and pool.taken_count == 3
    for pair in pairs:
        assert 0 < pair.r < key.n and gmpy2.gcd(pair.r, key.n) == 1
        assert pair.r_to_n == gmpy2.powmod(pair.r, key.n, key.nsquare)
        assert str(int(pair.r)) not in repr(pair)
    with pytest.raises(CryptoError, match="cannot be serialised"):
        pickle.dumps(pairs[0])


def test_a_pool_cannot_be_copied_or_pickled(federation: Federation) -> None:
    pool = RandomnessPool(federation.public_key)
    pool.precompute(1)
    for duplicate in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(CryptoError, match="same randomness twice"):
            duplicate(pool)


def test_invalid_use_is_refused(federation: Federation) -> None:
    with pytest.raises(ConfigError, match="on_empty"):
        RandomnessPool(federation.public_key, on_empty="reuse")  # type: ignore[arg-type]
    pool = RandomnessPool(federation.public_key, on_empty="compute")
    with pytest.raises(CryptoError, match=r"\[0, n\)"):
        pool.encrypt([federation.public_key.n])
    with pytest.raises(CryptoError, match=r"\[0, n\)"):
        pool.encrypt([-1])


def test_the_crypto_package_never_uses_non_cryptographic_randomness_for_secrets() -> None:
    """Key material and encryption randomness come from ``secrets``; numpy only rounds."""
    package = Path(fedcrm.crypto.__file__).parent
    modules = {path.name: ast.parse(path.read_text()) for path in package.glob("*.py")}
    for name, tree in modules.items():
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert "random" not in imported, name
    for name in ("threshold.py", "randomness.py", "_primes.py", "plaintext_proofs.py"):
        source = ast.unparse(modules[name])
        assert "secrets." in source and "np.random" not in source, name
