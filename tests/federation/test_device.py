"""Where local training runs (TrainingConfig.device): the CPU here, CUDA where torch sees a GPU.

The CUDA tests run only on a machine with a GPU (CI has none; ``benchmarks/device.py`` and
the note of the change say where they were run)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from fedcrm import ConfigError
from fedcrm.federation import Coordinator, FedAvg, Participant, TrainingConfig
from fedcrm.federation.models import resolve_device
from fedcrm.federation.privacy import _round_generator, _round_seed, attach_record_level_dp
from tests.federation.helpers import logistic_org

CONFIG = TrainingConfig(rounds=2, local_epochs=1, learning_rate=0.05, batch_size=32,
                        validation_tolerance=0.15, seed=3)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def federation(config: TrainingConfig) -> list[Participant]:
    return [Participant(f"org{i}", logistic_org(n, shift, seed=i), config=config)
            for i, (n, shift) in enumerate([(150, 0.3), (250, -0.2)])]


def train_once(config: TrainingConfig) -> np.ndarray:
    participant = federation(config)[0]
    start = np.zeros(11, dtype=np.float32)
    return participant.train(start, 0).delta


def test_device_names_are_checked_when_the_config_is_made() -> None:
    for name in ("cpu", "cuda", "cuda:1", "auto"):
        assert TrainingConfig(device=name).device == name
    for name in ("gpu", "CUDA", "cuda:", "cuda:01", "cuda:99999999999999999999", "mps", ""):
        with pytest.raises(ConfigError, match="invalid TrainingConfig: device"):
            TrainingConfig(device=name)


def test_auto_is_the_gpu_when_torch_sees_one_else_the_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_when_the_participant_is_made() -> None:
    config = CONFIG.model_copy(update={"device": "cuda"})
    with pytest.raises(ConfigError, match="no CUDA GPU.*'cpu' or 'auto'"):
        federation(config)


def test_a_gpu_index_beyond_those_present_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # as on a machine with two GPUs
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"torch sees 2 CUDA GPU\(s\), numbered from 0"):
        resolve_device("cuda:2")


def test_resolve_device_refuses_devices_the_trainer_does_not_support() -> None:
    with pytest.raises(ConfigError, match="'cpu' or 'cuda' only"):
        resolve_device("meta")
    with pytest.raises(ConfigError, match="not a torch device"):
        resolve_device("nonsense")


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is the GPU on this machine")
def test_auto_on_a_machine_without_a_gpu_trains_exactly_as_the_cpu() -> None:
    cpu = train_once(CONFIG)
    auto = train_once(CONFIG.model_copy(update={"device": "auto"}))
    assert np.array_equal(cpu, auto)


def test_the_cpu_dp_generator_keeps_its_seed_and_a_gpu_stream_is_seeded_apart() -> None:
    # runs seeded before GPUs were supported draw the same noise: the CPU seed is the one
    # the formula gave before (HMAC-SHA256 of ["org0", 2, 1] keyed with "7")
    seed = _round_seed(7, "org0", 2, 1)
    assert seed == 5285470632015086103
    assert _round_generator(7, "org0", 2, 1).initial_seed() == seed
    assert _round_seed(7, "org0", 2, 1, "noise on cuda") not in (seed, 0)


def test_the_flower_simulation_refuses_a_gpu_its_nodes_would_not_see(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from fedcrm.federation import backends  # needs no Flower for this check

    backends.check_simulation_device("cpu")
    # as on a machine with a GPU: Ray would hide it from the virtual nodes
    monkeypatch.setattr(backends, "resolve_device", lambda name: torch.device("cuda"))
    for name in ("cuda", "auto"):
        with pytest.raises(ConfigError, match="gives its virtual nodes no GPU; use device 'cpu'"):
            backends.check_simulation_device(name)


# ------------------------------------------------------------------------- on a CUDA GPU
@needs_cuda
def test_training_on_cuda_matches_the_cpu_up_to_rounding() -> None:
    cpu = train_once(CONFIG)
    cuda = train_once(CONFIG.model_copy(update={"device": "cuda"}))
    assert cuda.dtype == np.float32 and np.isfinite(cuda).all()
    # same batches (the loader shuffles on the CPU), kernels that sum in other orders
    assert np.allclose(cpu, cuda, rtol=1e-4, atol=1e-5)


@needs_cuda
def test_a_federation_on_cuda_reproduces_by_seed_and_follows_the_cpu() -> None:
    config = CONFIG.model_copy(update={"device": "cuda", "rounds": 3})
    first = Coordinator(federation(config), FedAvg(), config).run(progress=False)
    second = Coordinator(federation(config), FedAvg(), config).run(progress=False)
    assert np.array_equal(first.averaged_parameters, second.averaged_parameters)
    on_cpu = config.model_copy(update={"device": "cpu"})
    cpu = Coordinator(federation(on_cpu), FedAvg(), on_cpu).run(progress=False)
    assert np.allclose(first.averaged_parameters, cpu.averaged_parameters, rtol=1e-4,
                       atol=1e-5)
    assert first.mean_test_auc == pytest.approx(cpu.mean_test_auc, abs=0.01)


@needs_cuda
def test_dp_sgd_on_cuda_spends_what_the_cpu_spends(tmp_path: Path) -> None:
    budgets = {"org0": (3.0, 1e-5), "org1": (3.0, 1e-5)}
    spends = {}
    for device in ("cpu", "cuda"):
        config = CONFIG.model_copy(update={"device": device})
        participants = federation(config)
        hooks = attach_record_level_dp(participants, budgets, config,
                                       tmp_path / f"{device}.jsonl", accountant="rdp", seed=0)
        result = Coordinator(participants, FedAvg(), config).run(progress=False)
        assert np.isfinite(result.averaged_parameters).all()
        spends[device] = {pid: hook.engine.epsilon_spent for pid, hook in hooks.items()}
        for pid, hook in hooks.items():
            # the accountant counts the planned steps, whatever the device
            per_round = math.ceil(hook.engine.plan.n_samples / config.batch_size)
            assert hook.engine.total_steps == per_round * config.rounds, pid
    # the privacy accounting does not depend on the device
    assert spends["cpu"] == spends["cuda"]
    assert all(0 < spent <= 3.0 for spent in spends["cuda"].values())


@needs_cuda
def test_dp_noise_on_cuda_comes_from_its_own_seeded_generator_on_the_gpu(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fedcrm.privacy import RecordLevelDP

    seen: list[tuple[str, torch.Generator | None, int]] = []
    wrap = RecordLevelDP.wrap

    def spy(self: RecordLevelDP, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
            data_loader: torch.utils.data.DataLoader, **options: object) -> object:
        sampler = data_loader.generator
        assert sampler is not None and sampler.device.type == "cpu"
        seen.append((self.participant_id, options.get("noise_generator"),  # type: ignore[arg-type]
                     sampler.initial_seed()))
        return wrap(self, module, optimizer, data_loader, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(RecordLevelDP, "wrap", spy)
    config = CONFIG.model_copy(update={"device": "cuda", "rounds": 1})
    participants = federation(config)
    attach_record_level_dp(participants, {"org0": (3.0, 1e-5), "org1": (3.0, 1e-5)}, config,
                           tmp_path / "ledger.jsonl", accountant="rdp", seed=5)
    Coordinator(participants, FedAvg(), config).run(progress=False)
    assert sorted(pid for pid, _, _ in seen) == ["org0", "org1"]
    for pid, noise, sampler_seed in seen:
        # never Opacus' default CUDA generator, which the shared training seed seeds
        assert noise is not None and noise.device.type == "cuda"
        assert sampler_seed == _round_seed(5, pid, 0, 0)
        assert noise.initial_seed() == _round_seed(5, pid, 0, 0, "noise on cuda")
        assert noise.initial_seed() != sampler_seed


@needs_cuda
def test_unseeded_dp_noise_on_cuda_differs_between_runs_of_one_training_seed(
        tmp_path: Path) -> None:
    config = CONFIG.model_copy(update={"device": "cuda", "rounds": 1})

    def run(name: str) -> np.ndarray:
        participants = federation(config)
        attach_record_level_dp(participants, {"org0": (3.0, 1e-5), "org1": (3.0, 1e-5)},
                               config, tmp_path / f"{name}.jsonl", accountant="rdp")
        return Coordinator(participants, FedAvg(), config).run(
            progress=False).averaged_parameters

    assert not np.allclose(run("a"), run("b"))


@needs_cuda
@pytest.mark.parametrize("update", [{"optimizer": "adam"}, {"prox_mu": 0.1},
                                    {"model": "mlp", "hidden": (8,)}])
def test_adam_fedprox_and_the_mlp_train_on_cuda_as_on_the_cpu(update: dict) -> None:
    on_cpu = CONFIG.model_copy(update=update)
    on_cuda = on_cpu.model_copy(update={"device": "cuda"})
    cpu = Coordinator(federation(on_cpu), FedAvg(), on_cpu).run(progress=False)
    cuda = Coordinator(federation(on_cuda), FedAvg(), on_cuda).run(progress=False)
    assert np.allclose(cpu.averaged_parameters, cuda.averaged_parameters, rtol=1e-3, atol=1e-4)


@needs_cuda
def test_client_level_dp_and_empty_poisson_batches_run_on_cuda(tmp_path: Path) -> None:
    from fedcrm.federation.privacy import attach_client_level_dp

    config = CONFIG.model_copy(update={"device": "cuda"})
    participants = federation(config)
    attach_client_level_dp(participants, (3.0, 1e-5), config, tmp_path / "client.jsonl",
                           seed=0)
    result = Coordinator(participants, FedAvg(), config).run(progress=False)
    assert np.isfinite(result.averaged_parameters).all()
    # 28 training rows in batches of 2: Opacus' Poisson sampler draws an empty batch in about
    # one step in eight, which runs (noise only) and is accounted like any other step
    tiny = CONFIG.model_copy(update={"device": "cuda", "batch_size": 2, "rounds": 3})
    small = [Participant("org0", logistic_org(40, 0.0, seed=0), config=tiny)]
    hooks = attach_record_level_dp(small, {"org0": (8.0, 1e-5)}, tiny,
                                   tmp_path / "tiny.jsonl", accountant="rdp", seed=0)
    tiny_result = Coordinator(small, FedAvg(), tiny).run(progress=False)
    assert np.isfinite(tiny_result.averaged_parameters).all()
    assert hooks["org0"].engine.total_steps == math.ceil(28 / 2) * tiny.rounds


@needs_cuda
def test_seeded_dp_noise_on_cuda_repeats_and_differs_from_another_seed(tmp_path: Path) -> None:
    config = CONFIG.model_copy(update={"device": "cuda"})

    def run(seed: int, name: str) -> np.ndarray:
        participants = federation(config)
        attach_record_level_dp(participants, {"org0": (3.0, 1e-5), "org1": (3.0, 1e-5)},
                               config, tmp_path / f"{name}.jsonl", accountant="rdp", seed=seed)
        return Coordinator(participants, FedAvg(), config).run(
            progress=False).averaged_parameters

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
