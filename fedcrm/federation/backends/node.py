"""The org side of the Flower backend: what a SuperNode's ClientApp does with each message.

A :class:`NodeResources` is everything one org brings (its data, quality multiplier, the
shared federation config, its key share and signing key in encrypted mode, and where its
privacy engine keeps state). :class:`NodeAgent` rebuilds the org's
:class:`~fedcrm.federation.Participant` around those resources for every message, restores
the participant's state from the node's ``Context.state`` and answers with plain records
(:mod:`fedcrm.federation.backends.records`). The calls are the in-process ones:
``Participant.check`` (validation gating), ``Participant.train`` (local training with the
privacy hook), ``ParticipantEncryptor.encrypt`` and ``KeyHolder.partial_decrypt``.
"""

from __future__ import annotations

import json
import math
import os
import stat
import warnings
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from filelock import FileLock
from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict

from fedcrm._files import write_atomically
from fedcrm.crypto import (
    KeyHolder,
    KeyShare,
    PackingSpec,
    ParticipantEncryptor,
    ThresholdPublicKey,
    model_digest,
)
from fedcrm.errors import ConfigError, CryptoError, PrivacyBudgetExceeded
from fedcrm.federation.backends.records import (
    GATE_PARAMETERS,
    GATE_STATE,
    SECURE_STATE,
    ConfigValue,
    array_of,
    fields_of,
    pack,
    to_json,
)
from fedcrm.federation.participant import Participant, ParticipantData
from fedcrm.federation.privacy import (
    SEALED_BUDGET_REASON,
    attach_record_level_dp,
    sealed_privacy_report,
)
from fedcrm.federation.secure import _power_of_two_ceiling, participant_weight
from fedcrm.federation.settings import FederationConfig

__all__ = [
    "NodeAgent",
    "NodeResources",
    "OrgSecrets",
    "PublicSetup",
    "load_org_secrets",
    "load_participant_data",
    "load_public_setup",
    "save_participant_data",
    "write_key_files",
]


# ------------------------------------------------------------------------------ key files
@dataclass(frozen=True, repr=False)
class PublicSetup:
    """What every party of an encrypted federation holds: the threshold public key, the
    roster of participants' Ed25519 verification keys and the session id."""

    public_key: ThresholdPublicKey
    roster: Mapping[str, Ed25519PublicKey]
    federation_id: str

    def __repr__(self) -> str:
        return (f"PublicSetup(federation_id={self.federation_id!r}, "
                f"participants={list(self.roster)}, quorum={self.public_key.quorum})")

    def __reduce__(self) -> tuple[Any, ...]:
        # key objects do not pickle; the simulation engine ships resources to its workers
        raw = {pid: key.public_bytes(Encoding.Raw, PublicFormat.Raw)
               for pid, key in self.roster.items()}
        return _setup_from_raw, (self.public_key, raw, self.federation_id)


@dataclass(frozen=True, repr=False)
class OrgSecrets:
    """One org's private key material: its threshold key share and Ed25519 signing key."""

    share: KeyShare
    signing_key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"OrgSecrets(participant_id={self.share.participant_id!r}, …)"

    def __reduce__(self) -> tuple[Any, ...]:
        raw = self.signing_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return _secrets_from_raw, (self.share, raw)


def _setup_from_raw(public_key: ThresholdPublicKey, roster: Mapping[str, bytes],
                    federation_id: str) -> PublicSetup:
    return PublicSetup(public_key, {pid: Ed25519PublicKey.from_public_bytes(key)
                                    for pid, key in roster.items()}, federation_id)


def _secrets_from_raw(share: KeyShare, signing_key: bytes) -> OrgSecrets:
    return OrgSecrets(share, Ed25519PrivateKey.from_private_bytes(signing_key))


def _file_safe(participant_id: str) -> bool:
    """Whether ``participant_id`` can name a file (no path separators, not '.' or '..')."""
    return (participant_id not in ("", ".", "..") and Path(participant_id).name == participant_id
            and "\\" not in participant_id)


