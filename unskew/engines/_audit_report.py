"""``audit(..., engine=)``: the count-based checks from the engine's counts, the model-based ones on a sample.

One driver for DuckDB, Spark and Dask; the engines only produce partials and
samples. The count-based checks (target distribution, representation, base
rates, missing values) get their measurement dataclasses built from
:func:`audit_counts` (group x target cells, missing values per column x
group, histograms; the rows are never loaded) and are judged by the checks'
own ``present`` methods, so the numbers equal those of the pandas path
(missing values lacks only its capped sample of the rows with most missing
cells, which needs the rows). The shift check's histograms are exact counts
of both whole tables (:func:`unskew.engines.shift_counts`); its domain
classifier and KS tests run on two samples drawn with one design
(stratified by the groups). Every other check runs on a stratified sample
drawn by the engine (:func:`stratified_sample`: every group x class
represented). Sizes and methods are stated in each such check's summary and
in the report's ``parameters["engine"]``.

A numeric target with more than 20 distinct values (continuous, by the
pandas checks' rule) is profiled first (:func:`target_profile`: exact
quantiles, the median as centre); the cells then count its bins and carry
centred sums for the group means and variances, and the sample is
stratified by the groups only.

Rows with a missing target are excluded and reported as the data layer
does (``dataset.excluded_rows``; they are counted in the cells under the
missing marker only). ``na_values`` is refused (the engines' readers would
not apply the markers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..audit._common import cell_codes, cell_labels, groupings, too_large_groupings
from ..data._groups import MISSING, attribute_codes, value_name
from ..exceptions import UnskewInputError

#: Engines the audit runs on.
AUDIT_ENGINES = ("pandas", "duckdb", "spark", "dask")
COUNT_CHECKS = ("target_distribution", "representation", "base_rates", "missing_values")
_POSITIVE = (1, True, "1", "yes", "Yes", "true", "True", ">50K")


def check_audit_engine(engine: str) -> str:
    name = (engine or "pandas").strip().lower()
    if name not in AUDIT_ENGINES:
        raise UnskewInputError(f"audit runs on the engine(s) {', '.join(AUDIT_ENGINES)}, not {engine!r}.")
    return name


def _codes(cells: pd.DataFrame, sensitive: Sequence[str]) -> dict:
    """The one group encoding (:func:`attribute_codes`) applied to the cells' values: codes per cell."""
    out = {}
    for c in sensitive:
        codes, levels = attribute_codes(cells[c])
        out[c] = (np.asarray(codes), [value_name(v) for v in levels])
    return out


def _no_target(cells: pd.DataFrame, target: str) -> pd.Series:
    """Cells of rows without a target: their target key is the missing marker."""
    t = cells[target]
    return t.isna() | (t.astype(object) == MISSING)


def _with_target(cells: pd.DataFrame, target: str) -> pd.DataFrame:
    return cells[~_no_target(cells, target)].reset_index(drop=True)


def excluded_rows(counts: dict) -> dict:
    """``{"target is missing": rows}`` as the data layer reports it (empty when every row has a target)."""
    cells = counts["cells"].frame()
    k = int(cells.loc[_no_target(cells, counts["cells"].names[-1]), "n"].sum())
    return {"target is missing": k} if k else {}


