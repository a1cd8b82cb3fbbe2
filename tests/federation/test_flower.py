"""The Flower backend: config file, certificates and errors, the ClientApp's state, the
simulation engine against the in-process coordinator, and a real multi-process federation.

Flower is an optional dependency: these tests skip without ``flwr`` unless
``FEDCRM_REQUIRE_FLOWER=1`` (CI), which makes a missing install fail.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

if os.environ.get("FEDCRM_REQUIRE_FLOWER") != "1":
    pytest.importorskip("flwr")

from flwr.app import RecordDict

from fedcrm import ConfigError
from fedcrm.crypto import deal
from fedcrm.federation import (
    Coordinator,
    FederationKeys,
    Participant,
    RoundRecord,
    SecureAggregation,
    SecureCoordinator,
    TrainingConfig,
    attach_privacy,
    read_final_checks,
    read_round_log,
)
from fedcrm.federation.backends.certificates import (
    check_certificate,
    check_superlink,
    make_certificates,
)
from fedcrm.federation.backends.flower import SimulatedOrg, run_flower_simulation
from fedcrm.federation.backends.local import LocalFederation, LocalOrg, free_port
from fedcrm.federation.backends.node import NodeAgent, NodeResources
from fedcrm.federation.backends.records import fields_of, pack
from fedcrm.federation.settings import FederationConfig, load_federation_config
from tests.federation.helpers import logistic_org

REPO = Path(__file__).resolve().parents[2]
TRAINING = TrainingConfig(rounds=3, local_epochs=1, learning_rate=0.2, batch_size=32)
#: (records, intercept shift, quality multiplier)
SHAPES = [(150, 0.3, 0.8), (260, -0.2, 1.2), (500, 0.0, 1.0)]


def make_settings(**fields: Any) -> FederationConfig:
    """A federation config from plain values, as a config file gives them."""
    return FederationConfig.model_validate(fields)


def orgs(shapes: list[tuple[int, float, float]] = SHAPES) -> list[SimulatedOrg]:
    return [SimulatedOrg(f"org{i}", logistic_org(n, shift, seed=i), quality)
            for i, (n, shift, quality) in enumerate(shapes)]


def in_process(simulated: list[SimulatedOrg], training: TrainingConfig) -> list[Participant]:
    return [Participant(o.participant_id, o.data, config=training,
                        quality_multiplier=o.quality_multiplier) for o in simulated]


def trajectory_of(coordinator: Coordinator, rounds: int) -> list[np.ndarray]:
    """The in-process global model after each round."""
    models = []
    for round_number in range(rounds):
        coordinator.run_round(round_number)
        models.append(coordinator.parameters.copy())
    return models


def same_record(flower: RoundRecord, local: RoundRecord) -> None:
    """Everything but timings and the coordinators' (random) run ids agrees between the
    backends."""
    skip = {"seconds", "run"}
    assert flower.model_dump(exclude=skip) == local.model_dump(exclude=skip)


# ---------------------------------------------------------------------------- config file
def test_one_config_file_serves_both_backends(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    toml = tmp_path / "federation.toml"
    toml.write_text("""
