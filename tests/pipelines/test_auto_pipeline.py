"""AutoPipeline end to end: inputs, tasks, metrics, bad input, persistence, composition."""

import time

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.metrics import make_scorer, mean_absolute_error, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from featsmith import AutoPipeline
from featsmith.pipelines import infer_task, make_splits


def fast(**kw):
    params = dict(time_budget=30, max_trials=2, random_state=0, n_jobs=1, verbose=0)
    params.update(kw)
    return AutoPipeline(**params)


@pytest.fixture(scope="module")
def mixed():
    """A binary task whose signal lives in a numeric, a categorical and a datetime column."""
    rng = np.random.default_rng(0)
    n = 600
    city = rng.choice(["paris", "lyon", "nice", "lille"], n)
    amount = rng.normal(size=n)
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D")
    logit = 1.5 * amount + (city == "nice") * 2.0 - 1.0 + (when.month >= 7) * 1.0
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    X = pd.DataFrame(
        {
            "amount": amount,
            "city": city,
            "when": when,
            "noise": rng.normal(size=n),
            "flag": rng.random(n) < 0.5,
            "constant": 1.0,
            "empty": np.nan,
        }
    )
    X.loc[rng.random(n) < 0.1, "amount"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def fitted(mixed):
    X, y = mixed
    return fast().fit(X.iloc[:500], y[:500])


def test_binary_end_to_end(mixed, fitted):
    X, y = mixed
    assert fitted.task_ == "binary"
    assert fitted.metric_ == "roc_auc"
    assert list(fitted.classes_) == ["no", "yes"]
    proba = fitted.predict_proba(X.iloc[500:])
    assert proba.shape == (100, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    auc = roc_auc_score(y[500:] == "yes", proba[:, 1])
    assert auc > 0.65  # 100 test rows: the Bayes rate is about 0.75, chance 0.5
    assert set(fitted.predict(X.iloc[500:])) <= {"no", "yes"}
    assert fitted.score(X.iloc[500:], y[500:]) == pytest.approx(auc)
    assert fitted.n_features_in_ == X.shape[1]
    assert list(fitted.feature_names_in_) == list(X.columns)
    assert 0.5 < fitted.best_score_ <= 1.0


def test_leaderboard_records_every_trial(fitted):
    lb = fitted.leaderboard_
    assert len(lb) == 2  # max_trials counts every model trial
    assert {"trial", "model", "params", "score", "seconds", "n_rounds", "status"} <= set(lb.columns)
    if len(fitted.ensemble_) == 1:
        assert lb["score"].iloc[0] == pytest.approx(fitted.best_score_)
    else:  # the ensemble is kept only when it validates better than the best single trial
        assert fitted.best_score_ > lb["score"].iloc[0]
        assert fitted.ensemble_["weight"].sum() == pytest.approx(1.0)
    assert {"started"} <= set(lb.columns)
    assert lb["score"].is_monotonic_decreasing  # roc_auc: best first
    assert (lb["seconds"] > 0).all()


def test_constant_empty_and_boolean_columns_are_handled(fitted):
    schema = fitted.encoder_.schema_
    assert schema["constant"] == "drop" and schema["empty"] == "drop"
    assert schema["flag"] == "boolean" and schema["when"] == "datetime"


@pytest.mark.parametrize("kind", ["pandas", "polars", "numpy", "pyarrow"])
def test_accepts_every_frame_kind(kind):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(200, 3))
    y = A[:, 0] * 2 + rng.normal(scale=0.1, size=200)
    X = {
        "pandas": pd.DataFrame(A, columns=list("abc")),
        "polars": pl.DataFrame(A, schema=list("abc")),
        "numpy": A,
        "pyarrow": pa.table({c: A[:, i] for i, c in enumerate("abc")}),
    }[kind]
    model = fast(max_trials=1).fit(X, y)
    assert model.task_ == "regression"
    assert model.predict(X).shape == (200,)
    assert hasattr(model, "feature_names_in_") == (kind != "numpy")


def test_target_given_as_column_name(mixed):
    X, y = mixed
    df = pl.from_pandas(X.assign(target=y))
    model = fast(max_trials=1).fit(df, "target")
    assert "target" not in model.feature_names_in_
    assert model.predict_proba(df.drop("target")).shape == (len(df), 2)
    # score accepts the column name too
    assert 0.5 < model.score(df, "target") <= 1


def test_multiclass_and_regression_defaults():
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y_mc = np.digitize(X["a"] + 0.3 * rng.normal(size=300), [-0.5, 0.5])
    mc = fast(max_trials=1).fit(X, y_mc)
    assert (mc.task_, mc.metric_) == ("multiclass", "log_loss")
    assert mc.predict_proba(X).shape == (300, 3)
    assert 0 < mc.best_score_ < np.log(3)  # better than the uniform prior
    reg = fast(max_trials=1).fit(X, X["a"] * 3.5 + 0.1)
    assert (reg.task_, reg.metric_) == ("regression", "rmse")
    assert not hasattr(reg, "predict_proba")


def test_task_inference_rule_and_override():
    assert infer_task(np.array([0, 1, 1, 0])) == "binary"
    assert infer_task(np.array(["a", "b", "c", "a"])) == "multiclass"
    assert infer_task(np.array([1.5, 2.25, 3.0, 4.0])) == "regression"
    assert infer_task(np.arange(100)) == "regression"  # whole numbers, too many distinct values
    assert infer_task(np.tile(np.arange(5), 20)) == "multiclass"
    assert infer_task(np.tile(np.arange(5), 20), "regression") == "regression"
    assert infer_task(np.array([0, 1, 2, 1]), "classification") == "multiclass"
    with pytest.raises(ValueError, match="single class"):
        infer_task(np.array([1, 1, 1]), "classification")
    with pytest.raises(ValueError, match="Unknown label type"):
        infer_task(np.array([0.5, 1.7]), "classification")


def test_metric_options(mixed):
    X, y = mixed
    acc = fast(metric="accuracy", max_trials=1).fit(X, y)
    assert acc.metric_ == "accuracy" and 0.5 < acc.best_score_ <= 1
    Xr = pd.DataFrame({"a": np.linspace(0, 1, 200)})
    yr = Xr["a"].to_numpy() * 10
    mae = fast(metric=mean_absolute_error, max_trials=1).fit(Xr, yr)
    assert mae.metric_ == "mean_absolute_error" and 0 <= mae.best_score_ < 2
    scorer = fast(metric=make_scorer(mean_absolute_error, greater_is_better=False), max_trials=1).fit(Xr, yr)
    # A scorer object reports in its function's units, with the direction of its own sign.
    assert scorer.metric_ == "mean_absolute_error" and not scorer.metric_greater_is_better_
    assert 0 <= scorer.best_score_ < 2
    with pytest.raises(ValueError, match="Unknown metric"):
        fast(metric="not_a_metric").fit(Xr, yr)


def test_reproducible_with_random_state(mixed):
    X, y = mixed
    a = fast(max_trials=3).fit(X, y)
    b = fast(max_trials=3).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.leaderboard_["params"].tolist() == b.leaderboard_["params"].tolist()


def test_time_budget_is_honoured():
    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(5000, 10)))
    y = X[0] + rng.normal(size=5000)
    X.columns = [f"c{i}" for i in range(10)]
    start = time.perf_counter()
    model = AutoPipeline(time_budget=4, random_state=0, verbose=0).fit(X, y)
    elapsed = time.perf_counter() - start
    # The contract: the budget plus 10%, with a few seconds' floor.
    assert elapsed < 4 + 4.0
    assert len(model.leaderboard_) >= 1


