"""Loaders for the small real datasets shipped in ``featsmith/datasets/data/``.

The files and ``datasets.json`` (the metadata table: source, licence, task, target, shape,
SHA-256) are written by ``featsmith/datasets/_build.py``; nothing is downloaded at run time.
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from importlib import resources

import pandas as pd
import polars as pl
from sklearn.utils import Bunch

_FRAME_KINDS = ("pandas", "polars")
_LIST_COLUMNS = [
    "name", "task", "target", "rows", "columns", "n_classes", "source", "licence", "description",
]


@lru_cache(maxsize=1)
def _metadata() -> dict[str, dict]:
    text = resources.files("featsmith.datasets").joinpath("data", "datasets.json").read_text()
    return {entry["name"]: entry for entry in json.loads(text)["datasets"]}


def _entry(name) -> dict:
    if not isinstance(name, str):
        raise TypeError(
            f"name must be a string such as 'penguins', got {type(name).__name__}; "
            "see featsmith.datasets.list_datasets() for the choices."
        )
    meta = _metadata()
    if name not in meta:
        raise ValueError(
            f"unknown dataset {name!r}; valid names are: {', '.join(sorted(meta))}."
        )
    return meta[name]


def list_datasets() -> pd.DataFrame:
    """Describe the datasets that ship with featsmith.

    Returns
    -------
    pandas.DataFrame
        One row per dataset with the columns ``name``, ``task`` (``"binary"``,
        ``"multiclass"`` or ``"regression"``), ``target`` (the column to predict), ``rows``,
        ``columns`` (number of feature columns, target excluded), ``n_classes`` (``None`` for
        regression), ``source`` (where the data come from), ``licence`` and ``description``.

    Examples
    --------
    >>> from featsmith.datasets import list_datasets
    >>> table = list_datasets()
    >>> "penguins" in set(table["name"])
    True
    >>> table.set_index("name").loc["penguins", "task"]
    'multiclass'
    """
    rows = [{col: entry.get(col) for col in _LIST_COLUMNS} for entry in _metadata().values()]
    table = pd.DataFrame(rows, columns=_LIST_COLUMNS)
    table["n_classes"] = table["n_classes"].astype("Int64")
    return table


def load(name, *, as_frame="pandas", return_X_y=True):
    """Load one of the shipped datasets (see :func:`list_datasets` for the names).

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"lending_club"``, ``"penguins"``, ``"sacramento"`` or
        ``"chicago_ridership"``.
    as_frame : {"pandas", "polars"}, default="pandas"
        Kind of frame returned. Categorical columns are strings (pandas ``object``), dates are
        tz-naive datetimes, and missing values are ``NaN``/``None`` (pandas) or null (polars).
    return_X_y : bool, default=True
        If True return ``(X, y)``; if False return a :class:`sklearn.utils.Bunch`.

    Returns
    -------
    (X, y) : tuple
        When ``return_X_y=True``: ``X`` is a DataFrame with the feature columns (the target
        removed, rows in the source's order) and ``y`` is a Series named after the target.
        Class labels are kept as in the source (strings such as ``"good"``/``"bad"``).
    bunch : sklearn.utils.Bunch
        When ``return_X_y=False``: ``frame`` (features and target together), ``data`` (X),
        ``target`` (y), ``target_name``, ``feature_names``, ``task``, ``positive_class``
        (binary tasks), ``name``, ``description``, ``source`` and ``licence``.

    Raises
    ------
    ValueError
        If ``name`` is not a shipped dataset (the message lists the valid names) or
        ``as_frame`` is not ``"pandas"`` or ``"polars"``.

    Examples
    --------
    >>> from featsmith.datasets import load
    >>> X, y = load("penguins")
    >>> X.shape, y.name
    ((344, 7), 'species')
    >>> sorted(y.unique())
    ['Adelie', 'Chinstrap', 'Gentoo']
    >>> load("sacramento", as_frame="polars", return_X_y=False).task
    'regression'
    """
    entry = _entry(name)
    if as_frame not in _FRAME_KINDS:
        raise ValueError(
            f"as_frame must be 'pandas' or 'polars', got {as_frame!r}; pass as_frame='pandas' "
            "for pandas objects or as_frame='polars' for polars ones."
        )
    raw = resources.files("featsmith.datasets").joinpath("data", entry["file"]).read_bytes()
    frame = pl.read_parquet(io.BytesIO(raw))
    target = entry["target"]
    if as_frame == "pandas":
        frame = frame.to_pandas()
        X, y = frame.drop(columns=[target]), frame[target]
    else:
        X, y = frame.drop(target), frame.get_column(target)
    if return_X_y:
        return X, y
    return Bunch(
        frame=frame,
        data=X,
        target=y,
        target_name=target,
        feature_names=list(X.columns),
        task=entry["task"],
        positive_class=entry.get("positive_class"),
        name=entry["name"],
        description=entry["description"],
        source=entry["source"],
        licence=entry["licence"],
    )
