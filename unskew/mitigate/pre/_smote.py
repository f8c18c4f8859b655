"""SMOTE within (group, class) populations, for vectors and for mixed tables.

A synthetic example is ``x_seed + u * (x_neighbour - x_seed)`` with
``u ~ U(0, 1)``, where the seed is drawn uniformly from a population below its
target size and the neighbour uniformly from the seed's ``k`` nearest
neighbours **in the same population** (same group and same class). Synthetic
examples therefore never mix groups or classes; ``synthetic_parents_`` records
the (seed, neighbour) rows of each one.

:class:`GroupSMOTE` works on numeric vectors (tabular features or
embeddings). :class:`GroupSMOTENC` handles numeric and categorical columns
without one-hot encoding: categorical columns are kept as integer codes, the
distance is ``sqrt(||numeric difference||^2 + m^2 * mismatches)`` with ``m``
the median standard deviation of the population's numeric columns (the
SMOTE-NC penalty of Chawla et al. 2002, also used by imbalanced-learn), and
the synthetic category is the most frequent among the seed's neighbours (or
the seed's, or the nearer endpoint's). Memory stays proportional to the data:
imbalanced-learn's SMOTENC materialises a dense
``(n_new, k, total one-hot width)`` array and runs out of memory on
high-cardinality columns.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from ...exceptions import UnskewInputError
from ._sampling import BaseGroupSampler

#: Pairwise-distance entries computed at once in the mixed-type brute force.
_CHUNK_ENTRIES = 4_000_000


def _drop_self(nbrs: np.ndarray, self_idx: np.ndarray) -> np.ndarray:
    """Remove each row's own index from its ``k + 1`` neighbours (else the last)."""
    is_self = nbrs == self_idx[:, None]
    no_self = ~is_self.any(axis=1)
    is_self[no_self, -1] = True
    first = is_self.argmax(axis=1)
    keep = np.ones_like(is_self)
    keep[np.arange(len(nbrs)), first] = False
    return nbrs[keep].reshape(len(nbrs), nbrs.shape[1] - 1)