def measures_from_counts(counts: dict, *, target: str, sensitive: Sequence[str], weighted: bool,
                         profile: dict | None = None) -> dict:
    """The measurement dataclasses of the count-based checks, from :func:`audit_counts` tables.

    Returns ``{check name: measures}`` for ``target_distribution``,
    ``representation`` and ``base_rates`` (the dataclasses their ``present``
    methods take); with ``profile`` (:func:`target_profile` of a continuous
    target) the target distribution is its quantiles and the base rates are
    group means and variances from the cells' centred sums. Cells with a
    missing target are left out, as the data
    layer excludes such rows.
    """
    from ..audit._base_rates import BaseRateCounts, GroupingRates
    from ..audit._target import TargetCounts

    cells = _with_target(counts["cells"].frame(), target)
    sens = list(sensitive)
    n = cells["n"].to_numpy(np.float64)
    wt = cells["weight"].to_numpy(np.float64) if weighted else n
    w2 = cells["weight2"].to_numpy(np.float64) if weighted else n
    n_rows = int(n.sum())
    sc = _codes(cells, sens)
    out = {}
    if profile is not None:  # a continuous target: quantiles, and means and variances from the centred sums
        out["target_distribution"] = TargetCounts("regression", quantiles=dict(profile["quantiles"]))
        out["representation"] = _representation(cells, sens, sc, n, wt, w2, n_rows, weighted)
        out["base_rates"] = _numeric_base_rates(cells, sens, sc, n, wt, w2, n_rows, weighted, target,
                                                float(profile["centre"]))
        return out
    ycodes, classes = pd.factorize(cells[target], sort=True)
    ycodes = np.asarray(ycodes, np.int64)
    n_cls = len(classes)
    # target distribution: classes in text order
    str_cls = [str(c) for c in classes]
    order = np.argsort(np.asarray(str_cls, dtype=object), kind="stable")
    remap = np.empty(n_cls, np.int64)
    remap[order] = np.arange(n_cls)
    sy = remap[ycodes]
    tgroups = []
    gsets = [[c] for c in sens] + ([sens] if len(sens) > 1 else [])
    for cols in gsets:
        codes, shape = cell_codes(sc, cols)
        present, inv = np.unique(codes, return_inverse=True)
        tab = np.bincount(inv * n_cls + sy, weights=wt, minlength=len(present) * n_cls).reshape(-1, n_cls)
        keep = tab.sum(axis=1) > 0
        tgroups.append(([s for s, k in zip(cell_labels(sc, cols, present, shape), keep, strict=True) if k],
                        tab[keep].astype(float)))
    out["target_distribution"] = TargetCounts(
        "classification", classes=[str_cls[i] for i in order],
        counts=np.bincount(sy, weights=wt, minlength=n_cls).astype(float), groups=tgroups)
    out["representation"] = _representation(cells, sens, sc, n, wt, w2, n_rows, weighted)
    # base rates
    br = BaseRateCounts(task="classification", target=target, attributes=sens, n_rows=n_rows, weighted=weighted,
                        weight_total=float(wt.sum()), weight_sq_total=float(w2.sum()), groupings=[],
                        classes=list(classes), class_weight=np.bincount(ycodes, weights=wt, minlength=n_cls))
    if n_cls == 2:
        present_vals = list(classes)
        br.positive = next((c for c in _POSITIVE if c in present_vals),
                           classes[int(np.argmin(np.bincount(ycodes, weights=n, minlength=n_cls)))])
    for cols in groupings(sens, sc):
        codes, shape = cell_codes(sc, cols)
        present, inv = np.unique(codes, return_inverse=True)
        k = len(present)
        rows = np.bincount(inv, weights=n, minlength=k)
        g = GroupingRates(tuple(cols), cell_labels(sc, cols, present, shape), rows,
                          np.bincount(inv, weights=wt, minlength=k), np.bincount(inv, weights=w2, minlength=k))
        g.joint = np.bincount(inv * n_cls + ycodes, weights=wt, minlength=k * n_cls).reshape(k, n_cls)
        br.groupings.append(g)
    out["base_rates"] = br
    return out


def _representation(cells, sens, sc, n, wt, w2, n_rows: int, weighted: bool):
    from ..audit._representation import MAX_ENUMERATED_CELLS, GroupingCounts, RepresentationCounts

    reps = []
    for cols in groupings(sens, sc):
        codes, shape = cell_codes(sc, cols)
        n_cells = int(np.prod(shape, dtype=np.float64))
        enumerated = n_cells <= MAX_ENUMERATED_CELLS
        if enumerated:
            flat, idx = np.arange(n_cells), codes
        else:
            flat, idx = np.unique(codes, return_inverse=True)
        size = len(flat)
        reps.append(GroupingCounts(tuple(cols), tuple(shape), flat, np.bincount(idx, weights=n, minlength=size),
                                   np.bincount(idx, weights=wt, minlength=size), enumerated))
    return RepresentationCounts(
        n_rows=n_rows, weighted=weighted, weight_total=float(wt.sum()), weight_sq_total=float(w2.sum()),
        attributes=sens, names={c: list(sc[c][1]) for c in sens}, groupings=reps,
        too_large=too_large_groupings(sens, sc), row_scores=None)


