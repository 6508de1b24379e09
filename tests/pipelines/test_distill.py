"""AutoPipeline.distill: the student keeps the pipeline's interface and survives joblib."""

import io
import logging

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.datasets import make_classification

from featsmith import AutoPipeline
from featsmith.pipelines._distill import spunge
from featsmith.pipelines._stages.validation import time_ordered_splits


@pytest.fixture(scope="module")
def fitted():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=0)
    X = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    X["city"] = np.array(["a", "b", "c"])[np.arange(300) % 3]
    X = pl.DataFrame(X)
    y = np.array(["lo", "mid", "hi"])[y]
    model = AutoPipeline(time_budget=6, max_trials=3, random_state=0, verbose=0, feature_generation=False)
    return model.fit(X, y), X, y


@pytest.mark.parametrize("student", ["lightgbm", "nas_head"])
def test_distilled_student_keeps_the_interface_and_round_trips(fitted, student):
    model, X, y = fitted
    small = model.distill(X, y, student=student, time_budget=3, random_state=0)
    assert list(small.classes_) == list(model.classes_)
    # The student's matrix: the columns it reads, in the pipeline's order.
    names = list(model.get_feature_names_out())
    reads = list(small.get_feature_names_out())
    assert reads and reads == [n for n in names if n in reads]
    proba = small.predict_proba(X)
    assert proba.shape == (300, 3) and np.allclose(proba.sum(axis=1), 1)
    assert np.mean(small.predict(X) == model.predict(X)) > 0.8
    info = small.distillation_
    assert info["student"] == student and info["n_augmented"] > 0
    assert info["validation"]["n_valid"] > 0 and "shuffled" in info["validation"]["split"]
    assert small.ensemble_["refit"].tolist() == ["distilled"] and model.ensemble_["refit"].iloc[0] != "distilled"
    buf = io.BytesIO()
    joblib.dump(small, buf)
    buf.seek(0)
    loaded = joblib.load(buf)
    np.testing.assert_allclose(loaded.predict_proba(X), proba)
    assert (loaded.predict(X) == small.predict(X)).all()


def test_distill_errors(fitted):
    model, X, y = fitted
    with pytest.raises(ValueError, match="student"):
        model.distill(X, y, student="catboost")
    with pytest.raises(ValueError, match="time_budget"):
        model.distill(X, y, time_budget=0)
    with pytest.raises(ValueError, match="not fitted on"):
        model.distill(X, np.where(y == "lo", "other", y))


def test_spunge_resamples_a_few_columns_of_real_rows():
    df = pl.DataFrame({"a": np.arange(100.0), "b": np.arange(100), "c": [str(i) for i in range(100)],
                       "d": np.ones(100), "e": np.zeros(100)})
    aug = spunge(df, 1000, np.random.default_rng(0), frac_perturb=0.4)
    assert aug.schema == df.schema
    base = df[np.arange(1000) % 100]
    changed = np.column_stack([(aug[c] != base[c]).to_numpy() for c in ["a", "b", "c"]]).sum(axis=1)
    assert changed.max() <= 2 and changed.mean() > 0.5  # 1 or 2 of 5 columns per row
    assert set(aug["c"].to_list()) <= set(df["c"].to_list())


def test_distill_validates_on_the_latest_period_of_a_time_ordered_plan():
    rng = np.random.default_rng(0)
    n = 240
    day = np.sort(rng.integers(0, 200, n))
    X = pl.DataFrame({"day": day, "x": rng.normal(size=n) + day / 100})
    y = X["x"].to_numpy() * 2 + rng.normal(size=n)
    # max_trials ends the fit early; the larger budget only keeps a loaded machine from
    # cutting the plan (a cut plan is the next test's case).
    model = AutoPipeline(time_budget=15, max_trials=2, cv="time", time_column="day", random_state=0, verbose=0,
                         feature_generation=False).fit(X, y)
    small = model.distill(X, y, time_budget=2, random_state=0)
    check = small.distillation_["validation"]
    assert "latest period" in check["split"] and "'day'" in check["split"]
    # The latest of the plan's own periods (5 folds cut the rows into 6), even when the fit cut
    # the plan to its first folds for time (CI's slower machine cut it to 2: a 2-fold rebuild
    # then validated a third of the rows).
    latest = time_ordered_splits(day, model.validation_["periods"] - 1)[-1][1]
    assert check["n_valid"] == len(latest) < n / 4 and np.isfinite(check["student_score"])


