"""The final refit on a Dask cluster: LightGBM's Dask estimators, a plain booster back."""

import pickle

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score, root_mean_squared_error

distributed = pytest.importorskip("distributed", reason="the 'distributed' extra is not installed")
pytest.importorskip("dask.array", reason="the 'distributed' extra is not installed")

from featsmith.pipelines._dask import train_on_cluster  # noqa: E402

# As featsmith builds them for lgb.train (LGBMTrialRunner._params), with a known-good config.
PARAMS = {"verbosity": -1, "num_threads": 1, "seed": 3, "deterministic": True,
          "force_col_wise": True, "feature_pre_filter": False, "learning_rate": 0.05,
          "num_leaves": 31, "min_child_samples": 10, "colsample_bytree": 0.7, "subsample": 0.8,
          "subsample_freq": 1, "reg_lambda": 1.0, "min_sum_hessian_in_leaf": 0.1}
ROUNDS = 60


def _data(n, seed, task):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 4] = rng.integers(0, 12, n)  # categorical codes
    X[rng.random(n) < 0.1, 1] = np.nan
    signal = X[:, 0] + np.nan_to_num(X[:, 1]) + np.where(X[:, 4] % 3 == 0, 1.5, 0.0) + X[:, 2] * X[:, 3]
    if task == "regression":
        return X, signal + rng.normal(scale=0.5, size=n)
    noisy = signal + rng.normal(size=n)
    if task == "binary":
        return X, (noisy > 0.5).astype(float)
    return X, np.digitize(noisy, [-0.5, 1.0]).astype(float)


def _local(task, X, y):
    objective = {"objective": task, **({"num_class": 3} if task == "multiclass" else {})}
    train = lgb.Dataset(X, y, categorical_feature=[4],
                        params={"verbosity": -1, "feature_pre_filter": False})
    return lgb.train({**PARAMS, **objective}, train, num_boost_round=ROUNDS)


@pytest.fixture(scope="module")
def client():
    # Threads, not processes: LightGBM's network state is per thread, and a thread cluster
    # starts in a fraction of a second.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_cluster_model_scores_like_lgb_train(client, task):
    X, y = _data(8000, 0, task)
    X_test, y_test = _data(4000, 1, task)
    params = {**PARAMS, "objective": task, **({"num_class": 3} if task == "multiclass" else {})}
    booster = train_on_cluster(client, task, params, X, y, categorical=[4], n_rounds=ROUNDS)
    assert isinstance(booster, lgb.Booster) and booster.current_iteration() == ROUNDS
    ours, local = booster.predict(X_test), _local(task, X, y).predict(X_test)
    assert ours.shape == local.shape
    if task == "binary":
        # The workers find the bins on their own rows, so the trees differ a little.
        assert roc_auc_score(y_test, ours) == pytest.approx(roc_auc_score(y_test, local), abs=0.01)
    elif task == "regression":
        rmse, rmse_local = (root_mean_squared_error(y_test, p) for p in (ours, local))
        assert rmse <= 1.05 * rmse_local
    else:
        np.testing.assert_allclose(ours.sum(axis=1), 1.0)
        acc, acc_local = (accuracy_score(y_test, p.argmax(axis=1)) for p in (ours, local))
        assert acc >= acc_local - 0.02
    # A plain booster: it pickles, predicts the same after, and holds no cluster addresses.
    again = pickle.loads(pickle.dumps(booster))
    np.testing.assert_array_equal(again.predict(X_test), ours)
    assert "machines" not in booster.params and booster.params["num_threads"] == 1


def test_one_worker_gives_lgb_train_exactly():
    # One worker trains serially: the same trees as lgb.train, so every parameter (seed,
    # bagging, min_sum_hessian_in_leaf, categorical columns) reached LightGBM as featsmith
    # meant it.
    X, y = _data(3000, 2, "binary")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        booster = train_on_cluster(c, "binary", {**PARAMS, "objective": "binary"}, X, y,
                                   categorical=[4], n_rounds=ROUNDS)
    np.testing.assert_allclose(booster.predict(X), _local("binary", X, y).predict(X), rtol=1e-12)


def test_bad_arguments_are_named(client):
    X, y = _data(100, 0, "binary")
    with pytest.raises(TypeError, match="distributed.Client"):
        train_on_cluster("tcp://127.0.0.1:8786", "binary", PARAMS, X, y, [], 10)
    with pytest.raises(ValueError, match="task='ranking'"):
        train_on_cluster(client, "ranking", PARAMS, X, y, [], 10)
    with pytest.raises(ValueError, match="one row per target"):
        train_on_cluster(client, "binary", PARAMS, X, y[:50], [], 10)
    with pytest.raises(ValueError, match="n_rounds"):
        train_on_cluster(client, "binary", PARAMS, X, y, [], 0)


def test_the_same_rows_train_again_and_again(client):
    """The refit sends the same rows for the floor and then for each member; with hashed
    scatter keys the second call could find its data released by the first ("lost
    dependencies", seen in the full suite)."""
    import gc

    X, y = _data(600, 0, "binary")
    for _ in range(3):
        booster = train_on_cluster(client, "binary", {**PARAMS, "objective": "binary"}, X, y, [4], 5)
        del booster
        gc.collect()
    assert train_on_cluster(client, "binary", {**PARAMS, "objective": "binary"}, X, y, [4], 5).current_iteration() == 5