def _numeric_base_rates(cells, sens, sc, n, wt, w2, n_rows: int, weighted: bool, target: str, centre: float):
    """:class:`BaseRateCounts` of a continuous target from the cells' centred sums ``wd``, ``wd2``.

    With ``d = y - centre``: a group's mean is ``centre + sum(w d) / sum(w)`` and its sum of squared
    deviations ``sum(w d^2) - sum(w d)^2 / sum(w)`` (the pandas path takes two passes over the rows; the
    results agree to rounding, and centring on the median keeps the subtraction well conditioned)."""
    from ..audit._base_rates import BaseRateCounts, GroupingRates

    wd = cells["wd"].to_numpy(np.float64)
    wd2 = cells["wd2"].to_numpy(np.float64)
    W = float(wt.sum())
    mean = centre + float(wd.sum()) / W
    var = max(float(wd2.sum()) - float(wd.sum()) ** 2 / W, 0.0) / W
    br = BaseRateCounts(task="regression", target=target, attributes=sens, n_rows=n_rows, weighted=weighted,
                        weight_total=W, weight_sq_total=float(w2.sum()), groupings=[], mean=mean,
                        std=float(np.sqrt(var)))
    for cols in groupings(sens, sc):
        codes, shape = cell_codes(sc, cols)
        present, inv = np.unique(codes, return_inverse=True)
        k = len(present)
        gw = np.bincount(inv, weights=wt, minlength=k)
        s1 = np.bincount(inv, weights=wd, minlength=k)
        s2 = np.bincount(inv, weights=wd2, minlength=k)
        g = GroupingRates(tuple(cols), cell_labels(sc, cols, present, shape), np.bincount(inv, weights=n, minlength=k),
                          gw, np.bincount(inv, weights=w2, minlength=k))
        g.mean = centre + s1 / gw
        g.sum_sq_dev = np.maximum(s2 - s1 * s1 / gw, 0.0)
        br.groupings.append(g)
    return br


