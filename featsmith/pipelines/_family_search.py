"""Each model family's own search: after the known-good configurations, some of the search's
trials tune the best family beside LightGBM in its own space.

LightGBM's TPE alone took the search's time at 300 s (BENCHMARKS.md, issue 17): the other
families ran their known-good configuration once, and the ensembles had no second strong
family to mix. Here each family of :data:`~featsmith.pipelines._portfolio.FAMILY_SPACES` gets
an annealing tuner over its space, started from its known-good trials (annealing samples near
the best trials so far, so its first proposals are small steps from a configuration that has
validated: with the handful of trials a family gets, TPE would still be drawing at random).
"""

from __future__ import annotations

import numpy as np

from featsmith.pipelines._portfolio import FAMILY_SPACES, family_config
from featsmith.pipelines._trials import usable

# After the initial configurations, one trial in this many goes to the best other family...
FAMILY_PERIOD = 3
# ...and one in this many when that family has validated better than LightGBM.
FAMILY_PERIOD_WHEN_BEST = 2


class FamilySearch:
    """Hands out the other families' trials of the search stage.

    Parameters
    ----------
    views : list of str
        The feature views, best first; a family's space gets a ``"view"`` choice over them
        (the raw view only for the families in ``raw_only``).
    raw_only : tuple of str
        Families searched on the raw columns only.
    seed : int
    storage : str or None
        Where the experiments are stored (each family's under ``"<family>-<seed>"``).

    Examples
    --------
    >>> from featsmith.pipelines._trials import TrialResult
    >>> search = FamilySearch(["raw"], raw_only=(), seed=0)
    >>> ran = [TrialResult(params={}, value=-1.0, n_rounds=10, seconds=1.0, status="ok"),
    ...        TrialResult(params={"model": "catboost", "learning_rate": 0.1, "depth": 6,
    ...                            "l2_leaf_reg": 3.0, "iterations": 1000}, value=-0.5,
    ...                    n_rounds=90, seconds=3.0, status="ok", family="catboost")]
    >>> [search.due(ran) for _ in range(4)]
    [None, 'catboost', None, 'catboost']
    >>> experiment, trial, params = search.ask("catboost")
    >>> params["model"], params["iterations"], 4 <= params["depth"] <= 10
    ('catboost', 1000, True)
    >>> experiment.tell(trial, -0.45)
    >>> search.close()
    """

    def __init__(self, views, *, raw_only=(), seed=0, storage=None):
        self.views = list(views)
        self.raw_only = tuple(raw_only)
        self.seed = seed
        self.storage = storage
        self._experiments = {}
        self._replayed = {}  # family -> how many known trials were replayed into its tuner
        self._slot = 0
        self._exhausted = set()

    def due(self, trials) -> str | None:
        """The family whose trial is due now, or None for LightGBM's. Counts one slot per call.

        The family is the best by its best usable trial among those of
        :data:`~featsmith.pipelines._portfolio.FAMILY_SPACES` that have validated; it gets one
        slot in :data:`FAMILY_PERIOD`, or in :data:`FAMILY_PERIOD_WHEN_BEST` when it is ahead
        of LightGBM."""
        self._slot += 1
        best = {}
        for tr in trials:
            if usable(tr):
                best[tr.family] = max(best.get(tr.family, -np.inf), tr.value)
        others = {f: v for f, v in best.items() if f in FAMILY_SPACES and f not in self._exhausted}
        if not others:
            return None
        family = max(others, key=lambda f: others[f])
        period = FAMILY_PERIOD_WHEN_BEST if others[family] > best.get("lightgbm", -np.inf) else FAMILY_PERIOD
        if self._slot % period:
            return None
        self._start(family, trials)
        return family

    def _space(self, family):
        space = dict(FAMILY_SPACES[family])
        views = self.views if family not in self.raw_only else []
        if len(views) > 1:
            space["view"] = {"_type": "choice", "_value": views}
        return space

    def _start(self, family, trials):
        from featsmith.tuners import Experiment

        if family in self._experiments:
            return
        space = self._space(family)
        experiment = Experiment(None, space, tuner="anneal", mode="max", tuner_options={"n_startup_trials": 1},
                                random_state=self.seed + 1 + sorted(FAMILY_SPACES).index(family),
                                storage=self.storage, name=f"{family}-{self.seed}")
        # The family's validated trials teach its tuner without running again.
        replayed = 0
        for tr in trials:
            if tr.family != family or not usable(tr):
                continue
            params = {k: v for k, v in tr.params.items() if k in space}
            if "view" in space:
                if tr.view not in space["view"]["_value"]:
                    continue
                params["view"] = tr.view
            if set(params) != set(space):
                continue
            experiment.enqueue(params)
            experiment.tell(experiment.ask(), float(tr.value))
            replayed += 1
        self._experiments[family] = experiment
        self._replayed[family] = replayed

    def ask(self, family):
        """The next trial of ``family``'s own experiment, as ``(experiment, trial, params)``:
        tell the outcome to ``experiment`` as for any trial; ``params`` is the configuration to
        run (with ``"model"``, the keys its space leaves out at their known-good values, and
        ``"view"`` when the space has one). None when its space is exhausted."""
        from featsmith.tuners import SpaceExhausted

        experiment = self._experiments[family]
        try:
            trial = experiment.ask()
        except SpaceExhausted:
            self._exhausted.add(family)
            return None
        return experiment, trial, {**family_config(family), **trial.params}

    def history(self):
        """The families' own trials (the replayed ones left out), one frame, their family in
        ``params.model``; None when none ran."""
        import pandas as pd

        frames = []
        for family, experiment in self._experiments.items():
            frame = experiment.trials_dataframe().iloc[self._replayed[family]:]
            if len(frame):
                frames.append(frame.assign(**{"params.model": family}))
        return pd.concat(frames, ignore_index=True) if frames else None

    def close(self) -> None:
        for experiment in self._experiments.values():
            experiment.close()
