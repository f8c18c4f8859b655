"""Training from the command line and the retraining loop.

``train_table`` fits one method (a plain scikit-learn baseline, any method of
the mitigation registry (``correlation_remover`` saved as the model's first
step), or a PyTorch method of
:mod:`unskew.train`, returned as a skops-safe
:class:`~unskew.train.PortableClassifier`); ``retrain`` folds labelled
production rows (the failure queue's, or all) and reviewed relabels and
removals into the training table, evaluates the candidate and the current
model per group on held-back recent labelled production rows and per tag (and
per group) on challenge sets (files, named store sets, and the review store's
sets linked to the model), and registers the candidate as a new version only when no
worst-off group loses. Models are saved with skops, never pickle.
"""

from __future__ import annotations

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


def _torch_methods() -> list[str]:
    """The PyTorch methods of :data:`unskew.train.METHODS` (empty without torch)."""
    try:
        from ..train import METHODS as TORCH_METHODS
    except Exception:  # torch absent: the extra is not installed
        return []
    return list(TORCH_METHODS)


def train_methods() -> list[str]:
    """Names ``train`` accepts: baselines, every method of the mitigation registry, then the
    PyTorch methods of :mod:`unskew.train` (when torch is installed)."""
    from ..mitigate.pre import METHODS

    return list(BASE_METHODS) + list(METHODS) + _torch_methods()


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


def _decorrelated_pipeline(frame: pd.DataFrame, features: list[str], sensitive: list[str], seed: int):
    """``correlation_remover`` as an unfitted model, and the numeric features it rewrites: the fitted :class:`CorrelationRemover` is the pipeline's first
    step, so the saved model removes the sensitive attribute's linear information from the numeric
    features of every row it predicts (the sensitive columns must be in the rows, as they are in
    monitored traffic); the other features pass through to the shared encoding and the learner."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from ..data._encoding import column_kinds
    from ..mitigate.pre import CorrelationRemover

    _, _, kinds = column_kinds(frame, features)
    numeric = [c for c in features if kinds.get(c) == "numeric" and c not in sensitive]
    if not numeric:
        raise UnskewInputError("--method correlation_remover needs numeric feature columns besides the sensitive "
                               "ones; none were found.")
    for c in numeric:
        bad = ~np.isfinite(pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UnskewInputError(f"--method correlation_remover: numeric column {c!r} is missing or infinite at "
                                   f"row {i} of the training table; impute it first.")
    inputs = features + [c for c in sensitive if c not in features]
    rest = [c for c in features if c not in numeric]
    steps = [("decorrelate", CorrelationRemover(sensitive_feature_ids=list(sensitive)), numeric + list(sensitive))]
    if rest:
        steps.append(("keep", "passthrough", rest))
    decorrelate = ColumnTransformer(steps, verbose_feature_names_out=False).set_output(transform="pandas")
    learner = _pipeline(frame, numeric + rest, "logistic", seed)
    model = Pipeline([("decorrelate", decorrelate), *learner.steps])
    model.feature_names_in_list_ = inputs  # the input columns, read back by predict_frame
    return model, numeric


def _as_str_frame(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Categorical columns as plain object strings (so encoders see one type per column)."""
    out = frame[list(features)].copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])):
            out[c] = pd.Series(label_str(out[c]), index=out.index, dtype=object)
    return out


