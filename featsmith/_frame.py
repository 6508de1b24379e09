"""One internal layer for frame conversion, so pandas / polars / numpy / pyarrow inputs do not
fork through the code base: everything is converted to :class:`polars.DataFrame` once, at the
public boundary; scikit-learn's ``set_output`` converts transformer outputs back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa


def frame_kind(X) -> str:
    """Return ``"pandas"``, ``"polars"``, ``"pyarrow"`` or ``"numpy"`` for a supported input."""
    if isinstance(X, pl.DataFrame):
        return "polars"
    if isinstance(X, pl.LazyFrame):
        return "polars"
    if isinstance(X, pd.DataFrame):
        return "pandas"
    if isinstance(X, pa.Table):
        return "pyarrow"
    if isinstance(X, (np.ndarray, list, tuple)) or hasattr(X, "__array__"):
        return "numpy"
    raise TypeError(
        f"X must be a pandas, polars or pyarrow DataFrame or a 2-D numpy array, got "
        f"{type(X).__name__}; convert it with pandas.DataFrame(X) first."
    )


def to_polars(X, column_names=None) -> pl.DataFrame:
    """Convert a supported table to a polars DataFrame without copying where possible.

    numpy input gets the column names ``x0, x1, ...`` unless ``column_names`` is given.
    Duplicate column names raise ``ValueError`` (polars cannot hold them).
    """
    kind = frame_kind(X)
    if kind == "polars":
        return X.collect() if isinstance(X, pl.LazyFrame) else X
    if kind == "pyarrow":
        return pl.from_arrow(X)
    if kind == "pandas":
        dup = X.columns[X.columns.duplicated()].unique().tolist()
        if dup:
            raise ValueError(
                f"X has duplicate column names {dup}; rename them so each column is unique."
            )
        Xp = X
        if not all(isinstance(c, str) for c in X.columns):
            Xp = X.rename(columns=str)
        return pl.from_pandas(Xp.reset_index(drop=True))
    arr = np.asarray(X)
    if arr.ndim == 1:
        raise ValueError(
            "X is 1-D; a table is expected. Reshape a single feature with X.reshape(-1, 1)."
        )
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D, got an array with {arr.ndim} dimensions.")
    names = list(column_names) if column_names is not None else [f"x{i}" for i in range(arr.shape[1])]
    if arr.dtype == object:
        return pl.DataFrame({n: pd.Series(arr[:, i]).tolist() for i, n in enumerate(names)}, strict=False)
    return pl.DataFrame({n: arr[:, i] for i, n in enumerate(names)})
