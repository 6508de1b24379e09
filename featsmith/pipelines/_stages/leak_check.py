"""Does validating on shuffled rows flatter the model? The check behind the validation plan.

Rows that share a time period (the same day's delays, sales, incidents) or an entity (a
customer, a store, a patient) move together. Shuffled folds then put some of a period's or
an entity's rows in training and the rest in validation, and the score is better than it will
be on later periods or new entities. The check measures that directly: the same model
(LightGBM's defaults), trained on as many rows, scored on the same held-out rows, once trained
on rows drawn from everywhere (shuffled) and once on rows of other periods before them or other
entities only. When the shuffled model's loss is lower beyond the noise of the held-out rows
(a standard error over periods or entities, since rows within one move together), shuffled
folds are optimistic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from featsmith.pipelines._lgbm import LGBMTrialRunner
from featsmith.pipelines._trials import row_log_loss

logger = logging.getLogger("featsmith")

# Share of the rows (the latest, or whole entities) held out by the check.
HELD_OUT_SHARE = 0.2
# Above this many rows the check runs on a sample of this size (whole entities for groups).
CHECK_MAX_ROWS = 10_000
# Standard errors by which the shuffled loss must be lower for folds to be called optimistic.
Z_OPTIMISTIC = 2.0
# Time periods the held-out rows are cut into for the standard error.
N_TIME_BLOCKS = 20
# Fewer held-out or training rows than this, and the check says nothing.
MIN_ROWS = 50


@dataclass(frozen=True)
class LeakCheck:
    """Outcome of the check (its fields are what ``validation_["check"]`` reports).

    ``shuffled_loss`` and ``ordered_loss`` are mean per-row losses (log loss for
    classification, squared error for regression) on the same held-out rows;
    ``difference = ordered_loss - shuffled_loss`` and ``se`` its standard error over periods
    or entities.
    """

    kind: str
    column: str | None
    shuffled_loss: float
    ordered_loss: float
    difference: float
    se: float
    n_rows: int

    @property
    def optimistic(self) -> bool:
        return self.difference > Z_OPTIMISTIC * self.se

    def as_dict(self) -> dict:
        return {"kind": self.kind, "column": self.column, "random_loss": self.shuffled_loss,
                "ordered_loss": self.ordered_loss, "difference": self.difference, "se": self.se,
                "n_rows": self.n_rows}

    def describe(self) -> str:
        what = "later periods" if self.kind == "time" else "new entities"
        return (f"shuffled folds scored {self.shuffled_loss:.4g} and {what} {self.ordered_loss:.4g} "
                f"(difference {self.difference:+.3g}, SE {self.se:.2g}, {self.n_rows:,} held-out rows)")


def _row_loss(task, y, pred):
    return (y - pred) ** 2 if task == "regression" else row_log_loss(y, pred)


def _cluster_se(diff, blocks):
    """Standard error of ``diff.mean()`` when rows of one block move together."""
    n = len(diff)
    _, inverse = np.unique(blocks, return_inverse=True)
    sums = np.bincount(inverse, weights=diff)
    sizes = np.bincount(inverse)
    if len(sizes) < 2:
        return np.inf
    resid = sums - sizes * diff.mean()
    return float(np.sqrt(len(sizes) / (len(sizes) - 1) * np.sum(resid**2)) / n)


def _sample(n, kind, key, rng):
    """Rows the check runs on: all of them, or a sample (whole entities for groups)."""
    if n <= CHECK_MAX_ROWS:
        return np.arange(n)
    if kind == "group":
        labels, inverse = np.unique(key, return_inverse=True)
        chosen = rng.permutation(len(labels))
        sizes = np.bincount(inverse)[chosen]
        keep = chosen[: max(int(np.searchsorted(np.cumsum(sizes), CHECK_MAX_ROWS)), 2)]
        return np.flatnonzero(np.isin(inverse, keep))
    return np.sort(rng.choice(n, CHECK_MAX_ROWS, replace=False))


def _held_out(kind, key, rng):
    """``(held-out rows, rows of other periods before them or of other entities)``."""
    n = len(key)
    if kind == "time":
        cut = np.sort(key)[int((1 - HELD_OUT_SHARE) * n)]
        held = key >= cut
        return np.flatnonzero(held), np.flatnonzero(~held)
    labels, inverse = np.unique(key, return_inverse=True)
    n_held = max(int(round(HELD_OUT_SHARE * len(labels))), 1)
    held = np.isin(inverse, rng.permutation(len(labels))[:n_held])
    return np.flatnonzero(held), np.flatnonzero(~held)


def check_leak(ctx, kind, column, key, deadline) -> LeakCheck | None:
    """Compare a model trained on shuffled rows with one trained on other periods (``kind``
    ``"time"``, ``key`` the times) or other entities (``"group"``, ``key`` the labels).

    Returns None when there are too few rows or distinct periods/entities to tell, or when the
    fits did not finish by ``deadline``.
    """
    rng = np.random.default_rng(ctx.sub_seed)
    rows = _sample(ctx.n_rows, kind, key, rng)
    key = key[rows]
    if len(np.unique(key)) < 5:
        return None
    held, other = _held_out(kind, key, rng)
    scored = rng.permutation(held)[: len(held) // 2]
    pool = np.setdiff1d(np.arange(len(rows)), scored)
    if len(scored) < MIN_ROWS or len(other) < MIN_ROWS:
        return None
    # As many training rows both ways: only where they come from differs.
    shuffled = np.sort(rng.choice(pool, min(len(other), len(pool)), replace=False))
    scored = np.sort(scored)
    X, y = ctx.X[rows], ctx.y_enc[rows]
    runner = LGBMTrialRunner(X, y, categorical=ctx.encoder.categorical_features_,
                             **{**ctx.runner_args(), "splits": [(other, scored), (shuffled, scored)]})
    losses = []
    for index, train in enumerate((other, shuffled)):
        _, pred, _, hit = runner._fit_fold({}, index, train, scored, deadline)
        if hit:
            logger.info("validation: no time left for the %s check; shuffled folds kept.", kind)
            return None
        losses.append(_row_loss(ctx.task, y[scored], pred))
    diff = losses[0] - losses[1]
    if kind == "time":
        blocks = np.searchsorted(np.quantile(key[scored], np.linspace(0, 1, N_TIME_BLOCKS + 1)[1:-1]), key[scored])
    else:
        blocks = key[scored]
    return LeakCheck(kind, column, float(losses[1].mean()), float(losses[0].mean()), float(diff.mean()),
                     _cluster_se(diff, blocks), len(scored))
