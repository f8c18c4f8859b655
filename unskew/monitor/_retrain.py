"""Training from the command line and the retraining loop.

``train_table`` fits one method (a plain scikit-learn baseline, or a weights /
sampler method of the mitigation registry) on a table; ``retrain`` folds the
labelled production rows of the failure queue (and reviewed relabels and
removals) into the training table, evaluates the candidate and the current
model per group on held-back recent labelled production rows, and registers
the candidate as a new version only when its worst-group accuracy is not lower.
Models are saved with skops, never pickle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ..report import CheckResult, Finding, Report, Table
from ._profile import build_profile, group_names, label_str, to_pandas

#: Built-in plain learners (no mitigation).
BASE_METHODS = {"baseline": "logistic regression", "logistic": "logistic regression", "hgb": "histogram gradient boosting"}
ROW_KEY = "row_key"


def train_methods() -> list[str]:
    """Names ``train`` accepts: baselines, then the mitigation registry's weights and sampler methods."""
    from ..mitigate.pre import METHODS

    return list(BASE_METHODS) + [n for n, m in METHODS.items() if m.kind in ("weights", "sampler")]


def _pipeline(frame: pd.DataFrame, features: Sequence[str], learner: str, seed: int):
    """The shared tabular encoding (``unskew.data._encoding.tabular_encoder``) plus the learner."""
    from sklearn.pipeline import Pipeline

    from ..data._encoding import tabular_encoder

    enc = tabular_encoder(_as_str_frame(frame, features), list(features))
    if learner == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return Pipeline([("encode", enc), ("model", HistGradientBoostingClassifier(random_state=seed))])
    from sklearn.linear_model import LogisticRegression

    return Pipeline([("encode", enc), ("model", LogisticRegression(max_iter=2000))])


