"""DuckDB engine: the group counts pushed down into SQL, out of core.

DuckDB scans the Parquet or CSV file in parallel and spills to disk when its
memory limit is reached; what comes back to Python is one row per group x
label x prediction x score value (or score bin): a few thousand rows whatever
the size of the table. :func:`~unskew.engines._partials.stats_from_aggregates`
turns them into the :class:`~unskew.metrics.GroupStats` every engine shares.
Regressions come back as per-group sums (two scans: the group means first,
then the centred second moments).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._optional import import_optional
from ..data._groups import encode_groups
from ..exceptions import UnskewInputError
from ..metrics._groupstats import GroupStats
from ._mapreduce import Runner, kind_of_arrow, reduce_tree, row_ids
from ._partials import StatsSpec, stats_from_aggregates
from ._source import Source, check_columns


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(x: float) -> str:
    """A float literal that DuckDB parses back to the same double."""
    return repr(float(x))


def connect(memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None):
    duckdb = import_optional("duckdb", "the duckdb engine")
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def relation_sql(con, source: Source) -> str:
    """A FROM clause for the source (an in-memory frame is registered as a view)."""
    if source.kind == "frame":
        frame = source.frame
        con.register("unskew_input", frame)
        return "unskew_input"
    files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in source.paths) + "]"
    if source.kind == "parquet":
        return f"read_parquet({files})"
    delim = f", delim = '{source.delimiter}'" if source.delimiter else ""
    return f"read_csv({files}, header = true{delim})"


def columns_of(con, rel: str) -> list[str]:
    return [r[0] for r in con.sql(f"DESCRIBE SELECT * FROM {rel}").fetchall()]


def _types(con, rel: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.sql(f"DESCRIBE SELECT * FROM {rel}").fetchall()}


def _infer_task(con, rel: str, spec: StatsSpec, types: dict) -> str:
    if spec.task != "auto":
        return spec.task
    floaty = ("DOUBLE", "FLOAT", "REAL", "DECIMAL")
    for col in [spec.target] + ([spec.predictions] if spec.predictions else []):
        if any(types[col].upper().startswith(t) for t in floaty):
            frac = con.sql(f"SELECT bool_or({q(col)} <> round({q(col)})) FROM {rel} "
                             f"WHERE isfinite({q(col)})").fetchall()[0][0]
            if frac:
                return "regression"
    return "classification"


def classification_sql(rel: str, spec: StatsSpec) -> str:
    """The one GROUP BY that yields every count the metrics need."""
    sens = ", ".join(f"{q(c)}" for c in spec.sensitive)
    s = q(spec.scores) if spec.scores else None
    w = q(spec.weights) if spec.weights else "1.0"
    cols = [sens, f"{q(spec.target)} AS _y"]
    if spec.predictions:
        cols.append(f"{q(spec.predictions)} AS _p")
    else:
        cols.append(f"({s} >= {lit(spec.threshold)}) AS _pp")
    aggs = ["COUNT(*) AS _n"]
    if spec.weights:
        aggs += [f"SUM({w}) AS _w", f"SUM({w} * {w}) AS _w2", f"MIN({w}) AS _wmin",
                 f"COUNT(*) FILTER (WHERE {w} IS NULL OR NOT isfinite({w})) AS _wbad"]
    if s:
        if spec.score_bins is not None:
            lo, hi = spec.score_range
            c = spec.score_bins / (hi - lo)
            # the same double arithmetic as numpy's floor((s - lo) * (bins / (hi - lo))), then clipped
            # (GREATEST/LEAST skip NULLs, so a missing score stays NULL explicitly and is reported)
            cols.append(f"CASE WHEN {s} IS NULL THEN NULL ELSE LEAST(GREATEST(floor(({s} - {lit(lo)}) * {lit(c)}), "
                        f"0.0), {lit(spec.score_bins - 1)}) END AS _s")
        else:
            cols.append(f"{s} AS _s")
        E = int(spec.ece_bins)
        edges = np.linspace(0.0, 1.0, E + 1)[1:-1]
        # calibration bin = number of inner edges strictly below the score (np.searchsorted, side="left")
        eb = " + ".join(f"CAST({s} > {lit(e)} AS INTEGER)" for e in edges) if E > 1 else "0"
        cols.append(f"({eb}) AS _eb")
        ws = s if not spec.weights else f"{w} * {s}"
        aggs += [f"SUM({ws}) AS _ws", f"SUM({ws} * {s}) AS _ws2", f"MIN({s}) AS _smin", f"MAX({s}) AS _smax"]
    return f"SELECT {', '.join(cols)}, {', '.join(aggs)} FROM {rel} GROUP BY ALL"


def regression_sql(rel: str, spec: StatsSpec) -> str:
    sens = [q(c) for c in spec.sensitive]
    y, p = q(spec.target), q(spec.predictions)
    w = q(spec.weights) if spec.weights else "1.0"
    r = f"({y} - {p})"
    on = " AND ".join(f"t.{c} IS NOT DISTINCT FROM m.{c}" for c in sens)
    first = (f"SELECT {', '.join(sens)}, COUNT(*) AS _n, SUM({w}) AS w, SUM({w} * {w}) AS w2, "
             f"SUM({w} * {r}) AS sr, SUM({w} * abs({r})) AS sabs, SUM({w} * {r} * {r}) AS sr2, "
             f"SUM({w} * {r} * {r} * {r} * {r}) AS sr4, SUM({w} * {y}) AS sy, "
             f"CASE WHEN SUM({w}) > 0 THEN SUM({w} * {y}) / SUM({w}) ELSE 0.0 END AS my "
             f"FROM {rel} GROUP BY ALL")
    tw = w.replace(q(spec.weights), f"t.{q(spec.weights)}") if spec.weights else "1.0"
    return (f"WITH m AS ({first}) SELECT m.*, (SELECT SUM({tw} * (t.{y} - m.my) * (t.{y} - m.my)) "
            f"FROM {rel} t WHERE {on}) AS m2y FROM m")


def _fetch(con, sql: str):
    return _arrow(con.sql(sql)).to_pandas()


def _arrow(rel):
    """A relation's result as a pyarrow Table (``to_arrow_table`` in DuckDB 2, ``arrow`` before)."""
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def _bad(agg, col: str, what: str, spec_col: str) -> None:
    m = agg[col].isna()
    if m.any():
        raise UnskewInputError(f"{spec_col} has {int(agg.loc[m, '_n'].sum())} missing value(s) ({what}); "
                               f"drop those rows or fill them first.")


