"""Candidate feature generation: column typing, encoders, operators, relational aggregation."""

from featsmith.featurize._generator import FeatureGenerator, GeneratedCandidates, time_periods
from featsmith.featurize._ops import OPERATOR_NAMES
from featsmith.featurize._plan import FeaturePlan
from featsmith.featurize._relational import PRIMITIVES, RelationalSynth
from featsmith.featurize._schema import KINDS, infer_column_kind, infer_schema, looks_like_id_name
from featsmith.featurize._table_encoder import TableEncoder

__all__ = [
    "FeatureGenerator",
    "FeaturePlan",
    "GeneratedCandidates",
    "KINDS",
    "OPERATOR_NAMES",
    "PRIMITIVES",
    "RelationalSynth",
    "TableEncoder",
    "infer_column_kind",
    "infer_schema",
    "looks_like_id_name",
    "time_periods",
]
