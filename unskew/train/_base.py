"""The training core shared by every robust-training estimator.

:class:`RobustClassifier` holds the data handling, the seeded training loop
(mini-batches, optimiser, validation after every epoch, model selection,
early stopping, checkpoints, progress bar) and the scikit-learn interface.
Each method subclasses it and overrides a few hooks:

- ``_batches(train, rng, epoch)``: which examples form each mini-batch;
- ``_loss(model, batch)``: the training objective of one mini-batch;
- ``_train_step(model, opt, batch)``: the whole update (for methods with
  their own optimiser logic, such as adversarial debiasing);
- ``_fit_stages(train, val)``: the sequence of training stages (JTT, DFR).

Parameters shared by every method are listed in :data:`BASE_PARAMS`; each
subclass adds its own in ``_method_params``. The constructor is generated
from both, with an explicit keyword-only signature, so ``get_params``,
``set_params`` and ``clone`` behave as for any scikit-learn estimator.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .._optional import import_optional
from ..exceptions import UnskewInputError
from ._data import Preprocessor, encode_labels, encode_with

GROUP_REQUIREMENTS = ("train", "validation", "none")
SELECTIONS = ("auto", "worst_group", "average", "loss", "last")

#: Parameters shared by every estimator, with their defaults.
BASE_PARAMS: dict = {
    "model": "auto",
    "hidden_sizes": (64, 64),
    "cnn_channels": (16, 32, 64),
    "dropout": 0.0,
    "encoder": None,
    "standardize": True,
    "max_epochs": 20,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "optimizer": "adam",
    "validation_fraction": 0.0,
    "selection": "auto",
    "patience": None,
    "keep_checkpoints": True,
    "checkpoint_dir": None,
    "random_state": 0,
    "verbose": 0,
}


def _torch():
    return import_optional("torch", "robust training (unskew.train)")


@dataclass
class Split:
    """Tensors of one data split. ``g`` (groups) and ``s`` (sensitive) may be ``None``."""

    X: object
    y: object
    w: object
    g: object = None
    s: object = None
    n_groups: int = 0
    n_sensitive: int = 0

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, idx) -> Batch:
        torch = _torch()
        ix = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return Batch(
            idx=ix,
            x=self.X[ix],
            y=self.y[ix],
            w=self.w[ix],
            g=None if self.g is None else self.g[ix],
            s=None if self.s is None else self.s[ix],
        )


@dataclass
class Batch:
    idx: object
    x: object
    y: object
    w: object
    g: object = None
    s: object = None


class _NoProgress:
    def update(self, *a, **k):
        pass


@contextlib.contextmanager
def _progress(verbose: int, total: int, description: str):
    if not verbose:
        yield _NoProgress()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"), transient=verbose < 2) as prog:
        task = prog.add_task(description, total=total, metrics="")

        class _P:
            def update(self, metrics: str = ""):
                prog.update(task, advance=1, metrics=metrics)

        yield _P()


def _make_init(defaults: dict):
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params += [inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=v) for k, v in defaults.items()]

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(defaults))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected parameter(s) {unknown}; "
                            f"valid ones are {sorted(defaults)}.")
        for k, v in defaults.items():
            setattr(self, k, kwargs.get(k, v))

    __init__.__signature__ = inspect.Signature(params)
    return __init__


def state_snapshot(model) -> dict:
    """A detached CPU copy of ``model.state_dict()``."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class RobustClassifier(ClassifierMixin, BaseEstimator):
    """Base class: a PyTorch classifier with the scikit-learn interface.

    Parameters (shared by every method)
    ----------------------------------
    model : {"auto", "logistic", "mlp", "cnn", "linear"} or callable, default="auto"
        ``auto`` is a small CNN for images and an MLP otherwise. ``logistic``
        is a linear model (one-hot-equivalent embeddings for categoricals);
        ``linear`` is a linear head on fixed embeddings, optionally computed by
        a frozen ``encoder``. A callable ``f(spec, n_classes) -> nn.Module``
        builds a custom model, which must expose ``features(x)`` and ``head``
        for the methods that use the representation.
    hidden_sizes : tuple of int, default=(64, 64)
        Hidden widths of the MLP.
    cnn_channels : tuple of int, default=(16, 32, 64)
        Channel widths of the CNN blocks.
    dropout : float, default=0.0
    encoder : torch.nn.Module, optional
        Frozen encoder for ``model="linear"``.
    standardize : bool, default=True
        Standardise numeric inputs with the training mean and deviation.
    max_epochs : int, default=20
    batch_size : int, default=128
    lr : float, default=1e-3
    weight_decay : float, default=1e-4
        L2 penalty (coupled, as in ``torch.optim.Adam``/``SGD``).
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        ``sgd`` uses momentum 0.9.
    validation_fraction : float, default=0.0
        Hold out this share of the training rows (stratified by group and
        label) for validation when ``X_val`` is not passed to ``fit``.
    selection : {"auto", "worst_group", "average", "loss", "last"}, default="auto"
        Which epoch's weights to keep. ``auto`` is ``worst_group`` (best
        worst-group validation accuracy, ties broken by average accuracy) when
        the validation data have groups, else ``average`` (best validation
        accuracy, ties broken by validation loss); without validation data
        the last epoch is kept.
    patience : int, optional
        Stop after this many epochs without improving the selection metric.
    keep_checkpoints : bool, default=True
        Keep a ``state_dict`` per epoch in ``checkpoints_`` (for TRAK/D3M).
    checkpoint_dir : str or Path, optional
        Also save each epoch's ``state_dict`` there (``checkpoint_paths_``).
    random_state : int or None, default=0
        Seed of initialisation, shuffling, sampling and dropout. The same seed
        gives identical predictions (on the same machine and thread count).
    verbose : int, default=0
        ``1`` shows a rich progress bar per training stage.

    Attributes
    ----------
    model_ : torch.nn.Module
        The trained network (weights of the selected epoch), in eval mode.
    classes_ : ndarray
    preprocessor_ : Preprocessor
    input_spec_ : InputSpec
    checkpoints_ : list of dict
        ``state_dict`` per epoch of the stage that produced ``model_``.
    checkpoint_paths_ : list of Path
    history_ : list of dict
        Per epoch: stage, epoch, train loss, validation loss, accuracy,
        worst-group accuracy, seconds.
    best_epoch_ : int
    selection_ : str
        The selection rule actually used.
    groups_ : ndarray or None
        Training group labels (sorted) when groups were given.
    fit_time_ : float
        Seconds spent in ``fit``.
    """

    #: Whether the method needs group labels for training, only on the
    #: validation data, or not at all.
    group_requirement = "none"
    #: Parameters specific to the method (name -> default).
    _method_params: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _make_init({**BASE_PARAMS, **cls._method_params})

    # ----------------------------------------------------------------- checks
    def _check_params(self) -> None:
        if self.selection not in SELECTIONS:
            raise UnskewInputError(f"selection must be one of {SELECTIONS}; got {self.selection!r}.")
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise UnskewInputError(f"optimizer must be 'adam', 'adamw' or 'sgd'; got {self.optimizer!r}.")
        if int(self.max_epochs) < 1 or int(self.batch_size) < 1:
            raise UnskewInputError("max_epochs and batch_size must be at least 1.")
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise UnskewInputError("validation_fraction must be in [0, 1).")
        if self.patience is not None and int(self.patience) < 1:
            raise UnskewInputError("patience must be None or at least 1.")

    def _needs_validation_groups(self) -> bool:
        return self.group_requirement == "validation" and self.selection in ("auto", "worst_group")

    def _needs_sensitive(self) -> bool:
        return False

    def _missing_groups(self, where: str) -> UnskewInputError:
        name = type(self).__name__
        if where == "train":
            what = "group labels for every training row: pass groups=... to fit"
        elif where == "sensitive":
            what = ("group labels for every training row: pass sensitive=... (the attribute to remove) "
                    "or groups=... to fit")
        else:
            what = ("group labels on the validation data: pass X_val, y_val and groups_val to fit, or "
                    "groups=... together with validation_fraction > 0")
        return UnskewInputError(f"{name} needs {what} (group_requirement={self.group_requirement!r}).")

    # ----------------------------------------------------------------- data
    def _prepare(self, X, y, groups, sample_weight, sensitive, X_val, y_val, groups_val):
        torch = _torch()
        self.preprocessor_ = Preprocessor(standardize=self.standardize)
        n = _n_rows(X)
        if n == 0:
            raise UnskewInputError("X has no rows.")
        y_codes, self.classes_ = encode_labels(y, "y", n)
        if len(self.classes_) < 2:
            raise UnskewInputError(f"y has a single class ({self.classes_[0]!r}); at least two are needed.")
        g_codes = None
        self.groups_ = None
        if groups is not None:
            g_codes, self.groups_ = encode_labels(groups, "groups", n)
        if sample_weight is None:
            w = np.ones(n)
        else:
            w = np.asarray(sample_weight, dtype=float).reshape(-1)
            if len(w) != n:
                raise UnskewInputError(f"sample_weight has {len(w)} values but X has {n} rows.")
            if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
                raise UnskewInputError("sample_weight must be finite, non-negative and not all zero.")
            w = w / w.mean()
        s_codes = None
        self.sensitive_values_ = None
        if sensitive is not None:
            s_codes, self.sensitive_values_ = encode_labels(sensitive, "sensitive", n)
        elif self._needs_sensitive() and g_codes is not None:
            s_codes, self.sensitive_values_ = g_codes, self.groups_

        if self._needs_sensitive():
            if s_codes is None:
                raise self._missing_groups("sensitive")
        elif self.group_requirement == "train" and g_codes is None:
            raise self._missing_groups("train")

        rows = np.arange(n)
        val_rows = None
        if X_val is None and (y_val is not None or groups_val is not None):
            raise UnskewInputError("y_val/groups_val were given without X_val.")
        if X_val is None and float(self.validation_fraction) > 0:
            rows, val_rows = _stratified_split(n, y_codes, g_codes, float(self.validation_fraction),
                                               self.random_state)
        X_train = _take_rows(X, rows) if val_rows is not None else X
        self.preprocessor_.fit(X_train)
        self.input_spec_ = self.preprocessor_.spec_
        Xt = self.preprocessor_.transform(X_train)
        train = Split(
            X=torch.as_tensor(Xt), y=torch.as_tensor(y_codes[rows]), w=torch.as_tensor(w[rows], dtype=torch.float32),
            g=None if g_codes is None else torch.as_tensor(g_codes[rows]),
            s=None if s_codes is None else torch.as_tensor(s_codes[rows]),
            n_groups=0 if g_codes is None else len(self.groups_),
            n_sensitive=0 if s_codes is None else len(self.sensitive_values_),
        )
        val = None
        self.val_groups_ = None
        if val_rows is not None:
            Xv = self.preprocessor_.transform(_take_rows(X, val_rows))
            gv = None if g_codes is None else g_codes[val_rows]
            val = Split(X=torch.as_tensor(Xv), y=torch.as_tensor(y_codes[val_rows]),
                        w=torch.ones(len(val_rows)), g=None if gv is None else torch.as_tensor(gv),
                        n_groups=0 if gv is None else len(self.groups_))
            self.val_groups_ = self.groups_
        elif X_val is not None:
            if y_val is None:
                raise UnskewInputError("X_val was given without y_val.")
            nv = _n_rows(X_val)
            yv = encode_with(y_val, self.classes_, "y_val", nv)
            Xv = self.preprocessor_.transform(X_val)
            gv = None
            if groups_val is not None:
                gv, self.val_groups_ = encode_labels(groups_val, "groups_val", nv)
            val = Split(X=torch.as_tensor(Xv), y=torch.as_tensor(yv), w=torch.ones(nv),
                        g=None if gv is None else torch.as_tensor(gv),
                        n_groups=0 if gv is None else len(self.val_groups_))
        self.train_rows_ = rows
        if self._needs_validation_groups() and (val is None or val.g is None):
            raise self._missing_groups("validation")
        if self.selection == "worst_group" and (val is None or val.g is None):
            raise UnskewInputError("selection='worst_group' needs validation data with groups "
                                   "(X_val, y_val, groups_val, or groups with validation_fraction > 0).")
        return train, val

    # ----------------------------------------------------------------- model
    def _build_model(self):
        from ._models import build_model

        n_classes = len(self.classes_)
        if callable(self.model) and not isinstance(self.model, str):
            return self.model(self.input_spec_, n_classes)
        return build_model(self.model, self.input_spec_, n_classes, hidden=tuple(self.hidden_sizes),
                           dropout=float(self.dropout), cnn_channels=tuple(self.cnn_channels),
                           encoder=self.encoder)

    def _make_optimizer(self, params, lr=None, weight_decay=None):
        torch = _torch()
        params = [p for p in params if p.requires_grad]
        lr = float(self.lr if lr is None else lr)
        wd = float(self.weight_decay if weight_decay is None else weight_decay)
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
        if self.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)

    # ----------------------------------------------------------------- hooks
    def _start(self, train: Split, model) -> None:
        """Initialise method state before a training stage."""

    def _end_epoch(self, train: Split, model, epoch: int) -> dict:
        """Method state after an epoch; returns extra history fields."""
        return {}

    def _batches(self, train: Split, rng: np.random.Generator, epoch: int):
        perm = rng.permutation(len(train))
        bs = int(self.batch_size)
        return [perm[i:i + bs] for i in range(0, len(perm), bs)]

    def _loss(self, model, batch: Batch):
        torch = _torch()
        logits = model(batch.x)
        per = torch.nn.functional.cross_entropy(logits, batch.y, reduction="none")
        return (per * batch.w).mean()

    def _train_step(self, model, opt, batch: Batch) -> float:
        opt.zero_grad()
        loss = self._loss(model, batch)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def _fit_stages(self, train: Split, val: Split | None) -> None:
        model = self._build_model()
        self._run_stage(model, train, val, stage="train")

    # ----------------------------------------------------------------- loop
    def _run_stage(self, model, train: Split, val: Split | None, *, stage: str, max_epochs: int | None = None,
                   selection: str | None = None, record: bool = True, batches=None):
        """Train ``model`` for up to ``max_epochs`` epochs and keep the selected weights.

        When ``record`` is true the result becomes ``model_`` with its
        checkpoints and history; otherwise only the trained model is returned.
        """
        torch = _torch()
        epochs = int(self.max_epochs if max_epochs is None else max_epochs)
        sel = self._resolve_selection(val) if selection is None else selection
        opt = self._make_optimizer(model.parameters())
        self._opt = opt
        self._stage = stage
        self._start(train, model)
        checkpoints, paths, history = [], [], []
        best_score, best_state, best_epoch, stale = None, None, epochs - 1, 0
        ckdir = None
        if record and self.checkpoint_dir is not None:
            ckdir = Path(self.checkpoint_dir)
            ckdir.mkdir(parents=True, exist_ok=True)
        with _progress(self.verbose, epochs, f"{type(self).__name__} {stage}") as bar:
            for epoch in range(epochs):
                t0 = time.perf_counter()
                model.train()
                self._epoch_progress = epoch / max(epochs, 1)
                losses = []
                index_batches = batches(epoch) if batches is not None else self._batches(train, self._rng, epoch)
                n_batches = max(len(index_batches), 1)
                for b, idx in enumerate(index_batches):
                    self._epoch_progress = (epoch + b / n_batches) / epochs
                    losses.append(self._train_step(model, opt, train.take(idx)))
                extra = self._end_epoch(train, model, epoch)
                row = {"stage": stage, "epoch": epoch, "train_loss": float(np.mean(losses)) if losses else float("nan")}
                row.update(extra)
                if val is not None:
                    row.update(self._evaluate(model, val))
                row["seconds"] = time.perf_counter() - t0
                history.append(row)
                if record and self.keep_checkpoints:
                    checkpoints.append(state_snapshot(model))
                if ckdir is not None:
                    path = ckdir / f"{stage}_epoch{epoch:03d}.pt"
                    torch.save(state_snapshot(model), path)
                    paths.append(path)
                score = _score(row, sel)
                if sel != "last" and (best_score is None or score > best_score):
                    best_score, best_state, best_epoch, stale = score, state_snapshot(model), epoch, 0
                else:
                    stale += 1
                bar.update(_fmt(row))
                if self.patience is not None and sel != "last" and stale >= int(self.patience):
                    break
        if sel == "last" or best_state is None:
            best_epoch = len(history) - 1
        else:
            model.load_state_dict(best_state)
        model.eval()
        if record:
            self.model_ = model
            self.checkpoints_ = checkpoints
            self.checkpoint_paths_ = paths
            self.best_epoch_ = int(best_epoch)
            self.selection_ = sel
        self.history_ = getattr(self, "history_", []) + history
        return model

    def _resolve_selection(self, val: Split | None) -> str:
        if val is None:
            return "last"
        if self.selection == "auto":
            return "worst_group" if val.g is not None else "average"
        return self.selection

    def _logits(self, model, X, batch_size: int = 1024):
        torch = _torch()
        was = model.training
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, X.shape[0], batch_size):
                out.append(model(X[i:i + batch_size]))
        model.train(was)
        return torch.cat(out) if out else torch.zeros(0, len(self.classes_))

    def _evaluate(self, model, split: Split) -> dict:
        torch = _torch()
        logits = self._logits(model, split.X)
        loss = float(torch.nn.functional.cross_entropy(logits, split.y))
        pred = logits.argmax(1)
        correct = (pred == split.y).double()
        row = {"val_loss": loss, "val_accuracy": float(correct.mean())}
        if split.g is not None:
            accs = [float(correct[split.g == k].mean()) for k in torch.unique(split.g)]
            row["val_worst_group_accuracy"] = min(accs)
        return row

    # ----------------------------------------------------------------- API
    def fit(self, X, y, *, groups=None, sample_weight=None, sensitive=None, X_val=None, y_val=None,
            groups_val=None):
        """Train the network.

        Parameters
        ----------
        X : DataFrame, array of shape (n, d), or images (n, [C,] H, W[, C])
        y : array-like of shape (n,)
            Class labels (any hashable values).
        groups : array-like of shape (n,), optional
            Group label of each training row (for example label x sensitive
            attribute). Required when ``group_requirement == "train"``.
        sample_weight : array-like of shape (n,), optional
            Non-negative weights, rescaled to mean 1; they multiply each
            example's loss.
        sensitive : array-like of shape (n,), optional
            The sensitive attribute for the methods with an adversary
            (adversarial debiasing, DANN); they use ``groups`` when omitted.
        X_val, y_val, groups_val : optional
            Validation data for model selection and early stopping (and the
            held-out set of deep feature reweighting).

        Returns
        -------
        self

        Raises
        ------
        UnskewInputError
            For missing group labels the method requires, mismatched lengths,
            missing values or bad parameters.
        """
        torch = _torch()
        self._check_params()
        t0 = time.perf_counter()
        self.history_ = []
        train, val = self._prepare(X, y, groups, sample_weight, sensitive, X_val, y_val, groups_val)
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._rng = np.random.default_rng(int(seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self._fit_stages(train, val)
        self._rng = None
        self._opt = None
        self.fit_time_ = time.perf_counter() - t0
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")

    def attribution_inputs(self, X) -> np.ndarray:
        """``X`` preprocessed exactly as ``model_`` expects it (float32), e.g. for TRAK."""
        self._check_fitted()
        return self.preprocessor_.transform(X)

    def encode_labels(self, y) -> np.ndarray:
        """Class indices (0..K-1) of labels ``y``, as used by ``model_``'s logits."""
        self._check_fitted()
        y = np.asarray(y).reshape(-1)
        return encode_with(y, self.classes_, "y", len(y))

    def decision_logits(self, X) -> np.ndarray:
        """Raw logits of ``model_``, shape (n, n_classes)."""
        self._check_fitted()
        torch = _torch()
        Xt = torch.as_tensor(self.preprocessor_.transform(X))
        return self._logits(self.model_, Xt).numpy()

    def decision_function(self, X) -> np.ndarray:
        """Logit difference (binary) or logits (multi-class)."""
        z = self.decision_logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X) -> np.ndarray:
        z = self.decision_logits(X)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_logits(X).argmax(axis=1)]

    def margin_gradients(self, X, y, checkpoint: dict | None = None, batch_size: int = 256) -> np.ndarray:
        """Per-example gradients of the correct-class margin, shape (n, n_params).

        The margin is ``logit_y - logsumexp(other logits)`` (as in TRAK).
        ``checkpoint`` (a ``state_dict``, e.g. one of ``checkpoints_``) is used
        instead of the selected weights when given. Only parameters with
        ``requires_grad`` are included, in ``model_.named_parameters()`` order.
        """
        self._check_fitted()
        torch = _torch()
        from torch.func import functional_call, grad, vmap

        from ._models import margin

        model = copy.deepcopy(self.model_)
        if checkpoint is not None:
            model.load_state_dict(checkpoint)
        model.eval()
        names = [k for k, p in model.named_parameters() if p.requires_grad]
        params = {k: p.detach() for k, p in model.named_parameters() if k in names}
        buffers = {k: b.detach() for k, b in model.named_buffers()}
        Xt = torch.as_tensor(self.preprocessor_.transform(X))
        yt = torch.as_tensor(self.encode_labels(y))

        def f(p, x, label):
            logits = functional_call(model, (p, buffers), (x.unsqueeze(0),))
            return margin(logits, label.unsqueeze(0))[0]

        g = vmap(grad(f), in_dims=(None, 0, 0))
        out = []
        for i in range(0, Xt.shape[0], batch_size):
            gb = g(params, Xt[i:i + batch_size], yt[i:i + batch_size])
            out.append(torch.cat([gb[k].reshape(gb[k].shape[0], -1) for k in names], dim=1))
        return torch.cat(out).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


