"""Tree ensembles of several libraries in one flat format for the TreeSHAP kernels.

Supported: scikit-learn ``HistGradientBoosting{Classifier,Regressor}``
(numeric splits), ``GradientBoosting{Classifier,Regressor}``,
``RandomForest``/``ExtraTrees`` classifiers and regressors and single decision
trees, XGBoost (``XGBClassifier``/``XGBRegressor``/``Booster``, numeric
splits) and LightGBM (``LGBMClassifier``/``LGBMRegressor``/``Booster``,
numeric splits). Other models return ``None`` and are explained by the
linear or the permutation estimator.

What is explained (the same as ``shap.TreeExplainer``'s default
``model_output="raw"``): boosting models their raw score (log-odds of the
positive class for binary classifiers, the class score for multi-class ones);
random forests and decision trees the predicted probability of the class (or
the prediction of a regressor).

Every adapter's output is checked against the model's own prediction on the
rows explained; a mismatch is a bug (raised, never silently ignored).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass
class FlatTrees:
    """All trees of an ensemble in one set of arrays (children are global node ids)."""

    roots: np.ndarray
    left: np.ndarray
    right: np.ndarray
    default: np.ndarray
    feature: np.ndarray
    thr: np.ndarray
    value: np.ndarray
    cover: np.ndarray
    max_depth: int
    offset: float          # constant added to the sum of the trees (baseline, init score)
    output: str            # what is explained: "log_odds", "raw", "probability", "prediction"
    float32: bool          # the model compares float32 inputs
    raw: object            # callable(X) -> the model's own value of the explained output

    @property
    def expected_value(self) -> float:
        """Cover-weighted mean leaf value summed over trees, plus the offset."""
        total = self.offset
        leaf = self.right < 0
        for t, root in enumerate(self.roots):
            end = self.roots[t + 1] if t + 1 < len(self.roots) else len(self.left)
            sl = slice(root, end)
            lv = leaf[sl]
            total += float(np.sum(self.value[sl][lv] * self.cover[sl][lv]) / self.cover[root])
        return total


class _Builder:
    def __init__(self):
        self.parts = []
        self.n = 0
        self.depth = 0

    def add(self, left, right, default, feature, thr, value, cover):
        left = np.asarray(left, np.int64)
        right = np.asarray(right, np.int64)
        leaf = right < 0
        base = self.n
        gl = np.where(leaf, -1, left + base)
        gr = np.where(leaf, -1, right + base)
        gd = np.where(leaf, -1, np.asarray(default, np.int64) + base)
        feat = np.where(leaf, 0, np.asarray(feature, np.int64))
        self.parts.append((gl, gr, gd, feat, np.asarray(thr, np.float64), np.asarray(value, np.float64),
                           np.asarray(cover, np.float64), base))
        self.n += len(left)
        self.depth = max(self.depth, _depth(left, right))

    def build(self, offset, output, float32, raw) -> FlatTrees:
        cat = [np.concatenate([p[i] for p in self.parts]) for i in range(7)]
        roots = np.asarray([p[7] for p in self.parts], np.int64)
        return FlatTrees(roots, *cat, max_depth=self.depth, offset=float(offset), output=output,
                         float32=float32, raw=raw)


def _depth(left, right) -> int:
    depth = np.zeros(len(left), np.int64)
    best = 0
    for node in range(len(left)):  # children always come after their parent in these formats
        if right[node] >= 0:
            depth[left[node]] = depth[node] + 1
            depth[right[node]] = depth[node] + 1
            best = max(best, depth[node] + 1)
    return best


def _sk_tree(b: _Builder, tree, col: int, scale: float, normalise: bool) -> None:
    t = tree.tree_
    values = t.value[:, 0, :] if t.value.ndim == 3 else t.value
    if normalise:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1e-300)
    left, right = t.children_left, t.children_right
    mgl = getattr(t, "missing_go_to_left", None)
    default = np.where(np.asarray(mgl, bool), left, right) if mgl is not None else right
    b.add(left, right, default, t.feature, t.threshold, values[:, col] * scale, t.weighted_n_node_samples)


def _class_col(model, class_index):
    classes = getattr(model, "classes_", None)
    if classes is None:
        return 0
    k = len(classes)
    if class_index is None:
        class_index = k - 1
    if not 0 <= class_index < k:
        raise ValueError(f"class_index {class_index} out of range for {k} classes")
    return class_index


def flatten(model, class_index: int | None = None) -> FlatTrees | None:
    """The model's trees in flat form, or ``None`` when the model is not a supported ensemble."""
    name = type(model).__name__
    mod = type(model).__module__
    if mod.startswith("sklearn."):
        return _flatten_sklearn(model, name, class_index)
    if mod.startswith("xgboost"):
        return _flatten_xgboost(model, class_index)
    if mod.startswith("lightgbm"):
        return _flatten_lightgbm(model, class_index)
    return None


