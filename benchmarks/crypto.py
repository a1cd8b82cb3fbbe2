"""Benchmark of fedcrm.crypto: packed, threshold Paillier aggregation versus plain phe.

Measures, for one float32 model update (100k parameters by default) and a 2048-bit key on
one core: offline precomputation of encryption randomness, online encryption, verifying and
adding 10 participants' ciphertexts, threshold decryption by a 60 % quorum, ciphertext bytes
per parameter, and phe's one-ciphertext-per-value encryption of the same update (timed on a
sample and extrapolated). Prints a Markdown table and the command that reproduces it.

A second section, "federated AUC: plaintext vs encrypted", trains one seeded logistic
federation (5 orgs by default) twice with quality-weighted aggregation — in plaintext
(``Coordinator``) and in encrypted mode (``SecureCoordinator``, 2048-bit threshold key) — and
prints both mean test AUCs, their difference, how far the two global models are apart against
the summed quantisation bounds, and the time per round of each.

Generating two 1024-bit safe primes takes seconds to a minute; the primes are cached in
``$XDG_CACHE_HOME/fedcrm-benchmarks`` (default ``~/.cache/fedcrm-benchmarks``), never in the
repository. They are the dealer's secret: this cache is acceptable for a benchmark only.

Run:  .venv/bin/python benchmarks/crypto.py
      .venv/bin/python benchmarks/crypto.py --only-federated   (the second section alone)
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
    model_digest,
)
from fedcrm.crypto._primes import generate_safe_prime
from fedcrm.federation import (
    Coordinator,
    Participant,
    ParticipantData,
    QualityWeighted,
    SecureAggregation,
    SecureCoordinator,
    TrainingConfig,
    key_ceremony,
)

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
    parser.add_argument("--only-federated", action="store_true",
                        help="run only the section 'federated AUC: plaintext vs encrypted'")
    parser.add_argument("--skip-federated", action="store_true",
                        help="run only the crypto table")
    parser.add_argument("--federated-orgs", type=int, default=5)
    parser.add_argument("--federated-rounds", type=int, default=10)
    parser.add_argument("--federated-key-bits", type=int, default=2048)
    args = parser.parse_args(argv)
    pinned = _pin_to_one_core()
    if not args.only_federated:
        crypto_table(args, argv, pinned)
    if not args.skip_federated:
        federated_auc(args, argv, pinned)


def crypto_table(args: argparse.Namespace, argv: list[str] | None, pinned: str) -> None:
    """Section 1: packed threshold Paillier versus phe on one large update."""
    rng = np.random.default_rng(args.seed)

    p, q, prime_seconds, prime_source = _safe_primes(args.key_bits, _cache_dir(args.cache_dir))
    ids = [f"org-{k:02d}" for k in range(args.participants)]
    (public_key, shares), deal_seconds = _timed(
        lambda: deal(ids, bits=args.key_bits, safe_primes=(p, q),
                     allow_insecure_bits=args.key_bits < 2048)
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
    model = model_digest(np.zeros(args.values, dtype=np.float32))  # the model trained from

    offline, online, messages = [], [], []
    for index, pid in enumerate(ids):
        encryptor = ParticipantEncryptor(
            pid, public_key, spec, signing_keys[pid], federation_id=federation_id, rng=rng
        )
        _, seconds = _timed(partial(encryptor.precompute, args.values))
        offline.append(seconds)
        update, seconds = _timed(
            partial(encryptor.encrypt, updates[index], weights[index], round_number=1,
                    model=model)
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


def _logistic_org(rows: int, shift: float, seed: int, features: int) -> ParticipantData:
    """One org's splits (70/15/15): labels from a logistic rule every org shares (fixed
    weights) plus an org-specific intercept ``shift``, float32 standard-normal features."""
    rule = np.random.default_rng(2024).normal(size=features) / np.sqrt(features) * 2.0
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-(x @ rule + shift)))).astype(np.float32)
    train, validation = int(rows * 0.7), int(rows * 0.85)
    return ParticipantData(x[:train], y[:train], x[train:validation], y[train:validation],
                           x[validation:], y[validation:])


def federated_auc(args: argparse.Namespace, argv: list[str] | None, pinned: str) -> None:
    """Section 2: one seeded federation, trained in plaintext and in encrypted mode."""
    features = 20
    config = TrainingConfig(rounds=args.federated_rounds, local_epochs=1, learning_rate=0.05,
                            batch_size=64, seed=args.seed)
    org_rng = np.random.default_rng(args.seed + 1)
    sizes = org_rng.integers(300, 4000, args.federated_orgs)
    shifts = org_rng.normal(0.0, 0.5, args.federated_orgs)
    qualities = org_rng.uniform(0.7, 1.3, args.federated_orgs)
    ids = [f"org-{k}" for k in range(args.federated_orgs)]
    data = {pid: _logistic_org(int(n), float(s), k, features)
            for k, (pid, n, s) in enumerate(zip(ids, sizes, shifts, strict=True))}

    def participants() -> list[Participant]:
        return [Participant(pid, data[pid], config=config, quality_multiplier=float(quality))
                for pid, quality in zip(ids, qualities, strict=True)]

    warm_up = participants()[0]  # torch's first training step is slow; keep it out of timings
    warm_up.train(np.zeros(features + 1, dtype=np.float32), 0)
    _progress(f"federated AUC: plaintext, {len(ids)} orgs, {config.rounds} rounds")
    plaintext, plaintext_seconds = _timed(
        lambda: Coordinator(participants(), QualityWeighted(), config,
                            server_side_clipping=False).run(progress=False))
    bits = args.federated_key_bits
    p, q, _, prime_source = _safe_primes(bits, _cache_dir(args.cache_dir))
    keys, ceremony_seconds = _timed(lambda: key_ceremony(
        ids, key_bits=bits, safe_primes=(p, q), allow_insecure_bits=bits < 2048))
    _progress(f"federated AUC: encrypted, {bits}-bit key, quorum {keys.quorum}")
    coordinator = SecureCoordinator(participants(), QualityWeighted(), config,
                                    secure=SecureAggregation(keys, federation_id="benchmark"))
    encrypted, encrypted_seconds = _timed(lambda: coordinator.run(progress=False))

    bounds = [r.encryption.error_bound for r in encrypted.history
              if r.encryption is not None and r.encryption.error_bound is not None]
    skipped = sum(1 for r in encrypted.history
                  if r.encryption is not None and r.encryption.failure is not None)
    crypto_seconds = statistics.mean(
        sum(r.seconds.get(k, 0.0) for k in ("aggregate", "decrypt", "offline_precompute"))
        for r in encrypted.history)
    distance = float(np.max(np.abs(encrypted.parameters.astype(np.float64)
                                   - plaintext.parameters)))
    assert encrypted.mean_test_auc is not None and plaintext.mean_test_auc is not None, \
        "no org's test split has both classes"
    difference = encrypted.mean_test_auc - plaintext.mean_test_auc
    print(f"\nfederated AUC: plaintext vs encrypted — {len(ids)} logistic orgs "
          f"({', '.join(str(int(n)) for n in sizes)} records, {features} features), "
          f"quality-weighted, {config.rounds} rounds, {bits}-bit key, quorum {keys.quorum}, "
          f"{coordinator.spec.bits}-bit packing, clip {coordinator.spec.clip}, one core "
          f"({pinned})\n")
    print("| org | records | quality | plaintext test AUC | encrypted test AUC | difference |")
    print("|-----|--------:|--------:|-------------------:|-------------------:|-----------:|")
    for pid, n, quality in zip(ids, sizes, qualities, strict=True):
        plain_auc = plaintext.test_metrics[pid]["auc"]
        secure_auc = encrypted.test_metrics[pid]["auc"]
        if plain_auc is None or secure_auc is None:
            print(f"| {pid} | {n} | {quality:.2f} | n/a | n/a | n/a |")
            continue
        print(f"| {pid} | {n} | {quality:.2f} | {plain_auc:.6f} | {secure_auc:.6f} | "
              f"{secure_auc - plain_auc:+.2e} |")
    print(f"| **mean** | | | **{plaintext.mean_test_auc:.6f}** | "
          f"**{encrypted.mean_test_auc:.6f}** | **{difference:+.2e}** |\n")
    rows = [
        ("max abs difference of the global models", f"{distance:.2e}",
         f"sum of the per-round quantisation bounds {sum(bounds):.2e}"),
        ("rounds skipped (decryption failed)", f"{skipped}", f"of {config.rounds}"),
        ("key ceremony (deal, given the primes)", f"{ceremony_seconds:.2f} s",
         f"primes {prime_source}"),
        ("plaintext: seconds per round", f"{plaintext_seconds / config.rounds:.3f} s",
         "train + aggregate + evaluate"),
        ("encrypted: seconds per round", f"{encrypted_seconds / config.rounds:.3f} s",
         "the same + encrypt and sign (in local training) + the crypto below"),
        ("encrypted: crypto seconds per round", f"{crypto_seconds:.3f} s",
         f"verify + add {len(ids)} updates, {keys.quorum} partial decryptions with proofs, "
         f"combine, offline precompute for the next round; {coordinator.n_values} parameters"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':<{width}} | {'value':>10} | notes |")
    print(f"|{'-' * (width + 2)}|{'-' * 12}|-------|")
    for name, value, note in rows:
        print(f"| {name:<{width}} | {value:>10} | {note} |")
    command = " ".join(["$ .venv/bin/python benchmarks/crypto.py", *(argv or sys.argv[1:])])
    print(f"\nreproduce: {command}")
    if skipped or distance > sum(bounds):
        raise SystemExit("the encrypted federation diverged from the plaintext one")


if __name__ == "__main__":
    main()
