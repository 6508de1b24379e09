"""int8: the per-layer decision, no warning reaching the user, pickling, and the fp32 fallback."""

import logging
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from torch import nn

import featsmith.compress._quantize as quantize_module
from featsmith.compress import CompactHead, Int8Linear, compress_head, quantize_int8, shrink
from featsmith.tuners.nas import NASHeadClassifier, NASHeadRegressor


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))


def test_int8_layers_are_accurate_and_pickle_without_warnings():
    model = _model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small = quantize_int8(model, benchmark=False)
        x = torch.randn(512, 256)
        out = small(x)
        loaded = pickle.loads(pickle.dumps(small))
        again = loaded(x)
    assert isinstance(small[0], Int8Linear) and small.int8_report_[0]["int8"]
    with torch.no_grad():  # activations are quantized to 7 bits per batch: a few % of the range
        ref = model(x)
        assert float((out - ref).abs().max()) < 0.05 * float(ref.abs().max()) + 1e-3
    torch.testing.assert_close(again, out)
    assert len(pickle.dumps(small)) < 0.4 * len(pickle.dumps(model))


def test_small_batches_use_fp32_below_the_measured_crossover():
    layer = Int8Linear.from_float(nn.Linear(64, 32), min_batch=100)
    x = torch.randn(3, 64)
    torch.testing.assert_close(layer(x), nn.functional.linear(x, layer._dequantized(), layer.bias))
    assert layer._packed is None  # the int8 kernel was not needed


def test_per_layer_benchmark_keeps_fp32_where_int8_is_slower(monkeypatch):
    # Pretend int8 loses everywhere on the second layer: it must stay a plain fp32 Linear.
    def fake(linear, q, sizes, min_seconds):
        slow = linear.out_features == 1
        return {**{f"fp32_us_{b}": 1.0 for b in sizes}, **{f"int8_us_{b}": 2.0 if slow or b < 128 else 0.5
                                                            for b in sizes}}
    monkeypatch.setattr(quantize_module, "_benchmark_layer", fake)
    small = quantize_int8(_model())
    assert isinstance(small[0], Int8Linear) and small[0].min_batch == 128
    assert type(small[2]) is nn.Linear and small.int8_report_[1]["min_batch"] is None


def test_missing_int8_kernels_fall_back_to_fp32_with_one_log_line(monkeypatch, caplog):
    monkeypatch.setattr(quantize_module, "int8_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="featsmith"):
        small = quantize_int8(_model())
    assert not any(isinstance(m, Int8Linear) for m in small.modules())
    assert len(caplog.records) == 1 and "fp32" in caplog.records[0].getMessage()
    x = torch.randn(4, 256)
    torch.testing.assert_close(small(x), _model()(x))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_compress_head_prunes_fine_tunes_and_round_trips(task, tmp_path):
    import joblib

    if task == "regression":
        X, y = make_regression(n_samples=300, n_features=6, random_state=0)
        est = NASHeadRegressor(max_candidates=1, max_epochs=3, random_state=0).fit(X, y)
    else:
        X, y = make_classification(n_samples=300, n_features=6, n_informative=4,
                                   n_classes=2 if task == "binary" else 3, random_state=0)
        est = NASHeadClassifier(max_candidates=1, max_epochs=3, random_state=0).fit(X, y)
    small = compress_head(est, X, y, sparse_ratio=0.5, int8=True, epochs=2)
    assert isinstance(small.model_, CompactHead) and small.compression_["fine_tuned"]
    assert small.compression_["weights_after"] < 0.6 * small.compression_["weights_before"]
    assert type(est.model_) is not CompactHead  # the original is left alone
    path = tmp_path / "head.joblib"
    joblib.dump(small, path)
    loaded = joblib.load(path)
    pred = small.predict_proba(X) if task != "regression" else small.predict(X)
    again = loaded.predict_proba(X) if task != "regression" else loaded.predict(X)
    np.testing.assert_allclose(again, pred, rtol=1e-5, atol=1e-6)
    assert [b.linear.out_features for b in loaded.model_.blocks] == [
        b.linear.out_features for b in small.model_.blocks]


def test_compress_head_errors():
    X, y = make_classification(n_samples=100, random_state=0)
    est = NASHeadClassifier(max_candidates=1, max_epochs=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="method"):
        compress_head(est, method="random")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        compress_head(est, sparse_ratio=1.5)
    with pytest.raises(ValueError, match="not among"):
        compress_head(est, X, np.where(y == 1, 5, 0))
    quantized = compress_head(est, sparse_ratio=0.0, int8=False)
    quantized.model_ = quantize_int8(quantized.model_, benchmark=False)
    with pytest.raises(ValueError, match="int8 already"):
        compress_head(quantized, X, y)
    with pytest.raises(TypeError, match="int8 layers already"):
        shrink(quantized.model_)
