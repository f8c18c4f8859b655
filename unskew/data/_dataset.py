"""The :class:`Dataset`: a table plus the roles of its columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import UnskewInputError
from ._groups import MISSING, attribute_codes, encode_groups, value_name
from ._io import load_table
from ._types import check_mixed_types, coerce_column, infer_column_type

#: A sensitive attribute with more distinct values than this is rejected unless
#: the caller raises ``max_levels`` (it is almost always an identifier or a
#: continuous column that should be binned first).
DEFAULT_MAX_LEVELS = 100

#: Name of the group of rows with a missing sensitive value (see :mod:`unskew.data._groups`).
MISSING_GROUP = MISSING


def _as_list(cols: str | Sequence[str] | None) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [c.strip() for c in cols.split(",") if c.strip()]
    return [str(c) for c in cols]


@dataclass
class Dataset:
    """A table with declared column roles.

    Build it with :meth:`Dataset.from_data` (or :func:`unskew.data.as_dataset`),
    which validates the roles and records every row it excludes.

    Attributes
    ----------
    frame : pandas.DataFrame
        The rows kept for analysis, with a fresh ``RangeIndex``.
    target, predictions, scores, weights, split : str or None
        Column names holding each role.
    sensitive : list of str
        Sensitive attributes; their intersection defines the groups.
    features : list of str
        Columns used as model inputs (all other columns unless given).
    column_types : dict
        Column name -> one of ``numeric, categorical, boolean, text, datetime``.
    excluded : dict
        Reason -> number of rows removed from ``frame`` for that reason.
    n_rows_read : int
        Rows in the input before exclusions.
    source : str
        Where the data came from.
    """

    frame: pd.DataFrame
    target: str | None = None
    sensitive: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    predictions: str | None = None
    scores: str | None = None
    weights: str | None = None
    split: str | None = None
    column_types: dict[str, str] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    n_rows_read: int = 0
    source: str = ""

    # ------------------------------------------------------------------ building
    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        target: str | None = None,
        sensitive: str | Sequence[str] | None = None,
        features: Sequence[str] | None = None,
        predictions: str | None = None,
        scores: str | None = None,
        weights: str | None = None,
        split: str | None = None,
        column_types: dict[str, str] | None = None,
        ignore: Sequence[str] | None = None,
        max_levels: int = DEFAULT_MAX_LEVELS,
        delimiter: str | None = None,
        encoding: str = "utf-8",
        na_values: list[str] | None = None,
        require_two_classes: bool = True,
    ) -> Dataset:
        """Load ``data`` and validate the declared roles.

        Rows whose target is missing are excluded and counted; a missing
        sensitive value becomes its own group named ``(missing)`` so that it is
        never silently lost.

        Raises
        ------
        UnskewInputError
            For a missing column, a target with fewer than two classes, a
            sensitive attribute with more than ``max_levels`` values, a column
            that is entirely missing, mixed types, or an empty table.
        """
        if isinstance(data, Dataset):
            return data
        frame, source = load_table(data, delimiter=delimiter, encoding=encoding, na_values=na_values)
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        if frame.shape[0] == 0:
            raise UnskewInputError(f"The table from {source} has no rows.")
        dupes = frame.columns[frame.columns.duplicated()].tolist()
        if dupes:
            raise UnskewInputError(f"Column names repeat in {source}: {dupes}. Rename them.")
        sens = _as_list(sensitive)
        roles = {
            "target": [target] if target else [],
            "sensitive": sens,
            "predictions": [predictions] if predictions else [],
            "scores": [scores] if scores else [],
            "weights": [weights] if weights else [],
            "split": [split] if split else [],
            "features": list(features or []),
            "ignore": list(ignore or []),
        }
        for role, cols in roles.items():
            for col in cols:
                if col not in frame.columns:
                    raise UnskewInputError(_missing_column_message(col, role, frame.columns, source))
        single = [c for r in ("target", "predictions", "scores", "weights", "split") for c in roles[r]]
        twice = sorted({c for c in single + sens if (single + sens).count(c) > 1})
        if twice:
            raise UnskewInputError(
                f"Column(s) {', '.join(repr(c) for c in twice)} are given two roles (target, "
                f"sensitive, predictions, scores, weights, split); each column may have one."
            )
        n_read = len(frame)
        excluded: dict[str, int] = {}

        # Entirely-missing columns carry no information and break every check.
        empty = [c for c in frame.columns if c not in roles["ignore"] and frame[c].isna().all()]
        if empty:
            raise UnskewInputError(
                f"Column(s) {', '.join(repr(c) for c in empty)} in {source} are entirely missing "
                f"(all {n_read} values are empty). Remove them or pass --ignore "
                f"{','.join(empty)} (ignore=[...] in Python)."
            )

        types = {}
        overrides = dict(column_types or {})
        for col in overrides:
            if col not in frame.columns:
                raise UnskewInputError(_missing_column_message(col, "type override", frame.columns, source))
        for col in frame.columns:
            if col in roles["ignore"]:
                continue
            if col in overrides:
                frame[col] = coerce_column(frame[col], overrides[col], col)
                types[col] = overrides[col]
            else:
                check_mixed_types(frame[col], col, source)
                types[col] = infer_column_type(frame[col])
                if types[col] == "datetime" and not pd.api.types.is_datetime64_any_dtype(frame[col]):
                    frame[col] = coerce_column(frame[col], "datetime", col)

        if target:
            miss = frame[target].isna()
            if miss.any():
                excluded["target is missing"] = int(miss.sum())
                frame = frame.loc[~miss]
            n_classes = frame[target].nunique()
            if require_two_classes and types.get(target) != "numeric" and n_classes < 2:
                only = frame[target].iloc[0] if len(frame) else None
                only = only.item() if isinstance(only, np.generic) else only
                raise UnskewInputError(
                    f"Target column '{target}' has {n_classes} class"
                    f"{'' if n_classes == 1 else 'es'} ({only!r}) after removing missing values; "
                    f"at least two are needed. Check that you chose the right column."
                )
            if require_two_classes and types.get(target) == "numeric" and n_classes < 2:
                raise UnskewInputError(f"Target column '{target}' is constant; nothing to learn.")
        for col in sens:
            levels = frame[col].nunique(dropna=True)
            if levels > max_levels:
                raise UnskewInputError(
                    f"Sensitive attribute '{col}' has {levels} distinct values (limit {max_levels}). "
                    f"It looks like an identifier or a continuous column: bin it into groups "
                    f"first (for example age bands), or raise the limit with --max-levels."
                )
            if levels < 1:
                raise UnskewInputError(f"Sensitive attribute '{col}' has no values.")
        for col in (weights,):
            if col:
                w = pd.to_numeric(frame[col], errors="coerce")
                bad = w.isna() | (w < 0)
                if bad.any():
                    raise UnskewInputError(
                        f"Weight column '{col}' has {int(bad.sum())} missing, non-numeric or "
                        f"negative values; weights must be numbers >= 0."
                    )
                frame[col] = w.astype(float)
        for col in (predictions, scores):
            if col and frame[col].isna().any():
                n = int(frame[col].isna().sum())
                excluded[f"'{col}' is missing"] = n
                frame = frame.loc[frame[col].notna()]
        if len(frame) == 0:
            raise UnskewInputError(f"No rows are left in {source} after excluding {excluded}.")
        role_cols = {c for r, cols in roles.items() if r not in ("features",) for c in cols}
        feats = roles["features"] or [c for c in frame.columns if c not in role_cols]
        frame = frame.reset_index(drop=True)
        return cls(
            frame=frame,
            target=target,
            sensitive=sens,
            features=feats,
            predictions=predictions,
            scores=scores,
            weights=weights,
            split=split,
            column_types=types,
            excluded=excluded,
            n_rows_read=n_read,
            source=source,
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def n_excluded(self) -> int:
        return int(sum(self.excluded.values()))

    @property
    def y(self) -> pd.Series:
        if not self.target:
            raise UnskewInputError("This analysis needs a target column; pass --target.")
        return self.frame[self.target]

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.features]

    @property
    def sample_weight(self) -> np.ndarray | None:
        return None if not self.weights else self.frame[self.weights].to_numpy(float)

    def feature_types(self) -> dict[str, str]:
        return {c: self.column_types.get(c, "categorical") for c in self.features}

    def sensitive_values(self, col: str) -> pd.Series:
        """Values of one sensitive attribute as strings, missing as ``(missing)``."""
        codes, levels = attribute_codes(self.frame[col])
        names = np.asarray([value_name(v) for v in levels], dtype=object)
        return pd.Series(names[codes], index=self.frame.index, name=col)

    def groups(self, columns: Sequence[str] | None = None) -> pd.Categorical:
        """Intersectional group label of each row, e.g. ``"race=Black & sex=Female"``.

        Groups are encoded by :func:`unskew.data._groups.encode_groups`: the
        categories are in the one group order of unskew (numbers, then text,
        ``(missing)`` last; intersections by attribute).

        Parameters
        ----------
        columns : list of str, optional
            Which sensitive attributes to intersect; all of them by default.
        """
        return self.encode_groups(columns).categorical()

    def group_codes(self, columns: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
        """Integer code per row and the list of group labels (see :meth:`groups`)."""
        g = self.encode_groups(columns)
        return g.codes, g.names

    def encode_groups(self, columns: Sequence[str] | None = None):
        """The :class:`~unskew.data._groups.Groups` of the sensitive attributes ``columns`` (all by default)."""
        cols = list(columns) if columns is not None else list(self.sensitive)
        if not cols:
            raise UnskewInputError("No sensitive attribute was declared; pass --sensitive.")
        return encode_groups(self.frame[cols])

    def target_is_binary(self) -> bool:
        return self.target is not None and self.frame[self.target].nunique() == 2

    def positive_label(self) -> Any:
        """The label treated as positive for a binary target.

        ``1``/``True`` when present, else the minority class.
        """
        vals = self.frame[self.target].dropna().unique().tolist()
        for cand in (1, True, "1", "yes", "Yes", "true", "True", ">50K"):
            if cand in vals:
                return cand
        counts = self.frame[self.target].value_counts()
        return counts.index[-1]

    def binary_target(self) -> np.ndarray:
        """0/1 array of the target for a binary problem."""
        return (self.frame[self.target] == self.positive_label()).to_numpy(np.int8)

    def describe(self) -> dict:
        """A JSON-ready description of the dataset and its roles."""
        return {
            "source": self.source,
            "n_rows_read": int(self.n_rows_read),
            "n_rows": int(len(self.frame)),
            "n_columns": int(self.frame.shape[1]),
            "excluded_rows": {k: int(v) for k, v in self.excluded.items()},
            "target": self.target,
            "sensitive": list(self.sensitive),
            "features": list(self.features),
            "predictions": self.predictions,
            "scores": self.scores,
            "weights": self.weights,
            "split": self.split,
            "column_types": dict(self.column_types),
        }


def _missing_column_message(col: str, role: str, columns, source: str) -> str:
    import difflib

    close = difflib.get_close_matches(col, [str(c) for c in columns], n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(str(c)) for c in list(columns)[:15])
    more = f" and {len(columns) - 15} more" if len(columns) > 15 else ""
    return (
        f"Column {col!r} ({role}) is not in {source}.{hint} Available columns: {shown}{more}."
    )


def as_dataset(data: Any, **kwargs) -> Dataset:
    """Shorthand for :meth:`Dataset.from_data`."""
    return Dataset.from_data(data, **kwargs)
