import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
from types import SimpleNamespace

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score, mean_absolute_error, roc_auc_score

import featsmith
from featsmith.cli import _Console, _greater_is_better, _relational_inputs, build_parser, main
from featsmith.tuners import Experiment

# Tiny searches keep every fit to a few seconds on a busy machine.
FAST = ["--time-budget", "5", "--max-trials", "1", "--n-jobs", "1", "--random-state", "0"]


def _binary_frame(n, seed):
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    logit = 2.5 * x1 + 2.0 * (colour == "red") - 1.0
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pl.DataFrame({
        "row_id": np.arange(seed * 10_000, seed * 10_000 + n),
        "x1": x1,
        "x2": rng.normal(size=n),
        "colour": colour,
        "bought": y,
    })


def _regression_frame(n, seed):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 10, size=n)
    kind = rng.choice(["flat", "house"], size=n)
    return pl.DataFrame({
        "a": a,
        "b": rng.normal(size=n),
        "kind": kind,
        "price": 3.0 * a + 10.0 * (kind == "house") + rng.normal(scale=0.5, size=n),
    })


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("featsmith: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def binary(workdir):
    """A binary model fitted through the CLI, plus its files."""
    train, test = _binary_frame(400, 1), _binary_frame(150, 2)
    train.write_csv(workdir / "train.csv")
    test.write_csv(workdir / "test.csv")
    model_path = workdir / "binary.joblib"
    code = main(["--quiet", "fit", str(workdir / "train.csv"), "--target", "bought",
                 "--out", str(model_path), *FAST])
    assert code == 0
    return {"model": model_path, "train": train, "test": test, "dir": workdir}


@pytest.fixture(scope="module")
def regression(workdir):
    train = _regression_frame(300, 3)
    path = workdir / "houses.csv.gz"
    with gzip.open(path, "wb") as fh:
        train.write_csv(fh)
    model_path = workdir / "regression.joblib"
    code = main(["fit", str(path), "--target", "price", "--task", "regression", "--metric", "mae",
                 "--out", str(model_path), "-q", *FAST])
    assert code == 0
    return {"model": model_path, "train": train, "path": path}


# -- fit ------------------------------------------------------------------------------------


def test_fit_writes_a_featsmith_model(binary):
    model = joblib.load(binary["model"])
    assert isinstance(model, featsmith.AutoPipeline)
    assert model.task_ == "binary" and model.metric_ == "roc_auc"
    assert list(model.classes_) == ["no", "yes"]
    assert model.random_state == 0 and model.max_trials == 1 and model.n_jobs == 1
    assert model.time_budget == 5.0 and model.verbose == 0
    assert "bought" not in list(model.feature_names_in_)
    # The signal is strong; a model that learned nothing would sit near 0.5.
    test = binary["test"]
    proba = model.predict_proba(test.drop("bought").to_pandas())[:, 1]
    assert roc_auc_score(test["bought"].to_numpy() == "yes", proba) > 0.8


def test_fit_reads_gzipped_csv_and_honours_task_and_metric(regression):
    model = joblib.load(regression["model"])
    assert model.task_ == "regression" and model.metric_ == "mae"


def test_fit_prints_a_summary_and_notes(capsys, workdir, monkeypatch):
    _regression_frame(120, 4).write_parquet(workdir / "small.parquet")
    out_path, report = workdir / "small.joblib", workdir / "small.html"
    # As on a terminal: the pipeline draws its own progress (it checks the terminal itself,
    # so nothing is drawn here) and the CLI says what is being fitted.
    monkeypatch.setattr(_Console, "show_progress", property(lambda self: True))
    code, out, err = run(capsys, "fit", workdir / "small.parquet", "--target", "price",
                         "--out", out_path, "--report", report, *FAST)
    assert code == 0 and out_path.exists() and report.exists()
    assert re.search(r"^task +regression$", out, flags=re.M) and "CV score" in out and str(out_path) in out
    assert re.search(r"^validation +5-fold \(120 rows", out, flags=re.M)
    assert f"model written to {out_path}" in err and f"report written to {report}" in err
    assert "fitting small.parquet: 120 rows x 3 columns, budget 5 s" in err
    model = joblib.load(out_path)
    assert model.verbose == 1
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'data-chart="search"' in page
    assert page.count("<tr") - 1 >= len(model.leaderboard_)


def test_tables_and_relationships_become_fit_arguments(tmp_path, caplog):
    tables = tmp_path / "tables"
    tables.mkdir()
    pl.DataFrame({"user_id": [1, 2], "age": [30, 40]}).write_parquet(tables / "users.parquet")
    pl.DataFrame({"movie_id": [7], "year": [1999]}).write_csv(tables / "movies.csv")
    with gzip.open(tables / "users_extra.csv.gz", "wb") as fh:
        pl.DataFrame({"user_id": [1], "n": [3]}).write_csv(fh)
    ratings = pl.DataFrame({"user_id": [1, 2], "movie_id": [7, 7], "rating": [4.0, 3.0]})
    # DATA itself and a stale copy of the target table may sit in the folder.
    ratings.write_csv(tables / "ratings.csv")
    ratings.write_parquet(tables / "ratings.parquet")
    (tables / "README.txt").write_text("not a table")
    argv = ["fit", str(tables / "ratings.csv"), "--target", "rating", "--tables", str(tables),
            "--relationships", "ratings.user_id=users.user_id, ratings.movie_id=movies.movie_id",
            "users_extra.user_id=users.user_id", "--relationships",
            "ratings.movie_id=movies.movie_id"]
    args = build_parser().parse_args(argv)
    X = ratings.drop("rating")
    fit_params = _relational_inputs(args, X)
    assert sorted(fit_params["tables"]) == ["movies", "users", "users_extra"]
    assert fit_params["tables"]["users"].columns == ["user_id", "age"]
    assert fit_params["relationships"] == [
        ("ratings.user_id", "users.user_id"), ("ratings.movie_id", "movies.movie_id"),
        ("users_extra.user_id", "users.user_id"), ("ratings.movie_id", "movies.movie_id"),
    ]
    assert "ratings.parquet is a file for the target table 'ratings'" in caplog.text
    # --target-table names DATA's table when its file is called something else.
    args = build_parser().parse_args(
        ["fit", str(tmp_path / "train_2024.csv"), "--target", "rating", "--tables", str(tables),
         "--target-table", "ratings", "--relationships", "ratings.user_id=users.user_id"])
    assert _relational_inputs(args, X)["relationships"] == [("ratings.user_id", "users.user_id")]
    args = build_parser().parse_args(["fit", "d.csv", "--target", "y"])
    assert _relational_inputs(args, X) == {}


def test_two_keys_to_one_parent_table_are_two_paths(tmp_path):
    from featsmith.featurize import FeatureGenerator

    tables = tmp_path / "tables"
    tables.mkdir()
    pl.DataFrame({"faa": ["A", "B", "C"], "alt": [1.0, 2.0, 3.0]}).write_csv(tables / "airports.csv")
    flights = pl.DataFrame({"origin": ["A", "B", "C", "A"], "dest": ["B", "C", "A", "C"], "late": [0, 1, 0, 1]})
    argv = ["fit", str(tmp_path / "flights.csv"), "--target", "late", "--tables", str(tables),
            "--relationships", "flights.origin=airports.faa", "flights.dest=airports.faa"]
    fit_params = _relational_inputs(build_parser().parse_args(argv), flights.drop("late"))
    assert fit_params["relationships"] == [("flights.origin", "airports.faa"), ("flights.dest", "airports.faa")]
    gen = FeatureGenerator(random_state=0).fit(flights.drop("late"), **fit_params)
    out = gen.relational_.transform(flights.drop("late"))
    assert out["airports[origin].alt"].to_list() == [1.0, 2.0, 3.0, 1.0]
    assert out["airports[dest].alt"].to_list() == [2.0, 3.0, 1.0, 3.0]


# -- predict --------------------------------------------------------------------------------


def test_predict_one_file_prints_csv_to_stdout(capsys, binary):
    new = binary["dir"] / "new.parquet"
    binary["test"].drop("bought").write_parquet(new)
    code, out, err = run(capsys, "predict", binary["model"], new)
    assert code == 0 and err == ""
    printed = pl.read_csv(io.StringIO(out))
    assert printed.columns == ["prediction"] and printed.height == binary["test"].height
    model = joblib.load(binary["model"])
    expected = model.predict(binary["test"].drop("bought").to_pandas())
    assert printed["prediction"].to_list() == list(expected)


def test_predict_id_and_proba_columns(capsys, binary):
    out_path = binary["dir"] / "with_id.csv"
    code, _, _ = run(capsys, "predict", binary["model"], binary["dir"] / "test.csv",
                     "--id", "row_id", "--proba", "--out", out_path)
    assert code == 0
    result = pl.read_csv(out_path)
    assert result.columns == ["row_id", "prediction", "proba_no", "proba_yes"]
    assert result["row_id"].to_list() == binary["test"]["row_id"].to_list()
    proba = result.select("proba_no", "proba_yes").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    labels = np.where(proba[:, 1] > proba[:, 0], "yes", "no")
    assert result["prediction"].to_list() == labels.tolist()


def test_predict_ignores_extra_and_reordered_columns(capsys, binary):
    shuffled = binary["test"].with_columns(pl.lit(1).alias("unused")).select(
        list(reversed(binary["test"].columns)) + ["unused"]
    )
    path = binary["dir"] / "shuffled.csv"
    shuffled.write_csv(path)
    _, plain, _ = run(capsys, "predict", binary["model"], binary["dir"] / "test.csv")
    code, out, _ = run(capsys, "predict", binary["model"], path)
    assert code == 0 and out == plain


def test_predict_batch_glob_writes_one_file_per_input(capsys, binary, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    test = binary["test"]
    test.head(10).write_csv(inputs / "a.csv")
    with gzip.open(inputs / "b.csv.gz", "wb") as fh:
        test.slice(10, 20).write_csv(fh)
    test.slice(30, 30).write_parquet(inputs / "c.parquet")
    (inputs / "notes.txt").write_text("not a table")
    out_dir = tmp_path / "out"  # created on demand
    code, _, err = run(capsys, "predict", binary["model"], f"{inputs}/*.*",
                       "--out", f"{out_dir}/", "--id", "row_id")
    # The glob also matches notes.txt, which is refused before anything is written.
    assert_one_line_error(code, err, "notes.txt", "unknown file type")
    (inputs / "notes.txt").unlink()
    code, _, err = run(capsys, "predict", binary["model"], f"{inputs}/*", "--out", out_dir,
                       "--id", "row_id")
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "a.predictions.csv", "b.predictions.csv.gz", "c.predictions.parquet",
    ]
    assert pl.read_csv(out_dir / "a.predictions.csv").height == 10
    assert pl.read_csv(out_dir / "b.predictions.csv.gz")["row_id"].to_list() == (
        test.slice(10, 20)["row_id"].to_list()
    )
    assert pl.read_parquet(out_dir / "c.predictions.parquet").height == 30
    assert err.count(" -> ") == 3


def test_predict_several_inputs_without_out_writes_beside_them(capsys, binary, tmp_path):
    for name, rows in (("x", 5), ("y", 7)):
        binary["test"].head(rows).write_csv(tmp_path / f"{name}.csv")
    code, out, _ = run(capsys, "predict", binary["model"], tmp_path / "x.csv", tmp_path / "y.csv")
    assert code == 0 and out == ""
    assert pl.read_csv(tmp_path / "y.predictions.csv").height == 7
    # A second run over the same glob skips the prediction files written by the first.
    code, _, err = run(capsys, "predict", binary["model"], f"{tmp_path}/*.csv")
    assert code == 0 and err.count(" -> ") == 2


def test_predict_writes_parquet_by_extension(capsys, binary):
    out_path = binary["dir"] / "preds.parquet"
    code, _, _ = run(capsys, "predict", binary["model"], binary["dir"] / "test.csv",
                     "--out", out_path, "--quiet")
    assert code == 0
    assert pl.read_parquet(out_path).columns == ["prediction"]


# -- evaluate and report --------------------------------------------------------------------


def test_evaluate_prints_the_model_metric_and_standard_ones(capsys, binary):
    code, out, _ = run(capsys, "evaluate", binary["model"], binary["dir"] / "test.csv",
                       "--target", "bought", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["task"] == "binary" and result["metric"] == "roc_auc"
    assert result["n_rows"] == 150
    assert list(result["metrics"]) == ["roc_auc", "log_loss", "accuracy", "balanced_accuracy", "f1"]
    model = joblib.load(binary["model"])
    test = binary["test"].to_pandas()
    proba = model.predict_proba(test.drop(columns="bought"))[:, 1]
    expected = roc_auc_score(test["bought"] == "yes", proba)
    assert result["metrics"]["roc_auc"] == pytest.approx(expected)

    code, out, _ = run(capsys, "evaluate", binary["model"], binary["dir"] / "test.csv",
                       "--target", "bought")
    assert code == 0
    assert out.splitlines()[0].split() == ["metric", "value"]
    assert out.splitlines()[1].startswith("roc_auc *")
    assert "higher is better" in out and "f1 is for class 'yes'" in out

    f1 = {}
    for label in ("no", "yes"):
        code, out, _ = run(capsys, "evaluate", binary["model"], binary["dir"] / "test.csv",
                           "--target", "bought", "--json", "--pos-label", label)
        assert code == 0 and json.loads(out)["positive_class"] == label
        f1[label] = json.loads(out)["metrics"]["f1"]
    pred = model.predict(test.drop(columns="bought"))
    for label in ("no", "yes"):
        assert f1[label] == pytest.approx(f1_score(test["bought"], pred, pos_label=label))


def test_evaluate_regression_leaves_out_missing_targets(capsys, regression, tmp_path):
    data = regression["train"].with_columns(
        pl.when(pl.int_range(pl.len()) < 10).then(None).otherwise(pl.col("price")).alias("price")
    )
    data.write_csv(tmp_path / "holdout.csv")
    code, out, err = run(capsys, "evaluate", regression["model"], tmp_path / "holdout.csv",
                         "--target", "price", "--json")
    assert code == 0 and "10 row(s) with a missing target" in err
    result = json.loads(out)
    assert list(result["metrics"]) == ["mae", "rmse", "r2"] and result["n_rows"] == 290
    model = joblib.load(regression["model"])
    kept = regression["train"].slice(10)
    pred = model.predict(kept.drop("price").to_pandas())
    assert result["metrics"]["mae"] == pytest.approx(mean_absolute_error(kept["price"], pred))


def test_report_summarises_the_model(capsys, binary):
    code, out, _ = run(capsys, "report", binary["model"], "--top", "3")
    assert code == 0
    model = joblib.load(binary["model"])
    assert "task           binary" in out
    assert "roc_auc (higher is better)" in out
    assert f"{model.best_score_:.6g}" in out
    assert "Leaderboard" in out and "lightgbm" in out and "best first" in out
    assert "features used" in out and "'colour'" in out
    assert "Stages (s)" in out and "search" in out and f"stopped: {model.search_stop_reason_}" in out


def test_report_writes_html_for_a_model(capsys, binary, tmp_path):
    out_path = tmp_path / "binary.html"
    code, out, err = run(capsys, "report", binary["model"], "--out", out_path)
    assert code == 0 and out == "" and f"report written to {out_path}" in err
    page = out_path.read_text(encoding="utf-8")
    model = joblib.load(binary["model"])
    assert "roc_auc (higher is better)" in page and f"{model.best_score_:.5g}" in page
    assert page.count('data-chart="search"') == 1 and page.count('data-chart="stages"') == 1
    assert "http" not in page and "<script" not in page


@pytest.fixture(scope="module")
def store(workdir):
    path = workdir / "tuning.db"
    space = {"x": {"_type": "uniform", "_value": [-3, 3]},
             "kind": {"_type": "choice", "_value": ["a", "b"]}}
    Experiment(lambda p: (p["x"] - 1) ** 2 + (p["kind"] == "b"), space, tuner="random",
               max_trials=12, storage=path, name="first", random_state=0).run()
    Experiment(lambda p: -p["x"], space, tuner="random", mode="max", max_trials=5, storage=path,
               name="second", random_state=1).run()
    return path


def test_report_reads_an_experiment_store(capsys, store, tmp_path):
    code, out, err = run(capsys, "report", store, "--top", "3")
    assert code == 0 and err == ""
    assert re.search(r"experiment +first", out) and re.search(r"experiment +second", out)
    assert "Leaderboard (first)" in out and "(3 of 12 trials shown, best first)" in out
    first = out.split("Leaderboard (first)")[1].splitlines()
    assert first[1].split()[:2] == ["rank", "model"] and first[2].split()[0] == "1"
    code, out, _ = run(capsys, "report", store, "--experiment", "second")
    assert code == 0 and "Leaderboard (first)" not in out and "maximised" in out

    out_path = tmp_path / "store.html"
    code, _, err = run(capsys, "report", store, "--out", out_path, "--experiment", "first")
    assert code == 0 and "report written to" in err
    page = out_path.read_text(encoding="utf-8")
    assert page.count('data-chart="search"') == 1 and page.count('data-chart="param"') == 2
    # A store under another extension is recognised by its SQLite header.
    renamed = tmp_path / "tuning.store"
    shutil.copy(store, renamed)
    code, out, _ = run(capsys, "report", renamed)
    assert code == 0 and "Leaderboard (second)" in out


def test_demo_fits_scores_and_saves(capsys, tmp_path):
    out_path = tmp_path / "demo.joblib"
    code, out, err = run(capsys, "demo", "--dataset", "penguins", "--out", out_path,
                         "--time-budget", "5", "--max-trials", "1", "--n-jobs", "1")
    assert code == 0 and out_path.exists()
    assert "258 training rows, 86 held-out rows" in out
    assert "Leaderboard" in out and "Held-out scores (86 rows" in out
    assert "log_loss *" in out and "accuracy" in out
    assert joblib.load(out_path).task_ == "multiclass"


@pytest.fixture(scope="module")
def tuned(binary):
    """The binary model's data fitted with a tuned decision threshold."""
    path = binary["dir"] / "tuned.joblib"
    code = main(["-q", "fit", str(binary["dir"] / "train.csv"), "--target", "bought", "--out", str(path),
                 "--threshold-metric", "f1", *FAST])
    assert code == 0
    return path


def test_evaluate_scores_labels_at_the_model_threshold(capsys, binary, tuned):
    model = joblib.load(tuned)
    threshold = model.decision_threshold_
    assert model.threshold_metric == "f1" and threshold != 0.5
    code, out, _ = run(capsys, "evaluate", tuned, binary["dir"] / "test.csv", "--target", "bought", "--json")
    result = json.loads(out)
    assert code == 0 and result["decision_threshold"] == pytest.approx(threshold)
    assert result["threshold_class"] == "yes" and result["threshold_metric"] == "f1"
    test = binary["test"].to_pandas()
    proba = model.predict_proba(test.drop(columns="bought"))[:, 1]
    pred = np.where(proba >= threshold, "yes", "no")
    assert result["metrics"]["f1"] == pytest.approx(f1_score(test["bought"], pred, pos_label="yes"))
    code, out, _ = run(capsys, "evaluate", tuned, binary["dir"] / "test.csv", "--target", "bought")
    assert code == 0
    assert (f"(accuracy, balanced_accuracy and f1 score the labels predicted at the decision threshold "
            f"P('yes') >= {threshold:.4g}, tuned for f1 on out-of-fold predictions at fit)") in out
    # An untuned model says so, and how to tune it.
    code, out, _ = run(capsys, "evaluate", binary["model"], binary["dir"] / "test.csv", "--target", "bought")
    assert "decision threshold 0.5, the most probable class (not tuned: fit with --threshold-metric" in out
    code, out, _ = run(capsys, "evaluate", binary["model"], binary["dir"] / "test.csv", "--target", "bought",
                       "--json")
    assert json.loads(out)["decision_threshold"] == 0.5 and json.loads(out)["threshold_metric"] is None


class _Captured(Exception):
    pass


def _capture_fits(monkeypatch):
    """Replace AutoPipeline with a stand-in that records its arguments and stops the command."""
    calls = []

    class Stand:
        def __init__(self, **params):
            calls.append({"init": params})

        def fit(self, X, y, **kwargs):
            calls[-1].update(fit=kwargs, columns=list(X.columns))
            raise _Captured

    monkeypatch.setattr(featsmith, "AutoPipeline", Stand)
    return calls


@pytest.mark.parametrize("options, init, fit", [
    ([], {}, {}),
    (["--cv", "3"], {"cv": 3}, {}),
    (["--cv", "random"], {"cv": "random"}, {}),
    (["--cv", "time", "--time-column", "row_id"], {"cv": "time", "time_column": "row_id"}, {}),
    (["--cv", "group", "--groups", "colour"], {"cv": "group"}, {"groups": "colour"}),
    (["--groups", "colour", "--threshold-metric", "balanced_accuracy"],
     {"threshold_metric": "balanced_accuracy"}, {"groups": "colour"}),
])
def test_validation_and_threshold_options_reach_the_pipeline(monkeypatch, binary, options, init, fit):
    calls = _capture_fits(monkeypatch)
    with pytest.raises(_Captured):
        main(["-q", "fit", str(binary["dir"] / "train.csv"), "--target", "bought", *options])
    given = {k: v for k, v in calls[0]["init"].items() if k in ("cv", "time_column", "threshold_metric")}
    assert given == init  # options not given are left to the pipeline's defaults
    assert calls[0]["fit"] == fit and "bought" not in calls[0]["columns"]
    assert isinstance(build_parser().parse_args(["fit", "d.csv", "--target", "y", "--cv", "7"]).cv, int)


def test_demo_tunes_the_threshold_of_a_binary_dataset_only(monkeypatch, capsys, tmp_path):
    calls = _capture_fits(monkeypatch)
    out_path = str(tmp_path / "m.joblib")
    for argv in (["--dataset", "lending_club"], ["--dataset", "lending_club", "--threshold-metric", "f1"],
                 ["--dataset", "penguins"]):
        with pytest.raises(_Captured):
            main(["demo", *argv, "--out", out_path])
    assert [c["init"].get("threshold_metric") for c in calls] == ["matthews_corrcoef", "f1", None]
    out = capsys.readouterr().out
    assert "labels   the decision threshold is tuned for matthews_corrcoef (--threshold-metric M" in out


def test_demo_prints_f1_above_zero_at_the_threshold_it_chose(capsys, tmp_path):
    # Issue 15: about 5% of lending_club's loans are bad; at 0.5 its F1 was 0.
    code, out, err = run(capsys, "demo", "--out", tmp_path / "lc.joblib", "--time-budget", "8",
                         "--max-trials", "3", "--n-jobs", "1")
    assert code == 0, err
    f1 = float(re.search(r"^f1 +([\d.e-]+)$", out, flags=re.M).group(1))
    threshold = joblib.load(tmp_path / "lc.joblib").decision_threshold_
    assert f1 > 0 and threshold != 0.5
    assert f"decision threshold P('good') >= {threshold:.4g}, tuned for matthews_corrcoef" in out
    assert re.search(rf"^threshold +P\('good'\) >= {threshold:.4g}", out, flags=re.M)
    assert re.search(r"^validation +\d-fold", out, flags=re.M)


def test_report_shows_the_validation_plan_and_threshold(capsys, binary, tuned, tmp_path):
    from featsmith.cli import _report_text

    code, out, _ = run(capsys, "report", tuned)
    model = joblib.load(tuned)
    assert code == 0 and re.search(r"^validation +5-fold \(", out, flags=re.M)
    assert f"P('yes') >= {model.decision_threshold_:.4g}, tuned for f1" in out
    model.validation_ = "3-fold"  # a model saved before plans were dicts
    assert re.search(r"^validation +3-fold$", _report_text(model), flags=re.M)
    model.validation_ = {"scheme": "holdout time-ordered", "order": "time", "column": "day",
                         "reason": "random folds are optimistic", "check": {"random_loss": 0.5, "se": 0.01}}
    text = _report_text(model)
    assert "holdout time-ordered (column 'day') (random folds are optimistic)" in text
    assert re.search(r"^leak check +random loss 0.5, se 0.01$", text, flags=re.M)
    del model.decision_threshold_, model.threshold_metric  # older models: the most probable class
    assert "threshold      0.5, the most probable class" in _report_text(model)


# -- errors ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(workdir):
    (workdir / "notes.txt").write_text("a,b\n1,2\n")
    (workdir / "corrupt.parquet").write_bytes(b"not parquet at all" * 10)
    (workdir / "empty.csv").write_text("")
    (workdir / "header_only.csv").write_text("a,b\n")
    (workdir / "garbage.joblib").write_bytes(os.urandom(64))
    joblib.dump({"weights": [1, 2]}, workdir / "dict.joblib")
    pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "a", "a", "a"]}).write_csv(
        workdir / "one_class.csv"
    )
    _binary_frame(20, 5).with_columns(pl.lit("maybe").alias("bought")).write_csv(
        workdir / "unseen.csv"
    )
    import sqlite3

    sqlite3.connect(workdir / "foreign.db").execute("CREATE TABLE notes (x TEXT)")
    for name, tables in (("rel", {"customers.csv": "customer_id,region\n1,north\n"}),
                         ("rel_bad", {"customers.csv": "customer_id,region\n1,north\n",
                                      "broken.parquet": "not parquet"}),
                         ("rel_twice", {"customers.csv": "customer_id\n1\n",
                                        "customers.parquet": ""}),
                         ("rel_empty", {"notes.txt": "nothing"})):
        (workdir / name).mkdir(exist_ok=True)
        for file, text in tables.items():
            (workdir / name / file).write_text(text)
    return workdir


