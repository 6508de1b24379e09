"""Column typing: decide once, from the training rows, what each raw column is, and read
each kind back from whatever type the column has at predict time.

The kinds are ``numeric``, ``categorical``, ``boolean``, ``datetime``, ``text`` and ``id``;
columns that carry no information (all missing, or a single value) or no scalar values (lists,
structs, binary data) are typed ``drop`` and logged.

A column can arrive at predict time with another type than at fit (numbers read from a CSV as
strings, a category column that holds only numbers in this batch). The readers here
(:func:`read_numbers`, :func:`read_booleans`, :func:`read_datetimes`; categories compare as
:func:`featsmith._frame.to_strings`) accept every type that keeps the kind's meaning, and
:func:`check_predict_types` raises a ``ValueError`` naming the column for the others.
"""

from __future__ import annotations

import logging
import re

import polars as pl

from featsmith._frame import to_strings

logger = logging.getLogger("featsmith")

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "drop")

# A string column is free text when its values are long and made of several words; it is an
# identifier when nearly every value is distinct and the values are short tokens.
_TEXT_MIN_MEAN_WORDS = 3.0
_TEXT_MIN_UNIQUE_RATIO = 0.3
_ID_MIN_UNIQUE_RATIO = 0.95
_ID_MIN_ROWS = 50
_DATETIME_PARSE_SHARE = 0.95


TRUE_STRINGS = ("true", "yes", "1", "t", "y")
FALSE_STRINGS = ("false", "no", "0", "f", "n")


def _is_string(dtype) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum))


def dtype_class(dtype) -> str:
    """The broad class of a polars dtype: ``bool``, ``number``, ``string``, ``datetime``
    (dates and datetimes), ``duration`` (durations and times of day), ``null``, or ``other``
    (lists, structs, binary data, Python objects: no scalar a model can read)."""
    if dtype == pl.Null:
        return "null"
    if dtype == pl.Boolean:
        return "bool"
    if isinstance(dtype, pl.Duration) or dtype == pl.Time:
        return "duration"
    if dtype.is_temporal():
        return "datetime"
    if dtype.is_numeric():
        return "number"
    if _is_string(dtype):
        return "string"
    return "other"


_ID_NAME = re.compile(r"(^|_)(id|ID|Id)($|_)|[a-z](Id|ID)$|^id[A-Z]")


def looks_like_id_name(name: str) -> bool:
    """Whether a column's name says it identifies an entity (``customer_id``, ``storeId``,
    ``ID``): an integer column so named whose values are all distinct is typed ``id`` (see
    :func:`infer_column_kind`), and ``AutoPipeline`` checks, when its values repeat, whether
    rows of one entity move together.

    Examples
    --------
    >>> looks_like_id_name("customer_id"), looks_like_id_name("storeId"), looks_like_id_name("idea")
    (True, True, False)
    """
    return bool(_ID_NAME.search(name))


def _try_parse_datetime(col: pl.Series) -> pl.Series | None:
    sample = col.drop_nulls().head(2000)
    if sample.len() == 0 or sample.head(100).str.contains(r"\d").mean() < 0.9:
        return None  # dates carry digits; skipping the parse keeps wide string tables fast
    try:
        # The sample's head first: when it alone fails more values than the whole sample may,
        # the answer is known without parsing the rest (failed parses are what cost here).
        # The format is inferred from the first values, so the head parses as it would within
        # the sample.
        head = sample.head(256).str.to_datetime(strict=False)
        if head.null_count() > (1 - _DATETIME_PARSE_SHARE) * sample.len():
            return None
        parsed = sample.str.to_datetime(strict=False)
    except Exception:  # polars raises several kinds here for unparseable formats
        return None
    if parsed.null_count() <= (1 - _DATETIME_PARSE_SHARE) * sample.len():
        return parsed
    return None


