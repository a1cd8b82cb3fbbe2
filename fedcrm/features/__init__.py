"""Canonical features: one org's records + its approved mapping → a model-ready matrix in the
task's shared feature space, with privacy filters and data-quality metrics."""

from fedcrm.features.canonical import CanonicalOrg, canonicalize, read_records
from fedcrm.features.convert import Conversion, convert_field
from fedcrm.features.extract import MatrixReport, TaskMatrix, build_task_matrix
from fedcrm.features.privacy_filters import enough_examples, suppress_rare
from fedcrm.features.quality import QualityMetrics, quality_multiplier, quality_score
from fedcrm.features.space import FeatureSpace, SourceSpec, build_feature_space

__all__ = [
    "CanonicalOrg",
    "Conversion",
    "FeatureSpace",
    "MatrixReport",
    "QualityMetrics",
    "SourceSpec",
    "TaskMatrix",
    "build_feature_space",
    "build_task_matrix",
    "canonicalize",
    "convert_field",
    "enough_examples",
    "quality_multiplier",
    "quality_score",
    "read_records",
    "suppress_rare",
]
