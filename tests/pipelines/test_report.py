"""The HTML report: sections, escaping, experiment stores, and rendering in headless Chromium."""

import inspect
import math
import re
import shutil
import sqlite3
import struct
import subprocess
import zlib

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from featsmith import AutoPipeline
from featsmith.featurize import FeatureGenerator
from featsmith.pipelines import greater_is_better
from featsmith.pipelines._report import (
    BAR_COLOUR,
    MAX_BARS,
    render_report,
    store_leaderboards,
    write_report,
)
from featsmith.tuners import Experiment

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
     if (path := shutil.which(name))), None
)


class _Fitted:
    """What a fitted AutoPipeline exposes to the report, set by hand so that every section
    (two model families, a failed trial, features with lineage, importances) is exercised."""

    def __init__(self, board, plan, importance, by_input, greater_is_better=True):
        self.task_ = "regression"
        self.metric_ = "r2" if greater_is_better else "rmse"
        self.metric_greater_is_better_ = greater_is_better
        scores = board["score"].dropna()
        self.best_score_ = scores.max() if greater_is_better else scores.min()
        self.leaderboard_ = board
        self.stage_timings_ = {"features": 1.25, "screen": 0.4, "search": 9.5, "ensemble": 0.3,
                               "refit": 0.8}
        self.feature_plan_ = plan
        self._importance = importance
        self._by_input = by_input
        self.featsmith_version_ = "9.9.9"
        self.fit_seconds_ = 12.5
        self.time_budget = 15
        self.n_features_in_ = 3
        self.ensemble_ = pd.DataFrame({"trial": [7, 11], "model": ["lightgbm", "linear"],
                                       "weight": [0.75, 0.25]})

    def explain(self, by="feature"):
        return self._by_input if by == "input" else self._importance


def _board(rng, n_lgbm=9, n_linear=5):
    rows, started = [], 0.0
    for i in range(n_lgbm + n_linear):
        seconds = float(rng.uniform(0.2, 1.5))
        if i < n_lgbm:
            model = "lightgbm"
            params = {"learning_rate": 10 ** (-3 + 2.5 * i / (n_lgbm - 1)),
                      "num_leaves": int(rng.integers(4, 200)),
                      "boosting": ["gbdt", "dart"][i % 2]}
        else:
            model = "linear"
            params = {"C": 10 ** (-3 + i - n_lgbm), "penalty": "l2"}
        rows.append({"trial": i, "model": model, "params": params,
                     "score": float(rng.uniform(0.5, 0.9)), "seconds": seconds,
                     "status": "ok", "started": started, "n_rounds": int(rng.integers(10, 300))})
        started += seconds
    rows[3].update(score=np.nan, status="failed")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def plan_and_importance():
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame({"income": rng.lognormal(size=n), "a<b": rng.normal(size=n),
                      "city": rng.choice(["<Paris>", "Oslo", "Rome"], n)})
    gen = FeatureGenerator(max_candidates=30, random_state=0).fit(X, rng.normal(size=n))
    names = list(gen.get_feature_names_out()[:8])
    plan = gen.plan(names)
    importance = pd.DataFrame({"feature": names, "importance": np.linspace(1.0, 8.0, len(names))})
    by_input = pd.DataFrame({"input": ["income", "a<b", "city"], "importance": [20.0, 10.0, 6.0]})
    return plan, importance, by_input


@pytest.fixture(scope="module")
def stub(plan_and_importance):
    return _Fitted(_board(np.random.default_rng(1)), *plan_and_importance)


def _charts(page, kind=None):
    """The inline SVG charts of a page (optionally one kind), as raw markup."""
    charts = re.findall(r'<svg class="chart" data-chart="([\w-]+)".*?</svg>', page, flags=re.S)
    blocks = re.findall(r'<svg class="chart" data-chart="[\w-]+".*?</svg>', page, flags=re.S)
    return [b for k, b in zip(charts, blocks) if kind is None or k == kind]


def _path_points(svg):
    d = re.search(r'class="best-so-far" d="([^"]+)"', svg).group(1)
    return [tuple(map(float, p.split(","))) for p in re.findall(r"-?[\d.]+,-?[\d.]+", d)]


def _assert_self_contained(page):
    # Nothing may be fetched: no scripts, stylesheets, images, fonts or iframes from anywhere.
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", page)
    assert not re.search(r"<[^>]*\s(src|srcset)=", page)
    assert "@import" not in page and "url(" not in page
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))


# -- content --------------------------------------------------------------------------------


