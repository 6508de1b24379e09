"""Feature views: several column sets over one matrix of candidate features, each a value of
the search's ``view`` parameter.

A feature set is a choice like a learning rate: the features stage builds the views (the raw
columns; the raw columns plus the screen's selections at two sizes, plus the top candidates by
LightGBM gain, plus the relational aggregates), the search validates every trial on the same
folds whatever its view, and the ensemble mixes trials of different views. The views share one
matrix (the raw columns, then every generated feature any view uses); a view's fold runner
holds its own columns of it, built once per view and never per trial. At the end, the final
model's :class:`~featsmith.featurize.FeaturePlan` covers the union of its members' views, and
each member reads its own columns of the one matrix prediction computes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from featsmith.pipelines._lgbm import LGBMTrialRunner
from featsmith.pipelines._portfolio import EstimatorTrialRunner

RAW = "raw"


def _raw_and(n_raw: int, names, order) -> np.ndarray:
    """Column indices: the ``n_raw`` raw columns, then ``names`` where they stand in a matrix
    whose generated columns follow ``order``."""
    position = {n: n_raw + i for i, n in enumerate(order)}
    return np.concatenate([np.arange(n_raw), [position[n] for n in names]]).astype(np.int64)


@dataclass(eq=False)
class FeatureViews:
    """Named column sets over one matrix, and their fold runners.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_raw + len(names))
        The encoded raw columns, then the generated features.
    y : ndarray of shape (n_rows,)
        The encoded target.
    n_raw : int
        How many of ``X``'s columns are the encoded raw columns (every view has them all).
    names : list of str
        The generated features, in the order of ``X``'s columns after the raw ones.
    views : dict of str to list of str
        Each view's generated features (a subset of ``names``); ``"raw"`` has none.
    runner_args : dict
        Keyword arguments of every fold runner (``FitContext.runner_args()``).
    categorical : list of int
        The categorical raw columns (indices in ``X``, the same in every view).
    make_plan : callable or None
        ``make_plan(names) -> FeaturePlan`` computing those features on new rows.
    raw_runner : LGBMTrialRunner, optional
        The baseline's runner of the raw columns, reused as the raw view's.
    fold_views : dict of str to (list of list of str, list of str)
        Views whose features are chosen on each fold's training rows: per split, the
        features its model reads, and those a refit on every row reads. Their ``views``
        entry is the union. Each fold's model then never sees features chosen with its own
        validation rows.
    """

    X: np.ndarray
    y: np.ndarray
    n_raw: int
    names: list
    views: dict
    runner_args: dict
    categorical: list
    make_plan: object = None
    raw_runner: object = None
    fold_views: dict = field(default_factory=dict)
    _runners: dict = field(default_factory=dict, repr=False)
    _matrices: dict = field(default_factory=dict, repr=False)

    @classmethod
    def raw_only(cls, runner):
        """The one view of the raw columns, run by the baseline's ``runner``."""
        args = dict(task=runner.task, n_classes=runner.n_classes, metric=runner.metric, splits=runner.splits,
                    n_threads=runner.n_threads, seed=runner.seed)
        return cls(runner.X, runner.y, runner.X.shape[1], [], {RAW: []}, args, list(runner.categorical),
                   raw_runner=runner)

    def columns(self, view: str) -> np.ndarray:
        """``view``'s columns of :attr:`X`."""
        return _raw_and(self.n_raw, self.views[view], self.names)

    def _matrix(self, view: str) -> np.ndarray:
        """``view``'s columns of :attr:`X`, copied once and shared by its runners (the whole
        matrix when the view has every feature in order; the raw runner's for the raw view)."""
        if view not in self._matrices:
            if view == RAW and self.raw_runner is not None:
                self._matrices[view] = self.raw_runner.X
            elif list(self.views[view]) == list(self.names):
                self._matrices[view] = self.X
            else:
                self._matrices[view] = np.ascontiguousarray(self.X[:, self.columns(view)])
        return self._matrices[view]

    def width(self, view: str) -> int:
        return self.n_raw + len(self.views[view])

    def runner(self, view: str, family: str = "lightgbm", nas_seconds: float | None = None):
        """The fold runner of ``view`` for LightGBM (``family="lightgbm"``) or the other
        families (``nas_seconds``: the neural head's seconds per fold); built on first use,
        its columns copied once per view."""
        key = (view, family == "lightgbm")
        if key not in self._runners:
            if view == RAW and family == "lightgbm" and self.raw_runner is not None:
                runner = self.raw_runner
            else:
                X = self._matrix(view)
                if family == "lightgbm":
                    runner = LGBMTrialRunner(X, self.y, categorical=self.categorical, **self.runner_args)
                else:
                    runner = EstimatorTrialRunner(X, self.y, categorical=self.categorical, nas_seconds=nas_seconds,
                                                  **self.runner_args)
            runner.view = view
            if view in self.fold_views:
                per_fold, refit = self.fold_views[view]
                runner.fold_columns = [_raw_and(self.n_raw, names, self.views[view]) for names in per_fold]
                runner.refit_columns = _raw_and(self.n_raw, refit, self.views[view])
            self._runners[key] = runner
        return self._runners[key]

    def final(self, reads):
        """``(plan, names, columns)`` of a final model whose members read ``reads``: each a
        view's name (the member reads its columns) or a tuple of generated features' names (a
        refit of a fold view reads only the refit's choice). Returns the plan of the union of
        those features (None when it is empty), their names, and for each entry of ``reads``
        its columns of the matrix that plan makes after the raw columns."""
        lists = {r: list(self.views[r] if isinstance(r, str) else r) for r in reads}
        wanted = set().union(*lists.values()) if lists else set()
        names = [n for n in self.names if n in wanted]
        columns = {r: _raw_and(self.n_raw, chosen, names) for r, chosen in lists.items()}
        plan = self.make_plan(names) if names and self.make_plan is not None else None
        return plan, names, columns

    def values(self, names) -> np.ndarray:
        """The generated features ``names`` as fitted (out of fold), columns of :attr:`X`."""
        return self.X[:, _raw_and(self.n_raw, names, self.names)[self.n_raw:]]

    def free(self):
        """Release every runner's binned folds and cached data."""
        for runner in self._runners.values():
            runner.free()
