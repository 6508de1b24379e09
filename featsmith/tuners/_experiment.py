"""The experiment: ask/tell stepping, the ``run`` loop built on it (budgets, workers, failure
isolation), the SQLite store and resuming."""

from __future__ import annotations

import contextlib
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
from featsmith.tuners._space import as_space, flatten_params
from featsmith.tuners._storage import StorageError, TrialStore
from featsmith.tuners._tpe import TPETuner
from featsmith.tuners._worker import run_trial, wants_reporter

__all__ = ["Experiment"]

logger = logging.getLogger("featsmith")

TUNERS = {
    "random": RandomTuner, "grid": GridTuner, "anneal": AnnealTuner, "evolution": EvolutionTuner,
    "tpe": TPETuner, "hyperband": HyperbandTuner, "bohb": BOHBTuner,
}
# The states ``tell`` accepts, and those that count toward ``max_trials``: a skipped trial never
# ran, so it neither spends the trial count nor teaches the tuner anything.
_STATES = ("complete", "pruned", "skipped", "failed")
_COUNTED = ("complete", "pruned", "failed")


class _TrialTimeout(BaseException):
    """Raised by the alarm in an in-process trial (BaseException: ``except Exception`` in the
    objective must not swallow it)."""


class Experiment:
    """Tune an objective over a search space: step it with ask/tell, or let :meth:`run` loop.

    Like Optuna's ``Study``: :meth:`ask` hands out the next trial (enqueued configurations
    first, then the tuner's proposals) and :meth:`tell` records its outcome, as ``complete``,
    ``failed``, ``pruned`` or ``skipped`` (planned away, never ran: not an error). :meth:`run`
    is the same loop under a trial count and/or a wall-clock budget, with parallel workers,
    failure isolation, ``callbacks`` and :meth:`stop`. Every trial is a row of a SQLite store
    (params, budget, value, intermediate values, status, start/end times, message), which is
    what makes a killed experiment resumable.

    In :meth:`run`, a trial that raises, returns None/NaN/inf, exceeds ``trial_timeout`` or
    kills its worker is recorded as ``failed`` and the experiment goes on. With ``n_jobs=1``
    and no ``client`` the objective runs in the calling process: closures over large arrays
    cost nothing and nothing is pickled. ``trial_timeout`` (and the end of ``time_budget``) is
    then enforced on a best-effort basis with ``SIGALRM``: only on Unix, in the main thread,
    and it takes effect when control returns to Python (e.g. between LightGBM boosting rounds,
    not inside one long C call). With ``n_jobs > 1`` trials run in worker processes
    (``mp_context``, ``spawn`` by default; the objective is sent with cloudpickle, so closures
    work, but their captured data is copied to each worker once); a timed-out trial's worker is
    killed and replaced. With ``client`` (a ``distributed.Client``) trials are Dask tasks; a
    timed-out task is cancelled and recorded as failed (a thread already running it finishes in
    the background).

    Parameters
    ----------
    objective : callable or None
        ``objective(params)`` or ``objective(params, reporter)`` returning a number (or NNI's
        ``{"default": number, ...}``), for :meth:`run`. ``reporter.report(step, value)`` records
        intermediate values (the assessor may then raise :class:`TrialPruned` to stop the
        trial) and ``reporter.budget`` is the multi-fidelity resource; a one-argument objective
        gets the budget as ``params["TRIAL_BUDGET"]`` (NNI's convention). None for an
        experiment driven only through :meth:`ask` and :meth:`tell`.
    space : dict or SearchSpace
    tuner : str or Tuner, default="tpe"
        ``"tpe"``, ``"random"``, ``"grid"``, ``"anneal"``, ``"evolution"``, ``"hyperband"``,
        ``"bohb"``, or a tuner instance (its ``mode`` must match).
    mode : {"min", "max"}, default="min"
    max_trials : int, optional
        :meth:`run` stops after this many complete, pruned or failed trials (counting those of
        a resumed run and those told by hand). Skipped trials do not count: they never ran.
    time_budget : float, optional
        Seconds for each call of :meth:`run`. No trial starts after it; running trials are
        stopped at their ``trial_timeout``, or at the budget's end when there is none.
    n_jobs : int, default=1
        Parallel trials in :meth:`run`.
    trial_timeout : float, optional
        Seconds per trial in :meth:`run`.
    storage : str or path, optional
        SQLite file; None keeps the store in memory.
    name : str, optional
        Experiment name within the store (default ``"default"``).
    resume : bool, default=False
        Continue the stored experiment of this name: complete, pruned and failed trials are
        replayed into the tuner (skipped ones are not), trials left running by a killed
        process are marked ``interrupted``. The space and mode must be the same. Without
        ``resume`` an existing name is an error.
    random_state : int, numpy.random.Generator or None
        Seeds the tuner (when given by name). Same seed with ``n_jobs=1`` gives the same trials,
        whether stepped by hand or by :meth:`run`.
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
        Every trial of the experiment, including those of earlier runs, in ask order.
    tuner_ : Tuner

    See Also
    --------
    TrialStore : reads a store: its experiments and their trials.

    Examples
    --------
    Let :meth:`run` loop:

    >>> space = {"x": {"_type": "uniform", "_value": [-5, 5]}}
    >>> exp = Experiment(lambda p: (p["x"] - 2) ** 2, space, max_trials=30, random_state=0)
    >>> df = exp.run()
    >>> len(df), abs(exp.best_params["x"] - 2) < 1
    (30, True)

    Or step it, deciding per trial whether to run it:

    >>> exp = Experiment(None, space, random_state=0)
    >>> for _ in range(20):
    ...     trial = exp.ask()
    ...     if trial.params["x"] > 4:
    ...         exp.tell(trial, state="skipped", message="x > 4 is not worth a run")
    ...     else:
    ...         exp.tell(trial, (trial.params["x"] - 2) ** 2)
    >>> df = exp.trials_dataframe()
    >>> len(df), set(df["status"]) <= {"complete", "skipped"}
    (20, True)
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
        self._in_run = False
        self._stop_requested = False
        self.trials_: list[Trial] = []

    # ---- stepping ------------------------------------------------------------------------
    def ask(self) -> Trial:
        """The next trial to evaluate, recorded in the store as ``running``.

        Enqueued configurations (``initial_configs``, :meth:`enqueue`) come first, then the
        tuner's proposals. ``max_trials`` and ``time_budget`` do not apply here (they bound
        :meth:`run`): the caller decides when to stop asking. Every asked trial is to be told
        once, with :meth:`tell`.

        Returns
        -------
        Trial
            ``trial.id``, ``trial.params`` and, for multi-fidelity tuners, ``trial.budget``.

        Raises
        ------
        SpaceExhausted
            The tuner has nothing left to propose (every point of a grid was asked).
        """
        self._check_open()
        if not self._setup_done:
            self._validate()
            self._setup()
        if self._queue:
            params = self._queue.popleft()
            try:
                self.tuner_.enqueue(params)
                trial = self.tuner_.ask()
            except (ValueError, TypeError):
                # outside the space (see enqueue): run as given, never modelled
                budget = self.tuner_.max_budget if self.tuner_.multi_fidelity else None
                trial = Trial(id=self.tuner_._next_id, params=params, budget=budget,
                              info={"outside_space": True})
                self.tuner_._next_id += 1
        else:
            trial = self.tuner_.ask()
        trial.start = time.time()
        trial.status = "running"
        self.store_.start_trial(self.name_, trial)
        self.trials_.append(trial)
        self._running[trial.id] = trial
        return trial

    def tell(self, trial, value=None, state="complete", message=None) -> None:
        """Record the outcome of a trial handed out by :meth:`ask`.

        Parameters
        ----------
        trial : Trial or int
            The trial from :meth:`ask`, or its id.
        value : float, optional
            The objective's value: required (finite) for ``complete``; for ``pruned`` the value
            the tuner learns from, by default the last finite value in ``trial.intermediate``
            (a list of ``(step, value)`` the caller may append to while the trial runs). Not
            given for ``failed`` and ``skipped``.
        state : {"complete", "failed", "pruned", "skipped"}, default="complete"
            ``failed``: the evaluation went wrong; logged as a warning, and the tuner learns
            the configuration as worse than any finished one. ``pruned``: stopped early as
            unpromising. ``skipped``: planned away and never run (e.g. it would not finish in
            the time left); not an error and never logged as one. The tuner forgets it (learns
            nothing, does not offer it again; :meth:`enqueue` it to retry), and it does not
            count toward ``max_trials``.
        message : str, optional
            Stored with the trial: the error of a failed trial, or the reason of a skipped or
            pruned one (``"would not finish in the 3.1 s left"``).

        Raises
        ------
        ValueError
            ``trial`` is not running in this experiment (unknown, or told already), ``state``
            is unknown, or ``value`` does not suit the state.
        """
        self._check_open()
        trial = self._running_trial(trial)
        if state not in _STATES:
            raise ValueError(f"state must be one of {list(_STATES)}, got {state!r}.")
        if message is not None and not isinstance(message, str):
            raise TypeError(f"message must be a str or None, got {type(message).__name__}.")
        if state == "complete":
            value = _finite(value, trial.id, "a complete trial needs a finite value")
        elif state == "pruned":
            if value is None:
                finite = [v for _, v in trial.intermediate if v is not None and math.isfinite(v)]
                value = finite[-1] if finite else None
            else:
                value = _finite(value, trial.id, "a pruned trial's value must be finite")
        elif value is not None:
            raise ValueError(
                f"trial {trial.id}: a {state} trial has no value (got {value!r}); tell it as "
                "state='complete' or 'pruned', or put the reason in message=."
            )
        if state == "failed" and message is None:
            message = "told as failed (no message given)"
        self._record(trial, state, value, message, end=time.time())

    def stop(self) -> None:
        """End the :meth:`run` in progress once the trials now running are told.

        Call it from a ``callbacks`` function, from another thread, or from the objective when
        it runs in this process (``n_jobs=1``, no ``client``). ``run`` then returns normally.

        Raises
        ------
        RuntimeError
            If no :meth:`run` is in progress (with ask/tell, simply stop asking).
        """
        if not self._in_run:
            raise RuntimeError("stop() ends a run() in progress (call it from a callback or the "
                               "objective); no run() is in progress. With ask()/tell(), stop asking.")
        self._stop_requested = True

    def enqueue(self, params: dict, first: bool = False) -> None:
        """Evaluate ``params`` before the tuner's own proposals (e.g. a known-good default).

        ``params`` may be partial or lie outside the space (``{}`` for a library's defaults):
        the objective then receives exactly this dict, the trial is stored as usual, and only
        configurations inside the space are learnt from by the tuner. With ``first``, it is
        evaluated before the configurations already queued (a retry that should not wait for
        them), else after them.
        """
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict, got {type(params).__name__}.")
        queue = self._queue if self._setup_done else self._enqueued
        if first:
            queue.insert(0, dict(params))
        else:
            queue.append(dict(params))

    # ---- the loop ------------------------------------------------------------------------
    def run(self, callbacks=None) -> pd.DataFrame:
        """Ask, evaluate and tell trials until ``max_trials``, ``time_budget``, :meth:`stop`
        or an exhausted space; return :meth:`trials_dataframe`.

        Parameters
        ----------
        callbacks : list of callable, optional
            Each is called as ``callback(experiment, trial)`` after every trial this run tells
            (complete, pruned or failed), in the calling process; it may call :meth:`stop`.
            With callbacks, ``max_trials`` and ``time_budget`` may both be None.

        Returns
        -------
        pandas.DataFrame
        """
        self._validate()
        callbacks = self._check_run(callbacks)
        self._setup()
        start = time.monotonic()
        deadline = start + self.time_budget if self.time_budget is not None else math.inf
        self._stop_requested = False
        self._in_run = True
        try:
            if self.client is None and self.n_jobs == 1:
                self._run_inline(deadline, callbacks)
            else:
                self._run_pool(deadline, callbacks)
        finally:
            self._in_run = False
            self.store_.checkpoint()
        return self.trials_dataframe()

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise ValueError("this experiment was closed; create a new one (resume=True with the same "
                             "storage and name continues it).")

    def close(self) -> None:
        """Write every recorded trial into the storage file and close its connection. The
        experiment cannot ask or tell after this; its trials stay readable (``trials_``,
        :meth:`trials_dataframe`)."""
        if getattr(self, "store_", None) is not None and not getattr(self, "_closed", False):
            self.store_.checkpoint()
            self.store_.close()
        self._closed = True

    # ---- results -------------------------------------------------------------------------
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
        """One row per trial: id, status, value, budget, times, error, message, and one column
        per parameter (``params.<flat name>``, see :func:`flatten_params`).

        ``status`` is ``running``, ``complete``, ``pruned``, ``skipped``, ``failed`` or
        ``interrupted``; ``message`` is the text told with the trial and ``error`` repeats it
        for failed and interrupted trials only.
        """
        rows = []
        for t in self.trials_:
            row = {"trial_id": t.id, "status": t.status, "value": t.value, "budget": t.budget,
                   "start": t.start, "end": t.end,
                   "duration": (t.end - t.start) if t.start is not None and t.end is not None else None,
                   "n_intermediate": len(t.intermediate), "error": t.error,
                   "message": t.message, "params": t.params}
            for key, value in flatten_params(t.params).items():
                row[f"params.{key}"] = value
            rows.append(row)
        cols = ["trial_id", "status", "value", "budget", "start", "end", "duration",
                "n_intermediate", "error", "message", "params"]
        return pd.DataFrame(rows, columns=None if rows else cols)

    # ---- setup ---------------------------------------------------------------------------
    def _validate(self) -> None:
        """The checks both ask() and run() need."""
        _check_mode(self.mode)
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
        if self.assessor is not None and not hasattr(self.assessor, "should_stop"):
            raise TypeError("assessor must have should_stop(values) (e.g. MedianStopAssessor).")
        if self.resume and self.storage is None:
            raise ValueError("resume=True needs storage= (the SQLite file of the earlier run).")

    def _check_run(self, callbacks) -> list:
        """The checks only run() needs; returns the callbacks as a list."""
        if self.objective is None:
            raise TypeError("run() needs an objective: this Experiment was created with "
                            "objective=None; pass objective(params) -> value, or step it with "
                            "ask() and tell().")
        if not callable(self.objective):
            raise TypeError(f"objective must be callable, got {type(self.objective).__name__}.")
        if callbacks is None:
            callbacks = []
        elif callable(callbacks) or isinstance(callbacks, (str, bytes)):
            raise TypeError("callbacks must be a list of callables, e.g. callbacks=[on_trial].")
        callbacks = list(callbacks)
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"every callback must be callable cb(experiment, trial), got "
                                f"{type(cb).__name__}.")
        if self.max_trials is None and self.time_budget is None and not callbacks and not (
                self.tuner == "grid" or isinstance(self.tuner, GridTuner)):
            raise ValueError("set max_trials and/or time_budget (or pass callbacks that call "
                             "stop()), or the experiment never ends.")
        return callbacks

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
            previous = self.store_.read_trials(self.name_)
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
        self._running: dict[int, Trial] = {}
        self._n_counted = 0
        for rec in previous:
            trial = Trial(id=rec["trial_id"], params=rec["params"], budget=rec["budget"],
                          value=rec["value"], status=rec["status"], intermediate=rec["intermediate"],
                          error=rec["error"], start=rec["start_time"], end=rec["end_time"],
                          message=rec["message"])
            self.trials_.append(trial)
            if trial.status in _COUNTED:
                self._n_counted += 1
                self._tell_tuner(Trial(id=trial.id, params=trial.params, budget=trial.budget),
                                 trial.value if trial.status != "failed" else None)
                if trial.status == "complete" and self.assessor_ is not None:
                    self.assessor_.trial_completed([v for _, v in trial.intermediate])
            else:  # skipped or interrupted: nothing to learn from
                self.tuner_._next_id = max(self.tuner_._next_id, trial.id + 1)
        # a resumed run does not redo its initial configs (unless they were skipped)
        seen = [t.params for t in self.trials_ if t.status != "skipped"]
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

    def _running_trial(self, trial) -> Trial:
        tid = trial.id if isinstance(trial, Trial) else trial
        if isinstance(tid, bool) or not isinstance(tid, (int, np.integer)):
            raise TypeError(f"trial must be a Trial from ask() or its int id, got {trial!r}.")
        running = self._running.get(int(tid)) if self._setup_done else None
        if running is not None:
            return running
        told = next((t for t in self.trials_ if t.id == tid), None)
        if told is not None:
            raise ValueError(f"trial {tid} was already told ({told.status}); a trial is told once.")
        raise ValueError(f"trial {tid} was not handed out by this experiment's ask().")

    def _record(self, trial: Trial, status: str, value, message, *, end: float,
                start: float | None = None, intermediate=None) -> None:
        """Store a told trial and pass it on to the tuner and the assessor."""
        trial.status, trial.value, trial.message = status, value, message
        trial.error = message if status == "failed" else None
        if intermediate is not None:
            trial.intermediate = list(intermediate)
        if start is not None:
            trial.start = start
        trial.end = end
        self.store_.finish_trial(self.name_, trial)
        del self._running[trial.id]
        if status in _COUNTED:
            self._n_counted += 1
        if status == "skipped":
            self.tuner_.forget(trial)
        elif not trial.info.get("outside_space"):
            self._tell_tuner(trial, None if status == "failed" else value)
        if status == "complete" and self.assessor_ is not None:
            self.assessor_.trial_completed([v for _, v in trial.intermediate])
        if status == "failed":
            logger.warning("trial %d failed: %s", trial.id, message.splitlines()[0] if message else "")
        else:
            logger.debug("trial %d %s: %s%s", trial.id, status, value,
                         f" ({message})" if message else "")

    def _abandon(self, trials, reason: str) -> None:
        """Trials a run() leaves behind when it is interrupted (an exception, Ctrl-C)."""
        for trial in trials:
            trial.status, trial.message, trial.error = "interrupted", reason, reason
            trial.end = time.time()
            self._running.pop(trial.id, None)
            self.tuner_.forget(trial)
            with contextlib.suppress(StorageError):  # the store may be what failed
                self.store_.finish_trial(self.name_, trial)

    # ---- the loop ------------------------------------------------------------------------
    def _can_launch(self, n_running: int, deadline: float) -> bool:
        if self._stop_requested or time.monotonic() >= deadline:
            return False
        return self.max_trials is None or self._n_counted + n_running < self.max_trials

    def _ask_or_none(self) -> Trial | None:
        try:
            return self.ask()
        except SpaceExhausted:
            logger.debug("experiment %r: the search space is exhausted.", self.name_)
            return None

    def _finish(self, trial: Trial, outcome: dict, callbacks: list) -> None:
        """Tell a trial that run() evaluated (``outcome`` from ``run_trial``)."""
        self._record(trial, outcome["status"], outcome["value"], outcome["error"],
                     end=outcome["end"], start=outcome.get("start"),
                     intermediate=outcome["intermediate"])
        for callback in callbacks:
            callback(self, trial)

    def _run_inline(self, deadline: float, callbacks: list) -> None:
        with_reporter = wants_reporter(self.objective)
        alarm = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
        while self._can_launch(0, deadline):
            trial = self._ask_or_none()
            if trial is None:
                break
            limit = min(self.trial_timeout or math.inf, deadline - time.monotonic())
            try:
                if alarm and math.isfinite(limit):
                    outcome = self._run_with_alarm(with_reporter, trial, max(limit, 1e-3))
                else:
                    outcome = run_trial(self.objective, with_reporter, trial.id, trial.params,
                                        trial.budget, self.assessor_)
            except BaseException:
                self._abandon([trial], "run() was interrupted while this trial ran")
                raise
            self._finish(trial, outcome, callbacks)

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

    def _run_pool(self, deadline: float, callbacks: list) -> None:
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
                    trial = self._ask_or_none()
                    if trial is None:
                        exhausted = True
                        break
                    running[trial.id] = (trial, time.monotonic())
                    executor.submit(trial, self.assessor_)
                if not running:
                    break
                now = time.monotonic()
                ends = [t0 + self.trial_timeout for _, t0 in running.values()] if self.trial_timeout else []
                if math.isfinite(deadline) and (self.trial_timeout is None or now < deadline):
                    ends.append(deadline)  # stop running trials, or wake to stop launching
                timeout = max(0.0, min(ends) - now) if ends else None
                for tid, outcome in executor.wait(timeout):
                    trial, _ = running.pop(tid)
                    self._finish(trial, outcome, callbacks)
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
                                         "intermediate": [], "end": time.time()}, callbacks)
        finally:
            executor.shutdown()
            self._abandon([trial for trial, _ in running.values()],
                          "run() was interrupted while this trial ran")


def _finite(value, trial_id: int, what: str) -> float:
    if value is None or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"trial {trial_id}: {what}, got {value!r}; tell a trial that could not "
                         "be evaluated as state='failed' (with message=).")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"trial {trial_id}: value must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"trial {trial_id}: {what}, got {number}; tell a trial that could not "
                         "be evaluated as state='failed' (with message=).")
    return number