def train_table(table: Any, *, target: str, method: str = "baseline", sensitive: Sequence[str] = (),
                features: Sequence[str] | None = None, seed: int = 0, params: dict | None = None
                ) -> tuple[Any, dict]:
    """Fit ``method`` on ``table`` and return ``(model, info)``.

    Parameters
    ----------
    table : DataFrame or path
    target : str
    method : str
        ``baseline``/``logistic`` (logistic regression), ``hgb``, a method of
        :data:`unskew.mitigate.pre.METHODS` (``reweighing``, ``oversample``,
        ..., ``correlation_remover``, whose fitted transform becomes the
        model's first step), which need ``sensitive``, or a PyTorch method of
        :data:`unskew.train.METHODS` (``erm``, ``group_dro``, ``jtt``, ...;
        the groups are the intersections of ``sensitive``). A PyTorch model
        is returned as a :class:`unskew.train.PortableClassifier`, which skops
        saves without pickle.
    sensitive : list of str
        Sensitive columns (the groups the method balances or protects).
    features : list of str, optional
        Model inputs (default: every column but the target).
    seed : int
        Random seed of the learner (``random_state``).
    params : dict, optional
        Parameters of a PyTorch method (``max_epochs``, ``lr``, ``eta``, ...;
        see its class). Methods that select on validation groups (``jtt``,
        ``dfr``) hold out ``validation_fraction=0.2`` unless given.

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
    missing = [c for c in list(feats) + list(sensitive) if c not in frame.columns]
    if missing:
        raise UnskewInputError(f"Column {missing[0]!r} is not in the training table.")
    key = method.lower().replace("-", "_")
    info = {"method": key, "rows_in": len(frame), "features": feats}
    if key not in BASE_METHODS and key not in METHODS and key not in METHODS.aliases() and key in _torch_methods():
        model = _train_torch(frame, target, key, sensitive, feats, seed, params or {})
        info["rows_fitted"] = len(frame)
        return model, info
    if params:
        raise UnskewInputError(f"--param is for the PyTorch methods of unskew.train; {method} takes none.")
    y = _fit_labels(frame[target])
    weights = None
    if key in BASE_METHODS:
        fit_frame = frame
    else:
        if key not in METHODS and key not in METHODS.aliases():
            raise UnskewInputError(f"Unknown --method {method!r}; use one of: {', '.join(train_methods())}.")
        spec = METHODS[key]
        if not sensitive:
            raise UnskewInputError(f"--method {method} balances groups: give --sensitive.")
        if spec.kind == "transform":
            model, info["decorrelated"] = _decorrelated_pipeline(frame, feats, list(sensitive), seed)
            model.fit(_as_str_frame(frame, model.feature_names_in_list_), _fit_labels(frame[target]))
            info["rows_fitted"] = len(frame)
            return model, info
        res = mitigate_table(frame[list(dict.fromkeys(feats + list(sensitive) + [target]))],
                             target=target, sensitive=list(sensitive), method=key, random_state=seed)
        fit_frame = res.table
        if spec.kind == "weights":
            from ..mitigate._table import WEIGHT_COLUMN

            weights = fit_frame[WEIGHT_COLUMN].to_numpy(dtype=float)
        y = _fit_labels(fit_frame[target])
        info["rows_fitted"] = len(fit_frame)
    learner = "hgb" if key == "hgb" else "logistic"
    model = _pipeline(fit_frame, feats, learner, seed)
    X = _as_str_frame(fit_frame, feats)
    if weights is not None:
        model.fit(X, y, model__sample_weight=weights)
    else:
        model.fit(X, y)
    model.feature_names_in_list_ = feats  # the input columns, read back by predict_frame
    return model, info


def _fit_labels(values: pd.Series) -> np.ndarray:
    """Labels to fit on: integer (or integral float) and boolean targets keep their type, so a saved model
    predicts the values the data holds (``unskew evaluate --model`` compares them); others as strings."""
    s = pd.Series(values)
    if pd.api.types.is_bool_dtype(s):
        return s.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(s):
        return s.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(s):
        v = s.to_numpy(dtype=float)
        if np.isfinite(v).all() and (v == np.round(v)).all():
            return v.astype(np.int64)
    return label_str(s)


def _train_torch(frame: pd.DataFrame, target: str, key: str, sensitive: Sequence[str], feats: list[str],
                 seed: int, params: dict):
    """Fit a PyTorch method of :mod:`unskew.train` and return it as a skops-safe PortableClassifier."""
    from ..train import METHODS as TORCH_METHODS
    from ..train import PortableClassifier

    cls = TORCH_METHODS[key]
    params = dict(params)
    valid = set(cls().get_params())
    unknown = sorted(set(params) - valid)
    if unknown:
        raise UnskewInputError(f"--param {unknown[0]}: {key} has no such parameter; it takes {', '.join(sorted(valid))}.")
    needs_groups = cls.group_requirement in ("train", "validation") or cls()._needs_sensitive()
    if needs_groups and not sensitive:
        raise UnskewInputError(f"--method {key} needs group labels ({cls.group_requirement}): give --sensitive.")
    if cls.group_requirement == "validation":
        params.setdefault("validation_fraction", 0.2)
    params.setdefault("random_state", seed)
    try:
        est = cls(**params)
    except TypeError as exc:
        raise UnskewInputError(f"--param for {key}: {exc}") from None
    groups = group_names(frame, list(sensitive)) if sensitive else None
    X = _as_str_frame(frame, feats)
    est.fit(X, _fit_labels(frame[target]), groups=groups)
    return PortableClassifier.from_estimator(est, key)


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
    from ..report._files import write_atomic

    data = sio.dumps(model)
    return write_atomic(path, lambda p: p.write_bytes(data))


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


#: How ``retrain`` decides on the held-back rows (challenge sets always use the point rule).
GATES = ("point", "interval")
#: Which labelled production rows ``retrain`` adds to the training table.
PRODUCTION_ROWS = ("queue", "all")


def _typed_like(frame: pd.DataFrame, base: pd.DataFrame, cols: Sequence[str], what: str,
                strict: bool = False) -> pd.DataFrame:
    """``frame[cols]`` with the numeric columns of ``base`` made numeric (production rows come back from JSON)."""
    out = frame[list(cols)].copy()
    for c in cols:
        if c in base.columns and pd.api.types.is_numeric_dtype(base[c]):
            num = pd.to_numeric(out[c], errors="coerce")
            bad = num.isna() & out[c].notna()
            if strict and bad.any():
                raise UnskewInputError(f"{what}: column {c!r} is numeric in the training table but has "
                                       f"{out[c][bad].iloc[0]!r}; give a number.")
            out[c] = num
    return out


def _paired_worst_interval(y, yc, yo, groups, min_n: int, seed: int, n_boot: int = 2000) -> tuple[float, float] | None:
    """95% bootstrap interval of (candidate - current) worst-group accuracy on the same rows.

    Each group is resampled with its own size (rows keep both models' outcomes,
    so the comparison is paired): per group the four outcome counts (both right,
    only the candidate right, only the current right, both wrong) are redrawn
    from a multinomial.
    """
    rng = np.random.default_rng(seed)
    wc, wo = None, None
    for g in sorted(set(groups.tolist())):
        m = groups == g
        n = int(m.sum())
        if n < min_n:
            continue
        c, o = y[m] == yc[m], y[m] == yo[m]
        p = np.array([(c & o).sum(), (c & ~o).sum(), (~c & o).sum(), (~c & ~o).sum()], float) / n
        draws = rng.multinomial(n, p, size=n_boot)
        ac, ao = (draws[:, 0] + draws[:, 1]) / n, (draws[:, 0] + draws[:, 2]) / n
        wc = ac if wc is None else np.minimum(wc, ac)
        wo = ao if wo is None else np.minimum(wo, ao)
    if wc is None:
        return None
    d = wc - wo
    return float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))


def _linked_challenge_sets(store, name: str) -> list[tuple[str, Any]]:
    """Challenge sets of the review store linked to model ``name`` (through a review queue imported from
    its monitoring failure queue, ``data_source = "monitor:NAME"``), latest versions."""
    try:
        import sqlalchemy as sa

        from ..review import _challenges as C
        from ..store._review import ChallengeSet, ReviewQueue
    except ImportError:  # pragma: no cover - the review wing is optional
        return []
    with store.session() as s:
        ids = s.execute(sa.select(ChallengeSet.id, ChallengeSet.name).join(
            ReviewQueue, ChallengeSet.queue_id == ReviewQueue.id).where(
            ReviewQueue.source == "monitor", ReviewQueue.data_source == f"monitor:{name}").order_by(ChallengeSet.id)).all()
    return [(f"challenge set {n!r} (store, version {C.get_set(store, i).version})", C.export_set(store, i)) for i, n in ids]


def _named_challenge_set(store, set_name: str) -> tuple[str, Any]:
    import sqlalchemy as sa

    from ..review import _challenges as C
    from ..store._review import ChallengeSet

    with store.session() as s:
        row = s.execute(sa.select(ChallengeSet.id).where(ChallengeSet.name == set_name)).first()
        have = s.scalars(sa.select(ChallengeSet.name).order_by(ChallengeSet.name)).all()
    if row is None:
        raise UnskewInputError(f"--challenge-set {set_name!r}: no challenge set of that name in the store"
                               + (f" (sets: {', '.join(have[:10])})." if have else " (it has none)."))
    return f"challenge set {set_name!r} (store, version {C.get_set(store, row[0]).version})", C.export_set(store, row[0])


def _challenge_frame(source: Any, label: str, feats: list[str]) -> pd.DataFrame:
    """A challenge set (the format ``unskew evaluate --challenge`` reads), checked against the model's inputs."""
    from ..metrics._challenge import load_challenge_set

    frame = load_challenge_set(source).reset_index(drop=True)
    if len(frame) == 0:
        raise UnskewInputError(f"{label} has no cases.")
    if "expected" not in frame.columns:
        raise UnskewInputError(f"{label} has no 'expected' column (each case's expected label); "
                               f"it has {', '.join(map(str, frame.columns[:15]))}.")
    if frame["expected"].isna().any():
        i = int(np.flatnonzero(frame["expected"].isna().to_numpy())[0])
        raise UnskewInputError(f"{label}: case at row {i} has no 'expected' label.")
    missing = [c for c in feats if c not in frame.columns]
    if missing:
        raise UnskewInputError(f"{label} lacks column {missing[0]!r}, an input of the monitored model "
                               f"(missing: {', '.join(missing[:8])}).")
    return frame


