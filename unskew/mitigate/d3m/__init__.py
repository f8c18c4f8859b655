"""D3M and Auto-D3M: remove the training examples that drive worst-group failures."""

from ._d3m import D3M, auto_pseudo_groups, group_alignment_scores

__all__ = ["D3M", "auto_pseudo_groups", "group_alignment_scores"]