def group_stats(source: Source, spec: StatsSpec, *, memory_limit: str | None = None, threads: int | None = None,
                temp_directory: str | None = None, con: Any = None) -> tuple[GroupStats, dict]:
    """The :class:`GroupStats` of the whole source, computed by DuckDB in SQL."""
    con = con or connect(memory_limit, threads, temp_directory)
    rel = relation_sql(con, source)
    types = _types(con, rel)
    check_columns(list(types), spec.columns, source.label)
    task = _infer_task(con, rel, spec, types)
    if task == "regression":
        if spec.scores:
            raise UnskewInputError("Scores apply to binary classification; a regression needs only predictions.")
        if not spec.predictions:
            raise UnskewInputError("Regression metrics need a predictions column.")
        agg = _fetch(con, regression_sql(rel, spec))
        stats = regression_from_sums(agg, spec)
        return stats, {"engine": "duckdb", "aggregated_rows": len(agg)}
    agg = _fetch(con, classification_sql(rel, spec))
    if len(agg) == 0:
        raise UnskewInputError(f"{source.label} has no rows.")
    _bad(agg, "_y", "target", spec.target)
    if spec.predictions:
        _bad(agg, "_p", "predictions", spec.predictions)
    if spec.scores:
        _bad(agg, "_s", "scores", spec.scores)
        if not (np.isfinite(agg["_smin"]).all() and np.isfinite(agg["_smax"]).all()):
            raise UnskewInputError(f"{spec.scores} has infinite or NaN values; drop or fill those rows.")
    if spec.weights:
        if int(agg["_wbad"].sum()):
            raise UnskewInputError(f"{spec.weights} has {int(agg['_wbad'].sum())} missing or infinite value(s); "
                                   f"drop or fill those rows.")
        if (agg["_wmin"] < 0).any():
            raise UnskewInputError(f"{spec.weights} has negative values; weights must be >= 0.")
    stats = stats_from_aggregates(agg, spec.with_task("classification"))
    return stats, {"engine": "duckdb", "aggregated_rows": len(agg)}


