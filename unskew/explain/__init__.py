"""What does the model rely on, per group? Attributions, gap decomposition and saliency maps.

* :func:`explain` -> :class:`Explanation`: exact TreeSHAP for tree ensembles,
  exact linear attributions, a permutation estimator for anything else; per
  group summaries (:meth:`Explanation.by_group`) and the exact decomposition
  of the gap in mean output (or loss) between two groups
  (:meth:`Explanation.gap`).
"""

from ._shap import Explanation, GapDecomposition, estimate_permutation_cost, explain, group_masks

__all__ = ["Explanation", "GapDecomposition", "estimate_permutation_cost", "explain", "group_masks"]