backend = "flower"
participants = ["emea", "apac"]
[training]
rounds = 4
local_epochs = 1
[strategy]
name = "trimmed_mean"
trim = 0.1
[privacy]
mode = "record"
budget = { epsilon = 3.0, delta = 1e-5 }
[flower]
superlink = "10.0.0.5:9093"
root_certificates = "certs/ca.crt"
min_replies = 2
""", encoding="utf-8")
    config = load_federation_config(toml)
    assert config.backend == "flower" and config.training.rounds == 4
    assert config.strategy.build().name == "trimmed_mean"
    assert config.privacy is not None and config.privacy.budget is not None
    assert config.privacy.budget.epsilon == 3.0
    assert config.flower.root_certificates == tmp_path / "certs" / "ca.crt"
    assert config.with_backend("simulation").training == config.training
    yaml_file = tmp_path / "federation.yaml"
    yaml_file.write_text("backend: simulation\ntraining: {rounds: 4, local_epochs: 1}\n"
                         "strategy: {name: fedprox, mu: 0.5}\n", encoding="utf-8")
    from_yaml = FederationConfig.from_file(yaml_file)
    assert from_yaml.backend == "simulation" and from_yaml.strategy.mu == 0.5
    assert from_yaml.strategy.build().name == "fedprox"


@pytest.mark.parametrize(("text", "expected"), [
    ('[strategy]\nname = "krum"\n', "strategy.name"),
    ('[training]\nrounds = 0\n', "training.rounds"),
    ('[flower]\nsuperlnk = "x:1"\n', "flower.superlnk"),
    ('[strategy]\nname = "median"\n[encryption]\nenabled = true\n', "cannot run with encryption"),
    ('backend = "flower"\n[flower\n', "not valid toml"),
    # an option of another strategy was dropped silently, and so was a per-round count above
    # the roster
    ('[strategy]\nname = "fedavg"\nmu = 0.5\n', "mu is an option of fedprox, not of fedavg"),
    ('[strategy]\nname = "median"\ntrim = 0.3\n', "trim is an option of trimmed_mean"),
    ('participants = ["a", "b"]\n[training]\nparticipants_per_round = 10\n',
     "participants_per_round is 10 but participants names 2"),
])
def test_config_errors_name_the_file_and_setting(tmp_path: Path, text: str,
                                                 expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_federation_config(path)
    assert str(path) in str(error.value) and expected in str(error.value)


# ------------------------------------------------------------------- certificates, addresses
def test_expired_certificate_is_refused_before_anything_starts(tmp_path: Path) -> None:
    expired = make_certificates(tmp_path, expired=True)
    with pytest.raises(ConfigError, match=r"server\.crt expired on \d{4}-\d\d-\d\d"):
        check_certificate(expired.server_certificate)
    with pytest.raises(ConfigError, match="does not exist"):
        check_certificate(tmp_path / "missing.crt")
    fresh = make_certificates(tmp_path / "fresh")
    check_certificate(fresh.server_certificate)


def test_wrong_address_fails_fast_with_the_address() -> None:
    address = f"127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ConfigError, match=f"cannot reach the SuperLink at {address}"):
        check_superlink(address, timeout=3.0)
    assert time.monotonic() - start < 5
    with pytest.raises(ConfigError, match="not host:port"):
        check_superlink("localhost")


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A real TLS server on loopback presenting an *expired* certificate; yields its address,
    the CA that issued it and an unrelated CA."""
    files = make_certificates(tmp_path / "expired", expired=True)
    other = make_certificates(tmp_path / "other")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server_certificate, files.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", files.ca_certificate, other.ca_certificate
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def test_expired_or_foreign_superlink_certificate_is_a_clear_error(
        tls_server: tuple[str, Path, Path]) -> None:
    address, issuer, foreign = tls_server
    with pytest.raises(ConfigError, match="certificate has expired") as expired:
        check_superlink(address, root_certificates=issuer)
    assert address in str(expired.value) and str(issuer) in str(expired.value)
    with pytest.raises(ConfigError, match="does not verify against"):
        check_superlink(address, root_certificates=foreign)


# ------------------------------------------------------------------------ ClientApp state
def test_node_keeps_its_gate_between_messages() -> None:
    """Each Flower message runs in a fresh ClientApp; the validation gate's reference lives
    in the node's Context.state, so a poisoned model is still rejected next message."""
    data = logistic_org(400, 0.0, seed=3)
    resources = NodeResources("org3", data, FederationConfig(training=TRAINING))
    state = RecordDict()
    participant = Participant("org3", data, config=TRAINING)
    good = participant.fit_local(rounds=3)
    first = NodeAgent(resources, state).train(pack({"round": 0, "prox_mu": 0.0},
                                                   {"parameters": good}))
    assert fields_of(first)["accepted"] is True and fields_of(first)["n_samples"] == 280
    poisoned = -good
    second = NodeAgent(resources, state).train(pack({"round": 1, "prox_mu": 0.0},
                                                    {"parameters": poisoned}))
    assert fields_of(second)["accepted"] is False
    assert "below" in fields_of(second)["reason"]
    fresh = NodeAgent(resources, RecordDict()).train(pack({"round": 1, "prox_mu": 0.0},
                                                          {"parameters": poisoned}))
    assert fields_of(fresh)["accepted"] is True  # without the state there is no reference


# -------------------------------------------------------------------------- simulation
@pytest.mark.flower_simulation
def test_flower_simulation_matches_in_process_round_by_round(tmp_path: Path) -> None:
    simulated = orgs()
    settings = make_settings(training=TRAINING, strategy={"name": "quality_weighted"},
                                flower={"round_timeout": 120})
    seen: list[tuple[RoundRecord, np.ndarray]] = []
    flower = run_flower_simulation(simulated, settings, log_path=tmp_path / "rounds.jsonl",
                                   on_round=lambda record, model: seen.append((record, model)))
    local = Coordinator(in_process(simulated, TRAINING), settings.strategy.build(), TRAINING)
    expected = trajectory_of(local, TRAINING.rounds)
    assert len(seen) == TRAINING.rounds
    for (record, model), reference, local_record in zip(seen, expected, local.history,
                                                        strict=True):
        np.testing.assert_allclose(model, reference, atol=1e-6, rtol=0)
        same_record(record, local_record)
    assert [r.round for r in read_round_log(tmp_path / "rounds.jsonl")] == [0, 1, 2]
    assert read_final_checks(tmp_path / "rounds.jsonl") == []  # no final check over Flower
    assert flower.mean_test_auc > 0.75
    result = Coordinator(in_process(simulated, TRAINING), settings.strategy.build(),
                         TRAINING).run(progress=False)
    for pid, metrics in result.test_metrics.items():
        assert flower.test_metrics[pid] == pytest.approx(metrics, abs=1e-6)
        assert flower.averaged_test_metrics[pid] == pytest.approx(
            result.averaged_test_metrics[pid], abs=1e-6)
    assert flower.best_round == result.best_round
    assert flower.averaged_rounds == result.averaged_rounds
    np.testing.assert_allclose(flower.averaged_parameters, result.averaged_parameters,
                               atol=1e-6, rtol=0)


