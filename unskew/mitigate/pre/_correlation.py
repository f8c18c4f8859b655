"""Remove the linear information about the sensitive attribute from the features."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ...data._groups import MISSING
from ...exceptions import UnskewInputError


class CorrelationRemover(TransformerMixin, BaseEstimator):
    """Project the features onto the complement of the sensitive attribute's span.

    With ``S`` the sensitive attribute(s) (numeric columns as they are,
    categorical ones one-hot encoded) centred on their training mean, and
    ``X`` the other features, ``fit`` solves the least-squares problem
    ``X ~ S_c B`` and ``transform`` returns
    ``alpha * (X - S_c B) + (1 - alpha) * X``. With ``alpha=1`` the output has
    zero sample covariance (hence zero correlation) with every column of
    ``S`` on the training data; smaller values trade fairness for fidelity.
    For numeric sensitive columns it computes the same as Fairlearn's
    ``CorrelationRemover``.

    Parameters
    ----------
    sensitive_feature_ids : list of str or int, optional
        Columns of ``X`` (names of a DataFrame, or positions) holding the
        sensitive attribute(s); they are dropped from the output. Leave unset
        to pass the sensitive attribute separately as ``sensitive_features``.
    alpha : float in [0, 1], default=1.0
        Strength of the removal.

    Attributes
    ----------
    beta_ : ndarray of shape (n_sensitive_encoded, n_kept_features)
        Regression coefficients of the kept features on the centred
        sensitive attribute(s).
    sensitive_mean_ : ndarray
        Training mean of the encoded sensitive attribute(s).
    sensitive_categories_ : list
        For each sensitive column, its categories (``None`` when numeric).
    n_features_in_ : int
    feature_names_in_ : ndarray, when fitted on a DataFrame

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0, 1.0], [0, 2.0], [1, 5.0], [1, 6.0]])
    >>> CorrelationRemover(sensitive_feature_ids=[0]).fit_transform(X).ravel().tolist()
    [3.0, 4.0, 3.0, 4.0]
    """

    def __init__(self, sensitive_feature_ids=None, alpha: float = 1.0):
        self.sensitive_feature_ids = sensitive_feature_ids
        self.alpha = alpha

    # -- helpers ---------------------------------------------------------------
    def _positions(self, X, n_cols: int, names) -> list[int]:
        ids = self.sensitive_feature_ids
        if ids is None:
            return []
        ids = [ids] if isinstance(ids, (str, int, np.integer)) else list(ids)
        pos = []
        for c in ids:
            if names is not None and c in list(names):
                pos.append(list(names).index(c))
            elif isinstance(c, (int, np.integer)) and not isinstance(c, bool) and -n_cols <= c < n_cols:
                pos.append(int(c) % n_cols)
            else:
                shown = list(names)[:15] if names is not None else f"positions 0..{n_cols - 1}"
                raise UnskewInputError(f"CorrelationRemover: sensitive feature {c!r} is not a column of X ({shown}).")
        return pos

    def _encode_sensitive(self, S: pd.DataFrame, fit: bool) -> np.ndarray:
        blocks = []
        if fit:
            self.sensitive_categories_ = []
        for j, c in enumerate(S.columns):
            s = S[c]
            cats = self.sensitive_categories_[j] if not fit else None
            if fit:
                numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                if not numeric:
                    try:
                        cats = sorted(pd.unique(s.astype(object).where(s.notna(), MISSING)), key=str)
                    except TypeError as exc:
                        raise TypeError(
                            f"CorrelationRemover: sensitive column {c!r} holds unhashable values; each "
                            f"argument must be a string or a number."
                        ) from exc
                self.sensitive_categories_.append(cats)
            if cats is None:
                v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
                if not np.all(np.isfinite(v)):
                    raise UnskewInputError(
                        f"CorrelationRemover: sensitive column {c!r} has missing (NaN) or infinite (inf) values."
                    )
                blocks.append(v[:, None])
            else:
                vals = s.astype(object).where(s.notna(), MISSING).to_numpy()
                index = {k: i for i, k in enumerate(cats)}
                unseen = sorted({v for v in vals if v not in index}, key=str)
                if unseen:
                    raise UnskewInputError(
                        f"CorrelationRemover: sensitive column {c!r} has value(s) {unseen[:5]} not seen during fit."
                    )
                onehot = np.zeros((len(vals), len(cats)))
                onehot[np.arange(len(vals)), [index[v] for v in vals]] = 1.0
                blocks.append(onehot)
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(S), 0))

    def _split(self, X, sensitive_features, fit: bool):
        if fit:
            names = list(X.columns) if isinstance(X, pd.DataFrame) else None
            if isinstance(X, pd.DataFrame):
                frame = X
            else:
                arr = np.asarray(X)
                if arr.ndim != 2:
                    raise UnskewInputError(f"CorrelationRemover needs a 2-D X, got shape {arr.shape}.")
                frame = pd.DataFrame(arr).infer_objects()
            self._pos = self._positions(X, frame.shape[1], names)
        else:
            frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X)).infer_objects()
        pos = self._pos
        if pos and sensitive_features is not None:
            raise UnskewInputError(
                "CorrelationRemover: give the sensitive attribute either as sensitive_feature_ids or as "
                "sensitive_features, not both."
            )
        if not pos and sensitive_features is None:
            raise UnskewInputError(
                "CorrelationRemover needs the sensitive attribute: set sensitive_feature_ids=<columns of X> or "
                "pass sensitive_features=<array aligned with X>."
            )
        if pos:
            S = frame.iloc[:, pos]
            keep = [j for j in range(frame.shape[1]) if j not in pos]
            Xk = frame.iloc[:, keep]
        else:
            sf = sensitive_features
            S = sf.to_frame() if isinstance(sf, pd.Series) else (sf if isinstance(sf, pd.DataFrame) else pd.DataFrame(
                np.asarray(sf, dtype=object).reshape(len(frame), -1)))
            if len(S) != len(frame):
                raise UnskewInputError(f"sensitive_features has {len(S)} rows but X has {len(frame)}.")
            S = S.reset_index(drop=True)
            for c in S.columns:
                converted = pd.to_numeric(S[c], errors="coerce")
                if converted.notna().all() and not pd.api.types.is_bool_dtype(S[c]):
                    S[c] = converted
            Xk = frame
        bad = [c for c in Xk.columns if not pd.api.types.is_numeric_dtype(Xk[c])]
        if bad:
            raise UnskewInputError(
                f"CorrelationRemover needs numeric features; column(s) {bad[:5]} are not. Encode them first."
            )
        Xk_arr = Xk.to_numpy(dtype=float)
        if not np.all(np.isfinite(Xk_arr)):
            raise UnskewInputError(
                "CorrelationRemover: X has missing (NaN) or infinite (inf) values; impute them first."
            )
        return Xk_arr, S, Xk.columns

    # -- API -------------------------------------------------------------------
    def fit(self, X, y=None, *, sensitive_features=None):
        """Learn the regression of the features on the sensitive attribute.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : ignored
        sensitive_features : array-like, optional
            Sensitive attribute(s) when ``sensitive_feature_ids`` is not set.
        """
        if not (0.0 <= float(self.alpha) <= 1.0):
            raise UnskewInputError(f"CorrelationRemover: alpha must be in [0, 1], got {self.alpha!r}.")
        if not isinstance(X, pd.DataFrame):
            X = check_array(X, dtype=None, ensure_all_finite=False)
        validate_data(self, X, reset=True, skip_check_array=True)
        Xk, S, kept = self._split(X, sensitive_features, fit=True)
        S_enc = self._encode_sensitive(S, fit=True)
        self.sensitive_mean_ = S_enc.mean(axis=0)
        S_c = S_enc - self.sensitive_mean_
        self.beta_, _, _, _ = np.linalg.lstsq(S_c, Xk, rcond=None)
        self._kept_names = np.asarray([str(c) for c in kept], dtype=object) if isinstance(X, pd.DataFrame) else None
        self._n_kept = Xk.shape[1]
        return self

    def transform(self, X, *, sensitive_features=None):
        """Remove the fitted linear dependence; sensitive columns are dropped."""
        check_is_fitted(self, "beta_")
        if not isinstance(X, pd.DataFrame):
            X = check_array(X, dtype=None, ensure_all_finite=False)
        validate_data(self, X, reset=False, skip_check_array=True)
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_") and list(X.columns) != list(self.feature_names_in_):
            raise UnskewInputError(
                f"CorrelationRemover: X's columns {list(X.columns)[:10]} differ from those seen in fit "
                f"{list(self.feature_names_in_)[:10]}."
            )
        Xk, S, _ = self._split(X, sensitive_features, fit=False)
        S_c = self._encode_sensitive(S, fit=False) - self.sensitive_mean_
        filtered = Xk - S_c @ self.beta_
        a = float(self.alpha)
        return a * filtered + (1.0 - a) * Xk

    def fit_transform(self, X, y=None, *, sensitive_features=None):
        return self.fit(X, y, sensitive_features=sensitive_features).transform(X, sensitive_features=sensitive_features)

    def get_feature_names_out(self, input_features=None):
        """Names of the kept (non-sensitive) columns."""
        check_is_fitted(self, "beta_")
        if self._kept_names is not None:
            return self._kept_names
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            names = np.asarray(self.feature_names_in_, dtype=object)
        else:
            names = np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        keep = [j for j in range(len(names)) if j not in self._pos]
        return names[keep]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
