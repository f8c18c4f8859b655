"""``check``: detectors over merged windows, false-discovery control, alerts, webhook, the report."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ..exceptions import UnskewInputError
from ..report import Bar, Chart, CheckResult, Finding, Point, Report, Table, worst_status
from ._detectors import ALL, Context, benjamini_hochberg, detectors

#: Default false-discovery level across every test of a check.
FDR_Q = 0.05
#: Windows with fewer rows are not tested.
MIN_WINDOW_ROWS = 100
MAX_ALERT_ROWS = 200


def _alert_key(t) -> str:
    return "|".join(str(x) for x in (t.detector, t.window, t.group or "", t.feature or "", t.message.split(":")[0]))[:500]


def evaluate(monitor, name: str, *, window: Any = "10000", detectors: Any = None, params: dict | None = None) -> dict:
    """Every detector's tests over the windows, with the false-discovery decision on each (``test.alert``).

    Returns ``{"profile", "windows" (tested), "all_windows", "results" (name -> (detector, tests, series,
    seconds)), "tested", "reject", "alerts", "q", "min_rows"}``; :func:`run_check` turns it into the report.
    """
    params = dict(params or {})
    q = float(params.get("fdr", FDR_Q))
    all_windows = monitor.windows(name, window)
    min_rows = int(params.get("min_window_rows", MIN_WINDOW_ROWS))
    wins = [w for w in all_windows if w["n"] >= min_rows]
    prof = monitor.profile(name)
    ctx = Context(profile=prof, windows=wins, params=params)
    reg = _detectors_registry()
    names = list(detectors) if detectors else list(reg)
    for n in names:
        if n not in reg:
            raise UnskewInputError(f"Unknown detector {n!r}; available: {', '.join(reg)}.")
    results = {}
    for n in names:
        det = reg[n]()
        s0 = time.perf_counter()
        tests, series = det.run(ctx)
        results[n] = (det, tests, series, time.perf_counter() - s0)
    tested = [t for _, tests, _, _ in results.values() for t in tests if t.p_value is not None]
    reject = control_false_discoveries(tested, q, params.get("fdr_scope", "spending"))
    for t, r in zip(tested, reject, strict=True):
        t.alert = bool(r and t.floor_met)
    for _, tests, _, _ in results.values():
        for t in tests:
            if t.p_value is None:
                t.alert = t.floor_met
    alerts = [t for _, tests, _, _ in results.values() for t in tests if t.alert]
    return {"profile": prof, "windows": wins, "all_windows": all_windows, "results": results, "tested": tested,
            "reject": reject, "alerts": alerts, "q": q, "min_rows": min_rows}


def run_check(monitor, name: str, *, window: Any = "10000", webhook: str | None = None,
              detectors: Any = None, params: dict | None = None, store_alerts: bool = True) -> Report:
    t0 = time.perf_counter()
    params = dict(params or {})
    ev = evaluate(monitor, name, window=window, detectors=detectors, params=params)
    prof, wins, all_windows, results = ev["profile"], ev["windows"], ev["all_windows"], ev["results"]
    tested, reject, alerts, q, min_rows = ev["tested"], ev["reject"], ev["alerts"], ev["q"], ev["min_rows"]

    new_alerts = []
    if store_alerts and alerts:
        import sqlalchemy as sa

        from ..store import Alert

        with monitor.store.session() as s:
            m = monitor._model(s, name, lock=True)
            have = set(s.scalars(sa.select(Alert.key).where(Alert.model_id == m.id)))
            for t in alerts:
                k = _alert_key(t)
                if k in have:
                    continue
                have.add(k)
                a = Alert(model_id=m.id, version=m.current_version, key=k, detector=t.detector, severity=t.severity,
                          window=t.window, group=t.group, feature=t.feature, message=t.message,
                          evidence=_jsonable({**t.evidence, "p_value": t.p_value, "effect": t.effect}))
                s.add(a)
                new_alerts.append(a)
    hook = webhook or os.environ.get("UNSKEW_MONITOR_WEBHOOK")
    hook_errors = []
    if hook and new_alerts:
        hook_errors = _post_alerts(hook, name, new_alerts)
        if len(hook_errors) < len(new_alerts):
            import sqlalchemy as sa

            from ..store import Alert

            with monitor.store.session() as s:
                ok = [a.id for a in new_alerts][: len(new_alerts)]
                s.execute(sa.update(Alert).where(Alert.id.in_(ok)).values(notified=True))

    checks = []
    for n, (det, tests, series, el) in results.items():
        mine = [t for t in tests if t.alert]
        status = worst_status(t.severity for t in mine) if mine else "pass"
        mine.sort(key=lambda t: (t.severity != "fail", t.window_index, -(t.effect or 0)))
        findings = [Finding(t.message, t.severity, subject=t.group or t.feature, value=t.effect) for t in mine[:50]]
        if not findings:
            findings = [Finding(f"No alert over {len(wins)} window(s) ({sum(t.p_value is not None for t in tests)} tests).")]
        checks.append(CheckResult(
            name=n, title=det.title, status=status, explanation=det.explanation, findings=findings,
            summary={"alerts": len(mine), "tests": len(tests), "windows": len(wins)},
            charts=_charts(series, wins), tables=_alert_table(mine, f"{det.title}: alerts") if mine else [],
            elapsed_s=el))
    overview = CheckResult(
        name="windows", title="Windows and alerts", status=worst_status(t.severity for t in alerts) if alerts else "pass",
        explanation=(f"Windows of {window} (those under {min_rows} rows are not tested). Every p-value of every detector "
                     f"joins one false-discovery control at q={q} (window w spends q/(w(w+1)); Benjamini-Hochberg over the "
                     f"features x groups x detectors of a window); an alert needs a rejected test and an effect at or above "
                     f"the detector's floor."),
        summary={"windows": len(wins), "windows_skipped": len(all_windows) - len(wins), "rows": sum(w["n"] for w in all_windows),
                 "labelled": sum(sum(v.get("n", 0) for v in w["labels"].values()) for w in all_windows),
                 "tests": len(tested), "rejected": int(reject.sum()), "alerts": len(alerts), "new_alerts": len(new_alerts),
                 "webhook_errors": len(hook_errors)},
        findings=[Finding(e, "warn") for e in hook_errors[:5]] + ([Finding(f"{len(alerts)} alert(s), {len(new_alerts)} new.",
                                                                         worst_status(t.severity for t in alerts))] if alerts else
                                                               [Finding("No alerts.")]),
        tables=[Table("Windows", ["window", "label", "rows", "labelled", "from", "to"],
                      [[w["index"], w["label"], w["n"], sum(v.get("n", 0) for v in w["labels"].values()),
                        w["min_ts"].isoformat(timespec="seconds"), w["max_ts"].isoformat(timespec="seconds")] for w in wins])]
        + _alert_table(sorted(alerts, key=lambda t: (t.window_index, t.severity != "fail")), "Alerts"),
        elapsed_s=time.perf_counter() - t0)
    return Report(kind="monitor", checks=[overview, *checks],
                  dataset={"source": f"monitored model {name}", "name": name, "n_rows": overview.summary["rows"],
                           "rows": overview.summary["rows"], "windows": len(wins),
                           "reference_rows": prof.data["n"], "sensitive": prof.sensitive},
                  parameters={"window": str(window), "fdr": q, **{k: v for k, v in params.items() if k != "fdr"}})


def control_false_discoveries(tests, q: float, scope: str = "spending"):
    """Reject mask over ``tests`` (each with ``p_value`` and ``window_index``).

    ``spending`` (default): window ``w`` (counted from the first window ever
    logged) gets the level ``q / (w (w + 1))`` (these sum to ``q``) and
    Benjamini-Hochberg runs over its features x groups x detectors at that
    level. Each window is decided by its own tests only, so later alerts cannot
    loosen earlier decisions, and under no change the chance that *any*
    window of the whole history raises a statistical alert stays at most ``q``
    (Bonferroni over windows, BH within one). ``window``: BH at ``q`` per
    window (more power on long histories, no guarantee across windows).
    ``all``: one BH over every test of the check.
    """
    import numpy as np

    if scope not in ("spending", "window", "all"):
        raise UnskewInputError(f"fdr_scope must be 'spending', 'window' or 'all', not {scope!r}.")
    out = np.zeros(len(tests), dtype=bool)
    if scope == "all":
        return benjamini_hochberg([t.p_value for t in tests], q)
    by: dict[int, list[int]] = {}
    for i, t in enumerate(tests):
        by.setdefault(t.window_index, []).append(i)
    for w, idx in by.items():
        level = q / (w * (w + 1)) if scope == "spending" else q
        out[idx] = benjamini_hochberg([tests[i].p_value for i in idx], level)
    return out


def _detectors_registry():
    return detectors()


def _jsonable(d):
    from ..report import to_jsonable

    return to_jsonable(d)


def _alert_table(tests, title) -> list[Table]:
    rows = [[t.window, t.severity, t.detector, t.group or "", t.feature or "", t.message,
             None if t.p_value is None else float(f"{t.p_value:.3g}"), None if t.effect is None else round(t.effect, 4)]
            for t in tests[:MAX_ALERT_ROWS]]
    return [Table(title, ["window", "severity", "detector", "group", "feature", "message", "p_value", "effect"], rows,
                  n_rows_total=len(tests))]


def _charts(series, wins) -> list[Chart]:
    """Time series as scatter charts (x = window number, one colour per group, intervals as y ranges)."""
    charts = []
    by_title: dict[str, list] = {}
    for s in series:
        by_title.setdefault(s.title, []).append(s)
    for title, ss in by_title.items():
        ss = sorted(ss, key=lambda s: (s.group != ALL, s.group))[:8]
        pts = []
        for s in ss:
            for i, v in enumerate(s.values):
                if v is None or i >= len(wins):
                    continue
                pts.append(Point(label=f"{'all' if s.group == ALL else s.group} · {wins[i]['label']}", x=float(wins[i]["index"]),
                                 y=float(v), y_low=None if not s.low or s.low[i] is None else float(s.low[i]),
                                 y_high=None if not s.high or s.high[i] is None else float(s.high[i]),
                                 series="all" if s.group == ALL else s.group))
        if pts:
            charts.append(Chart(title=f"{title} per window", bars=[], kind="scatter", points=pts,
                                x_label="window", y_label=title))
    return charts[:12]


def _post_alerts(url: str, name: str, alerts) -> list[str]:
    import urllib.request

    errors = []
    for a in alerts:
        body = json.dumps({"model": name, "detector": a.detector, "severity": a.severity, "window": a.window,
                           "group": a.group, "feature": a.feature, "message": a.message,
                           "evidence": a.evidence}).encode()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - user-configured webhook
                if r.status >= 300:
                    errors.append(f"webhook {url} answered {r.status}")
        except Exception as exc:  # a failing webhook must not lose the check
            errors.append(f"webhook {url}: {type(exc).__name__}: {exc}")
    return errors


__all__ = ["evaluate", "run_check", "Bar"]