def test_distill_validates_on_the_latest_period_when_the_plan_was_cut_to_its_first_folds():
    from featsmith.pipelines._distill import validation_split

    day = np.repeat(np.arange(60), 4)
    record = {"scheme": "2-fold time-ordered", "order": "time", "column": "day", "periods": 6}
    pipeline = type("Fitted", (), {"validation_": record, "task_": "regression"})()
    (train, valid), how = validation_split(pipeline, pl.DataFrame({"day": day}), np.zeros(240), None, 0)
    assert "latest period" in how and len(valid) == 40 and day[valid].min() > day[train].max()


def test_fit_keeps_the_ensembles_out_of_fold_predictions_and_distill_learns_them(fitted):
    model, X, y = fitted
    oof = model.oof_predictions_
    assert oof.dtype == np.float32 and oof.shape == (300, 3)
    # Every row under k folds; only the validated rows when the machine was slow enough for the
    # fit to cut its plan (to a holdout, or to its first folds).
    have = np.isfinite(oof).all(axis=1)
    cut = "cut to" in model.validation_["reason"] or model.validation_["scheme"] == "holdout"
    assert 0 < have.sum() < 300 if cut else have.all()
    np.testing.assert_allclose(oof[have].sum(axis=1), 1, atol=1e-5)
    small = model.distill(X, y, time_budget=3, random_state=0)
    assert small.distillation_["n_out_of_fold"] == int(have.sum())
    assert small.oof_predictions_ is None  # the student does not carry the teacher's targets
    # Other rows than the fit's (here: half of them): the refitted ensemble labels them.
    half = model.distill(X[:150], y[:150], time_budget=2, random_state=0)
    assert half.distillation_["n_out_of_fold"] == 0


def test_lightgbm_student_is_chosen_by_fidelity_within_the_cost_limit(fitted):
    model, X, y = fitted
    small = model.distill(X, y, student="lightgbm", time_budget=4, random_state=0)
    info = small.distillation_
    tried = info["validation"]["candidates"]
    assert tried and tried == sorted(tried, key=lambda r: r["fidelity"])
    assert info["config"] == tried[0]["config"]
    assert all(r["rounds"] <= r["rounds_early_stopping"] for r in tried)


def test_max_predict_cost_bounds_the_student_and_none_lifts_it(fitted, caplog):
    model, X, y = fitted
    free = model.distill(X, y, time_budget=3, max_predict_cost=None, random_state=0)
    assert free.distillation_["rounds_cut_for_speed"] is False and free.distillation_["max_predict_cost"] is None
    with caplog.at_level(logging.INFO, logger="featsmith"):
        tight = model.distill(X, y, time_budget=3, max_predict_cost=1e-6, random_state=0)
    info = tight.distillation_
    assert info["rounds"] == 1  # the cheapest student: one round
    # Out of reach: the predicted share says so, and the user is told (warned when most rounds went).
    assert info["predict_cost"] > 1e-6 and "no student predicts in" in caplog.text
    assert ("cut the student to 1 of its" in caplog.text) == (info["rounds_trained"] >= 10)
    for bad in (0, -1, "fast", True):
        with pytest.raises(ValueError, match="max_predict_cost"):
            model.distill(X, y, max_predict_cost=bad)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_narrowed_booster_predicts_as_the_whole_one(task):
    from featsmith.pipelines._distill import _fit_lightgbm, _narrow

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 30))
    X[:, 1], X[:, 6] = rng.integers(0, 5, 1500), rng.integers(0, 30, 1500)  # categorical columns
    X[rng.random(X.shape) < 0.05] = np.nan
    signal = np.nan_to_num(X[:, 0]) + (X[:, 1] == 2) + (X[:, 6] % 3 == 0) + np.nan_to_num(X[:, 9])
    n_classes = {"binary": 2, "multiclass": 3, "regression": 0}[task]
    if task == "regression":
        target = signal
    else:
        edges = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
        codes = np.searchsorted(edges, signal)
        target = np.eye(n_classes)[codes] * 0.9 + 0.1 / n_classes
    member, rounds = _fit_lightgbm(X, target, task, n_classes, [1, 6], {"num_leaves": 7, "min_data_in_leaf": 100},
                                   np.inf, 0, 1, n_rounds=6)
    model = member.model
    booster = getattr(model, "booster", model)
    keep = np.flatnonzero(booster.feature_importance("split") > 0)
    assert 3 <= len(keep) < 30  # the test needs columns the trees never read
    narrow = _narrow(model, keep)
    fresh = rng.normal(size=(2000, 30))
    fresh[:, 1], fresh[:, 6] = rng.integers(-1, 7, 2000), rng.integers(0, 40, 2000)  # unseen categories too
    fresh[rng.random(fresh.shape) < 0.1] = np.nan
    assert np.array_equal(narrow.predict(fresh[:, keep]), model.predict(fresh))
    assert getattr(narrow, "booster", narrow).num_feature() == len(keep)
    with pytest.raises(ValueError, match="every column"):
        _narrow(model, keep[1:])


