"""Tree-structured Parzen estimator (Bergstra et al. 2011), with the refinements Optuna made popular.

The observations are split by loss into a good set (the best ``gamma(n)``) and the rest; each set
becomes a mixture of truncated Gaussians on the unit cube (one kernel per observation plus a broad
prior kernel) and a categorical kernel per ``choice``. Candidates are drawn from the good mixture
and the one with the largest ``log l(x) - log g(x)`` is proposed. Parameters under a nested choice
form their own group, fitted on the trials where that group was active, so conditional spaces are
handled as a tree.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr, ndtri

from featsmith.tuners._base import Tuner, _check_int, _History
from featsmith.tuners._space import SearchSpace

__all__ = ["TPETuner"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_TINY = 1e-300


def default_gamma(n: int) -> int:
    """Size of the good set: 10% of the trials, at most 25 (Optuna's default)."""
    return min(math.ceil(0.1 * n), 25)


def default_weights(n: int) -> np.ndarray:
    """Kernel weights by age: the newest 25 count fully, older ones ramp down linearly."""
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, n - 25), np.ones(25)])


def _gap_bandwidth(mus: np.ndarray, n_clip: int | None = None) -> np.ndarray:
    """Per-kernel bandwidth from the distance to the neighbouring kernels, per dimension.

    ``mus`` is ``(k, d)`` in ``[0, 1]``; wide where observations are sparse, narrow where they
    crowd, clipped to ``[1 / min(100, n + 2), 1]`` so no kernel collapses, where ``n`` is
    ``n_clip`` (the number of trials) or else the number of kernels ``k``.
    """
    k, d = mus.shape
    order = np.argsort(mus, axis=0)
    s = np.take_along_axis(mus, order, axis=0)
    padded = np.concatenate([np.zeros((1, d)), s, np.ones((1, d))])
    gaps = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
    if k >= 2:  # the outermost kernels look inwards only
        gaps[0] = padded[2] - padded[1]
        gaps[-1] = padded[-2] - padded[-3]
    sig = np.empty_like(gaps)
    np.put_along_axis(sig, order, gaps, axis=0)
    return np.clip(sig, 1.0 / min(100.0, (k if n_clip is None else n_clip) + 2.0), 1.0)


def _kernel_terms(mu: np.ndarray, sig: np.ndarray, edges: dict):
    """Per-kernel normalisers: ``log Z`` of each truncated dim, and for bounded discrete dims
    the normalised log mass of every cell (``{dim: (k, n_cells)}``, whose ``log Z`` is then 0)."""
    log_z = np.log(np.maximum(ndtr((1.0 - mu) / sig) - ndtr(-mu / sig), _TINY))
    tables = {}
    for d, e in edges.items():
        cdf = ndtr((e[None, :] - mu[:, d:d + 1]) / sig[:, d:d + 1])
        tables[d] = (np.log(np.maximum(np.diff(cdf, axis=1), _TINY)) - log_z[:, d:d + 1]).astype(np.float32)
        log_z[:, d] = 0.0
    return log_z, tables


class _KernelCache:
    """Kernel normalisers by observation row, recomputed only where a kernel's centre or width
    changed since the last ask (most of them keep both from one trial to the next)."""

    def __init__(self, n_dims: int, edges: dict):
        self.edges = edges
        self.mu = np.full((0, n_dims), np.nan)
        self.sig = np.full((0, n_dims), np.nan)
        self.log_z = np.zeros((0, n_dims))
        self.tables = {d: np.zeros((0, len(e) - 1), dtype=np.float32) for d, e in edges.items()}

    def _grow(self, size: int) -> None:
        old = len(self.mu)
        if size <= old:
            return
        new = max(size, 2 * old, 64)

        def pad(a, fill):
            out = np.full((new, a.shape[1]), fill, dtype=a.dtype)
            out[:old] = a
            return out

        self.mu, self.sig = pad(self.mu, np.nan), pad(self.sig, np.nan)
        self.log_z = pad(self.log_z, 0.0)
        self.tables = {d: pad(t, 0.0) for d, t in self.tables.items()}

    def lookup(self, rows: np.ndarray, mu: np.ndarray, sig: np.ndarray):
        if len(rows) == 0:
            return np.zeros((0, mu.shape[1])), {d: np.zeros((0, len(e) - 1)) for d, e in self.edges.items()}
        self._grow(int(rows.max()) + 1)
        stale = np.any((self.mu[rows] != mu) | (self.sig[rows] != sig), axis=1)
        if stale.any():
            r = rows[stale]
            log_z, tables = _kernel_terms(mu[stale], sig[stale], self.edges)
            self.mu[r], self.sig[r], self.log_z[r] = mu[stale], sig[stale], log_z
            for d, t in tables.items():
                self.tables[d][r] = t
        return self.log_z[rows], {d: t[rows] for d, t in self.tables.items()}


