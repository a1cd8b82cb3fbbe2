"""Turn an org's task matrix into the trainer's participant data."""

from __future__ import annotations

from fedcrm.features.extract import TaskMatrix
from fedcrm.federation.participant import ParticipantData


def participant_data(matrix: TaskMatrix) -> ParticipantData:
    """The matrix's train / validation / test splits (the test split is for evaluation only)."""
    return ParticipantData(*matrix.part("train"), *matrix.part("validation"),
                           *matrix.part("test"), feature_names=matrix.space.feature_names)
