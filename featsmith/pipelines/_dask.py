"""One LightGBM model trained on a Dask cluster: the final refit when the rows outgrow a machine.

The search runs on a sample and finds each LightGBM member's configuration and round count;
the refit on every row is what needs the cluster. LightGBM's own Dask estimators do the
distributed training; this module hands them featsmith's matrix and parameters and returns
the plain :class:`lightgbm.Booster` that ``lgb.train`` would have returned.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

import lightgbm as lgb
import numpy as np

logger = logging.getLogger("featsmith")

TASKS = ("binary", "multiclass", "regression")

# lgb.train names (and aliases) that lightgbm.dask sets itself or that mean nothing without a
# validation set. num_threads: each worker uses its Dask thread count. Rounds: n_rounds.
_DROPPED = ("num_threads", "num_machines", "num_iterations", "early_stopping_round")
# Written into the booster's params by the distributed training; they describe the cluster's
# network, which the booster does not need to predict.
_NETWORK = ("machines", "local_listen_port", "num_machines", "time_out", "tree_learner")


def _client_type():
    try:
        from distributed import Client
    except ImportError:
        raise ImportError(
            "training on a Dask cluster needs the 'distributed' package: "
            "pip install 'featsmith[distributed]'"
        ) from None
    return Client


def check_client(client) -> None:
    """A ``TypeError`` unless ``client`` is a ``distributed.Client``."""
    if not isinstance(client, _client_type()):
        raise TypeError(
            f"client must be a distributed.Client connected to the cluster to train on, got "
            f"{type(client).__name__}; create one with distributed.Client(address) or "
            "distributed.Client(distributed.LocalCluster())"
        )


def _aliases(names) -> set[str]:
    # LightGBM's alias table: num_threads is also n_jobs / nthread / num_thread, and so on.
    from lightgbm.basic import _ConfigAliases

    return set(_ConfigAliases.get(*names))


def _dask_params(params: dict) -> tuple[dict, int | None]:
    """``params`` for lgb.train -> keyword arguments for a Dask estimator, and the seed."""
    out = {k: v for k, v in params.items() if k not in _aliases(_DROPPED)}
    seed = None
    for name in _aliases(["seed"]):
        if name in out:
            seed = out.pop(name)
    # The wrappers add min_child_weight (an alias of min_sum_hessian_in_leaf) from their own
    # default, which would compete with featsmith's value under the other name.
    for name in _aliases(["min_sum_hessian_in_leaf"]) - {"min_child_weight"}:
        if name in out:
            out["min_child_weight"] = out.pop(name)
    out.setdefault("tree_learner", "data")
    return out, seed


def _partition(client, X, y):
    """Dask arrays of ``X`` and ``y`` whose row blocks already sit on the workers, one block per
    worker (every k-th row, so each block's values, which set the bins that worker finds,
    represent the whole table whatever the row order)."""
    import dask.array as da

    workers = sorted(client.nthreads())
    workers = workers[: max(1, min(len(workers), len(y)))]
    k = len(workers)
    X_blocks, y_blocks = [], []
    for i, worker in enumerate(workers):
        xi, yi = np.ascontiguousarray(X[i::k]), np.ascontiguousarray(y[i::k])
        # scatter sends each block to one worker; LightGBM then trains each worker on the
        # blocks it holds.
        # hash=False: scattering the same rows again (the floor, then each member) would reuse
        # the keys of the previous call's data, which the scheduler may be releasing just then
        # ("lost dependencies").
        fx, fy = client.scatter([xi, yi], workers=[worker], broadcast=False, hash=False)
        X_blocks.append(da.from_delayed(fx, shape=xi.shape, dtype=xi.dtype))
        y_blocks.append(da.from_delayed(fy, shape=yi.shape, dtype=yi.dtype))
    return da.concatenate(X_blocks), da.concatenate(y_blocks)


def train_on_cluster(client, task, params, X, y, categorical, n_rounds) -> lgb.Booster:
    """Train one LightGBM model on a Dask cluster and return it as a local booster.

    What runs where: the calling process splits ``X`` and ``y`` into one block of rows per
    worker and sends each block to its worker (``client.scatter``). Each worker then builds
    LightGBM's binned dataset from its own block only and trains data-parallel with the other
    workers over LightGBM's socket network (``tree_learner="data"``, ports chosen by
    :class:`lightgbm.DaskLGBMRegressor`): per round, the workers exchange gradient histograms,
    not rows, and agree on each split. The finished model comes back to the caller, which
    predicts with it locally like any booster. Each worker uses as many threads as it has
    Dask threads; ``num_threads`` in ``params`` is ignored.

    :class:`lightgbm.DaskLGBMRegressor` trains every task, with ``params["objective"]`` (and
    ``num_class``) set explicitly: it passes the label codes through as given, whereas
    :class:`lightgbm.DaskLGBMClassifier` re-encodes the labels on each worker from the rows
    that worker holds, so a worker missing a rare class would train a different number of
    classes.

    lightgbm.dask has no early stopping, so ``n_rounds`` is fixed (found on a sample, say).
    The bins are found per worker and merged, so the model matches ``lgb.train``'s with the
    same parameters closely in quality but not tree for tree.

    Parameters
    ----------
    client : distributed.Client
        A client connected to the cluster to train on.
    task : {"binary", "multiclass", "regression"}
        The prediction task; it must agree with ``params["objective"]``.
    params : dict
        Parameters as for :func:`lightgbm.train` (objective, learning_rate, num_leaves, seed,
        num_class for multiclass, ...).
    X : numpy.ndarray of shape (n_rows, n_features)
        The feature matrix (float32 or float64; other types become float64); NaN marks
        missing values.
    y : numpy.ndarray of shape (n_rows,)
        The target: 0/1 (binary), class codes 0..num_class-1 (multiclass) or values.
    categorical : sequence of int
        Positions of the categorical columns of ``X`` (non-negative integer codes).
    n_rounds : int
        Boosting rounds.

    Returns
    -------
    lightgbm.Booster
        The trained model, local to the caller; ``predict`` gives probabilities for
        classification, as ``lgb.train``'s booster does.

    Raises
    ------
    TypeError
        If ``client`` is not a ``distributed.Client``.
    ValueError
        For an unknown task, mismatched shapes, a cluster without workers or ``n_rounds < 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from distributed import Client, LocalCluster
    >>> from featsmith.pipelines._dask import train_on_cluster
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 3))
    >>> y = (X[:, 0] + rng.normal(size=2000) > 0).astype(float)
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
    ...                   dashboard_address=":0") as cluster, Client(cluster) as client:
    ...     booster = train_on_cluster(client, "binary", {"objective": "binary", "verbosity": -1},
    ...                                X, y, categorical=[], n_rounds=20)
    >>> booster.current_iteration(), booster.predict(X[:2]).shape
    (20, (2,))
    """
    check_client(client)
    if task not in TASKS:
        raise ValueError(f"task={task!r} must be one of {', '.join(TASKS)}")
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):  # float32 stays: half the memory, exact
        X = X.astype(np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if X.ndim != 2 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(
            f"X must be a 2-D matrix with one row per target value: got X of shape {X.shape} "
            f"and {y.shape[0]} target values"
        )
    if int(n_rounds) < 1:
        raise ValueError(f"n_rounds={n_rounds!r} must be at least 1")
    if not client.nthreads():
        raise ValueError("the Dask cluster has no workers; start some (or wait for them) and retry")
    import lightgbm.dask  # noqa: F401 - fails clearly here when dask is missing

    kwargs, seed = _dask_params(params)
    kwargs.setdefault("objective", task)
    if task == "multiclass" and not _aliases(["num_class"]) & set(kwargs):
        kwargs["num_class"] = int(y.max()) + 1
    dX, dy = _partition(client, X, y)
    model = lgb.DaskLGBMRegressor(client=client, n_estimators=int(n_rounds), random_state=seed,
                                  **kwargs)
    notes = io.StringIO()
    # lightgbm.dask prints its notes ("Finding random open ports for workers") on stdout;
    # featsmith logs instead.
    with warnings.catch_warnings(), contextlib.redirect_stdout(notes):
        # "Parameter n_jobs will be ignored": the wrapper's own n_jobs, which Dask replaces by
        # each worker's thread count, as documented above.
        warnings.simplefilter("ignore", UserWarning)
        model.fit(dX, dy, categorical_feature=list(categorical))
    for line in notes.getvalue().splitlines():
        logger.debug("lightgbm.dask: %s", line)
    booster = model.to_local().booster_
    for name in _aliases(_NETWORK):
        booster.params.pop(name, None)
    threads = [v for k, v in params.items() if k in _aliases(["num_threads"])]
    if threads:  # the caller's thread count for predicting, not a worker's
        booster.params["num_threads"] = threads[0]
    logger.info("Trained %d rounds on %d Dask workers (%s rows).", n_rounds, dX.numblocks[0],
                f"{len(y):,}")
    return booster
