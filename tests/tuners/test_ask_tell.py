"""Stepping an Experiment: ask/tell, the skipped and pruned states, stop() and callbacks, and
the store's read API."""

import contextlib
import logging
import sqlite3

import pytest
from _worker_objectives import quick

from featsmith.tuners import (
    Experiment, GridTuner, HyperbandTuner, SpaceExhausted, StorageError, Trial, TrialStore,
    flatten_params, hp,
)

SPACE = {"x": hp.uniform(-5, 5), "n": hp.randint(1, 10)}


def quad(p):
    return (p["x"] - 1.0) ** 2 + 0.1 * p["n"]


def _warnings(caplog):
    return [r for r in caplog.records if r.name == "featsmith" and r.levelno >= logging.WARNING]


def test_ask_tell_loop_equals_run_for_the_same_seed():
    first = [{"x": 1.0, "n": 1}, {}]  # an enqueued config, and one outside the space
    ran = Experiment(lambda p: quad({"x": 0.0, "n": 3, **p}), SPACE, max_trials=15,
                     initial_configs=first, random_state=0)
    ran.run()
    stepped = Experiment(None, SPACE, initial_configs=first, random_state=0)
    for _ in range(15):
        trial = stepped.ask()
        assert trial.status == "running" and stepped.trials_[-1] is trial
        stepped.tell(trial, quad({"x": 0.0, "n": 3, **trial.params}))
    a, b = ran.trials_dataframe(), stepped.trials_dataframe()
    assert list(a["params"]) == list(b["params"]) and list(a["value"]) == list(b["value"])
    assert list(b["trial_id"]) == list(range(15)) and set(b["status"]) == {"complete"}
    assert stepped.best_params == ran.best_params
    assert stepped.tuner_.n_told == ran.tuner_.n_told == 14  # {} is outside the space


def test_skipped_and_pruned_are_stored_not_warned_and_skipped_is_not_learnt(caplog, tmp_path):
    db = tmp_path / "s.sqlite"
    exp = Experiment(None, SPACE, tuner="tpe", storage=db, name="e", random_state=0)
    caplog.set_level(logging.DEBUG, logger="featsmith")
    skipped = exp.ask()
    assert skipped.id in exp.tuner_._pending
    exp.tell(skipped, state="skipped", message="would not finish in the 3.1 s left")
    assert skipped.id not in exp.tuner_._pending and exp.tuner_.n_told == 0  # forgotten
    pruned = exp.ask()
    pruned.intermediate += [(1, 4.0), (2, 3.5)]
    exp.tell(pruned.id, state="pruned", message="worse than the median at step 2")
    assert pruned.value == 3.5 and exp.tuner_.n_told == 1  # learnt from its last report
    done = exp.ask()
    exp.tell(done, 0.25)
    assert not _warnings(caplog)

    failed = exp.ask()
    exp.tell(failed, state="failed", message="RuntimeError: out of memory")
    assert [r.getMessage() for r in _warnings(caplog)] == [
        f"trial {failed.id} failed: RuntimeError: out of memory"]

    df = exp.trials_dataframe().set_index("trial_id")
    assert list(df["status"]) == ["skipped", "pruned", "complete", "failed"]
    assert df.loc[0, "message"] == "would not finish in the 3.1 s left"
    assert df.loc[0, "error"] is None and df.loc[1, "error"] is None
    assert df.loc[3, "error"] == df.loc[3, "message"] == "RuntimeError: out of memory"
    assert df["value"].tolist()[1:3] == [3.5, 0.25] and exp.best_value == 0.25

    with TrialStore(db, read_only=True) as store:
        rows = store.read_trials("e")
        assert [r["status"] for r in rows] == ["skipped", "pruned", "complete", "failed"]
        assert rows[0]["message"].startswith("would not") and rows[0]["error"] is None
        assert rows[1]["intermediate"] == [(1, 4.0), (2, 3.5)] and rows[1]["value"] == 3.5
        assert rows[3]["error"] == "RuntimeError: out of memory"
        assert store.load_trials("e") == rows  # the earlier name still works


