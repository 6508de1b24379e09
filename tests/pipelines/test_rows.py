"""The large-table path: the search on a stratified sample, the refit on every row, and the
check against LightGBM's defaults on every row. The row thresholds are lowered so that a few
thousand rows take the path the millions of rows take."""

import pickle

import numpy as np
import pandas as pd
import pytest

from featsmith import AutoPipeline
from featsmith.pipelines._stages import final, rows


@pytest.fixture
def small_thresholds(monkeypatch):
    monkeypatch.setattr(rows, "SAMPLE_MIN_ROWS", 2_000)
    monkeypatch.setattr(rows, "MIN_SAMPLE_ROWS", 1_500)
    monkeypatch.setattr(rows, "PROBE_ROWS", 2_000)
    # Trials here cost milliseconds: without a floor on the trials per search the sample
    # would be every row.
    monkeypatch.setattr(rows, "TRIALS_PER_SEARCH", 10**6)


def _data(n, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    level = rng.integers(0, 40, n)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "level": [f"l{v}" for v in level],
                      "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s")})
    score = X["a"] + np.sin(level) + rng.normal(scale=0.7, size=n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, y


def test_large_table_searches_a_sample_and_refits_on_every_row(small_thresholds):
    X, y = _data(6_000, classes=3)
    model = AutoPipeline(time_budget=8, random_state=0, n_jobs=1, verbose=0, portfolio=False).fit(X, y)
    assert model.search_rows_ == 1_500
    summary = dict(zip(model.stages_["stage"], model.stages_["summary"]))
    assert summary["rows"].startswith("search on 1,500 of 6,000 rows")
    assert "held-out rows" in summary["refit"]
    assert all(how.startswith("all rows") for how in model.ensemble_["refit"])
    proba = model.predict_proba(X.head(50))
    assert proba.shape == (50, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(model.best_score_)
    assert model.fit_seconds_ <= 8 * 1.1 + 1


def test_sample_is_stratified_and_disjoint_from_the_held_out_rows(small_thresholds):
    from featsmith.pipelines._budget import Budget
    from featsmith.pipelines._context import Progress, RelationalInputs
    from featsmith.pipelines._stages import choose_rows, prepare

    X, y = _data(6_000)
    y = (np.arange(6_000) % 10 == 0).astype(int)  # 10% positives
    budget = Budget(8.0)
    ctx = prepare(X, y, task="auto", metric=None, random_state=0, n_jobs=1, groups=None,
                  relational=RelationalInputs(), progress=Progress(budget, 0), estimator_name="AutoPipeline").context
    chosen = choose_rows(ctx, budget)
    sample = chosen.search_rows
    assert chosen.sampled and len(sample) == 1_500
    assert abs(y[sample].mean() - 0.1) < 0.005  # each class in its share
    held = np.concatenate([chosen.stop_rows, chosen.check_rows])
    assert not np.intersect1d(sample, held).size and not np.intersect1d(chosen.fit_rows, held).size
    # Rows in time order: the held-out rows are the latest, the check rows later than the stopping rows.
    times = X["when"].to_numpy()
    assert times[held].min() >= times[chosen.fit_rows].max()
    assert times[chosen.check_rows].min() >= times[chosen.stop_rows].max()


def test_defaults_on_every_row_replace_an_ensemble_that_checks_worse(small_thresholds, monkeypatch):
    scored = []

    def score(ctx, threshold, pred, rows_):
        scored.append(pred)
        # The ensemble is scored first: make it lose the check.
        return -np.inf if len(scored) == 1 else 0.0

    monkeypatch.setattr(final, "_score", score)
    X, y = _data(6_000)
    model = AutoPipeline(time_budget=6, random_state=0, n_jobs=1, verbose=0, portfolio=False).fit(X, y)
    assert len(model.ensemble_) == 1 and "LightGBM's defaults" in model.ensemble_["refit"][0]
    assert model.stages_.set_index("stage").loc["refit", "summary"].startswith("LightGBM's defaults kept")
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(X.head(20)), model.predict_proba(X.head(20)))


def test_small_tables_use_every_row():
    X, y = _data(800)
    model = AutoPipeline(time_budget=3, max_trials=2, random_state=0, n_jobs=1, verbose=0).fit(X, y)
    assert model.search_rows_ == 800
    assert model.stages_.set_index("stage").loc["rows", "summary"] == "all 800 rows"


def test_held_out_rows_keep_groups_whole(small_thresholds):
    from featsmith.pipelines._budget import Budget
    from featsmith.pipelines._context import Progress, RelationalInputs
    from featsmith.pipelines._stages import choose_rows, prepare

    X, y = _data(6_000)
    groups = np.arange(6_000) // 7  # groups of 7 rows
    budget = Budget(8.0)
    ctx = prepare(X.drop(columns="when"), y, task="auto", metric=None, random_state=0, n_jobs=1, groups=groups,
                  relational=RelationalInputs(), progress=Progress(budget, 0), estimator_name="AutoPipeline").context
    chosen = choose_rows(ctx, budget)
    held = np.concatenate([chosen.stop_rows, chosen.check_rows])
    assert len(held) > 0
    assert not np.isin(groups[chosen.fit_rows], groups[held]).any()  # no group on both sides
    assert not np.isin(groups[chosen.search_rows], groups[held]).any()


def test_refit_on_every_row_runs_on_a_dask_cluster(small_thresholds):
    distributed = pytest.importorskip("distributed")
    X, y = _data(6_000)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        model = AutoPipeline(time_budget=8, random_state=0, n_jobs=1, verbose=0, portfolio=False,
                             client=client).fit(X, y)
    assert all("on the cluster" in how for how in model.ensemble_["refit"])
    proba = pickle.loads(pickle.dumps(model)).predict_proba(X.head(30))  # predicts here, no cluster
    assert proba.shape == (30, 2) and np.isfinite(proba).all()


def test_client_must_be_a_dask_client():
    pytest.importorskip("distributed")
    X, y = _data(200)
    with pytest.raises(TypeError, match="distributed.Client"):
        AutoPipeline(time_budget=2, client="tcp://scheduler:8786").fit(X, y)


@pytest.mark.parametrize("cv", [None, "time"])
def test_another_familys_member_keeps_its_fold_models_on_a_sample(small_thresholds, monkeypatch, cv):
    # The refit on every row boosts LightGBM members only; another family's member keeps its
    # fold models from the sample, chosen by the search's plan (the latest fold alone under
    # time order). The context of every row has no plan: this path once failed on every large
    # table whose ensemble held such a member.
    from featsmith.pipelines import _auto
    from featsmith.pipelines._stages.ensemble import Ensemble, Member

    chosen, stand_ins = {}, []

    def with_another_family(ctx, trials, runner, **kwargs):
        ensemble = select_ensemble(ctx, trials, runner, **kwargs)
        boosted = next(tr for tr in trials if tr.family == "lightgbm" and tr.models)
        other = next(tr for tr in trials if tr.family != "lightgbm" and tr.models)
        chosen["plan"], chosen["folds"] = ctx.plan, len(other.models)
        return Ensemble(members=[Member(boosted, 0.5), Member(other, 0.5)], value=ensemble.value,
                        cost_limit=None, summary="forced")

    def recorded(plan, models):
        kept = stand_in_models(plan, models)
        stand_ins.append((plan, len(kept)))
        return kept

    select_ensemble, stand_in_models = _auto.select_ensemble, final.stand_in_models
    monkeypatch.setattr(_auto, "select_ensemble", with_another_family)
    monkeypatch.setattr(final, "stand_in_models", recorded)
    X, y = _data(6_000)
    kwargs = {"time_column": "when", "cv": "time"} if cv else {}
    model = AutoPipeline(time_budget=8, random_state=0, n_jobs=1, verbose=0, **kwargs).fit(X, y)
    assert model.search_rows_ < 6_000 and chosen["folds"] > 1
    assert stand_ins == [(chosen["plan"], 1 if cv else chosen["folds"])]
    assert chosen["plan"].order == ("time" if cv else "random")
    proba = model.predict_proba(X.head(20))
    assert proba.shape == (20, 2) and np.all(np.isfinite(proba))
