"""Trials in worker processes and on a Dask cluster: crashes, hangs and kills stay contained."""

import time

import pytest
from _worker_objectives import faulty, slow

from featsmith.tuners import Experiment, hp

SPACE = {"mode": hp.choice("ok", "raise", "nan", "hang", "kill"), "x": hp.uniform(0, 1)}
CONFIGS = [{"mode": m, "x": 0.5} for m in ("ok", "raise", "nan", "hang", "kill", "ok")]


def test_worker_processes_isolate_errors_hangs_and_killed_workers():
    exp = Experiment(faulty, SPACE, tuner="random", max_trials=6, n_jobs=2, trial_timeout=3.0,
                     initial_configs=CONFIGS, random_state=0)
    t0 = time.monotonic()
    df = exp.run().set_index("trial_id")
    assert time.monotonic() - t0 < 30
    assert len(df) == 6
    status = dict(zip(df["params.mode"] + df.index.astype(str), df["status"]))
    assert status["ok0"] == "complete" and status["ok5"] == "complete"
    assert status["raise1"] == status["nan2"] == status["hang3"] == status["kill4"] == "failed"
    assert "ValueError: bad config" in df.loc[1, "error"]
    assert "timed out" in df.loc[3, "error"]
    assert "died" in df.loc[4, "error"]
    assert exp.best_value == 0.5


def test_time_budget_stops_running_trials_without_timeout():
    exp = Experiment(slow, {"x": hp.uniform(0, 1)}, max_trials=10, n_jobs=2, time_budget=1.0)
    t0 = time.monotonic()
    df = exp.run()
    assert time.monotonic() - t0 < 15  # includes the workers' start
    assert (df["status"] == "failed").all() and df["error"].str.contains("time budget").all()


def test_dask_client_runs_trials_and_records_failures():
    distributed = pytest.importorskip("distributed", reason="the 'distributed' extra is not installed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        configs = [c for c in CONFIGS if c["mode"] in ("ok", "raise", "nan")]
        exp = Experiment(faulty, {"mode": hp.choice("ok", "raise", "nan"), "x": hp.uniform(0, 1)},
                         max_trials=6, client=client, initial_configs=configs, random_state=0)
        df = exp.run()
    assert len(df) == 6
    assert list(df["status"][:4]) == ["complete", "failed", "failed", "complete"]
    assert "bad config" in df["error"][1]
    assert exp.best_value <= 0.5