def test_tell_checks_its_arguments():
    exp = Experiment(None, SPACE, random_state=0)
    trial = exp.ask()
    with pytest.raises(ValueError, match="state must be one of"):
        exp.tell(trial, 1.0, state="done")
    with pytest.raises(ValueError, match="complete trial needs a finite value"):
        exp.tell(trial)
    with pytest.raises(ValueError, match="finite value, got nan"):
        exp.tell(trial, float("nan"))
    with pytest.raises(TypeError, match="must be a number"):
        exp.tell(trial, "good")
    with pytest.raises(ValueError, match="a skipped trial has no value"):
        exp.tell(trial, 1.0, state="skipped")
    with pytest.raises(TypeError, match="message must be a str"):
        exp.tell(trial, 1.0, message=3)
    exp.tell(trial, 1.0)
    with pytest.raises(ValueError, match="already told \\(complete\\)"):
        exp.tell(trial, 2.0)
    with pytest.raises(ValueError, match="already told"):
        exp.tell(trial.id, state="skipped")
    with pytest.raises(ValueError, match="not handed out"):
        exp.tell(Trial(id=99, params={}), 1.0)
    with pytest.raises(TypeError, match="Trial from ask"):
        exp.tell("0", 1.0)
    assert exp.trials_[0].value == 1.0 and exp.tuner_.n_told == 1


def test_ask_raises_space_exhausted_on_a_finished_grid():
    exp = Experiment(None, {"a": hp.choice(1, 2, 3)}, tuner="grid", random_state=0)
    trials = [exp.ask() for _ in range(3)]
    with pytest.raises(SpaceExhausted):
        exp.ask()
    for t in trials:
        exp.tell(t, float(t.params["a"]))
    assert sorted(t.params["a"] for t in trials) == [1, 2, 3]
    assert isinstance(exp.tuner_, GridTuner)


def test_ask_ignores_max_trials_and_run_needs_an_objective():
    exp = Experiment(None, SPACE, max_trials=1, random_state=0)
    for _ in range(3):
        exp.tell(exp.ask(), 1.0)
    assert len(exp.trials_) == 3
    with pytest.raises(TypeError, match="objective=None"):
        exp.run()
    with pytest.raises(RuntimeError, match="no run\\(\\) is in progress"):
        exp.stop()


def test_skipped_trials_do_not_count_toward_max_trials():
    exp = Experiment(quad, SPACE, max_trials=4, random_state=0)
    exp.tell(exp.ask(), state="skipped", message="planned away")
    exp.tell(exp.ask(), 2.0)
    df = exp.run()
    assert list(df["status"]) == ["skipped"] + ["complete"] * 4


def test_callbacks_run_once_per_trial_and_stop_ends_the_run():
    seen = []

    def callback(experiment, trial):
        seen.append((trial.id, trial.status))
        if len(seen) == 5:
            experiment.stop()

    def objective(p):
        if p["n"] == 1:
            raise RuntimeError("boom")
        return quad(p)

    exp = Experiment(objective, SPACE, tuner="random", random_state=3)
    df = exp.run(callbacks=[callback])  # no max_trials: the callback ends it
    assert len(df) == 5 and [i for i, _ in seen] == list(range(5))
    assert [s for _, s in seen] == list(df["status"])

    calls = []
    exp = Experiment(quad, SPACE, max_trials=20, random_state=0)
    exp.run(callbacks=[lambda e, t: calls.append(t.id),
                       lambda e, t: e.stop() if t.id == 2 else None])
    assert calls == [0, 1, 2] and len(exp.trials_) == 3
    exp.run(callbacks=[lambda e, t: calls.append(t.id)])  # stop() lasts one run only
    assert len(exp.trials_) == 20 and calls[3:] == list(range(3, 20))
    with pytest.raises(TypeError, match="list of callables"):
        exp.run(callbacks=print)


def test_objective_may_stop_an_inline_run():
    exp = Experiment(None, SPACE, max_trials=50, random_state=0)

    def objective(p):
        if len(exp.trials_) == 4:
            exp.stop()
        return quad(p)

    exp.objective = objective
    df = exp.run()
    assert len(df) == 4 and (df["status"] == "complete").all()


def test_stop_in_worker_processes_lets_running_trials_finish():
    seen = []

    def callback(experiment, trial):
        seen.append(trial.id)
        if len(seen) == 3:
            experiment.stop()

    exp = Experiment(quick, {"x": hp.uniform(0, 1)}, max_trials=40, n_jobs=2, random_state=0)
    df = exp.run(callbacks=[callback])
    # the trial running beside the third is told too, and nothing starts after stop()
    assert 3 <= len(df) <= 4 and (df["status"] == "complete").all()
    assert sorted(seen) == sorted(df["trial_id"])


