"""The CLI's fit as a new user runs it: a small CSV at a short budget uses the budget and
prints no warning for trials the planner decided not to run."""

import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd


def test_a_10s_cli_fit_uses_the_budget_and_warns_of_nothing(tmp_path):
    rng = np.random.default_rng(0)
    n = 800
    frame = pd.DataFrame({
        "amount": rng.normal(size=n).round(3),
        "city": rng.choice(["paris", "lyon", "nice", "lille"], n),
        "age": rng.integers(18, 80, n),
    })
    frame["bought"] = np.where(frame["amount"] + (frame["city"] == "nice") + rng.normal(size=n) > 0.8, "yes", "no")
    data, out = tmp_path / "shop.csv", tmp_path / "model.joblib"
    frame.to_csv(data, index=False)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [sys.executable, "-m", "featsmith", "fit", str(data), "--target", "bought", "--time-budget", "10",
         "--random-state", "0", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr and "failed" not in done.stderr.lower(), done.stderr
    model = joblib.load(out)
    # Trials here take a fraction of a second: nothing stops the search before the budget's end
    # but the time the refit needs.
    assert model.fit_seconds_ >= 0.8 * 10, model.stages_.to_string()
    assert model.fit_seconds_ <= 10 * 1.1 + 1