class _Parzen:
    """A weighted kernel mixture over one group of parameters (numeric and categorical dims).

    Numeric dims: one truncated Gaussian per observation on ``[0, 1]`` plus the prior kernel
    ``N(0.5, 1)``; a bounded discrete dim scores a candidate by its cell's mass. Categorical
    dims: each observation puts weight 1 on its option over a uniform floor of
    ``prior_weight / n_kernels``; the prior kernel is uniform.
    """

    def __init__(self, X: np.ndarray, weights: np.ndarray, numeric: np.ndarray, n_choices: np.ndarray,
                 prior_weight: float, multivariate_bw: bool, edges: dict,
                 cache: _KernelCache | None = None, rows: np.ndarray | None = None,
                 n_clip: int | None = None, cell_floor: np.ndarray | None = None):
        k = len(X)
        self.k = k
        self.numeric = numeric
        self.n_choices = n_choices
        self.prior_weight = prior_weight
        self.cat_values = X[:, ~numeric].astype(int)
        w = np.append(weights, prior_weight)
        self.log_w = np.log(w / w.sum())
        mus = X[:, numeric]
        if k and multivariate_bw:
            d = max(int(numeric.sum()), 1)
            sig = np.full_like(mus, max(0.2 * k ** (-1.0 / (d + 4)), 1.0 / min(100.0, k + 2.0)))
        else:
            sig = _gap_bandwidth(mus, n_clip) if k else mus
        if k and cell_floor is not None:
            # a kernel narrower than its cell says nothing about the neighbouring cells
            sig = np.maximum(sig, cell_floor[None, :])
        prior_mu = np.full((1, mus.shape[1]), 0.5)
        prior_sig = np.ones((1, mus.shape[1]))
        self.mu = np.vstack([mus, prior_mu])
        self.sigma = np.vstack([sig, prior_sig])
        if cache is not None:
            log_z, tables = cache.lookup(rows, mus, sig)
        else:
            log_z, tables = _kernel_terms(mus, sig, edges)
        p_log_z, p_tables = _kernel_terms(prior_mu, prior_sig, edges)
        self.log_z = np.vstack([log_z, p_log_z])
        self.tables = {d: np.vstack([tables[d], p_tables[d]]) for d in edges}

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        comp = rng.choice(len(self.log_w), size=m, p=np.exp(self.log_w))
        out = np.empty((m, len(self.numeric)))
        mu, sig = self.mu[comp], self.sigma[comp]
        lo, hi = ndtr(-mu / sig), ndtr((1.0 - mu) / sig)
        u = lo + rng.random(lo.shape) * (hi - lo)
        out[:, self.numeric] = np.clip(mu + sig * ndtri(np.clip(u, 1e-12, 1 - 1e-12)), 0.0, 1.0)
        n_kernels = self.k + 1
        for c, (j, n_opt) in enumerate(zip(np.flatnonzero(~self.numeric), self.n_choices[~self.numeric])):
            p = np.full((m, n_opt), self.prior_weight / n_kernels)
            obs = comp < self.k
            p[np.flatnonzero(obs), self.cat_values[comp[obs], c]] += 1.0
            p[~obs] = 1.0
            cum = np.cumsum(p, axis=1)
            out[:, j] = np.minimum((rng.random((m, 1)) * cum[:, -1:] > cum).sum(axis=1), n_opt - 1)
        return out

    def log_pdf(self, Xc: np.ndarray, cells) -> np.ndarray:
        """Log density of candidates ``(m, d)``; discrete dims use the mass of their cell.

        Works on a ``(kernels, candidates)`` float32 array updated in place: with a thousand
        kernels this is the whole cost of an ask, and it is memory-bound.
        """
        discrete, lo, hi, idx = cells
        x = Xc[:, self.numeric]
        m = len(Xc)
        const = self.log_w - self.log_z.sum(axis=1)
        cont = ~discrete
        # the constant and sum_d -((x - mu) / s)^2 / 2 in one matrix product: each kernel row
        # [const, -i2/2, mu*i2] against each candidate column [1, x^2, x], no (k, m, d) arrays
        inv = 1.0 / self.sigma[:, cont]
        i2 = inv * inv
        mu = self.mu[:, cont]
        xc = x[:, cont]
        const = const + np.log(inv).sum(axis=1) - cont.sum() * _LOG_SQRT_2PI - 0.5 * (mu * mu * i2).sum(axis=1)
        rows = np.hstack([const[:, None], -0.5 * i2, mu * i2]).astype(np.float32)
        cols = np.vstack([np.ones((1, m)), (xc * xc).T, xc.T]).astype(np.float32)
        total = rows @ cols
        for d, table in self.tables.items():
            total += table[:, idx[d]]
        direct = discrete.copy()
        direct[list(self.tables)] = False
        if direct.any():
            mu, sig = self.mu[:, None, direct], self.sigma[:, None, direct]
            mass = ndtr((hi[None, :, direct] - mu) / sig) - ndtr((lo[None, :, direct] - mu) / sig)
            total += np.log(np.maximum(mass, _TINY)).sum(axis=2)
        n_kernels = self.k + 1
        floor = self.prior_weight / n_kernels
        for c, (j, n_opt) in enumerate(zip(np.flatnonzero(~self.numeric), self.n_choices[~self.numeric])):
            norm = math.log(n_opt * floor + 1.0)
            hit = self.cat_values[:, c][:, None] == Xc[:, j].astype(int)[None, :]  # (k, m)
            total[: self.k] += np.where(hit, np.float32(math.log(floor + 1.0) - norm),
                                        np.float32(math.log(floor) - norm))
            total[self.k] -= math.log(n_opt)
        mx = total.max(axis=0)
        total -= mx
        np.exp(total, out=total)
        return mx + np.log(total.sum(axis=0, dtype=np.float64))