def _flatten_sklearn(model, name, class_index):
    b = _Builder()
    if name.startswith("HistGradientBoosting"):
        preds = getattr(model, "_predictors", None)
        if preds is None:
            return None
        k = len(preds[0])
        col = 0 if k == 1 else _class_col(model, class_index)
        for it in preds:
            nodes = it[col].nodes
            if np.any(nodes["is_categorical"] & ~nodes["is_leaf"].astype(bool)):
                return None  # categorical bitset splits: not in this format
            leaf = nodes["is_leaf"].astype(bool)
            left = np.where(leaf, -1, nodes["left"].astype(np.int64))
            right = np.where(leaf, -1, nodes["right"].astype(np.int64))
            default = np.where(nodes["missing_go_to_left"].astype(bool), left, right)
            b.add(left, right, default, nodes["feature_idx"], nodes["num_threshold"], nodes["value"],
                  nodes["count"])
        base = np.asarray(model._baseline_prediction).ravel()
        offset = base[0] if base.size == 1 else base[col]
        is_clf = hasattr(model, "classes_")

        def raw(X, _m=model, _c=col):
            r = np.asarray(_m._raw_predict(X))
            return r[:, _c] if r.ndim == 2 else r

        return b.build(offset, "log_odds" if is_clf and k == 1 else "raw", False, raw)
    if name.startswith("GradientBoosting"):
        est = getattr(model, "estimators_", None)
        if est is None:
            return None
        k = est.shape[1]
        col = 0 if k == 1 else _class_col(model, class_index)
        for tree in est[:, col]:
            _sk_tree(b, tree, 0, float(model.learning_rate), False)

        def raw(X, _m=model, _c=col):
            r = np.asarray(_m._raw_predict(np.asarray(X, np.float32)))
            return r[:, _c] if r.ndim == 2 and r.shape[1] > 1 else r.ravel()

        is_clf = hasattr(model, "classes_")
        return b.build(np.nan, "log_odds" if is_clf and k == 1 else "raw", True, raw)
    if name in ("RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor", "ExtraTreesRegressor",
                "DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier", "ExtraTreeRegressor"):
        trees = getattr(model, "estimators_", None)
        if trees is None:
            if not hasattr(model, "tree_"):
                return None
            trees = [model]
        is_clf = hasattr(model, "classes_")
        col = _class_col(model, class_index) if is_clf else 0
        for tree in trees:
            _sk_tree(b, tree, col, 1.0 / len(trees), is_clf)
        if is_clf:
            def raw(X, _m=model, _c=col):
                return np.asarray(_m.predict_proba(X))[:, _c]
        else:
            def raw(X, _m=model):
                return np.asarray(_m.predict(X), float).ravel()
        return b.build(0.0, "probability" if is_clf else "prediction", True, raw)
    return None


