"""Self-contained HTML rendering of a report's JSON.

The page is produced by a Jinja2 template with autoescaping on, so every
string that comes from the data (column names, category values, group labels,
findings) is escaped. Charts are inline SVG whose geometry is computed here;
the page needs no JavaScript, no web fonts and no network access.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..exceptions import UnskewInputError

#: Bars drawn per chart at most; the rest are counted in a note.
MAX_BARS = 60
#: Rows of a non-sample table shown at most.
MAX_TABLE_ROWS = 200
#: Characters of a bar label drawn before it is cut (the full label is in a tooltip).
MAX_LABEL_CHARS = 42
#: Characters of the nested-summary JSON shown in the collapsible block.
MAX_SUMMARY_JSON = 20_000

_STATUS_TEXT = {
    "pass": "pass",
    "warn": "warning",
    "fail": "fail",
    "skipped": "skipped",
    "error": "error",
}

_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATE_DIR)),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = format_number
    env.filters["cell"] = format_cell
    env.filters["status_text"] = lambda s: _STATUS_TEXT.get(s, str(s))
    env.filters["humankey"] = lambda k: str(k).replace("_", " ")
    return env


# ----------------------------------------------------------------------------- formatting
def format_number(v: Any) -> str:
    """Human formatting of a number for the page (``None`` becomes an em dash)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        a = abs(v)
        if a < 1e-12:  # floating-point noise around zero (e.g. an interval's lower end)
            return "0"
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        if a >= 0.001:
            return f"{v:.3f}"
        return f"{v:.2e}"
    return str(v)


def format_cell(v: Any) -> str:
    """A table cell: numbers formatted, everything else as text (escaped by the template)."""
    if v is None:
        return "—"
    if isinstance(v, (int, float, bool)):
        return format_number(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)[:200]
    return str(v)


