"""Federated training: participants, coordinator, strategies and backends."""

from fedcrm.federation.config import TrainingConfig
from fedcrm.federation.coordinator import (
    Coordinator,
    FederationResult,
    RoundRecord,
    read_round_log,
)
from fedcrm.federation.models import MLP, LogisticRegression, get_parameters, make_model
from fedcrm.federation.participant import GateDecision, Participant, ParticipantData, Update
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
    "CoordinateMedian",
    "Coordinator",
    "FedAvg",
    "FedProx",
    "FederationResult",
    "GateDecision",
    "LogisticRegression",
    "Participant",
    "ParticipantData",
    "QualityWeighted",
    "RoundRecord",
    "Strategy",
    "TrainingConfig",
    "TrimmedMean",
    "Update",
    "get_parameters",
    "make_model",
    "make_strategy",
    "read_round_log",
]
