"""Feature views: one matrix, several column sets, each a value of the search's ``view``
parameter; the final model's plan covers the union of its members' views."""

import joblib
import io

import numpy as np
import pandas as pd
import pytest

from featsmith import AutoPipeline
from featsmith.pipelines import make_splits, resolve_metric
from featsmith.pipelines._budget import TrialCost, TrialPlanner
from featsmith.pipelines._stages import features as features_stage
from featsmith.pipelines._stages.search import initial_configs
from featsmith.pipelines._trials import ColumnSubset, TrialResult
from featsmith.pipelines._views import RAW, FeatureViews


def _views(fold_views=None, n=120, task="regression"):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))  # 2 raw columns, then generated a, b, c
    y = X[:, 0] + X[:, 2] if task == "regression" else (X[:, 0] + X[:, 2] > 0).astype(np.int64)
    args = dict(task=task, n_classes=0 if task == "regression" else 2, metric=resolve_metric(None, task),
                splits=make_splits(y, task, cv=3, random_state=0), n_threads=1, seed=0)
    return FeatureViews(X, y, 2, ["a", "b", "c"], {RAW: [], "small": ["c"], "big": ["b", "a"]}, args, [],
                        make_plan=lambda names: tuple(names), fold_views=fold_views or {})


def test_view_columns_and_runners():
    views = _views()
    np.testing.assert_array_equal(views.columns("big"), [0, 1, 3, 2])
    runner = views.runner("big")
    assert runner is views.runner("big") and runner.view == "big"  # built once per view
    np.testing.assert_array_equal(runner.X, views.X[:, [0, 1, 3, 2]])
    other = views.runner("big", "extra_trees")
    assert other is not runner and other.view == "big" and other.output_kind == "estimator"
    result = runner.run({}, float("inf"))
    assert result.view == "big" and result.status == "ok"


def test_final_plan_covers_the_union_of_the_members_views_only():
    views = _views()
    plan, names, columns = views.final(["small", RAW])
    assert plan == ("c",) and names == ["c"]
    np.testing.assert_array_equal(columns["small"], [0, 1, 2])
    np.testing.assert_array_equal(columns[RAW], [0, 1])
    plan, names, columns = views.final(["big", "small"])
    assert names == ["a", "b", "c"]  # the matrix's order, each feature once
    np.testing.assert_array_equal(columns["big"], [0, 1, 3, 2])
    assert views.final([RAW])[0] is None


def test_fold_views_read_the_features_chosen_on_each_fold():
    per_fold = [["a"], ["b"], ["a", "b"]]
    views = _views({"big": (per_fold, ["b"])})
    runner = views.runner("big")  # runner.X: raw, b, a
    assert [list(c) for c in runner.fold_columns] == [[0, 1, 3], [0, 1, 2], [0, 1, 3, 2]]
    assert list(runner.refit_columns) == [0, 1, 2]
    result = runner.run({}, float("inf"))
    assert all(isinstance(m, ColumnSubset) for m in result.models)
    assert [m.model.num_feature() for m in result.models] == [3, 3, 4]
    refit = runner.refit({}, 20, float("inf"))
    assert refit.model.num_feature() == 3
    np.testing.assert_allclose(refit.predict(runner.X), refit.model.predict(runner.X[:, [0, 1, 2]]))
    assert refit.feature_importance("gain").shape == (4,)


