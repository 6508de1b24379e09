"""Synthetic tables for the scale benchmark: the column mix a new user brings (see issue 16)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_table(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n_rows`` rows: 10 numeric columns (``x3`` 5% missing), a 5,000-level categorical with a
    strong per-level effect, a 300-level and an 8-level categorical, an hourly timestamp; a
    binary target. The level effects are drawn from ``seed`` 0 always, so every size and every
    split share one data-generating process; ``seed`` draws the rows."""
    effects = np.random.default_rng(0)
    big_effect = effects.normal(0, 1.0, 5000)
    mid_effect = effects.normal(0, 0.5, 300)
    small_effect = effects.normal(0, 0.3, 8)
    weights = effects.normal(0, 0.4, 10)
    rng = np.random.default_rng(seed + 1)
    x = rng.normal(size=(n_rows, 10)).astype(np.float64)
    big = rng.integers(0, 5000, n_rows)
    mid = (rng.zipf(1.5, n_rows) - 1) % 300
    small = rng.integers(0, 8, n_rows)
    hours = rng.integers(0, 24 * 365 * 2, n_rows)
    when = np.datetime64("2024-01-01T00") + hours.astype("timedelta64[h]")
    hour_of_day = hours % 24
    logit = (big_effect[big] + mid_effect[mid] + small_effect[small] + x @ weights
             + 0.6 * np.sin(hour_of_day / 24 * 2 * np.pi) + 0.5 * x[:, 0] * x[:, 1] - 1.0)
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    x[rng.random(n_rows) < 0.05, 3] = np.nan
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(10)])
    frame["big"] = pd.Categorical.from_codes(big, [f"b{i}" for i in range(5000)])
    frame["mid"] = pd.Categorical.from_codes(mid, [f"m{i}" for i in range(300)])
    frame["small"] = pd.Categorical.from_codes(small, [f"s{i}" for i in range(8)])
    frame["when"] = when
    return frame, y
