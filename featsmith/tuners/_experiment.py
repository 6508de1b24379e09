"""The experiment loop: budgets, workers, failures, the SQLite store and resuming."""

from __future__ import annotations

import copy
import logging
import math
import signal
import threading
import time
from collections import deque

import numpy as np
import pandas as pd

from featsmith.tuners._assessor import MedianStopAssessor
from featsmith.tuners._base import SpaceExhausted, Trial, Tuner, _check_mode
from featsmith.tuners._evolution import AnnealTuner, EvolutionTuner
from featsmith.tuners._hyperband import BOHBTuner, HyperbandTuner
from featsmith.tuners._random import GridTuner, RandomTuner
from featsmith.tuners._space import as_space
from featsmith.tuners._storage import TrialStore
from featsmith.tuners._tpe import TPETuner
from featsmith.tuners._worker import run_trial, wants_reporter

__all__ = ["Experiment"]

logger = logging.getLogger("featsmith")

TUNERS = {
    "random": RandomTuner, "grid": GridTuner, "anneal": AnnealTuner, "evolution": EvolutionTuner,
    "tpe": TPETuner, "hyperband": HyperbandTuner, "bohb": BOHBTuner,
}
_FINISHED = ("complete", "pruned", "failed")


class _TrialTimeout(BaseException):
    """Raised by the alarm in an in-process trial (BaseException: ``except Exception`` in the
    objective must not swallow it)."""


