"""The selection rule of a comparison: constraints, an objective, and the recommendation."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from ..exceptions import UnskewInputError

#: Leaderboard metrics: name -> (higher is better, human title).
METRICS: dict[str, tuple[bool, str]] = {
    "accuracy": (True, "accuracy"),
    "worst_group_accuracy": (True, "worst-group accuracy"),
    "demographic_parity_difference": (False, "demographic parity difference"),
    "equal_opportunity_difference": (False, "equal opportunity difference"),
    "equalized_odds_difference": (False, "equalized odds difference"),
    "time_s": (False, "time (s)"),
    "data_changed": (False, "share of training data changed"),
    "decisions_changed": (False, "share of test decisions changed"),
}

#: The fairness gaps (they decide which criterion the fairness-targeting methods aim at).
GAPS = {
    "demographic_parity_difference": "demographic_parity",
    "equal_opportunity_difference": "equal_opportunity",
    "equalized_odds_difference": "equalized_odds",
}

ALIASES = {
    "acc": "accuracy",
    "wga": "worst_group_accuracy",
    "worst_group": "worst_group_accuracy",
    "worst_group_acc": "worst_group_accuracy",
    "dp": "demographic_parity_difference",
    "demographic_parity": "demographic_parity_difference",
    "statistical_parity": "demographic_parity_difference",
    "eo": "equal_opportunity_difference",
    "eop": "equal_opportunity_difference",
    "equal_opportunity": "equal_opportunity_difference",
    "tpr": "equal_opportunity_difference",
    "eodds": "equalized_odds_difference",
    "equalized_odds": "equalized_odds_difference",
    "time": "time_s",
    "seconds": "time_s",
    "changed": "data_changed",
}

_TERM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*(<=|>=|<|>|=<|=>)\s*([-+0-9.eE%]+)\s*$")
_OBJ = re.compile(r"^\s*(max|maximi[sz]e|min|minimi[sz]e)\s*[: ]\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.I)


def metric_name(name: str) -> str:
    """The canonical leaderboard metric for ``name`` (aliases such as ``dp`` or ``equalized_odds``)."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in METRICS:
        known = sorted(set(METRICS) | set(ALIASES))
        raise UnskewInputError(f"Unknown metric {name!r} in the constraint; use one of {', '.join(known)}.")
    return key


@dataclass
class Selection:
    """Constraints every recommended method must meet and the objective it is best at.

    Attributes
    ----------
    constraints : list of (metric, op, bound)
        ``op`` is ``"<="`` or ``">="``; met by the mean over seeds.
    objective : str
        Metric the recommendation is best at.
    """

    constraints: list[tuple[str, str, float]] = field(default_factory=list)
    objective: str = "worst_group_accuracy"

    @property
    def maximize(self) -> bool:
        return METRICS[self.objective][0]

    @property
    def fairness(self) -> str:
        """Criterion for the methods that target one: the first gap named, else equalized odds."""
        for m, _, _ in self.constraints:
            if m in GAPS:
                return GAPS[m]
        return GAPS.get(self.objective, "equalized_odds")

    @property
    def gap_metric(self) -> str:
        """The fairness gap drawn against accuracy in the Pareto plot."""
        return {v: k for k, v in GAPS.items()}[self.fairness]

    def describe(self) -> str:
        parts = [f"{m} {op} {b:g}" for m, op, b in self.constraints]
        goal = f"{'maximise' if self.maximize else 'minimise'} {self.objective}"
        return (", ".join(parts) + "; " if parts else "") + goal

    def meets(self, row: pd.Series) -> bool:
        return all(_ok(row.get(m), op, b) for m, op, b in self.constraints)

    def meets_confidently(self, row: pd.Series) -> bool:
        """Met even at the unfavourable end of each metric's interval."""
        for m, op, b in self.constraints:
            end = row.get(f"{m}_high" if op == "<=" else f"{m}_low", row.get(m))
            if end is None or (isinstance(end, float) and math.isnan(end)):
                end = row.get(m)
            if not _ok(end, op, b):
                return False
        return True

    def violation(self, row: pd.Series) -> float:
        total = 0.0
        for m, op, b in self.constraints:
            v = row.get(m)
            if v is None or pd.isna(v):
                return math.inf
            total += max(0.0, (v - b) if op == "<=" else (b - v))
        return total