def write_key_files(keys: Any, directory: str | Path, *, federation_id: str) -> Path:
    """Split :class:`fedcrm.federation.FederationKeys` into files for a deployment.

    Writes ``federation.json`` (public: key, roster, federation id — give it to every party)
    and ``<org>.secret.json`` per org (its share and signing key, owner-readable only — give
    each to its own org only). Returns the path of ``federation.json``.
    """
    unsafe = [pid for pid in keys.shares if not _file_safe(pid)]
    if unsafe:
        raise ConfigError(f"participant id(s) {unsafe} cannot name a key file: ids used in "
                          "file names must not contain path separators or be '.' / '..'")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    roster = {pid: key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
              for pid, key in keys.roster.items()}
    public = folder / "federation.json"
    public.write_text(json.dumps({"federation_id": federation_id,
                                  "public_key": keys.public_key.to_dict(),
                                  "roster": roster}, indent=1), encoding="utf-8")
    for pid, share in keys.shares.items():
        secret = folder / f"{pid}.secret.json"
        signing = keys.signing_keys[pid].private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
        # owner-readable from the first byte (not written, then chmod-ed)
        write_atomically(secret, json.dumps({"share": share.to_dict(), "signing_key": signing}),
                         private=True)
    return public


#: what a key file of the wrong shape raises while it is read (a list where an object
#: belongs raises AttributeError, a wrong hex string ValueError, …)
_MALFORMED_KEYS = (KeyError, TypeError, ValueError, AttributeError)


def load_public_setup(path: str | Path) -> PublicSetup:
    """Read ``federation.json`` (see :func:`write_key_files`)."""
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        roster = {pid: Ed25519PublicKey.from_public_bytes(bytes.fromhex(key))
                  for pid, key in data["roster"].items()}
        return PublicSetup(ThresholdPublicKey.from_dict(data["public_key"]), roster,
                           str(data["federation_id"]))
    except FileNotFoundError:
        raise ConfigError(f"encryption setup {file} does not exist; make it with "
                          "write_key_files (examples/flower/launch.py does)") from None
    except OSError as exc:
        raise ConfigError(f"encryption setup {file} cannot be read ({exc.strerror or exc}); "
                          "point [encryption] keys at the federation.json file that "
                          "write_key_files wrote") from None
    except ConfigError as exc:  # the key's own checks (a quorum that is no majority, …)
        raise ConfigError(f"encryption setup {file}: {exc}; write it again with "
                          "write_key_files after a new key ceremony") from None
    except _MALFORMED_KEYS as exc:
        raise ConfigError(f"encryption setup {file} is malformed: {exc!r}; write it again "
                          "with write_key_files") from None


def load_org_secrets(path: str | Path) -> OrgSecrets:
    """Read an ``<org>.secret.json`` (see :func:`write_key_files`). Warns (as ssh does) when
    the file is readable or writable by anyone but its owner."""
    file = Path(path)
    try:
        _warn_if_shared(file)
        data = json.loads(file.read_text(encoding="utf-8"))
        return OrgSecrets(KeyShare.from_dict(data["share"]),
                          Ed25519PrivateKey.from_private_bytes(bytes.fromhex(data["signing_key"])))
    except FileNotFoundError:
        raise ConfigError(f"key file {file} does not exist; pass this org's own "
                          "<org>.secret.json as --node-config keys=...") from None
    except OSError as exc:
        raise ConfigError(f"key file {file} cannot be read ({exc.strerror or exc}); pass "
                          "this org's own <org>.secret.json as --node-config keys=...") from None
    except ConfigError as exc:  # KeyShare.from_dict: names the bad entry, never its value
        raise ConfigError(f"key file {file} is malformed: {exc}") from None
    except json.JSONDecodeError as exc:  # its message gives the place, not the text
        raise ConfigError(f"key file {file} is not JSON ({exc})") from None
    except KeyError as exc:
        raise ConfigError(f"key file {file} is malformed: no {exc.args[0]!r} entry") from None
    except _MALFORMED_KEYS as exc:  # never quote the error: it may hold key material
        raise ConfigError(f"key file {file} is malformed ({type(exc).__name__}: check its "
                          "'share' and 'signing_key' entries)") from None


def _warn_if_shared(file: Path) -> None:
    """Warn when a secret key file has group or other permission bits (POSIX only)."""
    if os.name != "posix":
        return
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        warnings.warn(f"key file {file} holds this org's key share and signing key but its "
                      f"permissions are {mode:#o} (other users can access it); restrict it "
                      f"with chmod 600 {file}", RuntimeWarning, stacklevel=3)


