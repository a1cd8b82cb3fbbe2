"""A real multi-process Flower federation on this machine: one SuperLink and one SuperNode per
org on ``127.0.0.1``, with TLS and SuperNode authentication, started and stopped cleanly.

:class:`LocalFederation` is what ``examples/flower/run_local.sh`` and the integration tests
use. It generates throwaway certificates and node keys (never reuse them), checks them before
anything starts, starts ``flower-superlink`` (``--ssl-*``, ``--enable-supernode-auth``),
registers each org's public key (``flwr supernode register``), starts the ``flower-supernode``
processes (each holding one org's data), submits the fedcrm Flower App with ``flwr run`` and
reads back the result. Every process runs in its own process group, and :meth:`stop` (also on
exit of the ``with`` block) ends them all: no orphans.

Misconfiguration becomes a :class:`~fedcrm.ConfigError` that names the address, certificate
or node and the fix: nothing listening at the SuperLink address, a certificate that expired
or does not verify, a node whose key the SuperLink does not know.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fedcrm.errors import ConfigError, FedcrmError
from fedcrm.federation.backends.certificates import (
    CertificateFiles,
    NodeKeyFiles,
    check_certificate,
    check_superlink,
    make_certificates,
    make_node_keys,
)
from fedcrm.federation.coordinator import FederationResult

__all__ = ["LocalFederation", "LocalOrg", "LocalRunError", "NodeProcess", "free_port"]

#: the Flower App (ServerApp + ClientApp entry points) that ``flwr run`` submits
EXAMPLE_APP = Path(__file__).resolve().parents[3] / "examples" / "flower" / "app"


class LocalRunError(FedcrmError):
    """A local Flower run started but did not produce a result (the message says why)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LocalOrg:
    """One org of the local federation: its id, its data file (``.npz`` written by
    :func:`~fedcrm.federation.backends.node.save_participant_data`) and, in encrypted mode,
    its own secret key file."""

    participant_id: str
    data: Path
    quality_multiplier: float = 1.0
    keys: Path | None = None


@dataclass
class NodeProcess:
    """A started process and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the node and the processes it started)."""
        if self.process.poll() is None or sig == signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)