@pytest.mark.flower_simulation
def test_flower_simulation_encrypted_matches_in_process() -> None:
    """Ciphertexts and signatures travel as bytes in Flower records; the decrypted mean
    matches the in-process SecureCoordinator's (same keys, same stochastic rounding)."""
    simulated = orgs()
    training = TRAINING.model_copy(update={"learning_rate": 0.05})
    public_key, shares = deal([o.participant_id for o in simulated], bits=512,
                              allow_insecure_bits=True)
    keys = FederationKeys.from_deal(public_key, shares, allow_insecure_bits=True)
    settings = make_settings(training=training, strategy={"name": "quality_weighted"},
                                encryption={"enabled": True, "federation_id": "test-fid",
                                            "allow_insecure_bits": True},
                                flower={"round_timeout": 120})
    seen: list[tuple[RoundRecord, np.ndarray]] = []
    run_flower_simulation(simulated, settings, keys=keys,
                          on_round=lambda record, model: seen.append((record, model)))
    local = SecureCoordinator(in_process(simulated, training), settings.strategy.build(),
                              training, secure=SecureAggregation(keys, federation_id="test-fid"))
    expected = trajectory_of(local, training.rounds)
    for (record, model), reference, local_record in zip(seen, expected, local.history,
                                                        strict=True):
        assert record.encryption is not None and record.encryption.error_bound is not None
        assert record.weights == {}  # the coordinator never learns one org's weight
        assert record.contributed == ["org0", "org1", "org2"]
        assert record.encryption.decrypted_by == ["org0", "org1"]  # quorum 2, key order
        bound = record.encryption.error_bound + float(np.spacing(np.abs(model)).max())
        assert np.abs(model - reference).max() <= bound
        same_record(record, local_record)


@pytest.mark.flower_simulation
def test_flower_simulation_robust_strategy_with_record_level_dp(tmp_path: Path) -> None:
    """Median aggregation and DP-SGD in every org (its own engine, ledger and state kept
    between messages on the node); the spend and the model match the in-process run."""
    simulated = orgs([(300, 0.3, 1.0), (400, -0.2, 1.0), (500, 0.0, 1.0)])
    training = TrainingConfig(rounds=2, local_epochs=1, learning_rate=0.2, batch_size=64)
    privacy = {"mode": "record", "budget": {"epsilon": 8.0, "delta": 1e-4}}
    settings = make_settings(training=training, strategy={"name": "median"},
                                privacy=privacy, flower={"round_timeout": 120})
    seen: list[tuple[RoundRecord, np.ndarray]] = []
    run_flower_simulation(simulated, settings, state_dir=tmp_path / "flower", privacy_seed=11,
                          on_round=lambda record, model: seen.append((record, model)))
    participants = in_process(simulated, training)
    assert settings.privacy is not None
    attach_privacy(participants, settings.privacy, training, tmp_path / "ledger.jsonl",
                   state_dir=tmp_path / "local", seed=11)
    local = Coordinator(participants, settings.strategy.build(), training)
    expected = trajectory_of(local, training.rounds)
    for (record, model), reference, local_record in zip(seen, expected, local.history,
                                                        strict=True):
        np.testing.assert_allclose(model, reference, atol=1e-5, rtol=0)
        assert set(record.privacy) == {"org0", "org1", "org2"}
        for pid, spend in record.privacy.items():
            assert spend["mode"] == "record"
            assert spend["epsilon_spent"] == pytest.approx(
                local_record.privacy[pid]["epsilon_spent"])
    assert (tmp_path / "flower" / "privacy-ledger.jsonl").exists()