def regression_from_sums(agg, spec: StatsSpec) -> GroupStats:
    """A regression :class:`GroupStats` from per-group SQL sums (one row per group)."""
    sens = list(spec.sensitive)
    groups = encode_groups(agg[sens], len(agg))
    codes, keys, names = groups.codes, groups.keys, groups.columns
    order = np.argsort(codes)
    reg = {k: agg[k].to_numpy(np.float64)[order] for k in ("w", "w2", "sr", "sabs", "sr2", "sr4", "sy", "my", "m2y")}
    n = agg["_n"].to_numpy(np.int64)[order]
    return GroupStats(names=tuple(names), keys=keys, task="regression", n=n, weighted=bool(spec.weights), reg=reg)


# ---------------------------------------------------------------------------- audit counts
def _key(v):
    if v is None or (isinstance(v, float) and v != v):
        from ..data._groups import MISSING

        return MISSING
    return v


def _bin_sql(col: str, lo: float, hi: float, bins: int) -> str:
    """The equal-width bin of ``col`` (NULL stays NULL), in numpy's double arithmetic (``bin_index``)."""
    if hi > lo:
        return (f"CASE WHEN {q(col)} IS NULL THEN NULL ELSE CAST(LEAST(GREATEST(floor(({q(col)} - {lit(lo)}) "
                f"* {lit(bins / (hi - lo))}), 0.0), {lit(bins - 1)}) AS BIGINT) END")
    return f"CASE WHEN {q(col)} IS NULL THEN NULL ELSE 0 END"


