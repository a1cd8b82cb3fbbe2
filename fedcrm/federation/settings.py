"""One federation configuration file shared by every backend.

The same TOML (or YAML) file describes the training, the strategy, encryption and privacy,
and which backend runs the rounds; switching from the in-process simulation to Flower is the
one option ``backend``. The Flower-only settings (SuperLink address, certificates, quorum,
timeouts) live in the ``[flower]`` section and are ignored by the simulation backend.

.. code-block:: toml

    backend = "flower"                          # or "simulation"
    participants = ["emea", "apac", "amer"]     # enrolment roster (order = selection order)

    [training]                                  # fedcrm.federation.TrainingConfig
    rounds = 10
    local_epochs = 2
    server_momentum = 0.9                       # FedAvgM; 0 = plain FedAvg

    [strategy]
    name = "quality_weighted"                   # fedavg | fedprox | median | trimmed_mean

    [encryption]                                # optional: Paillier aggregation
    enabled = true
    keys = "keys/federation.json"

    [privacy]                                   # optional: fedcrm.federation.PrivacyConfig
    mode = "record"
    budget = { epsilon = 4.0, delta = 1e-5 }

    [flower]
    superlink = "127.0.0.1:9093"
    root_certificates = "certs/ca.crt"
    min_replies = 2

Relative paths are resolved against the folder of the file they appear in.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, model_validator

from fedcrm._config import ConfigModel
from fedcrm.errors import ConfigError, validation_problems
from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.privacy import PrivacyConfig
from fedcrm.federation.strategies import Strategy, make_strategy

__all__ = [
    "EncryptionSettings",
    "FederationConfig",
    "FlowerSettings",
    "StrategySettings",
    "load_federation_config",
]


class StrategySettings(ConfigModel):
    """Which aggregation strategy, with its one option where it has one."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Literal["fedavg", "quality_weighted", "fedprox", "median", "trimmed_mean"] = (
        "quality_weighted")
    #: FedProx proximal term μ
    mu: float = Field(default=0.01, gt=0)
    #: trimmed mean: share of values dropped on each side
    trim: float = Field(default=0.2, ge=0, lt=0.5)

    @model_validator(mode="after")
    def _options_of_this_strategy(self) -> StrategySettings:
        # an option set for a strategy that does not take it was silently dropped
        takes = {"fedprox": "mu", "trimmed_mean": "trim"}
        for option in sorted({"mu", "trim"} & self.model_fields_set):
            if takes.get(self.name) != option:
                owner = next(name for name, o in takes.items() if o == option)
                raise ValueError(f"{option} is an option of {owner}, not of {self.name}; "
                                 f"leave it out or set name: {owner}")
        return self

    def build(self) -> Strategy:
        """A fresh strategy object."""
        if self.name == "fedprox":
            return make_strategy("fedprox", mu=self.mu)
        if self.name == "trimmed_mean":
            return make_strategy("trimmed_mean", trim=self.trim)
        return make_strategy(self.name)