def test_joblib_round_trip_identical(tmp_path, fitted, mixed):
    X, _ = mixed
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))


def test_version_mismatch_warns(tmp_path, fitted):
    path = tmp_path / "model.joblib"
    old = clone(fitted)
    old.__dict__.update(fitted.__dict__)
    old.featsmith_version_ = "0.0.0"
    joblib.dump(old, path)
    with pytest.warns(UserWarning, match="saved with featsmith 0.0.0"):
        joblib.load(path)


def test_sklearn_composition(mixed):
    X, y = mixed
    X = X[["amount", "noise"]].fillna(0.0).to_numpy()
    y = (y == "yes").astype(int)
    pipe = make_pipeline(FunctionTransformer(), fast(task="binary", max_trials=1))
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(y),)
    scores = cross_val_score(fast(task="binary", max_trials=1), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.6)
    grid = GridSearchCV(fast(task="binary"), {"max_trials": [1, 2]}, cv=2).fit(X, y)
    assert grid.best_params_["max_trials"] in (1, 2)
    cloned = clone(fast(metric="roc_auc"))
    assert cloned.get_params()["metric"] == "roc_auc" and not hasattr(cloned, "model_")


def test_custom_cv_splitter(mixed):
    X, y = mixed
    model = fast(cv=KFold(3, shuffle=True, random_state=0), max_trials=1).fit(X, y)
    assert model.leaderboard_["status"].iloc[0] == "ok"
    splits = make_splits(np.zeros(30_000, dtype=int) + np.arange(30_000) % 2, "binary")
    assert len(splits) == 1 and len(splits[0][1]) == 6000  # holdout above 20k rows