def test_model_report_has_every_section(stub):
    page = render_report(stub)
    _assert_self_contained(page)
    assert page.startswith("<!DOCTYPE html>")
    kinds = [re.search(r'data-chart="([\w-]+)"', c).group(1) for c in _charts(page)]
    # search; lightgbm: learning_rate, num_leaves, boosting; linear: C (penalty has one value);
    # feature importance; importance by input; stages.
    assert kinds == ["search", "param", "param", "param", "param", "importance",
                     "input-importance", "stages"]
    assert "Not drawn" in page and "penalty" in page

    # The leaderboard holds every trial, best first, the failed one last, extra columns kept.
    board = stub.leaderboard_
    table = re.search(r'<table class="leaderboard">.*?</table>', page, flags=re.S).group(0)
    rows = re.findall(r"<tr(?: class=\"(\w+)\")?><td", table)
    assert len(rows) == len(board) and rows[0] == "best"
    assert rows[-1] == "fail" and set(rows[1:-1]) == {""}  # a failure looks like one
    first = re.findall(r"<td[^>]*>(.*?)</td>", table)
    best = board.loc[board["score"].idxmax()]
    assert first[1] == str(best["trial"]) and first[3] == f"{best['score']:.5g}"
    assert "<th class=\"num\">n_rounds</th>" in table
    assert table.rstrip("</tbody></table></div>").count("failed") == 1
    last_row = table.split("<tr")[-1]
    assert "failed" in last_row and "n/a" in last_row

    # Every chart draws its data: one point per scored trial, one bar per stage.
    n_scored = int(board["score"].notna().sum())
    search = _charts(page, "search")[0]
    assert search.count('class="point"') == n_scored
    assert len(_path_points(search)) >= 3
    params = _charts(page, "param")
    assert [c.count('class="point"') for c in params] == [8, 8, 8, 5]
    assert "learning_rate (log)" in params[0] and "C (log)" in params[3]
    assert _charts(page, "stages")[0].count('class="bar"') == len(stub.stage_timings_)

    # Features: formulas from the plan, ordered by importance, rolled up to inputs.
    described = stub.feature_plan_.describe().to_pandas()
    features = re.search(r'<table class="features">.*?</table>', page, flags=re.S).group(0)
    names = [html_unescape(n) for n in re.findall(r"<tr><td class=\"num\">\d+</td><td><code>(.*?)"
                                                   "</code>", features)]
    assert names == list(stub.explain()["feature"][::-1])
    for formula in described["formula"]:
        assert html_escape(formula) in features
    assert _charts(page, "input-importance")[0].count('class="bar"') == 3
    assert "12.5 s of a 15 s budget" in page and "9.9.9" in page

    # The final ensemble's members carry their weight in the leaderboard.
    assert "ensemble of 2 trial(s)" in page and ">ensemble weight</th>" in table
    weights = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)[1:]:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        weights[int(cells[1])] = cells[-2]
    assert weights[7] == "0.75" and weights[11] == "0.25"
    assert sum(w == "" for w in weights.values()) == len(board) - 2


def html_escape(text):
    import html

    return html.escape(text, quote=True)


def html_unescape(text):
    import html

    return html.unescape(text)


@pytest.mark.parametrize("greater_is_better", [True, False])
def test_best_so_far_follows_the_metric_direction(plan_and_importance, greater_is_better):
    model = _Fitted(_board(np.random.default_rng(2)), *plan_and_importance,
                    greater_is_better=greater_is_better)
    page = render_report(model)
    ys = [y for _, y in _path_points(_charts(page, "search")[0])]
    xs = [x for x, _ in _path_points(_charts(page, "search")[0])]
    assert all(b >= a for a, b in zip(xs, xs[1:]))
    # SVG y grows downwards: a rising score moves up the page, a falling loss moves down.
    steps = np.diff(ys)
    assert (steps <= 1e-9).all() if greater_is_better else (steps >= -1e-9).all()
    assert np.abs(steps).sum() > 0
    direction = "higher is better" if greater_is_better else "lower is better"
    assert f"{model.metric_} ({direction})" in page
    best_row = re.search(r'<tr class="best">(.*?)</tr>', page, flags=re.S).group(1)
    assert f"{model.best_score_:.5g}" in best_row


def test_every_text_is_escaped(plan_and_importance):
    board = _board(np.random.default_rng(3))
    board.loc[0, "model"] = "<img src=x onerror=alert(1)>"
    board.at[1, "params"] = {"note": "<script>alert(1)</script>", "num_leaves": 7}
    model = _Fitted(board, *plan_and_importance)
    model.stage_timings_ = {"<b>stage</b>": 1.0}
    page = render_report(model)
    _assert_self_contained(page)
    assert "<script>" not in page and "<img" not in page and "<b>stage" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;Paris&gt;" in page or "a&lt;b" in page


