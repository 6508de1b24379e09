"""The SQLite store: resume after kill -9, changed spaces, locked and corrupt files."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from featsmith.tuners import Experiment, StorageError, hp
from featsmith.tuners import _storage

SPACE = {"x": hp.uniform(-3, 3), "k": hp.choice("a", "b")}


def quad(p):
    return p["x"] ** 2 + (p["k"] == "b")


def _complete_count(path):
    try:
        con = sqlite3.connect(path, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM trials WHERE status = 'complete'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def test_resume_after_kill_9(tmp_path):
    db = str(tmp_path / "store.sqlite")
    script = textwrap.dedent(f"""
        import time
        from featsmith.tuners import Experiment, hp
        def slow(p):
            time.sleep(0.1)
            return p["x"] ** 2 + (p["k"] == "b")
        Experiment(slow, {SPACE!r}, storage={db!r}, name="run", max_trials=500,
                   random_state=0).run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    try:
        deadline = time.monotonic() + 60
        while _complete_count(db) < 6:
            assert proc.poll() is None, "the experiment process ended early"
            assert time.monotonic() < deadline, "the experiment made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    before = _complete_count(db)
    exp = Experiment(quad, SPACE, storage=db, name="run", resume=True, max_trials=before + 5,
                     random_state=0)
    df = exp.run()
    # everything that finished before the kill is kept; at most the running trial is lost
    assert (df["status"] == "complete").sum() == before + 5
    assert (df["status"] == "interrupted").sum() <= 1
    assert df["trial_id"].is_unique and df["trial_id"].is_monotonic_increasing
    assert exp.tuner_.n_told >= before + 5  # the earlier trials were replayed into the tuner
    # the resumed tuner does not repeat the first run's proposals
    first = set(df["params.x"][: before])
    assert not first & set(df["params.x"][-5:])


def test_resume_checks_space_mode_and_name(tmp_path):
    db = str(tmp_path / "s.sqlite")
    Experiment(quad, SPACE, storage=db, name="e", max_trials=3).run()
    with pytest.raises(ValueError, match="already exists"):
        Experiment(quad, SPACE, storage=db, name="e", max_trials=3).run()
    changed = {**SPACE, "x": hp.uniform(-4, 4)}
    with pytest.raises(ValueError, match="stored search space differs"):
        Experiment(quad, changed, storage=db, name="e", resume=True, max_trials=5).run()
    with pytest.raises(ValueError, match="mode='min'"):
        Experiment(quad, SPACE, storage=db, name="e", resume=True, max_trials=5, mode="max").run()
    # a second experiment in the same file, and resuming the first one with initial configs
    Experiment(quad, changed, storage=db, name="other", max_trials=2).run()
    exp = Experiment(quad, SPACE, storage=db, name="e", resume=True, max_trials=5)
    df = exp.run()
    assert len(df) == 5 and (df["status"] == "complete").all()


def test_locked_store_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_storage, "LOCK_TIMEOUT", 0.2)
    db = str(tmp_path / "locked.sqlite")
    Experiment(quad, SPACE, storage=db, name="e", max_trials=1).run()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked by another process"):
            Experiment(quad, SPACE, storage=db, name="e2", max_trials=1).run()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_corrupt_or_foreign_store_gives_a_clear_error(tmp_path):
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database" * 200)
    with pytest.raises(StorageError, match="corrupt"):
        Experiment(quad, SPACE, storage=str(bad), max_trials=1).run()
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE trials (id INTEGER, loss REAL)")
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="not featsmith's"):
        Experiment(quad, SPACE, storage=str(foreign), max_trials=1).run()


def test_store_rows_hold_every_field(tmp_path):
    db = str(tmp_path / "rows.sqlite")

    def objective(p, reporter):
        reporter.report(1, 2.0)
        if p["k"] == "b":
            raise RuntimeError("nope")
        return quad(p)

    Experiment(objective, SPACE, storage=db, name="e", tuner="random", max_trials=8, random_state=3).run()
    rows = _storage.TrialStore(db).load_trials("e")
    assert len(rows) == 8
    for r in rows:
        assert r["start_time"] <= r["end_time"] and r["intermediate"] == [(1, 2.0)]
        if r["params"]["k"] == "b":
            assert r["status"] == "failed" and "nope" in r["error"] and r["value"] is None
        else:
            assert r["status"] == "complete" and r["value"] == pytest.approx(quad(r["params"]))


def test_read_only_store_reads_a_live_file(tmp_path):
    db = str(tmp_path / "ro.sqlite")
    Experiment(quad, SPACE, storage=db, name="e", max_trials=3).run()
    ro = _storage.TrialStore(db, read_only=True)
    try:
        assert len(ro.load_trials("e")) == 3 and ro.get_experiment("e")["mode"] == "min"
        with pytest.raises(StorageError):
            ro.mark_interrupted("e")  # no writes through a read-only store
    finally:
        ro.close()
