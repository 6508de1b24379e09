"""Ways to combine AutoPipeline's best trials, on the same fit: is stacking worth building?

AutoPipeline combines its best trials by greedy ensemble selection (Caruana et al., 2004) on
their out-of-fold predictions. This script asks whether another rule would pay, on the same
candidates and the same refitted models, so that every rule's test score is paired:

- ``best single``: the trial with the best out-of-fold score alone;
- ``greedy``: what AutoPipeline does;
- ``simplex``: the non-negative weights summing to 1 that minimise the squared error or the log
  loss of the weighted average (exact, by SLSQP; greedy's weights are multiples of 1/40);
- ``stack``: a level-2 model on the out-of-fold predictions (Wolpert's stacking): logistic
  regression on the log-probabilities, or non-negative least squares with an intercept
  (Breiman's stacked regression);
- ``inner choice``: whichever of the first three scores best on inner folds of the
  out-of-fold rows that its weights were not fitted on (5-fold, twice).

The ensemble stage is hooked to keep every candidate, with no prediction-cost limit, so each is
refitted as the pipeline refits members (on all rows, or its fold models when time is out);
the rules' weights come from the candidates' out-of-fold predictions. LightGBM's defaults are
the anchor. Each rule's test difference from ``greedy`` comes with its paired-bootstrap SE.

    FEATSMITH_SUITE=../shared/datasets python benchmarks/ensemble_rules.py --budget 60
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
from scipy.optimize import minimize, nnls
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold

from automl import run_lgbm, split_validation
from bench_suite import Suite, add_suite_option, paired_bootstrap, predictions, score

RULES = ("best single", "greedy", "simplex", "stack", "inner choice")


def simplex_weights(preds, y, regression, min_weight=0.01):
    """Non-negative weights summing to 1 that minimise the squared error or the log loss."""
    if regression:
        design = np.column_stack(preds)
        scale = max(float(np.mean(y**2)), 1e-12)

        def loss(w):
            r = design @ w - y
            return float(r @ r) / len(y) / scale, 2 * design.T @ r / len(y) / scale
    else:
        design = np.clip(np.column_stack([p[np.arange(len(y)), y] for p in preds]), 1e-15, 1)

        def loss(w):
            mix = design @ w
            return float(-np.mean(np.log(mix))), -(design / mix[:, None]).mean(axis=0)

    k = len(preds)
    found = minimize(loss, np.full(k, 1 / k), jac=True, method="SLSQP", bounds=[(0, 1)] * k,
                     constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}], options={"maxiter": 200})
    w = np.clip(found.x, 0, None)
    w[w < min_weight] = 0
    return w / w.sum()


def rule_weights(preds, y, regression, metric_score):
    from featsmith.pipelines._ensemble import greedy_ensemble

    single = np.eye(len(preds))[int(np.argmax([metric_score(y, p) for p in preds]))]
    greedy, _ = greedy_ensemble(preds, lambda p: metric_score(y, p))
    return {"best single": single, "greedy": greedy, "simplex": simplex_weights(preds, y, regression)}


def inner_choice(preds, y, regression, metric_score, seed=0):
    """The rule of ``rule_weights`` that scores best on inner folds it was not fitted on."""
    scores = {}
    for repeat in range(2):
        folds = (KFold if regression else StratifiedKFold)(5, shuffle=True, random_state=seed + repeat)
        for fit, held in folds.split(preds[0], y):
            for rule, w in rule_weights([p[fit] for p in preds], y[fit], regression, metric_score).items():
                scores.setdefault(rule, []).append(metric_score(y[held], sum(wi * p[held] for wi, p in zip(w, preds))))
    means = {rule: float(np.mean(v)) for rule, v in scores.items()}
    return max(means, key=lambda r: (means[r], -list(means).index(r))), means


class Stacker:
    """Level-2 model on the members' predictions."""

    def __init__(self, regression, n_classes):
        self.regression, self.n_classes = regression, n_classes

    def _design(self, preds):
        if self.regression:
            return np.column_stack(preds + [np.ones(len(preds[0]))])
        return np.hstack([np.log(np.clip(p, 1e-6, 1)) for p in preds])

    def fit(self, preds, y):
        if self.regression:
            self.coef_, _ = nnls(self._design(preds), y)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model_ = LogisticRegression(C=0.1, max_iter=500).fit(self._design(preds), y)
        return self

    def predict(self, preds):
        if self.regression:
            return self._design(preds) @ self.coef_
        out = np.zeros((len(preds[0]), self.n_classes))
        out[:, self.model_.classes_] = self.model_.predict_proba(self._design(preds))
        return out


class Combined:
    """Stands in for the fitted pipeline's final model: the members' outputs combined by a rule."""

    def __init__(self, outputs, combine):
        self.outputs, self.combine = outputs, combine

    def predict(self, features):
        return self.combine([o.output(features) for o in self.outputs])


