"""Multi-fidelity tuners: Hyperband (Li et al. 2018) and BOHB (Falkner et al. 2018).

The budget is whatever the objective makes of ``trial.budget`` (boosting rounds, epochs, a row
fraction). Brackets run asynchronously: when every trial of the current rung of every open
bracket has been handed out, a new bracket opens instead of waiting, so parallel workers stay busy.
"""

from __future__ import annotations

import math

import numpy as np

from featsmith.tuners._base import Tuner, _History
from featsmith.tuners._tpe import sample_tpe

__all__ = ["HyperbandTuner", "BOHBTuner"]


class _Bracket:
    """One successive-halving bracket: rung sizes, budgets, results and promotions."""

    def __init__(self, bracket_id: int, sizes: list[int], budgets: list[float]):
        self.id = bracket_id
        self.sizes = sizes
        self.budgets = budgets
        self.issued = [0] * len(sizes)
        self.results: list[list] = [[] for _ in sizes]
        self.promoted: list[list] = [[] for _ in sizes]  # vectors waiting to run at rung i

    def next_job(self):
        """``(rung, vector or None)`` for the next trial, or None while waiting for results."""
        for i, size in enumerate(self.sizes):
            if self.issued[i] < size:
                if i == 0:
                    self.issued[0] += 1
                    return 0, None
                if self.promoted[i]:
                    self.issued[i] += 1
                    return i, self.promoted[i].pop(0)
                return None
            if len(self.results[i]) < size:
                return None  # rung i still running: nothing can be promoted yet
        return None

    def record(self, rung: int, vector: np.ndarray, loss: float) -> None:
        self.results[rung].append((loss, vector))
        if len(self.results[rung]) == self.sizes[rung] and rung + 1 < len(self.sizes):
            ranked = sorted(self.results[rung], key=lambda r: r[0])
            self.promoted[rung + 1] = [v for _, v in ranked[: self.sizes[rung + 1]]]

    @property
    def done(self) -> bool:
        return len(self.results[-1]) >= self.sizes[-1]


class HyperbandTuner(Tuner):
    """Hyperband: successive halving over brackets that trade breadth for budget.

    With ``s_max = floor(log_eta(max_budget / min_budget))``, bracket ``s`` starts
    ``ceil((s_max + 1) / (s + 1) * eta**s)`` random configurations at budget
    ``max_budget * eta**-s`` and keeps the best ``1 / eta`` of each rung for ``eta`` times the
    budget. Brackets cycle from the most aggressive (``s = s_max``) to plain full-budget search.
    Trials carry their budget in ``trial.budget``; a trial told as failed is never promoted.

    Parameters
    ----------
    space : dict or SearchSpace
    mode : {"min", "max"}, default="min"
    random_state : int, numpy.random.Generator or None
    max_budget : float, default=81
    min_budget : float, default=1
    eta : float, default=3
        Halving rate (keep ``1/eta``, multiply the budget by ``eta``).

    Budgets are rounded to integers when ``max_budget`` and ``min_budget`` are both integers.

    Examples
    --------
    >>> tuner = HyperbandTuner({"x": {"_type": "uniform", "_value": [0, 1]}},
    ...                        max_budget=9, min_budget=1, random_state=0)
    >>> trial = tuner.ask()
    >>> trial.budget
    1
    >>> tuner.tell(trial, trial.params["x"] / trial.budget)
    """

    multi_fidelity = True

    def __init__(self, space, mode="min", random_state=None, *, max_budget=81, min_budget=1, eta=3):
        super().__init__(space, mode=mode, random_state=random_state)
        for name, v in (("max_budget", max_budget), ("min_budget", min_budget), ("eta", eta)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"{name} must be a finite number, got {v!r}.")
        if not 0 < min_budget < max_budget:
            raise ValueError(
                f"need 0 < min_budget < max_budget, got min_budget={min_budget}, max_budget={max_budget}."
            )
        if eta < 2:
            raise ValueError(f"eta must be >= 2, got {eta}.")
        self.max_budget, self.min_budget, self.eta = max_budget, min_budget, eta
        self._integer = all(isinstance(v, int) for v in (max_budget, min_budget))
        self.s_max = int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9))
        self._brackets: dict[int, _Bracket] = {}
        self._n_brackets = 0

    def _budget(self, b: float):
        b = min(max(b, self.min_budget), self.max_budget)
        return int(round(b)) if self._integer else float(b)

    def _open_bracket(self) -> _Bracket:
        s = self.s_max - (self._n_brackets % (self.s_max + 1))
        n = int(math.ceil((self.s_max + 1) / (s + 1) * self.eta**s))
        sizes = [max(int(n * self.eta ** (-i)), 1) for i in range(s + 1)]
        budgets = [self._budget(self.max_budget * self.eta ** (i - s)) for i in range(s + 1)]
        bracket = _Bracket(self._n_brackets, sizes, budgets)
        self._brackets[bracket.id] = bracket
        self._n_brackets += 1
        return bracket

    def enqueue(self, params, budget=None):
        """Evaluate ``params`` next, at ``budget`` (default ``max_budget``)."""
        super().enqueue(params, self._budget(self.max_budget if budget is None else budget))

    def _propose(self):
        for bracket in list(self._brackets.values()):
            job = bracket.next_job()
            if job is not None:
                break
        else:
            bracket = self._open_bracket()
            job = bracket.next_job()
        rung, vector = job
        budget = bracket.budgets[rung]
        if vector is None:
            vector = self._sample(budget)
        return vector, budget, {"bracket": bracket.id, "rung": rung}

    def _sample(self, budget) -> np.ndarray:
        return self.space.sample_vectors(1, self._rng)[0]

    def _observe(self, trial, vector, loss):
        self._record(trial, vector, loss)

    def _release(self, trial):
        # The slot counts as used, last in its rung: handing it out again would offer a skipped
        # promoted configuration straight back, and leaving it open would stall the bracket.
        self._record(trial, trial.vector, math.inf)

    def _record(self, trial, vector, loss):
        bracket = self._brackets.get(trial.info.get("bracket", -1))
        if bracket is not None:
            bracket.record(trial.info["rung"], vector, loss)
            if bracket.done:
                del self._brackets[bracket.id]


