"""Running one trial: the reporter handed to objectives, and the worker-process loop.

Kept free of heavy imports so that a spawned worker starts quickly.
"""

from __future__ import annotations

import inspect
import math
import pickle
import time
import traceback

from featsmith.tuners._assessor import TrialPruned

BUDGET_KEY = "TRIAL_BUDGET"  # NNI's name for the resource of a multi-fidelity trial


class Reporter:
    """Handed to ``objective(params, reporter)``: report intermediate values, read the budget.

    Attributes
    ----------
    budget : float or None
        The resource this trial may spend (multi-fidelity tuners), else None.
    trial_id : int

    Examples
    --------
    >>> r = Reporter(trial_id=0, budget=None)
    >>> r.report(1, 0.5)
    >>> r.intermediate
    [(1, 0.5)]
    """

    def __init__(self, trial_id: int, budget=None, assessor=None):
        self.trial_id = trial_id
        self.budget = budget
        self.intermediate: list[tuple] = []
        self._assessor = assessor

    def report(self, step, value) -> None:
        """Record ``value`` at ``step``; raises :class:`TrialPruned` if the assessor says stop."""
        value = float(value)
        self.intermediate.append((step, value))
        if self._assessor is not None and self._assessor.should_stop([v for _, v in self.intermediate]):
            raise TrialPruned(f"trial {self.trial_id} stopped by the assessor at step {step}.")


def wants_reporter(objective) -> bool:
    """Whether ``objective`` takes a second positional argument (the reporter)."""
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        return False
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values()):
        return True
    return len(positional) >= 2


def _as_value(result):
    if isinstance(result, dict):  # NNI's final-result dict
        if "default" not in result:
            raise TypeError(f"objective returned a dict without a 'default' key: {result!r}.")
        result = result["default"]
    if result is None:
        raise ValueError("objective returned None.")
    value = float(result)
    if not math.isfinite(value):
        raise ValueError(f"objective returned a non-finite value ({value}).")
    return value


def run_trial(objective, with_reporter: bool, trial_id: int, params: dict, budget, assessor) -> dict:
    """Call the objective once and describe the outcome (never raises for objective errors)."""
    reporter = Reporter(trial_id, budget, assessor)
    start = time.time()
    status, value, error = "complete", None, None
    try:
        if with_reporter:
            out = objective(params, reporter)
        else:
            out = objective({**params, BUDGET_KEY: budget} if budget is not None else params)
        value = _as_value(out)
    except TrialPruned as exc:
        status, error = "pruned", str(exc)
        finite = [v for _, v in reporter.intermediate if math.isfinite(v)]
        value = finite[-1] if finite else None
    except Exception as exc:  # noqa: BLE001 - any objective failure is a failed trial
        status = "failed"
        error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_tb(exc.__traceback__)[-3:])
    return {"status": status, "value": value, "error": error, "intermediate": reporter.intermediate,
            "start": start, "end": time.time()}


def worker_main(conn, payload: bytes) -> None:
    """Loop of a worker process: receive a trial, run it, send the outcome back."""
    try:
        objective = pickle.loads(payload)
        with_reporter = wants_reporter(objective)
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the coordinator went away
        if msg is None:
            return
        trial_id, params, budget, assessor = msg
        conn.send((trial_id, run_trial(objective, with_reporter, trial_id, params, budget, assessor)))
