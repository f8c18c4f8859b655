import numpy as np
import pytest
from scipy import stats

from unskew.exceptions import UnskewInputError
from unskew.slices import adjust_pvalues, row_errors, slice_tests


def test_binary_test_is_one_sided_fisher_exact():
    n, total = 500, 80
    for size, k in [(40, 12), (100, 20), (60, 3), (200, 60)]:
        p, eff = slice_tests([size], [k], [k], n, total, total, binary=True)
        table = [[k, size - k], [total - k, n - size - (total - k)]]
        want = stats.fisher_exact(table, alternative="greater").pvalue
        assert p[0] == pytest.approx(want, rel=1e-8)
        ps, pr = k / size, (total - k) / (n - size)
        vs, vr = ps * (1 - ps) * size / (size - 1), pr * (1 - pr) * (n - size) / (n - size - 1)
        assert eff[0] == pytest.approx((ps - pr) / np.sqrt((vs + vr) / 2))


def test_binary_approximation_is_close_for_large_counts():
    n, total = 100_000, 12_000
    size = np.array([2000, 5000, 800])
    k = np.array([300, 650, 110])
    exact, _ = slice_tests(size, k, k, n, total, total, binary=True)
    approx, _ = slice_tests(size, k, k, n, total, total, binary=True, exact=False)
    assert np.allclose(np.log10(approx), np.log10(exact), atol=0.35)


def test_continuous_test_is_welch():
    rng = np.random.default_rng(0)
    e = rng.exponential(size=400)
    mask = np.zeros(400, dtype=bool)
    mask[:70] = True
    e[mask] *= 1.6
    p, eff = slice_tests([70], [e[mask].sum()], [e[mask] @ e[mask]], 400, e.sum(), e @ e, binary=False)
    want = stats.ttest_ind(e[mask], e[~mask], equal_var=False, alternative="greater").pvalue
    assert p[0] == pytest.approx(want, rel=1e-6)
    pooled = np.sqrt((e[mask].var(ddof=1) + e[~mask].var(ddof=1)) / 2)
    assert eff[0] == pytest.approx((e[mask].mean() - e[~mask].mean()) / pooled)


def test_corrections():
    rng = np.random.default_rng(1)
    p = rng.random(200) ** 3
    assert np.allclose(adjust_pvalues(p, 200, "bh"), stats.false_discovery_control(p, method="bh"))
    assert np.allclose(adjust_pvalues(p, 1000, "bonferroni"), np.minimum(1, p * 1000))
    # untested hypotheses of a bigger family count as p = 1
    padded = np.r_[p, np.ones(300)]
    assert np.allclose(adjust_pvalues(p, 500, "bh"), stats.false_discovery_control(padded, method="bh")[:200])
    with pytest.raises(UnskewInputError):
        adjust_pvalues(p, 10, "holm")


def test_row_errors_metrics():
    y = np.array([0, 1, 1, 0])
    e, m = row_errors(y, y_pred=np.array([0, 0, 1, 1]))
    assert m == "zero_one" and e.tolist() == [0, 1, 0, 1]
    s = np.array([0.1, 0.4, 0.8, 0.5])
    e, m = row_errors(y, y_score=s)
    assert m == "log_loss" and np.allclose(e, -np.log([0.9, 0.4, 0.8, 0.5]))
    e, _ = row_errors(y, y_score=s, metric="brier")
    assert np.allclose(e, [0.01, 0.36, 0.04, 0.25])
    e, _ = row_errors(np.array(["no", "yes"]), y_pred=np.array(["no", "no"]))
    assert e.tolist() == [0, 1]
    yr = np.linspace(0, 10, 50)
    e, m = row_errors(yr, y_pred=yr + 2)
    assert m == "squared" and np.allclose(e, 4)
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    e, _ = row_errors(np.array(["a", "c"]), y_score=proba, classes=["a", "b", "c"])
    assert np.allclose(e, -np.log([0.7, 0.8]))


@pytest.mark.parametrize("kwargs, match", [
    ({"y": [0, 1]}, "predictions"),
    ({}, "errors="),
    ({"errors": [0.1, -1]}, "non-negative"),
    ({"errors": [0.1, np.nan]}, "missing"),
    ({"y": [0, 1], "y_score": [0.2, 1.5]}, "probabilities"),
    ({"y": [0, 1, 2], "y_score": [0.2, 0.5, 0.1]}, "classes"),
    ({"y": [0, 1], "y_pred": [0, 1, 1]}, "rows"),
    ({"y": [0, 1], "y_pred": [0, 1], "metric": "hinge"}, "metric"),
])
def test_row_errors_bad_input(kwargs, match):
    with pytest.raises(UnskewInputError, match=match):
        row_errors(**kwargs)
