"""Small types shared between subpackages.

``featurize``, ``selectors`` and ``tuners`` do not import each other; where one hands data to
another (candidate features from :mod:`featsmith.featurize` to the screens in
:mod:`featsmith.selectors`) they meet through the protocol defined here.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class CandidateSource(Protocol):
    """Candidate features that can be evaluated lazily, a few columns and rows at a time.

    A screen that looks at thousands of candidates asks for all of them on a small row sample
    first and for the survivors on more rows later, so the full ``n_rows x n_candidates``
    matrix never has to exist.

    Attributes
    ----------
    names : list of str
        Every candidate's name, in a deterministic order.
    n_rows : int
        Number of rows the source is bound to (the training rows).
    """

    names: list[str]
    n_rows: int

    def evaluate(self, names: Sequence[str], rows: np.ndarray | None = None) -> np.ndarray:
        """Return a float32 array of shape ``(len(rows), len(names))``; ``rows=None`` is all."""


class ArrayCandidateSource:
    """A :class:`CandidateSource` over an in-memory 2-D array.

    Parameters
    ----------
    values : array-like of shape (n_rows, n_candidates)
    names : sequence of str, optional
        Defaults to ``f0, f1, ...``.

    Examples
    --------
    >>> import numpy as np
    >>> src = ArrayCandidateSource(np.arange(6.0).reshape(3, 2), ["a", "b"])
    >>> src.evaluate(["b"], np.array([0, 2])).ravel().tolist()
    [1.0, 5.0]
    """

    def __init__(self, values, names=None):
        self.values = np.asarray(values, dtype=np.float32)
        if self.values.ndim != 2:
            raise ValueError(f"values must be 2-D, got shape {self.values.shape}.")
        self.names = list(names) if names is not None else [f"f{i}" for i in range(self.values.shape[1])]
        if len(self.names) != self.values.shape[1]:
            raise ValueError(
                f"{len(self.names)} names given for {self.values.shape[1]} columns; pass one name per column."
            )
        self.n_rows = self.values.shape[0]
        self._index = {n: i for i, n in enumerate(self.names)}

    def evaluate(self, names, rows=None):
        cols = [self._index[n] for n in names]
        block = self.values[:, cols] if rows is None else self.values[np.ix_(np.asarray(rows), cols)]
        return np.ascontiguousarray(block, dtype=np.float32)
