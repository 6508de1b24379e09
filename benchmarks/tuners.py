"""Benchmark featsmith's TPE against Optuna's TPESampler (and random search) in the same run.

Three parts, each printed as a markdown table:

1. quality: median best value (and regret) after 50/100/200 trials over several seeds on
   Branin, Hartmann-6, Rosenbrock-10D, Ackley-5D and a mixed categorical/conditional function;
2. overhead: milliseconds per ask+tell around trial 1,000 on a 7-parameter mixed space;
3. real: LightGBM tuned with 5-fold CV on three dev tasks of the dataset suite (``--suite``).

Usage::

    OMP_WAIT_POLICY=PASSIVE python benchmarks/tuners.py            # full run (long)
    OMP_WAIT_POLICY=PASSIVE python benchmarks/tuners.py --quick    # minutes
    python benchmarks/tuners.py --parts quality --seeds 10 --trials 200
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from featsmith.tuners import RandomTuner, TPETuner, hp

from bench_suite import Suite, add_suite_option, lgbm_frame


# ---- test functions ----------------------------------------------------------------------
def branin(p):
    x, y = p["x"], p["y"]
    return ((y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10)


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p):
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock10(p):
    x = np.array([p[f"x{i}"] for i in range(10)])
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def ackley5(p):
    x = np.array([p[f"x{i}"] for i in range(5)])
    return float(-20 * np.exp(-0.2 * np.sqrt(np.mean(x**2))) - np.exp(np.mean(np.cos(2 * np.pi * x)))
                 + 20 + math.e)


def mixed(p):
    """Categorical + conditional: a model choice with its own parameters; minimum 0."""
    m = p["model"]
    base = (math.log10(p["lr"]) + 2.0) ** 2 + 0.05 * abs(p["batch"] - 64) / 16
    base += {"relu": 0.0, "gelu": 0.1, "tanh": 0.4, "sigmoid": 0.8}[p["act"]]
    if m["_name"] == "gbdt":
        return base + 0.3 + (m["depth"] - 6) ** 2 / 10 + (m["subsample"] - 0.8) ** 2 * 4
    if m["_name"] == "mlp":
        return base + (math.log2(m["width"]) - 7) ** 2 / 4 + (m["dropout"] - 0.2) ** 2 * 5 + (
            0.0 if m["norm"] == "layer" else 0.2)
    return base + 1.0 + (math.log10(m["c"]) - 1.0) ** 2 / 4


FUNCTIONS = {
    "branin": (branin, {"x": hp.uniform(-5, 10), "y": hp.uniform(0, 15)}, 0.397887),
    "hartmann6": (hartmann6, {f"x{i}": hp.uniform(0, 1) for i in range(6)}, -3.32237),
    "rosenbrock10": (rosenbrock10, {f"x{i}": hp.uniform(-5, 10) for i in range(10)}, 0.0),
    "ackley5": (ackley5, {f"x{i}": hp.uniform(-32.768, 32.768) for i in range(5)}, 0.0),
    "mixed": (mixed, {
        "lr": hp.loguniform(1e-5, 1.0),
        "batch": hp.quniform(16, 256, 16),
        "act": hp.choice("relu", "gelu", "tanh", "sigmoid"),
        "model": hp.choice(
            hp.nested("gbdt", depth=hp.randint(2, 13), subsample=hp.uniform(0.3, 1.0)),
            hp.nested("mlp", width=hp.qloguniform(8, 1024, 8), dropout=hp.uniform(0, 0.6),
                      norm=hp.choice("batch", "layer")),
            hp.nested("linear", c=hp.loguniform(1e-4, 1e4)),
        ),
    }, 0.0),
}


# ---- Optuna on the same NNI space ---------------------------------------------------------
def optuna_params(trial, spec: dict, prefix: str = "") -> dict:
    """Suggest an NNI space through Optuna's define-by-run API; returns NNI-layout params."""
    out = {}
    for key, s in spec.items():
        if key == "_name":
            continue
        name, t, v = prefix + key, s["_type"], s["_value"]
        if t == "choice":
            labels = [o["_name"] if isinstance(o, dict) else o for o in v]
            label = trial.suggest_categorical(name, labels)
            option = v[labels.index(label)]
            if isinstance(option, dict):
                out[key] = {"_name": label, **optuna_params(trial, option, f"{name}/{label}/")}
            else:
                out[key] = label
        elif t == "uniform":
            out[key] = trial.suggest_float(name, v[0], v[1])
        elif t == "loguniform":
            out[key] = trial.suggest_float(name, v[0], v[1], log=True)
        elif t == "randint":
            out[key] = trial.suggest_int(name, v[0], v[1] - 1)
        elif t == "quniform":
            out[key] = trial.suggest_int(name, v[0], v[1], step=v[2])
        elif t == "qloguniform":  # Optuna has no quantised log: log int, rounded like NNI
            x = trial.suggest_int(name, v[0], v[1], log=True)
            out[key] = int(min(max(round(x / v[2]) * v[2], v[0]), v[1]))
        else:
            raise ValueError(f"benchmark space uses {t}, which the Optuna bridge does not map")
    return out


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def run_ours(cls, fn, space, n, seed):
    tuner = cls(space, random_state=seed)
    trace = np.empty(n)
    for i in range(n):
        trial = tuner.ask()
        trace[i] = fn(trial.params)
        tuner.tell(trial, trace[i])
    return np.minimum.accumulate(trace)


