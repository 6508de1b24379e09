"""Where trials run: local worker processes or a Dask cluster.

Both executors have the same small interface: ``submit(trial, assessor)``, ``wait(timeout)`` ->
finished ``(trial_id, outcome)`` pairs, ``cancel(trial_id)`` and ``shutdown()``. A worker that dies
or is killed turns into a failed outcome for its trial; the executor replaces it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import time
from multiprocessing.connection import wait as mp_wait

from featsmith.tuners._worker import run_trial, wants_reporter, worker_main

logger = logging.getLogger("featsmith")


def _dumps(objective) -> bytes:
    try:
        import cloudpickle  # closures and lambdas too, when available

        return cloudpickle.dumps(objective)
    except ImportError:
        pass
    try:
        return pickle.dumps(objective)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(
            f"objective cannot be pickled for worker processes ({exc}); with n_jobs > 1 use a "
            "module-level function (or install cloudpickle), or run with n_jobs=1."
        ) from None


def _failure(message: str) -> dict:
    now = time.time()
    return {"status": "failed", "value": None, "error": message, "intermediate": [],
            "start": now, "end": now}


class _Worker:
    def __init__(self, ctx, payload):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, payload), daemon=False,
                                   name="featsmith-trial-worker")
        self.process.start()
        child.close()
        self.ready = False

    def await_ready(self, timeout: float = 120.0) -> None:
        """Block until the worker has loaded the objective (trial timeouts start after this)."""
        if not self.conn.poll(timeout):
            self.stop(kill=True)
            raise RuntimeError(f"a trial worker process did not start within {timeout:g}s.")
        try:
            kind, detail = self.conn.recv()
        except (EOFError, OSError):
            kind, detail = "error", f"it exited with code {self.process.exitcode}"
        if kind != "ready":
            self.stop(kill=True)
            raise RuntimeError(f"a trial worker process could not load the objective: {detail}")
        self.ready = True

    def stop(self, kill: bool) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, BrokenPipeError):
                self.process.kill()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class ProcessExecutor:
    """A pool of long-lived worker processes, one trial at a time each."""

    def __init__(self, objective, n_workers: int, context: str = "spawn"):
        self.payload = _dumps(objective)
        try:
            self.ctx = mp.get_context(context)
        except ValueError:
            raise ValueError(
                f"mp_context {context!r} is not available here; use 'spawn' or 'forkserver'."
            ) from None
        self.capacity = n_workers
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}
        # start them together: spawning is slow, and a trial's timeout must not include it
        self._idle = [_Worker(self.ctx, self.payload) for _ in range(n_workers)]
        try:
            for worker in self._idle:
                worker.await_ready()
        except Exception:
            self.shutdown()
            raise

    def _new_worker(self) -> _Worker:
        worker = _Worker(self.ctx, self.payload)
        worker.await_ready()
        return worker

    def submit(self, trial, assessor) -> None:
        worker = self._idle.pop() if self._idle else self._new_worker()
        try:
            worker.conn.send((trial.id, trial.params, trial.budget, assessor))
        except (OSError, BrokenPipeError):
            worker.stop(kill=True)
            worker = self._new_worker()
            worker.conn.send((trial.id, trial.params, trial.budget, assessor))
        self._busy[trial.id] = worker

    def wait(self, timeout: float | None) -> list[tuple[int, dict]]:
        if not self._busy:
            return []
        handles = {}
        for tid, w in self._busy.items():
            handles[w.conn] = tid
            handles[w.process.sentinel] = tid
        ready = mp_wait(list(handles), timeout)
        done: dict[int, dict] = {}
        for handle in ready:
            tid = handles[handle]
            if tid in done:
                continue
            worker = self._busy[tid]
            outcome = None
            if worker.conn.poll():
                try:
                    got_id, outcome = worker.conn.recv()
                except (EOFError, OSError):
                    outcome = None
            if outcome is None:
                worker.process.join(timeout=1)
                outcome = _failure(
                    f"the worker process died during the trial (exit code {worker.process.exitcode})"
                )
                worker.stop(kill=True)
            else:
                self._idle.append(worker)
            del self._busy[tid]
            done[tid] = outcome
        return list(done.items())

    def cancel(self, trial_id: int) -> None:
        worker = self._busy.pop(trial_id, None)
        if worker is not None:
            worker.stop(kill=True)

    def shutdown(self) -> None:
        for tid in list(self._busy):
            self.cancel(tid)
        for worker in self._idle:
            worker.stop(kill=False)
        self._idle = []


class DaskExecutor:
    """Trials as tasks on a ``distributed.Client``; the cluster's workers run the objective."""

    def __init__(self, objective, client, n_jobs: int):
        self.client = client
        self.objective = objective
        self.with_reporter = wants_reporter(objective)
        if n_jobs > 1:
            self.capacity = n_jobs
        else:
            self.capacity = max(1, sum(client.nthreads().values()))
        self._futures: dict = {}

    def submit(self, trial, assessor) -> None:
        self._futures[trial.id] = self.client.submit(
            run_trial, self.objective, self.with_reporter, trial.id, trial.params, trial.budget,
            assessor, pure=False, key=f"featsmith-trial-{trial.id}-{time.time_ns()}",
        )

    def wait(self, timeout: float | None) -> list[tuple[int, dict]]:
        from distributed import wait as dask_wait

        if not self._futures:
            return []
        try:
            dask_wait(list(self._futures.values()), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        out = []
        for tid, fut in list(self._futures.items()):
            if not fut.done():
                continue
            del self._futures[tid]
            try:
                out.append((tid, fut.result()))
            except Exception as exc:  # noqa: BLE001 - KilledWorker, cancelled, ...
                out.append((tid, _failure(f"the Dask task failed: {type(exc).__name__}: {exc}")))
        return out

    def cancel(self, trial_id: int) -> None:
        fut = self._futures.pop(trial_id, None)
        if fut is not None:
            fut.cancel()

    def shutdown(self) -> None:
        for tid in list(self._futures):
            self.cancel(tid)
