import numpy as np
import pandas as pd
import pytest

from featsmith import AutoPipeline
from featsmith.pipelines._ensemble import greedy_ensemble


def _three_models():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    noise = rng.normal(size=(3, 400))
    # Model 0 is best alone; model 2 (expensive) complements it best, model 1 (cheap) less so.
    preds = [y + noise[0], y + 1.2 * noise[1], y - 0.9 * noise[0] + 1.1 * noise[2]]
    return y, preds


def test_cost_limit_excludes_expensive_members():
    y, preds = _three_models()

    def score(p):
        return -np.mean((p - y) ** 2)

    free_w, free_s = greedy_ensemble(preds, score)
    assert free_w[2] > 0
    capped_w, capped_s = greedy_ensemble(preds, score, costs=[1.0, 0.5, 5.0], max_cost=2.0)
    assert capped_w[2] == 0 and capped_w[0] > 0
    assert capped_s <= free_s
    assert capped_s >= score(preds[0])  # never worse than the best single model
    assert capped_w.sum() == pytest.approx(1.0)


def test_best_model_is_kept_even_over_the_limit():
    y, preds = _three_models()
    w, _ = greedy_ensemble(preds, lambda p: -np.mean((p - y) ** 2), costs=[10.0, 1.0, 1.0], max_cost=1.0)
    assert w.tolist() == [1.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(600, 6)), columns=[f"x{i}" for i in range(6)])
    # A linear part and a wiggle: a linear model and boosted trees complement each other.
    y = X.sum(axis=1) + np.sin(3 * X["x0"]) + 0.3 * rng.normal(size=600)
    return X, y


def test_pipeline_respects_predict_cost_limit(regression_data):
    X, y = regression_data
    # A budget generous enough that no stage is cut for time (below the 120 s that adds the NAS head):
    # max_trials fixes the work, so both fits run the same trials.
    # LightGBM alone (portfolio=False): the limit is a multiple of the best LightGBM trial's cost,
    # and a cheaper best member of another family (CatBoost's symmetric trees) leaves room beside it.
    params = dict(time_budget=110, max_trials=7, random_state=0, n_jobs=1, verbose=0, feature_generation=False,
                  portfolio=False)
    free = AutoPipeline(max_predict_cost=None, **params).fit(X, y)
    capped = AutoPipeline(max_predict_cost=1.0, **params).fit(X, y)
    # The same trials ran; only the ensemble differs.
    assert free.leaderboard_["params"].tolist() == capped.leaderboard_["params"].tolist()
    assert len(free.ensemble_) > 1
    # At 1x the best booster's cost nothing else fits beside it (every family costs > 0).
    assert len(capped.ensemble_) == 1
    assert set(capped.ensemble_.columns) >= {"trial", "model", "weight", "refit"}
    assert capped.best_score_ >= free.best_score_  # RMSE: the free ensemble validates at least as well


@pytest.mark.parametrize("bad", [0.5, -1, "fast"])
def test_bad_predict_cost_limit(regression_data, bad):
    X, y = regression_data
    with pytest.raises(ValueError, match="max_predict_cost"):
        AutoPipeline(max_predict_cost=bad, max_trials=1, verbose=0).fit(X, y)
