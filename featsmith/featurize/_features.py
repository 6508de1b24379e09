"""A feature is a named, fitted expression; an evaluator computes features in column chunks.

Features form a small DAG (``(a, b)`` is a hidden categorical used as a group key by
``mean(x) by (a, b)``), so the evaluator resolves inputs recursively and caches only the
features that others depend on. Nothing ever holds the full candidate matrix: callers ask for a
list of names and get one float32 block back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from featsmith.featurize._ops import OPS


@dataclass
class Feature:
    """One fitted feature: ``op`` applied to ``inputs`` (other features' names) with ``state``.

    ``op == "base"`` marks a coded raw column. ``kind`` is ``num``, ``cat``, ``dt`` or ``text``;
    ``card`` is the number of training categories of a ``cat`` feature.
    """

    name: str
    op: str
    inputs: tuple = ()
    state: dict = field(default_factory=dict)
    kind: str = "num"
    card: int | None = None
    order: int = 0

    def to_dict(self) -> dict:
        state = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.state.items()}
        return {
            "name": self.name, "op": self.op, "inputs": list(self.inputs), "state": state,
            "kind": self.kind, "card": self.card, "order": self.order,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Feature":
        state = {k: _array(k, v) for k, v in d["state"].items()}
        return cls(d["name"], d["op"], tuple(d["inputs"]), state, d["kind"], d["card"], d["order"])

    def formula(self, features: dict) -> str:
        if self.op == "base":
            return f"raw column {self.name}"
        return OPS[self.op].formula([features[i].name for i in self.inputs])


_INT_STATE = {"sorted": np.int64, "code": np.int32}


def _array(key, value):
    """Lists in a loaded state back to the numpy arrays operators index with."""
    if isinstance(value, list) and key not in ("null_codes",):
        return np.asarray([np.nan if v is None else v for v in value] if key not in _INT_STATE else value,
                          dtype=_INT_STATE.get(key, np.float64))
    return value


def dependencies(names, features: dict) -> list[str]:
    """``names`` plus everything they depend on, inputs before the features that use them."""
    seen, order = set(), []

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for i in features[n].inputs:
            visit(i)
        order.append(n)

    for n in names:
        visit(n)
    return order


class Evaluator:
    """Compute features on coded columns.

    Parameters
    ----------
    features : dict
        ``{name: Feature}``, including base columns and hidden dependencies.
    base : dict
        Coded columns (see :class:`ColumnCoder`), already restricted to the wanted rows.
    oof : dict, optional
        ``{name: (n_folds, card + 1) table}`` of target encodings fitted without each fold; with
        ``folds`` (the fold of each row) target encodings are read out of fold (training rows).
    """

    def __init__(self, features, base, oof=None, folds=None):
        self.features = features
        self.base = base
        self.oof = oof or {}
        self.folds = folds
        self._cache = {}
        self._needed_as_input = {i for f in features.values() for i in f.inputs}

    def get(self, name):
        if name in self._cache:
            return self._cache[name]
        f = self.features[name]
        if f.op == "base":
            value = self.base[name]
        else:
            inputs = [self.get(i) for i in f.inputs]
            if f.op == "te" and self.folds is not None and name in self.oof:
                value = self.oof[name][self.folds, inputs[0]]
            else:
                value = OPS[f.op].apply(inputs, f.state)
        if name in self._needed_as_input:
            self._cache[name] = value
        return value

    def block(self, names) -> np.ndarray:
        first = next(iter(self.base.values()), None)
        n = len(first) if first is not None else 0
        # Fill one contiguous row per feature and hand back the transposed view: column writes
        # into a row-major (n, k) block would stride through memory for every feature.
        out = np.empty((len(names), n), dtype=np.float32)
        # Values beyond float32's range (x * y of large inputs, or the float32 cast itself)
        # overflow to inf, which is missing here as in the raw columns: one warning per
        # feature would bury the user's own.
        with np.errstate(over="ignore", invalid="ignore"):
            for j, name in enumerate(names):
                value = self.get(name)
                if self.features[name].kind != "num":
                    value = np.asarray(value, dtype=np.float64)
                    if self.features[name].kind == "cat":
                        # Codes are labels; the unknown slot reads as missing, like an unseen category.
                        value = np.where(value >= self.features[name].card, np.nan, value)
                out[j] = value
        out[np.isinf(out)] = np.nan
        return out.T
