"""What does the model rely on, per group? Attributions, gap decomposition and saliency maps.

* :func:`explain` -> :class:`Explanation`: exact TreeSHAP for tree ensembles,
  exact linear attributions, a permutation estimator for anything else; per
  group summaries (:meth:`Explanation.by_group`) and the exact decomposition
  of the gap in mean output (or loss) between two groups
  (:meth:`Explanation.gap`).
* per-group findings: :func:`attribution_differences`, :func:`proxy_share`
  (over the audit's ``proxies`` result), :func:`ranking_stability`.
* :func:`saliency`: non-negative (n, H, W) maps for PyTorch image models
  (gradients, SmoothGrad, integrated gradients, Grad-CAM) in bounded memory;
  :func:`region_share`, :func:`group_mean_maps` and the model-randomisation
  :func:`sanity_check` of Adebayo et al. (2018).
"""

from ._findings import attribution_differences, flagged_proxies, proxy_share, ranking_stability
from ._image_report import explain_images_report, load_torchscript
from ._report import explain_report, parse_thresholds, saliency_section
from ._saliency import SALIENCY_METHODS, group_mean_maps, region_share, saliency, sanity_check
from ._shap import Explanation, GapDecomposition, estimate_permutation_cost, explain, group_masks

__all__ = [
    "SALIENCY_METHODS",
    "Explanation",
    "attribution_differences",
    "flagged_proxies",
    "proxy_share",
    "ranking_stability",
    "GapDecomposition",
    "estimate_permutation_cost",
    "explain",
    "explain_images_report",
    "explain_report",
    "load_torchscript",
    "parse_thresholds",
    "group_masks",
    "group_mean_maps",
    "region_share",
    "saliency",
    "saliency_section",
    "sanity_check",
]
