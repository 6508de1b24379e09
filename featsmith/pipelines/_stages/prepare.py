"""Stage 1, prepare: check and convert the input, infer the task and metric, encode the raw
columns. Its result is the :class:`FitContext` every later stage works from."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import polars as pl

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


def time_key(frame: pl.DataFrame, column: str) -> np.ndarray:
    """The values of ``column`` as int64 that sort like its times (missing values first)."""
    col = frame.get_column(column)
    if col.dtype == pl.String:
        try:
            col = col.str.to_datetime(strict=False)
        except pl.exceptions.ComputeError:
            raise ValueError(
                f"time column {column!r} holds strings that do not read as dates (e.g. "
                f"{col.drop_nulls().head(1).to_list()}); pass a datetime, date or numeric column to order the "
                "rows by."
            ) from None
    if not (col.dtype.is_temporal() or col.dtype.is_numeric()):
        raise TypeError(
            f"time column {column!r} has dtype {col.dtype}; pass a datetime, date or numeric column to "
            "order the rows by."
        )
    if col.dtype.is_float():
        col = col.rank("dense")  # floats keep their order as ranks
    values = col.to_physical().cast(pl.Int64)
    return values.fill_null(values.min() - 1 if values.null_count() < len(values) else 0).to_numpy()


def _time_column(df, encoder, time_column, relational):
    """The column that orders the rows in time: the user's, a cutoff-time column, or the
    datetime column with the most distinct values."""
    if time_column is not None:
        if time_column not in df.columns:
            raise ValueError(
                f"time_column={time_column!r} is not a column of X (columns: {df.columns[:20]}); pass the "
                "name of the column that orders the rows in time."
            )
        return time_column
    if isinstance(relational.cutoff_time, str) and relational.cutoff_time in df.columns:
        return relational.cutoff_time
    dates = [c for c, kind in encoder.schema_.items() if kind == "datetime"]
    return max(dates, key=lambda c: df.get_column(c).n_unique(), default=None)


def _groups(df, groups):
    if isinstance(groups, str):
        if groups not in df.columns:
            raise ValueError(
                f"groups={groups!r} is not a column of X (columns: {df.columns[:20]}); pass the name of the "
                "column holding the group labels, or one label per row."
            )
        return df.get_column(groups).to_numpy()
    groups = np.asarray(groups)
    if len(groups) != df.height:
        raise ValueError(
            f"groups has {len(groups)} values but X has {df.height} rows; pass one group label per row."
        )
    return groups


@stage("prepare")
def prepare(X, y, *, task, metric, random_state, n_jobs, groups, relational, progress, estimator_name,
            time_column=None) -> Prepared:
    """Check ``X`` and ``y``, infer the task and the metric, encode the raw columns, and find
    what orders (``time_column``) or groups (``groups``: labels or a column name) the rows."""
    df = check_frame(X, estimator_name=estimator_name)
    df, y = extract_target(df, y)
    if df.width == 0:
        raise ValueError("X has no feature columns besides the target; pass at least one feature column.")
    y = check_target(y, df.height, estimator_name=estimator_name)
    if df.height < 2:
        raise ValueError("X has 1 sample (n_samples = 1); at least 2 samples are needed to fit.")
    if groups is not None:
        groups = _groups(df, groups)
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
            f"(schema: {encoder.schema_}); pass at least one column whose values vary and repeat "
            "(numbers, categories, dates)."
        )
    time_col = _time_column(df, encoder, time_column, relational)
    time_values = None if time_col is None else time_key(df, time_col)
    cutoff = relational.cutoff_time
    if time_col is None and cutoff is not None and not isinstance(cutoff, str):
        # One cutoff timestamp per row: the time the row's prediction is made.
        time_col = "cutoff_time"
        time_values = time_key(pl.DataFrame({time_col: pl.Series(np.asarray(cutoff))}), time_col)
    context = FitContext(
        frame=df, y=y, y_enc=y_enc, X=Xmat, encoder=encoder, task=task, classes=classes, metric=metric,
        seed=seed, n_threads=resolve_threads(n_jobs), progress=progress, relational=relational, groups=groups,
        time_column=time_col, time_values=time_values,
    )
    return Prepared(
        context=context, input_columns=list(df.columns),
        feature_names_in=np.asarray(df.columns, dtype=object) if has_names else None,
        summary=f"{task}, {metric.name}; {df.height:,} rows, {df.width} columns -> {Xmat.shape[1]} encoded",
    )