def missing_from_counts(counts: dict, *, columns: Sequence[str], text_columns: Sequence[str],
                        sensitive: Sequence[str], weighted: bool):
    """:class:`~unskew.audit._missing.MissingCounts` from :func:`audit_counts` tables.

    ``columns`` are the checked columns (every column but the weights, in the
    table's order), ``text_columns`` those whose values are checked for
    disguised missing markers (from the histograms). Per-row quantities
    (``row_missing``, the capped table of the rows with most missing cells)
    need the rows and are left out.
    """
    from ..audit._missing import DISGUISED_MISSING, GroupMissingCounts, MissingCounts

    cols = list(columns)
    sens = list(sensitive)
    cells = _with_target(counts["cells"].frame(), counts["cells"].names[-1])
    per = cells.groupby(sens, sort=False, dropna=False)[["n", "weight", "weight2"]].sum().reset_index()
    n = per["n"].to_numpy(np.float64)
    wt = per["weight"].to_numpy(np.float64) if weighted else n
    w2 = per["weight2"].to_numpy(np.float64) if weighted else n
    miss = counts["missing"].frame()
    by_col_n = miss.groupby("column")["n"].sum() if len(miss) else pd.Series(dtype=float)
    by_col_w = miss.groupby("column")["weight"].sum() if len(miss) else pd.Series(dtype=float)
    col_rows = np.array([int(by_col_n.get(c, 0)) for c in cols], dtype=np.int64)
    col_w = np.array([float(by_col_w.get(c, 0.0)) if weighted else float(by_col_n.get(c, 0)) for c in cols])
    rm = counts["rows_missing"].values
    hist = counts["histograms"].frame()
    disguised: dict = {}
    for c in text_columns:
        h = hist[hist["column"] == c]
        hit = h[h["bin"].astype(str).str.strip().str.lower().isin(DISGUISED_MISSING)]
        if len(hit):
            disguised[c] = {str(k): int(v) for k, v in zip(hit["bin"], hit["n"], strict=True) if v > 0}
    excluded = excluded_rows(counts)
    m = MissingCounts(
        n_rows=int(n.sum()), weighted=weighted, weight_total=float(wt.sum()), weight_sq_total=float(w2.sum()),
        columns=cols, missing_rows=col_rows, missing_weight=col_w,
        n_rows_with_missing=int(rm[:, 0].sum()) if len(rm) else 0, n_missing_cells=int(col_rows.sum()),
        excluded=excluded, n_rows_read=int(n.sum()) + sum(excluded.values()), disguised=disguised)
    idx = np.flatnonzero(col_rows > 0)
    m.group_columns = [cols[j] for j in idx]
    if sens and len(idx):
        sc = _codes(per, sens)
        # missing per full-intersection cell (rows of `per`) and checked column
        M = np.zeros((len(per), len(idx)))
        pos = {tuple(k): i for i, k in enumerate(per[sens].itertuples(index=False, name=None))}
        S = len(sens)
        jpos = {cols[j]: k for k, j in enumerate(idx)}
        for row in miss.itertuples(index=False, name=None):  # (column, *group, n, weight)
            M[pos[tuple(row[1:1 + S])], jpos[row[0]]] += float(row[2 + S] if weighted else row[1 + S])
        gsets = [(c,) for c in sens] + ([tuple(sens)] if len(sens) > 1 else [])
        for gcols in gsets:
            codes, shape = cell_codes(sc, gcols)
            present, inv = np.unique(codes, return_inverse=True)
            k = len(present)
            G = np.zeros((k, len(idx)))
            np.add.at(G, inv, M)
            m.groupings.append(GroupMissingCounts(
                tuple(gcols), cell_labels(sc, gcols, present, shape), np.bincount(inv, weights=n, minlength=k),
                np.bincount(inv, weights=wt, minlength=k), np.bincount(inv, weights=w2, minlength=k), G))
    return m


def audit_on_engine(
    data: Any,
    *,
    engine: str,
    target: str | None,
    sensitive: str | Sequence[str] | None,
    checks: Sequence[str] | None,
    thresholds: dict | None,
    ctx_kwargs: dict,
    weights: str | None = None,
    compare: Any = None,
    sample_size: int = 200_000,
    min_per_stratum: int = 50,
    random_state: int = 0,
    on_progress=None,
    engine_options: dict | None = None,
    run_checks=None,
    **dataset_kwargs: Any,
):
    """Run the audit with ``engine`` (see the module docstring); returns a :class:`~unskew.report.Report`.

    ``run_checks`` is the audit runner's own function (``unskew.audit._runner.run_checks``), handed
    in by :func:`unskew.audit.audit` so that the engines never import the runner (no import circle).
    """
    from ..audit._base import CHECKS
    from ._runners import runner as open_runner

    if run_checks is None:
        raise TypeError("audit_on_engine needs run_checks (call unskew.audit.audit(..., engine=...) instead)")
    name = check_audit_engine(engine)
    if not target or not sensitive:
        raise UnskewInputError("The audit on an engine needs --target and --sensitive (the counts are per "
                               "group and class, and the sample is stratified by them).")
    if dataset_kwargs.get("na_values"):
        raise UnskewInputError(f"--na-values is not applied with --engine {name}; write the markers as missing "
                               "values (NULL) in the file, or audit with --engine pandas.")
    sens = [c.strip() for part in ([sensitive] if isinstance(sensitive, str) else sensitive)
            for c in part.split(",") if c.strip()]
    names = [CHECKS.canonical(c) for c in (checks or CHECKS.names())]
    thresholds = thresholds or {}
    opts = dict(engine_options or {})
    counted = [c for c in names if c in COUNT_CHECKS]
    main = open_runner(name, data, **opts)
    others: list = []

    def runner_of(table):
        """The runner of ``data`` (held open), or one for another table sharing its session / client."""
        if table is data:
            return main
        r = open_runner(name, table, **shared_options(main, opts))
        others.append(r)
        return r

    try:
        return _audit_with(main, runner_of, data=data, name=name, names=names, counted=counted, target=target,
                           sens=sens, weights=weights, thresholds=thresholds, ctx_kwargs=ctx_kwargs,
                           compare=compare, sample_size=sample_size, min_per_stratum=min_per_stratum,
                           random_state=random_state, on_progress=on_progress, opts=opts, run_checks=run_checks,
                           dataset_kwargs=dataset_kwargs)
    finally:
        for r in others:
            r.close()
        main.close()