def test_a_refit_of_a_fold_view_reads_only_the_refits_choice():
    from types import SimpleNamespace

    from featsmith.pipelines._auto import final_views
    from featsmith.pipelines._stages.refit import RefitMember
    from featsmith.pipelines._trials import WeightedModel

    def final(members):
        views = _views({"big": ([["a"], ["b"], ["a", "b"]], ["b"])})
        runner = views.runner("big")  # runner.X: raw, b, a
        trial = TrialResult({}, 0.0, 20, 1.0, "ok", view="big")
        models = {"all rows": runner.refit({}, 20, float("inf")),
                  "fold average": runner.fold_average(runner.run({}, float("inf")).models)}
        expected = {how: models[how].predict(runner.X) for how in members}
        outputs = [runner.member(models[how]) for how in members]
        refit = SimpleNamespace(model=WeightedModel([(1 / len(members), o) for o in outputs], "regression"),
                                members=[RefitMember(trial, 1 / len(members), how) for how in members])
        plan, names = final_views(views, refit)
        matrix = views.X[:, [0, 1] + [2 + "abc".index(n) for n in names]]  # what predict computes
        for output, how in zip(outputs, members):
            np.testing.assert_allclose(output.output(matrix), expected[how])
        return names, outputs

    # Alone, the refit on every row makes the plan compute its one feature, not every fold's.
    names, (output,) = final(["all rows"])
    assert names == ["b"] and not isinstance(output.model, ColumnSubset)
    np.testing.assert_array_equal(output.columns, [0, 1, 2])
    # Fold models read every fold's choice, so the plan keeps the view's union for them.
    names, outputs = final(["all rows", "fold average"])
    assert names == ["a", "b"]
    np.testing.assert_array_equal(outputs[0].columns, [0, 1, 3])
    np.testing.assert_array_equal(outputs[1].columns, [0, 1, 3, 2])


def test_column_subset_survives_joblib():
    views = _views()
    model = views.runner("big").refit({}, 10, float("inf"))  # reads raw, b, a
    wrapped = ColumnSubset(model, [0, 1, 3, 2], 5)
    buffer = io.BytesIO()
    joblib.dump(wrapped, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    X = np.random.default_rng(1).normal(size=(7, 5))
    np.testing.assert_allclose(loaded.predict(X), model.predict(X[:, [0, 1, 3, 2]]))
    assert loaded.num_feature() == 4  # other attributes pass through
    assert loaded.feature_importance("split").shape == (5,)


def test_top_gain_view_is_chosen_on_each_folds_training_rows_only(monkeypatch):
    """No leakage: each fold's top features come from a LightGBM fitted on that fold's
    training rows; the refit's from every row."""
    seen = []

    def record(ctx, source, base_params, n_keep, deadline, train):
        seen.append(np.sort(train))
        return [source.names[len(seen) % len(source.names)]]

    monkeypatch.setattr(features_stage, "_top_by_gain", record)
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "city": rng.choice(list("pqrs"), n)})
    y = X["a"] * X["b"] + rng.normal(scale=0.1, size=n)
    model = AutoPipeline(time_budget=20, max_trials=3, cv=3, random_state=0, n_jobs=1, verbose=0).fit(X, y)
    splits = make_splits(np.zeros(n), "regression", cv=3, random_state=0)
    assert len(seen) == 4
    for (train, valid), rows in zip(splits, seen[:3]):
        assert len(rows) == len(train) and not np.isin(valid, rows).any()
    np.testing.assert_array_equal(seen[3], np.arange(n))
    assert "top_gain" in model.feature_views_


@pytest.mark.parametrize(("deadline", "runs"), [(1.5, False), (3.0, True)])
def test_top_gain_per_fold_projects_the_rows_each_fit_reads(monkeypatch, deadline, runs):
    # Forward-chaining folds train on 100 .. 500 of 600 rows, the refit on all 600: after the
    # first fit (0.1 s on a fake clock) the rest are 20 times as many rows, not 5 more fits.
    from types import SimpleNamespace

    from featsmith.pipelines._stages.validation import time_ordered_splits

    clock = [0.0]

    def fake_fit(ctx, source, base_params, n_keep, deadline, train):
        clock.append(clock[-1] + 1e-3 * len(train))
        return ["f"]

    monkeypatch.setattr(features_stage, "_top_by_gain", fake_fit)
    monkeypatch.setattr(features_stage.time, "perf_counter", lambda: clock[-1])
    ctx = SimpleNamespace(splits=time_ordered_splits(np.arange(600), n_folds=5), n_rows=600, X=np.zeros((600, 3)),
                          trees_per_round=1)
    source = SimpleNamespace(names=["f", "g"], n_rows=600, evaluate=lambda names, rows=None: np.zeros((600, 2)))
    chosen = features_stage._top_by_gain_per_fold(ctx, source, {}, 1, deadline)
    assert (chosen is not None) == runs
    if runs:
        assert len(chosen[0]) == 5 and clock[-1] == pytest.approx(2.1)