def _with_plan(model, X):
    """``model`` as if its fit had generated features: a copy with a plan of a few candidates
    after the raw columns (its ensemble still reads the raw columns only)."""
    import copy

    from featsmith.featurize import FeatureGenerator

    from featsmith.pipelines._trials import MemberOutput, WeightedModel

    plan = FeatureGenerator(max_candidates=40, random_state=0).fit(X).plan()
    out = copy.copy(model)
    out.feature_plan_ = plan
    raw = list(model.get_feature_names_out())
    out._feature_names = raw + plan.names
    out.model_ = WeightedModel([(w, MemberOutput(m.model, m.kind, m.task, m.n_classes, np.arange(len(raw))))
                                for w, m in model.model_.members], model.task_)
    return out


def test_student_computes_only_the_generated_features_it_splits_on(fitted):
    from featsmith.pipelines._distill import _fit_lightgbm, student_pipeline

    model, X, y = fitted
    model = _with_plan(model, X)
    F = model.transform(X)
    n_raw, width = len(model.encoder_.feature_names_out_), F.shape[1]
    # A student of every raw column and every other generated feature, as distill trains one.
    columns = np.concatenate([np.arange(n_raw), np.arange(n_raw, width, 2)])
    target = model.predict_proba(X)
    member, _ = _fit_lightgbm(F[:, columns], target, "multiclass", 3, list(model.encoder_.categorical_features_),
                              {"num_leaves": 7, "min_data_in_leaf": 20}, np.inf, 0, 1, n_rounds=8)
    small = student_pipeline(model, member, columns)
    split = columns[member.model.feature_importance("split") > 0]
    names = model.get_feature_names_out()
    generated = [names[c] for c in split if c >= n_raw]
    assert small.feature_plan_.names == generated and 0 < len(generated) < len(columns) - n_raw
    assert list(small.get_feature_names_out()) == [names[c] for c in split]
    assert small.encoder_.get_feature_names_out().tolist() == [names[c] for c in split if c < n_raw]
    # Identical to the student reading the whole matrix, and through joblib.
    proba = small.predict_proba(X)
    assert np.array_equal(proba, member.output(F[:, columns]))
    buf = io.BytesIO()
    joblib.dump(small, buf)
    buf.seek(0)
    assert np.array_equal(joblib.load(buf).predict_proba(X), proba)
    assert small.explain()["feature"].isin(small.get_feature_names_out()).all()
    # A student of generated features only encodes no raw column.
    generated_only = np.arange(n_raw, width)
    member, _ = _fit_lightgbm(F[:, generated_only], target, "multiclass", 3, [],
                              {"num_leaves": 7, "min_data_in_leaf": 20}, np.inf, 0, 1, n_rounds=4)
    small = student_pipeline(model, member, generated_only)
    assert small.encoder_.get_feature_names_out().tolist() == [] and len(small.feature_plan_) > 0
    assert np.array_equal(small.predict_proba(X.to_pandas()), member.output(F[:, generated_only]))


def test_distill_trains_on_the_columns_the_ensemble_reads(fitted):
    model, X, y = fitted
    model = _with_plan(model, X)  # generated features no member reads
    small = model.distill(X, y, time_budget=3, max_predict_cost=None, random_state=0)
    info = small.distillation_
    assert small.feature_plan_ is None and info["n_generated"] == 0 and info["teacher_generated"] > 0
    assert info["n_columns"] <= len(model.encoder_.feature_names_out_)
    assert small.predict_proba(X).shape == (300, 3)


