"""Input coercion and the clear errors for bad input, in one place.

Every public entry point (``AutoPipeline.fit``/``predict``, the CLI) passes its arguments
through here, so the rest of the code can assume a non-empty polars frame with unique string
column names and a clean 1-D target.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from featsmith._frame import frame_kind, to_polars

logger = logging.getLogger("featsmith")


def _is_sparse(X) -> bool:
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")


def check_frame(X, *, estimator_name="AutoPipeline", column_names=None) -> pl.DataFrame:
    """Coerce a supported table to polars and reject tables no model can learn from.

    Raises
    ------
    TypeError
        For sparse matrices and unsupported types.
    ValueError
        For 1-D or complex arrays, empty tables and duplicate column names.
    """
    if X is None:
        raise ValueError(f"{estimator_name} got X=None; pass a table (pandas, polars, pyarrow or numpy).")
    if _is_sparse(X):
        raise TypeError(
            f"{estimator_name} does not accept sparse input (sparse data was passed, but dense data "
            "is required); convert it with X.toarray() or pass a DataFrame."
        )
    if isinstance(X, pa.Table):
        names = X.column_names
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"X has duplicate column names {dup}; rename them so each column is unique.")
    kind = frame_kind(X)
    if kind == "numpy":
        arr = np.asarray(X)
        if np.iscomplexobj(arr):
            raise ValueError("Complex data not supported; pass the real and imaginary parts as separate columns.")
        if arr.ndim != 2:
            raise ValueError(
                f"Expected a 2-D table, got an array with {arr.ndim} dimension(s). Reshape your data "
                "with X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it has a single sample."
            )
        X = arr
    df = to_polars(X, column_names=column_names)
    if df.width == 0:
        raise ValueError(
            f"X has 0 feature(s) (shape={df.shape}) while a minimum of 1 is required; pass at least "
            "one feature column."
        )
    if df.height == 0:
        raise ValueError(
            f"X has 0 sample(s) (shape={df.shape}) while a minimum of 1 is required; pass at least one row."
        )
    return df


def extract_target(df: pl.DataFrame, y):
    """Resolve ``y`` given as the name of a column of ``X``: return ``(X without it, y)``."""
    if isinstance(y, str):
        if y not in df.columns:
            raise ValueError(
                f"Target column {y!r} is not in X (columns: {df.columns[:20]}); "
                "pass the target's column name exactly or pass y as an array."
            )
        return df.drop(y), df.get_column(y).to_numpy()
    return df, y


def check_target(y, n_rows: int | None = None, *, estimator_name=None) -> np.ndarray:
    """Return ``y`` as a 1-D numpy array with no missing or infinite values, matching ``n_rows``.

    The one target check, used by ``AutoPipeline``, ``FeatureGenerator`` and the selectors.
    Accepts numpy, pandas, polars and pyarrow; a column vector is flattened (with
    scikit-learn's ``DataConversionWarning``); numbers held as Python objects become a
    numeric array, so :func:`featsmith._task.infer_task` reads them as numbers.

    Examples
    --------
    >>> check_target([1, 0, 1], 3).tolist()
    [1, 0, 1]
    """
    if y is None:
        # Only AutoPipeline.fit also takes the target as a column name of X.
        or_name = " or the name of the target column of X" if estimator_name == "AutoPipeline" else ""
        raise ValueError(
            f"{estimator_name or 'This estimator'} requires y to be passed, but the target y is "
            f"None; pass the target values (one per row of X){or_name}."
        )
    if isinstance(y, (pl.Series, pd.Series)):
        y = y.to_numpy()
    elif isinstance(y, (pl.DataFrame, pd.DataFrame)):
        if y.shape[1] != 1:
            raise ValueError(f"y must be 1-D, got a frame with {y.shape[1]} columns; pass one target column.")
        y = (y.to_numpy() if isinstance(y, pl.DataFrame) else y.to_numpy()).ravel()
    elif isinstance(y, (pa.Array, pa.ChunkedArray)):
        y = y.to_numpy(zero_copy_only=False)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is flattened.",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array, got an array of shape {y.shape}; pass one target column.")
    if n_rows is not None and len(y) != n_rows:
        raise ValueError(
            f"X has {n_rows} rows but y has {len(y)} values; they must have the same length "
            "(one target value per row)."
        )
    if np.iscomplexobj(y):
        raise ValueError("Complex data not supported in y.")
    if y.dtype.kind == "O" and pd.api.types.infer_dtype(y, skipna=True) in ("integer", "floating", "mixed-integer-float"):
        y = pd.to_numeric(pd.Series(y)).to_numpy()
    if y.dtype.kind in "fc":
        n_nan = int(np.isnan(y).sum())
        if n_nan:
            raise ValueError(
                f"Input y contains NaN in {n_nan} of {len(y)} rows (missing target values); drop those "
                "rows (or impute the target) before fit."
            )
        n_inf = int(np.isinf(y).sum())
        if n_inf:
            raise ValueError(
                f"Input y contains infinity in {n_inf} of {len(y)} rows; drop or clip those rows before fit."
            )
    elif y.dtype.kind == "O":
        missing = pd.isna(y)
        if missing.any():
            raise ValueError(
                f"Input y contains NaN/None in {int(missing.sum())} of {len(y)} rows (missing target "
                "values); drop those rows (or impute the target) before fit."
            )
    return y


def warn_infinite(df: pl.DataFrame) -> list[str]:
    """Log (once per fit) the float columns holding +-inf; they are treated as missing."""
    cols = [c for c, t in df.schema.items() if t.is_float()]
    if not cols:
        return []
    counts = df.select(pl.col(cols).is_infinite().sum()).row(0)
    bad = [c for c, k in zip(cols, counts) if k]
    if bad:
        logger.warning("Columns %s contain infinite values; they are treated as missing.", bad)
    return bad


def check_n_features(X, n_features_in: int, *, estimator_name="AutoPipeline") -> None:
    """Check that a 2-D array (matched to the fit columns by position) has as many columns as
    at fit; frames are matched by name instead, so any other input passes."""
    if _is_sparse(X) or frame_kind(X) != "numpy":
        return
    arr = np.asarray(X)
    if arr.ndim == 2 and arr.shape[1] != n_features_in:
        raise ValueError(
            f"X has {arr.shape[1]} features, but {estimator_name} is expecting {n_features_in} "
            "features as input."
        )


def check_predict_frame(X, *, n_features_in: int, feature_names_in, estimator_name="AutoPipeline", read=None):
    """Coerce rows for prediction and check they carry every training column.

    Columns are matched by name: extra or reordered columns are fine. numpy input is matched by
    position and must have as many columns as at fit. ``read``: the training columns the model
    reads, when not all of them: a pandas table's other columns are checked present but not
    converted (the conversion costs about as much per column as encoding it).
    """
    check_n_features(X, n_features_in, estimator_name=estimator_name)
    if read is not None and isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns):
        check_columns_present(feature_names_in, set(X.columns))
        X = X[list(read)]
    df = check_frame(X, estimator_name=estimator_name, column_names=feature_names_in)
    check_columns_present(feature_names_in if read is None else read, set(df.columns))
    return df


def check_columns_present(names, columns) -> None:
    """Raise a ``ValueError`` naming the training columns ``names`` missing from ``columns``."""
    missing = [c for c in names if c not in columns]
    if missing:
        raise ValueError(
            f"X is missing column(s) {missing} that were present at fit time; pass every training "
            "column (extra or reordered columns are fine)."
        )