def run_optuna(fn, space, n, seed):
    optuna = _optuna()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    trace = np.empty(n)
    for i in range(n):
        trial = study.ask()
        trace[i] = fn(optuna_params(trial, space))
        study.tell(trial, trace[i])
    return np.minimum.accumulate(trace)


def part_quality(seeds: int, checkpoints: list[int], functions: list[str]) -> None:
    n = max(checkpoints)
    print(f"\n## Quality: median best value over {seeds} seeds (regret = best - optimum)\n")
    print("| function | trials | featsmith TPE | Optuna TPE | random | regret ratio ours/Optuna |")
    print("|---|---|---|---|---|---|")
    wins = 0
    rows = 0
    for fname in functions:
        fn, space, opt = FUNCTIONS[fname]
        t0 = time.time()
        ours = np.array([run_ours(TPETuner, fn, space, n, s) for s in range(seeds)])
        t_ours = time.time() - t0
        t0 = time.time()
        theirs = np.array([run_optuna(fn, space, n, s) for s in range(seeds)])
        t_theirs = time.time() - t0
        rnd = np.array([run_ours(RandomTuner, fn, space, n, s) for s in range(seeds)])
        for c in checkpoints:
            mo, mt, mr = (np.median(a[:, c - 1]) for a in (ours, theirs, rnd))
            ratio = (mo - opt) / (mt - opt) if mt - opt > 0 else float("nan")
            rows += 1
            wins += mo <= mt
            print(f"| {fname} | {c} | {mo:.4g} | {mt:.4g} | {mr:.4g} | {ratio:.2f} |")
        print(f"<!-- {fname}: wall {t_ours:.1f}s ours, {t_theirs:.1f}s Optuna -->", flush=True)
    print(f"\nfeatsmith TPE median <= Optuna's in {wins}/{rows} (function, trials) cells.")


# ---- overhead -----------------------------------------------------------------------------
OVERHEAD_SPACE = {
    "lr": hp.loguniform(1e-4, 1.0),
    "depth": hp.randint(1, 16),
    "frac": hp.uniform(0.1, 1.0),
    "leaves": hp.quniform(8, 256, 8),
    "booster": hp.choice("gbdt", "dart", "goss", "rf"),
    "loss": hp.choice("l1", "l2", "huber"),
    "reg": hp.loguniform(1e-3, 10.0),
}


def _overhead_value(p):
    return (math.log10(p["lr"]) + 1.5) ** 2 + (p["depth"] - 6) ** 2 / 20 + p["frac"] + p["leaves"] / 256 + (
        p["booster"] != "gbdt") + 0.5 * (p["loss"] != "l2") + abs(math.log10(p["reg"]))


def _step(ask, tell) -> float:
    """Seconds of one ``ask()`` + ``tell(handle, value)`` (the objective itself not timed);
    ``ask`` returns ``(handle, params)``."""
    t0 = time.perf_counter()
    handle, params = ask()
    t1 = time.perf_counter()
    value = _overhead_value(params)
    t2 = time.perf_counter()
    tell(handle, value)
    return (t1 - t0) + (time.perf_counter() - t2)


def part_overhead(n_total: int, window: int) -> None:
    lo = n_total - window // 2
    hi = n_total + window // 2
    tuner = TPETuner(OVERHEAD_SPACE, random_state=0)
    optuna = _optuna()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))

    def ours_ask():
        trial = tuner.ask()
        return trial, trial.params

    def optuna_ask():
        trial = study.ask()
        return trial, optuna_params(trial, OVERHEAD_SPACE)

    for _ in range(lo):
        _step(ours_ask, tuner.tell)
        _step(optuna_ask, study.tell)
    # the timed window alternates the two, so both see the same load on a shared machine
    times = np.array([(_step(ours_ask, tuner.tell), _step(optuna_ask, study.tell))
                      for _ in range(lo, hi)])
    ours, theirs = 1000 * np.median(times, axis=0)
    print(f"\n## Overhead: median ms per ask+tell, trials {lo}-{hi} (7 mixed parameters)\n")
    print("| tuner | ms / ask+tell | ratio to Optuna |")
    print("|---|---|---|")
    print(f"| featsmith TPETuner | {ours:.2f} | {ours / theirs:.3f} |")
    print(f"| Optuna TPESampler (defaults) | {theirs:.2f} | 1.000 |", flush=True)


