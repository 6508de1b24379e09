"""The learning task: its names and the one rule that infers it from the target.

Every estimator with a ``task`` parameter (``AutoPipeline``, ``FeatureGenerator``, the
selectors) and the CLI's ``--task`` accept :data:`TASKS` and resolve ``"auto"`` with
:func:`infer_task`, so the same target gives the same task everywhere.
"""

from __future__ import annotations

import numpy as np

TASKS = ("auto", "classification", "binary", "multiclass", "regression")

# An integer-valued numeric target is read as class labels only when it has few distinct values
# relative to the rows; counts and prices that happen to be whole numbers stay regression.
MAX_CLASSES_FOR_INTEGER_TARGET = 20


def check_task(task) -> str:
    """Return ``task`` if it is one of :data:`TASKS`, else raise a ``ValueError`` naming them.

    Examples
    --------
    >>> check_task("binary")
    'binary'
    """
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not one of {TASKS}.")
    return task


def is_classification(task: str) -> bool:
    """Whether a task name (resolved or not) means classification.

    Examples
    --------
    >>> is_classification("multiclass"), is_classification("regression")
    (True, False)
    """
    return task in ("classification", "binary", "multiclass")


def task_family(task: str) -> str:
    """``"classification"`` or ``"regression"``, for components that do not care how many
    classes there are.

    Examples
    --------
    >>> task_family("binary")
    'classification'
    """
    return "classification" if is_classification(task) else "regression"


def _is_integer_valued(y: np.ndarray) -> bool:
    if y.dtype.kind in "iub":
        return True
    if y.dtype.kind == "f":
        return bool(np.all(np.mod(y, 1) == 0))
    return False


def infer_task(y: np.ndarray, task: str = "auto") -> str:
    """Decide the learning task for a clean 1-D target (see :func:`featsmith._validation.check_target`).

    The rule, for ``task="auto"``: a non-numeric target (strings, booleans, categories) is
    classification; a numeric target whose values are all whole numbers, with at most
    20 distinct values and fewer distinct values than half the rows (two distinct values
    always count), is classification; any other numeric target is regression. Classification
    with two classes is ``binary``, with more ``multiclass``. ``task="classification"`` forces
    classification and picks binary or multiclass by the number of classes; ``"binary"``,
    ``"multiclass"`` and ``"regression"`` are taken as given (and checked).

    Returns
    -------
    str
        ``"binary"``, ``"multiclass"`` or ``"regression"``.

    Raises
    ------
    ValueError
        For an unknown task, a non-numeric target with ``task="regression"``, a continuous
        target with a classification task, a single class, or ``task="binary"`` with more
        than two classes.

    Examples
    --------
    >>> import numpy as np
    >>> infer_task(np.array([0.5, 3.0, 4.5, 1.0]))
    'regression'
    >>> infer_task(np.array(["a", "b", "a", "c"]))
    'multiclass'
    >>> infer_task(np.arange(100) % 15), infer_task(np.arange(20) % 15)
    ('multiclass', 'regression')
    """
    check_task(task)
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
