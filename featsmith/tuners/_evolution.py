"""Local-search tuners: simulated annealing around good trials and regularised evolution."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from scipy.special import ndtr, ndtri

from featsmith.tuners._base import Tuner, _check_int, _History

__all__ = ["AnnealTuner", "EvolutionTuner"]


def _perturb_numeric(rng, u: np.ndarray, sigma: float) -> np.ndarray:
    """Truncated-normal move of unit-cube coordinates (NaN stays NaN)."""
    lo = ndtr((0.0 - u) / sigma)
    hi = ndtr((1.0 - u) / sigma)
    r = lo + rng.random(u.shape) * (hi - lo)
    return np.clip(u + sigma * ndtri(np.clip(r, 1e-12, 1 - 1e-12)), 0.0, 1.0)


class AnnealTuner(Tuner):
    """Annealing search (NNI's / hyperopt's anneal): sample near good trials, ever closer.

    Each ask picks a parent among the finished trials, ranked by loss, with an exponentially
    distributed rank of mean ``avg_best_idx`` (so usually one of the best few), and moves every
    numeric parameter by a truncated normal step of width ``shrink(n)`` on the unit cube; a
    ``choice`` keeps the parent's option with probability ``1 - shrink(n)`` and is redrawn
    otherwise. ``shrink(n) = 1 / (1 + n * shrink_coef)`` narrows the search as trials accumulate.

    Parameters
    ----------
    space : dict or SearchSpace
    mode : {"min", "max"}, default="min"
    random_state : int, numpy.random.Generator or None
    n_startup_trials : int, default=5
    avg_best_idx : float, default=2.0
    shrink_coef : float, default=0.1

    Examples
    --------
    >>> tuner = AnnealTuner({"x": {"_type": "uniform", "_value": [0, 1]}}, random_state=0)
    >>> for _ in range(40):
    ...     trial = tuner.ask()
    ...     tuner.tell(trial, abs(trial.params["x"] - 0.3))
    >>> tuner.best_value < 0.05
    True
    """

    def __init__(self, space, mode="min", random_state=None, *, n_startup_trials=5,
                 avg_best_idx=2.0, shrink_coef=0.1):
        super().__init__(space, mode=mode, random_state=random_state)
        self.n_startup_trials = _check_int(n_startup_trials, "n_startup_trials")
        if not avg_best_idx > 0:
            raise ValueError(f"avg_best_idx must be > 0, got {avg_best_idx!r}.")
        if not shrink_coef >= 0:
            raise ValueError(f"shrink_coef must be >= 0, got {shrink_coef!r}.")
        self.avg_best_idx = float(avg_best_idx)
        self.shrink_coef = float(shrink_coef)
        self._history = _History(self.space.n_params)

    @property
    def best_value(self) -> float | None:
        """Best objective value told so far, in the caller's sign (None before any)."""
        y = self._history.y
        if not np.isfinite(y).any():
            return None
        best = float(np.min(y))
        return best if self.mode == "min" else -best

    def _propose(self):
        h = self._history
        finite = np.flatnonzero(np.isfinite(h.y))
        if len(finite) < max(self.n_startup_trials, 1):
            return self.space.sample_vectors(1, self._rng)[0], None, {}
        ranked = finite[np.argsort(h.y[finite], kind="stable")]
        rank = min(int(self._rng.exponential(self.avg_best_idx)), len(ranked) - 1)
        parent = h.X[ranked[rank]].copy()
        shrink = 1.0 / (1.0 + h.n * self.shrink_coef)
        cat = self.space.categorical_mask
        num = ~cat & ~np.isnan(parent)
        parent[num] = _perturb_numeric(self._rng, parent[num], shrink)
        redraw = cat & ~np.isnan(parent) & (self._rng.random(len(parent)) < shrink)
        parent[redraw] = np.floor(self._rng.random(redraw.sum()) * self.space.n_choices[redraw])
        return self.space.complete(parent, self._rng)[0], None, {}

    def _observe(self, trial, vector, loss):
        self._history.add(vector, loss)


class EvolutionTuner(Tuner):
    """Regularised evolution (Real et al. 2019): tournament selection, mutation and ageing.

    The population is the ``population_size`` most recently finished trials (so every member
    ages out, however good). Each ask draws ``sample_size`` members, mutates the best of them in
    one randomly chosen active parameter (a truncated-normal step of width ``mutation_scale`` on
    the unit cube, or another option of a ``choice``; children of a newly chosen option are
    drawn from the prior) and proposes the child. Until the population is full, asks are random.

    Parameters
    ----------
    space : dict or SearchSpace
    mode : {"min", "max"}, default="min"
    random_state : int, numpy.random.Generator or None
    population_size : int, default=20
    sample_size : int, default=5
    mutation_scale : float, default=0.15

    Examples
    --------
    >>> tuner = EvolutionTuner({"x": {"_type": "uniform", "_value": [0, 1]}}, random_state=0,
    ...                        population_size=8, sample_size=3)
    >>> for _ in range(60):
    ...     trial = tuner.ask()
    ...     tuner.tell(trial, abs(trial.params["x"] - 0.3))
    >>> len(tuner.population_)
    8
    """

    def __init__(self, space, mode="min", random_state=None, *, population_size=20, sample_size=5,
                 mutation_scale=0.15):
        super().__init__(space, mode=mode, random_state=random_state)
        self.population_size = _check_int(population_size, "population_size", 2)
        self.sample_size = _check_int(sample_size, "sample_size", 1)
        if self.sample_size > self.population_size:
            raise ValueError(
                f"sample_size ({sample_size}) must not exceed population_size ({population_size})."
            )
        if not 0 < mutation_scale <= 1:
            raise ValueError(f"mutation_scale must be in (0, 1], got {mutation_scale!r}.")
        self.mutation_scale = float(mutation_scale)
        self.population_: deque = deque(maxlen=self.population_size)

    def _propose(self):
        if len(self.population_) < self.population_size:
            return self.space.sample_vectors(1, self._rng)[0], None, {}
        idx = self._rng.choice(len(self.population_), size=self.sample_size, replace=False)
        parent = min((self.population_[i] for i in idx), key=lambda m: m[1])[0].copy()
        active = np.flatnonzero(~np.isnan(parent))
        j = int(self._rng.choice(active))
        p = self.space.params[j]
        if p.is_categorical:
            if p.n_choices > 1:
                other = int(self._rng.integers(p.n_choices - 1))
                parent[j] = other + (other >= parent[j])
        else:
            before = self.space.snap(parent)[0, j]
            parent[j] = _perturb_numeric(self._rng, parent[j:j + 1], self.mutation_scale)[0]
            for _ in range(10):
                if not p.is_discrete or self.space.snap(parent)[0, j] != before:
                    break
                parent[j] = self._rng.random()  # a step inside one cell changes nothing
        return self.space.complete(parent, self._rng)[0], None, {}

    def _observe(self, trial, vector, loss):
        self.population_.append((np.asarray(vector, dtype=float), loss))
