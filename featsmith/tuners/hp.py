"""A Python builder for NNI search-space dicts.

Each function returns the ``{"_type": ..., "_value": ...}`` dict NNI expects, so a space can be
written as ``{"lr": hp.loguniform(1e-3, 1.0), "depth": hp.randint(2, 9)}``; :func:`nested` makes
an option of a conditional ``choice``.

Examples
--------
>>> from featsmith.tuners import hp, SearchSpace
>>> space = SearchSpace({
...     "lr": hp.loguniform(1e-3, 1.0),
...     "model": hp.choice(hp.nested("linear"), hp.nested("mlp", width=hp.randint(8, 65))),
... })
>>> space.names
['lr', 'model', 'model/mlp/width']
"""

from __future__ import annotations

__all__ = [
    "choice", "nested", "randint", "uniform", "quniform", "loguniform", "qloguniform",
    "normal", "qnormal", "lognormal", "qlognormal",
]


def _spec(kind: str, *values) -> dict:
    return {"_type": kind, "_value": list(values)}


def choice(*options) -> dict:
    """One of ``options`` (scalars, or :func:`nested` options with their own parameters)."""
    if len(options) == 1 and isinstance(options[0], (list, tuple)):
        options = tuple(options[0])
    return _spec("choice", *options)


def nested(name, **params) -> dict:
    """An option of a conditional choice: ``params`` exist only when this option is chosen."""
    return {"_name": name, **params}


def randint(low: int, high: int) -> dict:
    """An integer in ``[low, high)``."""
    return _spec("randint", low, high)


def uniform(low: float, high: float) -> dict:
    return _spec("uniform", low, high)


def quniform(low: float, high: float, q: float) -> dict:
    """``clip(round(uniform(low, high) / q) * q, low, high)``."""
    return _spec("quniform", low, high, q)


def loguniform(low: float, high: float) -> dict:
    return _spec("loguniform", low, high)


def qloguniform(low: float, high: float, q: float) -> dict:
    return _spec("qloguniform", low, high, q)


def normal(mu: float, sigma: float) -> dict:
    return _spec("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> dict:
    return _spec("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> dict:
    """``exp(normal(mu, sigma))``."""
    return _spec("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> dict:
    return _spec("qlognormal", mu, sigma, q)
