"""Slices of unstructured data: clusters of high-error examples in an embedding space."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._stats import wilson_interval
from ..exceptions import UnskewInputError
from ..report import Bar, Chart, CheckResult, Finding, Report, Table
from ._encode import SliceEncoder, as_frame
from ._finder import REST
from ._significance import CORRECTIONS, adjust_pvalues, is_binary_errors, row_errors, slice_tests

FIT_ON = ("all", "errors")


@dataclass
class ClusterSlice:
    """One cluster of the embedding space and how the model does on it.

    ``distinctive`` lists the attribute conditions most over-represented in the
    cluster (``{"condition", "share_in_cluster", "share_overall", "lift"}``);
    ``typical`` are row indices closest to the cluster centre and
    ``typical_errors`` the closest rows with a non-zero error.
    """

    cluster: int
    size: int
    support: float
    error: float
    error_rest: float
    error_ratio: float
    effect_size: float
    p_value: float
    p_adjusted: float
    significant: bool
    ci_low: float | None = None
    ci_high: float | None = None
    distinctive: list[dict] = field(default_factory=list)
    typical: list[int] = field(default_factory=list)
    typical_errors: list[int] = field(default_factory=list)

    @property
    def description(self) -> str:
        if self.distinctive:
            return f"cluster {self.cluster}: " + ", ".join(
                f"{d['condition']} ({100 * d['share_in_cluster']:.0f}% vs {100 * d['share_overall']:.0f}%)"
                for d in self.distinctive[:3])
        return f"cluster {self.cluster}: e.g. rows " + ", ".join(str(i) for i in self.typical[:5])

    def to_dict(self) -> dict:
        return {
            "slice": self.description, "cluster": self.cluster, "size": self.size, "support": self.support,
            "error": self.error, "error_rest": self.error_rest, "error_ratio": self.error_ratio,
            "effect_size": self.effect_size, "p_value": self.p_value, "p_adjusted": self.p_adjusted,
            "significant": bool(self.significant), "ci_low": self.ci_low, "ci_high": self.ci_high,
            "distinctive": self.distinctive, "typical": self.typical, "typical_errors": self.typical_errors,
        }


class EmbeddingSliceFinder:
    """Find regions of an embedding space where a model errs significantly more.

    The embeddings (e.g. a network's penultimate layer) are optionally reduced
    with PCA and clustered with k-means. Each cluster is tested, one-sided,
    against all other rows (Fisher's exact test for 0/1 errors, Welch's t-test
    otherwise), with a Bonferroni (or Benjamini-Hochberg) correction for the
    number of clusters. Clusters are ranked significant first, then by error
    lift (cluster error / mean error). Each is described by the attribute
    values most over-represented in it (when ``attributes`` are given) and by
    the indices of its most typical examples.

    Parameters
    ----------
    n_clusters : int, default 20
    fit_on : {"all", "errors"}, default "all"
        Cluster all rows, or only the high-error rows (every row is then
        assigned to its nearest high-error centre). With ``"errors"`` the
        centres depend on the errors, so the rows are split in two halves
        (``random_state``): centres are fitted on the high-error rows of one
        half and the tests use the other half only, which keeps the p-values
        valid. Sizes and error rates are reported on all rows.
    error_threshold : float, optional
        Rows with an error above this are "high-error" for ``fit_on="errors"``;
        default 0.5 for 0/1 errors, else the 90th percentile.
    n_components : int or None, default 50
        PCA dimensions when the embeddings are wider; ``None`` keeps them.
    normalize : bool, default False
        Scale each embedding to unit length first (cosine geometry).
    top_k : int, default 5
    min_size : int, optional
        Smallest cluster reported; default ``max(20, ceil(0.002 * n))``.
    significance_level : float, default 0.05
    correction : {"bonferroni", "bh"}, default "bonferroni"
    n_describe : int, default 5
        Over-represented attribute values listed per cluster.
    n_examples : int, default 5
        Typical examples listed per cluster.
    error : str, default "auto"
        Per-row error, as for :class:`SliceFinder`.
    random_state : int, default 0

    Attributes
    ----------
    slices_ : list of ClusterSlice
        Reported clusters, best first.
    clusters_ : pandas.DataFrame
        Statistics of every cluster.
    labels_ : numpy.ndarray
        Cluster of each row.
    kmeans_, pca_ : fitted scikit-learn estimators (``pca_`` may be None)
    """

    def __init__(self, n_clusters: int = 20, *, fit_on: str = "all", error_threshold: float | None = None,
                 n_components: int | None = 50, normalize: bool = False, top_k: int = 5,
                 min_size: int | None = None, significance_level: float = 0.05,
                 correction: str = "bonferroni", n_describe: int = 5, n_examples: int = 5,
                 error: str = "auto", random_state: int | None = 0):
        self.n_clusters = n_clusters
        self.fit_on = fit_on
        self.error_threshold = error_threshold
        self.n_components = n_components
        self.normalize = normalize
        self.top_k = top_k
        self.min_size = min_size
        self.significance_level = significance_level
        self.correction = correction
        self.n_describe = n_describe
        self.n_examples = n_examples
        self.error = error
        self.random_state = random_state

    def _embed(self, Z: Any, fitting: bool) -> np.ndarray:
        if hasattr(Z, "to_numpy") and not isinstance(Z, np.ndarray):
            Z = Z.to_numpy()
        try:
            Z = np.asarray(Z, dtype=float)
        except (TypeError, ValueError) as exc:
            raise UnskewInputError(f"embeddings must be a numeric 2-D array: {exc}") from exc
        if Z.ndim != 2:
            raise UnskewInputError(f"embeddings must be 2-D (rows x dimensions); got shape {Z.shape}.")
        if not np.isfinite(Z).all():
            raise UnskewInputError("embeddings contain missing or infinite values.")
        if not fitting and Z.shape[1] != self.n_dims_:
            raise UnskewInputError(f"embeddings have {Z.shape[1]} dimensions; the finder was fitted on "
                                   f"{self.n_dims_}.")
        if self.normalize:
            norm = np.linalg.norm(Z, axis=1, keepdims=True)
            Z = Z / np.where(norm > 0, norm, 1.0)
        if fitting:
            self.n_dims_ = Z.shape[1]
            self.pca_ = None
            if self.n_components is not None and Z.shape[1] > int(self.n_components):
                from sklearn.decomposition import PCA

                rng = np.random.default_rng(self.random_state)
                sub = Z if len(Z) <= 100_000 else Z[rng.choice(len(Z), 100_000, replace=False)]
                self.pca_ = PCA(n_components=int(self.n_components), random_state=self.random_state).fit(sub)
        return self.pca_.transform(Z) if self.pca_ is not None else Z

    def fit(self, embeddings: Any, y: Any = None, *, y_pred: Any = None, y_score: Any = None,
            errors: Any = None, attributes: Any = None) -> EmbeddingSliceFinder:
        """Cluster ``embeddings`` and test each cluster's error against the rest.

        ``attributes`` (a table aligned with the rows, e.g. metadata not used
        by the model) describe the clusters.
        """
        from sklearn.cluster import KMeans, MiniBatchKMeans

        if self.fit_on not in FIT_ON:
            raise UnskewInputError(f"fit_on must be one of {', '.join(FIT_ON)}; got {self.fit_on!r}.")
        if self.correction not in CORRECTIONS:
            raise UnskewInputError(f"correction must be one of {', '.join(CORRECTIONS)}; got {self.correction!r}.")
        k = int(self.n_clusters)
        if k < 2:
            raise UnskewInputError(f"n_clusters must be at least 2, got {self.n_clusters}.")
        Z = self._embed(embeddings, fitting=True)
        n = len(Z)
        for name, arr in (("y", y), ("y_pred", y_pred), ("y_score", y_score), ("errors", errors)):
            if arr is not None and len(arr) != n:
                raise UnskewInputError(f"{name} has {len(arr)} rows but embeddings have {n}.")
        e, self.error_metric_ = row_errors(y=y, y_pred=y_pred, y_score=y_score, errors=errors, metric=self.error)
        self.binary_errors_ = is_binary_errors(e)
        self.n_rows_ = n
        self.mean_error_ = float(e.mean())
        self.min_size_ = int(self.min_size) if self.min_size is not None else max(20, int(np.ceil(0.002 * n)))
        rng = np.random.default_rng(self.random_state)
        test_rows = np.ones(n, dtype=bool)
        if self.fit_on == "errors":
            thr = self.error_threshold
            if thr is None:
                thr = 0.5 if self.binary_errors_ else float(np.quantile(e, 0.9))
            half = rng.random(n) < 0.5
            high = (e > thr) & half
            if high.sum() < k:
                raise UnskewInputError(f"Only {int(high.sum())} high-error rows (error > {thr:.3g}) in the "
                                       f"fitting half; fewer than n_clusters={k}. Lower n_clusters or "
                                       "error_threshold, or use fit_on='all'.")
            fit_rows, test_rows = high, ~half
        else:
            if n < k:
                raise UnskewInputError(f"n_clusters={k} is more than the {n} rows.")
            fit_rows = np.ones(n, dtype=bool)
        Zf = Z[fit_rows]
        if len(Zf) > 50_000:
            km = MiniBatchKMeans(n_clusters=k, random_state=self.random_state, n_init=3, batch_size=4096)
        else:
            km = KMeans(n_clusters=k, random_state=self.random_state, n_init=3)
        self.kmeans_ = km.fit(Zf)
        labels = self.kmeans_.predict(Z)
        self.labels_ = labels
        size = np.bincount(labels, minlength=k).astype(float)
        err = np.bincount(labels, weights=e, minlength=k)
        lt, et = labels[test_rows], e[test_rows]
        t_size = np.bincount(lt, minlength=k).astype(float)
        t_err = np.bincount(lt, weights=et, minlength=k)
        t_sq = np.bincount(lt, weights=et * et, minlength=k)
        p, eff = slice_tests(t_size, t_err, t_sq, int(test_rows.sum()), float(et.sum()), float(et @ et),
                             self.binary_errors_)
        p = np.where(t_size >= max(2, self.min_size_ // (2 if self.fit_on == "errors" else 1)), p, 1.0)
        p_adj = adjust_pvalues(p, k, self.correction)
        total = float(e.sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = err / size
            rest = (total - err) / (n - size)
            ratio = mean / self.mean_error_ if self.mean_error_ > 0 else np.zeros(k)
        lo, hi = wilson_interval(err, size) if self.binary_errors_ else (np.full(k, np.nan), np.full(k, np.nan))
        sig = p_adj <= float(self.significance_level)
        self.clusters_ = pd.DataFrame({
            "cluster": np.arange(k), "size": size.astype(int), "support": size / n, "error": mean,
            "error_rest": rest, "error_ratio": ratio, "effect_size": eff, "p_value": p, "p_adjusted": p_adj,
            "significant": sig,
        })
        eligible = np.flatnonzero(size >= self.min_size_)
        order = sorted(eligible, key=lambda c: (not sig[c], -np.nan_to_num(ratio[c]), -size[c]))
        chosen = order[: int(self.top_k)]
        desc = self._describe(attributes, labels, chosen, n) if attributes is not None else {}
        dist = self.kmeans_.transform(Z) if len(chosen) else None
        self.slices_ = []
        for c in chosen:
            members = np.flatnonzero(labels == c)
            by_dist = members[np.argsort(dist[members, c], kind="stable")]
            typical = by_dist[: int(self.n_examples)].tolist()
            typical_err = by_dist[e[by_dist] > 0][: int(self.n_examples)].tolist()
            self.slices_.append(ClusterSlice(
                cluster=int(c), size=int(size[c]), support=float(size[c] / n), error=float(mean[c]),
                error_rest=float(rest[c]), error_ratio=float(ratio[c]), effect_size=float(eff[c]),
                p_value=float(p[c]), p_adjusted=float(p_adj[c]), significant=bool(sig[c]),
                ci_low=None if np.isnan(lo[c]) else float(lo[c]), ci_high=None if np.isnan(hi[c]) else float(hi[c]),
                distinctive=desc.get(c, []), typical=[int(i) for i in typical],
                typical_errors=[int(i) for i in typical_err]))
        return self

    def _describe(self, attributes, labels, chosen, n) -> dict:
        frame = as_frame(attributes, "attributes")
        if len(frame) != n:
            raise UnskewInputError(f"attributes have {len(frame)} rows but embeddings have {n}.")
        enc = SliceEncoder(n_bins=4)
        codes = enc.fit_transform(frame)
        out = {}
        for c in chosen:
            inside = labels == c
            m = int(inside.sum())
            cands = []
            for f, levels in enumerate(enc.levels_):
                card = len(levels)
                share_all = np.bincount(codes[f], minlength=card) / n
                share_in = np.bincount(codes[f][inside], minlength=card) / max(m, 1)
                for v in range(card):
                    gain = share_in[v] - share_all[v]
                    if gain > 0 and share_all[v] > 0:
                        cands.append((gain, levels[v].text, share_in[v], share_all[v]))
            cands.sort(key=lambda t: -t[0])
            out[c] = [{"condition": t, "share_in_cluster": float(si), "share_overall": float(sa),
                       "lift": float(si / sa)} for _, t, si, sa in cands[: int(self.n_describe)]]
        return out

    # ------------------------------------------------------------------ use
    def _check_fitted(self):
        if not hasattr(self, "slices_"):
            raise UnskewInputError("This EmbeddingSliceFinder is not fitted yet; call fit first.")

    def predict(self, embeddings: Any) -> np.ndarray:
        """Cluster of each row (nearest centre)."""
        self._check_fitted()
        return self.kmeans_.predict(self._embed(embeddings, fitting=False))

    def slice_membership(self, embeddings: Any, *, only_significant: bool = False) -> np.ndarray:
        """Boolean matrix ``(n_rows, n_slices)`` of membership in the reported clusters."""
        lab = self.predict(embeddings)
        chosen = [s.cluster for s in self.slices_ if s.significant or not only_significant]
        return lab[:, None] == np.array(chosen, dtype=int)[None, :]

    def to_groups(self, embeddings: Any, *, only_significant: bool = False) -> np.ndarray:
        """Group id per row: the reported cluster's rank, or ``len(slices)`` (``"rest"``)."""
        mem = self.slice_membership(embeddings, only_significant=only_significant)
        g = np.full(len(mem), mem.shape[1], dtype=np.int64)
        anyin = mem.any(axis=1)
        g[anyin] = np.argmax(mem[anyin], axis=1)
        return g

    def group_names(self, *, only_significant: bool = False) -> list[str]:
        self._check_fitted()
        return [s.description for s in self.slices_ if s.significant or not only_significant] + [REST]

    def to_frame(self) -> pd.DataFrame:
        self._check_fitted()
        cols = ["slice", "cluster", "size", "support", "error", "error_rest", "error_ratio", "effect_size",
                "p_value", "p_adjusted", "significant"]
        return pd.DataFrame([{k: s.to_dict()[k] for k in cols} for s in self.slices_], columns=cols)

    def report(self, dataset: dict | None = None) -> Report:
        """A ``Report(kind="slices")`` with one ``embedding_slices`` section."""
        self._check_fitted()
        binary = self.binary_errors_
        fmt = (lambda x: f"{100 * x:.1f}%") if binary else (lambda x: f"{x:.4g}")
        findings = []
        status = "pass"
        for s in self.slices_:
            if s.significant:
                sev = "fail" if s.effect_size >= 0.5 else "warn" if s.effect_size >= 0.2 else "info"
                if sev == "fail" or (sev == "warn" and status == "pass"):
                    status = sev
                ex = ", ".join(str(i) for i in (s.typical_errors or s.typical)[:5])
                findings.append(Finding(
                    f"Error {fmt(s.error)} in {s.description} ({s.size:,} rows), {s.error_ratio:.1f}x the "
                    f"overall {fmt(self.mean_error_)}; adjusted p = {s.p_adjusted:.2g}. Typical rows: {ex}.",
                    severity=sev, subject=f"cluster {s.cluster}", value=s.error))
        if not findings:
            findings.append(Finding(f"No cluster is significantly worse than the rest ({self.correction} "
                                    f"correction for {int(self.n_clusters)} clusters).", severity="info"))
        rows = [[j + 1, s.description, s.size, round(s.error, 4), round(s.error_ratio, 3),
                 round(s.effect_size, 3), float(f"{s.p_adjusted:.3g}"), s.significant,
                 ", ".join(map(str, s.typical))] for j, s in enumerate(self.slices_)]
        check = CheckResult(
            name="embedding_slices", title="Embedding clusters where the model errs most", status=status,
            summary={"n_rows": self.n_rows_, "mean_error": self.mean_error_, "error_metric": self.error_metric_,
                     "n_clusters": int(self.n_clusters), "fit_on": self.fit_on, "correction": self.correction,
                     "slices": [s.to_dict() for s in self.slices_]},
            findings=findings,
            explanation=("Embeddings are clustered with k-means; each cluster's error is compared with the "
                         "other rows' (one-sided, corrected for the number of clusters) and clusters are "
                         "described by their most over-represented attribute values and most typical rows."),
            thresholds={"significance_level": self.significance_level, "warn_effect_size": 0.2,
                        "fail_effect_size": 0.5},
            charts=[Chart("Error per cluster", [Bar(s.description, s.error, s.ci_low, s.ci_high, s.significant)
                                                for s in self.slices_],
                          x_label="error", reference=self.mean_error_, reference_label="overall")],
            tables=[Table("Clusters with the highest error", ["rank", "cluster", "rows", "error", "error ratio",
                                                              "effect size", "p adjusted", "significant",
                                                              "typical rows"], rows)],
        )
        return Report(kind="slices", checks=[check], dataset=dataset or {"n_rows": self.n_rows_},
                      parameters={"n_clusters": self.n_clusters, "fit_on": self.fit_on,
                                  "n_components": self.n_components, "correction": self.correction})