class TPETuner(Tuner):
    """Tree-structured Parzen estimator tuner.

    After ``n_startup_trials`` random configurations, each ask splits the finished trials into
    the best ``gamma(n)`` and the rest, fits a Parzen mixture to each (truncated Gaussians on the
    unit-cube encoding for numeric, log and quantised parameters; categorical kernels for
    ``choice``), draws ``n_ei_candidates`` from the good mixture and proposes the one with the
    largest density ratio. Parameters under a nested choice are modelled on the trials where they
    were active. The observation arrays grow in place, so an ask costs one sort and one batch of
    vectorised density evaluations, not a rebuild from the trial history.

    Parameters
    ----------
    space : dict or SearchSpace
        NNI search space.
    mode : {"min", "max"}, default="min"
    random_state : int, numpy.random.Generator or None
    n_startup_trials : int, default=10
        Random trials before the model is used.
    n_ei_candidates : int, default=24
        Candidates drawn from the good mixture per ask.
    multivariate : bool, default=True
        Model the parameters of a group jointly (product kernels, so interactions are kept)
        instead of one independent estimator per parameter.
    constant_liar : bool, default=True
        Count asked-but-unfinished trials as bad observations, so parallel asks spread out.
    gamma : callable, optional
        ``gamma(n) -> int``, the size of the good set; default ``min(ceil(0.1 n), 25)``.
    prior_weight : float, default=1.0
        Weight of the prior kernel in each mixture.
    bandwidth : {"gap", "scott"}, default="gap"
        Kernel widths from neighbour distances (as Optuna and hyperopt) or a shrinking
        Scott-type rule ``0.2 n^(-1/(d+4))``.
    bandwidth_floor : {"trials", "kernels"}, default="trials"
        Smallest kernel width, as a fraction of the range: ``1 / min(100, n + 2)`` with ``n``
        the number of trials so far, or (Optuna's choice) the number of kernels in the mixture.
        The good mixture never has more than 25 kernels, so counting kernels keeps its width
        above ~4% of the range forever; counting trials lets it resolve the optimum more
        finely as evidence accumulates (a large gain on smooth low-dimensional functions; see
        ``benchmarks/tuners.py``). Kernels of bounded discrete parameters are never narrower
        than one cell.

    Examples
    --------
    >>> tuner = TPETuner({"x": {"_type": "uniform", "_value": [-5, 5]}}, random_state=0)
    >>> for _ in range(30):
    ...     trial = tuner.ask()
    ...     tuner.tell(trial, (trial.params["x"] - 1.0) ** 2)
    >>> abs(tuner.best_params["x"] - 1.0) < 0.5
    True
    """

    def __init__(self, space, mode="min", random_state=None, *, n_startup_trials=10,
                 n_ei_candidates=24, multivariate=True, constant_liar=True, gamma=None,
                 prior_weight=1.0, bandwidth="gap", bandwidth_floor="trials"):
        super().__init__(space, mode=mode, random_state=random_state)
        self.n_startup_trials = _check_int(n_startup_trials, "n_startup_trials")
        self.n_ei_candidates = _check_int(n_ei_candidates, "n_ei_candidates", 1)
        self.multivariate = bool(multivariate)
        self.constant_liar = bool(constant_liar)
        if gamma is not None and not callable(gamma):
            raise TypeError(f"gamma must be a callable n -> int, got {gamma!r}.")
        self.gamma = gamma
        if not prior_weight > 0:
            raise ValueError(f"prior_weight must be > 0, got {prior_weight!r}.")
        self.prior_weight = float(prior_weight)
        if bandwidth not in ("gap", "scott"):
            raise ValueError(f"bandwidth must be 'gap' or 'scott', got {bandwidth!r}.")
        self.bandwidth = bandwidth
        if bandwidth_floor not in ("trials", "kernels"):
            raise ValueError(f"bandwidth_floor must be 'trials' or 'kernels', got {bandwidth_floor!r}.")
        self.bandwidth_floor = bandwidth_floor
        self._history = _History(self.space.n_params)
        self._caches: dict = {}
        self._best: tuple[float, dict] | None = None

    @property
    def best_params(self) -> dict | None:
        """Params of the best finished trial told so far (None before any)."""
        return None if self._best is None else self._best[1]

    def _observe(self, trial, vector, loss):
        self._history.add(vector, loss)
        if math.isfinite(loss) and (self._best is None or loss < self._best[0]):
            self._best = (loss, trial.params)

    def _propose(self):
        h = self._history
        if h.n < self.n_startup_trials:
            return self.space.sample_vectors(1, self._rng)[0], None, {}
        X, y = h.X, h.y
        if self.constant_liar and self._pending:
            pend = self._pending_vectors()
            X = np.vstack([X, pend])
            y = np.concatenate([y, np.full(len(pend), np.inf)])
        return sample_tpe(self.space, X, y, self._rng, n_candidates=self.n_ei_candidates,
                          gamma=self.gamma or default_gamma, multivariate=self.multivariate,
                          prior_weight=self.prior_weight,
                          scott=self.bandwidth == "scott", caches=self._caches,
                          floor_by_trials=self.bandwidth_floor == "trials"), None, {}


