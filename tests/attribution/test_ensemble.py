import numpy as np
import pytest

from unskew.attribution import TRAK, TRAKEnsemble, combine_terms, member_subsets
from unskew.exceptions import UnskewInputError

torch = pytest.importorskip("torch")


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def _reference_trak(net, ckpts, X, y, Xt, yt, P):
    """TRAK written out plainly: per-example autograd, explicit projection, float64 kernel."""
    def feats(A, labels):
        rows, q = [], []
        for x, lab in zip(torch.tensor(A), torch.tensor(labels), strict=True):
            net.zero_grad()
            z = net(x[None])[0]
            m = z[lab] - z[1 - lab]
            m.backward()
            g = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
            rows.append((g @ P / np.sqrt(len(g))).double())
            q.append(1 - torch.sigmoid(m.detach()).double())
        return torch.stack(rows), torch.stack(q)

    total, q_sum = 0, 0
    for ck in ckpts:
        net.load_state_dict(ck)
        phi, q = feats(X, y)
        phi_t, _ = feats(Xt, yt)
        total = total + phi @ torch.linalg.solve(phi.T @ phi, phi_t.T)
        q_sum = q_sum + q
    return ((total / len(ckpts)) * (q_sum / len(ckpts))[:, None]).numpy()


def test_trak_matches_a_plain_reference_implementation():
    X, y = _data(120)
    Xt, yt = _data(15, seed=1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    ckpts = []
    for _ in range(2):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.3 * torch.randn_like(p))
        ckpts.append({k: v.clone() for k, v in net.state_dict().items()})
    trak = TRAK(net, ckpts, proj_dim=20, device="cpu")
    S = trak.attribute(X, y, Xt, yt)
    P = torch.cat(trak._projection_blocks(trak.n_params_, torch), dim=0)
    ref = _reference_trak(net, ckpts, X, y, Xt, yt, P)
    np.testing.assert_allclose(S, ref, rtol=2e-3, atol=2e-4 * np.abs(ref).max())


def test_member_subsets_are_stratified_halves_and_differ():
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    subs = member_subsets(y, 5, 0.5, random_state=0)
    assert all(len(s) == 50 and (y[s] == 1).sum() == 5 for s in subs)
    assert len({tuple(s) for s in subs}) == 5
    np.testing.assert_array_equal(subs[0], member_subsets(y, 5, 0.5, random_state=0)[0])


def test_ensemble_trains_independent_members_and_averages_their_trak():
    from unskew.train import ERMClassifier

    X, y = _data()
    Xt, yt = _data(30, seed=1)
    est = ERMClassifier(model="mlp", hidden_sizes=(8,), max_epochs=2, batch_size=64, random_state=0)
    ens = TRAKEnsemble(est, n_models=3, proj_dim=16, n_jobs=1, random_state=7)
    S = ens.attribute(X, y, Xt, yt, keep_terms=True)
    assert S.shape == (240, 30) and np.isfinite(S).all()
    assert [m["seed"] for m in ens.members_] == [8, 9, 10]
    assert all(m["n_train"] == 120 for m in ens.members_)
    np.testing.assert_allclose(S, combine_terms([t for member in ens.terms_ for t in member]))
    # one member alone is TRAK of that member's model on the full training set
    one = TRAKEnsemble(est, n_models=1, proj_dim=16, n_jobs=1, random_state=7)
    S1 = one.attribute(X, y, Xt, yt)
    member = ERMClassifier(model="mlp", hidden_sizes=(8,), max_epochs=2, batch_size=64, random_state=8)
    member.fit(X[one.subsets_[0]], y[one.subsets_[0]])
    ref = TRAK(member.model_, [member.checkpoints_[member.best_epoch_]], proj_dim=16, seed=7).attribute(
        member.attribution_inputs(X), member.encode_labels(y), member.attribution_inputs(Xt), member.encode_labels(yt))
    np.testing.assert_allclose(S1, ref, rtol=1e-4, atol=1e-6 * np.abs(ref).max())
    with pytest.raises(UnskewInputError, match="n_models"):
        TRAKEnsemble(est, n_models=0).attribute(X, y, Xt, yt)
    with pytest.raises(UnskewInputError, match="subset_fraction"):
        TRAKEnsemble(est, subset_fraction=1.5).attribute(X, y, Xt, yt)


@pytest.mark.slow
def test_ensemble_in_parallel_processes_gives_the_same_matrix():
    from unskew.train import ERMClassifier

    X, y = _data()
    Xt, yt = _data(20, seed=1)
    est = ERMClassifier(model="mlp", hidden_sizes=(8,), max_epochs=2, batch_size=64, random_state=0)
    serial = TRAKEnsemble(est, n_models=2, proj_dim=16, n_jobs=1).attribute(X, y, Xt, yt)
    parallel = TRAKEnsemble(est, n_models=2, proj_dim=16, n_jobs=2).attribute(X, y, Xt, yt)
    np.testing.assert_allclose(serial, parallel, rtol=1e-3, atol=1e-6 * np.abs(serial).max())


@pytest.mark.parametrize("n_out", [1, 2, 3])
def test_linear_fast_path_matches_vmap(n_out):
    rng = np.random.default_rng(n_out)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = rng.integers(0, max(n_out, 2), 90)
    torch.manual_seed(n_out)
    net = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 4, bias=False),
                              torch.nn.Tanh(), torch.nn.Linear(4, n_out))
    ckpts = [{k: v.clone() for k, v in net.state_dict().items()}]
    fast = TRAK(net, ckpts, proj_dim=24, batch_size=32)
    assert fast._linear_layers(torch, [k for k, _ in net.named_parameters()]) is not None
    S_fast = fast.attribute(X, y, X[:12], y[:12])
    S_vmap = TRAK(net, ckpts, proj_dim=24, batch_size=32, fast_path=False).attribute(X, y, X[:12], y[:12])
    np.testing.assert_allclose(S_fast, S_vmap, rtol=1e-3, atol=1e-5 * np.abs(S_vmap).max())


def test_models_with_other_parameters_use_vmap():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 2)
            self.scale = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.lin(x) * self.scale

    net = Scaled()
    trak = TRAK(net, [net.state_dict()], proj_dim=8)
    assert trak._linear_layers(torch, [k for k, _ in net.named_parameters()]) is None
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    S = trak.attribute(X, (X[:, 0] > 0).astype(int), X[:5], (X[:5, 0] > 0).astype(int))
    assert S.shape == (20, 5) and np.isfinite(S).all()