def _ok(v, op, b) -> bool:
    if v is None or pd.isna(v):
        return False
    return v <= b + 1e-12 if op == "<=" else v >= b - 1e-12


def parse_selection(constraint: str | None = None, objective: str | None = None) -> Selection:
    """Parse ``"equalized_odds<=0.05"``-style constraints and an objective.

    Parameters
    ----------
    constraint : str, optional
        Comma-separated terms ``METRIC<=VALUE`` / ``METRIC>=VALUE`` (a
        trailing ``%`` divides by 100), or ``max METRIC`` / ``min METRIC``
        to set the objective. Metrics: see :data:`METRICS` and
        :data:`ALIASES` (``dp``, ``eo``, ``equalized_odds``, ``wga`` ...).
    objective : str, optional
        Metric to optimise. Default: ``accuracy`` when constraints are given,
        else ``worst_group_accuracy``.

    Raises
    ------
    UnskewInputError
        For a term that is not ``METRIC OP VALUE``, an unknown metric, or two objectives.
    """
    cons: list[tuple[str, str, float]] = []
    obj = metric_name(objective) if objective else None
    for raw in re.split(r",|\band\b", constraint or ""):
        term = raw.strip()
        if not term:
            continue
        mo = _OBJ.match(term)
        if mo:
            name = metric_name(mo.group(2))
            if obj is not None and obj != name:
                raise UnskewInputError(f"Two objectives given ({obj} and {name}); keep one.")
            obj = name
            want_max = mo.group(1).lower().startswith("max")
            if want_max != METRICS[name][0]:
                raise UnskewInputError(
                    f"{term!r}: {name} is {'better higher' if METRICS[name][0] else 'better lower'}; "
                    f"write '{'max' if METRICS[name][0] else 'min'} {name}'.")
            continue
        mt = _TERM.match(term)
        if not mt:
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", term):
                name = metric_name(term)
                if obj is not None and obj != name:
                    raise UnskewInputError(f"Two objectives given ({obj} and {name}); keep one.")
                obj = name
                continue
            raise UnskewInputError(
                f"Cannot read the constraint {term!r}. Write METRIC<=VALUE or METRIC>=VALUE "
                f"(e.g. 'equalized_odds<=0.05', 'accuracy>=0.8') or 'max worst_group_accuracy'.")
        name = metric_name(mt.group(1))
        op = {"=<": "<=", "=>": ">=", "<": "<=", ">": ">="}.get(mt.group(2), mt.group(2))
        txt = mt.group(3)
        try:
            bound = float(txt[:-1]) / 100 if txt.endswith("%") else float(txt)
        except ValueError:
            raise UnskewInputError(f"The bound {txt!r} in {term!r} is not a number.") from None
        cons.append((name, op, bound))
    if obj is None:
        obj = "accuracy" if cons else "worst_group_accuracy"
    return Selection(cons, obj)


