import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from unskew.exceptions import UnskewInputError
from unskew.review._agreement import agreement, cohen_kappa, fleiss_kappa, fleiss_kappa_counts


@pytest.mark.parametrize("seed", range(5))
def test_cohen_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    cats = ["keep", "remove", "relabel:1", "escalate"]
    a = rng.choice(cats, 200)
    b = np.where(rng.random(200) < 0.6, a, rng.choice(cats, 200))
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)


def test_cohen_edge_cases():
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0
    assert np.isnan(cohen_kappa([], []))
    assert cohen_kappa(["a", "b"], ["b", "a"]) == pytest.approx(-1.0)
    with pytest.raises(UnskewInputError):
        cohen_kappa(["a"], ["a", "b"])


def test_fleiss_hand_computed_wikipedia_example():
    # Fleiss (1971) worked example as on Wikipedia: 10 items, 14 raters, 5 categories; kappa = 0.210.
    counts = np.array([
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa_counts(counts) == pytest.approx(0.2099, abs=1e-4)
    ratings = [[j for j in range(5) for _ in range(row[j])] for row in counts]
    assert fleiss_kappa(ratings) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_small_hand_example():
    # P_i = 1, 1/3, 1 -> P_bar = 7/9; p = (5/9, 4/9) -> P_e = 41/81; kappa = (63/81-41/81)/(40/81) = 0.55
    assert fleiss_kappa([["a"] * 3, ["a", "a", "b"], ["b"] * 3]) == pytest.approx(0.55)
    with pytest.raises(UnskewInputError, match="same number"):
        fleiss_kappa([["a", "b"], ["a"]])


def test_agreement_summary():
    r = agreement({1: {"ann": "keep", "bob": "keep"}, 2: {"ann": "remove", "bob": "remove"},
                   3: {"ann": "keep", "bob": "remove"}, 4: {"ann": "keep"}})
    assert r["items"] == 3 and r["method"] == "cohen"
    assert r["kappa"] == pytest.approx(cohen_kappa_score(["keep", "remove", "keep"], ["keep", "remove", "remove"]))
    assert r["per_reviewer"]["ann"]["agreement"] == pytest.approx(2 / 3)
    r3 = agreement({i: {"a": x, "b": y, "c": z} for i, (x, y, z) in enumerate(
        [("k", "k", "k"), ("k", "k", "r"), ("r", "r", "r")])})
    assert r3["method"] == "fleiss" and r3["kappa"] == pytest.approx(0.55)
