"""Running the registered checks over a dataset."""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..data import Dataset, load_table
from ..exceptions import UnskewInputError
from ..report import CheckResult, Finding, Report, Status
from ._base import CHECKS, AuditContext, Check


def load_reference(reference: Any) -> dict | None:
    """Read reference population shares from a dict, JSON file or CSV file.

    A CSV needs the columns ``attribute``, ``value`` and ``share`` (shares of
    one attribute should sum to 1; they are normalised if not).
    """
    if reference is None or isinstance(reference, dict):
        return reference
    path = Path(reference)
    if not path.exists():
        raise UnskewInputError(f"Reference file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UnskewInputError(f"Reference file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise UnskewInputError(
                f"Reference file {path} must map each attribute to {{value: share}}, "
                'for example {"sex": {"Male": 0.49, "Female": 0.51}}.'
            )
        return data
    import pandas as pd

    frame = pd.read_csv(path)
    need = {"attribute", "value", "share"}
    if not need <= set(frame.columns):
        raise UnskewInputError(
            f"Reference file {path} needs the columns attribute, value, share; it has {list(frame.columns)}."
        )
    out: dict = {}
    for row in frame.itertuples(index=False):
        out.setdefault(str(row.attribute), {})[str(row.value)] = float(row.share)
    return out


def run_checks(
    ds: Dataset,
    checks: Sequence[str | Check] | None = None,
    *,
    ctx: AuditContext | None = None,
    thresholds: dict[str, dict] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> list[CheckResult]:
    """Run checks (default: every registered one, in registry order).

    Unknown check names or thresholds raise :class:`UnskewInputError` before
    anything runs. A check that raises :class:`UnskewInputError` aborts the
    run (the input is unusable for every check); any other exception becomes
    that check's ``error`` result and the other checks still run.
    """
    ctx = ctx or AuditContext()
    thresholds = thresholds or {}
    names = [c for c in (checks or CHECKS.names()) if not isinstance(c, Check)]
    CHECKS.check(names)
    unknown = [k for k in thresholds if k not in CHECKS]
    if unknown:
        CHECKS.check(unknown)
    todo: list[Check] = []
    for c in checks or CHECKS.names():
        if isinstance(c, Check):
            todo.append(c)
        else:
            name = CHECKS.canonical(c)
            todo.append(CHECKS[name](**thresholds.get(name, thresholds.get(c, {}))))
    results = []
    for i, check in enumerate(todo):
        if on_progress:
            on_progress(check.title or check.name, i, len(todo))
        missing = check.missing_requirements(ds, ctx)
        if missing:
            results.append(
                check.result(
                    status=Status.SKIPPED,
                    findings=[Finding(f"Skipped: needs {', '.join(missing)}.", severity="info")],
                    summary={"needs": missing},
                )
            )
            continue
        t0 = time.perf_counter()
        try:
            res = check.run(ds, ctx)
        except UnskewInputError:
            raise
        except Exception as exc:  # a broken check must not hide the others
            res = check.result(
                status=Status.ERROR,
                findings=[Finding(f"The check failed: {type(exc).__name__}: {exc}", severity="fail")],
                summary={"traceback": traceback.format_exc(limit=5)},
            )
        res.elapsed_s = time.perf_counter() - t0
        results.append(res)
    if on_progress:
        on_progress("done", len(todo), len(todo))
    return results


def audit(
    data: Any,
    *,
    target: str | None = None,
    sensitive: str | Sequence[str] | None = None,
    reference: Any = None,
    compare: Any = None,
    checks: Sequence[str] | None = None,
    thresholds: dict[str, dict] | None = None,
    random_state: int = 0,
    on_progress: Callable[[str, int, int], None] | None = None,
    engine: str = "pandas",
    engine_options: dict | None = None,
    **dataset_kwargs: Any,
) -> Report:
    """Audit a dataset for bias-related data problems.

    Parameters
    ----------
    data : path, DataFrame, polars/pyarrow table, numpy array or Dataset
        The table to audit.
    target : str, optional
        The label column.
    sensitive : str or list of str, optional
        Sensitive attributes (comma-separated string or list); their
        intersections are analysed too.
    reference : dict or path, optional
        Reference population shares for the representation check.
    compare : same types as ``data``, optional
        A second table (test or production data) for the shift check.
    checks : list of str, optional
        Names of checks to run (default: all registered, see
        :func:`unskew.audit.list_checks`); an unknown name raises
        :class:`UnskewInputError` with the closest names.
    thresholds : dict, optional
        ``{check_name: {threshold: value}}`` overrides.
    random_state : int, default 0
        Seed for randomised steps.
    engine : {"pandas", "duckdb", "spark", "dask"}, default "pandas"
        ``pandas`` loads the table (today's path). The other engines compute
        the count-based checks and the shift check's histograms from exact
        counts (the table is never loaded: SQL for DuckDB, partials per
        partition for Spark and Dask) and run the model-based checks on a
        stratified sample they draw; the sample is stated in those checks'
        summaries and in ``parameters["engine"]`` (see
        :func:`unskew.engines.audit_on_engine`; ``engine_options`` go to the
        engine -- DuckDB ``memory_limit``, Spark ``master`` or ``spark``,
        Dask ``scheduler`` or ``dask_client`` -- plus ``sample_size`` and
        ``min_per_stratum``).
    **dataset_kwargs
        Passed to :meth:`unskew.data.Dataset.from_data` (``column_types``,
        ``weights`` (an instance-weight column, e.g. survey weights), ``features``,
        ``ignore``, ``delimiter``, ``na_values``, ...).

    Returns
    -------
    Report
        ``report.checks`` holds one :class:`~unskew.report.CheckResult` per
        check; ``report.to_json()`` and ``report.to_html()`` render it.
    """
    if checks:  # unknown names fail before the table is read
        CHECKS.check([c for c in checks if not isinstance(c, Check)])
    # -- engines (issue 17)
    from ..engines._audit_report import audit_on_engine, check_audit_engine

    if check_audit_engine(engine) != "pandas":
        opts = dict(engine_options or {})
        sizes = {k: opts.pop(k) for k in ("sample_size", "min_per_stratum") if k in opts}
        return audit_on_engine(data, engine=engine, target=target, sensitive=sensitive, checks=checks,
                               thresholds=thresholds, ctx_kwargs={"reference": load_reference(reference)},
                               compare=compare, random_state=random_state, on_progress=on_progress,
                               engine_options=opts, run_checks=run_checks, **sizes, **dataset_kwargs)
    # -- end engines
    ds = Dataset.from_data(data, target=target, sensitive=sensitive, **dataset_kwargs)
    cmp_ds = None
    if compare is not None:
        cmp_kwargs = {k: v for k, v in dataset_kwargs.items() if k in (
            "column_types", "ignore", "delimiter", "encoding", "na_values", "max_levels")}
        cmp_frame, _ = load_table(compare, **{k: v for k, v in cmp_kwargs.items()
                                              if k in ("delimiter", "encoding", "na_values")})
        missing = [c for c in ds.features + list(ds.sensitive) if c not in cmp_frame.columns]
        if missing:
            raise UnskewInputError(
                f"The comparison table lacks column(s) {', '.join(repr(c) for c in missing)} that the "
                f"audited table has; both tables need the same features and sensitive columns."
            )
        # production data often has no labels yet: then the target is simply not compared
        cmp_target = target if target in cmp_frame.columns else None
        cmp_ds = Dataset.from_data(
            cmp_frame, target=cmp_target, sensitive=sensitive, features=ds.features,
            require_two_classes=False,
            **{k: v for k, v in cmp_kwargs.items() if k not in ("delimiter", "encoding", "na_values")},
        )
        if isinstance(compare, (str, Path)):
            cmp_ds.source = str(compare)
    ctx = AuditContext(reference=load_reference(reference), compare=cmp_ds, random_state=random_state)
    results = run_checks(ds, checks, ctx=ctx, thresholds=thresholds, on_progress=on_progress)
    described = ds.describe()
    if cmp_ds is not None:
        described["compare"] = {k: v for k, v in cmp_ds.describe().items() if k in (
            "source", "n_rows_read", "n_rows", "excluded_rows")}
    return Report(
        kind="audit",
        checks=results,
        dataset=described,
        parameters={"random_state": random_state, "checks": [r.name for r in results],
                    "reference": ctx.reference},
    )
