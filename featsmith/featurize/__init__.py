"""Candidate feature generation: column typing, encoders, operators, relational aggregation."""

from featsmith.featurize._schema import KINDS, infer_column_kind, infer_schema
from featsmith.featurize._table_encoder import TableEncoder

__all__ = ["KINDS", "TableEncoder", "infer_column_kind", "infer_schema"]
