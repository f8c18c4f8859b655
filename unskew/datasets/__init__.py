"""Real datasets (Adult, COMPAS, German credit, CelebA attributes) and synthetic generators.

Synthetic generators plant known problems (label noise in a group, a missing
intersection, a proxy, a shift, outliers, duplicates, group-dependent
missingness) so that checks and mitigations can be tested against a ground
truth.
"""

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