def _run_challenge(frame: pd.DataFrame, model, current, feats, base, label: str,
                   sensitive: Sequence[str] = ()) -> tuple[Any, Any]:
    """Per-tag results of both models on one challenge set (:func:`unskew.metrics.run_challenge_set`).

    When the cases hold every sensitive column, each case's group is one more tag (``group sex=F``), so
    the worst tag is also the worst group of the set."""
    from ..metrics._challenge import UNTAGGED, _split_tags, run_challenge_set

    X = _typed_like(frame, base, feats, label, strict=True)
    cases = frame[[c for c in ("id", "expected", "tags") if c in frame.columns]].copy()
    if sensitive and all(c in frame.columns for c in sensitive):
        given = cases["tags"] if "tags" in cases.columns else [None] * len(cases)
        own = [[t for t in _split_tags(v) if t != UNTAGGED] for v in given]
        cases["tags"] = [tags + [f"group {g}"] for tags, g in zip(own, group_names(frame, list(sensitive)),
                                                                  strict=True)]
    out = []
    for m in (model, current):
        cases["prediction"] = _predict_current(m, X, feats) if m is current else predict_frame(m, X)[0]
        out.append(run_challenge_set(cases, model=None))
    return out[0], out[1]


def _worst_tag(res) -> tuple[str, float]:
    bt = res.by_tag
    tags = bt[bt["tag"] != "(all)"] if len(bt) > 1 else bt
    i = int(np.argmin(tags["pass_rate"].to_numpy()))
    return str(tags["tag"].iloc[i]), float(tags["pass_rate"].iloc[i])