def audit_counts(source: Source, *, target: str, sensitive: list[str], weights: str | None, columns, bins: int,
                 memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None,
                 con: Any = None, target_centre: float | None = None):
    """The audit's count tables in three SQL scans: bounds, cells + missing, histograms (grouping sets)."""
    from ._partials import CountTable
    from ._specs import _spec

    con = con or connect(memory_limit, threads, temp_directory)
    rel = relation_sql(con, source)
    types = _types(con, rel)
    numeric_types = {c: any(t.upper().startswith(p) for p in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                                             "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
                                                             "FLOAT", "DOUBLE", "REAL", "DECIMAL"))
                     for c, t in types.items()}
    spec = _spec(list(types), numeric_types, target, sensitive, weights, columns, bins, source.label, target_centre)
    w = q(weights) if weights else "1.0"
    sens = ", ".join(q(c) for c in sensitive)
    # 1. bounds of the numeric columns (and of a continuous target)
    bounds = {}
    bounded = list(dict.fromkeys(list(spec.numeric) + ([target] if target_centre is not None else [])))
    if bounded:
        row = con.sql("SELECT " + ", ".join(f"MIN({q(c)}), MAX({q(c)})" for c in bounded)
                      + f" FROM {rel}").fetchall()[0]
        for i, c in enumerate(bounded):
            lo, hi = row[2 * i], row[2 * i + 1]
            bounds[c] = (0.0, 0.0) if lo is None else (float(lo), float(hi))
    # 2. cells and missing values per group, one scan
    miss = [f"COUNT(*) FILTER (WHERE {q(c)} IS NULL), SUM({w}) FILTER (WHERE {q(c)} IS NULL)" for c in spec.columns]
    anyc = " OR ".join(f"{q(c)} IS NULL" for c in spec.columns) or "FALSE"
    miss.append(f"COUNT(*) FILTER (WHERE {anyc}), SUM({w}) FILTER (WHERE {anyc})")  # rows with any missing
    tkey, extra, fields = q(target), [], ("n", "weight", "weight2")
    if target_centre is not None:  # a continuous target: its bin, and the centred sums
        tkey = _bin_sql(target, *bounds[target], bins)
        d = f"(CAST({q(target)} AS DOUBLE) - {lit(target_centre)})"
        extra, fields = [f"SUM({w} * {d})", f"SUM({w} * {d} * {d})"], fields + ("wd", "wd2")
    X = len(extra)
    sql = (f"SELECT {sens}, {tkey} AS _t, COUNT(*), SUM({w}), SUM({w} * {w})" + "".join(", " + e for e in extra)
           + "".join(", " + m for m in miss) + f" FROM {rel} GROUP BY ALL")
    rows = con.sql(sql).fetchall()
    S = len(sensitive)
    keys = [tuple(_key(v) for v in r[:S + 1]) for r in rows]
    cells = CountTable.from_keys((*sensitive, target), keys,
                                 np.array([[float(r[S + 1])] + [float(r[S + 2 + j] or 0.0) for j in range(2 + X)]
                                           for r in rows]).reshape(-1, len(fields)), fields)
    rows = [r[:S + 4] + r[S + 4 + X:] for r in rows]  # the missing-value columns follow at S + 4 again
    rows = [r for r in rows if r[S] is not None]  # rows without a target: counted in the cells only
    mk, mv = [], []
    for r in rows:
        for j, c in enumerate(spec.columns):
            cnt = r[S + 4 + 2 * j]
            if cnt:
                mk.append((c, *(_key(v) for v in r[:S])))
                mv.append([float(cnt), float(r[S + 5 + 2 * j] or 0.0)])
    missing = CountTable.from_keys(("column", *sensitive), mk, np.array(mv).reshape(-1, 2), ("n", "weight"))
    J = 2 * len(spec.columns)
    rm = [(tuple(_key(v) for v in r[:S]), [float(r[S + 4 + J]), float(r[S + 5 + J] or 0.0)]) for r in rows
          if r[S + 4 + J]]
    rows_missing = CountTable.from_keys(tuple(sensitive), [k for k, _ in rm],
                                        np.array([v for _, v in rm]).reshape(-1, 2), ("n", "weight"))
    # 3. histograms: one scan, one grouping set per column
    hk, hv = [], []
    if spec.columns:
        exprs = []
        for c in spec.columns:
            if c in spec.numeric:
                exprs.append(f"CAST({_bin_sql(c, *bounds[c], bins)} AS VARCHAR)")
            else:
                exprs.append(f"CAST({q(c)} AS VARCHAR)")
        inner = ", ".join(f"{e} AS _h{j}" for j, e in enumerate(exprs))
        sets = ", ".join(f"(_h{j})" for j in range(len(exprs)))
        sel = ", ".join(f"_h{j}" for j in range(len(exprs)))
        flags = ", ".join(f"GROUPING(_h{j})" for j in range(len(exprs)))
        hsql = (f"SELECT {sel}, {flags}, COUNT(*), SUM(_w) FROM (SELECT {inner}, {w} AS _w FROM {rel} "
                f"WHERE {q(target)} IS NOT NULL) GROUP BY GROUPING SETS ({sets})")
        J = len(exprs)
        for r in con.sql(hsql).fetchall():
            j = next(k for k in range(J) if r[J + k] == 0)
            v = r[j]
            if v is None:  # missing values are counted in `missing`
                continue
            c = spec.columns[j]
            hk.append((c, int(v) if c in spec.numeric else v))
            hv.append([float(r[2 * J]), float(r[2 * J + 1] or 0.0)])
    hist = CountTable.from_keys(("column", "bin"), hk, np.array(hv).reshape(-1, 2), ("n", "weight"))
    return {"cells": cells, "missing": missing, "rows_missing": rows_missing, "histograms": hist}, {"engine": "duckdb", "bounds": bounds,
                                                                      "scans": 3 if bounded else 2}


