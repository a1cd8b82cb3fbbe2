"""Federated training: participants, coordinator, strategies and backends."""

from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.coordinator import (
    Coordinator,
    EncryptedRound,
    FederationResult,
    FinalCheck,
    RoundRecord,
    read_final_checks,
    read_round_log,
)
from fedcrm.federation.models import MLP, LogisticRegression, get_parameters, make_model
from fedcrm.federation.participant import (
    GateDecision,
    Participant,
    ParticipantData,
    PrivacyHook,
    PrivatizedDelta,
    Update,
)
from fedcrm.federation.privacy import (
    ClientLevelHook,
    DPFedAvg,
    PrivacyBudget,
    PrivacyConfig,
    RecordLevelHook,
    attach_client_level_dp,
    attach_privacy,
    attach_record_level_dp,
)
from fedcrm.federation.secure import (
    FederationKeys,
    SealedUpdate,
    SecureAggregation,
    SecureClient,
    SecureCoordinator,
    key_ceremony,
)
from fedcrm.federation.settings import FederationConfig, load_federation_config
from fedcrm.federation.strategies import (
    CoordinateMedian,
    FedAvg,
    FedProx,
    QualityWeighted,
    Strategy,
    TrimmedMean,
    make_strategy,
)

__all__ = [
    "MLP",
    "ClientLevelHook",
    "CoordinateMedian",
    "Coordinator",
    "DPFedAvg",
    "EncryptedRound",
    "FedAvg",
    "FedProx",
    "FederationConfig",
    "FederationKeys",
    "FederationResult",
    "FinalCheck",
    "GateDecision",
    "LogisticRegression",
    "Participant",
    "ParticipantData",
    "PrivacyBudget",
    "PrivacyConfig",
    "PrivacyHook",
    "PrivatizedDelta",
    "QualityWeighted",
    "RecordLevelHook",
    "RoundRecord",
    "SealedUpdate",
    "SecureAggregation",
    "SecureClient",
    "SecureCoordinator",
    "Strategy",
    "TrainingConfig",
    "TrimmedMean",
    "Update",
    "attach_client_level_dp",
    "attach_privacy",
    "attach_record_level_dp",
    "get_parameters",
    "key_ceremony",
    "load_federation_config",
    "make_model",
    "make_strategy",
    "read_final_checks",
    "read_round_log",
]