def retrain(monitor, name: str, train: Any, *, method: str = "baseline", decisions: Any = None,
            out: str | Path | None = None, holdout: float = 0.3, min_group: int = 20, seed: int = 0,
            register: bool = True, challenges: Sequence[Any] = (), challenge_sets: Sequence[str] = (),
            store_challenges: bool = True, production: str = "queue", gate: str = "point",
            params: dict | None = None) -> Report:
    """Retrain ``name`` on its training table plus labelled production rows; register only if no group loses.

    The most recent ``holdout`` share of labelled production rows is held back.
    The candidate is trained (``method``, as for :func:`train_table`) on the
    training table plus the earlier labelled production rows of the failure
    queue (``production="queue"``, the default) or all earlier labelled
    production rows (``production="all"``), after review ``decisions``.
    Candidate and current model are then evaluated per group (the sensitive
    intersections) on the held-back rows, and per tag on every challenge set
    (with the case's group as one more tag when the cases hold the sensitive
    columns).

    The gate: the candidate is registered as a new version only when

    - on the held-back rows its worst-group accuracy (groups with at least
      ``min_group`` rows) is not lower than the current model's
      (``gate="point"``), or is not lower with 95% confidence in a paired
      bootstrap (``gate="interval"``: blocked only when the whole interval of
      the difference is below 0), and
    - on every challenge set its worst-tag pass rate is not lower than the
      current model's (point rule: the cases are hand-written must-pass
      examples).

    Parameters
    ----------
    monitor : Monitor
    name : str
        The monitored model (its current version must store the model).
    train : DataFrame or path
        The training table of the current model.
    method : str
        A method of :func:`train_methods`.
    decisions : DataFrame or path, optional
        Review decisions (relabels and removals) applied to the combined table.
    out : path, optional
        Write the candidate here (``.skops``), registered or not.
    challenges : list of paths or DataFrames
        Challenge sets in the format ``unskew evaluate --challenge`` reads.
    challenge_sets : list of str
        Names of challenge sets in the review store (latest version).
    store_challenges : bool, default True
        Also use the review store's challenge sets linked to ``name`` (sets
        made from a review queue imported from its failure queue).
    production : {"queue", "all"}
    gate : {"point", "interval"}
    params : dict, optional
        Parameters of a PyTorch method.

    Returns
    -------
    Report
        Kind ``retrain``; its check says why the candidate was or was not registered.

    Examples
    --------
    >>> from unskew.monitor import Monitor, retrain
    >>> report = retrain(Monitor("sqlite:///unskew.db"), "credit", "train.csv", method="hgb",
    ...                  challenges=["red_team.csv"], out="candidate.skops")  # doctest: +SKIP
    """
    from ._monitor import _load_blob

    if not 0 < holdout < 1:
        raise UnskewInputError(f"holdout must be between 0 and 1, not {holdout}.")
    if production not in PRODUCTION_ROWS:
        raise UnskewInputError(f"--production must be one of {', '.join(PRODUCTION_ROWS)}; got {production!r}.")
    if gate not in GATES:
        raise UnskewInputError(f"--gate must be one of {', '.join(GATES)}; got {gate!r}.")
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
    cols = list(dict.fromkeys(feats + list(sensitive) + [target]))
    missing = [c for c in cols if c not in base.columns]
    if missing:
        raise UnskewInputError(f"Column {missing[0]!r} of the monitored model is not in the training table.")
    base = base[cols].copy()
    # the challenge sets are read (and checked) before any training, so a bad file costs nothing
    sets = [(f"challenge file {c}" if isinstance(c, (str, Path)) else f"challenge table {i + 1}", c)
            for i, c in enumerate(challenges)]
    sets += [_named_challenge_set(monitor.store, n) for n in challenge_sets]
    if store_challenges:
        named = {f"challenge set {n!r}" for n in challenge_sets}
        sets += [x for x in _linked_challenge_sets(monitor.store, name) if x[0].split(" (")[0] not in named]
    sets = [(label, _challenge_frame(src, label, feats)) for label, src in sets]
    base[ROW_KEY] = [str(i) for i in range(len(base))]
    lab = monitor.labelled_rows(name)
    if len(lab) < 2 * min_group:
        raise UnskewInputError(
            f"{name!r} has {len(lab)} labelled production rows; retraining needs at least {2 * min_group} "
            f"(send labels with `unskew monitor labels`)."
        )
    n_hold = max(min_group, int(round(len(lab) * holdout)))
    hold, pool = lab.iloc[len(lab) - n_hold:], lab.iloc[: len(lab) - n_hold]
    if production == "queue":
        queued = set(monitor.queue(name)["row_id"].astype(str)) if len(pool) else set()
        add = pool[pool["__row_id"].astype(str).isin(queued)]
    else:
        add = pool
    prod = _typed_like(add, base, [c for c in cols if c != target], "production rows")
    prod[target] = add["__label"].to_numpy()
    prod[ROW_KEY] = add["__row_id"].astype(str).to_numpy()
    # the labels are strings; align the production labels to the training column's type
    if pd.api.types.is_numeric_dtype(base[target]):
        prod[target] = pd.to_numeric(prod[target], errors="coerce")
    table = pd.concat([base, prod], ignore_index=True)
    dec_summary = None
    if decisions is not None:
        table, dec_summary = _apply_decisions(table, decisions, target)
    candidate, info = train_table(table.drop(columns=[ROW_KEY]), target=target, method=method,
                                  sensitive=sensitive, features=feats, seed=seed, params=params)
    hold_frame = _typed_like(hold, base, list(dict.fromkeys(feats + list(sensitive))), "held-back rows")
    y = hold["__label"].astype(str).to_numpy()
    groups = group_names(hold_frame, sensitive)
    yc, _ = predict_frame(candidate, hold_frame)
    yo = label_str(_predict_current(current, hold_frame, feats))
    acc_c = _group_accuracy(y, yc, groups, min_group)
    acc_o = _group_accuracy(y, yo, groups, min_group)
    wg_c, wa_c = _worst(acc_c, min_group)
    wg_o, wa_o = _worst(acc_o, min_group)
    interval = _paired_worst_interval(y, yc, yo, groups, min_group, seed)
    compared = wa_c is not None and wa_o is not None
    if gate == "point":
        held_ok = compared and wa_c >= wa_o
    else:
        held_ok = compared and interval is not None and interval[1] >= 0
    iv = f"; 95% paired interval of the difference [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else ""
    why = (f"Candidate worst-group accuracy {wa_c:.3f} ({wg_c}) vs current {wa_o:.3f} ({wg_o}) on {len(hold):,} "
           f"held-back recent labelled production rows{iv}" if compared else
           f"No group has {min_group} held-back rows; nothing to compare")
    findings = [Finding(why + ("" if held_ok else
                               (" -- the candidate's worst group is lower" if gate == "point" else
                                " -- the candidate's worst group is lower with 95% confidence")) + ".",
                        "info" if held_ok else "warn", subject="held-back rows")]
    ch_tables, ch_summary, ch_ok = [], [], True
    for label, frame in sets:
        rc, ro = _run_challenge(frame, candidate, current, feats, base, label, sensitive)
        tc, pc = _worst_tag(rc)
        to, po = _worst_tag(ro)
        ok = pc >= po
        ch_ok = ch_ok and ok
        ch_summary.append({"set": label, "cases": len(frame), "candidate_worst_tag": tc, "candidate_worst_pass_rate": pc,
                           "current_worst_tag": to, "current_worst_pass_rate": po, "blocks": not ok})
        findings.append(Finding(
            f"{label}: candidate's worst tag {tc!r} passes {pc:.3f} vs current's worst {to!r} {po:.3f} "
            f"({len(frame)} cases)" + ("." if ok else " -- blocks registration."),
            "info" if ok else "warn", subject=label, value=pc - po))
        cur_tags = ro.by_tag.set_index("tag")
        ch_tables.append(Table(f"Pass rate per tag on {label}", ["tag", "cases", "current", "candidate"],
                               [[r.tag, int(r.n), float(cur_tags.loc[r.tag, "pass_rate"]), float(r.pass_rate)]
                                for r in rc.by_tag.itertuples()]))
    better = held_ok and ch_ok
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
    if registered:
        verdict = f"Registered as version {registered}."
    elif not better:
        what = [w for w, bad in (("the held-back rows", not held_ok), ("a challenge set", not ch_ok)) if bad]
        verdict = f"Not registered: the worst-off group would lose on {' and on '.join(what)}."
    else:
        verdict = "Not registered (register=False)."
    findings.insert(0, Finding(verdict, "info" if better else "warn"))
    if dec_summary:
        findings.append(Finding(f"Review decisions applied: {dec_summary.get('relabelled', 0)} relabelled, "
                                f"{dec_summary.get('removed', 0)} removed."))
    rows = []
    for g in sorted(set(acc_c) | set(acc_o), key=lambda g: (g == "__all__", g)):
        rows.append([g if g != "__all__" else "all", acc_c.get(g, {}).get("n"), acc_o.get(g, {}).get("accuracy"),
                     acc_c.get(g, {}).get("accuracy")])
    check = CheckResult(
        name="retrain", title="Candidate vs current model", status="pass" if better else "warn",
        summary={"method": method, "production": production, "gate": gate, "training_rows": len(base),
                 "production_rows_added": len(prod), "rows_fitted": info.get("rows_fitted", len(table)),
                 "held_back_rows": len(hold), "current_version": cur_version, "registered_version": registered,
                 "candidate_worst_group": wg_c, "candidate_worst_accuracy": wa_c,
                 "current_worst_group": wg_o, "current_worst_accuracy": wa_o,
                 "worst_accuracy_difference_interval": list(interval) if interval else None,
                 "held_back_gate_passed": bool(held_ok), "challenge_sets": ch_summary,
                 "challenge_gate_passed": bool(ch_ok)},
        findings=findings,
        explanation=(f"The candidate is trained on the training table plus the labelled production rows "
                     f"({'of the failure queue' if production == 'queue' else 'all of them'}) older than the "
                     f"held-back rows; both models are scored per group on the most recent labelled production rows "
                     f"(which neither was trained on) and per tag on each challenge set. Registered only if the "
                     f"worst-group accuracy on the held-back rows is not lower"
                     f"{' (gate=interval: not lower with 95% confidence)' if gate == 'interval' else ''} and the "
                     f"worst-tag pass rate of no challenge set is lower."),
        tables=[Table("Accuracy per group on held-back production rows",
                      ["group", "rows", "current", "candidate"], rows)] + ch_tables)
    return Report(kind="retrain", checks=[check],
                  dataset={"source": f"monitored model {name}", "n_rows": len(table), "target": target,
                           "sensitive": sensitive},
                  parameters={"method": method, "holdout": holdout, "min_group": min_group, "seed": seed,
                              "production": production, "gate": gate,
                              "challenge_sets": [label for label, _ in sets]})


def _predict_current(model, frame: pd.DataFrame, feats: list[str]) -> np.ndarray:
    if getattr(model, "feature_names_in_list_", None):
        return predict_frame(model, frame)[0]
    from ..metrics._models import predict_with

    cols = list(getattr(model, "feature_names_in_", feats))
    yp, _ = predict_with(model, frame[[c for c in cols if c in frame.columns]])
    return yp
