"""SQLite store of experiments and trials (standard-library ``sqlite3``).

Only the coordinating process writes: workers send results back to it, so parallel trials never
contend for the file. Each finished trial is one committed row, which is what makes a killed
experiment resumable. All of featsmith's SQL lives in this module.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time
from pathlib import Path

__all__ = ["StorageError", "TrialStore"]

# Seconds to wait for another connection's lock before giving up with a clear error.
LOCK_TIMEOUT = 5.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    space TEXT NOT NULL,
    mode TEXT NOT NULL,
    tuner TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    experiment TEXT NOT NULL REFERENCES experiments(name),
    trial_id INTEGER NOT NULL,
    params TEXT NOT NULL,
    budget REAL,
    value REAL,
    intermediate TEXT,
    status TEXT NOT NULL,
    start_time REAL,
    end_time REAL,
    error TEXT,
    PRIMARY KEY (experiment, trial_id)
);
"""
# The text column keeps its first name, ``error``, so that older stores still open; it holds the
# message of any state, an error only for these (for the others a reason: why it was skipped...).
_ERROR_STATES = ("failed", "interrupted")
_TRIAL_COLUMNS = ["experiment", "trial_id", "params", "budget", "value", "intermediate", "status",
                  "start_time", "end_time", "error"]


class StorageError(RuntimeError):
    """The SQLite store cannot be used: locked by another process, corrupt, or not ours."""


def _finite_or_none(v):
    return None if v is None or not math.isfinite(v) else float(v)