# ----------------------------------------------------------------- helpers
def _n_rows(X) -> int:
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def _take_rows(X, rows):
    if hasattr(X, "iloc"):
        return X.iloc[rows].reset_index(drop=True)
    if type(X).__module__.startswith("polars"):
        return X[rows]
    return np.asarray(X)[rows]


def _stratified_split(n, y, g, frac, seed):
    from sklearn.model_selection import train_test_split

    strata = y if g is None else g * (int(y.max()) + 1) + y
    _, counts = np.unique(strata, return_counts=True)
    strat = strata if counts.min() >= 2 else None
    n_val = max(1, int(round(frac * n)))
    if strat is not None and n_val < len(counts):
        strat = None
    tr, va = train_test_split(np.arange(n), test_size=n_val, random_state=seed, stratify=strat)
    if len(tr) == 0:
        raise UnskewInputError("validation_fraction leaves no training rows.")
    return np.sort(tr), np.sort(va)


def _score(row: dict, sel: str):
    if sel == "worst_group":
        return (row.get("val_worst_group_accuracy", -1.0), row.get("val_accuracy", -1.0))
    if sel == "average":
        return (row.get("val_accuracy", -1.0), -row.get("val_loss", np.inf))
    if sel == "loss":
        return (-row.get("val_loss", np.inf),)
    return (0.0,)


def _fmt(row: dict) -> str:
    parts = [f"loss {row['train_loss']:.3f}"]
    if "val_accuracy" in row:
        parts.append(f"val acc {row['val_accuracy']:.3f}")
    if "val_worst_group_accuracy" in row:
        parts.append(f"val wga {row['val_worst_group_accuracy']:.3f}")
    return "  ".join(parts)
