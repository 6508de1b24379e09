import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from featsmith.selectors import GBDTSelector
from selector_data import INFORMATIVE, make_recovery, recovery


# Skipped: check_array_api_input only (scikit-learn skips it unless SCIPY_ARRAY_API=1).
@parametrize_with_checks([GBDTSelector(n_estimators=20, n_null_runs=2, random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("importance_type", ["gain", "permutation"])
def test_automatic_cut_recovers_informative_features(recovery_data, importance_type):
    # Documented settings: the defaults (automatic cut: null importances / permutation z-test).
    task, X, y = recovery_data
    sel = GBDTSelector(importance_type=importance_type, random_state=0).fit(X, y)
    found, false = recovery(sel.get_support(indices=True))
    assert found >= 0.9, (task, importance_type, sel.get_support(indices=True))
    assert false <= 0.1, (task, importance_type, sel.get_support(indices=True))


def test_top_k_and_threshold():
    X, y = make_recovery("regression")
    sel = GBDTSelector(k=6, random_state=0).fit(X, y)
    assert set(sel.get_support(indices=True)) == set(INFORMATIVE)
    split = GBDTSelector(k=6, importance_type="split", random_state=0).fit(X, y)
    assert set(split.get_support(indices=True)) == set(INFORMATIVE)
    assert sel.transform(X).shape == (X.shape[0], 6)
    assert sel.ranking_.min() == 1 and sorted(sel.ranking_) == list(range(1, X.shape[1] + 1))
    assert np.isclose(sel.feature_importances_.sum(), 1.0)

    thr = GBDTSelector(threshold=0.05, random_state=0).fit(X, y)
    assert (thr.feature_importances_[thr.get_support()] >= 0.05).all()
    assert (thr.feature_importances_[~thr.get_support()] < 0.05).all()

    both = GBDTSelector(k=2, threshold=0.05, random_state=0).fit(X, y)
    assert both.get_support().sum() == 2
    assert set(both.get_support(indices=True)) <= set(thr.get_support(indices=True))


def test_null_pvalues_separate_signal_from_noise():
    X, y = make_recovery("regression")
    sel = GBDTSelector(k=10, compute_null=True, n_null_runs=4, n_estimators=50,
                       random_state=0).fit(X, y)
    assert sel.null_importances_.shape == (4, X.shape[1])
    # Informative features beat every shadow; noise features look like shadows.
    assert (sel.null_pvalues_[INFORMATIVE] == 1.0 / (1 + sel.null_importances_.size)).all()
    assert (sel.null_hits_[INFORMATIVE] == 4).all()
    assert np.median(sel.null_pvalues_[6:]) > 0.2


def test_multiclass_top_k():
    X, y = make_recovery("classification", n=1500, n_classes=3)
    sel = GBDTSelector(k=6, n_estimators=50, random_state=0).fit(X, y)
    assert set(sel.get_support(indices=True)) == set(INFORMATIVE)
    assert sel.classes_.tolist() == [0, 1, 2]


def test_deterministic_under_random_state():
    X, y = make_recovery("regression", n=400, p=8)
    a = GBDTSelector(importance_type="permutation", n_estimators=30, random_state=3).fit(X, y)
    b = GBDTSelector(importance_type="permutation", n_estimators=30, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.importances_, b.importances_)
    kw = dict(n_estimators=30, n_null_runs=2)
    c = GBDTSelector(random_state=np.random.default_rng(5), **kw).fit(X, y)
    d = GBDTSelector(random_state=np.random.default_rng(5), **kw).fit(X, y)
    np.testing.assert_array_equal(c.null_importances_, d.null_importances_)
    e = GBDTSelector(random_state=6, **kw).fit(X, y)
    assert not np.array_equal(c.null_importances_, e.null_importances_)


def test_frames_keep_names():
    X, y = make_recovery("regression", n=500, p=8)
    cols = [f"c{i}" for i in range(8)]
    for frame in (pd.DataFrame(X, columns=cols), pl.DataFrame(X, schema=cols)):
        sel = GBDTSelector(k=3, random_state=0).fit(frame, y)
        names = sel.get_feature_names_out()
        assert set(names) == {"c0", "c1", "c2"} or len(names) == 3
        assert list(names) == [cols[i] for i in sel.get_support(indices=True)]
    out = GBDTSelector(k=3, random_state=0).set_output(transform="pandas").fit(
        pd.DataFrame(X, columns=cols), y).transform(pd.DataFrame(X, columns=cols))
    assert isinstance(out, pd.DataFrame) and out.shape == (500, 3)


def test_missing_values_in_X_are_allowed():
    X, y = make_recovery("regression", n=800, p=10)
    X[::7, 0] = np.nan
    sel = GBDTSelector(k=3, random_state=0).fit(X, y)
    assert 0 in sel.get_support(indices=True)


@pytest.mark.parametrize(
    "kwargs, X, y, err, match",
    [
        ({"k": 11}, np.ones((20, 10)), np.arange(20.0), ValueError, "k=11 is larger"),
        ({}, np.ones((20, 3)), np.r_[np.arange(19.0), np.nan], ValueError, "missing"),
        ({}, np.ones((20, 3)), np.arange(19.0), ValueError, "X has 20 rows but y has 19 values"),
        ({}, pd.DataFrame({"a": ["x", "y"] * 5, "b": range(10)}), np.arange(10.0), TypeError, "'a'"),
        ({"importance_type": "cover"}, np.ones((20, 3)), np.arange(20.0), ValueError, "importance_type"),
        ({}, np.ones((20, 3)), np.zeros(20, dtype=int), ValueError, "single class"),
    ],
)
def test_clear_errors(kwargs, X, y, err, match):
    with pytest.raises(err, match=match):
        GBDTSelector(**kwargs).fit(X, y)


def test_real_data_classification_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    sel = GBDTSelector(random_state=0).fit(X_tr, y_tr)
    kept = sel.get_support().sum()
    assert 2 <= kept < X.shape[1]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    auc_sel = roc_auc_score(y_te, model.fit(sel.transform(X_tr), y_tr).predict_proba(sel.transform(X_te))[:, 1])
    # As many columns picked at random (averaged over draws) do worse than the selection.
    rng = np.random.default_rng(0)
    aucs = []
    for _ in range(5):
        cols = rng.choice(X.shape[1], size=kept, replace=False)
        aucs.append(roc_auc_score(y_te, model.fit(X_tr[:, cols], y_tr).predict_proba(X_te[:, cols])[:, 1]))
    assert auc_sel >= 0.97
    assert auc_sel >= np.mean(aucs)


def test_real_data_regression_diabetes():
    X, y = load_diabetes(return_X_y=True)
    sel = GBDTSelector(k=4, random_state=0).fit(X, y)
    # bmi (2) and s5 (8) are the two strongest predictors of disease progression.
    assert {2, 8} <= set(sel.get_support(indices=True))