class BOHBTuner(HyperbandTuner):
    """BOHB: Hyperband whose new configurations come from a TPE model, not the prior.

    Observations are kept per budget; a new configuration is drawn at random with probability
    ``random_fraction`` and otherwise from a multivariate TPE fitted on the largest budget that
    has at least ``min_points_in_model`` finished trials (the best ``top_n_percent`` form the good
    density), as in Falkner et al.

    Parameters
    ----------
    space, mode, random_state, max_budget, min_budget, eta
        As :class:`HyperbandTuner`.
    min_points_in_model : int, optional
        Default: number of parameters + 1.
    top_n_percent : float, default=15
    random_fraction : float, default=1/3
    n_candidates : int, default=64

    Examples
    --------
    >>> tuner = BOHBTuner({"x": {"_type": "uniform", "_value": [0, 1]}}, max_budget=9, random_state=0)
    >>> for _ in range(30):
    ...     trial = tuner.ask()
    ...     tuner.tell(trial, (trial.params["x"] - 0.2) ** 2 + 1 / trial.budget)
    >>> sorted(tuner.observations_)
    [1, 3, 9]
    """

    def __init__(self, space, mode="min", random_state=None, *, max_budget=81, min_budget=1, eta=3,
                 min_points_in_model=None, top_n_percent=15, random_fraction=1 / 3, n_candidates=64):
        super().__init__(space, mode=mode, random_state=random_state, max_budget=max_budget,
                         min_budget=min_budget, eta=eta)
        if min_points_in_model is None:
            min_points_in_model = self.space.n_params + 1
        if not isinstance(min_points_in_model, int) or min_points_in_model < 1:
            raise ValueError(f"min_points_in_model must be a positive int, got {min_points_in_model!r}.")
        if not 0 < top_n_percent < 100:
            raise ValueError(f"top_n_percent must be in (0, 100), got {top_n_percent!r}.")
        if not 0 <= random_fraction <= 1:
            raise ValueError(f"random_fraction must be in [0, 1], got {random_fraction!r}.")
        self.min_points_in_model = min_points_in_model
        self.top_n_percent = top_n_percent
        self.random_fraction = random_fraction
        self.n_candidates = n_candidates
        self.observations_: dict = {}

    def _sample(self, budget):
        ready = [b for b, h in self.observations_.items() if h.n >= self.min_points_in_model]
        if not ready or self._rng.random() < self.random_fraction:
            return super()._sample(budget)
        h = self.observations_[max(ready)]
        frac = self.top_n_percent / 100.0
        return sample_tpe(self.space, h.X, h.y, self._rng, n_candidates=self.n_candidates,
                          gamma=lambda n: max(1, int(math.ceil(frac * n))), multivariate=True)

    def _observe(self, trial, vector, loss):
        budget = trial.budget if trial.budget is not None else self._budget(self.max_budget)
        self.observations_.setdefault(budget, _History(self.space.n_params)).add(vector, loss)
        super()._observe(trial, vector, loss)