def test_groups_keep_whole_groups_out_of_fold(mixed):
    X, y = mixed
    groups = np.arange(len(y)) // 6  # e.g. six rows per customer
    model = fast(max_trials=2).fit(X, y, groups=groups)
    assert model.validation_["scheme"] == "5-fold grouped" and model.validation_["order"] == "group"
    splits = make_splits((y == "yes").astype(int), "binary", groups=groups)
    for train, valid in splits:
        assert not set(groups[train]) & set(groups[valid])
    with pytest.raises(ValueError, match="one group label per row"):
        fast().fit(X, y, groups=groups[:-1])


def test_time_ordered_splits(mixed):
    from sklearn.model_selection import TimeSeriesSplit

    X, y = mixed
    model = fast(cv=TimeSeriesSplit(3), max_trials=3).fit(X, y)
    assert model.validation_["scheme"] == "3-fold" and model.validation_["order"] == "custom"
    assert model.leaderboard_["status"].iloc[0] == "ok"
    assert model.predict_proba(X).shape == (len(X), 2)


def test_transform_and_set_output(mixed, fitted):
    X, _ = mixed
    names = list(fitted.get_feature_names_out())
    matrix = fitted.transform(X.iloc[500:])
    assert matrix.shape == (100, len(names)) and matrix.dtype == np.float64
    out = fitted.set_output(transform="pandas").transform(X.iloc[500:])
    try:
        assert isinstance(out, pd.DataFrame) and list(out.columns) == names
        assert list(out.index) == list(X.index[500:])
        np.testing.assert_array_equal(out.to_numpy(), matrix)
        out_pl = fitted.set_output(transform="polars").transform(X.iloc[500:])
        assert isinstance(out_pl, pl.DataFrame) and out_pl.columns == names
    finally:
        fitted.set_output(transform="default")


def test_as_feature_step_in_a_pipeline(mixed):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = mixed
    # Fitted inside a Pipeline, AutoPipeline hands the next step its engineered features.
    pipe = make_pipeline(fast(feature_generation=False), HistGradientBoostingClassifier(max_iter=50, random_state=0))
    pipe.fit(X.iloc[:500], y[:500])
    assert pipe[-1].n_features_in_ == len(pipe[0].get_feature_names_out())
    auc = roc_auc_score(y[500:] == "yes", pipe.predict_proba(X.iloc[500:])[:, 1])
    assert auc > 0.65


def test_feature_screen_uses_the_encoded_columns(fitted):
    # The screen judges candidates next to the encoded columns: monotone copies of them
    # (log1p(amount), rank(amount), ...) are dropped before they are scored.
    screen = fitted.feature_screen_
    assert screen is not None and screen.n_candidates_ > 0
    table = screen.scores_.set_index("name")
    copies = table.index[table["status"] == "near_duplicate"]
    assert len(copies) > 0 and table.loc[copies, "score"].isna().any()
