"""Real datasets (Adult, COMPAS, German credit, CelebA attributes) and synthetic generators.

Synthetic generators plant known problems (label noise in a group, a missing
intersection, a proxy, a shift, outliers, duplicates, group-dependent
missingness) so that checks and mitigations can be tested against a ground
truth.
"""

from ._home import (
    DATA_HOME_ENV,
    REMOTE_FILES,
    URL_ENV,
    ChecksumError,
    RemoteFile,
    fetch_dataset,
    fetch_file,
    get_data_home,
    sha256_of,
)
from ._loaders import (
    ADULT_COLUMNS,
    CELEBA_SPLITS,
    COMPAS_COLUMNS,
    DATASETS,
    DEFAULT_ROLES,
    GERMAN_AGE_THRESHOLD,
    GERMAN_ATTRIBUTES,
    DatasetInfo,
    load,
    load_adult,
    load_celeba_attributes,
    load_compas,
    load_german,
)
from ._synthetic import (
    GROUP_EFFECTS,
    RACE_SHARES,
    SEX_SHARES,
    make_synthetic,
    match_rows,
    plant_duplicates,
    plant_label_noise,
    plant_missing_intersection,
    plant_missingness,
    plant_outliers,
    plant_proxy,
    plant_shift,
)

__all__ = [
    "ADULT_COLUMNS",
    "CELEBA_SPLITS",
    "COMPAS_COLUMNS",
    "DATASETS",
    "DATA_HOME_ENV",
    "DEFAULT_ROLES",
    "GERMAN_AGE_THRESHOLD",
    "GERMAN_ATTRIBUTES",
    "REMOTE_FILES",
    "URL_ENV",
    "ChecksumError",
    "DatasetInfo",
    "RemoteFile",
    "fetch_dataset",
    "fetch_file",
    "get_data_home",
    "load",
    "load_adult",
    "load_celeba_attributes",
    "load_compas",
    "load_german",
    "sha256_of",
    "GROUP_EFFECTS",
    "RACE_SHARES",
    "SEX_SHARES",
    "make_synthetic",
    "match_rows",
    "plant_duplicates",
    "plant_label_noise",
    "plant_missing_intersection",
    "plant_missingness",
    "plant_outliers",
    "plant_proxy",
    "plant_shift",
]