def test_cost_limit_keeps_the_most_rounds_whose_features_and_model_fit():
    from featsmith.pipelines._distill import _CostLimit, _first_rounds, _fit_lightgbm

    rng = np.random.default_rng(0)
    X = rng.normal(size=(800, 12))
    y = X @ rng.normal(size=12)
    member, rounds = _fit_lightgbm(X, y, "regression", 0, [], {"num_leaves": 4, "min_data_in_leaf": 20}, np.inf, 0,
                                   1, n_rounds=40)
    first = _first_rounds(member.model)
    assert rounds == 40 and first.min() == 0 and len(np.unique(first)) > 2  # columns enter over the rounds

    class Clock(_CostLimit):
        """Deterministic costs: ``per_column`` a column read, 2 a call and 0.5 a round."""

        def __init__(self, share, per_column=1.0):
            self.share, self.columns, self.per_column = share, np.arange(12), per_column
            self.teacher_features, self.teacher_model = 30.0, 60.0

        def features_cost(self, used):
            return self.per_column * len(used)

        def model_costs(self, member, rounds):
            return 2.0 + 0.5 * np.arange(1, rounds + 1)

    def cost(r):
        return (first < r).sum() + 2.0 + 0.5 * r

    for share in (0.15, 0.2, 0.25):
        keep, cut, predicted = Clock(share).cut(member, rounds)
        best = max(r for r in range(1, rounds + 1) if cost(r) <= share * 90)
        assert keep == best < rounds and cut.model.current_iteration() == keep
        assert predicted == pytest.approx(cost(keep) / 90) and predicted <= share
    assert Clock(1.0).cut(member, rounds)[0] == rounds  # within the limit: every round
    # Out of reach (one round's features exceed it): the model gets the share of the ensemble's
    # model time, 0.2 * 60 = 12 s: 2 + 0.5 * 20.
    keep, _, predicted = Clock(0.2, per_column=100.0).cut(member, rounds)
    assert keep == 20 and predicted > 0.2


def test_predict_cost_model_is_a_function_of_the_fitted_objects(fitted):
    from featsmith.pipelines._distill import _CostLimit, _fit_lightgbm, _teacher_columns
    from featsmith.pipelines._predict_cost import predict_cost

    model, X, y = fitted
    model = _with_plan(model, X)
    cost = predict_cost(model)
    assert cost > 0 and predict_cost(model) == cost
    buf = io.BytesIO()
    joblib.dump(model, buf)
    buf.seek(0)
    assert predict_cost(joblib.load(buf)) == cost  # no clock: a copy of the objects costs the same
    # The limit's cut of a student too: the same rounds and share every time.
    F = model.transform(X)
    columns = _teacher_columns(model, F.shape[1])
    member, rounds = _fit_lightgbm(F[:, columns], model.predict_proba(X), "multiclass", 3, [],
                                   {"num_leaves": 15, "min_data_in_leaf": 10}, np.inf, 0, 1, n_rounds=60)
    cuts = [_CostLimit(model, 0.5, columns).cut(member, rounds) for _ in range(2)]
    assert cuts[0][0] == cuts[1][0] and cuts[0][2] == cuts[1][2] and 0 < cuts[0][2] <= 0.5


def test_cost_model_ranks_a_bigger_student_as_costlier(fitted):
    from featsmith.pipelines._distill import _CostLimit, _fit_lightgbm, student_pipeline
    from featsmith.pipelines._predict_cost import predict_cost

    model, X, y = fitted
    model = _with_plan(model, X)
    F = model.transform(X)
    columns = np.arange(F.shape[1])
    target = model.predict_proba(X)

    def student(leaves, rounds):
        member, _ = _fit_lightgbm(F, target, "multiclass", 3, [], {"num_leaves": leaves, "min_data_in_leaf": 5},
                                  np.inf, 0, 1, n_rounds=rounds)
        return member, student_pipeline(model, member, columns)

    small, small_pipe = student(4, 5)
    big, big_pipe = student(31, 80)
    assert predict_cost(small_pipe) < predict_cost(big_pipe)
    # Each round of a student costs more.
    costs = _CostLimit(model, 1.0, columns).model_costs(big, 80)
    assert len(costs) == 80 and (np.diff(costs) > 0).all()


def test_distill_with_the_default_cost_limit_reproduces_the_student(fitted):
    import copy

    model, X, y = fitted
    model = copy.copy(model)
    model.n_jobs = 1
    # A budget the runs finish well within (the clock would otherwise end the candidates' fits):
    # only the cost limit, modelled rather than timed, cuts the students.
    runs = [model.distill(X, y, time_budget=30, random_state=0) for _ in range(2)]
    for run in runs:
        assert not any(c["stopped_by_time"] for c in run.distillation_["validation"]["candidates"])
    first, second = (r.distillation_ for r in runs)
    assert first["max_predict_cost"] == pytest.approx(1 / 3)
    assert (first["rounds"], first["config"], first["predict_cost"]) == (
        second["rounds"], second["config"], second["predict_cost"])
    assert np.array_equal(runs[0].predict_proba(X), runs[1].predict_proba(X))