def _edges(space: SearchSpace, cols: np.ndarray) -> dict:
    """``{numeric dim: cell edges}`` for the bounded discrete parameters of a group."""
    params = [space.params[i] for i in cols if not space.params[i].is_categorical]
    return {k: p.cell_edges() for k, p in enumerate(params)
            if p.is_discrete and p.cell_edges() is not None}


def _cells(space: SearchSpace, cols: np.ndarray, Xc: np.ndarray):
    """Snap candidates of discrete numeric dims and describe their cells in the unit cube.

    Returns ``(discrete, lo, hi, idx)``: per numeric dim whether it is discrete, each
    candidate's cell bounds, and for bounded grids ``{dim: cell index}`` (those densities are
    tabulated per kernel and cell).
    """
    params = [space.params[i] for i in cols if not space.params[i].is_categorical]
    discrete = np.array([p.is_discrete for p in params], dtype=bool)
    m = len(Xc)
    lo = np.zeros((m, len(params)))
    hi = np.ones((m, len(params)))
    idx = {}
    numeric_cols = np.flatnonzero(~space.categorical_mask[cols])
    for k, (p, j) in enumerate(zip(params, numeric_cols)):
        if not p.is_discrete:
            continue
        value = p.decode(Xc[:, j])
        Xc[:, j] = np.clip(p.encode(value), 0.0, 1.0)
        edges = p.cell_edges()
        if edges is not None:
            idx[k] = np.clip(np.searchsorted(edges, Xc[:, j], side="right") - 1, 0, len(edges) - 2)
            continue
        lo_x, hi_x = value - p.q / 2, value + p.q / 2
        if p.is_bounded:
            lo_x, hi_x = np.maximum(lo_x, p.args[0]), np.minimum(hi_x, p.args[1])
        lo[:, k] = np.clip(p.encode(np.maximum(lo_x, 1e-300) if "log" in p.type else lo_x), 0, 1)
        hi[:, k] = np.clip(p.encode(hi_x), 0, 1)
    return discrete, lo, hi, idx