def test_resume_does_not_replay_skipped_trials(tmp_path):
    db = tmp_path / "r.sqlite"
    first = Experiment(None, SPACE, storage=db, name="e", random_state=0,
                       initial_configs=[{"x": 0.0, "n": 2}, {"x": 1.0, "n": 1}])
    exp_trials = [first.ask() for _ in range(4)]
    first.tell(exp_trials[0], state="skipped", message="too slow")
    first.tell(exp_trials[1], 0.1)
    first.tell(exp_trials[2], state="failed", message="boom")
    first.tell(exp_trials[3], state="skipped")
    first.store_.close()

    again = Experiment(quad, SPACE, storage=db, name="e", resume=True, max_trials=3,
                       random_state=0, initial_configs=[{"x": 0.0, "n": 2}, {"x": 1.0, "n": 1}])
    df = again.run()
    assert again.tuner_.n_told == 2 + 1  # the complete and failed ones, then one new trial
    assert list(df["status"]) == ["skipped", "complete", "failed", "skipped", "complete"]
    assert df["params"].iloc[4] == {"x": 0.0, "n": 2}  # the skipped initial config is redone


def test_a_skipped_multi_fidelity_trial_does_not_stall_its_bracket():
    tuner = HyperbandTuner(SPACE, max_budget=9, random_state=0)
    exp = Experiment(None, SPACE, tuner=tuner)
    budgets = []
    for i in range(40):
        trial = exp.ask()
        budgets.append(trial.budget)
        if i % 4 == 0:
            exp.tell(trial, state="skipped", message="no time for it")
        else:
            exp.tell(trial, quad(trial.params) + 1.0 / trial.budget)
    assert set(budgets) == {1, 3, 9} and not tuner._pending


def test_store_read_api(tmp_path):
    db = tmp_path / "read.sqlite"
    Experiment(quad, SPACE, storage=db, name="a", max_trials=3, random_state=0).run()
    exp = Experiment(None, SPACE, storage=db, name="b", mode="max", tuner="random")
    exp.tell(exp.ask(), state="skipped")
    exp.ask()  # left running
    with TrialStore(db, read_only=True) as store:
        info = store.list_experiments()
        assert [e["name"] for e in info] == ["a", "b"]
        assert info[0]["status_counts"] == {"complete": 3} and info[0]["n_trials"] == 3
        assert info[1]["status_counts"] == {"skipped": 1, "running": 1}
        assert info[1]["mode"] == "max" and info[1]["tuner"] == "random"
        assert store.get_experiment("b")["mode"] == "max"
        assert store.read_trials("nope") == []
        with pytest.raises(StorageError):
            store.mark_interrupted("b")  # no writes through a read-only store

    foreign = tmp_path / "foreign.db"
    with contextlib.closing(sqlite3.connect(foreign)) as con:
        con.executescript("CREATE TABLE notes (x TEXT);")  # a SQLite file, but not ours
    with pytest.raises(StorageError, match="without featsmith's 'experiments' and 'trials'"):
        TrialStore(foreign, read_only=True)
    with pytest.raises(StorageError, match="no such file"):
        TrialStore(tmp_path / "missing.db", read_only=True)
    assert not (tmp_path / "missing.db").exists()


def test_flatten_params_is_public():
    params = {"lr": 0.1, "model": {"_name": "gbdt", "depth": 3, "inner": {"_name": "a", "k": 1}}}
    assert flatten_params(params) == {"lr": 0.1, "model": "gbdt", "model/gbdt/depth": 3,
                                      "model/gbdt/inner": "a", "model/gbdt/inner/a/k": 1}


def test_run_leaves_a_complete_file_and_close_ends_the_experiment(tmp_path):
    import shutil

    from featsmith.tuners import Experiment, TrialStore

    path = tmp_path / "tuning.db"
    exp = Experiment(lambda p: p["x"] ** 2, {"x": {"_type": "uniform", "_value": [-1, 1]}}, tuner="random",
                     max_trials=4, storage=path, name="a", random_state=0)
    exp.run()
    # The experiment is still open, yet a copy of the file alone holds every trial.
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    with TrialStore(copy, read_only=True) as store:
        assert len(store.read_trials("a")) == 4
    exp.close()
    exp.close()  # idempotent
    assert len(exp.trials_dataframe()) == 4
    with pytest.raises(ValueError, match="closed"):
        exp.ask()
