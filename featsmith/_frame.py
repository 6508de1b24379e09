"""One internal layer for frame conversion, so pandas / polars / numpy / pyarrow inputs do not
fork through the code base: everything is converted to :class:`polars.DataFrame` once, at the
public boundary; scikit-learn's ``set_output`` converts transformer outputs back.

Object columns (pandas ``object``, numpy object arrays) are typed here too. Arrow types a
column from its values and fails on a mix (``read_csv`` gives a mix for a messy column), so a
column of mixed scalars becomes strings (:func:`to_strings` spells every value the way a typed
column of it would be spelled), bytes are decoded as UTF-8, and nested values (lists, dicts)
mixed with scalars are a ``TypeError`` naming the column.
"""

from __future__ import annotations

import datetime
import decimal
import numbers

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

# pandas.api.types.infer_dtype results that Arrow types on its own.
_ARROW_TYPED = frozenset({
    "string", "empty", "integer", "floating", "mixed-integer-float", "boolean", "decimal",
    "datetime", "datetime64", "date", "timedelta", "timedelta64", "time",
})
_NESTED = (list, tuple, dict, set, frozenset, np.ndarray)
# Integral floats below 2**53 are spelled as integers, so 3.0 and 3 are one category.
_EXACT_INT = 2.0**53


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
    Duplicate column names raise ``ValueError`` (polars cannot hold them). Object columns that
    mix scalar types become strings, bytes become UTF-8 strings; a column mixing nested values
    (lists, dicts) with scalars raises ``TypeError``.

    Examples
    --------
    >>> import pandas as pd
    >>> to_polars(pd.DataFrame({"m": pd.Series([1, "x", None, 2.5], dtype=object)}))["m"].to_list()
    ['1', 'x', None, '2.5']
    """
    kind = frame_kind(X)
    if kind == "polars":
        df = X.collect() if isinstance(X, pl.LazyFrame) else X
    elif kind == "pyarrow":
        df = pl.from_arrow(X)
    elif kind == "pandas":
        dup = X.columns[X.columns.duplicated()].unique().tolist()
        if dup:
            raise ValueError(
                f"X has duplicate column names {dup}; rename them so each column is unique."
            )
        Xp = X
        if not all(isinstance(c, str) for c in X.columns):
            Xp = X.rename(columns=str)
        return _from_pandas(Xp.reset_index(drop=True))
    else:
        arr = np.asarray(X)
        if arr.ndim == 1:
            raise ValueError(
                "X is 1-D; a table is expected. Reshape a single feature with X.reshape(-1, 1)."
            )
        if arr.ndim != 2:
            raise ValueError(f"X must be 2-D, got an array with {arr.ndim} dimensions.")
        names = list(column_names) if column_names is not None else [f"x{i}" for i in range(arr.shape[1])]
        if arr.dtype == object:
            # The pandas path, so an object array and an object DataFrame are typed alike.
            return _from_pandas(pd.DataFrame(arr, columns=names))
        df = pl.DataFrame({n: arr[:, i] for i, n in enumerate(names)})
    return _retype_untyped(df)


def to_strings(expr: pl.Expr, dtype) -> pl.Expr:
    """The string spelling of a column's values: how categories are compared.

    One spelling for a value whatever column type carries it, so a category seen as ``3`` in
    a mixed object column matches ``3`` in an integer column and ``3.0`` in a float column
    (integral floats are spelled as integers); ``NaN`` is missing; booleans are
    ``true``/``false``; datetimes are ``YYYY-MM-DD HH:MM:SS[.ffffff]``.

    Examples
    --------
    >>> import polars as pl
    >>> pl.select(to_strings(pl.lit(pl.Series([3.0, 2.5, float("nan")])), pl.Float64)).to_series().to_list()
    ['3', '2.5', None]
    """
    if isinstance(dtype, pl.Decimal):
        expr, dtype = expr.cast(pl.Float64), pl.Float64
    if dtype.is_float():
        whole = expr.is_finite() & (expr == expr.round(0)) & (expr.abs() < _EXACT_INT)
        return (
            pl.when(expr.is_nan()).then(None)
            .when(whole).then(expr.cast(pl.Int64, strict=False).cast(pl.String))
            .otherwise(expr.cast(pl.String))
        )
    if isinstance(dtype, pl.Datetime):
        return expr.dt.to_string("%Y-%m-%d %H:%M:%S%.f")
    return expr.cast(pl.String)


def strings_of(col: pl.Series) -> pl.Series:
    """:func:`to_strings` of a Series, keeping its name."""
    return pl.select(to_strings(pl.lit(col), col.dtype).alias(col.name)).to_series()


def _from_pandas(X: pd.DataFrame) -> pl.DataFrame:
    own = {}
    for name in X.columns:
        s = X[name]
        if isinstance(s.dtype, pd.CategoricalDtype):
            if s.cat.categories.dtype != object or _arrow_types(s.cat.categories):
                continue
        elif s.dtype != object or _arrow_types(s):
            continue
        own[name] = _object_column(name, s.to_numpy(dtype=object))
    rest = X.drop(columns=list(own)) if own else X
    try:
        df = pl.from_pandas(rest)
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        # A column Arrow should have typed did not convert (ints beyond int64, say): find it.
        df = pl.DataFrame([_pandas_column(name, rest[name]) for name in rest.columns])
    if own:
        df = df.with_columns(list(own.values())).select(list(X.columns))
    return _retype_untyped(df)


def _arrow_types(values) -> bool:
    return pd.api.types.infer_dtype(values, skipna=True) in _ARROW_TYPED


def _pandas_column(name: str, s: pd.Series) -> pl.Series:
    try:
        return pl.from_pandas(s.rename(name))
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        if s.dtype != object:
            raise
        return _object_column(name, s.to_numpy(dtype=object))


def _retype_untyped(df: pl.DataFrame) -> pl.DataFrame:
    """Decode UTF-8 binary columns and type polars ``Object`` columns."""
    fix = []
    for name, dtype in df.schema.items():
        if dtype in (pl.Binary, pl.Object):
            values = _object_array(df.get_column(name).to_list())
            typed = dtype == pl.Object and _arrow_types(values)
            fix.append(pl.from_pandas(pd.Series(values, name=name)) if typed else _object_column(name, values))
    return df.with_columns(fix) if fix else df


def _object_array(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):  # element-wise: numpy would read equal-length lists as a 2-D array
        out[i] = v
    return out


def _value_class(value) -> str:
    if isinstance(value, str):
        return "str"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Integral):
        return "int"
    if isinstance(value, (numbers.Real, decimal.Decimal)):
        return "float"
    if isinstance(value, (datetime.datetime, np.datetime64)):
        return "datetime"
    if isinstance(value, datetime.date):
        return "date"
    if isinstance(value, _NESTED):
        return "nested"
    return "other"


def _object_column(name: str, values: np.ndarray) -> pl.Series:
    """Type one column of Python objects Arrow does not type: strings for scalars (bytes
    decoded as UTF-8), a list or struct column for nested values of one shape."""
    present = ~np.asarray(pd.isna(values), dtype=bool)
    kept = values[present]
    cache: dict[type, str] = {}
    classes = np.array([cache.get(type(v)) or cache.setdefault(type(v), _value_class(v)) for v in kept], dtype=object)
    found = set(classes.tolist())
    if "nested" in found:
        if found != {"nested"}:
            scalar = type(kept[classes != "nested"][0]).__name__
            nested = type(kept[classes == "nested"][0]).__name__
            raise TypeError(
                f"Column {name!r} mixes nested values ({nested}) with scalars ({scalar}); a "
                "tabular model needs one value per cell. Flatten it into scalar columns, or drop it."
            )
        # Arrow types lists and dicts of one shape (the schema then drops the column); sets
        # become lists, and anything polars can only hold as Python objects is an error.
        listed = [list(v) if isinstance(v, (set, frozenset)) else v for v in values.tolist()]
        try:
            out = pl.Series(name, listed)
        except Exception:  # polars raises several kinds for ragged nested values
            out = None
        if out is None or out.dtype == pl.Object:
            raise TypeError(
                f"Column {name!r} holds nested values ({type(kept[0]).__name__}) of no single "
                "type; flatten it into scalar columns, or drop it."
            )
        return out
    if found == {"bytes"}:
        try:
            for v in kept:
                bytes(v).decode("utf-8")
        except UnicodeDecodeError:
            return pl.Series(name, values.tolist(), dtype=pl.Binary)  # binary data, not text
    out = np.full(len(values), None, dtype=object)
    at = np.flatnonzero(present)
    for cls in found:
        mask = classes == cls
        out[at[mask]] = _spell(cls, kept[mask])
    return pl.Series(name, out.tolist(), dtype=pl.String)


def _spell(cls: str, values: np.ndarray) -> list:
    """Strings for values of one class, spelled as :func:`to_strings` spells a typed column."""
    if cls == "str":
        return values.tolist()
    if cls == "bytes":
        return [bytes(v).decode("utf-8", errors="replace") for v in values]
    if cls == "bool":
        return ["true" if v else "false" for v in values]
    if cls == "int":
        return [str(int(v)) for v in values]
    if cls in ("float", "datetime", "date"):
        try:
            s = pl.Series(values.tolist(), dtype=pl.Float64, strict=False) if cls == "float" else pl.Series(values.tolist())
            if isinstance(s.dtype, pl.Datetime) and s.dtype.time_zone is not None:
                s = s.dt.replace_time_zone(None)
            return strings_of(s).to_list()
        except Exception:  # mixed time zones or units polars will not put in one column
            pass
    return [str(v) for v in values]
