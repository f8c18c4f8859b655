"""Random over- and under-sampling of (group, class) cells towards a target distribution.

The samplers follow imbalanced-learn's interface: ``fit_resample(X, y)``
returns the resampled ``X`` and ``y``. Because the cells are defined by the
sensitive attribute, they also take ``sensitive_features`` (or read them from
columns of ``X`` named by ``sensitive_cols``) and record, for every output row,
where it came from:

``sample_indices_``
    Row of the input each output row was copied from (for synthetic rows made
    by SMOTE or augmentation: the seed row).
``synthetic_mask_``
    True for every row that is not an original input row (a duplicate or a
    synthetic example).
``sensitive_resampled_`` and ``sample_weight_resampled_``
    The sensitive features and prior weights aligned with the output rows.
``cell_counts_``
    Counts per (group, class) before, targeted and after.

Target distributions (``sampling_strategy``)
---------------------------------------------
``"balanced"``
    Every non-empty (group, class) cell gets the same size.
``"independent"``
    Cell sizes proportional to ``P(group) * P(class)``: the label becomes
    independent of the group while both marginals are kept (Kamiran and
    Calders' uniform sampling).
``"balance_classes"``
    Within each group every class gets the size of the group's largest class
    (over-sampling) or smallest class (under-sampling); group sizes may change.
dict
    ``{(group, class): proportion}`` for every non-empty cell (proportions are
    normalised to sum to 1; a proportion may be 0 for under-sampling).

Over-sampling picks the smallest total for which no cell has to shrink;
under-sampling picks the largest total for which no cell has to grow. Cells
without any example cannot be created by resampling: they are left empty and
a warning names them.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

try:  # private helper of scikit-learn's metadata routing (>= 1.3)
    from sklearn.utils._metadata_requests import RequestMethod
except ImportError:  # pragma: no cover
    RequestMethod = None

from ...exceptions import UnskewInputError
from .._utils import (
    cell_counts,
    check_sample_weight,
    encode_groups,
    encode_labels,
    n_rows,
    plain,
    resolve_sensitive,
)

STRATEGIES = ("balanced", "independent", "balance_classes")

#: Name of the column that marks rows added by a sampler in :func:`resample_frame`.
SYNTHETIC_COLUMN = "_synthetic"


def target_counts(
    counts: np.ndarray,
    strategy: Any,
    kind: str,
    group_labels: list,
    classes: Any,
    *,
    owner: str = "sampler",
) -> np.ndarray:
    """Target size of every (group, class) cell.

    Parameters
    ----------
    counts : ndarray of shape (n_groups, n_classes)
        Current cell sizes.
    strategy : str or dict
        See the module documentation.
    kind : {"over", "under"}
        Over-sampling never shrinks a cell; under-sampling never grows one.

    Returns
    -------
    ndarray of int64, shape (n_groups, n_classes)
    """
    counts = np.asarray(counts, dtype=np.int64)
    present = counts > 0
    classes = list(classes)
    empty = [(group_labels[g], plain(classes[c])) for g, c in zip(*np.nonzero(~present), strict=True)]
    if isinstance(strategy, str) and strategy == "balance_classes":
        target = np.zeros_like(counts)
        for g in range(counts.shape[0]):
            row = counts[g][present[g]]
            if len(row) == 0:
                continue
            size = row.max() if kind == "over" else row.min()
            target[g, present[g]] = size
        _warn_empty(empty, strategy, owner)
        return target
    if isinstance(strategy, str):
        if strategy == "balanced":
            p = present.astype(float)
        elif strategy == "independent":
            n = counts.sum()
            p = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / float(n) ** 2
            p = np.where(present, p, 0.0)
        else:
            raise UnskewInputError(
                f"{owner}: sampling_strategy must be one of {STRATEGIES} or a dict "
                f"{{(group, class): proportion}}, got {strategy!r}."
            )
        _warn_empty(empty, strategy, owner)
    elif isinstance(strategy, dict):
        p = _proportions_from_dict(strategy, counts, group_labels, classes, owner)
        lost = [(group_labels[g], plain(classes[c])) for g, c in zip(*np.nonzero(~present & (p > 0)), strict=True)]
        _warn_empty(lost, "the requested proportions", owner)
        p = np.where(present, p, 0.0)
    else:
        raise UnskewInputError(
            f"{owner}: sampling_strategy must be a string {STRATEGIES} or a dict, got {type(strategy).__name__}."
        )
    if p.sum() <= 0:
        raise UnskewInputError(f"{owner}: the target proportions give no cell with examples a positive share.")
    p = p / p.sum()
    pos = p > 0
    if kind == "over":
        total = np.max(counts[pos] / p[pos])
        target = np.maximum(counts, np.rint(total * p).astype(np.int64))
        zero_but_present = present & ~pos
        if np.any(zero_but_present):
            cells = [(group_labels[g], plain(classes[c])) for g, c in zip(*np.nonzero(zero_but_present), strict=True)]
            warnings.warn(
                f"{owner}: cells {cells[:5]} have proportion 0 but over-sampling cannot remove examples; "
                f"they keep their size. Use under-sampling to drop them.",
                UserWarning,
                stacklevel=3,
            )
    elif kind == "under":
        total = np.min(counts[pos] / p[pos])
        target = np.minimum(counts, np.floor(total * p + 1e-9).astype(np.int64))
    else:  # pragma: no cover
        raise ValueError(kind)
    return target


def _warn_empty(empty: list, strategy: Any, owner: str) -> None:
    if empty:
        warnings.warn(
            f"{owner}: the (group, class) cell(s) {empty[:8]} have no examples and cannot be resampled "
            f"towards {strategy!r}; they stay empty. Merge small groups or collect data for them.",
            UserWarning,
            stacklevel=4,
        )


def _proportions_from_dict(strategy: dict, counts, group_labels, classes, owner) -> np.ndarray:
    G, K = counts.shape
    p = np.zeros((G, K), dtype=float)
    gidx = {g: i for i, g in enumerate(group_labels)}
    cidx = {plain(c): i for i, c in enumerate(classes)}
    unknown = []
    for key, val in strategy.items():
        if not isinstance(key, tuple) or len(key) != 2:
            raise UnskewInputError(
                f"{owner}: sampling_strategy dict keys must be (group, class) pairs, got {key!r}."
            )
        g, c = plain(key[0]), plain(key[1])
        if g not in gidx or c not in cidx:
            unknown.append(key)
            continue
        try:
            v = float(val)
        except (TypeError, ValueError):
            raise UnskewInputError(f"{owner}: proportion for {key!r} must be a number, got {val!r}.") from None
        if not np.isfinite(v) or v < 0:
            raise UnskewInputError(f"{owner}: proportion for {key!r} must be >= 0, got {val!r}.")
        p[gidx[g], cidx[c]] = v
    if unknown:
        raise UnskewInputError(
            f"{owner}: sampling_strategy names cell(s) {unknown[:5]} that do not occur; groups are "
            f"{group_labels[:10]} and classes {[plain(c) for c in classes][:10]}."
        )
    given = {(plain(k[0]), plain(k[1])) for k in strategy}
    missing = [
        (group_labels[g], plain(classes[c]))
        for g, c in zip(*np.nonzero(counts > 0), strict=True)
        if (group_labels[g], plain(classes[c])) not in given
    ]
    if missing:
        raise UnskewInputError(
            f"{owner}: sampling_strategy gives no proportion for the non-empty cell(s) {missing[:8]}; "
            f"give every (group, class) cell a proportion (0 to drop it when under-sampling)."
        )
    return p


def _take_rows(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.iloc[idx].reset_index(drop=True)
    if hasattr(X, "to_pandas") and not isinstance(X, np.ndarray):
        return _take_rows(X.to_pandas(), idx)
    if isinstance(X, list):
        return [X[i] for i in idx]
    return np.asarray(X)[idx]


def _originals(X: Any) -> Any:
    """The input rows, without copying arrays (the concatenation copies once)."""
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.reset_index(drop=True)
    if hasattr(X, "to_pandas") and not isinstance(X, np.ndarray):
        return X.to_pandas()
    return np.asarray(X)


def _concat_rows(first: Any, second: Any) -> Any:
    """Stack added rows under the originals, keeping the container type.

    Categorical and text columns keep their dtype; integer columns that
    receive interpolated values become float (never silently truncated).
    """
    if isinstance(first, pd.DataFrame):
        second = second if isinstance(second, pd.DataFrame) else pd.DataFrame(second, columns=first.columns)
        second = second.copy()
        for c in first.columns:
            dt = first[c].dtype
            if isinstance(dt, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dt):
                try:
                    second[c] = second[c].astype(dt)
                except (TypeError, ValueError):
                    pass
            elif pd.api.types.is_integer_dtype(dt) and pd.api.types.is_integer_dtype(second[c].dtype):
                second[c] = second[c].astype(dt)
        return pd.concat([first, second], ignore_index=True)
    if isinstance(first, pd.Series):
        second = second if isinstance(second, pd.Series) else pd.Series(second, name=first.name)
        try:
            second = second.astype(first.dtype)
        except (TypeError, ValueError):
            pass
        return pd.concat([first, second], ignore_index=True)
    first = np.asarray(first)
    second = np.asarray(second)
    if second.size == 0 and second.ndim < first.ndim:
        return first
    if first.dtype == object or second.dtype == object:
        return np.concatenate([first.astype(object), second.astype(object)], axis=0)
    return np.concatenate([first, second], axis=0)


class BaseGroupSampler(BaseEstimator):
    """Shared machinery of the group x class samplers (not for direct use).

    With ``sklearn.set_config(enable_metadata_routing=True)`` and
    imbalanced-learn's :class:`~imblearn.pipeline.Pipeline`, request the
    sensitive features with ``sampler.set_fit_resample_request(sensitive_features=True)``.
    """

    _kind = "over"

    if RequestMethod is not None:
        # scikit-learn only generates set_<method>_request for the methods it knows;
        # imbalanced-learn adds "fit_resample" to them when it is imported.
        set_fit_resample_request = RequestMethod("fit_resample", ["sensitive_features", "sample_weight"])

    def __init__(self, sampling_strategy="balanced", sensitive_cols=None, random_state=None):
        self.sampling_strategy = sampling_strategy
        self.sensitive_cols = sensitive_cols
        self.random_state = random_state

    # -- hooks -----------------------------------------------------------------
    def _check_X(self, X):
        if X is None:
            raise UnskewInputError(f"{type(self).__name__}: X is required.")
        return X

    def _generate(self, X, populations, n_new, rng):
        """Return ``(X_new, parent_idx)`` for the synthetic rows (subclasses)."""
        raise NotImplementedError

    # -- public ----------------------------------------------------------------
    def fit_resample(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Resample ``X`` and ``y`` so (group, class) cells follow the target distribution.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, ...)
        y : array-like of shape (n_samples,)
        sensitive_features : array-like, optional
            Sensitive attribute(s) aligned with ``X``; required unless
            ``sensitive_cols`` names columns of ``X``.
        sample_weight : array-like, optional
            Prior weights; carried to the output rows in
            ``sample_weight_resampled_``.

        Returns
        -------
        X_resampled, y_resampled
            Same container types as the inputs; original rows first (in
            order), added rows after them.
        """
        owner = type(self).__name__
        X = self._check_X(X)
        n = n_rows(X)
        sens = resolve_sensitive(X, sensitive_features, self.sensitive_cols, owner=owner)
        gc, glabels = encode_groups(sens, n, owner=owner)
        cc, classes = encode_labels(y, n, owner=owner)
        w = None if sample_weight is None else check_sample_weight(sample_weight, n, owner=owner)
        G, K = len(glabels), len(classes)
        counts = cell_counts(gc, cc, G, K).astype(np.int64)
        target = target_counts(counts, self.sampling_strategy, self._kind, glabels, classes, owner=owner)
        rng = check_random_state(self.random_state)
        flat = gc * K + cc
        order = np.argsort(flat, kind="stable")
        bounds = np.searchsorted(flat[order], np.arange(G * K + 1))
        members = {cell: order[bounds[cell]:bounds[cell + 1]] for cell in range(G * K)}

        if self._kind == "under":
            keep = []
            for cell in range(G * K):
                idx = members[cell]
                t = int(target.flat[cell])
                if t >= len(idx):
                    keep.append(idx)
                elif t > 0:
                    keep.append(rng.choice(idx, size=t, replace=False))
            keep_idx = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
            X_res = _take_rows(X, keep_idx)
            y_res = _take_rows(y, keep_idx)
            self.sample_indices_ = keep_idx
            self.synthetic_mask_ = np.zeros(len(keep_idx), dtype=bool)
            self.synthetic_parents_ = np.zeros((0, 2), dtype=np.int64)
        else:
            needs = {cell: int(target.flat[cell] - len(members[cell])) for cell in range(G * K)}
            needs = {c: k for c, k in needs.items() if k > 0}
            self._prepare(X, n)
            new_blocks, parents = [], []
            for cell, k in needs.items():
                self._cell = (glabels[cell // K], plain(classes[cell % K]))
                Xn, par = self._generate(X, members[cell], k, rng)
                par = np.asarray(par, dtype=np.int64).reshape(k, -1)
                new_blocks.append(_take_rows(X, par[:, 0]) if Xn is None else Xn)
                parents.append(par)
            if parents:
                width = max(p.shape[1] for p in parents)
                par = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), mode="edge") for p in parents])
                X_res = _concat_rows(_originals(X), self._stack_new(X, new_blocks))
            else:
                par = np.zeros((0, 1), dtype=np.int64)
                X_res = _take_rows(X, np.arange(n))
            seed = par[:, 0]
            all_idx = np.concatenate([np.arange(n), seed]).astype(np.int64)
            y_res = _concat_rows(_originals(y), _take_rows(y, seed))
            self.sample_indices_ = all_idx
            self.synthetic_mask_ = np.arange(len(all_idx)) >= n
            self.synthetic_parents_ = par.astype(np.int64)
        self.__dict__.pop("_cell", None)
        self.sensitive_resampled_ = _take_rows(sens, self.sample_indices_)
        self.sample_weight_resampled_ = None if w is None else w[self.sample_indices_]
        after = cell_counts(gc[self.sample_indices_], cc[self.sample_indices_], G, K).astype(np.int64)
        rows = []
        for g in range(G):
            for c in range(K):
                rows.append((glabels[g], plain(classes[c]), int(counts[g, c]), int(target[g, c]), int(after[g, c])))
        self.cell_counts_ = pd.DataFrame(rows, columns=["group", "class", "before", "target", "after"])
        self.classes_ = classes
        self.groups_ = glabels
        self.n_features_in_ = int(X.shape[1]) if hasattr(X, "shape") and len(X.shape) > 1 else 1
        return X_res, y_res

    def _prepare(self, X, n):
        """Per-call preparation before generation (subclasses)."""

    def _stack_new(self, X, blocks):
        if isinstance(X, pd.DataFrame):
            return pd.concat([b if isinstance(b, pd.DataFrame) else pd.DataFrame(b, columns=X.columns) for b in blocks],
                             ignore_index=True)
        return np.concatenate([np.asarray(b) for b in blocks], axis=0)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.non_deterministic = self.random_state is None
        return tags


