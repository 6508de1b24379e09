import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from featsmith._types import ArrayCandidateSource, CandidateSource
from featsmith.selectors import HalvingScreen
from featsmith.selectors._losses import kind_of, row_loss
from selector_data import recovery

TRUE = [0, 1, 2, 3, 4, 5]


def make_screen_data(task="regression", n=6000, n_noise=300, seed=0):
    """Base features explain part of y; six of the candidates add to it (linear, |x|, step,
    sigmoid, square, a missing-value signal), the rest are noise; three more columns copy
    true candidates (exact, monotone transform, near-copy)."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, 3))
    C = rng.normal(size=(n, n_noise))
    C[rng.random(n) < 0.3, 5] = np.nan
    f = (B[:, 0] - B[:, 1] + 0.6 * C[:, 0] + 0.6 * np.abs(C[:, 1]) + 0.6 * (C[:, 2] > 0.5)
         + np.tanh(2 * C[:, 3]) * 0.6 + 0.3 * C[:, 4] ** 2 + 0.6 * np.isnan(C[:, 5]))
    dups = np.column_stack([C[:, 0], np.exp(C[:, 1]), C[:, 2] + 1e-4 * rng.normal(size=n)])
    C = np.column_stack([C, dups]).astype(np.float32)
    noise = rng.normal(size=n)
    if task == "regression":
        y = f + 0.5 * noise
    elif task == "binary":
        y = (f + 0.5 * noise > np.median(f)).astype(int)
    else:
        z = f + 0.5 * noise
        y = np.digitize(z, np.quantile(z, [1 / 3, 2 / 3]))
    return B, C, y


def make_pure_noise_data(n=5000, seed=3):
    """Base columns explain y; none of the 200 candidates carries signal."""
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, 3))
    y = B[:, 0] - B[:, 1] + 0.5 * rng.normal(size=n)
    return B, rng.normal(size=(n, 200)), y


@pytest.mark.parametrize("task, n", [("regression", 6000), ("binary", 10000)])
def test_recovers_informative_candidates_on_top_of_base(task, n):
    # Documented settings: defaults (the significance test z_threshold=2), n_keep larger than
    # the number of true candidates.
    B, C, y = make_screen_data(task, n=n)
    screen = HalvingScreen(n_keep=20, z_threshold=2.0, random_state=0).fit(C, y, base=B)
    picked = [int(s[1:]) for s in screen.selected_names_]
    # A copy of a true candidate counts as that candidate.
    canonical = [{300: 0, 301: 1, 302: 2}.get(i, i) for i in picked]
    assert len(set(canonical)) == len(canonical), picked  # duplicates were dropped
    found, false = recovery(canonical, TRUE)
    assert found >= 0.9 and false <= 0.1, picked
    status = screen.scores_.set_index("name")["status"]
    assert status["f300"] == "duplicate"  # exact copy of f0 (f0 comes first)
    assert {status["f1"], status["f301"]} == {"selected", "near_duplicate"}
    assert {status["f2"], status["f302"]} == {"selected", "near_duplicate"}
    assert len(screen.scores_) == screen.n_candidates_ == C.shape[1]
    assert screen.scores_.columns.tolist() == ["name", "score", "round", "n_rows", "se", "status"]
    assert set(status) <= {"selected", "no_gain", "halved", "duplicate", "near_duplicate",
                           "not_in_top"}


def test_parameters_are_stage_one_only():
    assert sorted(HalvingScreen().get_params()) == sorted([
        "n_keep", "init_rows", "min_gain", "z_threshold", "dedup_threshold", "n_bins",
        "reg_lambda", "n_newton_steps", "max_rows", "cv", "base_estimators", "task",
        "random_state", "n_jobs", "recalibrate"])


@pytest.mark.parametrize("task, n", [("regression", 6000), ("binary", 10000)])
def test_positive_gain_rule_keeps_true_candidates_first(task, n):
    # z_threshold=0 (OpenFE's rule) keeps every finalist with positive held-out gain, up to
    # n_keep: all true candidates, ranked before the noise that got in.
    B, C, y = make_screen_data(task, n=n)
    screen = HalvingScreen(n_keep=20, z_threshold=0.0, random_state=0).fit(C, y, base=B)
    canonical = [{300: 0, 301: 1, 302: 2}.get(int(s[1:]), int(s[1:]))
                 for s in screen.selected_names_]
    assert set(canonical[:len(TRUE)]) == set(TRUE), canonical
    assert len(canonical) <= 20
    table = screen.scores_.set_index("name")
    assert (table.loc[screen.selected_names_, "score"] > 0).all()
    strict = HalvingScreen(n_keep=20, z_threshold=2.0, random_state=0).fit(C, y, base=B)
    assert set(strict.selected_names_) <= set(screen.selected_names_)


def test_multiclass_and_init_score():
    B, C, y = make_screen_data("multiclass", n=6000, n_noise=60)
    screen = HalvingScreen(n_keep=10, base_estimators=50, random_state=0).fit(C, y, base=B)
    picked = {int(s[1:]) for s in screen.selected_names_}
    copies = {60, 61, 62}  # of candidates 0, 1, 2 (see make_screen_data)
    assert len(picked & (set(TRUE) | copies)) >= 5 and len(picked - set(TRUE) - copies) <= 1
    # init_score given directly (out-of-fold scores from a first fit) reproduces stage I.
    first = HalvingScreen(n_keep=10, base_estimators=50, random_state=0).fit(C, y, base=B)
    again = HalvingScreen(n_keep=10, random_state=0).fit(C, y, init_score=first.init_score_)
    assert again.selected_names_ == first.selected_names_


def test_successive_halving_schedule_and_lazy_source():
    B, C, y = make_screen_data(n=8000, n_noise=400)

    class Recording(ArrayCandidateSource):
        calls = []

        def evaluate(self, names, rows=None):
            self.calls.append((len(names), self.n_rows if rows is None else len(rows)))
            return super().evaluate(names, rows)

    src = Recording(C)
    assert isinstance(src, CandidateSource)
    screen = HalvingScreen(n_keep=10, init_rows=500, random_state=0).fit(src, y, base=B)
    rounds = screen.rounds_
    # Round 0 sees every candidate but the exact copy f300 of f0.
    assert rounds[0]["candidates"] == C.shape[1] - 1 and rounds[0]["rows"] == 500
    # The halving stops at the finalists' number, 2 * n_keep.
    for a, b in zip(rounds, rounds[1:]):
        assert b["rows"] == min(2 * a["rows"], 8000)
        assert b["candidates"] <= max(20, -(-a["candidates"] // 2))
    assert rounds[-1]["rows"] == 8000 and rounds[-1]["candidates"] <= 20
    assert len(rounds) >= 3
    # Every request is about one round's work; the full candidates x rows matrix (16x more
    # here) is never asked for.
    assert max(c * r for c, r in Recording.calls) <= 1.1 * C.shape[1] * 500
    capped = HalvingScreen(n_keep=10, init_rows=500, max_rows=3000, random_state=0).fit(
        C, y, base=B)
    assert [r["rows"] for r in capped.rounds_][:3] == [500, 1000, 2000]
    assert capped.rounds_[-1]["rows"] == 3000 and capped.rounds_[-1]["candidates"] <= 20


def test_no_leakage_base_scores_are_out_of_fold():
    rng = np.random.default_rng(1)
    n = 2000
    B = rng.normal(size=(n, 10))  # pure noise: no honest model can predict y from it
    y = rng.normal(size=n)
    C = rng.normal(size=(n, 30))
    screen = HalvingScreen(n_keep=5, base_estimators=100, random_state=0).fit(C, y, base=B)
    assert abs(np.corrcoef(screen.init_score_, y)[0, 1]) < 0.1
    # In-sample predictions of the same kind of model would be strongly correlated with y
    # (so the check above can fail).
    import lightgbm as lgb

    insample = lgb.train({"verbosity": -1, "num_threads": 1}, lgb.Dataset(B, y), 100).predict(B)
    assert np.corrcoef(insample, y)[0, 1] > 0.5
    # Candidates are credited on held-out rows only: fine bins overfit in-sample, not here.
    fine = HalvingScreen(n_keep=5, n_bins=128, random_state=0).fit(C, y, init_score=screen.init_score_)
    assert fine.scores_["score"].mean() < 0
    assert fine.selected_names_ == [] or len(fine.selected_names_) <= 1


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
def test_miscalibrated_base_scores_do_not_credit_noise(task):
    # Base scores biased in the large: a per-bin correction along any noise column removes
    # the bias and so "gains"; recalibrating the base scores first takes that gain away.
    rng = np.random.default_rng(3)
    n = 6000
    x = rng.normal(size=n)
    C = rng.normal(size=(n, 200))
    if task == "regression":
        y, init = x + rng.normal(size=n), x + 0.5
    elif task == "binary":
        y = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x))).astype(int)
        init = 1.5 * x + 1.0
    else:
        logits = np.column_stack([1.5 * x, -1.5 * x, np.zeros(n)])
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
        init = logits + np.array([1.0, 0.0, -1.0])
    if task != "multiclass":  # (multiclass single-step noise corrections overshoot anyway)
        raw = HalvingScreen(n_keep=10, random_state=0, recalibrate=False).fit(
            C, y, init_score=init)
        assert len(raw.selected_names_) >= 5  # the failure this guards against
    screen = HalvingScreen(n_keep=10, random_state=0).fit(C, y, init_score=init)
    assert len(screen.selected_names_) <= 1, screen.selected_names_
    # The recalibrated scores are what candidates were judged against, and they fit better.
    kind = kind_of("regression" if task == "regression" else "classification",
                   3 if task == "multiclass" else 2)
    before = row_loss(kind, y, init.T if init.ndim == 2 else init).mean()
    after = row_loss(kind, y, screen.init_score_.T if init.ndim == 2 else screen.init_score_)
    assert after.mean() < before


def test_deterministic_under_random_state():
    B, C, y = make_screen_data(n=3000, n_noise=100)
    a = HalvingScreen(n_keep=5, random_state=3).fit(C, y, base=B)
    b = HalvingScreen(n_keep=5, random_state=3).fit(C, y, base=B)
    pd.testing.assert_frame_equal(a.scores_, b.scores_)
    g1 = HalvingScreen(n_keep=5, random_state=np.random.default_rng(2)).fit(C, y)
    g2 = HalvingScreen(n_keep=5, random_state=np.random.default_rng(2)).fit(C, y)
    pd.testing.assert_frame_equal(g1.scores_, g2.scores_)


def test_frames_transform_and_names():
    B, C, y = make_screen_data(n=3000, n_noise=20)
    frame = pd.DataFrame(C, columns=[f"cand_{i}" for i in range(C.shape[1])])
    base = pd.DataFrame({"b0": B[:, 0], "b1": B[:, 1], "shop": np.where(B[:, 2] > 0, "a", "b")})
    screen = HalvingScreen(n_keep=4, random_state=0).fit(frame, y, base=base)
    names = screen.get_feature_names_out()
    assert list(names) == screen.selected_names_ and "cand_0" in names
    out = screen.transform(frame)
    assert out.shape == (3000, len(names)) and out.dtype == np.float32
    with pytest.raises(ValueError, match="lacks the selected"):
        screen.transform(frame.drop(columns=["cand_0"]))


@pytest.mark.parametrize(
    "fit_kwargs, y, match",
    [
        # (both lengths named, in whichever order the shared target check words it)
        ({}, np.arange(99.0), "(?=.*100 rows)(?=.*99 values)"),
        ({}, np.r_[np.arange(99.0), np.nan], "missing"),
        ({"base": np.ones((100, 2)), "categorical_features": [2]}, np.arange(100.0), "must index base"),
        ({"init_score": np.zeros(50)}, np.arange(100.0), "init_score has shape"),
        ({"base": np.ones((90, 2))}, np.arange(100.0), "base has 90 rows"),
    ],
)
def test_clear_errors(fit_kwargs, y, match):
    C = np.random.default_rng(0).normal(size=(100, 5))
    with pytest.raises(ValueError, match=match):
        HalvingScreen().fit(C, y, **fit_kwargs)


def test_type_errors():
    y = np.arange(10.0)
    with pytest.raises(TypeError, match="numeric"):
        HalvingScreen().fit(pd.DataFrame({"a": list("abcdefghij")}), y)
    with pytest.raises(TypeError, match="CandidateSource"):
        HalvingScreen().fit("not a table", y)
    with pytest.raises(ValueError, match="n_keep"):
        HalvingScreen(n_keep=0).fit(np.ones((10, 2)), y)


def test_real_data_breast_cancer():
    """Base: radius, texture and perimeter; candidates: the other 27 columns and the pairwise
    products of all ten 'mean' measurements. The selection must improve a held-out model."""
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    base_tr, base_te = X_tr[:, :3], X_te[:, :3]
    i, j = np.triu_indices(10, 1)

    def candidates(Xp):
        return np.column_stack([Xp[:, 3:], Xp[:, i] * Xp[:, j]])

    screen = HalvingScreen(n_keep=5, random_state=0).fit(candidates(X_tr), y_tr, base=base_tr)
    idx = [int(s[1:]) for s in screen.selected_names_]
    assert 2 <= len(idx) <= 5
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    loss_base = log_loss(y_te, model.fit(base_tr, y_tr).predict_proba(base_te))
    aug_tr = np.column_stack([base_tr, candidates(X_tr)[:, idx]])
    aug_te = np.column_stack([base_te, candidates(X_te)[:, idx]])
    loss_sel = log_loss(y_te, model.fit(aug_tr, y_tr).predict_proba(aug_te))
    assert loss_sel < loss_base


def test_copies_of_base_columns_are_not_selected():
    # A one-tree base model under-fits B0, so exp(B0) and the rank of B0 would gain on top of
    # it; they are still the same feature to a tree as the base column B0 itself, and are
    # dropped before round 0 scores anything (they would fill the finalists otherwise).
    rng = np.random.default_rng(0)
    n = 4000
    B = rng.normal(size=(n, 2))
    C = np.column_stack([np.exp(B[:, 0]), np.argsort(np.argsort(B[:, 0])), rng.normal(size=n)])
    y = 2 * B[:, 0] + 0.3 * rng.normal(size=n)
    screen = HalvingScreen(n_keep=3, base_estimators=1, random_state=0).fit(C, y, base=B)
    status = screen.scores_.set_index("name")
    assert set(status.loc[["f0", "f1"], "status"]) == {"near_duplicate"}
    assert status.loc[["f0", "f1"], "score"].isna().all() and (status.loc[["f0", "f1"], "round"] == -1).all()
    assert screen.selected_names_ == []
    # Without base columns they are ordinary candidates, and they gain over a weak base.
    weak = 2 * np.round(B[:, 0])
    alone = HalvingScreen(n_keep=3, random_state=0).fit(C, y, init_score=weak)
    table = alone.scores_.set_index("name")
    assert (table.loc[["f0", "f1"], "score"] > 0.05).all()


def test_init_score_with_base_columns():
    # init_score and base together (as a pipeline with its own out-of-fold baseline passes
    # them): the scores are used as given (no base model is fitted), and an array column of
    # category codes is accepted as a categorical.
    B, C, y = make_screen_data(n=4000, n_noise=60)
    first = HalvingScreen(n_keep=10, random_state=0).fit(C, y, base=B)
    codes = (B[:, 2] > 0).astype(float)
    again = HalvingScreen(n_keep=10, random_state=0).fit(
        C, y, base=np.column_stack([B[:, :2], codes]), init_score=first.init_score_,
        categorical_features=[2])
    # (recalibrating scores that are calibrated already leaves them as they are)
    np.testing.assert_allclose(again.init_score_, first.init_score_, rtol=1e-9, atol=1e-9)
    canonical = {{300: 0, 301: 1, 302: 2}.get(int(a[1:]), int(a[1:])) for a in again.selected_names_}
    assert len(canonical & set(TRUE)) >= 5, again.selected_names_


def test_pure_noise_candidates_are_kept_out():
    B, C, y = make_pure_noise_data()
    screen = HalvingScreen(n_keep=20, random_state=0).fit(C, y, base=B)
    assert len(screen.selected_names_) <= 1, screen.selected_names_


def test_passes_beyond_n_keep_are_not_in_top():
    # Three candidates pass the test; n_keep=2 keeps the two best scored, the third is marked.
    rng = np.random.default_rng(0)
    n = 3000
    B, C = rng.normal(size=(n, 2)), rng.normal(size=(n, 30))
    y = B[:, 0] + C[:, 0] + C[:, 1] + C[:, 2] + 0.5 * rng.normal(size=n)
    screen = HalvingScreen(n_keep=2, random_state=0).fit(C, y, base=B)
    table = screen.scores_.set_index("name")
    assert sorted(table.index[table["status"] == "selected"]) == sorted(screen.selected_names_)
    (extra,) = table.index[table["status"] == "not_in_top"]
    assert extra in {"f0", "f1", "f2"} and len(screen.selected_names_) == 2
    assert (table.loc[screen.selected_names_, "score"] > table.loc[extra, "score"]).all()


def test_tiny_table_whose_random_halves_leave_one_side_empty():
    # Found by the AutoPipeline property tests (tests/pipelines/test_auto_properties.py): on 3
    # rows, seed 6 puts every row in one cross-fitting half, and binning the empty half raised
    # IndexError. No row is then held out, so no candidate is credited with gain.
    X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    screen = HalvingScreen(n_keep=1, random_state=6).fit(X, np.array([0.0, 1.0, 3.0]), init_score=np.zeros(3))
    assert len(screen.selected_names_) <= 1
