"""`featsmith compress`: distill, prune and quantize a saved model, and its errors."""

import joblib
import numpy as np
import polars as pl
import pytest

from featsmith.cli import main
from featsmith.compress import CompactHead, Int8Linear


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("compress")
    rng = np.random.default_rng(0)
    n = 300
    x1, colour = rng.normal(size=n), rng.choice(["red", "green", "blue"], size=n)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-(2.5 * x1 + 2.0 * (colour == "red") - 1))), "yes", "no")
    pl.DataFrame({"x1": x1, "x2": rng.normal(size=n), "colour": colour, "bought": y}).write_csv(d / "train.csv")
    assert main(["fit", str(d / "train.csv"), "--target", "bought", "--time-budget", "5", "--max-trials", "1",
                 "--n-jobs", "1", "--random-state", "0", "-q", "--out", str(d / "model.joblib")]) == 0
    return d


def _args(d, *extra):
    return ["compress", str(d / "model.joblib"), "-q", *extra]


def test_compress_distills_prunes_and_quantizes(saved, capsys):
    d = saved
    data = ["--data", str(d / "train.csv"), "--target", "bought", "--time-budget", "2", "--random-state", "0"]
    assert main(_args(d, "--out", str(d / "small.joblib"), "--student", "nas_head", "--prune", "0.5", "--int8",
                      *data)) == 0
    out = capsys.readouterr().out
    assert "neural head 1" in out and "fine-tuned" in out and "validation roc_auc" in out
    small, model = joblib.load(d / "small.joblib"), joblib.load(d / "model.joblib")
    head = small.model_.members[0][1].model
    assert isinstance(head.model_, CompactHead) and head.compression_["sparse_ratio"] == 0.5
    frame = pl.read_csv(d / "train.csv").drop("bought")
    assert list(small.classes_) == list(model.classes_)
    assert np.mean(small.predict(frame) == model.predict(frame)) > 0.8
    assert main(["predict", str(d / "small.joblib"), str(d / "train.csv"), "-q", "--out", str(d / "p.csv")]) == 0

    # An int8 head cannot be pruned again: a one-line error, not a traceback. (Whether a layer
    # went int8 depends on the per-layer timing.)
    has_int8 = any(isinstance(m, Int8Linear) for m in head.model_.modules())
    rc = main(["compress", str(d / "small.joblib"), "-q", "--out", str(d / "again.joblib"), "--prune", "0.5"])
    assert rc == (2 if has_int8 else 0)
    assert ("int8 already" in capsys.readouterr().err) == has_int8

    assert main(_args(d, "--out", str(d / "gbm.joblib"), "--student", "lightgbm", *data)) == 0
    assert joblib.load(d / "gbm.joblib").distillation_["student"] == "lightgbm"


@pytest.mark.parametrize("extra, message", [
    ([], "nothing to do"),
    (["--student", "lightgbm"], "add --data TRAIN --target COL"),
    (["--int8", "--data", "train.csv"], "go together"),
    (["--prune", "1.5"], "between 0 and 1"),
    (["--student", "xgboost"], "invalid choice"),
    (["--int8"], "no neural head"),
])
def test_compress_errors(saved, capsys, extra, message):
    extra = [str(saved / e) if e.endswith(".csv") else e for e in extra]
    assert main(_args(saved, "--out", str(saved / "x.joblib"), *extra)) == 2
    assert message in capsys.readouterr().err


def test_compress_refuses_to_overwrite_its_input_and_missing_files(saved, capsys):
    assert main(_args(saved, "--out", str(saved / "model.joblib"), "--int8")) == 2
    assert "is the input model" in capsys.readouterr().err
    assert main(["compress", str(saved / "nope.joblib"), "--out", str(saved / "x.joblib"), "--int8"]) == 2
    assert "no such file" in capsys.readouterr().err