def _shift_counts(ref_runner, cmp_runner, ds, cmp_ds, thresholds: dict):
    """The shift check's exact counts of both whole tables (feature kinds from the reference sample)."""
    from ..audit._shift import ShiftCheck, shift_kinds
    from ._mapreduce import RowsWith
    from ._shift import shift_counts

    if ds.target:  # rows without a target are excluded from both tables, as the data layer excludes them
        ref_runner = RowsWith(ref_runner, ds.target)
        if ds.target in cmp_runner.schema():
            cmp_runner = RowsWith(cmp_runner, ds.target)

    feats, _ = shift_kinds(ds)
    n_bins = int({**ShiftCheck.default_thresholds, **thresholds}["n_bins"])
    target = ds.target if ds.target and cmp_ds.target else None
    if target and ds.column_types.get(target) == "numeric" and ds.frame[target].nunique() > 20:
        target = None  # a numeric target is compared on the samples (its bins need the values)
    return shift_counts(ref_runner, cmp_runner, sensitive=list(ds.sensitive), target=target, features=feats,
                        n_bins=n_bins)


def shared_options(main, opts: dict) -> dict:
    """Options for a second runner on ``main``'s engine: the same Spark session, Dask client or DuckDB settings."""
    if main.name == "spark":
        return {"spark": main.spark}
    if main.name == "dask":
        return {"dask_client": main.client}
    return dict(opts)


