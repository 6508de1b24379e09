"""SQLite store of experiments and trials (standard-library ``sqlite3``).

Only the coordinating process writes: workers send results back to it, so parallel trials never
contend for the file. Each finished trial is one committed row, which is what makes a killed
experiment resumable.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import time

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
_TRIAL_COLUMNS = ["experiment", "trial_id", "params", "budget", "value", "intermediate", "status",
                  "start_time", "end_time", "error"]


class StorageError(RuntimeError):
    """The SQLite store cannot be used: locked by another process, corrupt, or not ours."""


def _finite_or_none(v):
    return None if v is None or not math.isfinite(v) else float(v)


class TrialStore:
    """One SQLite file (or an in-memory database when ``path`` is None).

    ``read_only=True`` opens an existing file without creating tables or changing its journal
    mode (for reports and dashboards next to a running experiment).
    """

    def __init__(self, path=None, read_only: bool = False):
        self.path = ":memory:" if path is None else str(path)
        try:
            if read_only:
                from pathlib import Path

                uri = Path(self.path).resolve().as_uri() + "?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT,
                                             isolation_level=None, check_same_thread=False)
            else:
                self._conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT,
                                             isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the SQLite store {self.path!r}: {exc}.") from None
        with self._guard("set up"):
            if not read_only:
                if self.path != ":memory:":
                    # WAL: readers (a notebook watching progress) never block the writer.
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.executescript(_SCHEMA)
            cols = [r[1] for r in self._conn.execute("PRAGMA table_info(trials)")]
        if cols != _TRIAL_COLUMNS:
            self._conn.close()
            raise StorageError(
                f"{self.path!r} has a 'trials' table with columns {cols}, not featsmith's "
                f"{_TRIAL_COLUMNS}; use another file for storage."
            )

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

    # ---- experiments ---------------------------------------------------------------------
    def get_experiment(self, name: str) -> dict | None:
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
                 trial.status, trial.end, trial.error, name, trial.id),
            )

    def mark_interrupted(self, name: str) -> int:
        """Trials left 'running' by a killed process become 'interrupted'; returns how many."""
        with self._guard("mark interrupted trials"):
            cur = self._conn.execute(
                "UPDATE trials SET status = 'interrupted', error = 'the experiment process stopped "
                "while this trial ran' WHERE experiment = ? AND status = 'running'", (name,)
            )
        return cur.rowcount

    def load_trials(self, name: str) -> list[dict]:
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
            out.append(rec)
        return out
