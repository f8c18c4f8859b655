"""Tabular attributions per group and the decomposition of gaps between groups.

:func:`explain` computes Shapley-value attributions of a model's output (or
of its loss) for every row, with the exact algorithm the model allows:

* ``"tree"``: exact path-dependent TreeSHAP (``shap.TreeExplainer``'s
  ``feature_perturbation="tree_path_dependent"``) for scikit-learn, XGBoost
  and LightGBM tree ensembles, compiled with numba and run on all cores, with
  Fast TreeSHAP v2's precomputation where the tables fit (``_treeshap.py``).
* ``"linear"``: exact interventional Shapley values of a linear or logistic
  model in its raw (log-odds) space: ``phi_j = w_j (x_j - E_bg[x_j])``.
* ``"permutation"``: the interventional Shapley value estimated by sampling
  antithetic feature orderings (Strumbelj & Kononenko 2014; all orderings when
  there are few features, which is exact) against a background sample; works
  for any model and for the loss. Its cost is estimated before it runs and it
  stops within a time budget.

A :class:`Explanation` gives the per-group summaries (:meth:`Explanation.by_group`)
and the exact decomposition of the difference of mean outputs between two
groups (:meth:`Explanation.gap`).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError

log = logging.getLogger(__name__)

METHODS = ("auto", "tree", "linear", "permutation")
OUTPUTS = ("model", "loss")


# ----------------------------------------------------------------------------- groups
def group_masks(sensitive: Any, n: int) -> dict[str, np.ndarray]:
    """Boolean row mask per group: each attribute's values, then (with several
    attributes) their intersections, named as everywhere in unskew (``race=Black``,
    ``race=Black & sex=Female``)."""
    if sensitive is None:
        return {}
    try:
        from ..data._groups import encode_groups
    except ImportError:  # before issue 12's shared module lands
        encode_groups = None
    if isinstance(sensitive, pd.Series):
        frame = sensitive.to_frame(name=sensitive.name if sensitive.name is not None else "group")
    elif isinstance(sensitive, pd.DataFrame):
        frame = sensitive
    else:
        arr = np.asarray(sensitive, dtype=object)
        frame = pd.DataFrame(arr.reshape(len(arr), -1) if arr.ndim else arr,
                             columns=["group"] if arr.ndim == 1 else [f"group{i}" for i in range(arr.shape[1])])
    if len(frame) != n:
        raise UnskewInputError(f"sensitive has {len(frame)} rows but X has {n}; pass one value per row of X.")
    frame = frame.reset_index(drop=True)
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    combos = [[c] for c in cols] + ([cols] if len(cols) > 1 else [])
    out: dict[str, np.ndarray] = {}
    for combo in combos:
        if encode_groups is not None:
            g = encode_groups(frame[combo])
            for code, name in enumerate(g.names):
                out[name] = np.asarray(g.codes) == code
        else:
            lab = None
            for c in combo:
                part = f"{c}=" + frame[c].astype("string").fillna("(missing)").astype(str)
                lab = part if lab is None else lab + " & " + part
            cat = pd.Categorical(lab)
            for code, name in enumerate(cat.categories):
                out[str(name)] = np.asarray(cat.codes) == code
    return out


# ----------------------------------------------------------------------------- results
@dataclass
class GapDecomposition:
    """Per-feature contributions to ``mean output(group_a) - mean output(group_b)``.

    ``table`` has one row per feature (``contribution``, bootstrap ``low`` and
    ``high``, ``share`` of the difference), largest first;
    ``contributions.sum() + base_difference == difference`` exactly.
    """

    group_a: str
    group_b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    difference_low: float
    difference_high: float
    base_difference: float
    table: pd.DataFrame
    confidence: float

    @property
    def contributions(self) -> pd.Series:
        return self.table.set_index("feature")["contribution"]

    def to_dict(self) -> dict:
        return {
            "group_a": self.group_a, "group_b": self.group_b, "n_a": self.n_a, "n_b": self.n_b,
            "mean_a": self.mean_a, "mean_b": self.mean_b, "difference": self.difference,
            "difference_low": self.difference_low, "difference_high": self.difference_high,
            "base_difference": self.base_difference, "confidence": self.confidence,
            "contributions": self.table.to_dict(orient="records"),
        }


@dataclass
class Explanation:
    """Attributions of a model's output (or loss) for each row.

    Attributes
    ----------
    values : ndarray of shape (n, d)
        Attribution of each feature for each row.
    base_value : float or ndarray of shape (n,)
        Expected output the attributions start from; ``base_value +
        values.sum(axis=1)`` is the explained output of each row.
    feature_names : list of str
    output : str
        What is explained: ``log_odds``, ``raw``, ``probability``,
        ``prediction`` or ``loss``.
    method : str
        ``tree``, ``linear`` or ``permutation``.
    groups : dict
        Group name -> boolean row mask (empty without ``sensitive``).
    """

    values: np.ndarray
    base_value: Any
    feature_names: list[str]
    output: str
    method: str
    groups: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def outputs(self) -> np.ndarray:
        """The explained output of each row (base value plus the row's attributions)."""
        return np.asarray(self.base_value, float) + self.values.sum(axis=1)

    def _mask(self, group: str) -> np.ndarray:
        if group in ("all", "*"):
            return np.ones(len(self.values), bool)
        if group not in self.groups:
            have = ", ".join(list(self.groups)[:12]) or "none (pass sensitive=...)"
            raise UnskewInputError(f"Unknown group {group!r}; the groups are: {have}.")
        return self.groups[group]

    def by_group(self, *, absolute: bool = True) -> pd.DataFrame:
        """Mean attribution per feature (rows) and group (columns; ``all`` first,
        then each attribute's values and their intersections).

        With ``absolute=True`` (default) the mean of ``|attribution|``, the usual
        importance; otherwise the signed mean, which shows the direction.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from unskew.explain import explain
        >>> X = np.array([[0., 1.], [1., 0.], [2., 1.], [3., 0.]])
        >>> m = LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
        >>> e = explain(m, X, sensitive=["a", "a", "b", "b"])
        >>> e.by_group().round(2)["group=a"].tolist()
        [2.5, 0.5]
        """
        v = np.abs(self.values) if absolute else self.values
        cols = {"all": v.mean(axis=0)}
        for name, mask in self.groups.items():
            cols[name] = v[mask].mean(axis=0) if mask.any() else np.full(v.shape[1], np.nan)
        return pd.DataFrame(cols, index=pd.Index(self.feature_names, name="feature"))

    def group_sizes(self) -> dict[str, int]:
        return {name: int(mask.sum()) for name, mask in self.groups.items()}

    def gap(self, group_a: str, group_b: str, *, n_boot: int = 500, confidence: float = 0.95,
            random_state: int | None = 0) -> GapDecomposition:
        """Decompose ``mean output(group_a) - mean output(group_b)`` into per-feature parts.

        Because every row's output is ``base_value + sum(values)``, the
        difference of the group means is exactly the sum over features of the
        differences of mean attributions (plus the difference of mean base
        values, zero unless the base value varies by row, as for the loss).
        Intervals are percentile bootstrap intervals, resampling rows within
        each group.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from unskew.explain import explain
        >>> X = np.array([[0., 1.], [1., 0.], [2., 1.], [3., 0.]])
        >>> m = LinearRegression().fit(X, X[:, 0] * 2 + X[:, 1])
        >>> g = explain(m, X, sensitive=["a", "a", "b", "b"]).gap("group=b", "group=a")
        >>> round(g.difference, 6), round(float(g.contributions.sum()), 6)
        (4.0, 4.0)
        """
        if not 0 < confidence < 1:
            raise UnskewInputError(f"confidence must be in (0, 1), got {confidence}.")
        ma, mb = self._mask(group_a), self._mask(group_b)
        if not ma.any() or not mb.any():
            empty = group_a if not ma.any() else group_b
            raise UnskewInputError(f"Group {empty!r} has no rows; pick two groups that both occur.")
        va, vb = self.values[ma], self.values[mb]
        base = np.broadcast_to(np.asarray(self.base_value, float), (len(self.values),))
        ba, bb = base[ma], base[mb]
        contrib = va.mean(axis=0) - vb.mean(axis=0)
        base_diff = float(ba.mean() - bb.mean())
        out = self.outputs
        mean_a, mean_b = float(out[ma].mean()), float(out[mb].mean())
        rng = np.random.default_rng(random_state)
        lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
        if n_boot and n_boot > 0:
            wa = rng.multinomial(len(va), np.full(len(va), 1 / len(va)), size=n_boot) / len(va)
            wb = rng.multinomial(len(vb), np.full(len(vb), 1 / len(vb)), size=n_boot) / len(vb)
            boot = wa @ va - wb @ vb
            boot_total = boot.sum(axis=1) + (wa @ ba - wb @ bb)
            low, high = np.quantile(boot, lo_q, axis=0), np.quantile(boot, hi_q, axis=0)
            d_low, d_high = np.quantile(boot_total, [lo_q, hi_q])
        else:
            low = high = np.full(len(contrib), np.nan)
            d_low = d_high = np.nan
        diff = mean_a - mean_b
        table = pd.DataFrame({
            "feature": self.feature_names, "contribution": contrib, "low": low, "high": high,
            "share": contrib / diff if diff != 0 else np.full(len(contrib), np.nan),
        })
        table = table.reindex(table["contribution"].abs().sort_values(ascending=False).index).reset_index(drop=True)
        return GapDecomposition(group_a, group_b, int(ma.sum()), int(mb.sum()), mean_a, mean_b, diff,
                                float(d_low), float(d_high), base_diff, table, confidence)

    def top_features(self, k: int = 10) -> list[str]:
        imp = np.abs(self.values).mean(axis=0)
        return [self.feature_names[i] for i in np.argsort(-imp, kind="stable")[:k]]


# ----------------------------------------------------------------------------- model plumbing
def _split_pipeline(model):
    """(preprocessing or None, final estimator)."""
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1 and type(model).__name__ == "Pipeline":
        return model[:-1], model[-1]
    return None, model


def _input_frame(model, X, sensitive) -> tuple[pd.DataFrame | np.ndarray, list[str]]:
    """The rows as the model takes them, and the input feature names."""
    if isinstance(X, pd.DataFrame):
        names_in = getattr(model, "feature_names_in_", None)
        if names_in is not None:
            cols = [str(c) for c in names_in]
            missing = [c for c in cols if c not in X.columns]
            if missing:
                raise UnskewInputError(f"X lacks the model's input column(s) {missing[:8]}; pass the table the "
                                       f"model was trained on.")
            return X[cols].reset_index(drop=True), cols
        cols = [str(c) for c in X.columns]
        drop = [c for c in (sensitive if isinstance(sensitive, (list, tuple)) else []) if isinstance(c, str)]
        n_in = getattr(model, "n_features_in_", None)
        if drop and n_in is not None and n_in == len(cols) - len([c for c in drop if c in cols]):
            cols = [c for c in cols if c not in drop]
        return X[cols].reset_index(drop=True), cols
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise UnskewInputError(f"X must be a 2-D table (rows x features), got shape {arr.shape}.")
    return arr, [f"x{i}" for i in range(arr.shape[1])]


def _resolve_sensitive(sensitive, X) -> Any:
    if isinstance(sensitive, str):
        sensitive = [sensitive]
    if isinstance(sensitive, (list, tuple)) and sensitive and all(isinstance(s, str) for s in sensitive) \
            and isinstance(X, pd.DataFrame) and all(s in X.columns for s in sensitive):
        return X[list(sensitive)].reset_index(drop=True)
    if isinstance(sensitive, (list, tuple)) and sensitive and all(isinstance(s, str) for s in sensitive) \
            and isinstance(X, pd.DataFrame) and len(sensitive) != len(X):
        missing = [s for s in sensitive if s not in X.columns]
        raise UnskewInputError(f"Sensitive column(s) {missing} are not columns of X; have {list(X.columns)[:12]}.")
    return sensitive


def _input_map(pre, cols: list[str], names_out: list[str]) -> np.ndarray | None:
    """(n_encoded, n_inputs) 0/1 matrix: which input column each encoded feature comes from."""
    d_out = len(names_out)
    M = np.zeros((d_out, len(cols)))
    ct = pre
    if type(pre).__name__ == "Pipeline":
        cts = [s for _, s in pre.steps if type(s).__name__ == "ColumnTransformer"]
        if len(pre.steps) != 1 or not cts:
            ct = cts[0] if (cts and pre.steps[0][1] is cts[0]) else None
            if ct is None:
                return None if d_out != len(cols) else np.eye(len(cols))
            # later steps must keep the width (scalers etc.)
        else:
            ct = cts[0]
    if type(ct).__name__ != "ColumnTransformer":
        return np.eye(len(cols)) if d_out == len(cols) else None
    if getattr(ct, "output_indices_", None) is None:
        return None
    pos = {c: i for i, c in enumerate(cols)}
    for name, trans, tcols in ct.transformers_:
        sl = ct.output_indices_.get(name)
        if sl is None or trans == "drop" or sl.stop <= sl.start:
            continue
        tcols = [cols[c] if isinstance(c, (int, np.integer)) else str(c) for c in np.atleast_1d(tcols)]
        width = sl.stop - sl.start
        if width == len(tcols):
            for k, c in enumerate(tcols):
                M[sl.start + k, pos[c]] = 1
            continue
        for k in range(sl.start, sl.stop):
            nm = names_out[k].split("__", 1)[-1]
            best = None
            for c in tcols:
                if (nm == c or nm.startswith(c + "_")) and (best is None or len(c) > len(best)):
                    best = c
            if best is None:
                return None
            M[k, pos[best]] = 1
    if not np.all(M.sum(axis=1) == 1):
        return None
    return M


def _dense(Z) -> np.ndarray:
    if hasattr(Z, "toarray"):
        Z = Z.toarray()
    try:
        return np.ascontiguousarray(np.asarray(Z, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise UnskewInputError(f"The model's inputs are not numeric ({exc}); encode them or use a Pipeline "
                               f"with the encoder.") from exc


def _is_linear(est) -> bool:
    if not hasattr(est, "coef_") or not hasattr(est, "intercept_"):
        return False
    mod = type(est).__module__
    return mod.startswith("sklearn.linear_model") or mod.startswith("sklearn.svm") and "Linear" in type(est).__name__


def _is_classifier(model) -> bool:
    return hasattr(model, "classes_") or hasattr(model, "predict_proba")


# ----------------------------------------------------------------------------- exact: trees
def tree_shap(trees, Z: np.ndarray, algorithm: str = "auto") -> np.ndarray:
    """Exact path-dependent TreeSHAP values of the flat ensemble for rows ``Z``."""
    try:
        from . import _treeshap as ts
    except ImportError as exc:  # numba missing
        from ..exceptions import MissingExtraError

        raise MissingExtraError("numba", "explain", "exact TreeSHAP") from exc
    X = np.ascontiguousarray(Z, np.float64)
    out = np.zeros((X.shape[0], X.shape[1]))
    if algorithm in ("auto", "v2"):
        key = "_v2_cache"
        cache = getattr(trees, key, None)
        if cache is None:
            cache = ts.build_v2(trees.roots, trees.left, trees.right, trees.default, trees.feature, trees.thr,
                                trees.value, trees.cover) if trees.max_depth <= 32 else (None, trees.roots)
            object.__setattr__(trees, key, cache)
        arrays, v1_roots = cache
        if arrays is not None and len(arrays[6]):
            ts.shap_v2(X, *arrays, out)
    else:
        v1_roots = trees.roots
    if len(v1_roots):
        ts.shap_v1(X, np.asarray(v1_roots, np.int64), trees.left, trees.right, trees.default, trees.feature,
                   trees.thr, trees.value, trees.cover, trees.max_depth, out)
    return out


def _tree_attributions(final, Z, class_index, algorithm, Zraw=None):
    from . import _treeshap as ts
    from ._trees import flatten

    trees = flatten(final, class_index)
    if trees is None:
        return None
    if Z.shape[1] and trees.feature.max(initial=0) >= Z.shape[1]:
        raise UnskewInputError(f"The model splits on feature {int(trees.feature.max())} but X has {Z.shape[1]}.")
    Zc = Z.astype(np.float32).astype(np.float64) if trees.float32 else Z
    raw = np.asarray(trees.raw(Z if Zraw is None else Zraw), float)
    check = slice(0, min(len(Zc), 500))
    summed = ts.tree_predict(Zc[check], trees.roots, trees.left, trees.right, trees.default, trees.feature,
                             trees.thr, trees.value)
    if np.isnan(trees.offset):
        trees.offset = float(np.mean(raw[check] - summed))
    err = np.max(np.abs(raw[check] - summed - trees.offset), initial=0.0)
    tol = 1e-4 * max(1.0, float(np.max(np.abs(raw[check]), initial=0.0)))
    if err > tol:
        raise RuntimeError(f"internal: the extracted trees of {type(final).__name__} disagree with its "
                           f"predictions by {err:.3g}; please report this")
    values = tree_shap(trees, Zc, algorithm)
    return values, trees.expected_value, trees.output, raw


# ----------------------------------------------------------------------------- exact: linear
def _linear_attributions(final, Z, Zbg, class_index, Zraw=None):
    coef = np.asarray(final.coef_, float)
    icpt = np.atleast_1d(np.asarray(final.intercept_, float))
    if coef.ndim == 2 and coef.shape[0] > 1:
        k = class_index if class_index is not None else coef.shape[0] - 1
        w, b = coef[k], icpt[k]
        out = "raw"
    else:
        w, b = coef.ravel(), icpt[0]
        out = "log_odds" if type(final).__name__ == "LogisticRegression" else "raw"
    mu = Zbg.mean(axis=0)
    values = (Z - mu) * w
    base = float(mu @ w + b)
    if hasattr(final, "decision_function"):
        raw = np.asarray(final.decision_function(Z if Zraw is None else Zraw), float)
        if raw.ndim == 2:
            raw = raw[:, k]
    else:
        raw = np.asarray(final.predict(Z if Zraw is None else Zraw), float).ravel()
    return values, base, out, raw


# ----------------------------------------------------------------------------- permutation
def _output_fn(model, output: str, class_index):
    """(predict(frame) -> per-row model output, score(output, y or None) -> per-row value, name)."""
    if _is_classifier(model) and hasattr(model, "predict_proba"):
        classes = getattr(model, "classes_", None)

        def proba(Xb):
            return np.asarray(model.predict_proba(Xb), float)

        if output == "loss":
            def score_loss(p, yb):
                idx = np.searchsorted(np.asarray(classes), yb) if classes is not None else np.asarray(yb, int)
                return -np.log(np.clip(p[np.arange(len(p)), idx], 1e-12, 1.0))
            return proba, score_loss, "loss"
        k = class_index if class_index is not None else (len(classes) - 1 if classes is not None else 1)

        def score_p(p, yb=None):
            return p[:, k]
        return proba, score_p, "probability"

    def pred(Xb):
        return np.asarray(model.predict(Xb), float).ravel()

    if output == "loss":
        def score_se(v, yb):
            return (v - np.asarray(yb, float)) ** 2
        return pred, score_se, "loss"

    def ident(v, yb=None):
        return v
    return pred, ident, "prediction"


def _orderings(d: int, n_permutations: int, rng) -> np.ndarray:
    if d <= 1:
        return np.zeros((1, d), np.int64)
    if math.factorial(d) <= n_permutations:
        return np.asarray(list(itertools.permutations(range(d))), np.int64)
    half = max(1, n_permutations // 2)
    p = np.stack([rng.permutation(d) for _ in range(half)])
    return np.concatenate([p, p[:, ::-1]])


class _Rebuild:
    """Turns a stacked object/float array back into what the model takes."""

    def __init__(self, X):
        self.frame = isinstance(X, pd.DataFrame)
        if self.frame:
            self.columns = list(X.columns)
            self.dtypes = X.dtypes
            self.numeric = all(pd.api.types.is_numeric_dtype(t) for t in self.dtypes)

    def array(self, X) -> np.ndarray:
        if self.frame:
            return X.to_numpy(dtype=float if self.numeric else object)
        return np.asarray(X)

    def __call__(self, arr):
        if not self.frame:
            return arr
        df = pd.DataFrame(arr, columns=self.columns)
        return df if self.numeric else df.astype(self.dtypes.to_dict())


def estimate_permutation_cost(model, X, background, *, n_permutations: int = 10, output: str = "model",
                              class_index=None) -> dict:
    """Seconds the permutation estimator would take (from timing one model call).

    Returns a dict with ``seconds``, ``model_rows`` (rows the model is called
    on) and ``seconds_per_row``.
    """
    predict, score, _ = _output_fn(model, output, class_index)
    rb = _Rebuild(X)
    bg = rb.array(background)
    n = len(X)
    d = bg.shape[1]
    P = len(_orderings(d, n_permutations, np.random.default_rng(0)))
    probe = np.concatenate([bg] * max(1, 2000 // max(len(bg), 1)))[:2000]
    yb = np.zeros(len(probe)) if output == "loss" else None
    if output == "loss" and getattr(model, "classes_", None) is not None:
        yb = np.repeat(np.asarray(model.classes_)[:1], len(probe))
    t0 = time.perf_counter()
    score(predict(rb(probe)), yb)
    per_row = (time.perf_counter() - t0) / len(probe)
    rows = n * (P * max(d - 1, 0) * len(bg) + len(bg) + 1)
    return {"seconds": rows * per_row, "model_rows": int(rows), "seconds_per_row": per_row, "n_permutations": P}


def _permutation_attributions(model, X, background, y, output, class_index, n_permutations, rng,
                              time_budget_s, on_estimate):
    predict, score, out_name = _output_fn(model, output, class_index)
    rb = _Rebuild(X)
    xs = rb.array(X)
    bg = rb.array(background)
    n, d = xs.shape
    nb = len(bg)
    est = estimate_permutation_cost(model, X, background, n_permutations=n_permutations, output=output,
                                    class_index=class_index)
    P = n_permutations
    while est["seconds"] > time_budget_s and P > 2 and math.factorial(d) > 2:
        P = max(2, P // 2)
        est = estimate_permutation_cost(model, X, background, n_permutations=P, output=output,
                                        class_index=class_index)
    msg = (f"permutation estimator: {n} rows x {est['n_permutations']} orderings x {d} features x {nb} "
           f"background rows = {est['model_rows']:,} model rows, about {est['seconds']:.1f} s")
    log.info(msg)
    if on_estimate is not None:
        on_estimate(est | {"message": msg})
    if est["seconds"] > time_budget_s:
        raise UnskewInputError(
            f"The permutation estimator would take about {est['seconds']:.0f} s ({msg}), over the time budget of "
            f"{time_budget_s:.0f} s. Explain fewer rows, pass a smaller background, or raise time_budget_s.")
    orders = _orderings(d, P, rng)
    n_ord = len(orders)
    # masks[p, k] = features in the coalition after k+1 steps of ordering p (k = 0..d-2)
    masks = np.zeros((n_ord, max(d - 1, 0), d), bool)
    for p in range(n_ord):
        for k in range(d - 1):
            masks[p, k, orders[p, : k + 1]] = True
    values = np.zeros((n, d))
    base = np.zeros(n)
    yarr = None if y is None else np.asarray(y)
    pred_bg = predict(rb(bg))
    if output == "model":
        v_empty = float(np.mean(score(pred_bg, None)))
    else:  # mean background loss for each distinct label, computed once
        labels = np.unique(yarr)
        v_label = {lab: float(np.mean(score(pred_bg, np.repeat(np.asarray([lab]), nb)))) for lab in labels}
    start = time.perf_counter()
    per_call = max(1, 200_000 // max(1, n_ord * max(d - 1, 1) * nb))
    for s in range(0, n, per_call):
        rows = range(s, min(n, s + per_call))
        batch = [np.where(masks[:, :, None, :], xs[r][None, None, None, :], bg[None, None, :, :]) for r in rows]
        stacked = np.concatenate([b.reshape(-1, d) for b in batch]) if d > 1 else np.zeros((0, d), bg.dtype)
        yb = None
        if output == "loss":
            yb = np.concatenate([np.repeat(yarr[r:r + 1], n_ord * (d - 1) * nb) for r in rows]) if d > 1 else None
        vals = score(predict(rb(stacked)), yb) if len(stacked) else np.zeros(0)
        vals = vals.reshape(len(rows), n_ord, max(d - 1, 0), nb).mean(axis=3) if d > 1 else None
        full = score(predict(rb(xs[s:s + len(rows)])), None if yarr is None else yarr[s:s + len(rows)])
        for j, r in enumerate(rows):
            if output == "loss":
                ve = v_label[yarr[r]]
            else:
                ve = v_empty
            chain = np.empty((n_ord, d + 1))
            chain[:, 0] = ve
            if d > 1:
                chain[:, 1:d] = vals[j]
            chain[:, d] = full[j]
            marg = np.diff(chain, axis=1)  # marg[p, k] = contribution of orders[p, k]
            phi = np.zeros(d)
            for p in range(n_ord):
                phi[orders[p]] += marg[p]
            values[r] = phi / n_ord
            base[r] = ve
        if time.perf_counter() - start > 2 * time_budget_s:
            raise UnskewInputError(
                f"The permutation estimator ran past twice its time budget ({time_budget_s:.0f} s) after "
                f"{s + len(rows)} of {n} rows; explain fewer rows or pass a smaller background.")
    base_value = float(base[0]) if output == "model" else base
    return values, base_value, out_name, None, {"n_permutations": n_ord, "background_rows": nb,
                                                "estimate": est}


# ----------------------------------------------------------------------------- the entry point
def explain(model, X, *, sensitive=None, background=None, method: str = "auto", random_state: int | None = 0,
            y=None, output: str = "model", class_index: int | None = None, n_permutations: int = 10,
            max_background: int = 100, time_budget_s: float = 300.0,
            on_estimate: Callable[[dict], None] | None = None, algorithm: str = "auto") -> Explanation:
    """Attribute a model's output (or loss) for each row of ``X`` to its features.

    Parameters
    ----------
    model : estimator
        A fitted scikit-learn estimator or Pipeline (a final tree ensemble or
        linear model behind a ``ColumnTransformer`` is explained exactly, in the
        encoded space, and the encoded columns are summed back to the input
        column they came from), an XGBoost or LightGBM model, or any object with
        ``predict_proba``/``predict`` (permutation estimator).
    X : DataFrame or array of shape (n, d)
        Rows to explain.
    sensitive : column name(s) of X, Series, DataFrame or array, optional
        Sensitive attribute(s); groups are each attribute's values and their
        intersections, named ``attr=value`` (``race=Black & sex=Female``).
    background : DataFrame or array, optional
        Reference rows for the linear and permutation methods (default: a
        sample of ``max_background`` rows of ``X``). Path-dependent TreeSHAP
        uses the training cover stored in the trees instead.
    method : {"auto", "tree", "linear", "permutation"}
        ``auto`` uses the exact method the model allows.
    random_state : int, optional
        Seeds the background sample and the orderings.
    y : array, optional
        True labels; needed for ``output="loss"``.
    output : {"model", "loss"}
        Explain the model's output, or its per-row loss (log loss of a
        classifier, squared error of a regressor; permutation estimator).
    class_index : int, optional
        Which class to explain for a multi-class model (default: the last).
    n_permutations : int, default 10
        Orderings per row for the permutation estimator (antithetic pairs).
    time_budget_s : float, default 300
        The permutation estimator refuses to start when its estimated time is
        over this (after lowering ``n_permutations`` down to 2).
    on_estimate : callable, optional
        Called with the permutation estimator's cost estimate before it runs.

    Returns
    -------
    Explanation

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from unskew.explain import explain
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    >>> m = HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    >>> e = explain(m, X, sensitive=np.where(X[:, 1] > 0, "hi", "lo"))
    >>> bool(np.allclose(e.outputs, m.decision_function(X)))
    True
    """
    if method not in METHODS:
        raise UnskewInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}.")
    if output not in OUTPUTS:
        raise UnskewInputError(f"output must be 'model' or 'loss', got {output!r}.")
    if output == "loss" and y is None:
        raise UnskewInputError("output='loss' needs the true labels: pass y=...")
    rng = np.random.default_rng(random_state)
    sens = _resolve_sensitive(sensitive, X)
    Xin, cols = _input_frame(model, X, sensitive)
    n = len(Xin)
    if n == 0:
        raise UnskewInputError("X has no rows to explain.")
    if y is not None and len(y) != n:
        raise UnskewInputError(f"y has {len(y)} values but X has {n} rows.")
    groups = group_masks(sens, n) if sens is not None else {}
    if background is None:
        idx = rng.choice(n, size=min(max_background, n), replace=False)
        bg = Xin.iloc[np.sort(idx)] if isinstance(Xin, pd.DataFrame) else Xin[np.sort(idx)]
    else:
        bg, _ = _input_frame(model, background, sensitive)
        if len(bg) > max_background:
            idx = np.sort(rng.choice(len(bg), size=max_background, replace=False))
            bg = bg.iloc[idx] if isinstance(bg, pd.DataFrame) else bg[idx]
    details: dict = {"rows": n}
    t0 = time.perf_counter()
    res = None
    if output == "model" and method in ("auto", "tree", "linear"):
        pre, final = _split_pipeline(model)
        Z = _dense(pre.transform(Xin)) if pre is not None else _dense(Xin)
        M = None
        if pre is not None:
            try:
                names_out = [str(s) for s in pre.get_feature_names_out()]
            except Exception:
                names_out = [f"z{i}" for i in range(Z.shape[1])]
            M = _input_map(pre, cols, names_out)
            if M is None:
                cols = names_out  # attributions stay in the encoded space
        if method in ("auto", "tree"):
            res = _tree_attributions(final, Z, class_index, algorithm, Xin if pre is None else None)
            if res is not None:
                res = (*res, "tree")
            elif method == "tree":
                raise UnskewInputError(f"method='tree' needs a supported tree ensemble; "
                                       f"{type(final).__name__} is not one. Use method='auto'.")
        if res is None and method in ("auto", "linear"):
            if _is_linear(final):
                Zbg = _dense(pre.transform(bg)) if pre is not None else _dense(bg)
                res = (*_linear_attributions(final, Z, Zbg, class_index, Xin if pre is None else None), "linear")
                details["background_rows"] = len(Zbg)
                details["perturbation"] = "interventional"
            elif method == "linear":
                raise UnskewInputError(f"method='linear' needs a linear model; {type(final).__name__} is not one.")
        if res is not None:
            values, base, out_name, raw, used = res
            if M is not None:
                values = values @ M
            details["max_additivity_error"] = float(np.max(np.abs(base + values.sum(axis=1) - raw), initial=0))
            if used == "tree":
                details["perturbation"] = "tree_path_dependent"
    if res is None:
        values, base, out_name, _, extra = _permutation_attributions(
            model, Xin, bg, y, output, class_index, n_permutations, rng, time_budget_s, on_estimate)
        details.update(extra)
        details["perturbation"] = "interventional"
        used = "permutation"
    details["seconds"] = time.perf_counter() - t0
    return Explanation(values=np.asarray(values, float), base_value=base, feature_names=list(cols),
                       output=out_name, method=used, groups=groups, details=details)
