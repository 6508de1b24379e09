"""Vectorised single-feature boosting: the held-out gain each candidate adds to a base model.

For one candidate, a LightGBM model trained on that column alone with the base predictions as
``init_score`` (OpenFE's FeatureBoost) learns a piecewise-constant correction of the base
score along the candidate's value. This module fits exactly that kind of correction for
thousands of candidates at once: each candidate is cut into quantile bins (missing values get a
bin of their own), the per-bin Newton step ``-G_b / (H_b + lambda)`` is computed from the loss
gradients at the base score with one ``bincount`` over all candidates, and a few Newton steps
are taken for the non-quadratic losses. The correction is fitted on one half of the rows and
its loss reduction measured on the other half, then the halves swap (cross-fitting), so a
candidate is only ever credited with gain on rows it was not fitted on.
"""

from __future__ import annotations

import numpy as np

from featsmith.selectors._losses import grad_hess, row_loss

# Elements (rows x candidates x classes) processed per block; bounds the temporary arrays to a
# few tens of megabytes.
BLOCK_ELEMENTS = 1 << 21


def bin_edges(values, n_bins):
    """Per-column quantile edges, shape ``(n_bins - 1, c)``, ignoring NaN."""
    ordered = np.sort(values, axis=0)  # NaN sorts last
    n_valid = values.shape[0] - np.isnan(values).sum(axis=0)
    levels = np.arange(1, n_bins) / n_bins
    pos = np.floor(levels[:, None] * n_valid[None, :]).astype(np.int64)
    pos = np.clip(pos, 0, np.maximum(n_valid - 1, 0)[None, :])
    return np.take_along_axis(ordered, pos, axis=0)


def digitize(values, edges):
    """Bin index per cell: ``#edges < value``; NaN goes to the extra bin ``n_bins``."""
    bins = np.zeros(values.shape, dtype=np.int32)
    for edge in edges:
        bins += values > edge
    bins[np.isnan(values)] = edges.shape[0] + 1
    return bins


def _leaf_values(flat, g, h, n_cells, reg_lambda, multiclass):
    """Newton step per (candidate, bin) cell, ``-G / (H + lambda)``, shape ``(K, n_cells)``.

    ``g`` and ``h`` are per row (``(m,)`` / ``(K, m)``: the same for every candidate) or per
    row and candidate (``(m, c)`` / ``(K, m, c)``).
    """
    n_out = g.shape[0] if multiclass else 1
    out = np.empty((n_out, n_cells))
    ravel = flat.ravel()
    for k in range(n_out):
        gk, hk = (g[k], h[k]) if multiclass else (g, h)
        if gk.ndim == 1:
            gk = np.broadcast_to(gk[:, None], flat.shape)
            hk = np.broadcast_to(hk[:, None], flat.shape)
        G = np.bincount(ravel, weights=gk.ravel(), minlength=n_cells)
        H = np.bincount(ravel, weights=hk.ravel(), minlength=n_cells)
        out[k] = -G / (H + reg_lambda)
    return out


def _correct(raw0, leaf, flat):
    """Base score plus each candidate's per-bin correction."""
    if raw0.ndim == 1:
        return raw0[:, None] + leaf[0][flat]
    return raw0[:, :, None] + leaf[:, flat]


def _one_direction(v_fit, v_ev, y_fit, y_ev, raw_fit, raw_ev, kind, n_bins, reg_lambda, n_steps):
    c = v_fit.shape[1]
    edges = bin_edges(v_fit, n_bins)
    n_cell_bins = n_bins + 1
    offsets = (np.arange(c, dtype=np.int64) * n_cell_bins)[None, :]
    flat_fit = digitize(v_fit, edges) + offsets
    flat_ev = digitize(v_ev, edges) + offsets
    multiclass = raw_fit.ndim == 2  # (K, m)
    n_cells = c * n_cell_bins

    g, h = grad_hess(kind, y_fit, raw_fit)
    leaf = _leaf_values(flat_fit, g, h, n_cells, reg_lambda, multiclass)
    for _ in range(n_steps - 1):
        g, h = grad_hess(kind, y_fit, _correct(raw_fit, leaf, flat_fit))
        leaf = leaf + _leaf_values(flat_fit, g, h, n_cells, reg_lambda, multiclass)
    base = row_loss(kind, y_ev, raw_ev)
    diff = base[:, None] - row_loss(kind, y_ev, _correct(raw_ev, leaf, flat_ev))
    return base.sum(), diff.sum(axis=0), (diff ** 2).sum(axis=0)


def crossfit_gain(values, y, raw0, half, kind, n_bins=16, reg_lambda=1.0, n_steps=1,
                  min_rows_per_bin=20):
    """Held-out relative loss reduction of each column of ``values`` over ``raw0``.

    Parameters
    ----------
    values : ndarray (m, c) float32
        Candidate values on the round's rows.
    y : ndarray (m,)
        Float target (regression) or integer class codes.
    raw0 : ndarray (m,) or (K, m)
        Base raw scores on the same rows (out-of-fold if they come from a model).
    half : ndarray (m,) bool
        Row split for cross-fitting.
    kind : {"l2", "binary", "multiclass"}

    Returns
    -------
    gain : ndarray (c,)
        ``(base_loss - loss) / base_loss`` over all rows, each scored by the correction fitted
        on the other half.
    se : ndarray (c,)
        Standard error of ``gain`` over rows (the per-row loss differences' spread).
    """
    a, b = np.flatnonzero(half), np.flatnonzero(~half)
    m, c = values.shape
    if a.size == 0 or b.size == 0:
        # A random split of a handful of rows can leave one side empty: then no row is held
        # out from any fit, and no candidate can be credited with held-out gain.
        return np.zeros(c), np.zeros(c)
    n_bins = int(np.clip(min(a.size, b.size) // min_rows_per_bin, 2, n_bins))
    n_out = 1 if raw0.ndim == 1 else raw0.shape[0]
    step = max(1, BLOCK_ELEMENTS // max(1, m * n_out))
    gain, se = np.empty(c), np.empty(c)
    for lo in range(0, c, step):
        block = values[:, lo:lo + step]
        base_sum, diff_sum, diff_sq = 0.0, 0.0, 0.0
        for fit, ev in ((a, b), (b, a)):
            parts = _one_direction(block[fit], block[ev], y[fit], y[ev], raw0[..., fit],
                                   raw0[..., ev], kind, n_bins, reg_lambda, n_steps)
            base_sum, diff_sum, diff_sq = base_sum + parts[0], diff_sum + parts[1], diff_sq + parts[2]
        base_mean = max(base_sum / m, 1e-12)
        mean = diff_sum / m
        var = np.maximum(diff_sq / m - mean ** 2, 0.0) * m / max(m - 1, 1)
        gain[lo:lo + step] = mean / base_mean
        se[lo:lo + step] = np.sqrt(var / m) / base_mean
    return gain, se
