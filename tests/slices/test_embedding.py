import numpy as np
import pandas as pd
import pytest

from unskew.exceptions import UnskewInputError
from unskew.slices import EmbeddingSliceFinder


def _blobs(n=3000, seed=0, bad=3, dim=64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=6, size=(8, dim))
    blob = rng.integers(0, 8, n)
    Z = centers[blob] + rng.normal(size=(n, dim))
    colour = np.where(blob == bad, rng.choice(["red", "blue"], n, p=[0.9, 0.1]),
                      rng.choice(["red", "blue"], n, p=[0.2, 0.8]))
    attrs = pd.DataFrame({"colour": colour, "size": rng.normal(size=n)})
    return Z, blob, attrs, rng


def test_high_error_cluster_found_and_described():
    Z, blob, attrs, rng = _blobs()
    e = (rng.random(len(Z)) < np.where(blob == 3, 0.5, 0.08)).astype(float)
    f = EmbeddingSliceFinder(n_clusters=8, top_k=3).fit(Z, errors=e, attributes=attrs)
    top = f.slices_[0]
    members = f.labels_ == top.cluster
    assert top.significant and sum(s.significant for s in f.slices_) == 1
    # the cluster is the planted blob
    assert (blob[members] == 3).mean() > 0.95 and members[blob == 3].mean() > 0.95
    assert top.distinctive[0]["condition"] == "colour = red"
    assert top.distinctive[0]["share_in_cluster"] > 0.8
    assert len(top.typical) == 5 and all(f.labels_[i] == top.cluster for i in top.typical)
    assert all(e[i] > 0 for i in top.typical_errors)
    assert "colour = red" in top.description
    groups = f.to_groups(Z)
    assert ((groups == 0) == members).all() and groups.max() <= len(f.slices_)
    assert f.group_names()[-1] == "rest"
    assert f.pca_ is not None and f.pca_.n_components_ == 50
    rep = f.report()
    assert rep.kind == "slices" and rep.status == "fail"
    rep.to_json()


def test_fit_on_errors_finds_small_error_region():
    Z, blob, attrs, rng = _blobs(n=4000, seed=1)
    e = (rng.random(len(Z)) < np.where(blob == 5, 0.6, 0.05)).astype(float)
    f = EmbeddingSliceFinder(n_clusters=6, fit_on="errors", top_k=2, n_components=None).fit(Z, errors=e)
    top = f.slices_[0]
    assert top.significant
    assert (blob[f.labels_ == top.cluster] == 5).mean() > 0.8


def test_random_errors_give_no_significant_cluster():
    hits = 0
    for seed in range(8):
        Z, blob, attrs, rng = _blobs(n=1000, seed=10 + seed, dim=8)
        e = (rng.random(len(Z)) < 0.15).astype(float)
        f = EmbeddingSliceFinder(n_clusters=10).fit(Z, errors=e)
        hits += bool(f.clusters_.significant.any())
    assert hits <= 2


def test_predict_and_bad_input():
    Z, blob, attrs, rng = _blobs(n=600, dim=8)
    y = rng.integers(0, 2, 600)
    f = EmbeddingSliceFinder(n_clusters=4).fit(Z, y, y_pred=y)  # a perfect model
    assert not any(s.significant for s in f.slices_) and f.mean_error_ == 0
    assert f.predict(Z[:10]).shape == (10,)
    with pytest.raises(UnskewInputError, match="dimensions"):
        f.predict(Z[:, :3])
    with pytest.raises(UnskewInputError, match="fit_on"):
        EmbeddingSliceFinder(fit_on="some").fit(Z, errors=np.zeros(600))
    with pytest.raises(UnskewInputError, match="2-D"):
        EmbeddingSliceFinder().fit(Z[:, 0], errors=np.zeros(600))
    with pytest.raises(UnskewInputError, match="rows"):
        EmbeddingSliceFinder().fit(Z, errors=np.zeros(10))
    with pytest.raises(UnskewInputError, match="high-error"):
        EmbeddingSliceFinder(fit_on="errors").fit(Z, errors=np.zeros(600))
    with pytest.raises(UnskewInputError, match="not fitted"):
        EmbeddingSliceFinder().to_groups(Z)
