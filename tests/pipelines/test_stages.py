"""AutoPipeline.fit as named stages: each stage on its own, their results, and the budget."""

import dataclasses
import inspect
import logging
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from featsmith import AutoPipeline
from featsmith.pipelines._budget import Budget, TrialCost
from featsmith.pipelines._portfolio import portfolio_configs
from featsmith.pipelines._context import Progress, RelationalInputs
from featsmith.pipelines._trials import TrialResult
from featsmith.pipelines._stages import (
    build_features,
    choose_rows,
    choose_threshold,
    plan_validation,
    prepare,
    refit_members,
    run_baseline,
    run_search,
    select_ensemble,
)

STAGES = ["prepare", "rows", "validate", "baseline", "features", "search", "ensemble", "threshold", "refit"]


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], n)})
    y = np.where(X["a"] + (X["c"] == "x") + rng.normal(scale=0.5, size=n) > 0.5, "yes", "no")
    return X, y


def _prepared(X, y, budget, **kw):
    return prepare(X, y, task="auto", metric=None, random_state=0, n_jobs=1, groups=kw.get("groups"),
                   relational=RelationalInputs(), progress=Progress(budget, 0), estimator_name="AutoPipeline")


@pytest.fixture(scope="module")
def stages():
    """Every stage once, in order, on a small binary task."""
    X, y = _data()
    budget = Budget(30.0)
    prepared = _prepared(X, y, budget)
    rows = choose_rows(prepared.context, budget)
    validated = plan_validation(rows.context, None, budget)
    ctx = prepared.context.with_plan(validated.plan)
    baseline = run_baseline(ctx, budget)
    ctx = ctx.with_plan(baseline.plan)
    features = build_features(ctx, baseline, budget, enabled=False, max_candidates=None, max_new_features=10)
    search = run_search(ctx, features, budget, max_trials=3, portfolio=True, time_budget=30.0, storage=None)
    ensemble = select_ensemble(ctx, features.view_trials + search.trials, features.runner, enabled=True,
                               max_predict_cost=3.0)
    threshold = choose_threshold(ctx, ensemble, features.runner)
    refit = refit_members(ctx, ensemble, features.runner, budget)
    return dict(prepare=prepared, rows=rows, validate=validated, baseline=baseline, features=features, search=search,
                ensemble=ensemble, threshold=threshold, refit=refit, ctx=ctx, budget=budget, X=X, y=y)


def test_each_stage_returns_its_named_frozen_result(stages):
    for name in STAGES:
        result = stages[name]
        assert result.stage == name and result.seconds >= 0
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.summary = "changed"
    ctx = stages["prepare"].context
    assert ctx.task == "binary" and list(ctx.classes) == ["no", "yes"] and ctx.plan is None
    assert ctx.X.shape[0] == 400 and ctx.n_threads == 1


def test_no_stage_changes_an_earlier_result(stages):
    # The search keeps fold models of its best trials only, by copying its own results; the
    # baseline's trial (an earlier stage's) keeps everything it had.
    base = stages["baseline"].trial
    assert base.status == "ok" and base.oof is not None and len(base.models) == 5
    assert stages["prepare"].context.plan is None  # later stages got new contexts
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.status = "other"