def _nice_step(span: float, target_ticks: int = 5) -> float:
    raw = span / max(target_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------- charts
def chart_layout(chart: dict, check_status: str = "warn") -> dict:
    """Geometry of a horizontal bar chart with interval whiskers and a reference line.

    Parameters
    ----------
    chart : dict
        A chart of the report JSON (``title``, ``bars``, ``reference``, ...).
    check_status : str
        Status of the check the chart belongs to; flagged bars take its colour.

    Returns
    -------
    dict
        Pixel positions of every bar, whisker, tick and the reference line, plus
        the texts to draw (escaped later by the template).
    """
    all_bars = list(chart.get("bars") or [])
    bars = all_bars[:MAX_BARS]
    values = []
    for b in bars:
        for k in ("value", "low", "high"):
            f = _finite(b.get(k))
            if f is not None:
                values.append(f)
    ref = _finite(chart.get("reference"))
    if ref is not None:
        values.append(ref)
    lo = min([0.0, *values])
    hi = max([0.0, *values])
    if hi - lo <= 0:
        hi = lo + 1.0
    step = _nice_step(hi - lo)
    lo = math.floor(lo / step + 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step
    if hi <= lo:
        hi = lo + step

    longest = max((min(len(str(b.get("label", ""))), MAX_LABEL_CHARS) for b in bars), default=4)
    label_w = int(min(300, max(70, 6.6 * longest + 14)))
    width = 760
    value_w = 62
    x0 = label_w + 8
    x1 = width - value_w
    row_h = 24
    top = 10
    plot_h = max(row_h * len(bars), row_h)
    axis_y = top + plot_h + 4
    height = axis_y + (38 if chart.get("x_label") else 24)

    def sx(v: float) -> float:
        return round(x0 + (v - lo) / (hi - lo) * (x1 - x0), 2)

    zero = sx(min(max(0.0, lo), hi))
    flag_colour = {"fail": "#cf222e", "error": "#8250df"}.get(check_status, "#bf8700")
    drawn = []
    for i, b in enumerate(bars):
        y = top + i * row_h
        cy = y + row_h / 2
        label = str(b.get("label", ""))
        short = label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"
        v = _finite(b.get("value"))
        item = {
            "label": label,
            "short": short,
            "cy": round(cy, 2),
            "text_y": round(cy + 4, 2),
            "value_text": format_number(v),
            "flag": bool(b.get("flag")),
            "colour": flag_colour if b.get("flag") else "#4c78a8",
            "bar": None,
            "whisker": None,
            "value_x": x1 + 6,
        }
        if v is not None:
            xv = sx(v)
            item["bar"] = {"x": min(zero, xv), "y": round(cy - 7, 2), "w": max(abs(xv - zero), 1.0), "h": 14}
        blo, bhi = _finite(b.get("low")), _finite(b.get("high"))
        if blo is not None and bhi is not None:
            item["whisker"] = {"x1": sx(min(blo, bhi)), "x2": sx(max(blo, bhi)),
                               "y1": round(cy - 5, 2), "y2": round(cy + 5, 2), "y": round(cy, 2)}
            item["interval_text"] = f"{format_number(blo)} – {format_number(bhi)}"
        else:
            item["interval_text"] = ""
        drawn.append(item)

    ticks = []
    n_ticks = int(round((hi - lo) / step))
    decimals = 0
    while decimals < 10 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    for k in range(n_ticks + 1):
        t = lo + k * step
        text = f"{t:,.{decimals}f}" if abs(t) > step * 1e-6 else "0"
        ticks.append({"x": sx(t), "text": text})
    return {
        "title": str(chart.get("title", "")),
        "x_label": str(chart.get("x_label", "") or ""),
        "width": width,
        "height": height,
        "label_x": label_w,
        "x0": x0,
        "x1": x1,
        "top": top,
        "axis_y": axis_y,
        "zero_x": zero,
        "bars": drawn,
        "ticks": ticks,
        "reference": None if ref is None else {"x": sx(ref), "value": format_number(ref),
                                                  "label": str(chart.get("reference_label") or "reference")},
        "has_intervals": any(d["whisker"] for d in drawn),
        "has_flags": any(d["flag"] for d in drawn),
        "flag_colour": flag_colour,
        "n_bars": len(all_bars),
        "n_hidden": max(0, len(all_bars) - len(bars)),
        "kind": str(chart.get("kind", "bar")),
    }


#: Colours of scatter series (points of other series take the last).
_SERIES_COLOURS = {"": "#4c78a8", "unskew": "#4c78a8", "pareto": "#2e7d32", "peer": "#9467bd"}
#: Points drawn per scatter chart at most.
MAX_POINTS = 80


def _axis(values: list[float], include_zero: bool) -> tuple[float, float, float]:
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        lo, hi = lo - 0.5, hi + 0.5
    step = _nice_step(hi - lo)
    lo = math.floor(lo / step + 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step
    return lo, (hi if hi > lo else lo + step), step


def _place_labels(drawn: list[dict]) -> None:
    """Keep a point's text label only where it overlaps no label already placed
    (flagged points first); the others keep their tooltip."""
    boxes: list[tuple[float, float, float, float]] = []
    order = sorted(range(len(drawn)), key=lambda i: (not drawn[i]["flag"], i))
    for i in order:
        d = drawn[i]
        x, y = d["cx"] + 8, d["cy"] - 6
        box = (x, y - 11, x + 6.6 * len(d["short"]), y + 3)
        clash = any(not (box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1]) for b in boxes)
        d["show_label"] = not clash
        if not clash:
            boxes.append(box)


def scatter_layout(chart: dict, check_status: str = "warn") -> dict:
    """Geometry of a scatter chart (``kind="scatter"``): points with optional x/y
    interval whiskers, a vertical reference line, and labels.

    Returns the same top-level keys as :func:`chart_layout` where they apply,
    plus ``points``, ``y_ticks``, ``y_label`` and ``series``.
    """
    all_points = [p for p in chart.get("points") or [] if isinstance(p, dict)]
    pts = [p for p in all_points if _finite(p.get("x")) is not None and _finite(p.get("y")) is not None][:MAX_POINTS]
    xs, ys = [], []
    for p in pts:
        xs += [v for v in (_finite(p.get(k)) for k in ("x", "x_low", "x_high")) if v is not None]
        ys += [v for v in (_finite(p.get(k)) for k in ("y", "y_low", "y_high")) if v is not None]
    ref = _finite(chart.get("reference"))
    if ref is not None:
        xs.append(ref)
    xlo, xhi, xstep = _axis(xs, include_zero=True)
    ylo, yhi, ystep = _axis(ys, include_zero=False)
    width, height = 760, 380
    x0, x1, top = 62, width - 150, 12
    axis_y = height - (44 if chart.get("x_label") else 28)

    def sx(v: float) -> float:
        return round(x0 + (v - xlo) / (xhi - xlo) * (x1 - x0), 2)

    def sy(v: float) -> float:
        return round(axis_y - (v - ylo) / (yhi - ylo) * (axis_y - top), 2)

    flag_colour = {"fail": "#cf222e", "error": "#8250df"}.get(check_status, "#bf8700")
    drawn = []
    for p in pts:
        x, y = _finite(p.get("x")), _finite(p.get("y"))
        series = str(p.get("series") or "")
        label = str(p.get("label", ""))
        short = label if len(label) <= 24 else label[:23] + "…"
        item = {"label": label, "short": short, "cx": sx(x), "cy": sy(y), "flag": bool(p.get("flag")),
                "colour": flag_colour if p.get("flag") else _SERIES_COLOURS.get(series, "#6e7781"),
                "x_text": format_number(x), "y_text": format_number(y), "series": series,
                "xw": None, "yw": None}
        xl, xh = _finite(p.get("x_low")), _finite(p.get("x_high"))
        if xl is not None and xh is not None:
            item["xw"] = {"x1": sx(min(xl, xh)), "x2": sx(max(xl, xh)), "y": sy(y)}
        yl, yh = _finite(p.get("y_low")), _finite(p.get("y_high"))
        if yl is not None and yh is not None:
            item["yw"] = {"y1": sy(max(yl, yh)), "y2": sy(min(yl, yh)), "x": sx(x)}
        drawn.append(item)
    _place_labels(drawn)
    x_ticks = [{"x": sx(xlo + k * xstep), "text": format_number(round(xlo + k * xstep, 10))}
               for k in range(int(round((xhi - xlo) / xstep)) + 1)]
    y_ticks = [{"y": sy(ylo + k * ystep), "text": format_number(round(ylo + k * ystep, 10))}
               for k in range(int(round((yhi - ylo) / ystep)) + 1)]
    series = sorted({d["series"] for d in drawn if d["series"]})
    return {
        "kind": "scatter",
        "title": str(chart.get("title", "")),
        "x_label": str(chart.get("x_label", "") or ""),
        "y_label": str(chart.get("y_label", "") or ""),
        "width": width,
        "height": height,
        "x0": x0,
        "x1": x1,
        "top": top,
        "axis_y": axis_y,
        "ticks": x_ticks,
        "y_ticks": y_ticks,
        "points": drawn,
        "bars": drawn,
        "n_bars": len(all_points),
        "n_hidden": max(0, len(all_points) - len(drawn)),
        "reference": None if ref is None else {"x": sx(ref), "value": format_number(ref),
                                                  "label": str(chart.get("reference_label") or "reference")},
        "has_intervals": any(d["xw"] or d["yw"] for d in drawn),
        "has_flags": any(d["flag"] for d in drawn),
        "flag_colour": flag_colour,
        "series": [{"name": s, "colour": _SERIES_COLOURS.get(s, "#6e7781")} for s in series],
    }


# ----------------------------------------------------------------------------- sections
def _key_numbers(summary: dict, limit: int = 12) -> tuple[list[tuple[str, Any]], bool]:
    """Scalar entries of a summary (the key numbers) and whether nested ones remain."""
    scalars, nested = [], False
    for k, v in (summary or {}).items():
        if k == "traceback":
            continue
        if v is None or isinstance(v, (str, int, float, bool)):
            if isinstance(v, str) and len(v) > 120:
                nested = True
                continue
            if len(scalars) < limit:
                scalars.append((str(k), v))
            else:
                nested = True
        elif isinstance(v, list) and len(v) <= 6 and all(isinstance(x, (str, int, float)) for x in v):
            if len(scalars) < limit:
                scalars.append((str(k), ", ".join(format_cell(x) for x in v) if v else "none"))
            else:
                nested = True
        else:
            nested = True
    return scalars, nested


def _table_view(table: dict) -> dict:
    rows = list(table.get("rows") or [])
    is_sample = bool(table.get("is_sample"))
    total = table.get("n_rows_total")
    total = int(total) if isinstance(total, int) else len(rows)
    shown = rows if is_sample else rows[:MAX_TABLE_ROWS]
    numeric_cols = []
    for j in range(len(table.get("columns") or [])):
        vals = [r[j] for r in shown if j < len(r) and r[j] is not None]
        numeric_cols.append(bool(vals) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                               for x in vals))
    return {
        "title": str(table.get("title", "")),
        "columns": [str(c) for c in table.get("columns") or []],
        "numeric": numeric_cols,
        "rows": shown,
        "is_sample": is_sample,
        "n_rows_total": max(total, len(rows)),
        "n_shown": len(shown),
    }


_BASE64 = None


def _image_view(image) -> dict | None:
    """An embedded PNG, only if it is plain base64 of a PNG (anything else is dropped)."""
    import re

    global _BASE64
    if _BASE64 is None:
        _BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
    if not isinstance(image, dict):
        return None
    png = str(image.get("png", ""))
    if not png.startswith("iVBORw0KGgo") or len(png) > 200_000 or not _BASE64.match(png):
        return None
    return {"title": str(image.get("title", "")), "caption": str(image.get("caption", "")), "png": png}


def _check_view(check: dict) -> dict:
    status = str(check.get("status", "pass"))
    summary = check.get("summary") or {}
    key_numbers, nested = _key_numbers(summary)
    summary_json = ""
    if nested:
        rest = {k: v for k, v in summary.items() if k != "traceback"}
        summary_json = json.dumps(rest, indent=1, ensure_ascii=False, default=str)
        if len(summary_json) > MAX_SUMMARY_JSON:
            summary_json = summary_json[:MAX_SUMMARY_JSON] + "\n… (cut; the JSON report has all of it)"
    charts = []
    for c in check.get("charts") or []:
        if isinstance(c, dict) and c.get("kind") == "scatter" and c.get("points"):
            charts.append(scatter_layout(c, status))
        elif isinstance(c, dict) and c.get("bars"):
            charts.append(chart_layout(c, status))
    return {
        "name": str(check.get("name", "")),
        "anchor": "check-" + "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in str(check.get("name", ""))),
        "title": str(check.get("title") or check.get("name", "")),
        "status": status,
        "explanation": str(check.get("explanation") or ""),
        "findings": [f for f in check.get("findings") or [] if isinstance(f, dict)],
        "key_numbers": key_numbers,
        "summary_json": summary_json,
        "traceback": str(summary.get("traceback") or "") if status == "error" else "",
        "thresholds": list((check.get("thresholds") or {}).items()),
        "charts": charts,
        "tables": [_table_view(t) for t in check.get("tables") or [] if isinstance(t, dict)],
        "images": [_image_view(i) for i in (check.get("images") or [])[:24] if _image_view(i)],
        "elapsed_s": check.get("elapsed_s"),
    }


def _dataset_view(ds: dict) -> dict:
    ds = ds or {}
    excluded = ds.get("excluded_rows") or {}
    n_excl = sum(int(v) for v in excluded.values() if isinstance(v, (int, float)))
    types: dict[str, int] = {}
    for t in (ds.get("column_types") or {}).values():
        types[str(t)] = types.get(str(t), 0) + 1
    roles = []
    for role in ("target", "predictions", "scores", "weights", "split"):
        if ds.get(role):
            roles.append((role, str(ds[role])))
    if ds.get("sensitive"):
        roles.append(("sensitive", ", ".join(str(s) for s in ds["sensitive"])))
    compare = ds.get("compare") or None
    if compare:
        c_excl = compare.get("excluded_rows") or {}
        compare = {
            "source": str(compare.get("source", "")),
            "n_rows_read": compare.get("n_rows_read"),
            "n_rows": compare.get("n_rows"),
            "excluded": list(c_excl.items()),
            "n_excluded": sum(int(v) for v in c_excl.values() if isinstance(v, (int, float))),
        }
    return {
        "source": str(ds.get("source", "") or "in-memory table"),
        "n_rows_read": ds.get("n_rows_read"),
        "n_rows": ds.get("n_rows"),
        "n_columns": ds.get("n_columns"),
        "n_features": len(ds.get("features") or []),
        "excluded": list(excluded.items()),
        "n_excluded": n_excl,
        "roles": roles,
        "types": sorted(types.items(), key=lambda kv: -kv[1]),
        "compare": compare,
    }


def render_html(report: dict) -> str:
    """Render a report's JSON (``Report.to_dict()``) as one self-contained HTML page.

    Parameters
    ----------
    report : dict
        The report as produced by :meth:`unskew.report.Report.to_dict` (or read
        back from its JSON file).

    Returns
    -------
    str
        A complete HTML document with inline CSS and SVG charts; every string
        from the data is escaped.

    Raises
    ------
    UnskewInputError
        When ``report`` is not a report dictionary.
    """
    if not isinstance(report, dict) or not isinstance(report.get("checks"), list):
        raise UnskewInputError("render_html needs a report dictionary with a 'checks' list "
                               "(Report.to_dict() or the parsed JSON report).")
    checks = [_check_view(c) for c in report["checks"] if isinstance(c, dict)]
    counts = {s: sum(1 for c in checks if c["status"] == s) for s in _STATUS_TEXT}
    params = report.get("parameters") or {}
    reference = params.get("reference") if isinstance(params, dict) else None
    other_params = [(k, v) for k, v in params.items() if k not in ("reference", "checks")] if isinstance(params, dict) else []
    kind = str(report.get("kind", "audit"))
    return _environment().get_template("report.html.j2").render(
        kind=kind,
        title=f"unskew {kind} report",
        status=str(report.get("status", "pass")),
        created=str(report.get("created", "")),
        version=str(report.get("unskew_version", "")),
        schema_version=str(report.get("schema_version", "")),
        dataset=_dataset_view(report.get("dataset") or {}),
        checks=checks,
        counts=[(s, n) for s, n in counts.items() if n],
        reference_json=json.dumps(reference, indent=1, ensure_ascii=False) if reference else "",
        other_params=other_params,
    )


__all__ = ["chart_layout", "format_number", "render_html", "scatter_layout"]
