"""Candidates generated per second: 100k rows x (20 numeric + 5 categorical).

Times FeatureGenerator.fit (enumerate + fit every candidate's statistics) and the evaluation
of every candidate on the training rows in column chunks (CandidateSource, out-of-fold target
encodings), and, as the anchor in the same run, pandas computing the same group-by and cross
candidates one at a time (groupby-transform / column arithmetic, the way OpenFE-style code
does it) on a sample of them.

    python benchmarks/featurize_throughput.py            # 100k rows, 5000 candidates
    python benchmarks/featurize_throughput.py --quick    # 20k rows, 1000 candidates
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd

from featsmith.featurize import FeatureGenerator

from bench_suite import reset_peak, rss_kb


def make(n, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) * (i + 1) for i in range(20)})
    for j in range(5):
        X[f"c{j}"] = rng.integers(0, 10 ** (j % 3 + 1), n).astype(str)
    y = X["x0"] + X.groupby("c1")["x1"].transform("mean") + rng.normal(size=n)
    return X, y


def pandas_anchor(X, names):
    """Compute group-by and cross candidates one at a time with pandas."""
    t = time.perf_counter()
    done = 0
    for name in names:
        if " by " in name and name.startswith(("mean(", "std(", "min(", "max(", "median(")):
            stat, rest = name.split("(", 1)
            x, k = rest.split(") by ")
            if k.startswith("("):
                continue
            X.groupby(k)[x].transform(stat).to_numpy(np.float32)
        elif name.startswith("(x") and " / " not in name and " by " not in name:
            a, op, b = name[1:-1].split(" ")
            {"+": X[a] + X[b], "-": X[a] - X[b], "*": X[a] * X[b]}[op].to_numpy(np.float32)
        else:
            continue
        done += 1
    return done, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    n, cap = (20_000, 1000) if args.quick else (100_000, 5000)
    X, y = make(n)
    base = rss_kb("VmRSS")
    reset_peak()
    t = time.perf_counter()
    gen = FeatureGenerator(max_candidates=cap, random_state=0, chunk_size=256).fit(X, y)
    fit_s = time.perf_counter() - t
    src = gen.candidate_source()
    t = time.perf_counter()
    for start in range(0, len(src.names), 256):
        src.evaluate(src.names[start:start + 256])
    eval_s = time.perf_counter() - t
    peak = (rss_kb("VmHWM") - base) * 1024
    n_c = len(src.names)
    sample = [nm for nm in src.names if " by " in nm or nm.startswith("(x")][:400]
    fs_t = time.perf_counter()
    src.evaluate(sample)
    fs_sample_s = time.perf_counter() - fs_t
    done, pd_s = pandas_anchor(X, sample)
    fs_done_t = time.perf_counter()
    src.evaluate([s for s in sample if _anchor_covers(s)])
    fs_done_s = time.perf_counter() - fs_done_t
    print(f"rows={n}, columns=20 numeric + 5 categorical, candidates={n_c}")
    print()
    print("| step | seconds | candidates / s |")
    print("|---|---|---|")
    print(f"| featsmith fit (enumerate + fit statistics) | {fit_s:.2f} | {n_c / fit_s:,.0f} |")
    print(f"| featsmith evaluate all, 256-column chunks (OOF target enc.) | {eval_s:.2f} | {n_c / eval_s:,.0f} |")
    print(f"| featsmith fit + evaluate | {fit_s + eval_s:.2f} | {n_c / (fit_s + eval_s):,.0f} |")
    print(f"| featsmith evaluate {done} group-by/cross candidates | {fs_done_s:.3f} | {done / fs_done_s:,.0f} |")
    print(f"| pandas anchor, same {done} candidates one at a time | {pd_s:.3f} | {done / pd_s:,.0f} |")
    print()
    print(f"Peak resident-set growth during fit + evaluate: {peak / 2**20:.0f} MB; "
          f"full float32 matrix would be {n * n_c * 4 / 2**20:.0f} MB.")
    print(f"Speed-up vs pandas on the shared candidates: {pd_s / fs_done_s:.1f}x")


def _anchor_covers(name):
    if " by " in name and name.startswith(("mean(", "std(", "min(", "max(", "median(")):
        return not name.split(") by ")[1].startswith("(")
    return name.startswith("(x") and " / " not in name and " by " not in name


if __name__ == "__main__":
    main()