class GroupRandomOverSampler(BaseGroupSampler):
    """Random over-sampling of (group, class) cells towards a target distribution.

    Examples of each cell that is below its target are duplicated, drawn
    uniformly with replacement from that cell.

    Parameters
    ----------
    sampling_strategy : {"balanced", "independent", "balance_classes"} or dict, default="balanced"
        Target distribution over (group, class) cells; see the module notes.
    sensitive_cols : str, int or list, optional
        Columns of ``X`` holding the sensitive attribute(s), as an alternative
        to passing ``sensitive_features`` to :meth:`fit_resample`.
    random_state : int, RandomState instance or None

    Attributes
    ----------
    sample_indices_, synthetic_mask_, sensitive_resampled_,
    sample_weight_resampled_, cell_counts_, classes_, groups_
        See the module notes.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(8).reshape(-1, 1); y = [0, 0, 0, 1, 0, 1, 1, 1]
    >>> s = ["a"] * 4 + ["b"] * 4
    >>> Xr, yr = GroupRandomOverSampler(random_state=0).fit_resample(X, y, sensitive_features=s)
    >>> len(yr)
    12
    """

    _kind = "over"

    def _generate(self, X, idx, n_new, rng):
        return None, rng.choice(idx, size=n_new, replace=True)


class GroupRandomUnderSampler(BaseGroupSampler):
    """Random under-sampling of (group, class) cells towards a target distribution.

    Each cell above its target keeps a uniformly drawn subset (without
    replacement) of its examples; output rows keep their input order.

    Parameters
    ----------
    sampling_strategy : {"balanced", "independent", "balance_classes"} or dict, default="balanced"
    sensitive_cols : str, int or list, optional
    random_state : int, RandomState instance or None

    Attributes
    ----------
    sample_indices_ : ndarray
        Input rows kept, in order.
    cell_counts_ : DataFrame
    """

    _kind = "under"


