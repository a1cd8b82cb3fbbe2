"""Flower's per-round overhead against the in-process simulation backend.

Runs the same demo-like federation (5 orgs, the demo's training settings: logistic model,
5 local SGD epochs, batch 64) three ways and compares the time of one round, measured the
same way for all three (the sum of the round's phases that ``Coordinator.run_round`` records:
configure, local training, aggregation, evaluation):

* in-process: :class:`fedcrm.federation.Coordinator`;
* Flower simulation engine: ``run_flower_simulation`` (Ray actors, in-memory SuperLink);
* Flower deployment on loopback: ``flower-superlink`` with TLS and node authentication and
  one ``flower-supernode`` per org on 127.0.0.1 (``LocalFederation``).

The first round of each Flower run includes warming up its workers and is reported apart.
The models of all three runs are the same (the script checks); only time differs.

    .venv/bin/python benchmarks/federation_flower.py                 # all three
    .venv/bin/python benchmarks/federation_flower.py --skip-deployment
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fedcrm.federation import Coordinator, Participant, RoundRecord, TrainingConfig
from fedcrm.federation.backends.flower import SimulatedOrg, run_flower_simulation
from fedcrm.federation.participant import ParticipantData
from fedcrm.federation.settings import FederationConfig

#: training records per org, like the demo's five orgs (small ones learn poorly alone)
ORG_RECORDS = (400, 900, 1600, 2600, 4000)
FEATURES = 40


def demo_like_org(records: int, seed: int) -> ParticipantData:
    """An org whose labels follow one shared logistic rule plus its own intercept."""
    rule = np.random.default_rng(7).normal(size=FEATURES) / np.sqrt(FEATURES)
    rng = np.random.default_rng(seed)
    total = int(records / 0.7)
    x = rng.normal(size=(total, FEATURES)).astype(np.float32)
    y = (rng.random(total) < 1 / (1 + np.exp(-(3 * x @ rule + rng.normal() * 0.5)))
         ).astype(np.float32)
    train, validation = records, int(total * 0.85)
    return ParticipantData(x[:train], y[:train], x[train:validation], y[train:validation],
                           x[validation:], y[validation:])


def round_seconds(history: list[RoundRecord]) -> list[float]:
    """Per-round time as the coordinator measured it (same instrument for every backend)."""
    return [sum(record.seconds.values()) for record in history]


def summary(name: str, seconds: list[float], baseline: float | None) -> str:
    steady = seconds[1:] if len(seconds) > 1 else seconds
    median = statistics.median(steady)
    overhead = "" if baseline is None else f"{100 * (median - baseline) / baseline:+.0f} %"
    return f"| {name:<34} | {seconds[0]:>9.3f} | {median:>14.3f} | {overhead:>12} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--deployment-rounds", type=int, default=3)
    parser.add_argument("--skip-deployment", action="store_true")
    args = parser.parse_args()

    training = TrainingConfig(rounds=args.rounds, local_epochs=5, learning_rate=0.1,
                              optimizer="sgd", batch_size=64, model="logistic", seed=0)
    settings = FederationConfig.model_validate({
        "training": training.model_dump(), "strategy": {"name": "quality_weighted"},
        "flower": {"round_timeout": 300}})
    orgs = [SimulatedOrg(f"org{i}", demo_like_org(n, seed=i), 0.8 + 0.1 * i)
            for i, n in enumerate(ORG_RECORDS)]
    participants = [Participant(o.participant_id, o.data, config=training,
                                quality_multiplier=o.quality_multiplier) for o in orgs]
    local = Coordinator(participants, settings.strategy.build(), training).run(progress=False)
    in_process = round_seconds(local.history)
    baseline = statistics.median(in_process[1:])
    # torch's default thread pool oversubscribes small CPUs on tiny models; the Flower
    # workers run one thread each, so show the in-process run that way too
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = Coordinator(participants, settings.strategy.build(), training).run(
            progress=False)
    finally:
        torch.set_num_threads(threads)
    single_thread = round_seconds(single.history)

    started = time.perf_counter()
    simulated = run_flower_simulation(orgs, settings)
    simulation_wall = time.perf_counter() - started
    assert np.allclose(simulated.parameters, local.parameters, atol=1e-6), "models differ"
    rows = [summary(f"in-process Coordinator ({threads} threads)", in_process, None),
            summary("in-process Coordinator (1 thread)", single_thread, baseline),
            summary("Flower simulation engine (Ray)", round_seconds(simulated.history),
                    baseline)]
    notes = [f"Flower simulation: {simulation_wall:.1f} s wall for {args.rounds} rounds "
             "(engine start included)"]

    if not args.skip_deployment:
        from fedcrm.federation.backends.local import LocalFederation, LocalOrg, free_port
        from fedcrm.federation.backends.node import save_participant_data

        with tempfile.TemporaryDirectory(prefix="fedcrm-bench-") as folder:
            work = Path(folder)
            port = free_port()
            config = work / "federation.toml"
            config.write_text(
                f"participants = {[o.participant_id for o in orgs]!r}\n"
                f"[training]\nrounds = {args.deployment_rounds}\nlocal_epochs = 5\n"
                "learning_rate = 0.1\nbatch_size = 64\nseed = 0\n"
                "[strategy]\nname = \"quality_weighted\"\n"
                f"[flower]\nsuperlink = \"127.0.0.1:{port}\"\nround_timeout = 300\n",
                encoding="utf-8")
            local_orgs = [LocalOrg(o.participant_id,
                                   save_participant_data(work / f"{o.participant_id}.npz",
                                                         o.data), o.quality_multiplier)
                          for o in orgs]
            started = time.perf_counter()
            with LocalFederation(work, config, local_orgs, port=port) as federation:
                up = time.perf_counter() - started
                deployed = federation.run(timeout=1800)
            deployment = round_seconds(deployed.history)
            rows.append(summary("Flower deployment (TLS, loopback)", deployment, baseline))
            notes.append(f"Flower deployment: SuperLink + {len(orgs)} SuperNodes up in "
                         f"{up:.1f} s; {args.deployment_rounds} rounds")

    print(f"Per-round time, {len(orgs)} orgs ({sum(ORG_RECORDS)} training records, "
          f"{FEATURES} features), demo training settings; {os.cpu_count()} CPUs")
    print()
    print("| backend                            | round 0 s | median round s |     overhead |")
    print("|------------------------------------|----------:|---------------:|-------------:|")
    for row in rows:
        print(row)
    print()
    for note in notes:
        print(note)
    print("overhead: (median round − in-process median round) / in-process median round; "
          f"load average at the end: {os.getloadavg()[0]:.1f}")
    print("reproduce: .venv/bin/python benchmarks/federation_flower.py"
          + (" --skip-deployment" if args.skip_deployment else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