def sample_tpe(space: SearchSpace, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
               n_candidates: int = 24, gamma=default_gamma, multivariate: bool = True,
               prior_weight: float = 1.0, scott: bool = False, caches: dict | None = None,
               floor_by_trials: bool = True) -> np.ndarray:
    """One TPE proposal from observations ``X`` (vectors, NaN = inactive) and losses ``y``.

    ``caches`` (a dict the caller keeps between calls on growing ``X``) lets kernel normalisers
    be reused across asks.
    """
    n = len(y)
    n_clip = n if floor_by_trials else None
    order = np.argsort(y, kind="stable")
    n_below = max(1, min(gamma(n), n))
    below = np.sort(order[:n_below])  # trial order, so age weights apply
    above = np.sort(order[n_below:])
    vector = np.full(space.n_params, np.nan)
    groups = []
    for g, (parent, option) in zip(space.groups, space.group_conditions):
        groups.extend([(g, parent, option)] if multivariate else [(np.array([i]), parent, option) for i in g])
    for cols, parent, option in groups:
        if parent is not None and vector[parent] != option:
            continue
        numeric = ~space.categorical_mask[cols]
        n_choices = space.n_choices[cols]
        key = cols[0]
        b = below[~np.isnan(X[below, key])]
        a = above[~np.isnan(X[above, key])]
        if len(b) == 0:
            # nothing good seen here yet: draw from the prior
            vector[cols] = space.sample_vectors(1, rng, all_active=True)[0, cols]
            continue
        edges = _edges(space, cols)
        cell_floor = np.zeros(int(numeric.sum()))
        for d, e in edges.items():
            cell_floor[d] = 1.0 / (len(e) - 1)  # mean cell width in the unit cube
        ests = []
        for rows, label in ((b, "below"), (a, "above")):
            cache = None
            if caches is not None:
                key = (int(cols[0]), len(cols), label)
                if key not in caches:
                    caches[key] = _KernelCache(int(numeric.sum()), edges)
                cache = caches[key]
            ests.append(_Parzen(X[np.ix_(rows, cols)], default_weights(len(rows)), numeric, n_choices,
                                prior_weight, scott, edges, cache, rows, n_clip, cell_floor))
        l_est, g_est = ests
        cand = l_est.sample(rng, n_candidates)
        cells = _cells(space, cols, cand)
        score = l_est.log_pdf(cand, cells) - g_est.log_pdf(cand, cells)
        vector[cols] = cand[int(np.argmax(score))]
    return space.complete(vector, rng)[0]