# ------------------------------------------------------------------------------ data files
_SPLITS = ("train_x", "train_y", "validation_x", "validation_y", "test_x", "test_y")


def save_participant_data(path: str | Path, data: ParticipantData) -> Path:
    """Store one org's splits as ``.npz`` (what a SuperNode loads with ``data=...``)."""
    file = Path(path)
    np.savez(file, **{name: getattr(data, name) for name in _SPLITS},
             feature_names=np.array(data.feature_names, dtype=str))
    return file


def load_participant_data(path: str | Path) -> ParticipantData:
    """Inverse of :func:`save_participant_data`."""
    file = Path(path)
    try:
        loaded = np.load(file)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it holds one array, not an .npz archive of splits")
        with loaded as arrays:
            splits = [np.asarray(arrays[name]) for name in _SPLITS]
            names = [str(n) for n in arrays["feature_names"]]
    except FileNotFoundError:
        raise ConfigError(f"participant data {file} does not exist; check the SuperNode's "
                          "--node-config data=...") from None
    except KeyError as exc:
        raise ConfigError(f"participant data {file} lacks the array {exc}; write it with "
                          "save_participant_data") from None
    except (OSError, ValueError, TypeError, AttributeError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"participant data {file} is not an .npz file of save_participant_data "
                          f"({exc}); write it with save_participant_data and check the "
                          "SuperNode's --node-config data=...") from None
    # outside the try: ParticipantData's own errors (NaN features, labels) name the split
    return ParticipantData(splits[0], splits[1], splits[2], splits[3], splits[4], splits[5],
                           names)


# ---------------------------------------------------------------------------- resources
@dataclass(repr=False)
class NodeResources:
    """Everything one org's SuperNode brings to the federation (it never leaves the node)."""

    participant_id: str
    data: ParticipantData
    config: FederationConfig
    quality_multiplier: float = 1.0
    #: encrypted mode: the public setup and this org's secrets
    setup: PublicSetup | None = None
    secrets: OrgSecrets | None = None
    #: privacy: where the org's DP engine keeps its state between messages, and its ledger
    state_dir: Path | None = None
    ledger_path: Path | None = None
    #: privacy: seeds the DP noise (experiments only; None draws it from OS entropy)
    privacy_seed: int | None = None

    def __post_init__(self) -> None:
        if self.setup is not None:
            self.setup.public_key.check_size(
                allow_insecure_bits=self.config.encryption.allow_insecure_bits)
        if self.secrets is not None and self.state_dir is None:
            # Context.state lasts one run: a coordinator that starts a new run could have a
            # second, different aggregate of a round decrypted and subtract the two
            raise ConfigError(
                f"participant {self.participant_id!r}: encrypted mode needs a folder where its "
                "key share records the rounds it decrypted, across runs and restarts "
                "(--node-config state-dir=..., or NodeResources(state_dir=...))")

    def __repr__(self) -> str:
        return (f"NodeResources(participant_id={self.participant_id!r}, "
                f"records={len(self.data.train_y)}, encrypted={self.secrets is not None})")

    @classmethod
    def from_node_config(cls, node_config: Mapping[str, Any]) -> NodeResources:
        """Resources named by a SuperNode's ``--node-config``: ``org``, ``data`` (.npz),
        ``config`` (federation file), optional ``quality``, ``keys`` (this org's secret
        file), ``state-dir`` and ``ledger`` (privacy)."""
        missing = [key for key in ("org", "data", "config") if key not in node_config]
        if missing:
            raise ConfigError(
                f"this SuperNode's --node-config lacks {missing}; start it with "
                "--node-config 'org=\"<id>\" data=\"<org.npz>\" config=\"<federation.toml>\"'")
        config = FederationConfig.from_file(str(node_config["config"]))
        setup = secrets = None
        if config.encryption.enabled:
            if config.encryption.keys is None or "keys" not in node_config:
                raise ConfigError("encryption is enabled: set [encryption] keys (the public "
                                  "setup) and this node's --node-config keys=<org>.secret.json")
            setup = load_public_setup(config.encryption.keys)
            secrets = load_org_secrets(str(node_config["keys"]))
        state_dir = node_config.get("state-dir")
        ledger = node_config.get("ledger")
        return cls(participant_id=str(node_config["org"]),
                   data=load_participant_data(str(node_config["data"])), config=config,
                   quality_multiplier=float(node_config.get("quality", 1.0)), setup=setup,
                   secrets=secrets, state_dir=Path(str(state_dir)) if state_dir else None,
                   ledger_path=Path(str(ledger)) if ledger else None)


