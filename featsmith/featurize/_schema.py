"""Column typing: decide once, from the training rows, what each raw column is.

The kinds are ``numeric``, ``categorical``, ``boolean``, ``datetime``, ``text`` and ``id``;
columns that carry no information (all missing, or a single value) are typed ``drop`` and logged.
"""

from __future__ import annotations

import logging
import re

import polars as pl

logger = logging.getLogger("featsmith")

KINDS = ("numeric", "categorical", "boolean", "datetime", "text", "id", "drop")

# A string column is free text when its values are long and made of several words; it is an
# identifier when nearly every value is distinct and the values are short tokens.
_TEXT_MIN_MEAN_WORDS = 3.0
_TEXT_MIN_UNIQUE_RATIO = 0.3
_ID_MIN_UNIQUE_RATIO = 0.95
_ID_MIN_ROWS = 50
_DATETIME_PARSE_SHARE = 0.95


def _is_string(dtype) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, (pl.Categorical, pl.Enum))


_ID_NAME = re.compile(r"(^|_)(id|ID|Id)($|_)|[a-z](Id|ID)$|^id[A-Z]")


def _looks_like_id_name(name: str) -> bool:
    return bool(_ID_NAME.search(name))


def _try_parse_datetime(col: pl.Series) -> pl.Series | None:
    sample = col.drop_nulls().head(2000)
    if sample.len() == 0 or sample.head(100).str.contains(r"\d").mean() < 0.9:
        return None  # dates carry digits; skipping the parse keeps wide string tables fast
    try:
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
    if dtype == pl.Null or non_null == 0:
        return "drop"
    if dtype.is_float():
        finite = col.filter(col.is_finite())
        if finite.len() == 0:
            return "drop"
    n_unique = col.drop_nulls().n_unique()
    if n_unique <= 1 and col.null_count() == 0:
        return "drop"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_temporal():
        return "datetime" if dtype != pl.Duration else "numeric"
    if dtype.is_numeric():
        if (
            dtype.is_integer()
            and n_unique == non_null
            and non_null >= _ID_MIN_ROWS
            and _looks_like_id_name(col.name)
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
    # Lists, structs, objects: nothing a tabular model can use directly.
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
            logger.info("Column %r is dropped: it is all missing or holds a single value.", name)
        elif schema[name] == "id" and name not in overrides:
            logger.info(
                "Column %r looks like an identifier and is not used as a feature; "
                "override with schema={%r: 'categorical'} if it is one.",
                name,
                name,
            )
    return schema
