"""D3M and Auto-D3M: remove the training examples that drive worst-group failures."""

from ._d3m import (
    D3M,
    REMOVAL_RULES,
    SELECTION_RULES,
    auto_pseudo_groups,
    group_alignment_scores,
    removal_verdict,
)
from ._debias import METHODS, DebiasResult, debias

__all__ = ["METHODS", "D3M", "REMOVAL_RULES", "SELECTION_RULES", "DebiasResult", "auto_pseudo_groups", "debias", "group_alignment_scores",
           "removal_verdict"]