# ---------------------------------------------------------------------------- stratified sample
def stratified_sample(source: Source, *, by: list[str], n: int, min_per_stratum: int, columns, seed: int,
                      memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None,
                      con: Any = None):
    """Two scans: stratum counts, then rows whose seeded hash falls under the stratum's rate (cut to the quota)."""
    from ._specs import quotas

    con = con or connect(memory_limit, threads, temp_directory)
    rel = relation_sql(con, source)
    have = columns_of(con, rel)
    check_columns(have, by + list(columns or []), source.label)
    keys = ", ".join(q(c) for c in by)
    counts = con.sql(f"SELECT {keys}, COUNT(*) FROM {rel} GROUP BY ALL").fetchall()
    cnt = np.array([r[-1] for r in counts], np.int64)
    quota = quotas(cnt, n, min_per_stratum)
    # a strata table: key values, count, quota, the hash threshold (oversampled by 20% + 20 rows)
    import pandas as pd

    strata = pd.DataFrame([r[:-1] for r in counts], columns=[f"_k{j}" for j in range(len(by))])
    strata["_cnt"], strata["_q"] = cnt, quota
    strata["_rate"] = np.minimum(1.0, (quota * 1.2 + 20) / np.maximum(cnt, 1))
    con.register("unskew_strata", strata)
    cols = "*" if not columns else ", ".join(q(c) for c in dict.fromkeys(list(columns) + by))
    if source.kind == "parquet":
        files = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in source.paths) + "]"
        src = (f"(SELECT *, hash(filename, file_row_number, {int(seed)}) AS _h FROM read_parquet({files}, "
               f"filename = true, file_row_number = true))")
        drop = ["filename", "file_row_number"]
    else:
        src = f"(SELECT *, hash(row_number() OVER (), {int(seed)}) AS _h FROM {rel})"
        drop = []
    on = " AND ".join(f"t.{q(c)} IS NOT DISTINCT FROM s._k{j}" for j, c in enumerate(by))
    sel = "t.* EXCLUDE (_h)" if cols == "*" else ", ".join(f"t.{q(c)}" for c in dict.fromkeys(list(columns) + by))
    part = ", ".join(f"s._k{j}" for j in range(len(by)))
    sql = (f"SELECT * FROM (SELECT {sel}, s._cnt, s._q, t._h, row_number() OVER (PARTITION BY {part} "
           f"ORDER BY t._h) AS _rn FROM {src} t JOIN unskew_strata s ON {on} "
           f"WHERE (t._h % 1000000007) < s._rate * 1000000007) WHERE _rn <= _q ORDER BY _h")
    out = _arrow(con.sql(sql)).to_pandas()
    out["sampling_weight"] = out["_cnt"] / out["_q"]
    got = out.groupby(by + ["_q"], dropna=False).size()
    short = int((got.to_numpy() < got.index.get_level_values("_q").to_numpy()).sum()) + (len(counts) - len(got))
    out = out.drop(columns=[c for c in ["_cnt", "_q", "_h", "_rn", *drop] if c in out.columns])
    return out.reset_index(drop=True), {"engine": "duckdb", "n_rows": int(cnt.sum()), "strata": len(counts),
                                        "short_strata": short}


# ---------------------------------------------------------------------------- runner (partials in Python)
class DuckDBRunner(Runner):
    """DuckDB's scan streamed to Python as Arrow record batches of ``batch_size`` rows (out of core).

    For the partials that SQL does not express (the shift histograms on the
    reference's bins); the counts that SQL does express stay in SQL
    (:func:`audit_counts`, :func:`group_stats`).
    """

    name = "duckdb"

    def __init__(self, source: Source, *, memory_limit: str | None = None, threads: int | None = None,
                 temp_directory: str | None = None, con: Any = None, batch_size: int = 1_000_000):
        self.con = con or connect(memory_limit, threads, temp_directory)
        self._own = con is None
        self.rel = relation_sql(self.con, source)
        self.label = source.label
        self.batch_size = int(batch_size)
        self.pieces = 0

    def schema(self) -> dict[str, str]:
        rel = self.con.sql(f"SELECT * FROM {self.rel} LIMIT 0")
        return {f.name: kind_of_arrow(f.type) for f in _arrow(rel).schema}

    def distinct_values(self, column: str, cap: int) -> set:
        """In SQL: ``SELECT DISTINCT ... LIMIT cap + 1`` stops early (0.8 s against 8.5 s streamed, 200M rows)."""
        self.check([column])
        rows = self.con.sql(f"SELECT DISTINCT {q(column)} FROM {self.rel} WHERE {q(column)} IS NOT NULL "
                            f"LIMIT {int(cap) + 1}").fetchall()
        return {r[0] for r in rows}

    def map_reduce(self, fn, columns, reduce):
        cols = list(dict.fromkeys(columns))
        self.check(cols)
        rel = self.con.sql(f"SELECT {', '.join(q(c) for c in cols)} FROM {self.rel}")
        reader = (rel.fetch_arrow_reader(self.batch_size) if hasattr(rel, "fetch_arrow_reader")
                  else rel.fetch_record_batch(self.batch_size))
        parts, k = [], 0
        for b in reader:
            if b.num_rows == 0:
                continue
            parts.append(fn(b.to_pandas(), row_ids(k, 0, b.num_rows)))
            k += 1
            if len(parts) >= 8:
                parts = [reduce_tree(parts, reduce)]
        self.pieces = k
        return reduce_tree(parts, reduce)

    def info(self) -> dict:
        return {"engine": "duckdb", "batches": self.pieces}

    def close(self) -> None:
        if self._own:
            self.con.close()