def test_top_gain_fits_read_fewer_rows_the_more_trees_a_round_grows():
    from types import SimpleNamespace

    source = SimpleNamespace(names=[f"f{i}" for i in range(997)])

    def rows(trees_per_round):
        ctx = SimpleNamespace(X=np.zeros((1, 3)), trees_per_round=trees_per_round)
        return features_stage._top_gain_rows(ctx, source, 10_000)

    assert 10_000 * 1000 <= features_stage.TOP_GAIN_CELLS
    assert rows(1) == 10_000  # 1,000 columns: every row fits
    assert rows(7) == features_stage.TOP_GAIN_CELLS // 7000
    assert rows(50) == 1000  # never below a thousand rows


@pytest.mark.parametrize("n_classes", [2, 3])
def test_a_multiclass_top_gain_fit_bins_coarser_and_still_finds_the_signal(monkeypatch, n_classes):
    import lightgbm as lgb
    from types import SimpleNamespace

    rng = np.random.default_rng(0)
    raw, candidates = rng.normal(size=(600, 2)), rng.normal(size=(600, 6))
    cuts = np.quantile(candidates[:, 4], [0.5, 0.75][: n_classes - 1])
    y = np.digitize(candidates[:, 4] + 0.3 * rng.normal(size=600), cuts)
    multiclass = n_classes > 2
    ctx = SimpleNamespace(X=raw, y_enc=y, trees_per_round=n_classes if multiclass else 1, sub_seed=0, n_threads=1,
                          encoder=SimpleNamespace(categorical_features_=[]))
    source = SimpleNamespace(names=[f"c{i}" for i in range(6)], evaluate=lambda names, rows: candidates[rows])
    params = ({"objective": "multiclass", "num_class": n_classes} if multiclass else {"objective": "binary"})
    bins, train = [], lgb.train

    def spy(params, data, **kwargs):
        bins.append(data.params.get("max_bin"))
        return train(params, data, **kwargs)

    monkeypatch.setattr(lgb, "train", spy)
    top = features_stage._top_by_gain(ctx, source, {**params, "verbosity": -1, "num_threads": 1}, 1, float("inf"),
                                      np.arange(600))
    assert top == ["c4"]
    assert bins == [features_stage.TOP_GAIN_MULTICLASS_BINS if multiclass else None]