# ---- real: LightGBM with 5-fold CV ----------------------------------------------------------
REAL_TASKS = ["credit_data", "email_spam", "ames_housing"]
LGBM_SPACE = {
    "learning_rate": hp.loguniform(0.01, 0.3),
    "n_estimators": hp.quniform(50, 500, 10),
    "num_leaves": hp.qloguniform(4, 256, 1),
    "min_child_samples": hp.qloguniform(2, 128, 1),
    "subsample": hp.uniform(0.5, 1.0),
    "colsample_bytree": hp.uniform(0.3, 1.0),
    "reg_lambda": hp.loguniform(1e-3, 10.0),
    "reg_alpha": hp.loguniform(1e-3, 10.0),
}


def _load_task(suite, name):
    X, y, _, _, _ = suite.load(name)
    info = suite.manifest[name]
    X = lgbm_frame(X)
    if info["task"] == "binary":
        y = (y == info["positive_class"]).astype(int)
    return X, y, info


def _cv_objective(X, y, info):
    import lightgbm as lgb
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    if info["task"] == "binary":
        model_cls, scoring = lgb.LGBMClassifier, "roc_auc"
        cv = StratifiedKFold(5, shuffle=True, random_state=0)
    else:
        model_cls, scoring = lgb.LGBMRegressor, "neg_root_mean_squared_error"
        cv = KFold(5, shuffle=True, random_state=0)

    def objective(params):
        model = model_cls(**{k: v for k, v in params.items()}, subsample_freq=1, n_jobs=1,
                          verbose=-1, random_state=0)
        return float(np.mean(cross_val_score(model, X, y, cv=cv, scoring=scoring)))

    return objective


def part_real(n_trials: int, tasks: list[str], with_random: bool, suite: Suite) -> None:
    print(f"\n## Real: LightGBM, 5-fold CV, {n_trials} trials per tuner, seed 0 (higher is better; "
          "rmse reported negated)\n")
    print("| task | metric | featsmith TPE best CV | Optuna TPE best CV | random best CV | "
          "ours - Optuna | wall s ours / Optuna |")
    print("|---|---|---|---|---|---|---|")
    optuna = _optuna()
    for name in tasks:
        X, y, info = _load_task(suite, name)
        objective = _cv_objective(X, y, info)
        res = {"random": (float("nan"), 0.0)}
        for label in ("ours", "optuna", "random") if with_random else ("ours", "optuna"):
            t0 = time.time()
            if label == "optuna":
                study = optuna.create_study(direction="maximize",
                                            sampler=optuna.samplers.TPESampler(seed=0))
                for _ in range(n_trials):
                    trial = study.ask()
                    study.tell(trial, objective(optuna_params(trial, LGBM_SPACE)))
                best = study.best_value
            else:
                cls = TPETuner if label == "ours" else RandomTuner
                tuner = cls(LGBM_SPACE, mode="max", random_state=0)
                best = -math.inf
                for _ in range(n_trials):
                    trial = tuner.ask()
                    value = objective(trial.params)
                    tuner.tell(trial, value)
                    best = max(best, value)
            res[label] = (best, time.time() - t0)
        metric = "roc_auc" if info["task"] == "binary" else "-rmse"
        print(f"| {name} | {metric} | {res['ours'][0]:.5g} | {res['optuna'][0]:.5g} | "
              f"{res['random'][0]:.5g} | {res['ours'][0] - res['optuna'][0]:+.4g} | "
              f"{res['ours'][1]:.0f} / {res['optuna'][1]:.0f} |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run: fewer seeds and trials")
    ap.add_argument("--parts", default="quality,overhead,real")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None, help="largest quality checkpoint")
    ap.add_argument("--functions", default=",".join(FUNCTIONS))
    ap.add_argument("--real-trials", type=int, default=None)
    ap.add_argument("--tasks", default=",".join(REAL_TASKS))
    ap.add_argument("--real-random", action="store_true", help="also run random search on the real tasks")
    add_suite_option(ap)
    args = ap.parse_args(argv)
    seeds = args.seeds or (5 if args.quick else 10)
    top = args.trials or (100 if args.quick else 200)
    checkpoints = [c for c in (50, 100, 200) if c <= top] or [top]
    parts = args.parts.split(",")
    import optuna

    print(f"# featsmith tuners benchmark (optuna {optuna.__version__}; quick={args.quick})")
    if "overhead" in parts:
        part_overhead(1000, 100 if args.quick else 200)
    if "quality" in parts:
        part_quality(seeds, checkpoints, args.functions.split(","))
    if "real" in parts:
        part_real(args.real_trials or (20 if args.quick else 100), args.tasks.split(","), args.real_random,
                  Suite(args.suite))


if __name__ == "__main__":
    main()