# --------------------------------------------------------------------------------- agent
class NodeAgent:
    """Answers the coordinator's messages for one org, with the in-process calls."""

    def __init__(self, resources: NodeResources, state: RecordDict) -> None:
        self.resources = resources
        self.state = state
        config = resources.config
        self.participant = Participant(resources.participant_id, resources.data,
                                       config=config.training,
                                       quality_multiplier=resources.quality_multiplier)
        self._restore_gate()
        if config.privacy is not None:
            self._attach_privacy()

    @property
    def participant_id(self) -> str:
        """The org this node speaks for."""
        return self.participant.participant_id

    # ------------------------------------------------------------------ participant state
    def _restore_gate(self) -> None:
        gate = self.state.config_records.get(GATE_STATE)
        if gate is not None and "metric" in gate:
            self.participant.accepted_metric = float(gate["metric"])  # type: ignore[arg-type]
        if gate is not None and "previous_metric" in gate:
            self.participant.previous_metric = float(
                gate["previous_metric"])  # type: ignore[arg-type]
        arrays = self.state.array_records.get(GATE_PARAMETERS)
        if arrays is not None and "parameters" in arrays:
            self.participant.accepted_parameters = np.asarray(arrays["parameters"].numpy())
        if arrays is not None and "previous" in arrays:
            self.participant.previous_parameters = np.asarray(arrays["previous"].numpy())

    def save_gate(self) -> None:
        """Keep the gate's reference for the next message (node-local Context.state)."""
        from flwr.app import Array

        fields: dict[str, Any] = {}
        participant = self.participant
        if participant.accepted_metric is not None:
            fields["metric"] = float(participant.accepted_metric)
        if participant.previous_metric is not None:
            fields["previous_metric"] = float(participant.previous_metric)
        self.state[GATE_STATE] = ConfigRecord(fields)
        arrays = {name: Array(np.asarray(values)) for name, values in (
            ("parameters", participant.accepted_parameters),
            ("previous", participant.previous_parameters)) if values is not None}
        if arrays:
            self.state[GATE_PARAMETERS] = ArrayRecord(arrays)

    def _attach_privacy(self) -> None:
        privacy = self.resources.config.privacy
        assert privacy is not None
        if privacy.mode != "record":
            raise ConfigError(
                "the Flower backend supports record-level DP (DP-SGD in each org) only: "
                "client-level DP plans its noise over the whole federation's roster, which a "
                "single node does not hold; use mode = \"record\" or the simulation backend")
        if self.resources.state_dir is None:
            raise ConfigError(
                f"participant {self.participant_id!r}: privacy needs a folder where its DP "
                "engine keeps its state between rounds (--node-config state-dir=...)")
        budgets = privacy.budgets_for([self.participant_id])
        attach_record_level_dp(
            [self.participant], budgets, self.resources.config.training,
            self.resources.ledger_path,
            accountant="rdp" if privacy.accountant == "rdp" else "prv",
            max_grad_norm=privacy.max_grad_norm, state_dir=self.resources.state_dir,
            seed=self.resources.privacy_seed, secure_mode=privacy.secure_mode)

    # ------------------------------------------------------------------------- handlers
    def enrol(self) -> RecordDict:
        """Enrolment facts: id and width always; sample count and quality in plaintext mode,
        only the power-of-two ceiling of the aggregation weight in encrypted mode, or
        ``refused`` with the reason when this org cannot take part (its weight exceeds
        ``[encryption] max_weight`` or is not positive)."""
        config = self.resources.config
        fields: dict[str, ConfigValue | None] = {
            "participant_id": self.participant_id,
            "n_features": self.participant.data.n_features,
            "encrypted": config.encryption.enabled,
        }
        if config.encryption.enabled:
            weight = participant_weight(config.strategy.build(), self.participant)
            max_weight = config.encryption.max_weight
            if not (np.isfinite(weight) and weight > 0):
                # a refusal, not an exception: the coordinator stops the run naming this org
                fields["refused"] = "it has no positive aggregation weight"
            elif max_weight is not None and weight > max_weight:
                # checked here because only this node knows its weight; the in-process
                # SecureCoordinator refuses the same participant when it is built
                fields["refused"] = (f"its weight is above [encryption] max_weight="
                                     f"{max_weight:g}; raise max_weight in the federation "
                                     "config every party reads")
            else:
                fields["weight_ceiling"] = _power_of_two_ceiling(weight)
        else:
            fields["n_samples"] = self.participant.n_samples
            fields["quality_multiplier"] = self.participant.quality_multiplier
        return pack(fields)

    def train(self, content: RecordDict) -> RecordDict:
        """Gate the incoming model, then train and send the delta (plaintext mode)."""
        fields = fields_of(content)
        parameters = array_of(content, "parameters")
        round_number = int(fields["round"])
        gate = self.participant.check(parameters)
        self.save_gate()
        if not gate.accepted:
            return pack({"accepted": False, "reason": gate.reason})
        try:
            update = self.participant.train(parameters, round_number,
                                            prox_mu=self._prox_mu(fields))
        except PrivacyBudgetExceeded as exc:
            return pack({"accepted": True, "dropped": str(exc)})
        return pack({"accepted": True, "participant_id": update.participant_id,
                     "n_samples": update.n_samples,
                     "quality_multiplier": update.quality_multiplier, "norm": update.norm,
                     "clipped": update.clipped, "train_loss": update.train_loss,
                     "privacy": to_json(update.privacy) if update.privacy else None},
                    {"delta": update.delta})

    def train_encrypted(self, content: RecordDict) -> RecordDict:
        """Gate, train, weight, encrypt and sign (encrypted mode): only bytes leave."""
        fields = fields_of(content)
        parameters = array_of(content, "parameters")
        round_number = int(fields["round"])
        gate = self.participant.check(parameters)
        self.save_gate()
        if not gate.accepted:
            return pack({"accepted": False, "reason": gate.reason})
        spec = self._spec(fields)
        setup, secrets = self._keys()
        rng = self._generator()
        encryptor = ParticipantEncryptor(self.participant_id, setup.public_key, spec,
                                         secrets.signing_key,
                                         federation_id=setup.federation_id, rng=rng)
        # a ClientApp lives for one message, so the "offline" randomness is computed here
        encryptor.precompute(parameters.size)
        try:
            update = self.participant.train(parameters, round_number,
                                            prox_mu=self._prox_mu(fields))
        except PrivacyBudgetExceeded:
            return pack({"accepted": True, "dropped": SEALED_BUDGET_REASON})
        weight = float(self.resources.config.strategy.build().weight(update))
        message = encryptor.encrypt(update.delta, weight, round_number,
                                    model=model_digest(parameters)).to_bytes()
        self._save_secure(generator=rng)
        return pack({"accepted": True, "message": message,
                     "privacy": to_json(sealed_privacy_report(update.privacy))
                     if update.privacy else None})

    def decrypt(self, content: RecordDict) -> RecordDict:
        """Key-holder step: re-verify the forwarded updates, then partially decrypt."""
        fields = fields_of(content)
        setup, secrets = self._keys()
        try:
            spec = self._spec(fields)
        except ConfigError as exc:
            return pack({"refused": str(exc)})
        holder = KeyHolder(secrets.share, setup.public_key, spec,
                           federation_id=setup.federation_id, roster=setup.roster,
                           min_contributors=self.resources.config.encryption.min_contributors)
        # what this holder already decrypted is kept on the node's disk (it outlives the
        # run and the node), so no coordinator gets two different aggregates of one round
        # decrypted, in this run or a later one (KeyHolder's rule); the lock makes reading,
        # deciding and recording one step, since two runs' requests may be handled at once
        path, entry = self._decrypted_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(path.with_name(path.name + ".lock")):
            saved = self._read_decrypted(path)
            holder._decrypted = self._decrypted_rounds(saved, path, entry)
            holder._trained_from = self._decrypted_models(saved, path, entry)
            try:
                partial = holder.partial_decrypt(bytes(fields["aggregate"]),
                                                 [bytes(u) for u in fields["updates"]])
            except CryptoError as exc:
                return pack({"refused": str(exc)})
            # before the partial leaves
            self._save_decrypted(saved, path, entry, holder._decrypted, holder._trained_from)
        return pack({"partial": partial.to_bytes()})

    def validate(self, content: RecordDict) -> RecordDict:
        """Validation AUC of the global model (the round log's per-org metric)."""
        auc = self.participant.evaluate(array_of(content, "parameters"), "validation")["auc"]
        return pack({"auc": auc})

    def resync(self, content: RecordDict) -> RecordDict:
        """After a rollback: the restored model becomes the gate's reference if this org
        accepted it before (:meth:`Participant.rebase`); any other model is checked."""
        gate = self.participant.rebase(array_of(content, "parameters"))
        self.save_gate()
        return pack({"accepted": gate.accepted})

    def test(self, content: RecordDict) -> RecordDict:
        """Test metrics of each candidate model (final, best-validation and averaged)."""
        fields = fields_of(content)
        reports = [self.participant.evaluate(array_of(content, f"candidate_{index}"), "test")
                   for index in range(int(fields["candidates"]))]
        return pack({"metrics": to_json(reports)})

    # --------------------------------------------------------------------------- helpers
    def _keys(self) -> tuple[PublicSetup, OrgSecrets]:
        setup, secrets = self.resources.setup, self.resources.secrets
        if setup is None or secrets is None:
            raise ConfigError(f"participant {self.participant_id!r} was asked for an encrypted "
                              "step but holds no key material (encryption is off here)")
        if secrets.share.participant_id != self.participant_id:
            raise ConfigError(f"node of {self.participant_id!r} holds the key share of "
                              f"{secrets.share.participant_id!r}")
        return setup, secrets

    def _prox_mu(self, fields: Mapping[str, Any]) -> float:
        """The round's proximal term, checked against this org's own copy of the settings:
        FedProx's mu, else ``[training] prox_mu``. A coordinator that gave some orgs a large
        μ would pin their updates to the global model, and the sum of an encrypted round
        would then reveal the other org's update."""
        settings = self.resources.config
        agreed = float(getattr(settings.strategy.build(), "mu", None)
                       or settings.training.prox_mu)
        try:
            asked = float(fields["prox_mu"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise ConfigError(f"participant {self.participant_id!r}: the coordinator's "
                              f"proximal term {fields.get('prox_mu')!r} is not a number"
                              ) from None
        if not math.isclose(asked, agreed, rel_tol=1e-12, abs_tol=0.0):
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator asks for the proximal "
                f"term mu={asked:g}, but this org's federation config says mu={agreed:g}; both "
                "sides must read the same config file")
        return agreed

    def _spec(self, fields: Mapping[str, Any]) -> PackingSpec:
        """The round's packing, checked against this org's own copy of the settings."""
        settings = self.resources.config
        try:
            clip_sent = float(fields["clip"])
            max_weight = float(fields["max_weight"])
            whole = {name: float(fields[name]) for name in ("bits", "max_participants")}
            if not all(value.is_integer() for value in whole.values()):
                raise ValueError("not whole numbers")
        except (KeyError, TypeError, ValueError, OverflowError):
            sent = {k: fields.get(k) for k in ("clip", "bits", "max_participants", "max_weight")}
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator's packing ({sent}) "
                "must hold numbers, bits and max_participants whole ones") from None
        bits, max_participants = int(whole["bits"]), int(whole["max_participants"])
        clip = settings.encryption.clip or settings.training.max_update_norm
        if clip is None or abs(clip_sent - clip) > 1e-12 or bits != settings.encryption.bits:
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator's packing (clip="
                f"{fields['clip']}, bits={fields['bits']}) differs from this org's federation "
                f"config (clip={clip}, bits={settings.encryption.bits}); both sides must read "
                "the same config file")
        setup, _ = self._keys()
        # the coordinator may not choose the packing's other bounds either: a max_weight
        # below this org's weight would make encrypting fail, and failing or not would
        # tell the coordinator the weight (a binary search on max_weight)
        if max_participants != len(setup.roster):
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator's packing is for "
                f"max_participants={fields['max_participants']}, but the encryption setup's "
                f"roster has {len(setup.roster)} participants")
        configured = settings.encryption.max_weight
        if configured is not None:
            agreed = max_weight == configured
        else:
            ceiling = _power_of_two_ceiling(
                participant_weight(settings.strategy.build(), self.participant))
            agreed = max_weight >= ceiling and math.frexp(max_weight)[0] == 0.5
        if not agreed:
            raise ConfigError(
                f"participant {self.participant_id!r}: the coordinator's max_weight="
                f"{max_weight:g} is not "
                + (f"the federation config's [encryption] max_weight={configured:g}"
                   if configured is not None else
                   "a power of two at least the weight ceiling this org sent at enrolment"))
        return PackingSpec(clip=clip_sent, max_participants=max_participants,
                           max_weight=max_weight, bits=bits,
                           key_bits=setup.public_key.n.bit_length())

    def _secure_state(self) -> dict[str, Any]:
        record = self.state.config_records.get(SECURE_STATE)
        return dict(record) if record is not None else {}

    def _generator(self) -> np.random.Generator:
        """The stochastic-rounding generator, continued from the last message (seeded like
        the in-process SecureCoordinator's, so both backends round alike)."""
        saved = self._secure_state().get("generator")
        seed = self.resources.config.training.seed
        generator = np.random.default_rng([seed, zlib.crc32(self.participant_id.encode())])
        if saved:
            generator.bit_generator.state = json.loads(str(saved))
        return generator

    def _decrypted_file(self) -> tuple[Path, str]:
        """The node's record of decrypted rounds, and this key's entry in it (federation id
        and key fingerprint: a new key ceremony starts a new entry)."""
        setup, _ = self._keys()
        assert self.resources.state_dir is not None  # NodeResources requires it with keys
        entry = f"{setup.federation_id}/{setup.public_key.fingerprint().hex()[:32]}"
        # any org id names a file: '/' and other unsafe characters are %-escaped
        name = quote(self.participant_id, safe="") + ".decrypted-rounds.json"
        return self.resources.state_dir / name, entry

    def _read_decrypted(self, path: Path) -> dict[str, Any]:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # never read as "nothing decrypted yet": that would reopen the replay
            raise self._bad_record(path, f"cannot be read ({exc})") from None
        if not isinstance(saved, dict) or not all(isinstance(v, dict) for v in saved.values()):
            raise self._bad_record(path, "is malformed")
        return saved

    def _bad_record(self, path: Path, what: str) -> ConfigError:
        return ConfigError(f"participant {self.participant_id!r}: the record of decrypted "
                           f"rounds {path} {what}; restore it from a backup, or run a new key "
                           "ceremony")

    def _decrypted_rounds(self, saved: Mapping[str, Any], path: Path,
                          entry: str) -> dict[int, bytes]:
        """Round → digest of the aggregate this key share decrypted in that round."""
        rounds = saved.get(entry, {})
        try:
            return {int(k): bytes.fromhex(v) for k, v in rounds.items()}
        except (TypeError, ValueError):
            raise self._bad_record(path, "is malformed") from None

    def _decrypted_models(self, saved: Mapping[str, Any], path: Path,
                          entry: str) -> dict[bytes, frozenset[str]]:
        """Model digest → the participants whose updates trained from that model this key
        share helped decrypt (kept under ``<entry>#models``)."""
        models = saved.get(entry + _MODELS, {})
        try:
            groups = {bytes.fromhex(k): v for k, v in models.items()}
        except (TypeError, ValueError):
            raise self._bad_record(path, "is malformed") from None
        if not all(isinstance(g, list) and all(isinstance(p, str) for p in g)
                   for g in groups.values()):
            raise self._bad_record(path, "is malformed")
        return {k: frozenset(g) for k, g in groups.items()}

    def _save_decrypted(self, saved: dict[str, Any], path: Path, entry: str,
                        decrypted: Mapping[int, bytes],
                        models: Mapping[bytes, frozenset[str]]) -> None:
        """Write ``saved`` (read under the same lock) with this key's entries updated."""
        saved[entry] = {str(k): v.hex() for k, v in sorted(decrypted.items())}
        saved[entry + _MODELS] = {k.hex(): sorted(g) for k, g in models.items()}
        write_atomically(path, json.dumps(saved, indent=1))

    def _save_secure(self, *, generator: np.random.Generator) -> None:
        state = self._secure_state()
        state["generator"] = json.dumps(generator.bit_generator.state)
        self.state[SECURE_STATE] = ConfigRecord(state)


#: suffix of the record entry that lists, per global model, whose updates were decrypted
_MODELS = "#models"


def agent_for(resources: NodeResources, context: Context) -> NodeAgent:
    """The agent of this node for one message (state from the node's Context)."""
    return NodeAgent(resources, context.state)