def _audit_with(main, runner_of, *, data, name, names, counted, target, sens, weights, thresholds, ctx_kwargs,
                compare, sample_size, min_per_stratum, random_state, on_progress, opts, run_checks, dataset_kwargs):
    from ..audit._base import CHECKS, AuditContext
    from ..data import Dataset
    from ..report import Report
    from ._audit import audit_counts, target_profile
    from ._sample import stratified_sample

    results = {}
    info: dict = {"engine": name}
    excluded: dict = {}
    opts = {k: v for k, v in opts.items() if k != "batch_size"}  # the SQL scans take the rest
    sampled = [c for c in names if c not in COUNT_CHECKS and c != "shift"]
    # a numeric target with more than 20 values: counted in bins with centred sums, never stratified by value
    profile = target_profile(main, target) if counted or sampled or "shift" in names else None
    if profile is not None:
        info["target"] = {"continuous": True, "n": profile["n"], "quantiles": profile["quantiles"]}
    if counted:
        types = main.schema()
        ignore = set(dataset_kwargs.get("ignore") or [])
        checked = [c for c in types if c != weights and c not in ignore]
        text = [c for c in checked if c not in (target, *sens) and types[c] == "text"]
        # DuckDB counts in SQL; the other engines measure audit_partial per piece with the runner
        counts, cinfo = audit_counts(data if name == "duckdb" else main, engine=name, target=target,
                                     sensitive=sens, weights=weights,
                                     columns=checked if "missing_values" in counted else [],
                                     target_centre=None if profile is None else profile["centre"],
                                     **(opts if name == "duckdb" else {}))
        info["counts"] = {k: v for k, v in cinfo.items() if k != "bounds"}
        excluded = excluded_rows(counts)
        measures = measures_from_counts(counts, target=target, sensitive=sens, weighted=weights is not None,
                                        profile=profile)
        if "missing_values" in counted:
            measures["missing_values"] = missing_from_counts(counts, columns=checked, text_columns=text,
                                                             sensitive=sens, weighted=weights is not None)
        for c in counted:
            check = CHECKS[c](**thresholds.get(c, {}))
            res = (check.present(measures[c], target=target) if c == "target_distribution" else
                   check.present(measures[c], ctx_kwargs.get("reference")) if c == "representation" else
                   check.present(measures[c]))
            res.summary["computed_by"] = f"{name} engine counts (no rows loaded)"
            results[c] = res

    def draw(table, by):
        sample, sinfo = stratified_sample(table if name == "duckdb" else runner_of(table), by=by, n=sample_size,
                                          min_per_stratum=min_per_stratum, engine=name, random_state=random_state,
                                          **(opts if name == "duckdb" else {}))
        return sample.drop(columns=["sampling_weight"]), {
            "n_rows": int(sinfo["n_rows"]), "n_sample": int(sinfo["n_sample"]), "strata": int(sinfo["strata"]),
            "method": sinfo["method"]}

    def run(ds, todo, ctx, stated):
        for res in run_checks(ds, todo, ctx=ctx, on_progress=on_progress,
                              thresholds={k: v for k, v in thresholds.items() if CHECKS.canonical(k) in todo}):
            res.summary["sample"] = stated
            results[res.name] = res

    if sampled or ("shift" in names and compare is None):
        sample, stated = draw(data, [*sens] if profile is not None else [*sens, target])
        info["sample"] = stated
        ds = Dataset.from_data(sample, target=target, sensitive=sens, weights=weights, **dataset_kwargs)
        ds.source = f"stratified sample of {stated['n_sample']} of {stated['n_rows']} rows"
    if sampled or "shift" in names:
        if sampled:
            run(ds, sampled, AuditContext(random_state=random_state, **ctx_kwargs), stated)
        if "shift" in names:
            cmp_ds = None
            if compare is not None:
                # both tables sampled with one design (stratified by the groups only), so that the
                # comparison is not distorted by the class strata of the other checks' sample
                sample, stated = draw(data, sens)
                ds = Dataset.from_data(sample, target=target, sensitive=sens, weights=weights, **dataset_kwargs)
                csample, cstated = draw(compare, sens)
                cmp_ds = Dataset.from_data(csample, target=target if target in csample.columns else None,
                                           sensitive=sens, features=ds.features, require_two_classes=False)
                stated = {"data": stated, "compare": cstated}
                info["shift_samples"] = stated
            ctx = AuditContext(random_state=random_state, compare=cmp_ds, **ctx_kwargs)
            if cmp_ds is not None:
                ctx.counts["shift"] = _shift_counts(runner_of(data), runner_of(compare), ds, cmp_ds,
                                                    thresholds.get("shift", {}))
            run(ds, ["shift"], ctx, stated)
            res = results.get("shift")
            if res is not None and cmp_ds is not None and res.status != "error":
                res.summary["computed_by"] = (
                    f"{name} engine counts of both whole tables (histograms, PSI, chi-square, group shares, "
                    "target, medians, missing shares); Kolmogorov-Smirnov tests and the domain classifier on "
                    "the samples")
                ks_max = {**CHECKS["shift"].default_thresholds, **thresholds.get("shift", {})}["ks_max_rows"]
                res.summary["subsampling"]["ks_rows_per_table"] = int(min(max(len(ds), len(cmp_ds)), ks_max))
    ordered = [results[c] for c in names if c in results]
    n_read = int((info.get("counts") or info.get("sample")
                  or info.get("shift_samples", {}).get("data", {})).get("n_rows", 0))
    described = {"source": str(data) if not isinstance(data, pd.DataFrame) else "DataFrame",
                 "n_rows_read": n_read, "n_rows": n_read - sum(excluded.values()), "excluded_rows": excluded,
                 "target": target, "sensitive": sens, "weights": weights, "engine": name}
    return Report(kind="audit", checks=ordered, dataset=described,
                  parameters={"random_state": random_state, "checks": [r.name for r in ordered],
                              "reference": ctx_kwargs.get("reference"), "engine": info})