def _as_str_frame(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Categorical columns as plain object strings (so encoders see one type per column)."""
    out = frame[list(features)].copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])):
            out[c] = pd.Series(label_str(out[c]), index=out.index, dtype=object)
    return out


def train_table(table: Any, *, target: str, method: str = "baseline", sensitive: Sequence[str] = (),
                features: Sequence[str] | None = None, seed: int = 0) -> tuple[Any, dict]:
    """Fit ``method`` on ``table`` and return ``(model, info)``.

    Parameters
    ----------
    table : DataFrame or path
    target : str
    method : str
        ``baseline``/``logistic`` (logistic regression), ``hgb``, or a weights or
        sampler method of :data:`unskew.mitigate.pre.METHODS` (``reweighing``,
        ``oversample``, ...), which need ``sensitive``.
    sensitive : list of str
        Sensitive columns (the groups the mitigation balances).
    features : list of str, optional
        Model inputs (default: every column but the target).

    Examples
    --------
    >>> import pandas as pd
    >>> from unskew.monitor import train_table
    >>> df = pd.DataFrame({"x": range(40), "s": ["a", "b"] * 20, "y": [0, 1] * 20})
    >>> model, info = train_table(df, target="y", method="reweighing", sensitive=["s"])
    >>> info["method"]
    'reweighing'
    """
    from ..mitigate import mitigate_table
    from ..mitigate.pre import METHODS

    frame = to_pandas(table).reset_index(drop=True)
    if target not in frame.columns:
        raise UnskewInputError(f"Target column {target!r} is not in the training table.")
    if frame[target].isna().any():
        i = int(np.flatnonzero(frame[target].isna().to_numpy())[0])
        raise UnskewInputError(f"Target column {target!r} is missing at row {i} of the training table.")
    feats = list(features) if features is not None else [c for c in frame.columns if c != target]
    missing = [c for c in feats if c not in frame.columns]
    if missing:
        raise UnskewInputError(f"Feature column {missing[0]!r} is not in the training table.")
    key = method.lower().replace("-", "_")
    y = label_str(frame[target])
    weights = None
    info = {"method": key, "rows_in": len(frame)}
    if key in BASE_METHODS:
        fit_frame = frame
    else:
        if key not in METHODS and key not in METHODS.aliases():
            try:
                import unskew.train as ut  # noqa: F401

                torch_names = list(ut.METHODS)
            except Exception:  # torch absent
                torch_names = []
            if key in torch_names:
                raise UnskewInputError(
                    f"--method {method}: the PyTorch methods of unskew.train cannot be saved with skops yet "
                    f"(skops does not serialise torch tensors), and unskew never writes pickle. "
                    f"Use one of: {', '.join(train_methods())}."
                )
            raise UnskewInputError(f"Unknown --method {method!r}; use one of: {', '.join(train_methods())}.")
        spec = METHODS[key]
        if spec.kind == "transform":
            raise UnskewInputError(
                f"--method {method} rewrites feature columns, which a saved model would also need at prediction "
                f"time; use a weights or sampler method: {', '.join(train_methods())}."
            )
        if not sensitive:
            raise UnskewInputError(f"--method {method} balances groups: give --sensitive.")
        res = mitigate_table(frame[feats + [target]] if all(s in feats for s in sensitive) else
                             frame[list(dict.fromkeys(feats + list(sensitive) + [target]))],
                             target=target, sensitive=list(sensitive), method=key, random_state=seed)
        fit_frame = res.table
        if spec.kind == "weights":
            from ..mitigate._table import WEIGHT_COLUMN

            weights = fit_frame[WEIGHT_COLUMN].to_numpy(dtype=float)
        y = label_str(fit_frame[target])
        info["rows_fitted"] = len(fit_frame)
    learner = "hgb" if key == "hgb" else "logistic"
    model = _pipeline(fit_frame, feats, learner, seed)
    X = _as_str_frame(fit_frame, feats)
    if weights is not None:
        model.fit(X, y, model__sample_weight=weights)
    else:
        model.fit(X, y)
    model.feature_names_in_list_ = feats  # the input columns, read back by predict_frame
    info["features"] = feats
    return model, info


def predict_frame(model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels (as strings) and positive-class scores of ``model`` on ``frame``."""
    feats = getattr(model, "feature_names_in_list_", None) or list(getattr(model, "feature_names_in_", frame.columns))
    X = _as_str_frame(frame, feats)
    yp = label_str(model.predict(X))
    sc = None
    if hasattr(model, "predict_proba") and len(getattr(model, "classes_", [])) == 2:
        sc = model.predict_proba(X)[:, 1]
    return yp, sc


def save_model(model: Any, path: str | Path) -> Path:
    """Write ``model`` with skops (whole or not at all)."""
    from .._optional import import_optional

    sio = import_optional("skops.io", "saving models")
    path = Path(path)
    if path.suffix.lower() != ".skops":
        raise UnskewInputError(f"--out {path}: models are saved as .skops files (never pickle).")
    if not path.parent.exists():
        raise UnskewInputError(f"The folder of --out does not exist: {path.parent}")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(sio.dumps(model))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _group_accuracy(y: np.ndarray, yp: np.ndarray, groups: np.ndarray, min_n: int) -> dict:
    out = {}
    for g in sorted(set(groups.tolist())):
        m = groups == g
        out[g] = {"n": int(m.sum()), "accuracy": float((y[m] == yp[m]).mean())}
    out["__all__"] = {"n": len(y), "accuracy": float((y == yp).mean()) if len(y) else None}
    return out


def _worst(acc: dict, min_n: int) -> tuple[str | None, float | None]:
    cand = [(v["accuracy"], g) for g, v in acc.items() if g != "__all__" and v["n"] >= min_n]
    if not cand:
        return None, None
    a, g = min(cand)
    return g, a


def _apply_decisions(table: pd.DataFrame, decisions: Any, target: str) -> tuple[pd.DataFrame, dict]:
    try:
        from ..review import apply_decisions
    except ImportError:  # pragma: no cover - the review wing is optional
        apply_decisions = None
    if apply_decisions is not None:
        cleaned, summary = apply_decisions(table, decisions, key=ROW_KEY, target=target)
        return cleaned.drop(columns=[c for c in ("review_action", "review_original_label") if c in cleaned]), summary
    # minimal relabel/remove (the last decision per row wins)
    d = to_pandas(decisions)
    for c in ("row_key", "action"):
        if c not in d.columns:
            raise UnskewInputError(f"The decisions file has no {c!r} column.")
    d = d.sort_values("decided_at", kind="stable") if "decided_at" in d else d
    last = d.groupby(d["row_key"].astype(str)).tail(1).set_index(d["row_key"].astype(str))
    keys = table[ROW_KEY].astype(str)
    act = keys.map(last["action"]).fillna("")
    out = table.copy()
    rel = act == "relabel"
    out.loc[rel, target] = keys[rel].map(last["new_label"]).to_numpy()
    out = out[act != "remove"]
    return out, {"relabelled": int(rel.sum()), "removed": int((act == "remove").sum())}


def retrain(monitor, name: str, train: Any, *, method: str = "baseline", decisions: Any = None,
            out: str | Path | None = None, holdout: float = 0.3, min_group: int = 20, seed: int = 0,
            register: bool = True) -> Report:
    """Retrain ``name`` on its training table plus the labelled rows of its failure queue.

    The most recent ``holdout`` share of labelled production rows is held back;
    candidate and current model are evaluated per group on it; the candidate is
    registered as a new version only when its worst-group accuracy (over groups
    with at least ``min_group`` held-back rows) is not lower than the current
    model's. Returns a :class:`~unskew.report.Report` (kind ``retrain``) that
    says why, either way.
    """
    from ._monitor import _load_blob

    if not 0 < holdout < 1:
        raise UnskewInputError(f"holdout must be between 0 and 1, not {holdout}.")
    prof = monitor.profile(name)
    target, sensitive = prof.data["target"], prof.sensitive
    feats = [f["column"] for f in prof.features if f["role"] == "feature"]
    with monitor.store.session() as s:
        m = monitor._model(s, name)
        v = monitor._version(s, m)
        blob, cur_version = v.model_blob, v.version
    if blob is None:
        raise UnskewInputError(
            f"Version {cur_version} of {name!r} has no stored model to compare against; "
            f"register it with `unskew monitor init ... --model MODEL.skops`."
        )
    current = _load_blob(blob)
    base = to_pandas(train).reset_index(drop=True)
    missing = [c for c in feats + [target] if c not in base.columns]
    if missing:
        raise UnskewInputError(f"Column {missing[0]!r} of the monitored model is not in the training table.")
    base = base[feats + [target]].copy()
    base[ROW_KEY] = [str(i) for i in range(len(base))]
    lab = monitor.labelled_rows(name)
    if len(lab) < 2 * min_group:
        raise UnskewInputError(
            f"{name!r} has {len(lab)} labelled production rows; retraining needs at least {2 * min_group} "
            f"(send labels with `unskew monitor labels`)."
        )
    n_hold = max(min_group, int(round(len(lab) * holdout)))
    hold, pool = lab.iloc[len(lab) - n_hold:], lab.iloc[: len(lab) - n_hold]
    queued = set(monitor.queue(name)["row_id"].astype(str)) if len(pool) else set()
    add = pool[pool["__row_id"].astype(str).isin(queued)]
    prod = add[feats].copy()
    prod[target] = add["__label"].to_numpy()
    prod[ROW_KEY] = add["__row_id"].astype(str).to_numpy()
    # the labels are strings; align the production labels to the training column's type
    if pd.api.types.is_numeric_dtype(base[target]):
        prod[target] = pd.to_numeric(prod[target], errors="coerce")
    table = pd.concat([base, prod], ignore_index=True)
    for c in feats:  # production rows come back from JSON; keep the training dtypes
        if pd.api.types.is_numeric_dtype(base[c]):
            table[c] = pd.to_numeric(table[c], errors="coerce")
    dec_summary = None
    if decisions is not None:
        table, dec_summary = _apply_decisions(table, decisions, target)
    candidate, info = train_table(table.drop(columns=[ROW_KEY]), target=target, method=method,
                                  sensitive=sensitive, features=feats, seed=seed)
    hold_frame = hold[feats].copy()
    for c in feats:
        if pd.api.types.is_numeric_dtype(base[c]):
            hold_frame[c] = pd.to_numeric(hold_frame[c], errors="coerce")
    y = hold["__label"].astype(str).to_numpy()
    groups = group_names(hold_frame, sensitive)
    yc, _ = predict_frame(candidate, hold_frame)
    yo = label_str(_predict_current(current, hold_frame, feats))
    acc_c = _group_accuracy(y, yc, groups, min_group)
    acc_o = _group_accuracy(y, yo, groups, min_group)
    wg_c, wa_c = _worst(acc_c, min_group)
    wg_o, wa_o = _worst(acc_o, min_group)
    better = wa_c is not None and wa_o is not None and wa_c >= wa_o
    why = (f"Candidate worst-group accuracy {wa_c:.3f} ({wg_c}) vs current {wa_o:.3f} ({wg_o}) on {len(hold):,} "
           f"held-back recent labelled production rows" if wa_c is not None and wa_o is not None else
           f"No group has {min_group} held-back rows; nothing to compare")
    registered = None
    if out is not None:
        save_model(candidate, out)
    if better and register:
        ref = table.drop(columns=[ROW_KEY]).copy()
        pcol, scol = prof.data["predictions"], prof.data.get("scores")
        yp, sc = predict_frame(candidate, ref)
        ref[pcol] = yp
        if scol:
            ref[scol] = sc
        ref[target] = label_str(ref[target])
        new_prof = build_profile(ref, target=target, predictions=pcol, scores=scol, sensitive=sensitive, features=feats)
        from .._optional import import_optional

        sio = import_optional("skops.io", "storing models")
        reg = monitor.register_version(name, new_prof, blob=sio.dumps(candidate),
                                       note=f"retrain --method {method}: {why}")
        registered = reg["version"]
    rows = []
    for g in sorted(set(acc_c) | set(acc_o), key=lambda g: (g == "__all__", g)):
        rows.append([g if g != "__all__" else "all", acc_c.get(g, {}).get("n"), acc_o.get(g, {}).get("accuracy"),
                     acc_c.get(g, {}).get("accuracy")])
    findings = [Finding(why + (f"; registered as version {registered}." if registered else
                               ("; not registered (the worst-off group would lose)." if not better else
                                "; not registered (register=False).")),
                        "info" if better else "warn")]
    if dec_summary:
        findings.append(Finding(f"Review decisions applied: {dec_summary.get('relabelled', 0)} relabelled, "
                                f"{dec_summary.get('removed', 0)} removed."))
    check = CheckResult(
        name="retrain", title="Candidate vs current model", status="pass" if better else "warn",
        summary={"method": method, "training_rows": len(base), "production_rows_added": len(prod),
                 "rows_fitted": info.get("rows_fitted", len(table)), "held_back_rows": len(hold),
                 "current_version": cur_version, "registered_version": registered,
                 "candidate_worst_group": wg_c, "candidate_worst_accuracy": wa_c,
                 "current_worst_group": wg_o, "current_worst_accuracy": wa_o},
        findings=findings,
        explanation=("The candidate is trained on the training table plus the labelled production rows of the failure "
                     "queue (minus held-back rows); both models are scored per group on the most recent labelled "
                     "production rows, which neither was trained on. Registered only if worst-group accuracy is not lower."),
        tables=[Table("Accuracy per group on held-back production rows",
                      ["group", "rows", "current", "candidate"], rows)])
    return Report(kind="retrain", checks=[check],
                  dataset={"source": f"monitored model {name}", "n_rows": len(table), "target": target,
                           "sensitive": sensitive},
                  parameters={"method": method, "holdout": holdout, "min_group": min_group, "seed": seed})


def _predict_current(model, frame: pd.DataFrame, feats: list[str]) -> np.ndarray:
    if getattr(model, "feature_names_in_list_", None):
        return predict_frame(model, frame)[0]
    from ..metrics._models import predict_with

    cols = list(getattr(model, "feature_names_in_", feats))
    yp, _ = predict_with(model, frame[[c for c in cols if c in frame.columns]])
    return yp
