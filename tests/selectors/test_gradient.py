import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from featsmith.selectors import GradientFeatureSelector
from selector_data import INFORMATIVE, make_recovery, recovery


# Skipped: check_array_api_input only (scikit-learn skips it unless SCIPY_ARRAY_API=1).
@parametrize_with_checks([GradientFeatureSelector(min_steps=40, max_epochs=2, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_automatic_cut_recovers_informative_features(recovery_data):
    # Documented settings: the defaults (open gates after training, gates_ >= 0.5).
    task, X, y = recovery_data
    sel = GradientFeatureSelector(random_state=0).fit(X, y)
    found, false = recovery(sel.get_support(indices=True))
    assert found >= 0.9, (task, sel.get_support(indices=True))
    assert false <= 0.1, (task, sel.get_support(indices=True))
    assert sel.loss_curve_[-1] < sel.loss_curve_[0]


def test_top_k_threshold_and_multiclass():
    X, y = make_recovery("classification", n=2500, n_classes=3)
    sel = GradientFeatureSelector(random_state=0).fit(X, y)
    found, false = recovery(sel.get_support(indices=True))
    assert found >= 0.9 and false <= 0.1, sel.get_support(indices=True)
    assert set(np.flatnonzero(sel.ranking_ <= 6)) == set(INFORMATIVE)
    assert sel.classes_.tolist() == [0, 1, 2]
    Xr, yr = make_recovery("regression", n=600)
    top2 = GradientFeatureSelector(k=2, threshold=0.5, hidden_units=(), random_state=0).fit(Xr, yr)
    assert top2.get_support().sum() == 2
    # The two largest linear effects.
    assert set(top2.get_support(indices=True)) == {0, 1}


def test_leaves_torch_global_state_alone():
    X, y = make_recovery("regression", n=300, p=6)
    old_threads = torch.get_num_threads()
    old_dtype = torch.get_default_dtype()
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float64)
    try:
        rng_state = torch.get_rng_state()
        sel = GradientFeatureSelector(min_steps=30, n_jobs=2, random_state=0).fit(X, y)
        assert torch.get_num_threads() == 1
        assert torch.get_default_dtype() == torch.float64
        assert torch.equal(torch.get_rng_state(), rng_state)
        assert sel.gates_.shape == (6,)
    finally:
        torch.set_default_dtype(old_dtype)
        torch.set_num_threads(old_threads)


def test_deterministic_under_random_state():
    X, y = make_recovery("regression", n=300, p=6)
    kw = dict(min_steps=60)
    a = GradientFeatureSelector(random_state=1, **kw).fit(X, y)
    b = GradientFeatureSelector(random_state=1, **kw).fit(X, y)
    c = GradientFeatureSelector(random_state=2, **kw).fit(X, y)
    np.testing.assert_array_equal(a.scores_, b.scores_)
    assert not np.array_equal(a.scores_, c.scores_)
    g1 = GradientFeatureSelector(random_state=np.random.default_rng(4), **kw).fit(X, y)
    g2 = GradientFeatureSelector(random_state=np.random.default_rng(4), **kw).fit(X, y)
    np.testing.assert_array_equal(g1.scores_, g2.scores_)


def test_missing_values_and_frames():
    X, y = make_recovery("regression", n=800, p=8)
    X[::5, 0] = np.nan
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(8)])
    sel = GradientFeatureSelector(k=3, random_state=0).fit(frame, y)
    assert "c0" in sel.get_feature_names_out()
    assert np.isfinite(sel.scores_).all()


@pytest.mark.parametrize(
    "kwargs, X, y, err, match",
    [
        ({"k": 4}, np.ones((20, 3)), np.arange(20.0), ValueError, "k=4 is larger"),
        ({}, np.ones((20, 3)), np.r_[np.arange(19.0), np.nan], ValueError, "missing"),
        ({}, np.ones((20, 3)), np.arange(21.0), ValueError, "X has 20 rows but y has 21 values"),
        ({"hidden_units": (0,)}, np.ones((20, 3)), np.arange(20.0), ValueError, "hidden_units"),
        ({"penalty": -1}, np.ones((20, 3)), np.arange(20.0), ValueError, "penalty"),
    ],
)
def test_clear_errors(kwargs, X, y, err, match):
    with pytest.raises(err, match=match):
        GradientFeatureSelector(**kwargs).fit(X, y)


def test_real_data_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    sel = GradientFeatureSelector(k=8, random_state=0).fit(X_tr, y_tr)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    proba = model.fit(sel.transform(X_tr), y_tr).predict_proba(sel.transform(X_te))[:, 1]
    assert roc_auc_score(y_te, proba) >= 0.97