def resample_frame(
    frame: pd.DataFrame,
    sampler: Any,
    *,
    target: str,
    sensitive: str | list[str],
    features: list[str] | None = None,
    synthetic_column: str = SYNTHETIC_COLUMN,
) -> pd.DataFrame:
    """Resample a whole table and mark the added rows.

    Parameters
    ----------
    frame : DataFrame
        Table with the target and sensitive columns.
    sampler : a group sampler (e.g. :class:`GroupRandomOverSampler`, ``GroupSMOTE``)
    target : str
        Label column.
    sensitive : str or list of str
        Sensitive column(s); they define the groups.
    features : list of str, optional
        Columns the sampler generates (default: every other column). Columns
        outside ``features`` (identifiers, the sensitive columns) are copied
        from the seed row of each added row.
    synthetic_column : str, default="_synthetic"
        Name of the boolean column marking added rows.

    Returns
    -------
    DataFrame
        Original rows first, then added rows, with ``synthetic_column``.
    """
    sens = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for col in [target, *sens]:
        if col not in frame.columns:
            raise UnskewInputError(f"Column {col!r} is not in the table (columns: {list(frame.columns)[:15]}).")
    feats = list(features) if features is not None else [c for c in frame.columns if c != target and c not in sens]
    if synthetic_column in frame.columns:
        raise UnskewInputError(f"The table already has a column named {synthetic_column!r}; rename it first.")
    X = frame[feats]
    Xr, yr = sampler.fit_resample(X, frame[target], sensitive_features=frame[sens])
    src = sampler.sample_indices_
    out = frame.iloc[src].reset_index(drop=True).copy()
    Xr = Xr if isinstance(Xr, pd.DataFrame) else pd.DataFrame(np.asarray(Xr), columns=feats)
    for c in feats:
        out[c] = Xr[c].to_numpy()
    out[target] = np.asarray(yr)
    out[synthetic_column] = sampler.synthetic_mask_
    return out
