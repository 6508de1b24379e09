import numpy as np
import pytest

from featsmith.selectors._losses import prior_raw, recalibrate, row_loss


def _binary(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=n) * 2
    y = (rng.random(n) < 1 / (1 + np.exp(-raw))).astype(int)
    return y, raw


def test_recalibrate_leaves_calibrated_scores_nearly_unchanged():
    y, raw = _binary()
    out = recalibrate("binary", y, raw)
    assert np.max(np.abs(out - raw)) < 0.15 * np.max(np.abs(raw))
    yr = raw + np.random.default_rng(1).normal(size=raw.size)
    np.testing.assert_allclose(recalibrate("l2", yr, raw), raw, atol=0.1 * np.abs(raw).max())


@pytest.mark.parametrize("scale, shift", [(3.0, 0.0), (0.3, 0.0), (1.0, 1.5)])
def test_recalibrate_undoes_overconfidence_and_bias(scale, shift):
    y, raw = _binary()
    off = scale * raw + shift
    out = recalibrate("binary", y, off)
    assert row_loss("binary", y, out).mean() < row_loss("binary", y, off).mean()
    np.testing.assert_allclose(out, raw, atol=0.1 * np.abs(raw).max())


def test_recalibrate_multiclass_one_scale_and_per_class_intercepts():
    rng = np.random.default_rng(2)
    n, k = 20000, 4
    true = rng.normal(size=(k, n))
    p = np.exp(true) / np.exp(true).sum(axis=0)
    y = (rng.random(n)[None, :] > np.cumsum(p, axis=0)).sum(axis=0)
    off = 2.5 * true + np.arange(k)[:, None]
    out = recalibrate("multiclass", y, off)
    assert out.shape == off.shape
    assert row_loss("multiclass", y, out).mean() < row_loss("multiclass", y, off).mean() - 0.05
    # Softmax ignores a common shift: compare centred logits.
    centred = out - out.mean(axis=0)
    np.testing.assert_allclose(centred, true - true.mean(axis=0), atol=0.15 * np.abs(true).max())


@pytest.mark.parametrize("kind", ["l2", "binary", "multiclass"])
def test_recalibrate_constant_scores_stay_the_prior(kind):
    y = np.array([0, 1, 1, 2, 2, 2] * 50) if kind == "multiclass" else np.array([0, 1, 1] * 100)
    prior = prior_raw(kind, y.astype(float) if kind == "l2" else y, 3 if kind == "multiclass" else 2)
    out = recalibrate(kind, y.astype(float) if kind == "l2" else y, prior)
    np.testing.assert_allclose(out, prior, atol=0.02)  # the prior is smoothed by half a count