def infer_column_kind(col: pl.Series) -> str:
    """Return the kind of one column (see :data:`KINDS`).

    Parameters
    ----------
    col : polars.Series
        The training values of one column.

    Returns
    -------
    str
        One of ``numeric``, ``categorical``, ``boolean``, ``datetime``, ``text``, ``id``,
        ``drop``.

    Examples
    --------
    >>> import polars as pl
    >>> infer_column_kind(pl.Series("city", ["a", "b", "a"]))
    'categorical'
    """
    n = col.len()
    non_null = n - col.null_count()
    dtype = col.dtype
    if dtype_class(dtype) in ("null", "other") or non_null == 0:
        return "drop"
    if dtype.is_float() and not col.is_finite().any():  # no copy of the finite values
        return "drop"
    n_unique = col.drop_nulls().n_unique()
    if n_unique <= 1 and col.null_count() == 0:
        return "drop"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_temporal():
        return "numeric" if dtype_class(dtype) == "duration" else "datetime"
    if dtype.is_numeric():
        if (
            dtype.is_integer()
            and n_unique == non_null
            and non_null >= _ID_MIN_ROWS
            and looks_like_id_name(col.name)
        ):
            return "id"
        return "numeric"
    if _is_string(dtype):
        s = col.cast(pl.String)
        if n_unique == 2 and set(s.drop_nulls().str.to_lowercase().unique().to_list()) in (
            {"true", "false"},
            {"yes", "no"},
        ):
            return "boolean"
        if _try_parse_datetime(s) is not None:
            return "datetime"
        unique_ratio = n_unique / max(non_null, 1)
        if unique_ratio >= _TEXT_MIN_UNIQUE_RATIO:
            mean_words = s.drop_nulls().head(5000).str.count_matches(r"\S+").mean() or 0.0
            if mean_words >= _TEXT_MIN_MEAN_WORDS:
                return "text"
            if unique_ratio >= _ID_MIN_UNIQUE_RATIO and non_null >= _ID_MIN_ROWS:
                return "id"
        return "categorical"
    return "drop"