class Experiment:
    """Run an objective under a tuner, a trial count and/or a wall-clock budget.

    Every trial is recorded in a SQLite store (params, budget, value, intermediate values,
    status, start/end times, error text); a trial that raises, returns None/NaN/inf, exceeds
    ``trial_timeout`` or kills its worker is recorded as ``failed`` and the experiment goes on.

    With ``n_jobs=1`` and no ``client`` the objective runs in the calling process: closures over
    large arrays cost nothing and nothing is pickled. ``trial_timeout`` (and the end of
    ``time_budget``) is then enforced on a best-effort basis with ``SIGALRM``: only on Unix, in
    the main thread, and it takes effect when control returns to Python (e.g. between LightGBM
    boosting rounds, not inside one long C call). With ``n_jobs > 1`` trials run in worker
    processes (``mp_context``, ``spawn`` by default; the objective is sent with cloudpickle, so
    closures work, but their captured data is copied to each worker once); a timed-out trial's
    worker is killed and replaced. With ``client`` (a ``distributed.Client``) trials are Dask
    tasks; a timed-out task is cancelled and recorded as failed (a thread already running it
    finishes in the background).

    Parameters
    ----------
    objective : callable
        ``objective(params)`` or ``objective(params, reporter)`` returning a number (or NNI's
        ``{"default": number, ...}``). ``reporter.report(step, value)`` records intermediate
        values (the assessor may then raise :class:`TrialPruned` to stop the trial) and
        ``reporter.budget`` is the multi-fidelity resource; a one-argument objective gets the
        budget as ``params["TRIAL_BUDGET"]`` (NNI's convention).
    space : dict or SearchSpace
    tuner : str or Tuner, default="tpe"
        ``"tpe"``, ``"random"``, ``"grid"``, ``"anneal"``, ``"evolution"``, ``"hyperband"``,
        ``"bohb"``, or a tuner instance (its ``mode`` must match).
    mode : {"min", "max"}, default="min"
    max_trials : int, optional
        Stop after this many finished trials (counting those of a resumed run).
    time_budget : float, optional
        Seconds for this call of :meth:`run`. No trial starts after it; running trials are
        stopped at their ``trial_timeout``, or at the budget's end when there is none.
    n_jobs : int, default=1
        Parallel trials.
    trial_timeout : float, optional
        Seconds per trial.
    storage : str or path, optional
        SQLite file; None keeps the store in memory.
    name : str, optional
        Experiment name within the store (default ``"default"``).
    resume : bool, default=False
        Continue the stored experiment of this name: finished trials are replayed into the
        tuner, trials left running by a killed process are marked ``interrupted``. The space and
        mode must be the same. Without ``resume`` an existing name is an error.
    random_state : int, numpy.random.Generator or None
        Seeds the tuner (when given by name). Same seed with ``n_jobs=1`` gives the same trials.
    client : distributed.Client, optional
    assessor : MedianStopAssessor, optional
        Early stopping from intermediate values.
    initial_configs : list of dict, optional
        Configurations evaluated first, in order (see :meth:`enqueue`; partial dicts allowed).
    tuner_options : dict, optional
        Keyword arguments for a tuner given by name (e.g. ``{"max_budget": 27}``).
    mp_context : str, default="spawn"

    Attributes
    ----------
    trials_ : list of Trial
        Every trial of the experiment, including those of earlier runs.
    tuner_ : Tuner

    Examples
    --------
    >>> exp = Experiment(lambda p: (p["x"] - 2) ** 2, {"x": {"_type": "uniform", "_value": [-5, 5]}},
    ...                  max_trials=30, random_state=0)
    >>> df = exp.run()
    >>> len(df), abs(exp.best_params["x"] - 2) < 1
    (30, True)
    """

    def __init__(self, objective, space, tuner="tpe", mode="min", max_trials=None, time_budget=None,
                 n_jobs=1, trial_timeout=None, storage=None, name=None, resume=False,
                 random_state=None, client=None, assessor=None, initial_configs=None,
                 tuner_options=None, mp_context="spawn"):
        self.objective = objective
        self.space = space
        self.tuner = tuner
        self.mode = mode
        self.max_trials = max_trials
        self.time_budget = time_budget
        self.n_jobs = n_jobs
        self.trial_timeout = trial_timeout
        self.storage = storage
        self.name = name
        self.resume = resume
        self.random_state = random_state
        self.client = client
        self.assessor = assessor
        self.initial_configs = initial_configs
        self.tuner_options = tuner_options
        self.mp_context = mp_context
        self._enqueued: list[dict] = list(initial_configs or [])
        self._setup_done = False
        self.trials_: list[Trial] = []

    # ---- public --------------------------------------------------------------------------
    def enqueue(self, params: dict) -> None:
        """Evaluate ``params`` before the tuner's own proposals (e.g. a known-good default).

        ``params`` may be partial or lie outside the space (``{}`` for a library's defaults):
        the objective then receives exactly this dict, the trial is stored as usual, and only
        configurations inside the space are learnt from by the tuner.
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict, got {type(params).__name__}.")
        if self._setup_done:
            self._queue.append(dict(params))
        else:
            self._enqueued.append(dict(params))

    def run(self) -> pd.DataFrame:
        """Run trials until ``max_trials``, ``time_budget`` or an exhausted grid; return
        :meth:`trials_dataframe`."""
        self._validate()
        self._setup()
        start = time.monotonic()
        deadline = start + self.time_budget if self.time_budget is not None else math.inf
        if self.client is None and self.n_jobs == 1:
            self._run_inline(deadline)
        else:
            self._run_pool(deadline)
        return self.trials_dataframe()

    @property
    def best_trial(self) -> Trial | None:
        """The best complete trial (at the largest budget any complete trial used)."""
        done = [t for t in self.trials_ if t.status == "complete" and t.value is not None]
        if not done:
            return None
        budgets = [t.budget for t in done if t.budget is not None]
        if budgets:
            top = max(budgets)
            done = [t for t in done if t.budget == top] or done
        sign = 1.0 if self.mode == "min" else -1.0
        return min(done, key=lambda t: sign * t.value)

    @property
    def best_params(self) -> dict | None:
        best = self.best_trial
        return None if best is None else best.params

    @property
    def best_value(self) -> float | None:
        best = self.best_trial
        return None if best is None else best.value

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial: id, status, value, budget, times, error, and one column per
        parameter (``params.<flat name>``; a nested choice gives its option's ``_name``)."""
        rows = []
        for t in self.trials_:
            row = {"trial_id": t.id, "status": t.status, "value": t.value, "budget": t.budget,
                   "start": t.start, "end": t.end,
                   "duration": (t.end - t.start) if t.start is not None and t.end is not None else None,
                   "n_intermediate": len(t.intermediate), "error": t.error, "params": t.params}
            for key, value in _flatten(t.params).items():
                row[f"params.{key}"] = value
            rows.append(row)
        cols = ["trial_id", "status", "value", "budget", "start", "end", "duration",
                "n_intermediate", "error", "params"]
        return pd.DataFrame(rows, columns=None if rows else cols)

    # ---- setup ---------------------------------------------------------------------------
    def _validate(self) -> None:
        _check_mode(self.mode)
        if not callable(self.objective):
            raise TypeError(f"objective must be callable, got {type(self.objective).__name__}.")
        for attr in ("max_trials", "n_jobs"):
            v = getattr(self, attr)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1):
                raise ValueError(f"{attr} must be a positive integer, got {v!r}.")
        if self.n_jobs is None:
            raise ValueError("n_jobs must be a positive integer, got None.")
        for attr in ("time_budget", "trial_timeout"):
            v = getattr(self, attr)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ValueError(f"{attr} must be a positive number of seconds, got {v!r}.")
        if self.max_trials is None and self.time_budget is None and not (
                self.tuner == "grid" or isinstance(self.tuner, GridTuner)):
            raise ValueError("set max_trials and/or time_budget, or the experiment never ends.")
        if self.assessor is not None and not hasattr(self.assessor, "should_stop"):
            raise TypeError("assessor must have should_stop(values) (e.g. MedianStopAssessor).")
        if self.resume and self.storage is None:
            raise ValueError("resume=True needs storage= (the SQLite file of the earlier run).")

    def _make_tuner(self, space, seed) -> Tuner:
        if isinstance(self.tuner, Tuner):
            if self.tuner.mode != self.mode:
                raise ValueError(
                    f"the tuner's mode ({self.tuner.mode!r}) differs from the experiment's "
                    f"({self.mode!r}); create the tuner with mode={self.mode!r}."
                )
            if self.tuner.space != space:
                raise ValueError("the tuner was built on a different search space than `space`.")
            return self.tuner
        if self.tuner not in TUNERS:
            raise ValueError(f"tuner must be a Tuner or one of {sorted(TUNERS)}, got {self.tuner!r}.")
        return TUNERS[self.tuner](space, mode=self.mode, random_state=seed, **(self.tuner_options or {}))

    def _setup(self) -> None:
        if self._setup_done:
            return
        space = as_space(self.space)
        self.space_ = space
        self.name_ = "default" if self.name is None else str(self.name)
        self.store_ = TrialStore(self.storage)
        stored = self.store_.get_experiment(self.name_)
        previous: list[dict] = []
        if stored is not None:
            if not self.resume:
                raise ValueError(
                    f"experiment {self.name_!r} already exists in {self.store_.path!r}; pass "
                    "resume=True to continue it, or choose another name or storage file."
                )
            if stored["space"] != space.to_json():
                raise ValueError(
                    f"cannot resume experiment {self.name_!r}: its stored search space differs "
                    "from `space`. Resume with the original space, or start a new experiment "
                    "(another name or storage file) for the changed one."
                )
            if stored["mode"] != self.mode:
                raise ValueError(
                    f"cannot resume experiment {self.name_!r}: it was run with mode="
                    f"{stored['mode']!r}, not {self.mode!r}."
                )
            n_lost = self.store_.mark_interrupted(self.name_)
            if n_lost:
                logger.warning("experiment %r: %d trial(s) were running when it stopped; recorded "
                               "as interrupted.", self.name_, n_lost)
            previous = self.store_.load_trials(self.name_)
        else:
            tuner_name = self.tuner if isinstance(self.tuner, str) else type(self.tuner).__name__
            self.store_.create_experiment(self.name_, space.to_json(), self.mode, tuner_name)
        seed = self.random_state
        if previous and seed is not None and not isinstance(seed, np.random.Generator):
            # a resumed run must not replay the first run's random draws
            seed = np.random.default_rng([int(seed), len(previous)])
        self.tuner_ = self._make_tuner(space, seed)
        if self.assessor is not None:
            self.assessor_ = copy.deepcopy(self.assessor)
            if getattr(self.assessor_, "mode", None) is None:
                self.assessor_.mode = self.mode
            elif self.assessor_.mode != self.mode:
                raise ValueError(f"assessor mode {self.assessor_.mode!r} differs from mode={self.mode!r}.")
        else:
            self.assessor_ = None
        for rec in previous:
            trial = Trial(id=rec["trial_id"], params=rec["params"], budget=rec["budget"],
                          value=rec["value"], status=rec["status"], intermediate=rec["intermediate"],
                          error=rec["error"], start=rec["start_time"], end=rec["end_time"])
            self.trials_.append(trial)
            if trial.status in _FINISHED:
                self._tell_tuner(Trial(id=trial.id, params=trial.params, budget=trial.budget),
                                 trial.value if trial.status != "failed" else None)
                if trial.status == "complete" and self.assessor_ is not None:
                    self.assessor_.trial_completed([v for _, v in trial.intermediate])
            else:
                self.tuner_._next_id = max(self.tuner_._next_id, trial.id + 1)
        seen = [t.params for t in self.trials_]
        # a resumed run does not redo its initial configs
        self._queue = deque(p for p in self._enqueued if p not in seen)
        self._setup_done = True

    def _tell_tuner(self, trial: Trial, value) -> None:
        if trial.id not in self.tuner_._pending:
            try:
                self.space_.encode(trial.params)
            except (ValueError, TypeError):
                # a hand-made config outside the space (see enqueue): recorded, not modelled
                self.tuner_._next_id = max(self.tuner_._next_id, trial.id + 1)
                return
        self.tuner_.tell(trial, value)

    # ---- the loop ------------------------------------------------------------------------
    def _n_finished(self) -> int:
        return sum(t.status in _FINISHED for t in self.trials_)

    def _can_launch(self, n_running: int, deadline: float) -> bool:
        if time.monotonic() >= deadline:
            return False
        return self.max_trials is None or self._n_finished() + n_running < self.max_trials

    def _ask(self) -> Trial | None:
        try:
            if self._queue:
                params = self._queue.popleft()
                try:
                    self.tuner_.enqueue(params)
                    trial = self.tuner_.ask()
                except (ValueError, TypeError):
                    budget = self.tuner_.max_budget if self.tuner_.multi_fidelity else None
                    trial = Trial(id=self.tuner_._next_id, params=params, budget=budget,
                                  info={"outside_space": True})
                    self.tuner_._next_id += 1
            else:
                trial = self.tuner_.ask()
        except SpaceExhausted:
            return None
        trial.start = time.time()
        trial.status = "running"
        self.trials_.append(trial)
        self.store_.start_trial(self.name_, trial)
        return trial

    def _finish(self, trial: Trial, outcome: dict) -> None:
        trial.status = outcome["status"]
        trial.value = outcome["value"]
        trial.error = outcome["error"]
        trial.intermediate = list(outcome["intermediate"])
        trial.start = outcome.get("start", trial.start)
        trial.end = outcome["end"]
        self.store_.finish_trial(self.name_, trial)
        if not trial.info.get("outside_space"):
            self._tell_tuner(trial, trial.value if trial.status != "failed" else None)
        if trial.status == "complete" and self.assessor_ is not None:
            self.assessor_.trial_completed([v for _, v in trial.intermediate])
        if trial.status == "failed":
            logger.warning("trial %d failed: %s", trial.id, (trial.error or "").splitlines()[0])
        else:
            logger.debug("trial %d %s: %s", trial.id, trial.status, trial.value)

    def _run_inline(self, deadline: float) -> None:
        with_reporter = wants_reporter(self.objective)
        alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
        while self._can_launch(0, deadline):
            trial = self._ask()
            if trial is None:
                break
            limit = min(self.trial_timeout or math.inf, deadline - time.monotonic())
            if alarm and math.isfinite(limit):
                outcome = self._run_with_alarm(with_reporter, trial, max(limit, 1e-3))
            else:
                outcome = run_trial(self.objective, with_reporter, trial.id, trial.params,
                                    trial.budget, self.assessor_)
            self._finish(trial, outcome)

    def _run_with_alarm(self, with_reporter: bool, trial: Trial, limit: float) -> dict:
        def on_alarm(signum, frame):
            raise _TrialTimeout

        previous = signal.signal(signal.SIGALRM, on_alarm)
        started = time.time()
        try:
            signal.setitimer(signal.ITIMER_REAL, limit)
            try:
                return run_trial(self.objective, with_reporter, trial.id, trial.params,
                                 trial.budget, self.assessor_)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _TrialTimeout:
            return {"status": "failed", "value": None, "intermediate": [], "start": started,
                    "end": time.time(), "error": f"timed out after {limit:.3g}s (in-process alarm)"}
        finally:
            signal.signal(signal.SIGALRM, previous)

    def _run_pool(self, deadline: float) -> None:
        from featsmith.tuners._executors import DaskExecutor, ProcessExecutor

        if self.client is not None:
            executor = DaskExecutor(self.objective, self.client, self.n_jobs)
        else:
            executor = ProcessExecutor(self.objective, self.n_jobs, self.mp_context)
        running: dict[int, tuple[Trial, float]] = {}
        exhausted = False
        try:
            while True:
                while not exhausted and len(running) < executor.capacity and self._can_launch(
                        len(running), deadline):
                    trial = self._ask()
                    if trial is None:
                        exhausted = True
                        break
                    executor.submit(trial, self.assessor_)
                    running[trial.id] = (trial, time.monotonic())
                if not running:
                    break
                now = time.monotonic()
                ends = [t0 + self.trial_timeout for _, t0 in running.values()] if self.trial_timeout else []
                if self.trial_timeout is None and math.isfinite(deadline):
                    ends.append(deadline)
                elif math.isfinite(deadline) and now < deadline:
                    ends.append(deadline)  # wake to stop launching
                timeout = max(0.0, min(ends) - now) if ends else None
                for tid, outcome in executor.wait(timeout):
                    trial, _ = running.pop(tid)
                    self._finish(trial, outcome)
                now = time.monotonic()
                for tid, (trial, t0) in list(running.items()):
                    if self.trial_timeout is not None and now - t0 >= self.trial_timeout:
                        reason = f"timed out after {self.trial_timeout:g}s; its worker was stopped"
                    elif self.trial_timeout is None and now >= deadline:
                        reason = "stopped at the end of the time budget"
                    else:
                        continue
                    executor.cancel(tid)
                    running.pop(tid)
                    self._finish(trial, {"status": "failed", "value": None, "error": reason,
                                         "intermediate": [], "end": time.time()})
        finally:
            executor.shutdown()
            for trial, _ in running.values():
                trial.status = "interrupted"


def _flatten(params: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, dict) and "_name" in value:
            out[prefix + key] = value["_name"]
            out.update(_flatten({k: v for k, v in value.items() if k != "_name"},
                                f"{prefix}{key}/{value['_name']}/"))
        else:
            out[prefix + key] = value
    return out
