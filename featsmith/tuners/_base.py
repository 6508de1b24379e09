"""The ask/tell tuner interface shared by every tuner, and the trial record."""

from __future__ import annotations

import abc
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from featsmith.tuners._space import SearchSpace, as_space

__all__ = ["Trial", "Tuner", "SpaceExhausted"]


class SpaceExhausted(Exception):
    """Raised by :meth:`Tuner.ask` when a finite tuner (a grid) has nothing left to propose."""


@dataclass
class Trial:
    """One evaluation of the objective.

    Attributes
    ----------
    id : int
        Unique within a tuner / experiment, increasing in ask order.
    params : dict
        The configuration, NNI layout (a nested choice gives ``{"_name": ..., ...}``).
    budget : float or None
        The resource to spend (boosting rounds, epochs, ...) for multi-fidelity tuners, else None.
    value, status, intermediate, error, message, start, end
        Filled in by :class:`~featsmith.tuners.Experiment`. ``status`` is one of ``pending``,
        ``running``, ``complete``, ``pruned``, ``skipped`` (planned away, never ran),
        ``failed`` and ``interrupted``. ``message`` is the text told with the trial (the
        failure, or why it was skipped or pruned); ``error`` repeats it for ``failed`` and
        ``interrupted`` trials only. ``intermediate`` is a list of ``(step, value)``.

    Examples
    --------
    >>> Trial(id=0, params={"x": 1.0}).budget is None
    True
    """

    id: int
    params: dict
    budget: float | None = None
    value: float | None = None
    status: str = "pending"
    intermediate: list = field(default_factory=list)
    error: str | None = None
    start: float | None = None
    end: float | None = None
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    info: dict = field(default_factory=dict, repr=False, compare=False)
    message: str | None = None


def _check_mode(mode) -> str:
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min' or 'max', got {mode!r}.")
    return mode


def _check_int(value, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


class _History:
    """Observed configurations and losses in growable arrays (amortised O(1) append)."""

    def __init__(self, n_params: int, capacity: int = 64):
        self._X = np.empty((capacity, n_params))
        self._y = np.empty(capacity)
        self.n = 0

    def add(self, vector: np.ndarray, loss: float) -> None:
        if self.n == len(self._y):
            self._X = np.concatenate([self._X, np.empty_like(self._X)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._X[self.n] = vector
        self._y[self.n] = loss
        self.n += 1

    @property
    def X(self) -> np.ndarray:
        return self._X[: self.n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self.n]


class Tuner(abc.ABC):
    """Base class of the ask/tell tuners.

    A subclass implements :meth:`_propose` (the next configuration vector, and a budget for
    multi-fidelity tuners) and :meth:`_observe` (learn from a finished trial), and may override
    :meth:`_release` (a trial that will never run). The base class owns trial ids, the ``mode``
    sign, enqueued configurations and the pending (asked, not yet told) trials, which
    model-based tuners use to spread parallel asks.

    Parameters
    ----------
    space : dict or SearchSpace
        NNI search space.
    mode : {"min", "max"}
        Whether lower or higher objective values are better.
    random_state : int, numpy.random.Generator or None
        Seed for every random choice the tuner makes.

    Examples
    --------
    A tuner that always proposes the centre of the unit cube:

    >>> import numpy as np
    >>> class Centre(Tuner):
    ...     def _propose(self):
    ...         return self.space.complete(np.full(self.space.n_params, 0.5), self._rng)[0], None, {}
    ...     def _observe(self, trial, vector, loss):
    ...         pass
    >>> Centre({"x": {"_type": "uniform", "_value": [0, 10]}}).ask().params
    {'x': 5.0}
    """

    #: whether ``ask`` returns trials with a budget (Hyperband, BOHB)
    multi_fidelity = False

    def __init__(self, space, mode: str = "min", random_state=None):
        self.space: SearchSpace = as_space(space)
        self.mode = _check_mode(mode)
        self.random_state = random_state
        self._rng = np.random.default_rng(random_state)
        self._next_id = 0
        self._pending: dict[int, Trial] = {}
        self._queue: deque = deque()
        self.n_told = 0

    # ---- public API ----------------------------------------------------------------------
    def ask(self) -> Trial:
        """Propose the next trial (``trial.params``, ``trial.id``, ``trial.budget``)."""
        if self._queue:
            vector, budget = self._queue.popleft()
            info: dict = {"enqueued": True}
        else:
            vector, budget, info = self._propose()
        trial = Trial(id=self._next_id, params=self.space.decode(vector), budget=budget,
                      vector=vector, info=info)
        self._next_id += 1
        self._pending[trial.id] = trial
        return trial

    def tell(self, trial: Trial, value) -> None:
        """Report the objective ``value`` of ``trial``.

        ``None``, NaN or an infinite value marks the trial failed; tuners treat a failed
        configuration as worse than any finished one. A trial this tuner did not hand out (an
        earlier run's, a hand-made one) is encoded from its params and learnt from as well.
        """
        loss = self._to_loss(value)
        own = self._pending.pop(trial.id, None)
        if own is not None:
            trial = own  # keeps the tuner's bookkeeping (vector, bracket) for this id
        else:
            trial.vector = self.space.encode(trial.params)
            self._next_id = max(self._next_id, trial.id + 1)
        self.n_told += 1
        self._observe(trial, trial.vector, loss)

    def forget(self, trial: Trial) -> None:
        """Drop an asked trial that will never run (it was skipped): learn nothing from it.

        Its configuration is not offered again by the tuner itself (enqueue it to retry it).
        """
        own = self._pending.pop(trial.id, None)
        if own is not None:
            self._release(own)

    def enqueue(self, params: dict, budget: float | None = None) -> None:
        """Evaluate ``params`` next, before the tuner's own proposals (e.g. known-good configs)."""
        self._queue.append((self.space.encode(params), budget))

    # ---- for subclasses ------------------------------------------------------------------
    def _to_loss(self, value) -> float:
        if value is None:
            return math.inf
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"value must be a number or None, got {value!r}.") from None
        if not math.isfinite(value):
            return math.inf
        return value if self.mode == "min" else -value

    def _pending_vectors(self) -> np.ndarray:
        vecs = [t.vector for t in self._pending.values() if t.vector is not None]
        return np.array(vecs) if vecs else np.empty((0, self.space.n_params))

    @abc.abstractmethod
    def _propose(self) -> tuple[np.ndarray, float | None, dict]:
        """Return ``(vector, budget, info)`` for the next trial."""

    @abc.abstractmethod
    def _observe(self, trial: Trial, vector: np.ndarray, loss: float) -> None:
        """Learn from a finished trial; ``loss`` is minimised and ``inf`` for a failure."""

    def _release(self, trial: Trial) -> None:
        """Hook: ``trial`` (handed out by :meth:`ask`) will never run; free what it holds."""