class EncryptionSettings(ConfigModel):
    """Encrypted aggregation (:class:`fedcrm.federation.SecureAggregation`) settings.

    On the Flower backend every party reads its key material from files made by
    :func:`fedcrm.federation.backends.flower.write_key_files`: ``keys`` is the public setup
    (threshold public key, roster of signing keys, federation id) every party holds; each
    org's SuperNode additionally gets its own secret file (``--node-config keys=...``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    enabled: bool = False
    #: public setup file (Flower backend); the simulation backend deals keys in memory
    keys: Path | None = None
    #: simulation backend: key size of the in-memory ceremony
    key_bits: int = Field(default=2048, ge=256)
    #: simulation backend: key holders needed to decrypt (default 60 % rounded up)
    quorum: int | None = Field(default=None, ge=1)
    #: allow keys under 2048 bits (tests only)
    allow_insecure_bits: bool = False
    clip: float | None = Field(default=None, gt=0)
    bits: int = Field(default=24, ge=2, le=48)
    max_weight: float | None = Field(default=None, gt=0)
    min_contributors: int = Field(default=2, ge=2)
    on_failure: Literal["raise", "skip"] = "raise"
    #: simulation backend: the session id (the Flower backend reads it from ``keys``)
    federation_id: str | None = None


class FlowerSettings(ConfigModel):
    """How the Flower backend reaches and waits for its participants."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    #: informational (the library does not read it; the deployment's ``flwr`` and
    #: ``flower-supernode`` flags decide): the SuperLink's address (host:port)
    superlink: str = "127.0.0.1:9093"
    #: informational, as ``superlink``: the CA certificate that signed the SuperLink's one
    root_certificates: Path | None = None
    #: informational, as ``superlink``: plain HTTP without TLS (local experiments only)
    insecure: bool = False
    #: participants that must be connected before the first round (default: the roster, or 1)
    min_available: int | None = Field(default=None, ge=1)
    #: how long the ServerApp waits for ``min_available`` participants, in seconds
    connect_timeout: float = Field(default=60.0, gt=0)
    #: the fewest replies a round (or an evaluation) needs to go on; participants that do
    #: not answer within ``round_timeout`` are dropped from the federation
    min_replies: int = Field(default=1, ge=1)
    #: how long one exchange of messages may take before non-answering nodes are dropped
    round_timeout: float = Field(default=300.0, gt=0)
    #: seconds between polls for replies (small: replies are cheap to ask for on loopback)
    poll_interval: float = Field(default=0.05, gt=0)
    #: simulation engine: CPUs reserved per virtual SuperNode (Ray actor)
    simulation_cpus_per_node: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _check_tls(self) -> FlowerSettings:
        if self.insecure and self.root_certificates is not None:
            raise ValueError("insecure = true and root_certificates are exclusive: drop one")
        return self


class FederationConfig(ConfigModel):
    """Everything a federation run needs besides the orgs' data; see the module docstring."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    backend: Literal["simulation", "flower"] = "simulation"
    #: enrolment roster: the orgs expected to take part, in selection order (optional for
    #: plaintext runs, where the orgs that connect are enrolled in id order)
    participants: list[str] | None = None
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    encryption: EncryptionSettings = Field(default_factory=EncryptionSettings)
    privacy: PrivacyConfig | None = None
    flower: FlowerSettings = Field(default_factory=FlowerSettings)

    @model_validator(mode="after")
    def _check(self) -> FederationConfig:
        if self.participants is not None:
            if len(set(self.participants)) != len(self.participants):
                raise ValueError(f"participants has duplicates: {self.participants}")
            if not self.participants:
                raise ValueError("participants, when given, must name at least one org")
            per_round = self.training.participants_per_round
            if per_round is not None and per_round > len(self.participants):
                raise ValueError(
                    f"training.participants_per_round is {per_round} but participants names "
                    f"{len(self.participants)} org(s); lower it or leave it out (every org "
                    "takes part)")
        if self.encryption.enabled and self.strategy.name in ("median", "trimmed_mean"):
            raise ValueError(
                f"strategy {self.strategy.name!r} cannot run with encryption: a median or "
                "trimmed mean needs every update in the clear; use quality_weighted, fedavg "
                "or fedprox with encryption, or the robust strategy without it")
        return self

    @classmethod
    def from_file(cls, path: str | Path) -> FederationConfig:
        """Read a ``.toml``, ``.yaml`` or ``.yml`` file (see :func:`load_federation_config`)."""
        return load_federation_config(path)

    def with_backend(self, backend: Literal["simulation", "flower"]) -> FederationConfig:
        """The same federation on another backend."""
        return self.model_copy(update={"backend": backend})


def _resolve_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the known path settings absolute, relative to the config file's folder."""
    for section, key in (("encryption", "keys"), ("flower", "root_certificates")):
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            value = Path(block[key]).expanduser()
            block[key] = str(value if value.is_absolute() else folder / value)


def load_federation_config(path: str | Path) -> FederationConfig:
    """Load and validate a federation config file; errors name the file and the setting."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"federation config {file} does not exist") from None
    try:
        if file.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif file.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"federation config {file}: use a .toml, .yaml or .yml file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"federation config {file} is not valid {file.suffix[1:]}: "
                          f"{exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"federation config {file} must be a table of settings")
    _resolve_paths(data, file.resolve().parent)
    try:
        return FederationConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"federation config {file}: "
                          f"{validation_problems(exc, root='(top level)')}") from None