def test_validation_plan_says_why():
    X, y = _data(60)
    budget = Budget(10.0)
    ctx = _prepared(X, y, budget).context
    plan = plan_validation(ctx, None, budget).plan
    assert plan.scheme == "5-fold" and "shuffled folds, stratified" in plan.reason
    plan = plan_validation(ctx, KFold(3), budget).plan
    assert plan.scheme == "3-fold" and "KFold" in plan.reason
    grouped = _prepared(X, y, budget, groups=np.arange(60) // 4).context
    plan = plan_validation(grouped, None, budget).plan
    assert "groups" in plan.reason
    for train, valid in plan.splits:
        assert not set(np.arange(60)[train] // 4) & set(np.arange(60)[valid] // 4)


def test_a_slow_baseline_cuts_kfold_and_measures_the_cost():
    X, y = _data()
    # A baseline share too small for even one fold: k-fold is cut to the fold that finished.
    budget = Budget(10.0, shares={"baseline": 1e-4})
    prepared = _prepared(X, y, budget)
    ctx = prepared.context.with_plan(plan_validation(prepared.context, None, budget).plan)
    baseline = run_baseline(ctx, budget)
    assert baseline.plan.n_folds == 1 and baseline.plan.scheme == "holdout"
    assert "cut to 1 of 5 folds" in baseline.plan.reason
    assert baseline.runner.valid_mask.sum() == len(baseline.plan.splits[0][1])
    assert baseline.trial.status == "ok" and np.isfinite(baseline.trial.value)
    assert budget.cost is baseline.cost and baseline.cost.n_folds == 1


def test_a_slow_time_ordered_baseline_validates_on_the_latest_period():
    X, y = _data()
    X["when"] = pd.date_range("2024-01-01", periods=len(X), freq="D")
    budget = Budget(10.0, shares={"baseline": 1e-4})
    prepared = _prepared(X, y, budget)
    ctx = prepared.context.with_plan(plan_validation(prepared.context, "time", budget).plan)
    assert ctx.plan.n_folds == 5
    baseline = run_baseline(ctx, budget)
    # Not the first forward-chaining fold (the first sixth of the days, validated on the
    # next): the latest fifth, trained on every day before it.
    plan = baseline.plan
    assert plan.scheme == "holdout time-ordered" and "latest period" in plan.reason
    ((train, valid),) = plan.splits
    assert list(valid) == list(range(320, 400)) and list(train) == list(range(320))
    assert [list(va) for _, va in baseline.runner.splits] == [list(valid)]
    assert baseline.trial.status == "ok" and np.isfinite(baseline.trial.value)
    assert budget.cost is baseline.cost and baseline.cost.n_folds == 1 and baseline.cost.n_train == 320


def test_search_stops_at_max_trials_and_records_the_reason(stages):
    search = stages["search"]
    assert len(search.trials) == 3 and search.stop_reason == "max_trials reached"
    assert "stopped: max_trials reached" in search.summary
    assert list(search.history["status"]) == ["complete"] * 3


def test_trials_that_would_not_finish_are_skipped_not_failed(stages, caplog):
    ctx, features = stages["ctx"], stages["features"]
    # Trials measured at 100 s each (100 rounds at LightGBM's default learning rate): with 30 s
    # and the refit's reserve (about 21 s) every family, and every LightGBM proposal however
    # fast its learning rate, would overrun. Each is planned away, and after five LightGBM
    # proposals in a row the search stops.
    slow_trial = dataclasses.replace(features.view_trials[0], seconds=100.0, n_rounds=100)
    slow = dataclasses.replace(features, view_trials=[slow_trial])
    budget = Budget(30.0)
    budget.measured(TrialCost(trial_seconds=100.0, n_folds=5, n_rows=400, n_train=320.0, n_rounds=100))
    with caplog.at_level(logging.DEBUG, logger="featsmith"):
        search = run_search(ctx, slow, budget, max_trials=50, portfolio=True, time_budget=30.0, storage=None)
    assert search.trials == [] and search.stop_reason == "next trial would not finish"
    skipped = search.history[search.history["status"] == "skipped"]
    # The other families (CatBoost when installed, hist_gb, extra trees, linear), five LightGBM.
    assert len(skipped) == search.n_skipped == len(portfolio_configs()) + 5
    assert skipped["message"].str.contains("would not finish").all()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("failed" in r.getMessage() for r in caplog.records)


def test_a_cheaper_proposal_runs_where_a_dearer_one_would_not():
    from featsmith.pipelines._budget import TrialPlanner

    base = TrialResult({}, 0.8, 100, 15.0, "ok", models=[None] * 5)  # 100 rounds at 0.1, 31 leaves
    planner = TrialPlanner([base], TrialCost(15.0, 5, 1000, 800.0, 100), n_folds=5)
    default = planner.estimate({}, nas_seconds=0.0)
    assert default == pytest.approx(15.0)
    # Half the learning rate: twice the rounds; a quarter of the leaves' depth: cheaper rounds.
    assert planner.estimate({"learning_rate": 0.05}, 0.0) == pytest.approx(15.0 * 250 / 150)
    assert planner.estimate({"learning_rate": 0.2, "num_leaves": 4}, 0.0) < default / 3
    # Families that have not run: from the baseline's seconds per tree (0.02 s here).
    assert planner.estimate({"model": "extra_trees", "n_estimators": 150}, 0.0) == pytest.approx(
        0.02 * 1.5 * 150 * 5)


def test_after_the_initial_configurations_other_families_are_tuned_in_their_own_spaces(stages):
    from featsmith.pipelines._portfolio import FAMILY_SPACES, family_config
    from featsmith.pipelines._stages.search import initial_configs

    ctx, features = stages["ctx"], stages["features"]
    n_initial = len(initial_configs(True, 30.0))
    budget = Budget(600.0)
    # Generous estimates: no family's trial is cut short for running past twice its estimate.
    budget.measured(TrialCost(trial_seconds=20.0, n_folds=5, n_rows=400, n_train=320.0, n_rounds=100))
    search = run_search(ctx, features, budget, max_trials=n_initial + 6, portfolio=True, time_budget=30.0,
                        storage=None)
    tuned = [tr for tr in search.trials[n_initial:] if tr.family != "lightgbm"]
    # Every third trial at least (every second when the family beats LightGBM) tunes the best
    # other family, away from its known-good configuration.
    assert len(tuned) >= 2 and len({tr.family for tr in tuned}) == 1
    family = tuned[0].family
    assert family in FAMILY_SPACES
    best_other = max((tr for tr in search.trials[:n_initial] if tr.family in FAMILY_SPACES),
                     key=lambda tr: tr.value)
    assert family == best_other.family
    assert all(tr.params != family_config(family) for tr in tuned)
    for tr in tuned:
        for name, spec in FAMILY_SPACES[family].items():
            low, high = spec["_value"][:2]
            assert low <= tr.params[name] <= high
    # The history holds the known-good trial once (its replay into the family's tuner is not a
    # trial) and each tuned one.
    own = search.history[search.history["params.model"] == family]
    assert (own["status"] == "complete").sum() == len(tuned) + 1


def test_another_family_too_dear_on_a_wide_view_runs_on_the_raw_columns():
    from featsmith.pipelines._budget import TrialPlanner
    from featsmith.pipelines._portfolio import family_config
    from featsmith.pipelines._stages.search import on_raw_instead

    cost = TrialCost(15.0, 5, 1000, 800.0, 100)
    base = TrialResult({}, 0.8, 100, 15.0, "ok", models=[None] * 5)
    planner = TrialPlanner([base], cost, n_folds=5, widths={"raw": 10, "top_gain": 70})

    def needed(config):
        return planner.estimate(config, 0.0)

    trees = {**family_config("extra_trees"), "view": "top_gain"}
    raw = planner.estimate({**trees, "view": "raw"}, 0.0)
    # Seven times the columns: seven times the seconds, over the time left; on raw it fits.
    assert planner.estimate(trees, 0.0) == pytest.approx(7 * raw)
    assert on_raw_instead(trees, needed, left=2 * raw) == {**trees, "view": "raw"}
    # Not when it does not fit on raw either, nor for LightGBM (its bins make width cheap) or
    # a configuration already on the raw columns.
    assert on_raw_instead(trees, needed, left=0.5 * raw) is None
    assert on_raw_instead({"learning_rate": 0.05, "view": "top_gain"}, needed, left=1e9) is None
    assert on_raw_instead({**trees, "view": "raw"}, needed, left=1e9) is None


def test_cheap_families_run_early_and_on_the_raw_columns_where_a_view_makes_them_dear():
    from featsmith.pipelines._budget import TrialPlanner
    from featsmith.pipelines._stages.search import CHEAP_SHARE, cheap_on_raw, initial_configs

    # Without views too: the cheap families right after LightGBM's first configuration,
    # then CatBoost (when installed), HistGradientBoosting and the neural head.
    order = [c.get("model", "lightgbm") for c in initial_configs(True, 300.0)]
    assert order[:3] == ["lightgbm", "linear", "extra_trees"]
    assert order[3] == ("catboost" if "catboost" in order else "hist_gb")
    assert order.index("hist_gb") > order.index("extra_trees") and order.index("nas_head") > order.index("hist_gb")

    cost = TrialCost(15.0, 5, 1000, 800.0, 100)
    base = TrialResult({}, 0.8, 100, 15.0, "ok", models=[None] * 5)
    planner = TrialPlanner([base], cost, n_folds=5, widths={"raw": 10, "top_gain": 70})

    def needed(config):
        return planner.estimate(config, 0.0)

    initial = initial_configs(True, 300.0, ["top_gain", "raw"])
    on_view = [needed(c) for c in initial if c.get("model") in ("linear", "extra_trees")]
    # A search with room for them on the view: nothing moves.
    assert cheap_on_raw(initial, needed, search_seconds=max(on_view) / CHEAP_SHARE * 1.01) == initial
    # A search where the view would take more than their share: the cheap families move to the
    # raw columns, the others stay (on_raw_instead queues them there if they would not finish
    # at all).
    moved = cheap_on_raw(initial, needed, search_seconds=min(on_view) / CHEAP_SHARE * 0.5)
    views = {c.get("model", "lightgbm"): c["view"] for c in moved if "model" in c}
    assert views["extra_trees"] == views["linear"] == "raw"
    assert views["hist_gb"] == views.get("catboost", "top_gain") == "top_gain"
    assert [c.get("model") for c in moved] == [c.get("model") for c in initial]


def test_a_short_trial_of_another_family_may_overrun_its_estimate_by_a_share_of_the_time_left():
    from featsmith.pipelines._stages.search import OVERRUN_FACTOR, OVERRUN_SHARE_OF_LEFT, folds_budget

    assert folds_budget("lightgbm", 5.0, 100.0) is None  # LightGBM stops at its deadline
    # A half-second estimate with 100 s left: a tenth of them, not one more second.
    assert folds_budget("catboost", 0.5, 100.0) == pytest.approx(0.5 + OVERRUN_SHARE_OF_LEFT * 100.0)
    # A long one with little left: twice its estimate, as before.
    assert folds_budget("hist_gb", 18.0, 23.0) == pytest.approx(OVERRUN_FACTOR * 18.0)
    assert folds_budget("catboost", 0.5, -1.0) == pytest.approx(OVERRUN_FACTOR * 0.5)


def test_a_family_search_estimate_follows_its_configuration():
    from featsmith.pipelines._budget import TrialPlanner
    from featsmith.pipelines._portfolio import family_config

    base = TrialResult({}, 0.8, 100, 15.0, "ok", models=[None] * 5)
    planner = TrialPlanner([base], TrialCost(15.0, 5, 1000, 800.0, 100), n_folds=5)
    known = family_config("catboost")
    before = planner.estimate(known, 0.0)
    assert planner.estimate({**known, "depth": 9}, 0.0) == pytest.approx(1.5 * before)
    assert planner.estimate({**known, "learning_rate": 0.05}, 0.0) > 1.5 * before
    # Measured seconds are kept per known-good configuration: a deeper tree's trial that took
    # 12 s says the known-good one takes 8 s.
    planner.record(TrialResult({**known, "depth": 9}, 0.8, 100, 12.0, "ok", family="catboost"))
    assert planner.estimate(known, 0.0) == pytest.approx(8.0)
    assert planner.estimate({**known, "depth": 3}, 0.0) == pytest.approx(4.0)


def test_search_reports_an_exhausted_space(stages, monkeypatch):
    from featsmith.tuners import Experiment, SpaceExhausted

    def exhausted(self):
        raise SpaceExhausted

    monkeypatch.setattr(Experiment, "ask", exhausted)
    search = run_search(stages["ctx"], stages["features"], Budget(30.0), max_trials=5, portfolio=False,
                        time_budget=30.0, storage=None)
    assert search.stop_reason == "space exhausted" and search.trials == []


def test_refit_result_is_the_fitted_model(stages):
    refit, X = stages["refit"], stages["X"]
    assert abs(sum(m.weight for m in refit.members) - 1.0) < 1e-9
    assert {m.refit for m in refit.members} <= {"all rows", "fold average", "latest fold"}
    proba = refit.model.predict(stages["ctx"].encoder.transform(stages["prepare"].context.frame))
    assert proba.shape == (len(X), 2)


def test_without_time_to_refit_a_time_ordered_plan_keeps_the_latest_folds_model(stages):
    ctx, ensemble, runner = stages["ctx"], stages["ensemble"], stages["features"].runner
    expired = Budget(1.0)  # spent long ago: no refit may fit, the members keep fold models
    expired.measured(stages["budget"].cost)
    expired.start -= 100.0
    X = ctx.X[:50]
    shuffled = refit_members(ctx, ensemble, runner, expired)
    assert {m.refit for m in shuffled.members} == {"fold average"}
    ordered = refit_members(ctx.with_plan(dataclasses.replace(ctx.plan, order="time")), ensemble, runner, expired)
    assert {m.refit for m in ordered.members} == {"latest fold"}
    # Forward-chaining folds: the first model saw one period, the latest all but the last.
    expected = sum(m.weight * m.trial.runner.member(m.trial.runner.fold_average(m.trial.models[-1:])).output(X)
                   for m in ordered.members)
    np.testing.assert_allclose(ordered.model.predict(X), expected)
    assert not np.allclose(shuffled.model.predict(X), expected)


def test_fit_reads_as_its_stages():
    source = textwrap.dedent(inspect.getsource(AutoPipeline.fit))
    body = source.split('"""')[2]  # after the docstring
    lines = [line for line in body.splitlines() if line.strip()]
    assert len(lines) <= 60
    for call in ("prepare(", "choose_rows(", "plan_validation(", "run_baseline(", "build_features(", "run_search(",
                 "select_ensemble(", "choose_threshold(", "refit_members(", "refit_on_all_rows("):
        assert call in body


def test_fit_records_the_stages_and_uses_the_budget():
    X, y = _data(500)
    model = AutoPipeline(time_budget=5, random_state=0, n_jobs=1, verbose=0).fit(X, y)
    assert list(model.stages_["stage"]) == STAGES == list(model.stage_timings_)
    assert model.stages_["summary"].str.len().gt(0).all()
    assert model.search_stop_reason_ in ("next trial would not finish", "budget spent", "space exhausted")
    # The fit ends early only when nothing left could finish: trials here take a fraction
    # of a second, so most of the budget is used, and the refit keeps it within +10%.
    assert 0.8 * 5 <= model.fit_seconds_ <= 5 * 1.1 + 1
    assert len(model.tuning_history_) >= len(model.leaderboard_) - 2


def test_progress_is_drawn_on_a_terminal(monkeypatch):
    import sys

    X, y = _data(200)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    model = AutoPipeline(time_budget=2, max_trials=3, random_state=0, n_jobs=1, verbose=1).fit(X, y)
    assert len(model.leaderboard_) == 3


def test_high_cardinality_target_encodings_are_checked_when_no_time_is_left_to_screen(monkeypatch):
    """Without time to screen candidates, the out-of-fold target encodings of categorical
    columns with 1,000+ levels are still generated and checked (issue 16: a 5,000-level column
    carried the signal); a table without such a column skips the stage."""
    from featsmith.pipelines._budget import Budget as PlannerBudget

    monkeypatch.setattr(PlannerBudget, "features_plan", lambda self, n, m: (0, "no time to screen"))
    rng = np.random.default_rng(0)
    n = 6_000
    level = rng.integers(0, 1_200, n)
    effect = rng.normal(size=1_200)
    X = pd.DataFrame({"level": [f"l{v}" for v in level], "a": rng.normal(size=n)})
    y = (effect[level] + 0.3 * X["a"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    model = AutoPipeline(time_budget=10, max_trials=4, random_state=0, n_jobs=1, verbose=0).fit(X, y)
    summary = model.stages_.set_index("stage").loc["features", "summary"]
    assert summary != "no time to screen" and (model.leaderboard_["view"] == "te").any()
    if model.feature_plan_ is not None:
        assert list(model.feature_plan_.names) == ["te(level)"]
    low = AutoPipeline(time_budget=5, max_trials=3, random_state=0, n_jobs=1, verbose=0).fit(X[["a"]], y)
    assert low.stages_.set_index("stage").loc["features", "summary"] == "no time to screen"


def test_the_refit_on_every_row_takes_the_threads_of_its_rows(monkeypatch):
    """The final stage's refit trains on every row, not the search sample: its thread count
    follows those rows (featsmith/_threads.py), whatever the trials' params said."""
    from types import SimpleNamespace

    import lightgbm as lgb

    import featsmith._threads
    from featsmith.pipelines._stages.final import _LocalBooster

    monkeypatch.setattr(featsmith._threads, "CELLS_PER_THREAD", 1000)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(600, 5)), rng.integers(0, 2, 600)
    ctx = SimpleNamespace(y_enc=y, n_threads=8, encoder=SimpleNamespace(categorical_features_=[]))
    rows = SimpleNamespace(fit_rows=np.arange(500), stop_rows=np.arange(500, 600))
    seen, train = [], lgb.train
    monkeypatch.setattr(lgb, "train", lambda params, *a, **k: seen.append(params["num_threads"]) or train(
        params, *a, **k))
    booster = _LocalBooster(ctx, rows, X)
    booster.fit({"objective": "binary", "verbosity": -1, "num_threads": 1}, 2, float("inf"), False)
    assert seen == [2]  # 500 rows x 5 columns, one thread per 1,000 cells
