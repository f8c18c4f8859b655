import numpy as np
import pytest

from unskew.attribution import TRAK, LogisticInfluence, fit_logistic, leave_one_out_margins
from unskew.exceptions import UnskewInputError


def _problem(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(int)
    Xt = rng.normal(size=(80, d)).astype(np.float32)
    yt = (Xt @ np.ones(d) > 0).astype(int)
    return X, y, Xt, yt


def test_newton_fit_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, y, _, _ = _problem()
    theta = fit_logistic(X, y, l2=0.5)
    # float64 input: scikit-learn >= 1.8 keeps float32 coefficients for float32 input,
    # which alone differs from the float64 Newton fit by ~3e-4
    sk = LogisticRegression(C=2.0, tol=1e-12, max_iter=10_000).fit(X.astype(np.float64), y)
    np.testing.assert_allclose(theta, np.r_[sk.coef_.ravel(), sk.intercept_], atol=1e-5)


def test_exact_influence_matches_leave_one_out():
    X, y, Xt, yt = _problem()
    S = LogisticInfluence(l2=1.0).fit(X, y).attribute(Xt, yt)
    D = leave_one_out_margins(X, y, Xt, yt, l2=1.0)
    r = np.corrcoef(S.ravel(), D.ravel())[0, 1]
    assert r >= 0.95, r
    # sign convention: positive = including the example raises the target margin
    assert np.mean(np.sign(S) == np.sign(D)) > 0.9


def test_from_sklearn_and_label_validation():
    from sklearn.linear_model import LogisticRegression

    X, y, Xt, yt = _problem()
    sk = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X.astype(np.float64), y)
    a = LogisticInfluence.from_sklearn(sk, X, y).attribute(Xt, yt)
    b = LogisticInfluence(l2=1.0).fit(X, y).attribute(Xt, yt)
    np.testing.assert_allclose(a, b, atol=1e-4 * np.abs(b).max())
    with pytest.raises(UnskewInputError, match="0/1 labels"):
        LogisticInfluence().fit(X, y + 1)


def _torch_linear(X, y, l2=1.0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    lin = torch.nn.Linear(X.shape[1], 1)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float32)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=500, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(lin(Xt).squeeze(1), yt, reduction="sum")
        loss = loss + 0.5 * l2 * (lin.weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lin


def test_trak_correlates_with_leave_one_out_and_caches(tmp_path):
    X, y, Xt, yt = _problem()
    lin = _torch_linear(X, y)
    trak = TRAK(lin, [lin.state_dict()], proj_dim=64, cache_dir=tmp_path)
    S = trak.attribute(X, y, Xt, yt)
    assert S.shape == (300, 80)
    D = leave_one_out_margins(X, y, Xt, yt, l2=1.0)
    r = np.corrcoef(S.ravel(), D.ravel())[0, 1]
    assert r > 0.5, r
    assert trak.cache_path_.exists()
    again = TRAK(lin, [lin.state_dict()], proj_dim=64, cache_dir=tmp_path).attribute(X, y, Xt, yt)
    np.testing.assert_array_equal(S, again)
    other = TRAK(lin, [lin.state_dict()], proj_dim=32, cache_dir=tmp_path)
    other.attribute(X, y, Xt, yt)
    assert other.cache_path_ != trak.cache_path_  # settings change the key


def test_trak_multiclass_and_needs_checkpoints():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = rng.integers(0, 3, 60)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    S = TRAK(net, [net.state_dict()], proj_dim=16).attribute(X, y, X[:10], y[:10])
    assert S.shape == (60, 10) and np.isfinite(S).all()
    # an example is most helpful to itself on average (self-influence is positive)
    assert np.mean(np.diag(S[:10, :10])) > np.mean(S[:10, :10])
    with pytest.raises(UnskewInputError, match="checkpoint"):
        TRAK(net, []).attribute(X, y, X, y)


def test_trak_relative_ridge_tends_to_gradient_products(tmp_path):
    X, y, Xt, yt = _problem()
    lin = _torch_linear(X, y)
    base = TRAK(lin, [lin.state_dict()], proj_dim=1024, cache_dir=tmp_path)
    S0 = base.attribute(X, y, Xt, yt)
    ridge = TRAK(lin, [lin.state_dict()], proj_dim=1024, lambda_scale=1e6, cache_dir=tmp_path)
    S = ridge.attribute(X, y, Xt, yt)
    assert ridge.cache_path_ != base.cache_path_
    # margin gradients of a linear model: +-[x, 1]; out-to-loss term 1 - p(correct)
    sign, sign_t = np.where(y == 1, 1.0, -1.0), np.where(yt == 1, 1.0, -1.0)
    G = sign[:, None] * np.c_[X, np.ones(len(X))]
    Gt = sign_t[:, None] * np.c_[Xt, np.ones(len(Xt))]
    w = np.r_[lin.weight.detach().numpy().ravel(), lin.bias.detach().numpy()]
    q = 1 - 1 / (1 + np.exp(-(G @ w)))
    expected = (G @ Gt.T) * q[:, None]
    assert np.corrcoef(S.ravel(), expected.ravel())[0, 1] > 0.95
    assert np.corrcoef(S0.ravel(), expected.ravel())[0, 1] < np.corrcoef(S.ravel(), expected.ravel())[0, 1]
    with pytest.raises(UnskewInputError, match="non-negative"):
        TRAK(lin, [lin.state_dict()], lambda_scale=-1.0).attribute(X, y, Xt, yt)