def test_student_targets_are_the_teachers_predictions_unsmoothed(fitted):
    """The real rows' targets are the fit's out-of-fold predictions as they are (smoothing them
    by 1% made the dev tasks' students worse), and the other rows' the refitted ensemble's."""
    from featsmith.pipelines._distill import _soft_targets, _stored_oof

    model, X, y = fitted
    oof = _stored_oof(model, np.searchsorted(model.classes_, y))
    target, out_of_fold = _soft_targets(model, X, oof)
    have = np.isfinite(oof).all(axis=1)
    np.testing.assert_array_equal(out_of_fold, have)
    np.testing.assert_array_equal(target[have], oof[have])
    if not have.all():  # rows the fit has no out-of-fold prediction for (a cut plan)
        np.testing.assert_array_equal(target[~have], model.predict_proba(X.filter(pl.Series(~have))))


def test_distill_labels_the_real_rows_once(fitted, monkeypatch):
    """The teacher labels the real rows without an out-of-fold prediction once for both phases
    (choosing the student on a split, training it on every row): with a slow teacher, labelling
    them in each phase took a third of the budget."""
    import featsmith.pipelines._distill as distill_module

    model, X, y = fitted
    calls = []
    original = distill_module._soft_targets
    monkeypatch.setattr(distill_module, "_soft_targets",
                        lambda pipeline, df, oof: calls.append(df.height) or original(pipeline, df, oof))
    small = model.distill(X[:150], y[:150], time_budget=2, random_state=0)  # rows without out-of-fold targets
    assert calls == [150]
    assert small.distillation_["validation"] is not None and small.distillation_["n_out_of_fold"] == 0


def test_distill_labels_the_synthetic_rows_once_and_chooses_on_those_of_its_training_rows(fitted, monkeypatch):
    """One set of synthetic rows, labelled by the teacher once: the choice trains on those made
    from its training rows (none from the held-out ones, which would leak them), the final
    student on all of them. Each phase labelling its own set took half of a slow teacher's budget."""
    import featsmith.pipelines._distill as distill_module

    model, X, y = fitted
    teacher_rows, fits = [], []
    original_teacher, original_fit = distill_module._teacher, distill_module._fit_lightgbm
    monkeypatch.setattr(distill_module, "_teacher",
                        lambda pipeline, df: teacher_rows.append(df.height) or original_teacher(pipeline, df))
    monkeypatch.setattr(distill_module, "_fit_lightgbm",
                        lambda F, *args, **kwargs: fits.append(len(F)) or original_fit(F, *args, **kwargs))
    small = model.distill(X, y, time_budget=30, random_state=0)
    d = small.distillation_
    # The real rows without an out-of-fold target (a holdout plan's training rows) once, then the
    # synthetic rows once.
    unlabelled = [len(y) - d["n_out_of_fold"]] if d["n_out_of_fold"] < len(y) else []
    assert teacher_rows == unlabelled + [d["n_augmented"]] and d["n_augmented"] > 0
    final = len(y) + d["n_augmented"]
    assert fits[-1] == final
    n_train = d["validation"]["n_train"]
    choice = fits[:-1]
    assert choice and all(n_train < n < final for n in choice)
    # The choice's synthetic rows are those made from its training rows: in proportion.
    expected = n_train + d["n_augmented"] * n_train / len(y)
    assert all(abs(n - expected) <= 0.05 * final for n in choice)


def test_distill_says_when_the_budget_ended_the_student(fitted, caplog):
    model, X, y = fitted
    with caplog.at_level(logging.WARNING, logger="featsmith"):
        small = model.distill(X, y, time_budget=0.05, random_state=0)  # past it before the student trains
    d = small.distillation_
    assert d["stopped_by_time"] and d["rounds_trained"] >= 1 and d["label_seconds"] > 0
    assert "time_budget=0.05 s ended the student" in caplog.text
    assert small.predict(X[:5]).shape == (5,)


def test_distill_without_synthetic_rows(fitted, monkeypatch):
    """A budget too short for the teacher to label one synthetic row: the student learns the real rows."""
    import featsmith.pipelines._distill as distill_module

    model, X, y = fitted
    monkeypatch.setattr(distill_module, "AUGMENT_FACTOR", 0)
    small = model.distill(X, y, time_budget=5, random_state=0)
    assert small.distillation_["n_augmented"] == 0
    assert small.predict_proba(X[:4]).shape == (4, 3)
