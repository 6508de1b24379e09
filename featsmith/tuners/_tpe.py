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
from scipy.special import log_ndtr, logsumexp, ndtr, ndtri

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


def _gap_bandwidth(mus: np.ndarray) -> np.ndarray:
    """Per-kernel bandwidth from the distance to the neighbouring kernels, per dimension.

    ``mus`` is ``(k, d)`` in ``[0, 1]``; wide where observations are sparse, narrow where they
    crowd, clipped to ``[1 / min(100, k + 2), 1]`` so no kernel collapses.
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
    return np.clip(sig, 1.0 / min(100.0, k + 2.0), 1.0)


class _Parzen:
    """A weighted kernel mixture over one group of parameters (numeric and categorical dims)."""

    def __init__(self, X: np.ndarray, weights: np.ndarray, numeric: np.ndarray, n_choices: np.ndarray,
                 prior_weight: float, multivariate_bw: bool):
        k = len(X)
        self.numeric = numeric
        self.n_choices = n_choices
        w = np.append(weights, prior_weight)
        self.log_w = np.log(w / w.sum())
        # numeric dims: observation kernels + the prior kernel N(0.5, 1) truncated to [0, 1]
        mus = X[:, numeric]
        if k and multivariate_bw:
            d = max(int(numeric.sum()), 1)
            sig = np.full_like(mus, 0.2 * k ** (-1.0 / (d + 4)))
            sig = np.maximum(sig, 1.0 / min(100.0, k + 2.0))
        else:
            sig = _gap_bandwidth(mus) if k else mus
        self.mu = np.vstack([mus, np.full((1, mus.shape[1]), 0.5)])
        self.sigma = np.vstack([sig, np.ones((1, mus.shape[1]))])
        self._cdf_lo = ndtr(-self.mu / self.sigma)
        self._cdf_hi = ndtr((1.0 - self.mu) / self.sigma)
        self.log_z = np.log(np.maximum(self._cdf_hi - self._cdf_lo, _TINY))
        # categorical dims: each observation puts mass 1 on its option on top of a uniform floor
        self.cat_logp = []
        n_kernels = k + 1
        for j, c in zip(np.flatnonzero(~numeric), n_choices[~numeric]):
            p = np.full((n_kernels, c), prior_weight / n_kernels)
            p[np.arange(k), X[:, j].astype(int)] += 1.0
            p[k] = 1.0  # prior kernel: uniform
            self.cat_logp.append(np.log(p / p.sum(axis=1, keepdims=True)))

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        comp = rng.choice(len(self.log_w), size=m, p=np.exp(self.log_w))
        out = np.empty((m, len(self.numeric)))
        lo, hi = self._cdf_lo[comp], self._cdf_hi[comp]
        u = lo + rng.random(lo.shape) * (hi - lo)
        x = self.mu[comp] + self.sigma[comp] * ndtri(np.clip(u, 1e-12, 1 - 1e-12))
        out[:, self.numeric] = np.clip(x, 0.0, 1.0)
        for lp, j in zip(self.cat_logp, np.flatnonzero(~self.numeric)):
            cum = np.cumsum(np.exp(lp[comp]), axis=1)
            out[:, j] = np.minimum((rng.random((m, 1)) * cum[:, -1:] > cum).sum(axis=1), lp.shape[1] - 1)
        return out

    def log_pdf(self, Xc: np.ndarray, cells: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Log density of candidates ``(m, d)``; discrete dims use the mass of their cell."""
        discrete, lo, hi = cells
        x = Xc[:, self.numeric][:, None, :]  # (m, 1, dn)
        mu, sig = self.mu[None], self.sigma[None]
        z = (x - mu) / sig
        dens = -0.5 * z * z - _LOG_SQRT_2PI - np.log(sig)
        if discrete.any():
            a = (lo[:, None, :] - mu) / sig
            b = (hi[:, None, :] - mu) / sig
            mass = np.log(np.maximum(ndtr(b) - ndtr(a), _TINY))
            dens = np.where(discrete[None, None, :], mass, dens)
        total = (dens - self.log_z[None]).sum(axis=2) + self.log_w[None]
        for lp, j in zip(self.cat_logp, np.flatnonzero(~self.numeric)):
            total = total + lp[:, Xc[:, j].astype(int)].T
        return logsumexp(total, axis=1)


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
                 prior_weight=1.0, bandwidth="gap"):
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
        self._history = _History(self.space.n_params)
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
                          scott=self.bandwidth == "scott"), None, {}


def _cells(space: SearchSpace, cols: np.ndarray, Xc: np.ndarray):
    """Snap candidates of discrete numeric dims and return their cell bounds in the unit cube."""
    params = [space.params[i] for i in cols if not space.params[i].is_categorical]
    discrete = np.array([p.is_discrete for p in params], dtype=bool)
    m = len(Xc)
    lo = np.zeros((m, len(params)))
    hi = np.ones((m, len(params)))
    numeric_cols = np.flatnonzero(~space.categorical_mask[cols])
    for k, (p, j) in enumerate(zip(params, numeric_cols)):
        if not p.is_discrete:
            continue
        value = p.decode(Xc[:, j])
        Xc[:, j] = np.clip(p.encode(value), 0.0, 1.0)
        if p.type == "randint":
            half = 0.5 / (p.args[1] - p.args[0])
            lo[:, k], hi[:, k] = Xc[:, j] - half, Xc[:, j] + half
        else:
            q = p.q
            lo_x, hi_x = value - q / 2, value + q / 2
            if p.is_bounded:
                lo_x, hi_x = np.maximum(lo_x, p.args[0]), np.minimum(hi_x, p.args[1])
            lo[:, k] = np.clip(p.encode(np.maximum(lo_x, 1e-300) if "log" in p.type else lo_x), 0, 1)
            hi[:, k] = np.clip(p.encode(hi_x), 0, 1)
    return discrete, lo, hi


def sample_tpe(space: SearchSpace, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, *,
               n_candidates: int = 24, gamma=default_gamma, multivariate: bool = True,
               prior_weight: float = 1.0, scott: bool = False) -> np.ndarray:
    """One TPE proposal from observations ``X`` (vectors, NaN = inactive) and losses ``y``."""
    n = len(y)
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
        l_est = _Parzen(X[np.ix_(b, cols)], default_weights(len(b)), numeric, n_choices,
                        prior_weight, scott)
        g_est = _Parzen(X[np.ix_(a, cols)], default_weights(len(a)), numeric, n_choices,
                        prior_weight, scott)
        cand = l_est.sample(rng, n_candidates)
        cells = _cells(space, cols, cand)
        score = l_est.log_pdf(cand, cells) - g_est.log_pdf(cand, cells)
        vector[cols] = cand[int(np.argmax(score))]
    return space.complete(vector, rng)[0]
