"""Exact path-dependent TreeSHAP kernels, compiled with numba.

Two exact algorithms over one flat tree format (all trees of an ensemble
concatenated; children are global node indices, ``-1`` marks a leaf):

* ``v1``: Algorithm 2 of Lundberg et al. (2020, "From local explanations to
  global understanding with explainable AI for trees"): a recursion that keeps
  the proportions of all feature subsets along the current path, ``O(L D^2)``
  per row and tree (``L`` leaves, ``D`` depth).
* ``v2``: the precomputation of Yang (2021, "Fast TreeSHAP"), algorithm v2. A
  leaf's contribution to a row depends only on which of the leaf's path
  features the row satisfies (a bit pattern ``s``), so for every leaf and every
  pattern the contribution of each path feature is computed once; explaining a
  row is then, per leaf, evaluating its path conditions and adding ``k``
  stored numbers (``O(L D)`` per row and tree). The table has ``k 2^k``
  numbers per leaf with ``k`` path features, so trees whose leaves have many
  distinct path features use ``v1``.

Rows run in parallel over the available cores (``numba.prange``).

A node goes to the left child when ``x <= threshold``; a missing value (NaN)
goes to ``default[node]``. Adapters (``_trees.py``) translate each library's
rule into this one.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


# ------------------------------------------------------------------ v1: the recursion
@njit(cache=True, inline="always")
def _extend(feat, zf, of, pw, off, d, z, o, fi):
    feat[off + d] = fi
    zf[off + d] = z
    of[off + d] = o
    pw[off + d] = 1.0 if d == 0 else 0.0
    for i in range(d - 1, -1, -1):
        pw[off + i + 1] += o * pw[off + i] * (i + 1) / (d + 1)
        pw[off + i] = z * pw[off + i] * (d - i) / (d + 1)


@njit(cache=True)
def _unwind(feat, zf, of, pw, off, d, pi):
    o = of[off + pi]
    z = zf[off + pi]
    nop = pw[off + d]
    for i in range(d - 1, -1, -1):
        if o != 0:
            tmp = pw[off + i]
            pw[off + i] = nop * (d + 1) / ((i + 1) * o)
            nop = tmp - pw[off + i] * z * (d - i) / (d + 1)
        else:
            pw[off + i] = pw[off + i] * (d + 1) / (z * (d - i))
    for i in range(pi, d):
        feat[off + i] = feat[off + i + 1]
        zf[off + i] = zf[off + i + 1]
        of[off + i] = of[off + i + 1]


@njit(cache=True)
def _unwound_sum(zf, of, pw, off, d, pi):
    o = of[off + pi]
    z = zf[off + pi]
    nop = pw[off + d]
    total = 0.0
    for i in range(d - 1, -1, -1):
        if o != 0:
            tmp = nop * (d + 1) / ((i + 1) * o)
            total += tmp
            nop = pw[off + i] - tmp * z * ((d - i) / (d + 1))
        elif z != 0:
            total += (pw[off + i] / z) / ((d - i) / (d + 1))
    return total


@njit(cache=False)
def _recurse(node, d, parent_off, pz, po, pfi, x, phi, left, right, default, feature, thr, value, cover,
             feat, zf, of, pw):
    off = parent_off + d + 1
    for i in range(d + 1):
        feat[off + i] = feat[parent_off + i]
        zf[off + i] = zf[parent_off + i]
        of[off + i] = of[parent_off + i]
        pw[off + i] = pw[parent_off + i]
    _extend(feat, zf, of, pw, off, d, pz, po, pfi)
    if right[node] < 0:
        v = value[node]
        for i in range(1, d + 1):
            w = _unwound_sum(zf, of, pw, off, d, i)
            phi[feat[off + i]] += w * (of[off + i] - zf[off + i]) * v
        return
    f = feature[node]
    xv = x[f]
    if np.isnan(xv):
        hot = default[node]
    elif xv <= thr[node]:
        hot = left[node]
    else:
        hot = right[node]
    cold = right[node] if hot == left[node] else left[node]
    w = cover[node]
    hz = cover[hot] / w
    cz = cover[cold] / w
    iz = 1.0
    io = 1.0
    k = 0
    while k <= d:
        if feat[off + k] == f:
            break
        k += 1
    if k != d + 1:
        iz = zf[off + k]
        io = of[off + k]
        _unwind(feat, zf, of, pw, off, d, k)
        d -= 1
    _recurse(hot, d + 1, off, hz * iz, io, f, x, phi, left, right, default, feature, thr, value, cover,
             feat, zf, of, pw)
    _recurse(cold, d + 1, off, cz * iz, 0.0, f, x, phi, left, right, default, feature, thr, value, cover,
             feat, zf, of, pw)


@njit(cache=False, parallel=True)
def shap_v1(X, roots, left, right, default, feature, thr, value, cover, max_depth, out):
    """Add the SHAP values of every row of ``X`` over the trees in ``roots`` to ``out`` (n, d)."""
    n = X.shape[0]
    size = (max_depth + 2) * (max_depth + 3) // 2 + 2
    n_chunks = min(n, 64)
    for c in prange(n_chunks):
        feat = np.empty(size, np.int64)
        zf = np.empty(size)
        of = np.empty(size)
        pw = np.empty(size)
        for r in range(c, n, n_chunks):
            for t in range(roots.shape[0]):
                _recurse(roots[t], 0, 0, 1.0, 1.0, -1, X[r], out[r], left, right, default, feature, thr,
                         value, cover, feat, zf, of, pw)


# ------------------------------------------------------------------ v2: precomputed patterns
@njit(cache=True)
def _paths(root, left, right):
    """Leaves of one tree and their root paths (nodes, and 1 where the path went left)."""
    leaves = [np.int64(0)]
    pstart = [np.int64(0)]
    pnodes = [np.int64(0)]
    pdirs = [np.int64(0)]
    leaves.pop()
    pnodes.pop()
    pdirs.pop()
    stack_n = [np.int64(root)]
    stack_d = [np.int64(0)]
    path = np.empty(left.shape[0] + 1, np.int64)
    while len(stack_n) > 0:
        node = stack_n.pop()
        d = stack_d.pop()
        path[d] = node
        if right[node] < 0:
            leaves.append(node)
            for i in range(d):
                pnodes.append(path[i])
                pdirs.append(1 if left[path[i]] == path[i + 1] else 0)
            pstart.append(len(pnodes))
        else:
            stack_n.append(right[node])
            stack_d.append(d + 1)
            stack_n.append(left[node])
            stack_d.append(d + 1)
    return np.array(leaves), np.array(pstart), np.array(pnodes), np.array(pdirs)


@njit(cache=True)
def _unique_path_features(nodes, feature, ubuf):
    k = 0
    for j in range(nodes.shape[0]):
        f = feature[nodes[j]]
        seen = False
        for i in range(k):
            if ubuf[i] == f:
                seen = True
                break
        if not seen:
            ubuf[k] = f
            k += 1
    return k


@njit(cache=True)
def _v2_count(roots, left, right, feature, max_k):
    """Per tree: eligible (all leaves with <= max_k path features), leaves, conditions, table cells, features."""
    nt = roots.shape[0]
    stats = np.zeros((nt, 5), np.int64)
    ubuf = np.empty(left.shape[0] + 1, np.int64)
    for t in range(nt):
        leaves, pstart, pnodes, pdirs = _paths(roots[t], left, right)
        ok = 1
        cells = 0
        uf = 0
        for j in range(leaves.shape[0]):
            k = _unique_path_features(pnodes[pstart[j]:pstart[j + 1]], feature, ubuf)
            if k > max_k:
                ok = 0
                break
            cells += k * (1 << k)
            uf += k
        stats[t, 0] = ok
        stats[t, 1] = leaves.shape[0]
        stats[t, 2] = pnodes.shape[0]
        stats[t, 3] = cells
        stats[t, 4] = uf
    return stats


@njit(cache=True)
def _v2_fill(roots, left, right, default, feature, thr, value, cover, cond_off, c_feat, c_thr, c_left,
             c_def_left, c_bit, k_of_leaf, tab_off, tables, ufeat_off, ufeat):
    ubuf = np.empty(left.shape[0] + 1, np.int64)
    li = 0
    ci = 0
    ti = 0
    ui = 0
    cond_off[0] = 0
    tab_off[0] = 0
    ufeat_off[0] = 0
    for t in range(roots.shape[0]):
        leaves, pstart, pnodes, pdirs = _paths(roots[t], left, right)
        for j in range(leaves.shape[0]):
            nodes = pnodes[pstart[j]:pstart[j + 1]]
            dirs = pdirs[pstart[j]:pstart[j + 1]]
            k = _unique_path_features(nodes, feature, ubuf)
            z = np.ones(k)
            for q in range(nodes.shape[0]):
                node = nodes[q]
                f = feature[node]
                b = 0
                while ubuf[b] != f:
                    b += 1
                child = left[node] if dirs[q] == 1 else right[node]
                z[b] *= cover[child] / cover[node]
                c_feat[ci] = f
                c_thr[ci] = thr[node]
                c_left[ci] = dirs[q]
                c_def_left[ci] = 1 if default[node] == left[node] else 0
                c_bit[ci] = b
                ci += 1
            tab = _pattern_table(z, value[leaves[j]])
            m = k * (1 << k)
            tables[ti:ti + m] = tab.ravel()
            ti += m
            for i in range(k):
                ufeat[ui + i] = ubuf[i]
            ui += k
            k_of_leaf[li] = k
            li += 1
            cond_off[li] = ci
            tab_off[li] = ti
            ufeat_off[li] = ui


@njit(cache=True)
def _pattern_table(z, v):
    """For one leaf: ``table[s, i]`` = contribution of path feature ``i`` when the
    row satisfies exactly the path features in bit pattern ``s``."""
    k = z.shape[0]
    n_pat = 1 << k
    table = np.zeros((n_pat, k))
    size = k + 2
    feat = np.empty(size, np.int64)
    zf = np.empty(size)
    of = np.empty(size)
    pw = np.empty(size)
    for s in range(n_pat):
        # path of the k unique features (slot 0 is the empty root element, as in v1)
        _extend(feat, zf, of, pw, 0, 0, 1.0, 1.0, -1)
        for i in range(k):
            o = 1.0 if (s >> i) & 1 else 0.0
            _extend(feat, zf, of, pw, 0, i + 1, z[i], o, i)
        for i in range(k):
            w = _unwound_sum(zf, of, pw, 0, k, i + 1)
            o = 1.0 if (s >> i) & 1 else 0.0
            table[s, i] = w * (o - z[i]) * v
    return table


def build_v2(roots, left, right, default, feature, thr, value, cover, max_k=14, max_cells=30_000_000):
    """Precompute the v2 tables for the trees whose leaves have at most ``max_k``
    distinct path features (and while the tables stay under ``max_cells``
    numbers). Returns the v2 arrays and the roots left to v1."""
    roots = np.asarray(roots, np.int64)
    stats = _v2_count(roots, left, right, feature, max_k)
    take = np.zeros(len(roots), bool)
    cells = 0
    for t in range(len(roots)):
        if stats[t, 0] and cells + stats[t, 3] <= max_cells:
            take[t] = True
            cells += stats[t, 3]
    sel = roots[take]
    st = stats[take]
    n_leaves, n_conds, n_uf = int(st[:, 1].sum()), int(st[:, 2].sum()), int(st[:, 4].sum())
    arrays = (
        np.zeros(n_leaves + 1, np.int64), np.zeros(n_conds, np.int64), np.zeros(n_conds), np.zeros(n_conds, np.int8),
        np.zeros(n_conds, np.int8), np.zeros(n_conds, np.int64), np.zeros(n_leaves, np.int64),
        np.zeros(n_leaves + 1, np.int64), np.zeros(int(cells)), np.zeros(n_leaves + 1, np.int64),
        np.zeros(n_uf, np.int64),
    )
    if len(sel):
        _v2_fill(sel, left, right, default, feature, thr, value, cover, *arrays)
    return arrays, roots[~take]


@njit(cache=True, parallel=True)
def shap_v2(X, cond_off, c_feat, c_thr, c_left, c_def_left, c_bit, k_of_leaf, tab_off, tables, ufeat_off,
            ufeat, out):
    """Add the v2 SHAP values of every row of ``X`` to ``out`` (n, d).

    Rows are processed in blocks, leaf by leaf, so that a leaf's conditions and
    table stay in cache while the block's rows use them."""
    n = X.shape[0]
    n_leaves = k_of_leaf.shape[0]
    block = 128
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        r0 = b * block
        r1 = min(n, r0 + block)
        for leaf in range(n_leaves):
            k = k_of_leaf[leaf]
            full = (1 << k) - 1
            c0 = cond_off[leaf]
            c1 = cond_off[leaf + 1]
            t0 = tab_off[leaf]
            uo = ufeat_off[leaf]
            for r in range(r0, r1):
                s = full
                for c in range(c0, c1):
                    xv = X[r, c_feat[c]]
                    if np.isnan(xv):
                        went_left = c_def_left[c] == 1
                    else:
                        went_left = xv <= c_thr[c]
                    if went_left != (c_left[c] == 1):
                        s &= ~(1 << c_bit[c])
                base = t0 + s * k
                for i in range(k):
                    out[r, ufeat[uo + i]] += tables[base + i]


@njit(cache=True, parallel=True)
def tree_predict(X, roots, left, right, default, feature, thr, value):
    """Sum over trees of the leaf value each row reaches."""
    n = X.shape[0]
    out = np.zeros(n)
    for r in prange(n):
        x = X[r]
        acc = 0.0
        for t in range(roots.shape[0]):
            node = roots[t]
            while right[node] >= 0:
                xv = x[feature[node]]
                if np.isnan(xv):
                    node = default[node]
                elif xv <= thr[node]:
                    node = left[node]
                else:
                    node = right[node]
            acc += value[node]
        out[r] = acc
    return out
