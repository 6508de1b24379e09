"""Early stopping of running trials from their intermediate results."""

from __future__ import annotations

import numpy as np


__all__ = ["MedianStopAssessor", "TrialPruned"]


class TrialPruned(Exception):
    """Raised inside the objective by ``reporter.report`` when the assessor stops the trial.

    The objective may let it propagate (the usual case) or catch it to clean up and re-raise;
    the experiment records the trial as ``pruned`` with its last reported value.
    """


class MedianStopAssessor:
    """Median stopping rule (Golovin et al. 2017; NNI's ``Medianstop``).

    A running trial is stopped at its ``t``-th report if its best value so far is worse than the
    median, over completed trials that reported at least ``t`` times, of their running averages
    of the first ``t`` reports. Reports are compared by position (first, second, ...), so an
    objective should report at the same steps in every trial.

    Parameters
    ----------
    start_step : int, default=3
        Never stop a trial before this many reports.
    min_completed : int, default=3
        Never stop anything before this many trials completed.
    mode : {"min", "max"} or None, default=None
        None takes the experiment's mode.

    Examples
    --------
    >>> a = MedianStopAssessor(start_step=1, min_completed=2, mode="min")
    >>> a.trial_completed([1.0, 0.5, 0.2]); a.trial_completed([1.2, 0.6, 0.3])
    >>> a.should_stop([3.0, 2.9])
    True
    >>> a.should_stop([0.9, 0.4])
    False
    """

    def __init__(self, start_step: int = 3, min_completed: int = 3, mode: str | None = None):
        for name, value, low in (("start_step", start_step, 0), ("min_completed", min_completed, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        self.start_step = int(start_step)
        self.min_completed = int(min_completed)
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min', 'max' or None, got {mode!r}.")
        self.mode = mode
        # _averages[t]: each completed trial's mean over its first t + 1 reports
        self._averages: list[list[float]] = []

    def trial_completed(self, values) -> None:
        """Record the intermediate values of a trial that ran to completion."""
        values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
        if not len(values):
            return
        running = np.cumsum(values) / np.arange(1, len(values) + 1)
        for t, avg in enumerate(running):
            if t == len(self._averages):
                self._averages.append([])
            self._averages[t].append(float(avg))

    @property
    def n_completed(self) -> int:
        return len(self._averages[0]) if self._averages else 0

    def should_stop(self, values) -> bool:
        """Whether a running trial with intermediate ``values`` (in report order) should stop."""
        t = len(values)
        if t < max(self.start_step, 1) or self.n_completed < self.min_completed:
            return False
        if t > len(self._averages):
            return False  # no completed trial reported this far: nothing to compare with
        sign = -1.0 if self.mode == "max" else 1.0
        finite = [sign * float(v) for v in values if v is not None and np.isfinite(v)]
        if not finite:
            return True  # only NaN/inf so far: nothing worth continuing
        best = min(finite)
        return best > float(np.median(sign * np.asarray(self._averages[t - 1])))