@pytest.mark.parametrize(
    "argv, fragments",
    [
        (["fit", "{d}/missing.csv", "--target", "y"], ["missing.csv: no such file"]),
        (["fit", "{d}/notes.txt", "--target", "y"], ["unknown file type '.txt'"]),
        (["fit", "{d}/corrupt.parquet", "--target", "y"], ["cannot read it as Parquet"]),
        (["fit", "{d}/empty.csv", "--target", "y"], ["cannot read it as CSV"]),
        (["fit", "{d}/header_only.csv", "--target", "a"], ["no data rows"]),
        (["fit", "{d}/train.csv", "--target", "Bought"], ["no target column 'Bought'",
                                                          "did you mean 'bought'?"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--time-budget", "0"],
         ["--time-budget", "positive"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--out", "{d}/nodir/m.joblib"],
         ["does not exist"]),
        (["fit", "{d}/one_class.csv", "--target", "y", "--time-budget", "2"], ["class"]),
        (["fit", "{d}/train.csv"], ["--target"]),
        (["predict", "{d}/dict.joblib", "{d}/test.csv"], ["not a fitted featsmith model",
                                                          "dict"]),
        (["predict", "{d}/garbage.joblib", "{d}/test.csv"], ["not a featsmith model file"]),
        (["predict", "{d}/binary.joblib", "{d}/one_class.csv"], ["missing column(s)", "'x1'"]),
        (["predict", "{d}/binary.joblib", "{d}/test.csv", "--id", "nope"], ["no id column"]),
        (["predict", "{d}/binary.joblib", "{d}/none*.csv"], ["no file matches"]),
        (["predict", "{d}/binary.joblib", "{d}/test.csv", "{d}/train.csv", "--out", "{d}/p.csv"],
         ["names one file but 2 inputs"]),
        (["predict", "{d}/binary.joblib", "{d}/test.csv", "--out", "{d}/p.xlsx"],
         ["unknown file type '.xlsx'"]),
        (["predict", "{d}/binary.joblib", "{d}/test.csv", "--out", "{d}/test.csv"],
         ["overwrite the input"]),
        (["predict", "{d}/regression.joblib", "{d}/houses.csv.gz", "--proba"],
         ["--proba needs a classification model"]),
        (["evaluate", "{d}/binary.joblib", "{d}/unseen.csv", "--target", "bought"],
         ["label(s) ['maybe'] that the model never saw"]),
        (["evaluate", "{d}/binary.joblib", "{d}/test.csv", "--target", "nope"],
         ["no target column 'nope'"]),
        (["evaluate", "{d}/binary.joblib", "{d}/test.csv", "--target", "bought",
          "--pos-label", "maybe"], ["--pos-label 'maybe' is not one of the model's classes"]),
        (["report", "{d}/missing.joblib"], ["no such file"]),
        (["report", "{d}/foreign.db"], ["without featsmith's 'experiments' and 'trials'"]),
        (["report", "{d}/tuning.db", "--experiment", "third"], ["no experiment named 'third'"]),
        (["report", "{d}/binary.joblib", "--experiment", "first"], ["--experiment applies"]),
        (["report", "{d}/binary.joblib", "--out", "{d}/nodir/r.html"], ["does not exist"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--report", "{d}"],
         ["--report", "is a directory"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--report", "{d}/train.csv"],
         ["--report", "would overwrite the training data"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--report", "{d}/m.joblib", "--out",
          "{d}/m.joblib"], ["--report", "is also the model file"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel"],
         ["--tables needs --relationships"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--relationships", "a.b=c.d"],
         ["--relationships needs --tables"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--target-table", "t"],
         ["--target-table needs --tables"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/nowhere",
          "--relationships", "train.x1=customers.customer_id"], ["no such directory"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel_empty",
          "--relationships", "train.x1=customers.customer_id"], ["holds no .csv"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel_bad",
          "--relationships", "train.row_id=customers.customer_id"],
         ["broken.parquet: cannot read it as Parquet"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel_twice",
          "--relationships", "train.row_id=customers.customer_id"],
         ["two files for table 'customers'"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel",
          "--relationships", "train.row_id=users.user_id"],
         ["names table 'users'", "customers", "target table 'train'"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel",
          "--relationships", "train.row_id=customers.id"],
         ["table 'customers' has no column 'id'", "'customer_id'"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel",
          "--relationships", "train.client=customers.customer_id"],
         ["table 'train' has no column 'client'"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel",
          "--relationships", "train.row_id->customers.customer_id"],
         ["expected child_table.column=parent_table.column"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel",
          "--relationships", "train=customers.customer_id"], ["'train' must read table.column"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--tables", "{d}/rel",
          "--target-table", "orders", "--relationships", "customers.customer_id=customers.region"],
         ["never names the target table 'orders'"]),
        (["predict", "{d}/binary.joblib", "{d}/test.csv", "--tables", "{d}/nowhere"],
         ["no such directory"]),
        (["demo", "--dataset", "iris"], ["unknown dataset 'iris'", "penguins"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--cv", "1"], ["--cv", "at least 2 folds"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--cv", "shuffled"],
         ["--cv", "expected a number of folds, 'random', 'time' or 'group', got 'shuffled'"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--groups", "store"],
         ["train.csv: no --groups column 'store'", "'colour'"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--time-column", "X1"],
         ["no --time-column column 'X1' (did you mean 'x1'?)"]),
        (["fit", "{d}/train.csv", "--target", "bought", "--threshold-metric", "roc_auc"],
         ["threshold_metric='roc_auc' scores probabilities", "balanced_accuracy"]),
        (["demo", "--dataset", "penguins", "--threshold-metric", "f1"],
         ["--threshold-metric applies to binary tasks", "'penguins' is multiclass"]),
        (["frobnicate"], ["invalid choice"]),
        ([], ["choose a command"]),
    ],
)
def test_bad_input_gives_one_line_and_status_2(capsys, bad_files, binary, regression, store,
                                               argv, fragments):
    argv = [a.format(d=bad_files) for a in argv]
    code, out, err = run(capsys, *argv)
    assert_one_line_error(code, err, *fragments)
    assert out == ""


def test_debug_shows_the_traceback_instead():
    with pytest.raises(ValueError, match="unknown dataset"):
        main(["--debug", "demo", "--dataset", "iris"])


def test_console_script_reports_errors_without_traceback(tmp_path):
    commands = [[sys.executable, "-m", "featsmith"], [sys.executable, "-m", "featsmith.cli"]]
    if shutil.which("featsmith"):
        commands.append([shutil.which("featsmith")])
    for command in commands:
        proc = subprocess.run(
            command + ["fit", str(tmp_path / "nope.csv"), "--target", "y"],
            capture_output=True, text=True, timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stdout == ""
        assert proc.stderr.splitlines() == [f"featsmith: error: {tmp_path / 'nope.csv'}: no such file"]


# -- global options ---------------------------------------------------------------------------


def test_version_and_help(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"featsmith {featsmith.__version__}"
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("fit", "predict", "evaluate", "report", "demo"):
        assert command in out


def test_python_dash_m_featsmith_is_the_cli():
    proc = subprocess.run([sys.executable, "-m", "featsmith", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"featsmith {featsmith.__version__}"
    for command in ("fit", "predict", "evaluate", "report", "demo"):
        proc = subprocess.run([sys.executable, "-m", "featsmith", command, "--help"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith(f"usage: featsmith {command}")


def test_task_choices_are_the_package_task_names():
    from featsmith._task import TASKS

    for task in TASKS:
        assert build_parser().parse_args(["fit", "d.csv", "--target", "y", "--task", task]).task == task


@pytest.mark.parametrize(
    "metric, greater",
    [("roc_auc", True), ("accuracy", True), ("r2", True), ("log_loss", False), ("rmse", False),
     ("mae", False), ("neg_log_loss", True), ("neg_mean_absolute_error", True),
     ("my_error", False)],
)
def test_metric_direction_follows_the_one_rule(metric, greater):
    from featsmith.pipelines import greater_is_better

    assert greater_is_better(metric) is greater
    model = SimpleNamespace(metric_=metric)  # an older model without the recorded direction
    assert _greater_is_better(model) is greater
    # A direction recorded at fit wins over the name (a custom metric called "custom").
    assert _greater_is_better(SimpleNamespace(metric_=metric, metric_greater_is_better_=not greater)) \
        is (not greater)


def test_loss_metrics_read_lower_is_better(capsys, regression):
    code, out, _ = run(capsys, "report", regression["model"])
    assert code == 0 and "mae (lower is better)" in out
    code, out, _ = run(capsys, "evaluate", regression["model"], regression["path"],
                       "--target", "price")
    assert code == 0 and "lower is better" in out
    code, out, _ = run(capsys, "evaluate", regression["model"], regression["path"],
                       "--target", "price", "--json")
    assert json.loads(out)["greater_is_better"] is False


def test_quiet_silences_notes_but_not_results(capsys, binary, tmp_path):
    args = ["predict", binary["model"], binary["dir"] / "test.csv", "--out", tmp_path / "q.csv"]
    _, _, err = run(capsys, *args)
    assert "->" in err
    _, _, err = run(capsys, *args, "--quiet")
    assert err == ""
    code, out, err = run(capsys, "-q", "report", binary["model"])
    assert code == 0 and err == "" and "Leaderboard" in out


def test_progress_is_drawn_only_when_asked(capsys):
    console = _Console()
    assert not console.show_progress  # pytest's stderr is not a terminal
    buffer = io.StringIO()
    with console.progress("working", total=2, enabled=True, file=buffer) as advance:
        advance()
        advance()
    with _Console(quiet=True).progress("silent") as advance:
        advance()
    assert capsys.readouterr().err == ""


def test_a_model_from_another_version_loads_with_a_one_line_warning(capsys, binary, tmp_path):
    model = joblib.load(binary["model"])
    model.featsmith_version_ = "0.0.1"
    joblib.dump(model, tmp_path / "old.joblib")
    code, out, err = run(capsys, "report", tmp_path / "old.joblib")
    assert code == 0 and "featsmith 0.0.1" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "0.0.1" in lines[0] and lines[0].startswith("featsmith: WARNING")
    _, _, err = run(capsys, "--quiet", "report", tmp_path / "old.joblib")
    assert err == ""


# -- related tables, end to end -------------------------------------------------------------


def test_fit_and_predict_with_related_tables(capsys, tmp_path):
    # spend is the sum of each order's payments: only the payments table can explain it.
    rng = np.random.default_rng(0)
    n_orders, n_payments = 360, 1100
    payments = pl.DataFrame({"payment_id": np.arange(n_payments),
                             "order_id": rng.integers(0, n_orders, n_payments),
                             "value": rng.gamma(2.0, 10.0, n_payments)})
    spend = payments.group_by("order_id").agg(pl.col("value").sum().alias("spend"))
    orders = (pl.DataFrame({"order_id": np.arange(n_orders),
                            "customer_id": rng.integers(0, 40, n_orders),
                            "noise": rng.normal(size=n_orders)})
              .join(spend, on="order_id", how="left").with_columns(pl.col("spend").fill_null(0.0)))
    tables = tmp_path / "tables"
    tables.mkdir()
    payments.write_parquet(tables / "payments.parquet")
    pl.DataFrame({"customer_id": np.arange(40), "region": rng.choice(["n", "s"], 40)}).write_csv(
        tables / "customers.csv")
    orders.head(280).write_csv(tmp_path / "orders.csv")
    orders.tail(80).drop("spend").write_csv(tmp_path / "new_orders.csv")
    model_path, report = tmp_path / "orders.joblib", tmp_path / "orders.html"
    # A cold `import torch` (by featsmith.selectors, several seconds on a busy machine) would
    # otherwise fall inside this short fit budget; the full suite has imported it already.
    import featsmith.selectors  # noqa: F401

    code, out, err = run(capsys, "fit", tmp_path / "orders.csv", "--target", "spend",
                         "--tables", tables, "--relationships",
                         "payments.order_id=orders.order_id,orders.customer_id=customers.customer_id",
                         "--out", model_path, "--report", report, "--time-budget", "10", "--max-trials", "3",
                         "--n-jobs", "1", "--random-state", "0")
    assert code == 0, err
    model = joblib.load(model_path)
    described = model.feature_plan_.describe()
    assert any("payments" in name for name in described["name"].to_list())
    assert "payments" in report.read_text(encoding="utf-8")

    code, out, err = run(capsys, "predict", model_path, tmp_path / "new_orders.csv",
                         "--tables", tables, "--id", "order_id", "--chunk-rows", "30")
    assert code == 0, err
    # --tables recomputes the relational features over the whole input, so it is read whole.
    assert "read whole (80 rows)" in err
    # Without --tables the lookups stored at fit time stream in chunks like any feature.
    code, streamed, err = run(capsys, "predict", model_path, tmp_path / "new_orders.csv",
                              "--chunk-rows", "30")
    assert code == 0, err
    np.testing.assert_array_equal(pl.read_csv(io.StringIO(streamed))["prediction"].to_numpy(),
                                  model.predict(orders.tail(80).drop("spend").to_pandas()))
    predicted = pl.read_csv(io.StringIO(out)).join(orders.select("order_id", "spend"),
                                                   on="order_id")
    truth = predicted["spend"].to_numpy()
    rmse = float(np.sqrt(np.mean((predicted["prediction"].to_numpy() - truth) ** 2)))
    # Without the payments the best possible RMSE is the spread of spend itself.
    assert rmse < 0.5 * truth.std()
