"""Data layer: reading tables, inferring column types, declaring column roles."""

from ._dataset import DEFAULT_MAX_LEVELS, MISSING_GROUP, Dataset, as_dataset
from ._groups import MISSING, Groups, encode_groups, group_name
from ._io import load_table, sniff_delimiter
from ._types import COLUMN_TYPES, infer_column_type

__all__ = [
    "COLUMN_TYPES",
    "DEFAULT_MAX_LEVELS",
    "MISSING_GROUP",
    "Dataset",
    "Groups",
    "MISSING",
    "as_dataset",
    "encode_groups",
    "group_name",
    "infer_column_type",
    "load_table",
    "sniff_delimiter",
]
