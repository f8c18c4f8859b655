"""Embedding slices on real images: a digit the classifier barely saw in training."""

import numpy as np
import pandas as pd
import pytest


@pytest.mark.slow
def test_mnist_undertrained_digit_is_the_worst_cluster(data_home):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from unskew.slices import EmbeddingSliceFinder

    df = pd.read_csv(data_home / "mnist5k" / "mnist_5k.csv.gz", header=None)
    pixels = df.iloc[:, :784].to_numpy(float) / 255
    y = df.iloc[:, 784].to_numpy()
    rng = np.random.default_rng(0)
    train = rng.random(len(y)) < 0.5
    # the training half keeps only 5% of its eights
    keep = train & ((y != 8) | (rng.random(len(y)) < 0.05))
    emb = PCA(n_components=40, random_state=0).fit(pixels[train]).transform(pixels)
    clf = LogisticRegression(max_iter=300).fit(emb[keep], y[keep])
    Z, yt = emb[~train], y[~train]
    pred = clf.predict(Z)
    attrs = pd.DataFrame({"digit": yt.astype(str), "ink": pixels[~train].mean(axis=1)})
    f = EmbeddingSliceFinder(n_clusters=20, top_k=3).fit(Z, yt, y_pred=pred, attributes=attrs)
    assert all(s.significant and s.error_ratio >= 2 for s in f.slices_)
    # one of the three worst clusters is mostly eights and says so first
    eights = [s for s in f.slices_ if s.distinctive[0]["condition"] == "digit = 8"
              and (yt[f.labels_ == s.cluster] == 8).mean() >= 0.7]
    assert eights and eights[0].error > 2 * (pred != yt)[yt != 8].mean()
