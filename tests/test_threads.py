import lightgbm as lgb
import numpy as np

from featsmith._threads import CELLS_PER_THREAD, fit_threads
from featsmith.selectors._importance import fit_booster


def test_one_thread_for_small_data_more_as_it_grows():
    assert fit_threads(8, 1_000, 50) == 1
    assert fit_threads(8, CELLS_PER_THREAD // 10 * 3, 10) == 3
    assert fit_threads(8, 10**8, 100) == 8  # capped by what the caller allows
    assert fit_threads(1, 10**8, 100) == 1


def test_zero_or_negative_threads_mean_every_core(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 6)
    assert fit_threads(0, 10**8, 100) == 6
    assert fit_threads(-1, 10**8, 100) == 6
    assert fit_threads(0, 10, 10) == 1


def test_selector_fits_take_one_thread_on_small_data(monkeypatch):
    seen = []
    original = lgb.train
    monkeypatch.setattr(lgb, "train", lambda params, *a, **k: seen.append(params["num_threads"]) or original(
        params, *a, **k))
    X = np.random.default_rng(0).normal(size=(200, 4))
    fit_booster(X, X[:, 0], {"objective": "regression", "verbosity": -1, "num_threads": 2}, 2)
    assert seen == [1]
