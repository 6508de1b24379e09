"""Task inference: binary, multiclass or regression, from the target alone."""

from __future__ import annotations

import numpy as np

TASKS = ("auto", "classification", "binary", "multiclass", "regression")

# An integer-valued numeric target is read as class labels only when it has few distinct values
# relative to the rows; counts and prices that happen to be whole numbers stay regression.
MAX_CLASSES_FOR_INTEGER_TARGET = 20


def _is_integer_valued(y: np.ndarray) -> bool:
    if y.dtype.kind in "iub":
        return True
    if y.dtype.kind == "f":
        return bool(np.all(np.mod(y, 1) == 0))
    return False


def infer_task(y: np.ndarray, task: str = "auto") -> str:
    """Decide the learning task for a clean 1-D target.

    The rule, for ``task="auto"``: a non-numeric target (strings, booleans, categories) is
    classification; a numeric target whose values are all whole numbers, with at most
    20 distinct values and fewer distinct values than half the rows, is classification; any
    other numeric target is regression. Classification with two classes is ``binary``,
    with more ``multiclass``. ``task="classification"`` forces classification and picks
    binary or multiclass by the number of classes; ``"binary"``, ``"multiclass"`` and
    ``"regression"`` are taken as given (and checked).

    Examples
    --------
    >>> import numpy as np
    >>> infer_task(np.array([0.5, 3.0, 4.5, 1.0]))
    'regression'
    >>> infer_task(np.array(["a", "b", "a", "c"]))
    'multiclass'
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}.")
    numeric = y.dtype.kind in "iuf"
    n_unique = len(np.unique(y))
    if task == "regression":
        if not numeric:
            raise ValueError(
                f"Unknown label type: task='regression' needs a numeric target, got dtype {y.dtype}; "
                "use task='classification' or convert y to numbers."
            )
        return "regression"
    if task == "auto":
        is_class = (not numeric) or (
            _is_integer_valued(y)
            and n_unique <= MAX_CLASSES_FOR_INTEGER_TARGET
            and n_unique < max(len(y) / 2, 3)
        )
        if not is_class:
            return "regression"
    elif numeric and not _is_integer_valued(y):
        raise ValueError(
            f"Unknown label type: continuous target for task={task!r}. A classification target "
            "must hold class labels; use task='regression' for a continuous target."
        )
    if n_unique < 2:
        raise ValueError(
            f"y has a single class ({y[0]!r}); classification needs at least 2 classes. "
            "Check the target column, or use task='regression' for a numeric target."
        )
    if task == "binary" and n_unique != 2:
        raise ValueError(f"task='binary' but y has {n_unique} classes; use task='multiclass' or 'auto'.")
    if task == "multiclass":
        return "multiclass"
    return "binary" if n_unique == 2 else "multiclass"
