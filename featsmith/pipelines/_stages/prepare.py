"""Stage 1, prepare: check and convert the input, infer the task and metric, encode the raw
columns. Its result is the :class:`FitContext` every later stage works from."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from featsmith._frame import frame_kind
from featsmith._validation import check_frame, check_target, extract_target, warn_infinite
from featsmith.featurize import TableEncoder
from featsmith.pipelines._context import FitContext
from featsmith.pipelines._metrics import resolve_metric
from featsmith.pipelines._stages.base import StageResult, stage
from featsmith._task import infer_task


@dataclass(frozen=True, kw_only=True)
class Prepared(StageResult):
    """The fit's context, and what ``predict`` must know about the input columns.

    Attributes
    ----------
    context : FitContext
        Without a validation plan yet.
    input_columns : list of str
    feature_names_in : ndarray or None
        The column names, when the input had string names.
    """

    context: FitContext
    input_columns: list
    feature_names_in: np.ndarray | None


def resolve_seed(random_state) -> int:
    """One int seed from ``random_state`` (an int, a numpy Generator or RandomState, or None)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return int(random_state)


def resolve_threads(n_jobs) -> int:
    """Threads for ``n_jobs``: None or -1 is every core, -2 all but one, ..."""
    cores = os.cpu_count() or 1
    if n_jobs is None or n_jobs == -1:
        return cores
    if n_jobs < -1:
        return max(1, cores + 1 + n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs=0 is not valid; use a positive count, -1 for all cores or None.")
    return int(n_jobs)


@stage("prepare")
def prepare(X, y, *, task, metric, random_state, n_jobs, groups, relational, progress, estimator_name) -> Prepared:
    """Check ``X`` and ``y``, infer the task and the metric, and encode the raw columns."""
    df = check_frame(X, estimator_name=estimator_name)
    df, y = extract_target(df, y)
    if df.width == 0:
        raise ValueError("X has no feature columns besides the target; pass at least one feature column.")
    y = check_target(y, df.height, estimator_name=estimator_name)
    if df.height < 2:
        raise ValueError("X has 1 sample (n_samples = 1); at least 2 samples are needed to fit.")
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != df.height:
            raise ValueError(
                f"groups has {len(groups)} values but X has {df.height} rows; pass one group label per row."
            )
    warn_infinite(df)
    seed = resolve_seed(random_state)
    task = infer_task(y, task)
    metric = resolve_metric(metric, task)
    if task == "regression":
        classes, y_enc = None, y.astype(np.float64)
    else:
        classes, y_enc = np.unique(y, return_inverse=True)
    kind = frame_kind(X)
    has_names = kind != "numpy" and (kind != "pandas" or all(isinstance(c, str) for c in X.columns))
    encoder = TableEncoder().fit(df)
    Xmat = encoder.transform(df)
    if Xmat.shape[1] == 0 and not relational.given:
        raise ValueError(
            "No usable feature: every column of X is empty, constant or an identifier "
            f"(schema: {encoder.schema_}). Pass informative columns."
        )
    context = FitContext(
        frame=df, y=y, y_enc=y_enc, X=Xmat, encoder=encoder, task=task, classes=classes, metric=metric,
        seed=seed, n_threads=resolve_threads(n_jobs), progress=progress, relational=relational, groups=groups,
    )
    return Prepared(
        context=context, input_columns=list(df.columns),
        feature_names_in=np.asarray(df.columns, dtype=object) if has_names else None,
        summary=f"{task}, {metric.name}; {df.height:,} rows, {df.width} columns -> {Xmat.shape[1]} encoded",
    )
