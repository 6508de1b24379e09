"""Fit AutoPipeline on one dev task and print its leaderboard, ensemble and test score.

Usage::

    python benchmarks/pipeline_leaderboard.py police_force_type 150

Shows which model families (LightGBM, extra trees, linear, the NAS head at budgets of 120 s or
more) the search tried and which the greedy ensemble kept, with the test-split score.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# benchmarks/selectors.py would shadow the standard library's `selectors` module.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import time  # noqa: E402
from pathlib import Path  # noqa: E402

from sklearn.metrics import log_loss  # noqa: E402

SUITE = Path(_HERE).parent.parent / "shared" / "datasets"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name, budget = argv[0], float(argv[1]) if len(argv) > 1 else 60.0
    sys.path.insert(0, str(SUITE))
    from load import load

    from featsmith import AutoPipeline

    Xtr, ytr, Xte, yte, _ = load(name, folder=str(SUITE))
    start = time.perf_counter()
    model = AutoPipeline(time_budget=budget, random_state=0, verbose=0).fit(Xtr, ytr)
    seconds = time.perf_counter() - start
    print(model.leaderboard_.drop(columns="params").to_string())
    print(model.ensemble_.to_string())
    if model.task_ == "multiclass":
        print("test log loss", log_loss(yte, model.predict_proba(Xte), labels=model.classes_))
    else:
        print(f"test {model.metric_} (scikit-learn sign)", model.score(Xte, yte))
    print("fit seconds", round(seconds, 1), "validation", model.best_score_, model.stage_timings_)


if __name__ == "__main__":
    main()