def test_long_feature_lists_are_cut_in_charts_not_in_tables(plan_and_importance):
    plan, _, by_input = plan_and_importance
    many = pd.DataFrame({"feature": [f"f{i}" for i in range(MAX_BARS + 10)],
                         "importance": np.arange(MAX_BARS + 10, dtype=float)})
    model = _Fitted(_board(np.random.default_rng(4)), None, many, by_input)
    page = render_report(model)
    assert _charts(page, "importance")[0].count('class="bar"') == MAX_BARS
    features = re.search(r'<table class="features">.*?</table>', page, flags=re.S).group(0)
    assert features.count("<tr><td") == MAX_BARS + 10


def test_report_of_a_fitted_auto_pipeline(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=240), "b": rng.normal(size=240),
                      "c": rng.choice(["x", "y", "z"], 240)})
    y = ((X["a"] + (X["c"] == "x") + rng.normal(scale=0.5, size=240)) > 0.5).astype(int)
    model = AutoPipeline(time_budget=10, max_trials=5, random_state=0, n_jobs=1, verbose=0)
    with pytest.raises(NotFittedError, match="fit it before"):
        render_report(model)
    model.fit(X, y)
    out = write_report(model, tmp_path / "model.html")
    page = out.read_text(encoding="utf-8")
    _assert_self_contained(page)
    table = re.search(r'<table class="leaderboard">.*?</table>', page, flags=re.S).group(0)
    assert table.count("<tr") - 1 == len(model.leaderboard_)
    assert len(_charts(page, "search")) == 1 and len(_charts(page, "stages")) == 1
    assert f"{model.best_score_:.5g}" in page and "roc_auc (higher is better)" in page
    for stage in model.stage_timings_:
        assert f"<td>{stage}</td>" in page


def _facts(page):
    return dict(re.findall(r'<div class="k">(.*?)</div><div class="v">(.*?)</div>', page))


def test_the_validation_plan_and_threshold_are_in_the_summary(plan_and_importance):
    model = _Fitted(_board(np.random.default_rng(1)), *plan_and_importance)
    assert "validation" not in _facts(render_report(model))  # a model that records no plan
    model.validation_ = "5-fold"  # saved before plans were dicts: the scheme alone
    assert _facts(render_report(model))["validation"] == "5-fold"
    model.validation_ = {
        "scheme": "5-fold time-ordered", "order": "time", "column": "day",
        "reason": "shuffled folds score 0.047 better than time order (4.7 standard errors)",
        "check": {"random_loss": 0.41, "ordered_loss": 0.4567, "difference": 0.0467, "se": 0.01,
                  "n_rows": 8000}}
    facts = _facts(render_report(model))
    assert facts["validation"] == "5-fold time-ordered by day"
    assert facts["why this validation"] == html_escape(model.validation_["reason"])
    assert facts["leak check"] == ("random loss 0.41, ordered loss 0.4567, difference 0.0467, "
                                   "se 0.01, n rows 8000")
    assert "decision threshold" not in facts  # regression
    model.task_, model.classes_, model.decision_threshold_ = "binary", np.array(["no", "<yes>"]), 0.125
    model.threshold_metric = "f1"
    assert _facts(render_report(model))["decision threshold"] == html_escape("P(<yes>) >= 0.125, tuned for f1")
    model.decision_threshold_, model.threshold_metric = 0.5, None
    assert _facts(render_report(model))["decision threshold"] == html_escape(
        "P(<yes>) >= 0.5 (the most probable class)")


# -- experiment stores ---------------------------------------------------------------------


SPACE = {
    "model": {"_type": "choice", "_value": [
        {"_name": "svm", "C": {"_type": "loguniform", "_value": [1e-3, 1e3]},
         "kernel": {"_type": "choice", "_value": ["rbf", "linear"]}},
        {"_name": "tree", "depth": {"_type": "randint", "_value": [1, 9]}},
    ]},
    "scale": {"_type": "uniform", "_value": [0.0, 1.0]},
}