class GroupSMOTE(BaseGroupSampler):
    """SMOTE over-sampling inside each (group, class) population.

    Parameters
    ----------
    sampling_strategy : {"balanced", "independent", "balance_classes"} or dict, default="balanced"
        Target distribution over (group, class) cells (see
        :class:`GroupRandomOverSampler`).
    k_neighbors : int, default=5
        Neighbours per seed, searched within the seed's population only
        (fewer when the population is smaller; a population of one example
        is duplicated, with a warning).
    sensitive_cols : str, int or list, optional
        Columns of ``X`` holding the sensitive attribute(s) instead of
        ``sensitive_features``; they must be constant within a population, so
        interpolation leaves them unchanged.
    random_state : int, RandomState instance or None
    n_jobs : int, optional
        Passed to :class:`~sklearn.neighbors.NearestNeighbors`.

    Attributes
    ----------
    synthetic_parents_ : ndarray of shape (n_synthetic, 2)
        Input rows (seed, neighbour) of each synthetic example.
    sample_indices_, synthetic_mask_, sensitive_resampled_,
    sample_weight_resampled_, cell_counts_
        See :mod:`unskew.mitigate.pre`.

    Notes
    -----
    Neighbours are only computed for the seeds that are drawn, so a
    population that needs few synthetic examples costs little.
    """

    def __init__(self, sampling_strategy="balanced", k_neighbors: int = 5, sensitive_cols=None,
                 random_state=None, n_jobs=None):
        super().__init__(sampling_strategy=sampling_strategy, sensitive_cols=sensitive_cols,
                         random_state=random_state)
        self.k_neighbors = k_neighbors
        self.n_jobs = n_jobs

    def _check_X(self, X):
        X = super()._check_X(X)
        if isinstance(X, pd.DataFrame):
            bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])]
            if bad:
                raise UnskewInputError(
                    f"GroupSMOTE needs numeric columns; {bad[:5]} are not numeric. Use GroupSMOTENC for "
                    f"categorical columns (or encode them)."
                )
        arr = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
        if arr.ndim != 2:
            raise UnskewInputError(f"GroupSMOTE needs a 2-D X (n_samples, n_features), got shape {arr.shape}.")
        if not np.issubdtype(arr.dtype, np.number):
            raise UnskewInputError("GroupSMOTE needs numeric features; use GroupSMOTENC for categorical columns.")
        if not np.all(np.isfinite(arr)):
            cols = np.flatnonzero(~np.isfinite(arr).all(axis=0))
            names = [X.columns[c] for c in cols] if isinstance(X, pd.DataFrame) else cols.tolist()
            raise UnskewInputError(f"GroupSMOTE: column(s) {names[:5]} have missing or infinite values; impute them first.")
        if int(self.k_neighbors) < 1:
            raise UnskewInputError(f"k_neighbors must be >= 1, got {self.k_neighbors!r}.")
        return X

    def _prepare(self, X, n):
        arr = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
        self._arr = arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(float)

    def _generate(self, X, idx, n_new, rng):
        arr = self._arr
        n_pop = len(idx)
        k = min(int(self.k_neighbors), n_pop - 1)
        seeds_local = rng.randint(0, n_pop, size=n_new)
        if k < 1:
            warnings.warn(f"GroupSMOTE: a population has a single example; it is duplicated {n_new} times.",
                          UserWarning, stacklevel=3)
            seeds = idx[seeds_local]
            return arr[seeds].copy(), np.stack([seeds, seeds], axis=1)
        Xp = arr[idx]
        uniq, inv = np.unique(seeds_local, return_inverse=True)
        nn = NearestNeighbors(n_neighbors=k + 1, n_jobs=self.n_jobs).fit(Xp)
        nbrs = nn.kneighbors(Xp[uniq], return_distance=False)
        nbrs = _drop_self(nbrs, uniq)
        pick = nbrs[inv, rng.randint(0, k, size=n_new)]
        steps = rng.uniform(size=(n_new, 1)).astype(Xp.dtype, copy=False)
        a = Xp[seeds_local]
        X_new = Xp[pick]
        X_new -= a
        X_new *= steps
        X_new += a
        parents = np.stack([idx[seeds_local], idx[pick]], axis=1)
        return X_new, parents

    def fit_resample(self, X, y, *, sensitive_features=None, sample_weight=None):
        try:
            return super().fit_resample(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)
        finally:
            self.__dict__.pop("_arr", None)

    def _stack_new(self, X, blocks):
        new = np.concatenate(blocks, axis=0)
        if isinstance(X, pd.DataFrame):
            out = pd.DataFrame(new, columns=X.columns)
            for c in X.columns:  # integer columns receive interpolated floats: keep float
                if pd.api.types.is_float_dtype(X[c]):
                    out[c] = out[c].astype(X[c].dtype)
            return out
        arr = np.asarray(X)
        return new.astype(arr.dtype, copy=False) if np.issubdtype(arr.dtype, np.floating) else new