class TrialStore:
    """The SQLite store of experiments and their trials: one file, or memory when ``path`` is None.

    :class:`Experiment` writes it (one row per trial, committed as the trial starts and when it
    is told). Reports and dashboards read it through :meth:`list_experiments` and
    :meth:`read_trials`; ``read_only=True`` opens an existing file without creating tables or
    changing its journal mode, so it can sit next to a running experiment. The store is a
    context manager (``with TrialStore(path, read_only=True) as store: ...``).

    Parameters
    ----------
    path : str or path-like, optional
        The SQLite file; None keeps the store in memory.
    read_only : bool, default=False
        Open an existing store for reading only.

    Raises
    ------
    StorageError
        The file is missing (read-only), locked, corrupt, or a SQLite file of another kind.

    Examples
    --------
    >>> import os, tempfile
    >>> from featsmith.tuners import Experiment, TrialStore
    >>> path = os.path.join(tempfile.mkdtemp(), "tuning.sqlite")
    >>> _ = Experiment(lambda p: p["x"] ** 2, {"x": {"_type": "uniform", "_value": [-1, 1]}},
    ...                max_trials=3, storage=path, name="demo").run()
    >>> with TrialStore(path, read_only=True) as store:
    ...     info = store.list_experiments()[0]
    ...     trials = store.read_trials("demo")
    >>> info["name"], info["n_trials"], info["status_counts"], len(trials)
    ('demo', 3, {'complete': 3}, 3)
    """

    def __init__(self, path=None, read_only: bool = False):
        self.path = ":memory:" if path is None else str(path)
        self.read_only = read_only
        if read_only and not Path(self.path).is_file():
            raise StorageError(f"{self.path!r}: no such file; a read-only store must exist.")
        try:
            if read_only:
                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT,
                                             isolation_level=None, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT,
                                             isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the SQLite store {self.path!r}: {exc}.") from None
        try:
            self._check_schema()
        except StorageError:
            self._conn.close()
            raise

    def _check_schema(self) -> None:
        with self._guard("set up"):
            if not self.read_only:
                if self.path != ":memory:":
                    # WAL: readers (a notebook watching progress) never block the writer.
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
            tables = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            cols = [r[1] for r in self._conn.execute("PRAGMA table_info(trials)")]
        if not {"experiments", "trials"} <= tables:
            raise StorageError(
                f"{self.path!r} is a SQLite file without featsmith's 'experiments' and 'trials' "
                "tables: not an experiment store (the storage= file of a "
                "featsmith.tuners.Experiment)."
            )
        if cols != _TRIAL_COLUMNS:
            raise StorageError(
                f"{self.path!r} has a 'trials' table with columns {cols}, not featsmith's "
                f"{_TRIAL_COLUMNS}; use another file for storage."
            )

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def _guard(self, what: str):
        try:
            yield
        except sqlite3.Error as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: sqlite3.Error, what: str) -> StorageError:
        msg = str(exc)
        if "locked" in msg or "busy" in msg:
            return StorageError(
                f"the SQLite store {self.path!r} is locked by another process (another experiment "
                f"or an open transaction) and was not freed within {LOCK_TIMEOUT:g}s while trying "
                f"to {what}; close the other writer or use another storage file."
            )
        if "not a database" in msg or "malformed" in msg or not isinstance(exc, sqlite3.OperationalError):
            return StorageError(
                f"{self.path!r} is not a readable SQLite store ({msg}): the file is corrupt or of "
                "another kind; move it away or pass another storage path."
            )
        return StorageError(f"SQLite store {self.path!r}: could not {what}: {msg}.")

    def close(self) -> None:
        self._conn.close()

    def checkpoint(self) -> None:
        """Move committed trials from SQLite's write-ahead log into the database file, so
        that the file alone (copied, mailed) holds every trial recorded so far."""
        if self.path != ":memory:":
            with self._guard("checkpoint the store"):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # ---- experiments ---------------------------------------------------------------------
    def get_experiment(self, name: str) -> dict | None:
        """``name``, ``space`` (its NNI JSON), ``mode``, ``tuner`` and ``created`` of the
        experiment ``name``, or None when the store has no such experiment."""
        with self._guard("read the experiment"):
            row = self._conn.execute(
                "SELECT name, space, mode, tuner, created FROM experiments WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return None
        return dict(zip(["name", "space", "mode", "tuner", "created"], row))

    def create_experiment(self, name: str, space_json: str, mode: str, tuner: str) -> None:
        with self._guard("create the experiment"):
            self._conn.execute(
                "INSERT INTO experiments (name, space, mode, tuner, created) VALUES (?, ?, ?, ?, ?)",
                (name, space_json, mode, tuner, time.time()),
            )

    # ---- trials --------------------------------------------------------------------------
    def start_trial(self, name: str, trial) -> None:
        with self._guard("record a trial start"):
            self._conn.execute(
                "INSERT OR REPLACE INTO trials (experiment, trial_id, params, budget, status, start_time) "
                "VALUES (?, ?, ?, ?, 'running', ?)",
                (name, trial.id, json.dumps(trial.params), trial.budget, trial.start),
            )

    def finish_trial(self, name: str, trial) -> None:
        with self._guard("record a trial result"):
            self._conn.execute(
                "UPDATE trials SET value = ?, intermediate = ?, status = ?, end_time = ?, error = ? "
                "WHERE experiment = ? AND trial_id = ?",
                (_finite_or_none(trial.value),
                 json.dumps([[s, _finite_or_none(v)] for s, v in trial.intermediate]),
                 trial.status, trial.end,
                 trial.message if trial.message is not None else trial.error, name, trial.id),
            )

    def mark_interrupted(self, name: str) -> int:
        """Trials left 'running' by a killed process become 'interrupted'; returns how many."""
        with self._guard("mark interrupted trials"):
            cur = self._conn.execute(
                "UPDATE trials SET status = 'interrupted', error = 'the experiment process stopped "
                "while this trial ran' WHERE experiment = ? AND status = 'running'", (name,)
            )
        return cur.rowcount

    # ---- reading -------------------------------------------------------------------------
    def list_experiments(self) -> list[dict]:
        """Every experiment in the store, oldest first.

        Returns
        -------
        list of dict
            ``name``, ``mode``, ``tuner``, ``created`` (Unix time), ``n_trials`` and
            ``status_counts`` (trials per status, e.g. ``{"complete": 40, "skipped": 2}``).
        """
        with self._guard("list the experiments"):
            rows = self._conn.execute(
                "SELECT name, mode, tuner, created FROM experiments ORDER BY created, name"
            ).fetchall()
            counts = self._conn.execute(
                "SELECT experiment, status, COUNT(*) FROM trials GROUP BY experiment, status"
            ).fetchall()
        by_name: dict = {}
        for name, status, n in counts:
            by_name.setdefault(name, {})[status] = n
        out = []
        for row in rows:
            info = dict(zip(["name", "mode", "tuner", "created"], row))
            info["status_counts"] = by_name.get(info["name"], {})
            info["n_trials"] = sum(info["status_counts"].values())
            out.append(info)
        return out

    def read_trials(self, name: str) -> list[dict]:
        """The trials of experiment ``name``, in id order.

        Returns
        -------
        list of dict
            ``trial_id``, ``params`` (dict), ``budget``, ``value`` (None unless finite),
            ``intermediate`` (list of ``(step, value)``), ``status`` (``running``,
            ``complete``, ``pruned``, ``skipped``, ``failed`` or ``interrupted``),
            ``start_time``, ``end_time`` (Unix times), ``message`` (the text told with the
            trial) and ``error`` (the message of a failed or interrupted trial, else None).
        """
        with self._guard("read trials"):
            rows = self._conn.execute(
                f"SELECT {', '.join(_TRIAL_COLUMNS[1:])} FROM trials WHERE experiment = ? "
                "ORDER BY trial_id", (name,)
            ).fetchall()
        out = []
        for row in rows:
            rec = dict(zip(_TRIAL_COLUMNS[1:], row))
            rec["params"] = json.loads(rec["params"])
            rec["intermediate"] = [tuple(x) for x in json.loads(rec["intermediate"] or "[]")]
            rec["message"] = rec["error"]
            if rec["status"] not in _ERROR_STATES:
                rec["error"] = None
            out.append(rec)
        return out

    #: the earlier name of :meth:`read_trials`
    load_trials = read_trials