def recommend(board: pd.DataFrame, selection: Selection) -> dict:
    """Choose the best method of a leaderboard under ``selection`` and say why.

    Among the methods that ran, those meeting every constraint (by the mean
    over seeds) compete on the objective; ties go to the method that changes
    less data, then the faster one. When none meets the constraints, the one
    closest to meeting them is named and the recommendation says so.

    Returns
    -------
    dict
        ``method``, ``title``, ``family``, ``meets``, ``confident``,
        ``reason`` (sentences), ``runner_up``, ``best_unskew``, ``best_peer``
        (each best method's name or None) and ``n_feasible``.
    """
    ran = board[board["status"] == "ok"]
    if ran.empty:
        return {"method": None, "title": None, "family": None, "meets": False, "confident": False,
                "reason": "No method ran successfully.", "runner_up": None, "best_unskew": None,
                "best_peer": None, "n_feasible": 0}
    ranked = rank(ran, selection)
    best = ranked.iloc[0]
    feasible = ranked[ranked["meets_constraints"]]
    obj = selection.objective
    title_obj = METRICS[obj][1]

    def fmt(row, m):
        v, lo, hi = row.get(m), row.get(f"{m}_low"), row.get(f"{m}_high")
        if m == "time_s":
            return f"{v:.1f} s"
        s = f"{v:.3f}"
        if lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
            s += f" [{lo:.3f}, {hi:.3f}]"
        return s

    sentences = []
    cons_txt = " and ".join(f"{METRICS[m][1]} {op} {b:g}" for m, op, b in selection.constraints)
    if selection.constraints and len(feasible):
        sentences.append(
            f"{best['title']} has the {'highest' if selection.maximize else 'lowest'} {title_obj} "
            f"({fmt(best, obj)}) of the {len(feasible)} method{'s' if len(feasible) != 1 else ''} "
            f"meeting {cons_txt}.")
        for m, _, _ in selection.constraints:
            sentences.append(f"Its {METRICS[m][1]} is {fmt(best, m)}.")
        if not best["meets_confidently"]:
            sentences.append("The constraint is met by the mean over seeds but not at the unfavourable end "
                             "of its interval; check it on more data before relying on it.")
    elif selection.constraints:
        sentences.append(
            f"No method meets {cons_txt}. {best['title']} comes closest "
            f"({', '.join(f'{METRICS[m][1]} {fmt(best, m)}' for m, _, _ in selection.constraints)}); "
            f"loosen the constraint or collect more data for the groups that fall short.")
    else:
        sentences.append(f"{best['title']} has the {'highest' if selection.maximize else 'lowest'} "
                         f"{title_obj} ({fmt(best, obj)}).")
    base = ran[ran["method"] == "baseline"]
    if len(base) and best["method"] != "baseline":
        b = base.iloc[0]
        sentences.append(
            f"Against the baseline: accuracy {b['accuracy']:.3f} -> {best['accuracy']:.3f}, worst-group "
            f"accuracy {b['worst_group_accuracy']:.3f} -> {best['worst_group_accuracy']:.3f}, "
            f"{METRICS[selection.gap_metric][1]} {b[selection.gap_metric]:.3f} -> "
            f"{best[selection.gap_metric]:.3f}.")
    sentences.append(f"It changes {best['data_changed']:.1%} of the training data and "
                     f"{best['decisions_changed']:.1%} of the test decisions, and took {best['time_s']:.1f} s.")
    runner = None
    pool = feasible if len(feasible) else ranked
    if len(pool) > 1:
        r = pool.iloc[1]
        runner = r["method"]
        lo, hi = best.get(f"{obj}_low"), best.get(f"{obj}_high")
        close = lo is not None and hi is not None and not pd.isna(lo) and lo <= r[obj] <= hi
        sentences.append(
            f"Runner-up: {r['title']} ({fmt(r, obj)})"
            + ("; within the interval of the best, so the two are not clearly different on this data."
               if close else "."))
    best_u = _best_of(ranked, peer=False)
    best_p = _best_of(ranked, peer=True)
    return {
        "method": best["method"], "title": best["title"], "family": best["family"],
        "meets": bool(best["meets_constraints"]), "confident": bool(best["meets_confidently"]),
        "reason": " ".join(sentences), "runner_up": runner, "best_unskew": best_u, "best_peer": best_p,
        "n_feasible": int(len(feasible)),
    }


def _best_of(ranked: pd.DataFrame, peer: bool) -> str | None:
    part = ranked[(ranked["family"] != "unskew") == peer]
    return None if part.empty else str(part.iloc[0]["method"])


def rank(board: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    """Rows of ``board`` ordered by the selection rule, with ``meets_constraints``,
    ``meets_confidently`` and ``violation`` columns added."""
    b = board.copy()
    b["meets_constraints"] = [selection.meets(r) for _, r in b.iterrows()]
    b["meets_confidently"] = [selection.meets_confidently(r) for _, r in b.iterrows()]
    b["violation"] = [selection.violation(r) for _, r in b.iterrows()]
    sign = -1.0 if selection.maximize else 1.0
    b["_obj"] = sign * b[selection.objective].astype(float).fillna(-sign * math.inf)
    b["_ok"] = (b["status"] == "ok").astype(int)
    b = b.sort_values(["_ok", "meets_constraints", "violation", "_obj", "data_changed", "time_s", "method"],
                      ascending=[False, False, True, True, True, True, True], kind="mergesort")
    return b.drop(columns=["_obj", "_ok"])