def _objective(p):
    m = p["model"]
    if m["_name"] == "tree" and m["depth"] == 1:
        raise RuntimeError("a crash the report must show as failed")
    base = math.log10(m["C"]) ** 2 if m["_name"] == "svm" else (m["depth"] - 5) ** 2
    return base + p["scale"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "search.db"
    Experiment(_objective, SPACE, tuner="random", max_trials=24, storage=path, name="first",
               random_state=0).run()
    Experiment(lambda p: (p["x"] - 1) ** 2, {"x": {"_type": "uniform", "_value": [-3, 3]}},
               tuner="tpe", mode="min", max_trials=10, storage=path, name="second",
               random_state=1).run()
    return path


def _dump(path):
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_store_report_shows_the_trial_parts_of_each_experiment(store):
    before = _dump(store)
    page = render_report(store)
    _assert_self_contained(page)
    assert _dump(store) == before  # read, never changed
    assert len(_charts(page, "search")) == 2
    assert "Experiment first" in page and "Experiment second" in page
    assert not _charts(page, "stages") and not _charts(page, "importance")
    trials = sqlite3.connect(store).execute(
        "SELECT experiment, status, value FROM trials").fetchall()
    first = [t for t in trials if t[0] == "first"]
    assert any(s == "failed" for _, s, _ in first)
    n_ok = sum(s == "complete" for _, s, _ in first)
    assert _charts(page, "search")[0].count('class="point"') == n_ok
    # Families come from the nested choice; each draws its own parameters.
    params = _charts(page, "param")
    labels = [re.search(r'aria-label="([^"]+)"', c).group(1) for c in params]
    assert "svm: value vs C" in labels and "svm: value vs kernel" in labels
    assert "tree: value vs depth" in labels and "second: value vs x" not in labels
    assert "trials: value vs x" in labels
    assert "C (log)" in params[labels.index("svm: value vs C")]

    only = render_report(store, experiment="second")
    assert len(_charts(only, "search")) == 1 and "Experiment first" not in only
    with pytest.raises(ValueError, match="no experiment named 'third'.*'first', 'second'"):
        render_report(store, experiment="third")


def test_store_report_shows_skipped_and_pruned_trials_apart_from_failures(tmp_path):
    path = tmp_path / "states.db"
    exp = Experiment(None, {"x": {"_type": "uniform", "_value": [-3, 3]}}, storage=path,
                     name="stepped", random_state=0)
    told = {}
    for state in ("complete", "pruned", "skipped", "failed", "complete"):
        trial = exp.ask()
        told[trial.id] = state
        if state == "complete":
            exp.tell(trial, trial.params["x"] ** 2)
        elif state == "pruned":
            trial.intermediate += [(1, 50.0), (2, 40.0)]
            exp.tell(trial, state="pruned", message="worse than the median at step 2")
        elif state == "skipped":
            exp.tell(trial, state="skipped", message="would not finish in the 3.1 s left")
        else:
            exp.tell(trial, state="failed", message="RuntimeError: boom\ntraceback ...")
    exp.ask()  # still running when the report reads the store
    page = render_report(path)
    _assert_self_contained(page)
    assert "6 (2 complete, 1 pruned, 1 skipped, 1 failed, 1 running)" in page
    table = re.search(r'<table class="leaderboard">.*?</table>', page, flags=re.S).group(0)
    classes = re.findall(r"<tr(?: class=\"(\w+)\")?><td", table)
    assert classes == ["best", "", "prune", "skip", "fail", "skip"]
    assert ">note</th>" in table and "would not finish in the 3.1 s left" in table
    assert "RuntimeError: boom" in table and "traceback" not in table
    assert "40" in table.split('class="prune"')[1].split("</tr>")[0]  # the value when pruned
    search = _charts(page, "search")[0]
    assert search.count('class="point"') == 2 and search.count('class="pruned-point"') == 1
    assert "rings are pruned trials" in page

    (summary,) = store_leaderboards(path)
    board = summary["leaderboard"]
    assert list(board["status"]) == ["complete", "complete", "pruned", "skipped", "failed",
                                     "running"]
    assert board["score"].notna().tolist() == [True, True, True, False, False, False]
    assert board["score"][0] <= board["score"][1]  # minimised: best first
    assert ("trials", "6 (2 complete, 1 pruned, 1 skipped, 1 failed, 1 running)") in summary["facts"]


def test_model_report_reads_statuses_by_their_first_word(plan_and_importance):
    board = _board(np.random.default_rng(5))
    board.loc[5, "status"] = "skipped (budget)"
    board.loc[6, "status"] = "pruned"
    model = _Fitted(board, *plan_and_importance)
    page = render_report(model)
    table = re.search(r'<table class="leaderboard">.*?</table>', page, flags=re.S).group(0)
    classes = re.findall(r"<tr(?: class=\"(\w+)\")?><td", table)
    assert classes[-3:] == ["prune", "skip", "fail"] and classes.count("fail") == 1
    assert _charts(page, "search")[0].count('class="point"') == len(board) - 3


@pytest.mark.parametrize("metric, higher", [("rmse", False), ("neg_mean_absolute_error", True),
                                            ("r2", True), ("my_loss", False)])
def test_metric_direction_comes_from_the_metrics_module(plan_and_importance, metric, higher):
    model = _Fitted(_board(np.random.default_rng(6)), *plan_and_importance)
    model.metric_ = metric
    del model.metric_greater_is_better_  # an older model: the direction comes from the name
    assert greater_is_better(metric) is higher
    direction = "higher is better" if higher else "lower is better"
    assert f"{metric} ({direction})" in render_report(model)


def test_the_report_uses_public_tuners_names_and_no_sql():
    import featsmith.pipelines._report as report

    source = inspect.getsource(report)
    assert "sqlite3" not in source and "SELECT" not in source
    assert not re.search(r"featsmith\.tuners\._", source)


def test_a_path_that_is_not_a_store_is_refused_untouched(tmp_path):
    foreign = tmp_path / "other.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="without featsmith's 'experiments' and 'trials'"):
        render_report(foreign)
    tables = sqlite3.connect(foreign).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("notes",)]
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 50)
    with pytest.raises(ValueError, match="not a readable experiment store"):
        render_report(garbage)
    with pytest.raises(ValueError, match="no such file"):
        render_report(tmp_path / "missing.db")
    with pytest.raises(TypeError, match="fitted AutoPipeline or the path"):
        render_report(42)