@dataclass
class LocalFederation:
    """SuperLink + one SuperNode per org on loopback; use as a context manager.

    Parameters
    ----------
    workdir:
        Folder for certificates, keys, logs, the Flower home and the run's output.
    config:
        The federation config file every party reads. Its ``[flower]`` quorum and timeouts
        apply; its ``superlink``, ``root_certificates`` and ``insecure`` are not read (this
        class runs its own SuperLink on a free loopback port with a throwaway CA).
    orgs:
        The orgs, one SuperNode each.
    tls, node_auth:
        TLS on the SuperLink's API (default) and SuperNode authentication (default; needs
        TLS, as Flower requires).
    """

    workdir: Path
    config: Path
    orgs: Sequence[LocalOrg]
    tls: bool = True
    node_auth: bool = True
    host: str = "127.0.0.1"
    app: Path = EXAMPLE_APP
    startup_timeout: float = 60.0
    #: how long a SuperNode keeps trying to reach the SuperLink before it gives up
    node_connect_timeout: float = 15.0
    certificates: CertificateFiles | None = None
    node_keys: dict[str, NodeKeyFiles] = field(default_factory=dict)
    superlink: NodeProcess | None = None
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    port: int = 0
    _processes: list[NodeProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.config = Path(self.config).resolve()
        if self.node_auth and not self.tls:
            raise ConfigError("SuperNode authentication needs TLS (Flower refuses node keys "
                              "over plain HTTP): keep tls=True or set node_auth=False")
        names = [org.participant_id for org in self.orgs]
        if len(set(names)) != len(names):
            raise ConfigError(f"org ids must be unique, got {names}")

    # --------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalFederation:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """The SuperLink's address (all its APIs share one HTTP port)."""
        return f"{self.host}:{self.port}"

    @property
    def flower_home(self) -> Path:
        """FLWR_HOME of the ``flwr`` commands this federation runs."""
        return self.workdir / "flwr-home"

    def environment(self) -> dict[str, str]:
        """Environment for every Flower process: this Python's scripts first on PATH (the
        SuperLink and SuperNodes start ``flwr-serverapp``/``flwr-clientapp`` from it), a
        private Flower home, and quick task polling (loopback makes polls cheap)."""
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["FLWR_HOME"] = str(self.flower_home)
        env.setdefault("FLWR_SUPEREXEC_TASK_POLL_INTERVAL", "0.05")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> None:
        """Certificates and keys, SuperLink, registrations, one SuperNode per org."""
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        if self.tls and self.certificates is None:
            self.certificates = make_certificates(self.workdir / "certs")
        if self.node_auth and not self.node_keys:
            self.node_keys = make_node_keys(self.workdir / "node-keys",
                                            [org.participant_id for org in self.orgs])
        self.start_superlink()
        for org in self.orgs:
            if self.node_auth:
                self.register(org.participant_id)
        for org in self.orgs:
            self.nodes[org.participant_id] = self.start_node(org)

    def stop(self) -> None:
        """End every process this federation started (SIGTERM, then SIGKILL after 10 s)."""
        for node in reversed(self._processes):
            node.kill(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for node in reversed(self._processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            node.kill(signal.SIGKILL)  # the group may hold children of a finished leader
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=5)
        self._processes.clear()

    def _spawn(self, name: str, command: list[str]) -> NodeProcess:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=self.environment(),
                                       start_new_session=True, cwd=self.workdir)
        started = NodeProcess(name, process, log)
        self._processes.append(started)
        # for a shell trap that must clean up even if this Python process is killed
        with (self.workdir / "pgids").open("a", encoding="utf-8") as groups:
            groups.write(f"{process.pid}\n")
        return started

    # ----------------------------------------------------------------------------- SuperLink
    def start_superlink(self) -> NodeProcess:
        """Start ``flower-superlink`` (TLS, node authentication) and wait until it listens."""
        self.port = self.port or free_port(self.host)
        command = ["flower-superlink", "--host", self.host, "--port", str(self.port),
                   "--disable-runtime-dependency-installation"]
        if self.tls:
            assert self.certificates is not None
            check_certificate(self.certificates.server_certificate,
                              role="SuperLink server certificate")
            check_certificate(self.certificates.ca_certificate, role="CA certificate")
            command += ["--ssl-ca-certfile", str(self.certificates.ca_certificate),
                        "--ssl-certfile", str(self.certificates.server_certificate),
                        "--ssl-keyfile", str(self.certificates.server_key)]
        else:
            command.append("--insecure")
        if self.node_auth:
            command.append("--enable-supernode-auth")
        self.superlink = self._spawn("superlink", command)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.superlink.running:
                raise ConfigError(f"flower-superlink exited at start (code "
                                  f"{self.superlink.process.returncode}):\n"
                                  + _tail(self.superlink.log_text()))
            if "Uvicorn running" in self.superlink.log_text():
                self._write_flower_home()
                return self.superlink
            time.sleep(0.2)
        raise LocalRunError(f"flower-superlink did not listen on {self.address} within "
                            f"{self.startup_timeout:g} s:\n" + _tail(self.superlink.log_text()))

    def _write_flower_home(self) -> None:
        self.flower_home.mkdir(parents=True, exist_ok=True)
        lines = ["[superlink]", 'default = "local"', "", "[superlink.local]",
                 f'address = "{self.address}"']
        if self.tls:
            assert self.certificates is not None
            lines.append(f'root-certificates = "{self.certificates.ca_certificate}"')
        else:
            lines.append("insecure = true")
        (self.flower_home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _flwr(self, *arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["flwr", *arguments], capture_output=True, text=True,
                              env=self.environment(), timeout=timeout, cwd=self.workdir,
                              stdin=subprocess.DEVNULL, check=False)

    def register(self, name: str, public_key: Path | None = None) -> None:
        """Register a SuperNode's public key with the SuperLink (node authentication)."""
        key = public_key or self.node_keys[name].public_key
        done = self._flwr("supernode", "register", str(key), "local", "--name", name,
                          timeout=60)
        if done.returncode != 0 or "registered successfully" not in done.stdout:
            raise ConfigError(f"could not register SuperNode {name!r} ({key}) with the "
                              f"SuperLink at {self.address}:\n{_tail(done.stdout + done.stderr)}")

    # ----------------------------------------------------------------------------- SuperNodes
    def start_node(self, org: LocalOrg, *, private_key: Path | None = None,
                   superlink: str | None = None, root_certificates: Path | None = None,
                   wait: bool = True) -> NodeProcess:
        """Start one org's ``flower-supernode`` and wait until the SuperLink accepted it.

        ``private_key``, ``superlink`` and ``root_certificates`` override the federation's
        (tests use them to start misconfigured nodes). Raises :class:`ConfigError` naming
        the problem when the node cannot join.
        """
        address = superlink or self.address
        ca = root_certificates or (self.certificates.ca_certificate
                                   if self.certificates is not None else None)
        # fail fast on a wrong address or an invalid certificate, before Flower retries
        check_superlink(address, root_certificates=ca, timeout=5.0)
        fields = {"org": org.participant_id, "data": str(Path(org.data).resolve()),
                  "config": str(self.config), "quality": org.quality_multiplier,
                  "state-dir": str(self.workdir / "state" / org.participant_id),
                  "ledger": str(self.workdir / "state" / "privacy-ledger.jsonl")}
        if org.keys is not None:
            fields["keys"] = str(Path(org.keys).resolve())
        (self.workdir / "state" / org.participant_id).mkdir(parents=True, exist_ok=True)
        node_config = " ".join(f"{k}={v}" if isinstance(v, float) else f'{k}="{v}"'
                               for k, v in fields.items())
        command = ["flower-supernode", "--superlink", address, "--port",
                   str(free_port(self.host)), "--node-config", node_config,
                   "--max-wait-time", f"{self.node_connect_timeout:g}"]
        if ca is not None:
            command += ["--root-certificates", str(ca)]
        else:
            command.append("--insecure")
        key = private_key or (self.node_keys[org.participant_id].private_key
                              if org.participant_id in self.node_keys else None)
        if key is not None:
            command += ["--auth-supernode-private-key", str(key)]
        node = self._spawn(f"supernode-{org.participant_id}", command)
        if wait:
            self._wait_for_node(node, org.participant_id, address, key)
        return node

    def _wait_for_node(self, node: NodeProcess, name: str, address: str,
                       key: Path | None) -> None:
        deadline = time.monotonic() + self.node_connect_timeout + self.startup_timeout
        while time.monotonic() < deadline:
            text = node.log_text()
            if "SuperNode ID:" in text:
                return
            if not node.running:
                raise _explain_node_failure(name, address, key, text)
            time.sleep(0.2)
        node.kill()
        raise LocalRunError(f"SuperNode {name!r} did not join the SuperLink at {address} "
                            f"within {self.node_connect_timeout + self.startup_timeout:g} s:\n"
                            + _tail(node.log_text()))

    # ----------------------------------------------------------------------------------- run
    @property
    def output(self) -> Path:
        """Where the ServerApp writes ``rounds.jsonl`` and ``result.json``."""
        return self.workdir / "output"

    def submit(self) -> subprocess.Popen[str]:
        """Submit the fedcrm Flower App (``flwr run --stream``); returns the running command."""
        self.output.mkdir(parents=True, exist_ok=True)
        for stale in ("result.json", "error.txt", "rounds.jsonl"):
            (self.output / stale).unlink(missing_ok=True)
        run_config = f'config="{self.config}" output="{self.output}"'
        with (self.workdir / "logs" / "flwr-run.log").open("w", encoding="utf-8") as log:
            run = subprocess.Popen(["flwr", "run", str(self.app), "local", "--stream",
                                    "--run-config", run_config], stdout=log,
                                   stderr=subprocess.STDOUT, text=True, env=self.environment(),
                                   cwd=self.workdir, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        with (self.workdir / "pgids").open("a", encoding="utf-8") as groups:
            groups.write(f"{run.pid}\n")
        return run

    def wait(self, run: subprocess.Popen[str], *, timeout: float) -> FederationResult:
        """Wait for a submitted run and return its result (LocalRunError if it has none)."""
        from fedcrm.federation.backends.flower import read_result

        deadline = time.monotonic() + timeout
        result = self.output / "result.json"
        error = self.output / "error.txt"
        try:
            while time.monotonic() < deadline:
                if result.exists() or error.exists() or run.poll() is not None:
                    break
                time.sleep(0.2)
            # the ServerApp writes result.json last; give the stream a moment to end
            if run.poll() is None and (result.exists() or error.exists()):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    run.wait(timeout=15)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait(timeout=5)
        if result.exists():
            return read_result(result)
        why = (error.read_text(encoding="utf-8").strip() if error.exists()
               else f"no result within {timeout:g} s")
        log = (self.workdir / "logs" / "flwr-run.log").read_text(encoding="utf-8",
                                                                 errors="replace")
        raise LocalRunError(f"the Flower run failed: {why}\nflwr run log:\n{_tail(log)}")

    def run(self, *, timeout: float = 600.0) -> FederationResult:
        """Submit the app and wait for its result."""
        return self.wait(self.submit(), timeout=timeout)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _explain_node_failure(name: str, address: str, key: Path | None, log: str) -> ConfigError:
    """Turn a SuperNode's exit log into an error naming the cause and the fix."""
    if "Failed to activate SuperNode" in log or "PERMISSION_DENIED" in log.upper():
        public = f"{key}.pub" if key is not None else "its public key"
        return ConfigError(
            f"the SuperLink at {address} refused SuperNode {name!r}: node authentication is "
            f"on and this node's key ({key}) is not registered; register the org's public "
            f"key with `flwr supernode register {public}` (or remove the node)")
    if "CERTIFICATE_VERIFY_FAILED" in log:
        reason = log.split("CERTIFICATE_VERIFY_FAILED]", 1)[-1].splitlines()[0].strip()
        return ConfigError(f"SuperNode {name!r} does not trust the SuperLink at {address}: "
                           f"{reason}; renew the SuperLink certificate or pass the CA that "
                           "issued it as root certificates")
    if "Connection refused" in log or "Giving up reconnection" in log:
        return ConfigError(f"SuperNode {name!r} cannot reach the SuperLink at {address} "
                           "(connection refused); check the address it was given (--superlink) "
                           "and that flower-superlink runs")
    return ConfigError(f"SuperNode {name!r} exited before joining the SuperLink at "
                       f"{address}:\n{_tail(log)}")
