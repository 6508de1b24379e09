"""Synthetic data with known informative features, shared by the selector tests."""

import numpy as np

INFORMATIVE = [0, 1, 2, 3, 4, 5]


def make_recovery(task, n=1200, p=24, seed=0, n_classes=2):
    """``p`` standard-normal features; the target depends on the first six only, with linear,
    non-linear and interaction terms."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    f = (1.5 * X[:, 0] - 1.2 * X[:, 1] + X[:, 2] + np.tanh(2 * X[:, 3])
         + 0.8 * X[:, 4] * X[:, 5])
    if task == "regression":
        return X, f + 0.5 * rng.normal(size=n)
    f = f + 0.5 * rng.normal(size=n)
    if n_classes == 2:
        return X, (f > np.median(f)).astype(int)
    return X, np.digitize(f, np.quantile(f, np.linspace(0, 1, n_classes + 1)[1:-1]))


def recovery(selected, informative=INFORMATIVE):
    """(share of the informative features found, share of the selection that is noise)."""
    selected = set(int(i) for i in selected)
    found = len(selected & set(informative)) / len(informative)
    false = len(selected - set(informative)) / max(1, len(selected))
    return found, false
