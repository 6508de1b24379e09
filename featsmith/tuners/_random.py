"""Model-free tuners: random search and grid search."""

from __future__ import annotations

import itertools

import numpy as np

from featsmith.tuners._base import SpaceExhausted, Tuner

__all__ = ["RandomTuner", "GridTuner"]


class RandomTuner(Tuner):
    """Random search: every configuration is an independent draw from NNI's prior.

    Parameters
    ----------
    space : dict or SearchSpace
    mode : {"min", "max"}, default="min"
    random_state : int, numpy.random.Generator or None

    Examples
    --------
    >>> tuner = RandomTuner({"x": {"_type": "randint", "_value": [0, 10]}}, random_state=0)
    >>> trial = tuner.ask()
    >>> 0 <= trial.params["x"] < 10
    True
    >>> tuner.tell(trial, 1.5)
    """

    def _propose(self):
        return self.space.sample_vectors(1, self._rng)[0], None, {}

    def _observe(self, trial, vector, loss):
        pass


class GridTuner(Tuner):
    """Grid search over every combination of a discrete space, in a shuffled order.

    ``choice``, ``randint`` and the quantised ``quniform`` / ``qloguniform`` enumerate their
    values; children of a nested choice are only combined with the option that owns them.
    Continuous parameters need ``n_points`` (that many evenly spaced quantiles of the prior).
    :meth:`ask` raises :class:`SpaceExhausted` once every point was proposed.

    Parameters
    ----------
    space : dict or SearchSpace
    mode : {"min", "max"}, default="min"
    random_state : int, numpy.random.Generator or None
        Shuffles the visiting order; ``shuffle=False`` keeps the lexicographic order.
    n_points : int, optional
        Grid points per continuous parameter.
    shuffle : bool, default=True

    Examples
    --------
    >>> space = {"a": {"_type": "choice", "_value": [1, 2]}, "b": {"_type": "randint", "_value": [0, 3]}}
    >>> tuner = GridTuner(space, shuffle=False)
    >>> [tuner.ask().params for _ in range(2)]
    [{'a': 1, 'b': 0}, {'a': 1, 'b': 1}]
    >>> tuner.n_grid
    6
    """

    def __init__(self, space, mode="min", random_state=None, *, n_points=None, shuffle=True):
        super().__init__(space, mode=mode, random_state=random_state)
        if n_points is not None and (not isinstance(n_points, (int, np.integer)) or n_points < 1):
            raise ValueError(f"n_points must be a positive integer or None, got {n_points!r}.")
        self.n_points = n_points
        self.shuffle = shuffle
        axes = []
        for p in self.space.params:
            grid = p.grid(n_points)
            if grid is None:
                raise ValueError(
                    f"GridTuner: parameter {p.name!r} is continuous ({p.type}); give n_points=... "
                    "or make it discrete (choice, randint, quniform, qloguniform)."
                )
            if p.type in ("qnormal", "qlognormal") and n_points is None:
                raise ValueError(
                    f"GridTuner: parameter {p.name!r} ({p.type}) is unbounded; give n_points=..."
                )
            axes.append(grid)
        self._points = self._enumerate(axes)
        if shuffle:
            self._points = self._points[self._rng.permutation(len(self._points))]
        self.n_grid = len(self._points)
        self._cursor = 0
        self._done: set = set()

    def _enumerate(self, axes) -> np.ndarray:
        space = self.space

        def expand(indices):
            # combinations for a set of sibling parameters, recursing into chosen options
            per_param = []
            for i in indices:
                p = space.params[i]
                options = []
                for value in axes[i]:
                    row = {i: value}
                    if p.is_categorical and p.children[int(value)]:
                        for sub in expand([j for j in p.children[int(value)] if space.params[j].parent == i]):
                            options.append({**row, **sub})
                    else:
                        options.append(row)
                per_param.append(options)
            return [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*per_param)]

        top = [i for i, p in enumerate(space.params) if p.parent is None]
        rows = expand(top)
        out = np.full((len(rows), space.n_params), np.nan)
        for r, row in enumerate(rows):
            for i, value in row.items():
                out[r, i] = value
        return out

    @staticmethod
    def _key(vector) -> bytes:
        return np.round(np.nan_to_num(np.asarray(vector, dtype=float), nan=-1.0), 9).tobytes()

    def _propose(self):
        # points already told (a resumed experiment replays them) are not proposed again
        while self._cursor < self.n_grid and self._key(self._points[self._cursor]) in self._done:
            self._cursor += 1
        if self._cursor >= self.n_grid:
            raise SpaceExhausted(f"GridTuner: all {self.n_grid} grid points were proposed.")
        vector = self._points[self._cursor]
        self._cursor += 1
        return vector.copy(), None, {}

    def _observe(self, trial, vector, loss):
        self._done.add(self._key(self.space.snap(vector)[0]))
