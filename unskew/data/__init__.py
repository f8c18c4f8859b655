"""Data layer: reading tables, inferring column types, declaring column roles.

The one group encoding (:mod:`._groups`) and the one feature encoding
(:mod:`._encoding`) of unskew live here too.
"""

from ._dataset import DEFAULT_MAX_LEVELS, MISSING_GROUP, Dataset, as_dataset
from ._encoding import EmbeddingEncoder, EncodedFeatures, FeatureEncoder, tabular_encoder
from ._groups import MISSING, Groups, encode_groups, group_name
from ._io import load_table, sniff_delimiter
from ._types import COLUMN_TYPES, infer_column_type

__all__ = [
    "COLUMN_TYPES",
    "DEFAULT_MAX_LEVELS",
    "MISSING_GROUP",
    "Dataset",
    "EmbeddingEncoder",
    "EncodedFeatures",
    "FeatureEncoder",
    "Groups",
    "MISSING",
    "as_dataset",
    "encode_groups",
    "group_name",
    "infer_column_type",
    "load_table",
    "sniff_delimiter",
    "tabular_encoder",
]
