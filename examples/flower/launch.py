"""Run fedcrm on a real multi-process Flower federation on this machine.

Starts a SuperLink (TLS, SuperNode authentication) and one SuperNode per org on 127.0.0.1,
each SuperNode holding one org's (synthetic) data, submits fedcrm's Flower App, prints the
round log and stops every process. Called by ``run_local.sh``; run it directly with
``.venv/bin/python examples/flower/launch.py --help``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import tomllib
from pathlib import Path
from types import FrameType

import numpy as np
import tomli_w

from fedcrm.errors import FedcrmError
from fedcrm.federation.backends.local import LocalFederation, LocalOrg, free_port
from fedcrm.federation.backends.node import save_participant_data, write_key_files
from fedcrm.federation.participant import ParticipantData

HERE = Path(__file__).resolve().parent
#: (training records, intercept shift, quality multiplier) of the synthetic orgs
ORG_SHAPES = [(300, 0.3, 0.8), (500, -0.2, 1.2), (900, 0.0, 1.0), (400, 0.5, 0.9),
              (700, -0.4, 1.1)]


def synthetic_org(records: int, shift: float, seed: int, features: int = 10) -> ParticipantData:
    """An org whose labels follow one shared logistic rule plus its own intercept."""
    rule = np.random.default_rng(1234).normal(size=features)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(records, features)).astype(np.float32)
    y = (rng.random(records) < 1 / (1 + np.exp(-(x @ rule + shift)))).astype(np.float32)
    train, validation = int(records * 0.7), int(records * 0.85)
    return ParticipantData(x[:train], y[:train], x[train:validation], y[train:validation],
                           x[validation:], y[validation:])


def prepare(workdir: Path, orgs: int, rounds: int, encrypted: bool, key_bits: int,
            template: Path, port: int) -> tuple[Path, list[LocalOrg]]:
    """Write each org's data, the key files (encrypted runs) and this run's config file."""
    names = [f"org{i}" for i in range(orgs)]
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = tomllib.loads(template.read_text(encoding="utf-8"))
    settings["participants"] = names
    settings.setdefault("training", {})["rounds"] = rounds
    flower = settings.setdefault("flower", {})
    flower["superlink"] = f"127.0.0.1:{port}"
    flower["root_certificates"] = str(workdir / "certs" / "ca.crt")
    secrets: dict[str, Path] = {}
    if encrypted:
        from fedcrm.federation import key_ceremony

        keys = key_ceremony(names, key_bits=key_bits, allow_insecure_bits=key_bits < 2048)
        setup = write_key_files(keys, workdir / "fed-keys", federation_id="fedcrm-local-demo")
        secrets = {name: workdir / "fed-keys" / f"{name}.secret.json" for name in names}
        settings["encryption"] = {**settings.get("encryption", {}), "enabled": True,
                                  "keys": str(setup)}
        if key_bits < 2048:  # the nodes and the coordinator refuse small keys otherwise
            settings["encryption"]["allow_insecure_bits"] = True
    config = workdir / "federation.toml"
    config.write_text(tomli_w.dumps(settings), encoding="utf-8")
    local_orgs = []
    for index, name in enumerate(names):
        records, shift, quality = ORG_SHAPES[index % len(ORG_SHAPES)]
        path = save_participant_data(data_dir / f"{name}.npz",
                                     synthetic_org(records, shift, seed=index))
        local_orgs.append(LocalOrg(name, path, quality, secrets.get(name)))
    return config, local_orgs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True,
                        help="folder for certificates, keys, data, logs and the result")
    parser.add_argument("--orgs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--encrypted", action="store_true",
                        help="Paillier-encrypted aggregation (threshold key ceremony first)")
    parser.add_argument("--key-bits", type=int, default=2048,
                        help="Paillier key size (under 2048 is for tests only)")
    parser.add_argument("--config", type=Path, default=HERE / "federation.toml",
                        help="federation config template")
    parser.add_argument("--kill", metavar="ORG", help="kill this org's SuperNode mid-run")
    parser.add_argument("--kill-after-round", type=int, default=0,
                        help="kill it once this many rounds are logged (default 0: at once)")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config, orgs = prepare(workdir, args.orgs, args.rounds, args.encrypted, args.key_bits,
                           args.config, port)
    started = time.perf_counter()
    try:
        with LocalFederation(workdir, config, orgs, port=port) as federation:
            print(f"SuperLink https://{federation.address} (TLS, node authentication); "
                  f"{len(orgs)} SuperNodes up after {time.perf_counter() - started:.1f} s",
                  flush=True)
            run = federation.submit()
            if args.kill:
                log = federation.output / "rounds.jsonl"
                while run.poll() is None and (not log.exists() or len(
                        log.read_text(encoding="utf-8").splitlines()) < args.kill_after_round):
                    time.sleep(0.2)
                federation.nodes[args.kill].kill()
                print(f"killed the SuperNode of {args.kill}", flush=True)
            result = federation.wait(run, timeout=args.timeout)
    except FedcrmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopped; every Flower process was ended", file=sys.stderr)
        return 130
    print(f"{'round':>5}  {'contributed':<24} {'dropped':<10} {'val AUC':>8}  seconds")
    for record in result.history:
        auc = record.mean_validation_auc
        print(f"{record.round:>5}  {','.join(record.contributed):<24} "
              f"{','.join(record.dropped) or '-':<10} {auc if auc is None else f'{auc:.4f}':>8}"
              f"  {sum(record.seconds.values()):.2f}")
    def auc(value: float | None) -> str:
        return "n/a (no test split has both classes)" if value is None else f"{value:.4f}"

    print(f"mean test AUC {auc(result.averaged_mean_test_auc)} (the delivered model: the mean "
          f"of rounds {result.averaged_rounds[0]}–{result.averaged_rounds[-1]}), last round "
          f"{auc(result.mean_test_auc)}; total {time.perf_counter() - started:.1f} s")
    print(json.dumps({"result": str(federation.output / "result.json"),
                      "rounds": str(federation.output / "rounds.jsonl")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