class GroupSMOTENC(BaseGroupSampler):
    """SMOTE for mixed numeric and categorical columns, inside each (group, class) population.

    Categorical columns are handled as integer codes (no one-hot encoding), so
    a column with thousands of levels costs no more than a numeric one.

    Parameters
    ----------
    categorical_features : "auto" or list of str/int, default="auto"
        Categorical columns (names of a DataFrame or positions). ``"auto"``
        takes every non-numeric or boolean column of a DataFrame.
    sampling_strategy : {"balanced", "independent", "balance_classes"} or dict, default="balanced"
    k_neighbors : int, default=5
    categorical_value : {"most_frequent", "seed", "nearest_endpoint"}, default="most_frequent"
        Category of a synthetic example: the most frequent among the seed's
        ``k`` neighbours (ties broken at random, as SMOTE-NC), the seed's, or
        that of the endpoint (seed or neighbour) nearer to the interpolated
        point.
    sensitive_cols : str, int or list, optional
    random_state : int, RandomState instance or None

    Attributes
    ----------
    synthetic_parents_ : ndarray of shape (n_synthetic, 2)
    median_std_ : dict
        Mismatch penalty ``m`` of each resampled population, keyed by (group, class).
    sample_indices_, synthetic_mask_, sensitive_resampled_, cell_counts_

    Notes
    -----
    The neighbour search is an exact brute force within a population,
    processed in chunks (``O(n_pop * n_seeds)`` time, memory bounded by the
    chunk). Integer numeric columns receive interpolated floats. Missing
    categorical values are a category of their own; missing numeric values
    are refused.
    """

    def __init__(self, categorical_features="auto", sampling_strategy="balanced", k_neighbors: int = 5,
                 categorical_value: str = "most_frequent", sensitive_cols=None, random_state=None):
        super().__init__(sampling_strategy=sampling_strategy, sensitive_cols=sensitive_cols,
                         random_state=random_state)
        self.categorical_features = categorical_features
        self.k_neighbors = k_neighbors
        self.categorical_value = categorical_value

    # -- input -----------------------------------------------------------------
    def _check_X(self, X):
        X = super()._check_X(X)
        if self.categorical_value not in ("most_frequent", "seed", "nearest_endpoint"):
            raise UnskewInputError(
                f"categorical_value must be 'most_frequent', 'seed' or 'nearest_endpoint', got {self.categorical_value!r}."
            )
        if int(self.k_neighbors) < 1:
            raise UnskewInputError(f"k_neighbors must be >= 1, got {self.k_neighbors!r}.")
        if not isinstance(X, pd.DataFrame):
            arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
            if arr.ndim != 2:
                raise UnskewInputError(f"GroupSMOTENC needs a 2-D X, got shape {arr.shape}.")
        return X

    def _split(self, X):
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object)).infer_objects()
        cols = list(frame.columns)
        cf = self.categorical_features
        if isinstance(cf, str) and cf == "auto":
            if not isinstance(X, pd.DataFrame):
                raise UnskewInputError(
                    "GroupSMOTENC: categorical_features='auto' needs a DataFrame; pass the categorical column "
                    "positions for an array."
                )
            cat = [c for c in cols if not pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])]
        else:
            spec = [cf] if isinstance(cf, (str, int, np.integer)) else list(cf)
            if spec and all(isinstance(c, (bool, np.bool_)) for c in spec):
                if len(spec) != len(cols):
                    raise UnskewInputError(f"categorical_features mask has {len(spec)} entries for {len(cols)} columns.")
                cat = [c for c, m in zip(cols, spec, strict=True) if m]
            else:
                cat = []
                for c in spec:
                    if c in cols:
                        cat.append(c)
                    elif isinstance(c, (int, np.integer)) and -len(cols) <= c < len(cols):
                        cat.append(cols[c])
                    else:
                        raise UnskewInputError(
                            f"GroupSMOTENC: categorical feature {c!r} is not a column of X (columns: {cols[:15]})."
                        )
        num = [c for c in cols if c not in cat]
        if not cat:
            raise UnskewInputError("GroupSMOTENC found no categorical column; use GroupSMOTE for numeric data.")
        bad = [c for c in num if not pd.api.types.is_numeric_dtype(frame[c])]
        if bad:
            raise UnskewInputError(
                f"GroupSMOTENC: column(s) {bad[:5]} are not numeric; list them in categorical_features."
            )
        return frame, cat, num

    def _prepare(self, X, n):
        frame, cat, num = self._split(X)
        self._frame, self._cat, self._num = frame, cat, num
        numeric = frame[num].to_numpy(dtype=float) if num else np.zeros((n, 0))
        if not np.all(np.isfinite(numeric)):
            bad = [num[j] for j in np.flatnonzero(~np.isfinite(numeric).all(axis=0))]
            raise UnskewInputError(f"GroupSMOTENC: numeric column(s) {bad[:5]} have missing values; impute them first.")
        self._numeric = numeric
        codes, uniques = [], []
        for c in cat:
            s = frame[c]
            if isinstance(s.dtype, pd.CategoricalDtype):
                cd = s.cat.codes.to_numpy().astype(np.int64)
                u = list(s.cat.categories)
                if (cd < 0).any():
                    cd = np.where(cd < 0, len(u), cd)
                    u = [*u, np.nan]
            else:
                cd, u = pd.factorize(s, use_na_sentinel=False)
                u = list(u)
            codes.append(cd.astype(np.int64))
            uniques.append(u)
        self._codes = np.stack(codes, axis=1)
        self._uniques = uniques
        self.median_std_ = {}

    def _knn(self, idx: np.ndarray, seeds_local: np.ndarray, k: int, penalty: float) -> np.ndarray:
        """k nearest neighbours (local positions, self excluded) of each seed within ``idx``."""
        num = self._numeric[idx]
        cod = self._codes[idx]
        sq = np.einsum("ij,ij->i", num, num)
        n_pop = len(idx)
        out = np.empty((len(seeds_local), k), dtype=np.int64)
        chunk = max(1, _CHUNK_ENTRIES // max(n_pop, 1))
        pen2 = penalty * penalty
        for start in range(0, len(seeds_local), chunk):
            s = seeds_local[start:start + chunk]
            d = sq[s][:, None] + sq[None, :] - 2.0 * (num[s] @ num.T)
            np.maximum(d, 0.0, out=d)
            for j in range(cod.shape[1]):
                d += pen2 * (cod[s, j][:, None] != cod[None, :, j])
            d[np.arange(len(s)), s] = np.inf
            part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < n_pop else np.argsort(d, axis=1)[:, :k]
            dd = np.take_along_axis(d, part, axis=1)
            ordr = np.argsort(dd, axis=1, kind="stable")
            out[start:start + len(s)] = np.take_along_axis(part, ordr, axis=1)
        return out

    def _generate(self, X, idx, n_new, rng):
        n_pop = len(idx)
        k = min(int(self.k_neighbors), n_pop - 1)
        seeds_local = rng.randint(0, n_pop, size=n_new)
        num = self._numeric[idx]
        cod = self._codes[idx]
        if k < 1:
            warnings.warn(f"GroupSMOTENC: a population has a single example; it is duplicated {n_new} times.",
                          UserWarning, stacklevel=3)
            s = idx[seeds_local]
            return self._build(num[seeds_local], cod[seeds_local]), np.stack([s, s], axis=1)
        std = num.std(axis=0) if num.shape[1] else np.zeros(0)
        med = float(np.median(std)) if len(std) else 0.0
        penalty = med if med > 0 else 1.0
        self.median_std_[self._cell] = med
        uniq, inv = np.unique(seeds_local, return_inverse=True)
        nbrs = self._knn(idx, uniq, k, penalty)[inv]  # (n_new, k) local positions
        choice = rng.randint(0, k, size=n_new)
        pick = nbrs[np.arange(n_new), choice]
        steps = rng.uniform(size=(n_new, 1))
        a = num[seeds_local]
        new_num = a + steps * (num[pick] - a)
        if self.categorical_value == "seed":
            new_cod = cod[seeds_local]
        elif self.categorical_value == "nearest_endpoint":
            new_cod = np.where(steps < 0.5, cod[seeds_local], cod[pick])
        else:
            neigh = cod[nbrs]  # (n_new, k, n_cat)
            freq = (neigh[:, :, None, :] == neigh[:, None, :, :]).sum(axis=2)  # (n_new, k, n_cat)
            jitter = rng.uniform(0.0, 0.5, size=freq.shape)
            best = np.argmax(freq + jitter, axis=1)  # (n_new, n_cat)
            new_cod = np.take_along_axis(neigh, best[:, None, :], axis=1)[:, 0, :]
        parents = np.stack([idx[seeds_local], idx[pick]], axis=1)
        return self._build(new_num, new_cod), parents

    def _build(self, new_num: np.ndarray, new_cod: np.ndarray) -> pd.DataFrame:
        data = {}
        frame = self._frame
        for j, c in enumerate(self._num):
            data[c] = new_num[:, j]
        for j, c in enumerate(self._cat):
            u = self._uniques[j]
            vals = np.empty(len(new_cod), dtype=object)
            lookup = np.empty(len(u), dtype=object)
            lookup[:] = u
            vals[:] = lookup[new_cod[:, j]]
            data[c] = vals
        out = pd.DataFrame(data, columns=list(frame.columns))
        for c in frame.columns:
            dt = frame[c].dtype
            if c in self._cat:
                try:
                    out[c] = out[c].astype(dt)
                except (TypeError, ValueError):
                    pass
            elif pd.api.types.is_float_dtype(dt):
                out[c] = out[c].astype(dt)
        return out

    def _stack_new(self, X, blocks):
        new = pd.concat(blocks, ignore_index=True)
        if isinstance(X, pd.DataFrame):
            return new
        return new.to_numpy(dtype=object) if np.asarray(X).dtype == object else new.to_numpy()

    def fit_resample(self, X, y, *, sensitive_features=None, sample_weight=None):
        try:
            return super().fit_resample(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)
        finally:
            for a in ("_frame", "_numeric", "_codes", "_uniques", "_cat", "_num"):
                self.__dict__.pop(a, None)