def test_a_selection_runs_only_with_time_left_to_validate_its_view(monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(features_stage.time, "perf_counter", lambda: 100.0)
    cost = SimpleNamespace(trial_seconds=20.0, selection_seconds=lambda n_rows: 10.0)
    budget = SimpleNamespace(cost=cost)
    # 10 s of selection and 20 s for its view's trial end by 135; after the top-by-gain
    # view's trial too they would not.
    assert features_stage._selection_pays(budget, 1000, 0, deadline=135.0)
    assert not features_stage._selection_pays(budget, 1000, 1, deadline=135.0)
    assert features_stage._selection_pays(budget, 1000, 1, deadline=155.0)


def test_views_are_searched_mixed_and_predicted_from_one_matrix():
    rng = np.random.default_rng(0)
    n = 1500
    X = pd.DataFrame({"a": rng.uniform(1, 2, n), "b": rng.uniform(1, 2, n), "c": rng.normal(size=n),
                      "city": rng.choice(list("pqrstu"), n)})
    y = np.log(X["a"] / X["b"]) * 5 + 0.1 * rng.normal(size=n)
    model = AutoPipeline(time_budget=25, max_trials=10, random_state=0, n_jobs=1, verbose=0).fit(X, y)
    board = model.leaderboard_
    assert RAW in set(board["view"]) and len(set(board["view"])) >= 2  # a generated view was searched
    assert set(model.ensemble_["view"]) <= set(model.feature_views_)
    used = set(model.ensemble_["view"]) - {RAW}
    if used:  # the plan computes features of the members' views only, each once
        wanted = {n for v in used for n in model.feature_views_[v]}
        assert set(model.feature_plan_.names) <= wanted
        assert len(set(model.feature_plan_.names)) == len(model.feature_plan_.names) > 0
    matrix = model.transform(X.head(50))
    assert matrix.shape[1] == len(model.get_feature_names_out())
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    np.testing.assert_allclose(joblib.load(buffer).predict(X.head(50)), model.predict(X.head(50)))
    if "lightgbm" in set(model.ensemble_["model"]):
        assert model.explain()["importance"].sum() > 0


def test_planner_scales_a_views_trials_by_its_measured_cost():
    cost = TrialCost(trial_seconds=2.0, n_folds=2, n_rows=100, n_train=80, n_rounds=100)
    raw = TrialResult({}, 0.5, 100, 2.0, "ok", models=[None, None], view=RAW)
    wide = TrialResult({}, 0.6, 100, 6.0, "ok", models=[None, None], view="top_gain")
    planner = TrialPlanner([raw, wide], cost, 2, widths={RAW: 10, "top_gain": 70, "small": 20})
    on_raw = planner.estimate({"learning_rate": 0.1}, 0)
    assert planner.estimate({"learning_rate": 0.1, "view": "top_gain"}, 0) == pytest.approx(3 * on_raw)
    # Not measured: by the width.
    assert planner.estimate({"learning_rate": 0.1, "view": "small"}, 0) == pytest.approx(2 * on_raw)
    # Other families grow with the columns, whatever LightGBM measured.
    trees = {"model": "extra_trees", "n_estimators": 100}
    assert planner.estimate({**trees, "view": "top_gain"}, 0) == pytest.approx(7 * planner.estimate(trees, 0))


def test_initial_configs_spread_over_the_views():
    assert all("view" not in c for c in initial_configs(True, 60, [RAW]))
    spread = initial_configs(True, 60, ["top_gain", RAW, "selected"])
    assert spread[0]["view"] == "top_gain"
    # The cheap families next and CatBoost (when installed), then the runner-up views before
    # the other families.
    n_early = 3 if any(c.get("model") == "catboost" for c in spread) else 2
    assert [c.get("model") for c in spread[1:1 + n_early]] == ["linear", "extra_trees", "catboost"][:n_early]
    runners_up = spread[1 + n_early:3 + n_early]
    assert [c["view"] for c in runners_up] == [RAW, "selected"] and all("model" not in c for c in runners_up)
    families = [c.get("model", "lightgbm") for c in spread if c["view"] == "top_gain"]
    assert {"hist_gb", "extra_trees", "linear"} <= set(families)


def test_a_views_runners_share_one_copy_of_its_columns():
    views = _views()
    assert views.runner("big").X is views.runner("big", "linear").X
    assert views.runner(RAW, "linear").X.shape[1] == 2


def test_linear_and_neural_families_stay_on_raw_columns_under_time_order():
    spread = initial_configs(True, 200, ["top_gain", RAW], time_ordered=True)
    views = {c.get("model", "lightgbm"): c["view"] for c in spread if "model" in c}
    assert views["linear"] == views["nas_head"] == RAW and views["hist_gb"] == "top_gain"
    assert {c["view"] for c in initial_configs(True, 200, ["top_gain", RAW]) if c.get("model") == "linear"} == {"top_gain"}
