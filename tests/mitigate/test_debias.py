import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.mitigate.d3m import debias


def _table(n=3000, seed=0):
    """A label that a spurious attribute (``site``) predicts in training rows only."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    site = np.where(rng.random(n) < 0.9, y, 1 - y)
    return pd.DataFrame({
        "core": y + rng.normal(scale=1.2, size=n),
        "badge": np.where(site == 1, "gold", "grey"),
        "noise": rng.normal(size=n),
        "site": np.where(site == 1, "north", "south"),
        "y": y,
    })


def test_debias_returns_cleaned_table_and_review_list():
    df = _table()
    res = debias(df, target="y", sensitive="site")
    s = res.report["d3m"].summary
    assert s["n_removed"] == len(res.removed) > 0
    assert len(res.cleaned) == len(df) - len(res.removed)
    # removed rows are real input rows, identified by position, most harmful first
    assert set(res.removed["row"]).isdisjoint(set(range(len(df))) - set(res.removed["row"]))
    assert (np.diff(res.removed["score"].to_numpy()) >= 0).all()
    assert {"hurts_most", "core", "site", "y"} <= set(res.removed.columns)
    assert res.report.to_dict()["kind"] == "debias"
    # the sensitive column is not a model feature
    assert s["val_worst_group_accuracy_after"] >= s["val_worst_group_accuracy_before"] - 0.02


def test_auto_d3m_needs_no_groups_and_d3m_does():
    df = _table(seed=1)
    res = debias(df, target="y", method="auto-d3m", removal="sweep")
    assert res.estimator.auto_ and res.report.to_dict()["parameters"]["pseudo_depth"] == 1
    deep = debias(df, target="y", method="auto-d3m", pseudo_depth=2)
    assert deep.report.to_dict()["parameters"]["pseudo_depth"] == 2
    assert np.unique(deep.estimator.val_groups_).max() >= 4  # ids 4 * class + code
    assert any(name.endswith("pseudo-group 3") or name.endswith("pseudo-group 2")
               for name in deep.report["d3m"].summary["validation_group_losses"])
    sizes = deep.report["d3m"].summary["validation_group_sizes"]
    assert set(sizes) == set(deep.report["d3m"].summary["validation_group_losses"])
    assert sum(sizes.values()) == deep.report["d3m"].summary["n_validation"] and min(sizes.values()) >= 20
    with pytest.raises(UnskewInputError, match="needs validation groups"):
        debias(df, target="y", method="d3m")
    with pytest.raises(UnskewInputError, match="binary target"):
        debias(df.assign(y=np.arange(len(df)) % 3), target="y", sensitive="site")


def test_split_column_is_respected():
    df = _table(1000).assign(part=lambda d: np.where(np.arange(len(d)) < 700, "train", "val"))
    res = debias(df, target="y", sensitive="site", split="part")
    assert res.report["d3m"].summary["n_train"] == 700
    assert (res.removed["row"] < 700).all()
    with pytest.raises(UnskewInputError, match="Split column"):
        debias(df.assign(part="train"), target="y", sensitive="site", split="part")


def test_report_warns_on_large_or_costly_removals_and_says_when_nothing_was_removed():
    df = _table(seed=2)
    res = debias(df, target="y", sensitive="site")  # default: auto, capped at 20%
    s = res.report["d3m"].summary
    assert s["removal_rule"] == "auto" and s["max_fraction"] == 0.2 and s["fraction_removed"] <= 0.2
    assert s["val_worst_group_accuracy_after"] > s["val_worst_group_accuracy_before"] or s["n_removed"] == 0
    big = s["n_removed"] > round(0.1 * s["n_train"])  # in rows, rounded as the grid rounds its shares
    costly = s["val_accuracy_before"] - s["val_accuracy_after"] > 0.03
    assert s["fraction_removed_exceeds_10pct"] == big and s["val_accuracy_cost_exceeds_3_points"] == costly
    assert res.report["d3m"].status == ("warn" if big or costly else "pass")
    text = " ".join(f.message for f in res.report["d3m"].findings)
    assert "10% warning threshold" in text and "3-point warning threshold" in text
    # the default judges each candidate on held-out validation rows, and says so
    assert s["selection"] == "checked" and res.report.to_dict()["parameters"]["selection"] == "checked"
    assert s["held_out_worst_group_accuracy_chosen"] > s["held_out_worst_group_accuracy_base"] or s["n_removed"] == 0
    assert "Held-out validation worst-group accuracy (each half" in text
    assert s["removal_at_limit"] is res.estimator.removal_at_limit_
    assert ("largest candidate tried under the 20% cap" in text) == s["removal_at_limit"]
    inside = debias(df, target="y", sensitive="site", selection="in_sample").report["d3m"].summary
    assert inside["selection"] == "in_sample" and inside["held_out_worst_group_accuracy_chosen"] is None
    # the paper's rule on a linear model removes a lot: warn
    neg = debias(df, target="y", sensitive="site", removal="negative")
    ns = neg.report["d3m"].summary
    assert ns["fraction_removed"] > 0.1 and neg.report["d3m"].status == "warn"
    assert ns["fraction_removed_exceeds_10pct"]
    # nothing to gain: the site does not predict the label, so no removal beats the base model
    flat = _table(seed=3).assign(site=lambda d: np.where(np.random.default_rng(0).random(len(d)) < 0.5, "north", "south"))
    fr = debias(flat.drop(columns="badge"), target="y", sensitive="site", max_fraction=0.05)
    fs = fr.report["d3m"].summary
    if not fs["removal_applied"]:
        assert fs["n_removed"] == 0 and len(fr.cleaned) == len(flat)
        assert "No removal applied" in " ".join(f.message for f in fr.report["d3m"].findings)
    with pytest.raises(UnskewInputError, match="max_fraction"):
        debias(df, target="y", sensitive="site", max_fraction=2.0)


def test_cli_default_is_auto_and_rejects_bad_max_fraction(tmp_path):
    from typer.testing import CliRunner

    from unskew.cli import app

    path = tmp_path / "t.csv"
    _table(800, seed=4).to_csv(path, index=False)
    runner = CliRunner()
    out = runner.invoke(app, ["debias", str(path), "--target", "y", "--sensitive", "site", "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    import json

    check = json.loads((tmp_path / "r.json").read_text())["checks"][0]
    assert check["summary"]["removal_rule"] == "auto" and check["summary"]["fraction_removed"] <= 0.2
    bad = runner.invoke(app, ["debias", str(path), "--target", "y", "--sensitive", "site", "--max-fraction", "1.5"])
    assert bad.exit_code == 2 and "--max-fraction" in bad.output
    deep = runner.invoke(app, ["debias", str(path), "--target", "y", "--method", "auto-d3m", "--pseudo-depth", "2",
                               "--json", str(tmp_path / "deep.json")])
    assert deep.exit_code == 0, deep.output
    assert json.loads((tmp_path / "deep.json").read_text())["parameters"]["pseudo_depth"] == 2
    small = runner.invoke(app, ["debias", str(path), "--target", "y", "--sensitive", "site", "--min-group-size", "0"])
    assert small.exit_code == 2 and "--min-group-size" in small.output and "Traceback" not in small.output


def test_d3m_methods_are_a_registry():
    from unskew._registry import Registry
    from unskew.mitigate.d3m import METHODS

    assert isinstance(METHODS, Registry)
    assert METHODS.names() == ["d3m", "auto-d3m"]
    assert METHODS["d3m"].needs_groups and not METHODS["auto-d3m"].needs_groups
    with pytest.raises(UnskewInputError, match="Did you mean 'auto-d3m'"):
        debias(_table(n=50), target="y", method="auto_d3m")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"removal": "all"}, "--removal must be one of auto, negative, k, sweep"),
    ({"selection": "holdout"}, "--selection must be one of checked, crossfit, in_sample"),
    ({"removal": "k"}, "--removal k needs --k"),
    ({"removal": "k", "k": -1}, "--removal k needs --k"),
    ({"val_fraction": 1.5}, "--val-fraction must be between 0 and 1"),
    ({"val_fraction": 0}, "--val-fraction must be between 0 and 1"),
    ({"C": 0}, "C .* must be a positive number"),
    ({"min_group_size": 0}, "--min-group-size must be a whole number, 1 or more"),
    ({"pseudo_depth": 0}, "--pseudo-depth must be a whole number from 1 to 4"),
    ({"pseudo_depth": 2}, "--pseudo-depth splits Auto-D3M's pseudo-groups; use it with --method auto-d3m"),
])
def test_debias_checks_options_before_reading_the_table(tmp_path, kwargs, match):
    # the file does not exist: an option error must come first
    with pytest.raises(UnskewInputError, match=match):
        debias(tmp_path / "absent.csv", target="y", sensitive="site", **kwargs)


def test_d3m_sweep_worst_group_accuracy_is_the_metrics_one():
    from unskew.metrics import worst_group
    from unskew.mitigate.d3m._d3m import _worst_group_accuracy

    rng = np.random.default_rng(3)
    y, p = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    g = rng.choice(["a", "b", "c"], 300)
    direct = min(np.mean(p[g == k] == y[g == k]) for k in "abc")
    assert _worst_group_accuracy(y, p, g) == pytest.approx(direct) == pytest.approx(worst_group(y, p, g)[1])


def test_compas_with_every_race_leaves_out_the_tiny_validation_groups(data_home):
    """Real data: Asian and Native American defendants are a few validation rows per outcome.

    Kept, their 1- and 2-row held-out halves decide the held-out worst group (on the raw COMPAS file
    they scored 0.000 for removing nothing and for the candidate alike); left out, and listed, the
    check measures the groups that can be measured.
    """
    from unskew.datasets import load_compas

    df = load_compas(data_home=data_home).drop(columns=["decile_score", "score_text"])
    res = debias(df, target="two_year_recid", sensitive="race")
    s = res.report["d3m"].summary
    assert set(s["groups_excluded"]) == {f"race={r} & two_year_recid={v}" for r in ("Asian", "Native American")
                                         for v in (0, 1)}
    assert all(n < 20 for n in s["groups_excluded"].values())
    # the worst group is now one with enough rows to measure, and the held-out check is informative
    assert s["held_out_worst_group_accuracy_base"] > 0.2
    worst_before = min((a, g) for g, a in s["val_group_accuracy_before"].items() if g not in s["groups_excluded"])
    assert s["val_worst_group_accuracy_before"] == worst_before[0]
    # the left-out groups still appear in the per-group accuracies
    assert set(s["groups_excluded"]) <= set(s["val_group_accuracy_after"])
    text = " ".join(f.message for f in res.report["d3m"].findings)
    assert "Left out of D3M's validation groups" in text and "race=Asian & two_year_recid=1" in text
    assert s["removal_applied"] and s["held_out_worst_group_accuracy_chosen"] > s["held_out_worst_group_accuracy_base"]
    # kept, the 1- and 2-row halves of those groups pull the candidate's held-out estimate down and veto it
    every = debias(df, target="two_year_recid", sensitive="race", min_group_size=1).report["d3m"].summary
    assert every["groups_excluded"] == {} and not every["removal_applied"]
    assert every["held_out_worst_group_accuracy_candidate"] < s["held_out_worst_group_accuracy_candidate"]
    with pytest.raises(UnskewInputError, match="--min-group-size must be a whole number"):
        debias(df, target="two_year_recid", sensitive="race", min_group_size=0)
