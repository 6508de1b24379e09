"""The validation plan: shuffled folds unless the leak check finds them optimistic for the
rows' time order or their repeated entities; the user's choice always wins."""

import numpy as np
import pandas as pd
import pytest

from featsmith import AutoPipeline
from featsmith.pipelines._budget import Budget
from featsmith.pipelines._context import Progress, RelationalInputs
from featsmith.pipelines._stages import plan_validation, prepare
from featsmith.pipelines._stages.validation import period_count, time_ordered_splits


def _days(effect_scale, n_days=60, per_day=30, seed=0):
    """A regression target with a shared effect per day (0: rows independent of the day)."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(n_days), per_day)
    x = rng.normal(size=(len(day), 2))
    when = pd.Timestamp("2021-01-01") + pd.to_timedelta(day, unit="D") + pd.to_timedelta(
        rng.integers(0, 86_400, len(day)), unit="s")
    y = x[:, 0] + effect_scale * rng.normal(size=n_days)[day] + 0.3 * rng.normal(size=len(day))
    return pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "when": when}), y


def _customers(effect_scale, n_customers=150, per_customer=10, seed=0):
    rng = np.random.default_rng(seed)
    customer = np.repeat(np.arange(n_customers), per_customer)
    x = rng.normal(size=(len(customer), 2))
    y = x[:, 0] + effect_scale * rng.normal(size=n_customers)[customer] + 0.3 * rng.normal(size=len(customer))
    frame = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "customer_id": customer,
                          "spend": rng.normal(size=n_customers)[customer]})
    return frame.sample(frac=1.0, random_state=0).reset_index(drop=True), y[frame.sample(frac=1.0, random_state=0).index]


def _plan(X, y, cv=None, groups=None, time_column=None):
    budget = Budget(60.0)
    prepared = prepare(X, y, task="auto", metric=None, random_state=0, n_jobs=1, groups=groups,
                       relational=RelationalInputs(), progress=Progress(budget, 0), estimator_name="AutoPipeline",
                       time_column=time_column)
    return plan_validation(prepared.context, cv, budget).plan


def test_day_effects_switch_to_time_order():
    plan = _plan(*_days(effect_scale=1.0))
    assert plan.order == "time" and plan.scheme == "5-fold time-ordered" and plan.column == "when"
    assert plan.check["difference"] > 2 * plan.check["se"] > 0
    assert "optimistic" in plan.reason
    for train, valid in plan.splits:
        assert plan.key[train].max() < plan.key[valid].min()  # trained on the past only


def test_independent_rows_keep_shuffled_folds():
    plan = _plan(*_days(effect_scale=0.0))
    assert plan.order == "random" and plan.scheme == "5-fold"
    assert plan.check is not None and plan.check["difference"] <= 2 * plan.check["se"]
    assert "within noise" in plan.reason


def test_entity_effects_switch_to_grouped_folds():
    X, y = _customers(effect_scale=1.0)
    plan = _plan(X, y)
    assert plan.order == "group" and plan.column == "customer_id"
    ids = X["customer_id"].to_numpy()
    for train, valid in plan.splits:
        assert not set(ids[train]) & set(ids[valid])
    X, y = _customers(effect_scale=0.0)
    assert _plan(X, y).order == "random"


def test_the_user_choice_wins():
    X, y = _days(effect_scale=1.0)
    plan = _plan(X, y, cv=5)
    assert plan.order == "random" and plan.check is None  # no check with an explicit cv
    plan = _plan(X, y, cv="random")  # the plan by size, where None would switch to time order
    assert plan.order == "random" and plan.scheme == "5-fold" and plan.check is None
    assert plan.reason.startswith("cv='random'")
    X0, y0 = _days(effect_scale=0.0)
    assert _plan(X0, y0, cv="time").order == "time"
    plan = _plan(X0.assign(t=np.arange(len(X0))[::-1]), y0, cv="time", time_column="t")
    assert plan.column == "t" and plan.key[plan.splits[0][0]].max() < plan.key[plan.splits[0][1]].min()
    C, yc = _customers(effect_scale=0.0)
    assert _plan(C, yc, cv="group").order == "group"  # the detected entity column
    plan = _plan(C, yc, groups="customer_id")
    assert plan.order == "group" and "groups given" in plan.reason
    assert _plan(C, yc, groups=C["customer_id"].to_numpy() % 7).order == "group"


def test_overrides_that_cannot_work_say_why():
    X, y = _customers(effect_scale=0.0)
    with pytest.raises(ValueError, match="cv='time' needs a time order"):
        _plan(X.drop(columns="customer_id"), y, cv="time")
    with pytest.raises(ValueError, match="cv='group' needs groups"):
        _plan(X.drop(columns="customer_id"), y, cv="group")
    with pytest.raises(ValueError, match="time_column='nope' is not a column of X"):
        _plan(X, y, time_column="nope")
    with pytest.raises(ValueError, match="groups='nope' is not a column of X"):
        _plan(X, y, groups="nope")
    with pytest.raises(ValueError, match="cv='weekly' must be None"):
        AutoPipeline(cv="weekly", verbose=0).fit(X, y)


def test_a_time_column_that_is_not_times_and_time_with_groups_say_why():
    X, y = _days(effect_scale=0.0)
    X = X.assign(shift=np.where(np.arange(len(X)) % 2, "early", "late"))
    with pytest.raises(ValueError, match="time column 'shift' holds strings that do not read as dates"):
        _plan(X, y, time_column="shift")
    with pytest.raises(ValueError, match="cv='time' and groups= are both given"):
        _plan(X, y, cv="time", groups=np.arange(len(X)) % 10)


def test_time_ordered_splits_keep_ties_together_and_train_on_the_past():
    key = np.repeat(np.arange(10), 5)[np.random.default_rng(0).permutation(50)]
    splits = time_ordered_splits(key, n_folds=4)
    assert len(splits) == 4
    for train, valid in splits:
        assert key[train].max() < key[valid].min()
        assert not set(key[train]) & set(key[valid])
    ((train, valid),) = time_ordered_splits(key, holdout=True)
    assert len(valid) == 10 and key[valid].min() == 8


@pytest.mark.parametrize("holdout", [False, True])
def test_time_ordered_encodings_use_only_the_folds_training_rows(holdout):
    """A row a fold validates is encoded from that fold's training rows alone: changing the
    targets of its own period and every later one leaves its encoding as it was."""
    from featsmith.featurize import FeatureGenerator

    rng = np.random.default_rng(1)
    n = 600
    X = pd.DataFrame({"city": rng.choice(list("abcdef"), n), "x": rng.normal(size=n)})
    y = rng.normal(size=n)
    key = rng.integers(0, 120, n)  # 120 days, rows out of order, several per day
    splits = time_ordered_splits(key, n_folds=3, holdout=holdout)
    gen_args = {"operators": ["te"], "random_state": 0, "n_folds": period_count(3, holdout)}
    te = FeatureGenerator(**gen_args).fit(X, y, time_order=key).candidate_source().evaluate(["te(city)"]).ravel()
    for train, valid in splits:
        y_later = np.where(key >= key[valid].min(), y + 100.0, y)
        again = FeatureGenerator(**gen_args).fit(X, y_later, time_order=key)
        np.testing.assert_allclose(again.candidate_source().evaluate(["te(city)"]).ravel()[valid], te[valid])
        assert not np.isnan(te[valid]).any()


def test_fit_validates_in_time_order_and_estimates_later_days():
    X, y = _days(effect_scale=1.0)
    later = X["when"] >= X["when"].sort_values().iloc[int(0.75 * len(X))]
    model = AutoPipeline(time_budget=15, max_trials=4, random_state=0, n_jobs=1, verbose=0).fit(X[~later], y[~later])
    assert model.validation_["order"] == "time"
    rmse = float(np.sqrt(np.mean((model.predict(X[later]) - y[later]) ** 2)))
    # The estimate is for later days: far from the shuffled folds' (which see every day).
    shuffled = AutoPipeline(time_budget=15, max_trials=4, cv=5, random_state=0, n_jobs=1, verbose=0).fit(
        X[~later], y[~later])
    assert abs(model.best_score_ - rmse) < abs(shuffled.best_score_ - rmse)


def test_time_ordered_feature_check_needs_the_latest_period_too():
    """Generated features that win the pooled forward-fold score through an old period but
    lose the latest one are not kept; with the latest one they are."""
    from types import SimpleNamespace

    from featsmith.pipelines._metrics import resolve_metric
    from featsmith.pipelines._stages.features import _latest_period_holds
    from featsmith.pipelines._trials import TrialResult

    n = 300
    y = np.zeros(n)
    splits = time_ordered_splits(np.arange(n), n_folds=2)
    (_, old), (_, latest) = splits
    metric = resolve_metric("rmse", "regression")
    runner = SimpleNamespace(
        splits=splits, score_oof=lambda oof, rows: (metric.score_predictions(y[rows], oof[rows]), "ok"))
    plan = SimpleNamespace(order="time")
    ctx = SimpleNamespace(plan=plan, n_rows=n, metric=metric)
    raw = np.zeros(n)
    raw[old], raw[latest] = 10.0, 1.0
    def trial(oof):
        return TrialResult(params={}, value=metric.score_predictions(y, oof), n_rounds=0, seconds=0.0,
                           status="ok", oof=oof, runner=runner)

    baseline = trial(raw)
    carried = raw.copy()
    carried[old], carried[latest] = 2.0, 1.5  # better pooled, worse on the latest period
    assert trial(carried).value > baseline.value
    holds, note = _latest_period_holds(ctx, trial(carried), baseline, runner)
    assert not holds and "latest period rmse 1.5 vs 1 without" in note
    steady = raw.copy()
    steady[old], steady[latest] = 2.0, 0.5
    assert _latest_period_holds(ctx, trial(steady), baseline, runner)[0]
    plan.order = "random"  # shuffled folds: the pooled score decides alone
    assert _latest_period_holds(ctx, trial(carried), baseline, runner) == (True, "")