def test_write_report_checks_the_path(stub, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        write_report(stub, tmp_path / "nowhere" / "r.html")
    with pytest.raises(ValueError, match="is a directory"):
        write_report(stub, tmp_path)
    assert write_report(stub, str(tmp_path / "r.html")).read_text(encoding="utf-8") == (
        render_report(stub))


# -- headless Chromium ---------------------------------------------------------------------


def _chromium(tmp_path, *args):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _read_png(path):
    """Decode an 8-bit RGB(A) non-interlaced PNG (what Chromium writes) into an array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(height, -1)
    out = np.zeros((height, width * bpp), np.int64)
    prev = np.zeros(width * bpp, np.int64)
    for r in range(height):
        kind, line = raw[r, 0], raw[r, 1:].astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(width, bpp), axis=0).ravel() % 256
        elif kind == 2:
            cur = (line + prev) % 256
        else:  # average and Paeth depend on the pixel just decoded: byte by byte
            filt, up, cur_l = line.tolist(), prev.tolist(), [0] * len(line)
            for i, x in enumerate(filt):
                a = cur_l[i - bpp] if i >= bpp else 0
                b = up[i]
                c = up[i - bpp] if i >= bpp else 0
                if kind == 3:
                    pred = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                cur_l[i] = (x + pred) & 255
            cur = np.asarray(cur_l, np.int64)
        out[r] = cur
        prev = cur
    return out.reshape(height, width, bpp)[:, :, :3].astype(np.uint8)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (apt-get install chromium)")
def test_chromium_draws_the_charts(stub, store, tmp_path):
    model_page = write_report(stub, tmp_path / "model.html")
    store_page = write_report(store, tmp_path / "store.html")

    dom = _chromium(tmp_path, "--dump-dom", model_page.resolve().as_uri())
    svgs = re.findall(r'<svg class="chart" data-chart="([\w-]+)"(.*?)</svg>', dom, flags=re.S)
    assert [k for k, _ in svgs] == ["search", "param", "param", "param", "param", "importance",
                                    "input-importance", "stages"]
    for kind, body in svgs:
        marks = body.count("<circle") + body.count('class="bar"')
        assert marks >= 3, kind
    assert len(_path_points(svgs[0][1])) >= 3
    assert "Leaderboard" in dom and "Time per stage" in dom

    dom = _chromium(tmp_path, "--dump-dom", store_page.resolve().as_uri())
    kinds = re.findall(r'<svg class="chart" data-chart="([\w-]+)"', dom)
    assert kinds.count("search") == 2 and kinds.count("param") >= 4

    shot = tmp_path / "model.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
              model_page.resolve().as_uri())
    pixels = _read_png(shot)
    assert pixels.shape == (2000, 1280, 3)
    flat = pixels.reshape(-1, 3)
    # A page of text on a light background: mostly light, but charts and text draw many
    # pixels, in many colours, and the bars in exactly their colour.
    ink = (flat.astype(int).sum(axis=1) < 600).mean()
    assert 0.01 < ink < 0.5
    assert len(np.unique(flat[::7], axis=0)) > 200
    bar = tuple(int(BAR_COLOUR[i:i + 2], 16) for i in (1, 3, 5))
    assert (flat == bar).all(axis=1).sum() > 500
    assert pixels.std() > 10