def infer_schema(df: pl.DataFrame, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Type every column of a training frame.

    Rules, in order: all-missing or single-valued columns are ``drop``; polars booleans (and
    string columns holding only true/false or yes/no) are ``boolean``; temporal dtypes, and
    string columns where at least 95% of a sample parses as a date, are ``datetime``; other
    numbers are ``numeric``, except all-distinct integers whose name reads as an identifier
    (``id``, ``user_id``, ``userId``) which are ``id``; strings with at least 30% distinct
    values and three or more words on average are ``text``; strings with at least 95%
    distinct values (and 50+ rows) are ``id``; other strings are ``categorical``.

    Parameters
    ----------
    df : polars.DataFrame
        Training rows.
    overrides : dict, optional
        ``{column: kind}`` to force a kind where the rules guess wrong.

    Returns
    -------
    dict
        ``{column: kind}`` in column order.

    Examples
    --------
    >>> import polars as pl
    >>> infer_schema(pl.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"], "k": [1, 1, 1]}))
    {'x': 'numeric', 'c': 'categorical', 'k': 'drop'}
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(df.columns))
    if unknown:
        raise ValueError(f"Schema overrides name columns that are not in X: {unknown}.")
    bad = {c: k for c, k in overrides.items() if k not in KINDS}
    if bad:
        raise ValueError(f"Schema overrides use unknown kinds {bad}; valid kinds are {KINDS}.")
    schema = {}
    for name in df.columns:
        schema[name] = overrides.get(name) or infer_column_kind(df.get_column(name))
        if schema[name] == "drop" and name not in overrides:
            dtype = df.schema[name]
            if dtype_class(dtype) == "other":
                logger.warning(
                    "Column %r is dropped: it holds %s values, not scalars a model can read; "
                    "flatten it into scalar columns to use it.",
                    name,
                    dtype,
                )
            else:
                logger.info("Column %r is dropped: it is all missing or holds a single value.", name)
        elif schema[name] == "id" and name not in overrides:
            logger.info(
                "Column %r looks like an identifier and is not used as a feature; "
                "override with schema={%r: 'categorical'} if it is one.",
                name,
                name,
            )
    return schema


# -- predict time ------------------------------------------------------------------------------
# What each kind reads: the classes of predict-time dtypes that keep the kind's meaning.
# Strings are read for every kind (parsed, with unparseable values missing); numbers are not
# dates (their unit is anyone's guess) and dates are not numbers.
_READS = {
    "numeric": {"number", "bool", "duration", "string", "null"},
    "boolean": {"number", "bool", "string", "null"},
    "datetime": {"datetime", "string", "null"},
    "categorical": {"number", "bool", "datetime", "duration", "string", "null"},
    "text": {"number", "bool", "datetime", "duration", "string", "null"},
}
_EXPECTED = {
    "numeric": "numbers (or strings of numbers)",
    "boolean": "booleans (or true/false, yes/no, 1/0)",
    "datetime": "datetimes (or date strings)",
    "categorical": "scalar values (strings or numbers)",
    "text": "strings",
}
_PARSED_AS = {"numeric": "numbers", "boolean": "booleans", "datetime": "dates"}


def read_numbers(expr: pl.Expr, dtype) -> pl.Expr:
    """A numeric column's values as float64 from any readable dtype: strings are parsed,
    durations are seconds, times of day are seconds since midnight; unparseable and infinite
    values are missing."""
    if _is_string(dtype):
        x = _parse_numbers(expr)
    elif dtype == pl.Time:
        x = expr.cast(pl.Int64).cast(pl.Float64) / 1e9
    elif isinstance(dtype, pl.Duration):
        # Seconds whatever the unit: pandas gives ns, Arrow files often us or ms, and a raw
        # cast would read one duration as numbers 1000x apart between fit and predict.
        x = expr.cast(pl.Duration("us")).cast(pl.Int64).cast(pl.Float64) / 1e6
    else:
        x = expr.cast(pl.Float64, strict=False)
    return pl.when(x.is_finite()).then(x).otherwise(None)


def _parse_numbers(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


def read_booleans(expr: pl.Expr, dtype) -> pl.Expr:
    """A boolean column's values as 1.0 / 0.0 from booleans, 1/0 or true/false, yes/no, t/f,
    y/n strings (any case); any other value is missing."""
    if dtype == pl.Boolean:
        return expr.cast(pl.Float64)
    s = to_strings(expr, dtype).str.strip_chars().str.to_lowercase()
    return pl.when(s.is_in(TRUE_STRINGS)).then(1.0).when(s.is_in(FALSE_STRINGS)).then(0.0).otherwise(None)


def read_datetimes(col: pl.Series) -> pl.Series:
    """A datetime column's values as ``Datetime("us")``; strings are parsed, and a batch none
    of whose strings parse is all missing (polars cannot infer a format from it)."""
    if col.dtype.is_temporal():
        return col.cast(pl.Datetime("us"))
    s = col.cast(pl.String)
    try:
        return s.str.to_datetime(strict=False).cast(pl.Datetime("us"))
    except pl.exceptions.PolarsError:
        return pl.Series(col.name, [None] * col.len(), dtype=pl.Datetime("us"))


def check_predict_types(df: pl.DataFrame, kinds: dict, fit_classes: dict, what: str = "X") -> None:
    """Check that each column of ``df`` holds values its fit-time kind can read.

    Parameters
    ----------
    df : polars.DataFrame
        Rows to encode.
    kinds : dict
        ``{column: kind}`` (numeric, boolean, datetime, categorical, text) of the columns read.
    fit_classes : dict
        ``{column: dtype_class}`` at fit; a column absent here is not compared.
    what : str
        How the error messages name the rows.

    Raises
    ------
    ValueError
        For a column whose values the kind cannot read (dates in a numeric column, numbers in
        a datetime column, lists anywhere), naming the column, both types and the fix.

    Notes
    -----
    A column that held numbers, booleans or dates at fit and holds strings now is parsed;
    the values that do not parse are missing, and one warning names the column.
    """
    parse = []
    schema = df.schema  # built anew on every access: once, not once per column
    for name, kind in kinds.items():
        dtype = schema[name]
        now, fit = dtype_class(dtype), fit_classes.get(name)
        if now not in _READS.get(kind, (now,)):
            held = f"held {_WORDS[fit]} at fit (typed {kind})" if fit else f"was typed {kind} at fit"
            raise ValueError(
                f"Column {name!r} of {what} {held} but holds {dtype} values now, which a {kind} "
                f"column cannot read. Pass {_EXPECTED[kind]} as at fit, or refit on data where the "
                "column has its new type."
            )
        if now == "string" and fit not in (None, "string") and kind in _PARSED_AS:
            parse.append((name, kind, fit))
    messages = [m for m in (_unparsed(df.get_column(n), k, f) for n, k, f in parse) if m]
    # TableEncoder and FeaturePlan read the same rows in one predict: say each thing once.
    for message in messages:
        if message not in _said:
            if len(_said) >= 1000:
                _said.clear()
            _said.add(message)
            logger.warning(message)


_said: set[str] = set()
_WORDS = {
    "number": "numbers",
    "bool": "booleans",
    "datetime": "datetimes",
    "duration": "durations",
    "string": "strings",
    "null": "only missing values",
    "other": "non-scalar values",
}


def _unparsed(col: pl.Series, kind: str, fit: str) -> str | None:
    """The warning for the strings of ``col`` that do not parse as ``kind``, if any."""
    if kind == "datetime":
        parsed = read_datetimes(col)
    elif kind == "numeric":  # parsed before read_numbers masks "inf": only unparseable is news
        parsed = pl.select(_parse_numbers(pl.lit(col))).to_series()
    else:
        parsed = pl.select(read_booleans(pl.lit(col), col.dtype)).to_series()
    bad = col.is_not_null() & parsed.is_null()
    n_bad = int(bad.sum())
    if not n_bad:
        return None
    return (
        f"Column {col.name!r} held {_WORDS[fit]} at fit but holds strings now; {n_bad} of "
        f"{col.len()} (such as {col.filter(bad)[0]!r}) are not {_PARSED_AS[kind]} and are "
        "treated as missing."
    )