def run_task(task, suite, budget, seed):
    import featsmith.pipelines._auto as auto
    from featsmith.pipelines._stages.ensemble import Ensemble, Member
    from featsmith.pipelines._stages.search import TOP_TRIALS_KEPT
    from featsmith.pipelines._trials import usable

    Xtr, ytr, Xte, yte, tables = suite.load(task["name"])
    cv, groups = split_validation(task)
    kept = {}
    select = auto.select_ensemble

    def keep_every_candidate(ctx, trials, runner, **kw):
        chosen = select(ctx, trials, runner, **kw)
        candidates = sorted([tr for tr in trials if usable(tr) and tr.oof is not None and tr.models],
                            key=lambda tr: tr.value, reverse=True)[:TOP_TRIALS_KEPT]
        valid = runner.valid_mask
        classes = None if ctx.task == "regression" else np.arange(ctx.n_classes)

        def metric_score(y, pred):
            try:
                value = ctx.metric.score_predictions(y, pred, classes=classes)
            except ValueError:
                return -np.inf
            return value if np.isfinite(value) else -np.inf

        kept.update(oof=[tr.oof[valid] for tr in candidates], y=runner.y[valid], n_classes=ctx.n_classes,
                    regression=ctx.task == "regression", families=[tr.family for tr in candidates],
                    score=metric_score,
                    pipeline_weights=[next((m.weight for m in chosen.members if m.trial is tr), 0.0)
                                      for tr in candidates])
        return Ensemble(members=[Member(tr, 1 / len(candidates)) for tr in candidates], value=chosen.value,
                        cost_limit=None, summary="every candidate (benchmarks/ensemble_rules.py)")

    auto.select_ensemble = keep_every_candidate
    try:
        kw = {} if groups is None else {"groups": groups}
        if tables:
            kw.update({"tables": tables, "relationships": [tuple(r) for r in task["relationships"]]})
        model = auto.AutoPipeline(time_budget=budget, random_state=seed, n_jobs=2, verbose=0, max_predict_cost=None,
                                  **({} if cv is None else {"cv": cv})).fit(Xtr, ytr, **kw)
    finally:
        auto.select_ensemble = select
    outputs = [out for _, out in model.model_.members]
    if len(outputs) != len(kept["oof"]):
        return None
    oof, y, regression = kept["oof"], kept["y"], kept["regression"]
    weights = rule_weights(oof, y, regression, kept["score"])
    choice, inner = inner_choice(oof, y, regression, kept["score"], seed)
    weights["inner choice"] = weights[choice]
    stacker = Stacker(regression, kept["n_classes"]).fit(oof, y)
    combine = {rule: (lambda w: lambda preds: sum(wi * p for wi, p in zip(w, preds)))(w) for rule, w in weights.items()}
    combine["stack"] = stacker.predict
    outs = {}
    for rule in RULES:
        model.model_ = Combined(outputs, combine[rule])
        outs[rule] = predictions(task, model, Xte)
    lgbm, _, _ = run_lgbm(task, Xtr, ytr, Xte, yte, 2)
    row = {"task": task["name"], "metric": task["metric"], "lgbm": lgbm, "candidates": kept["families"],
           "pipeline_is_greedy": bool(np.allclose(kept["pipeline_weights"], weights["greedy"])),
           "choice": choice, "inner": inner}
    for rule in RULES:
        row[rule] = score(task, yte, outs[rule])
        if rule != "greedy":
            row[f"{rule} vs greedy"] = paired_bootstrap(task, yte, outs[rule], outs["greedy"])
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60)
    ap.add_argument("--tasks", nargs="*")
    ap.add_argument("--seed", type=int, default=0)
    add_suite_option(ap)
    args = ap.parse_args(argv)
    suite = Suite(args.suite)
    rows = []
    for name in args.tasks or suite.names(single_table=True):
        row = run_task(suite.manifest[name], suite, args.budget, args.seed)
        if row is None:
            print(f"{name}: a candidate was dropped at the refit; skipped", file=sys.stderr)
            continue
        rows.append(row)
        print(json.dumps(row, default=str), file=sys.stderr, flush=True)
    print(f"\nTest scores at {args.budget:.0f} s, every rule on the same refitted candidates "
          f"(difference from greedy in SE of a paired bootstrap; + is better)\n")
    print("| task | metric | LightGBM defaults | " + " | ".join(RULES) + " | inner choice picked |")
    print("|---|---|---|" + "---|" * (len(RULES) + 1))
    wins = {rule: [0, 0] for rule in RULES if rule != "greedy"}
    for r in rows:
        cells = []
        for rule in RULES:
            cell = f"{r[rule]:.5g}"
            if rule != "greedy":
                diff, se = r[f"{rule} vs greedy"]
                cell += f" ({diff / se:+.1f})" if se > 0 else " (0)"
                wins[rule][0] += diff > 0
                wins[rule][1] += diff < 0
            cells.append(cell)
        print(f"| {r['task']} | {r['metric']} | {r['lgbm']:.5g} | " + " | ".join(cells) + f" | {r['choice']} |")
    print()
    for rule, (better, worse) in wins.items():
        print(f"{rule} against greedy: better on {better}, worse on {worse} of {len(rows)}")


if __name__ == "__main__":
    main()