def _flatten_xgboost(model, class_index):
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    if not hasattr(booster, "get_dump"):
        return None
    dumps = booster.get_dump(dump_format="json", with_stats=True)
    names = booster.feature_names
    index = {n: i for i, n in enumerate(names)} if names else None
    cfg = json.loads(booster.save_config())
    try:
        n_class = int(cfg["learner"]["learner_model_param"]["num_class"])
    except (KeyError, ValueError):
        n_class = 0
    k = max(n_class, 1)
    col = 0 if k == 1 else (class_index if class_index is not None else k - 1)
    b = _Builder()
    for t, text in enumerate(dumps):
        if t % k != col:
            continue
        tree = json.loads(text)
        nodes = {}
        stack = [tree]
        while stack:
            nd = stack.pop()
            nodes[nd["nodeid"]] = nd
            stack.extend(nd.get("children", []))
        ids = sorted(nodes)
        pos = {nid: i for i, nid in enumerate(ids)}
        m = len(ids)
        left = np.full(m, -1)
        right = np.full(m, -1)
        default = np.full(m, -1)
        feat = np.zeros(m, np.int64)
        thr = np.zeros(m)
        val = np.zeros(m)
        cov = np.zeros(m)
        for nid, nd in nodes.items():
            i = pos[nid]
            cov[i] = nd.get("cover", 0.0)
            if "leaf" in nd:
                val[i] = nd["leaf"]
                continue
            if "split_condition" not in nd or isinstance(nd["split_condition"], list):
                return None  # categorical split
            left[i], right[i], default[i] = pos[nd["yes"]], pos[nd["no"]], pos[nd["missing"]]
            s = nd["split"]
            feat[i] = index[s] if index is not None else int(str(s).lstrip("f"))
            # xgboost goes left when x < t in float32; x <= nextafter(t, -inf) is the same test
            t32 = np.float32(nd["split_condition"])
            thr[i] = float(np.nextafter(t32, np.float32(-np.inf)))
        b.add(left, right, default, feat, thr, val, cov)

    def raw(X, _b=booster, _c=col, _k=k):
        import xgboost as xgb

        r = np.asarray(_b.predict(xgb.DMatrix(np.asarray(X, np.float32), missing=np.nan,
                                              feature_names=_b.feature_names), output_margin=True))
        return r[:, _c] if r.ndim == 2 else r

    obj = str(cfg["learner"].get("objective", {}).get("name", ""))
    out = "log_odds" if obj.startswith("binary:logistic") or obj == "binary:logitraw" else "raw"
    return b.build(np.nan, out, True, raw)


def _flatten_lightgbm(model, class_index):
    booster = model.booster_ if hasattr(model, "booster_") else model
    if not hasattr(booster, "dump_model"):
        return None
    dump = booster.dump_model()
    k = int(dump.get("num_tree_per_iteration", 1))
    col = 0 if k == 1 else (class_index if class_index is not None else k - 1)
    b = _Builder()
    for t, info in enumerate(dump["tree_info"]):
        if t % k != col:
            continue
        acc = ([], [], [], [], [], [], [])
        try:
            _lgb_visit(info["tree_structure"], acc)
        except _Unsupported:
            return None
        b.add(*acc)

    def raw(X, _b=booster, _c=col):
        r = np.asarray(_b.predict(np.asarray(X, np.float64), raw_score=True))
        return r[:, _c] if r.ndim == 2 else r

    obj = str(dump.get("objective", ""))
    out = "log_odds" if obj.startswith("binary") else "raw"
    return b.build(np.nan, out, False, raw)


class _Unsupported(Exception):
    pass


def _lgb_visit(nd, acc) -> int:
    """Append LightGBM node ``nd`` and its subtree (preorder) to the lists in ``acc``."""
    left, right, default, feat, thr, val, cov = acc
    i = len(left)
    for lst in acc:
        lst.append(0)
    if "leaf_value" in nd or "split_index" not in nd:
        left[i] = right[i] = default[i] = -1
        val[i] = nd.get("leaf_value", 0.0)
        cov[i] = nd.get("leaf_count", 0)
        return i
    if nd.get("decision_type", "<=") != "<=":
        raise _Unsupported
    mt = nd.get("missing_type", "None")
    if mt == "Zero":
        raise _Unsupported
    feat[i] = nd["split_feature"]
    thr[i] = nd["threshold"]
    cov[i] = nd.get("internal_count", 0)
    li = _lgb_visit(nd["left_child"], acc)
    ri = _lgb_visit(nd["right_child"], acc)
    left[i], right[i] = li, ri
    if mt == "NaN":
        default[i] = li if nd.get("default_left", True) else ri
    else:  # missing values are treated as 0
        default[i] = li if 0.0 <= thr[i] else ri
    return i