# ---------------------------------------------------------------------------- deployment
def _load_launcher() -> Any:
    spec = importlib.util.spec_from_file_location("fedcrm_flower_launch",
                                                  REPO / "examples" / "flower" / "launch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_flower_processes_of(workdir: Path) -> None:
    """No live process is left in any process group the launcher started (zombies waiting
    for a reaper are dead already and do not count)."""
    groups = {int(g) for g in (workdir / "pgids").read_text().split()}
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group in groups and state != "Z":
            alive.append(stat.parent.name)
    assert not alive, f"processes left running: {alive}"


@pytest.mark.flower_deployment
def test_run_local_script_matches_in_process(tmp_path: Path) -> None:
    """examples/flower/run_local.sh: SuperLink (TLS, node authentication) and 3 SuperNodes
    on 127.0.0.1, 2 rounds; the multi-process run equals the in-process one."""
    workdir = tmp_path / "run"
    done = subprocess.run(
        [str(REPO / "examples" / "flower" / "run_local.sh"), "--orgs", "3", "--rounds", "2"],
        env={**os.environ, "FEDCRM_FLOWER_WORKDIR": str(workdir), "PYTHON": sys.executable},
        capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TLS, node authentication" in done.stdout
    launcher = _load_launcher()
    from fedcrm.federation.backends.flower import read_result

    flower = read_result(workdir / "output" / "result.json")
    settings = load_federation_config(workdir / "federation.toml")
    participants = [Participant(f"org{i}", launcher.synthetic_org(n, shift, seed=i),
                                config=settings.training, quality_multiplier=quality)
                    for i, (n, shift, quality) in enumerate(launcher.ORG_SHAPES[:3])]
    local = Coordinator(participants, settings.strategy.build(), settings.training).run(
        progress=False)
    np.testing.assert_allclose(flower.parameters, local.parameters, atol=1e-6, rtol=0)
    # the delivered (averaged) model survives result.json too
    np.testing.assert_allclose(flower.averaged_parameters, local.averaged_parameters,
                               atol=1e-6, rtol=0)
    for record, local_record in zip(flower.history, local.history, strict=True):
        same_record(record, local_record)
    _no_flower_processes_of(workdir)


@pytest.fixture
def deployment(tmp_path: Path) -> tuple[Path, list[LocalOrg]]:
    launcher = _load_launcher()
    port = free_port()
    config, local_orgs = launcher.prepare(tmp_path, 3, 2, False, 512,
                                          REPO / "examples" / "flower" / "federation.toml", port)
    return config, local_orgs


@pytest.mark.flower_deployment
def test_supernode_killed_mid_round_is_tolerated(tmp_path: Path,
                                                 deployment: tuple[Path, list[LocalOrg]]
                                                 ) -> None:
    config, local_orgs = deployment
    with LocalFederation(tmp_path, config, local_orgs) as federation:
        run = federation.submit()
        log = federation.output / "rounds.jsonl"
        deadline = time.monotonic() + 240
        while not log.exists() or not log.read_text().strip():
            assert time.monotonic() < deadline and run.poll() is None, "round 0 never ended"
            time.sleep(0.2)
        federation.nodes["org2"].kill()  # round 1 is under way
        result = federation.wait(run, timeout=300)
    first, second = result.history
    assert first.contributed == ["org0", "org1", "org2"] and not first.dropped
    assert second.contributed == ["org0", "org1"]
    # found out by the round timeout or, sooner, by the SuperLink's missed heartbeats
    assert any(why in second.dropped["org2"] for why in ("no answer", "Node Unavailable"))
    assert result.test_metrics["org2"]["auc"] is None
    assert result.test_metrics["org0"]["auc"] is not None
    _no_flower_processes_of(tmp_path)


@pytest.mark.flower_deployment
def test_misconfigured_nodes_get_clear_errors(tmp_path: Path,
                                              deployment: tuple[Path, list[LocalOrg]]) -> None:
    config, local_orgs = deployment
    with LocalFederation(tmp_path, config, []) as federation:  # the SuperLink only
        from fedcrm.federation.backends.certificates import make_node_keys

        rogue = make_node_keys(tmp_path / "rogue-key", ["rogue"])["rogue"]
        with pytest.raises(ConfigError, match="refused SuperNode 'org0'.*not registered"):
            federation.start_node(local_orgs[0], private_key=rogue.private_key)
        wrong = f"127.0.0.1:{free_port()}"
        start = time.monotonic()
        with pytest.raises(ConfigError, match=f"cannot reach the SuperLink at {wrong}"):
            federation.start_node(local_orgs[1], superlink=wrong)
        assert time.monotonic() - start < 10
    expired = make_certificates(tmp_path / "expired", expired=True)
    second = LocalFederation(tmp_path / "second", config, local_orgs[:1], certificates=expired)
    with pytest.raises(ConfigError, match="SuperLink server certificate .*expired on"):
        second.start()
    second.stop()
    _no_flower_processes_of(tmp_path)
