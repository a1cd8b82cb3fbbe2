"""Benchmark of fedcrm.crypto: packed, threshold Paillier aggregation versus plain phe.

Measures, for one float32 model update (100k parameters by default) and a 2048-bit key on
one core: offline precomputation of encryption randomness, online encryption, verifying and
adding 10 participants' ciphertexts, threshold decryption by a 60 % quorum, ciphertext bytes
per parameter, and phe's one-ciphertext-per-value encryption of the same update (timed on a
sample and extrapolated). Prints a Markdown table and the command that reproduces it.

Generating two 1024-bit safe primes takes seconds to a minute; the primes are cached in
``$XDG_CACHE_HOME/fedcrm-benchmarks`` (default ``~/.cache/fedcrm-benchmarks``), never in the
repository. They are the dealer's secret: this cache is acceptable for a benchmark only.

Run:  .venv/bin/python benchmarks/crypto.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import gmpy2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from phe import PaillierPublicKey

from fedcrm.crypto import (
    EncryptedUpdate,
    KeyHolder,
    PackingSpec,
    ParticipantEncryptor,
    SecureAggregator,
    deal,
)
from fedcrm.crypto._primes import generate_safe_prime

T = TypeVar("T")


def _timed(function: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cache_dir(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fedcrm-benchmarks"


def _safe_primes(bits: int, cache_dir: Path) -> tuple[int, int, float, str]:
    """Return ``(p, q, seconds it took to generate them, where they came from)``."""
    path = cache_dir / f"safe-primes-{bits}.json"
    if path.exists():
        data = json.loads(path.read_text())
        return (
            int(data["p"], 16),
            int(data["q"], 16),
            float(data["seconds"]),
            f"cached in {path}; time of the run that generated them",
        )
    _progress(f"generating two {bits // 2}-bit safe primes (cached afterwards in {path})")
    start = time.perf_counter()
    p = generate_safe_prime(bits // 2)
    q = generate_safe_prime(bits // 2)
    while q == p:
        q = generate_safe_prime(bits // 2)
    seconds = time.perf_counter() - start
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"p": format(p, "x"), "q": format(q, "x"), "seconds": seconds}))
    path.chmod(0o600)
    return p, q, seconds, "generated now"


def _pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100_000, help="parameters per update")
    parser.add_argument("--participants", type=int, default=10)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--bits", type=int, default=16, help="quantisation bits per value")
    parser.add_argument("--phe-sample", type=int, default=1000, help="values phe encrypts")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pinned = _pin_to_one_core()
    rng = np.random.default_rng(args.seed)

    p, q, prime_seconds, prime_source = _safe_primes(args.key_bits, _cache_dir(args.cache_dir))
    ids = [f"org-{k:02d}" for k in range(args.participants)]
    (public_key, shares), deal_seconds = _timed(
        lambda: deal(ids, bits=args.key_bits, safe_primes=(p, q))
    )
    _progress(f"dealt a {args.key_bits}-bit {public_key.quorum}-of-{len(ids)} key")

    # quality-weighted: weight = sample count × quality multiplier
    sample_counts = rng.integers(500, 20_000, len(ids))
    quality = rng.uniform(0.5, 1.2, len(ids))
    weights = [float(n * m) for n, m in zip(sample_counts, quality, strict=True)]
    spec = PackingSpec(
        clip=1.0,
        max_participants=len(ids),
        max_weight=20_000 * 1.2,
        bits=args.bits,
        key_bits=args.key_bits,
    )
    updates = [rng.normal(0.0, 0.05, args.values).astype(np.float32) for _ in ids]
    signing_keys = {pid: Ed25519PrivateKey.generate() for pid in ids}
    roster = {pid: key.public_key() for pid, key in signing_keys.items()}
    federation_id = "benchmark-federation"

    offline, online, messages = [], [], []
    for index, pid in enumerate(ids):
        encryptor = ParticipantEncryptor(
            pid, public_key, spec, signing_keys[pid], federation_id=federation_id, rng=rng
        )
        _, seconds = _timed(partial(encryptor.precompute, args.values))
        offline.append(seconds)
        update, seconds = _timed(
            partial(encryptor.encrypt, updates[index], weights[index], round_number=1)
        )
        online.append(seconds)
        messages.append(update.to_bytes())
        _progress(f"{pid}: offline {offline[-1]:.2f} s, online {online[-1]:.3f} s")

    aggregator = SecureAggregator(
        public_key,
        spec,
        federation_id=federation_id,
        round_number=1,
        n_values=args.values,
        roster=roster,
    )
    rejected, aggregate_seconds = _timed(lambda: aggregator.submit_all(messages))
    assert not rejected, rejected
    width = public_key.ciphertext_bytes
    ciphertext_lists = []
    for message in messages:
        blob = EncryptedUpdate.from_bytes(message).ciphertexts
        ciphertext_lists.append(
            [
                gmpy2.mpz(int.from_bytes(blob[k : k + width], "big"))
                for k in range(0, len(blob), width)
            ]
        )
    nsquare = gmpy2.mpz(public_key.nsquare)

    def multiply_only() -> None:
        accumulated = ciphertext_lists[0]
        for other in ciphertext_lists[1:]:
            accumulated = [a * b % nsquare for a, b in zip(accumulated, other, strict=True)]

    _, multiply_seconds = _timed(multiply_only)
    aggregate = aggregator.encrypted_aggregate()
    _progress(f"aggregated {len(ids)} updates in {aggregate_seconds:.2f} s")

    holder_seconds, partials = [], []
    for share in shares[: public_key.quorum]:
        holder = KeyHolder(share, public_key, spec, federation_id=federation_id, roster=roster)
        decrypted, seconds = _timed(partial(holder.partial_decrypt, aggregate, messages))
        holder_seconds.append(seconds)
        partials.append(decrypted)
        _progress(f"{share.participant_id}: partial decryption {seconds:.1f} s")
    result, finalize_seconds = _timed(lambda: aggregator.finalize(partials))

    exact = sum(
        w * np.clip(u.astype(np.float64), -1, 1) for w, u in zip(weights, updates, strict=True)
    ) / sum(weights)
    max_error = float(np.max(np.abs(result.weighted_mean - exact)))

    phe_key = PaillierPublicKey(public_key.n)
    sample = [float(x) for x in updates[0][: args.phe_sample]]
    _, phe_seconds = _timed(lambda: [phe_key.encrypt(x) for x in sample])
    phe_per_value = phe_seconds / len(sample)
    phe_total = phe_per_value * args.values

    n_ciphertexts = spec.n_plaintexts(args.values)
    ciphertext_bytes = n_ciphertexts * public_key.ciphertext_bytes
    message_bytes = len(messages[0])
    online_median = statistics.median(online)
    offline_median = statistics.median(offline)
    holder_median = statistics.median(holder_seconds)
    per_value_online = online_median / args.values
    per_value_total = (online_median + offline_median) / args.values

    rows = [
        ("key generation: two safe primes", f"{prime_seconds:.1f} s", prime_source),
        ("key ceremony (deal, given the primes)", f"{deal_seconds:.2f} s", "incl. self-test"),
        (
            "offline precompute r^n (per participant)",
            f"{offline_median:.2f} s",
            f"{n_ciphertexts} values, median of {len(ids)}",
        ),
        (
            "online encryption (per participant)",
            f"{online_median:.3f} s",
            f"pack + encrypt + Ed25519 sign, median of {len(ids)}; target < 0.5 s",
        ),
        (
            f"aggregation of {len(ids)} updates",
            f"{aggregate_seconds:.3f} s",
            f"parse + verify signatures + checks + add; add alone {multiply_seconds:.3f} s;"
            " target < 1 s",
        ),
        (
            "threshold decryption: per key holder",
            f"{holder_median:.1f} s",
            f"re-verify {len(ids)} updates + partial decryption + proof; median of "
            f"{len(holder_seconds)}, holders run in parallel",
        ),
        (
            "threshold decryption: coordinator",
            f"{finalize_seconds:.2f} s",
            f"verify {len(partials)} proofs + combine + decode",
        ),
        (
            "ciphertext bytes per parameter",
            f"{ciphertext_bytes / args.values:.2f} B",
            f"{spec.slots_per_plaintext} values per {public_key.ciphertext_bytes}-byte "
            f"ciphertext; whole signed message {message_bytes / args.values:.2f} B; "
            "target ≤ 8 B",
        ),
        (
            "phe encrypt, one ciphertext per value",
            f"{phe_total:.0f} s",
            f"extrapolated from {len(sample)} values ({phe_seconds:.2f} s); "
            f"{public_key.ciphertext_bytes} B per parameter",
        ),
        (
            "speed-up over phe per value (online)",
            f"{phe_per_value / per_value_online:,.0f}×",
            f"{phe_per_value * 1e3:.2f} ms vs {per_value_online * 1e6:.2f} µs; target ≥ 100×",
        ),
        (
            "speed-up over phe per value (offline + online)",
            f"{phe_per_value / per_value_total:,.0f}×",
            f"{per_value_total * 1e6:.1f} µs per value all included",
        ),
        (
            "max abs error of the decrypted weighted mean",
            f"{max_error:.2e}",
            f"derived bound {result.error_bound:.2e}, clip 1.0, {args.bits} bits",
        ),
    ]
    command = " ".join(["$ .venv/bin/python benchmarks/crypto.py", *(argv or sys.argv[1:])])
    print(
        f"\nfedcrm.crypto benchmark — {args.values:,} float32 parameters, {args.key_bits}-bit "
        f"key, {len(ids)} participants, quorum {public_key.quorum}, one core ({pinned})"
    )
    print(
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"gmpy2 {gmpy2.version()} / GMP {gmpy2.mp_version()}\n"
    )
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{width}} | {'value':>10} | notes |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|-------|")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value:>10} | {note} |")
    print(f"\nreproduce: {command}")
    if max_error > result.error_bound:
        raise SystemExit("decrypted mean outside the derived error bound")


if __name__ == "__main__":
    main()
