"""Deep feature reweighting (Kirichenko, Izmailov and Wilson 2023)."""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import UnskewInputError
from ._adversarial import _require_features
from ._base import RobustClassifier, Split, _torch, state_snapshot


def balanced_subset(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a group-balanced subsample: ``min_g n_g`` rows drawn from every group."""
    ids, counts = np.unique(groups, return_counts=True)
    m = int(counts.min())
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(groups == k), size=m, replace=False) for k in ids]))


class DFRClassifier(RobustClassifier):
    """Deep feature reweighting: retrain the last layer on group-balanced held-out data.

    1. Train a base network with ERM on the training data.
    2. Embed the held-out (validation) data with the frozen network and
       standardise the embeddings.
    3. Fit an L1-regularised logistic regression on a group-balanced random
       subset of the held-out data (every group subsampled to the size of the
       smallest), ``n_draws`` times, and average the coefficients (DFR^Val_Tr
       in the paper).
    4. The inverse regularisation ``C`` is tuned (when ``C`` is a list) by
       training on balanced subsets of one half of the held-out data and
       measuring worst-group accuracy on the other half.

    The averaged weights (with the standardisation folded in) replace
    ``model_.head``, so ``model_`` stays a plain network. The held-out data
    are ``X_val, y_val, groups_val`` (or the ``validation_fraction`` share of
    the training rows); the base model is selected by the usual rule on the
    same data.

    Parameters
    ----------
    C : float or sequence of float, default=(1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)
    n_draws : int, default=10

    Attributes
    ----------
    C_ : float
        The chosen ``C``.
    dfr_subsets_ : list of ndarray
        Validation-row indices of each balanced subset used by the final fit.
    base_state_ : dict
        ``state_dict`` of the base network before the head was replaced.
    """

    group_requirement = "validation"
    _method_params = {"C": (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01), "n_draws": 10}

    def _needs_validation_groups(self) -> bool:
        return True

    def _fit_stages(self, train: Split, val: Split):
        torch = _torch()
        model = self._build_model()
        _require_features(model, "DFR")
        if not isinstance(model.head, torch.nn.Linear):
            raise UnskewInputError("DFR needs a model whose head is a torch.nn.Linear layer.")
        self._run_stage(model, train, val, stage="base")
        self.base_state_ = state_snapshot(self.model_)
        model = self.model_
        model.eval()
        with torch.no_grad():
            emb = torch.cat([model.features(val.X[i:i + 1024]) for i in range(0, len(val), 1024)]).numpy()
        y = val.y.numpy()
        g = val.g.numpy()
        grid = np.atleast_1d(np.asarray(self.C, dtype=float))
        if grid.size > 1:
            self.C_ = self._tune_C(emb, y, g, grid)
        else:
            self.C_ = float(grid[0])
        coef, intercept, subsets = self._fit_averaged(emb, y, g, self.C_, int(self.n_draws))
        self.dfr_subsets_ = subsets
        w = torch.as_tensor(coef, dtype=torch.float32)
        b = torch.as_tensor(intercept, dtype=torch.float32)
        with torch.no_grad():
            model.head.weight.copy_(w)
            model.head.bias.copy_(b)
        if self.keep_checkpoints:
            self.checkpoints_.append(state_snapshot(model))

    def _fit_lr(self, E, y, C):
        from sklearn.linear_model import LogisticRegression

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # liblinear and saga shuffle with their own seed: derive it from random_state
            seed = int(self._rng.integers(2**31 - 1))
            return LogisticRegression(C=C, l1_ratio=1.0, solver="liblinear" if len(self.classes_) == 2 else "saga",
                                      max_iter=1000, random_state=seed).fit(E, y)

    def _fit_averaged(self, emb, y, g, C, n_draws):
        k = len(self.classes_)
        coefs = np.zeros((k, emb.shape[1]))
        inters = np.zeros(k)
        subsets = []
        for _ in range(max(n_draws, 1)):
            idx = balanced_subset(g, self._rng)
            if len(np.unique(y[idx])) < 2:
                raise UnskewInputError("A group-balanced subset of the held-out data has a single class; "
                                       "DFR needs held-out examples of every class.")
            mu = emb[idx].mean(0)
            sd = emb[idx].std(0)
            sd = np.where(sd > 0, sd, 1.0)
            lr = self._fit_lr((emb[idx] - mu) / sd, y[idx], C)
            W, b = _full_head(lr, k)
            # fold the standardisation into the weights: W (e - mu) / sd + b
            coefs += W / sd
            inters += b - (W / sd) @ mu
            subsets.append(idx)
        return coefs / len(subsets), inters / len(subsets), subsets

    def _tune_C(self, emb, y, g, grid):
        n = len(y)
        perm = self._rng.permutation(n)
        half_a, half_b = np.sort(perm[: n // 2]), np.sort(perm[n // 2:])
        if len(np.unique(g[half_a])) < len(np.unique(g)) or len(np.unique(g[half_b])) < len(np.unique(g)):
            return float(grid[0])
        best, best_c = -1.0, float(grid[0])
        for C in grid:
            W, b, _ = self._fit_averaged(emb[half_a], y[half_a], g[half_a], float(C), 1)
            pred = (emb[half_b] @ W.T + b).argmax(1)
            correct = pred == y[half_b]
            wga = min(correct[g[half_b] == k].mean() for k in np.unique(g[half_b]))
            if wga > best:
                best, best_c = wga, float(C)
        return best_c


def _full_head(lr, k):
    """(k, d) weights and (k,) biases of a fitted sklearn logistic regression as logits."""
    W = np.asarray(lr.coef_, dtype=float)
    b = np.asarray(lr.intercept_, dtype=float)
    if W.shape[0] == 1 and k == 2:
        return np.vstack([np.zeros_like(W[0]), W[0]]), np.array([0.0, b[0]])
    full_W = np.zeros((k, W.shape[1]))
    full_b = np.zeros(k)
    full_W[np.asarray(lr.classes_, int)] = W
    full_b[np.asarray(lr.classes_, int)] = b
    return full_W, full_b
