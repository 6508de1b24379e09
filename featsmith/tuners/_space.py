"""Search spaces in NNI's JSON format: parsing, sampling and the unit-cube encoding.

Every tuner works on one flat, numeric view of a space: a configuration is a float vector with one
entry per parameter. Numeric parameters live in ``[0, 1]`` (the prior's CDF for normal-type
parameters, a linear or log rescaling of the bounds otherwise), a ``choice`` holds the option index,
and a parameter switched off by a nested ``choice`` holds NaN. Sampling the unit cube uniformly is
therefore sampling NNI's prior, and model-based tuners never see the raw scales.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["SearchSpace", "flatten_params", "parse_space"]

_NUMERIC_ARGS = {
    "randint": 2,
    "uniform": 2,
    "quniform": 3,
    "loguniform": 2,
    "qloguniform": 3,
    "normal": 2,
    "qnormal": 3,
    "lognormal": 2,
    "qlognormal": 3,
}
_TYPES = ("choice", *_NUMERIC_ARGS)
# Keeps ndtri finite at the ends of the unit interval for normal-type parameters.
_U_EPS = 1e-9


@dataclass
class Param:
    """One parameter of a parsed space (internal; the public view is :class:`SearchSpace`)."""

    name: str  # flat key, e.g. "model/mlp/width" for a child of a nested choice
    path: tuple  # keys from the root of the params dict to this value
    type: str
    args: tuple = ()
    choices: list = field(default_factory=list)  # for choice: the option values (or _name)
    children: list = field(default_factory=list)  # for choice: per option, child param indices
    parent: int | None = None  # index of the controlling choice parameter
    parent_option: int | None = None  # option index of the parent that activates this one
    is_int: bool = False

    @property
    def is_categorical(self) -> bool:
        return self.type == "choice"

    @property
    def n_choices(self) -> int:
        return len(self.choices)

    @property
    def q(self) -> float | None:
        return self.args[2] if self.type.startswith("q") else None

    @property
    def is_discrete(self) -> bool:
        return self.type == "randint" or self.type.startswith("q")

    @property
    def is_bounded(self) -> bool:
        return "normal" not in self.type

    # ---- unit cube <-> value -------------------------------------------------------------
    def decode(self, u: np.ndarray) -> np.ndarray:
        """Vectorised map from unit-cube coordinates (or option indices) to values."""
        u = np.asarray(u, dtype=float)
        t, a = self.type, self.args
        if t == "choice":
            return np.clip(np.floor(u), 0, self.n_choices - 1).astype(int)
        if t == "randint":
            return np.clip(np.floor(a[0] + u * (a[1] - a[0])), a[0], a[1] - 1)
        if t in ("uniform", "quniform"):
            x = a[0] + u * (a[1] - a[0])
        elif t in ("loguniform", "qloguniform"):
            x = np.exp(math.log(a[0]) + u * (math.log(a[1]) - math.log(a[0])))
        else:
            z = a[0] + a[1] * ndtri(np.clip(u, _U_EPS, 1 - _U_EPS))
            x = np.exp(z) if t in ("lognormal", "qlognormal") else z
        if self.q is not None:
            x = np.round(x / self.q) * self.q
            if self.is_bounded:
                x = np.clip(x, a[0], a[1])
        return x

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`decode` (for a quantised value: the centre of its cell)."""
        x = np.asarray(x, dtype=float)
        t, a = self.type, self.args
        if t == "randint":
            return (x - a[0] + 0.5) / (a[1] - a[0])
        if t in ("uniform", "quniform"):
            return (x - a[0]) / (a[1] - a[0])
        if t in ("loguniform", "qloguniform"):
            return (np.log(x) - math.log(a[0])) / (math.log(a[1]) - math.log(a[0]))
        if t in ("lognormal", "qlognormal"):
            x = np.log(np.maximum(x, 1e-300))
        return ndtr((x - a[0]) / a[1])

    def to_python(self, x):
        """One decoded value as the plain Python object the objective receives."""
        if self.type == "choice":
            return self.choices[int(x)]
        if self.is_int:
            return int(round(float(x)))
        return float(x) + 0.0  # no -0.0 from rounding

    def grid(self, n_points: int | None) -> np.ndarray | None:
        """Unit-cube coordinates of every distinct value, or None for a continuous parameter."""
        t, a = self.type, self.args
        if t == "choice":
            return np.arange(self.n_choices, dtype=float)
        if t == "randint":
            return self.encode(np.arange(a[0], a[1]))
        if t in ("quniform", "qloguniform"):
            lo, hi, q = a
            k = np.arange(math.floor(lo / q), math.ceil(hi / q) + 1)
            # a multiple of q is reachable when its rounding cell overlaps (low, high)
            k = k[(k * q + q / 2 > lo) & (k * q - q / 2 < hi)]
            values = np.unique(np.clip(k * q, lo, hi))
            return np.unique(np.clip(self.encode(values), 0.0, 1.0))
        if n_points is None:
            return None
        return (np.arange(n_points) + 0.5) / n_points

    def cell_edges(self, max_cells: int = 256) -> np.ndarray | None:
        """Unit-cube boundaries of the cells of a bounded discrete parameter (``G + 1`` sorted
        values; cell ``i`` holds the ``i``-th distinct value), or None if unbounded or finer."""
        if "_edges" not in self.__dict__:
            edges = None
            t, a = self.type, self.args
            if t == "randint" and a[1] - a[0] <= max_cells:
                edges = np.linspace(0.0, 1.0, int(a[1] - a[0]) + 1)
            elif t in ("quniform", "qloguniform"):
                lo, hi, q = a
                k = np.arange(math.floor(lo / q), math.ceil(hi / q) + 1)
                k = k[(k * q + q / 2 > lo) & (k * q - q / 2 < hi)]
                if len(k) <= max_cells:
                    # the value changes where x / q crosses k + 1/2
                    inner = (k[:-1] + 0.5) * q
                    edges = np.clip(self.encode(np.concatenate([[lo], inner, [hi]])), 0.0, 1.0)
            self.__dict__["_edges"] = edges
        return self.__dict__["_edges"]


def _is_spec(value) -> bool:
    return isinstance(value, dict) and "_type" in value


def _check_number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must be a number, got {value!r} ({type(value).__name__}).")
    if not math.isfinite(float(value)):
        raise ValueError(f"{where} must be finite, got {value!r}.")
    return value


class SearchSpace:
    """A parsed NNI search space.

    The space is NNI's JSON spec: a dict from parameter name to ``{"_type": ..., "_value": ...}``
    with ``_type`` one of ``choice``, ``randint``, ``uniform``, ``quniform``, ``loguniform``,
    ``qloguniform``, ``normal``, ``qnormal``, ``lognormal`` and ``qlognormal`` and NNI's meaning of
    ``_value`` (``randint``'s upper bound is exclusive; ``q*`` types round to a multiple of ``q``
    and clip to the bounds). An option of a ``choice`` may be a dict with a ``"_name"`` key and
    further parameters: those are only active when that option is chosen, and the configuration
    then holds ``{"_name": ..., child: value, ...}`` for that parameter, as in NNI.

    Quantised types return ``int`` when their bounds and ``q`` are all integers, ``randint``
    always does; other numeric types return ``float``.

    Parameters
    ----------
    spec : dict or SearchSpace
        The NNI search-space dict (or a JSON string of it).

    Attributes
    ----------
    params : list
        The flattened parameters; children of nested choices are named
        ``"<parent>/<option _name>/<child>"``.
    names : list of str
        The flat parameter names, in the order of the configuration vector.

    Examples
    --------
    >>> space = SearchSpace({
    ...     "lr": {"_type": "loguniform", "_value": [1e-3, 1.0]},
    ...     "model": {"_type": "choice", "_value": [
    ...         {"_name": "linear"},
    ...         {"_name": "mlp", "width": {"_type": "randint", "_value": [8, 64]}}]},
    ... })
    >>> space.names
    ['lr', 'model', 'model/mlp/width']
    >>> params = space.sample(random_state=0)
    >>> sorted(params)
    ['lr', 'model']
    >>> space.decode(space.encode(params)) == params
    True
    """

    def __init__(self, spec):
        if isinstance(spec, SearchSpace):
            spec = spec.spec
        if isinstance(spec, str):
            try:
                spec = json.loads(spec)
            except json.JSONDecodeError as exc:
                raise ValueError(f"space: the string is not valid JSON ({exc}).") from None
        if not isinstance(spec, dict):
            raise TypeError(
                f"space must be a dict in NNI's search-space format, got {type(spec).__name__}."
            )
        if not spec:
            raise ValueError("space is empty; give at least one parameter.")
        self.spec = spec
        self.params: list[Param] = []
        self._parse_level(spec, (), None, None, "")
        self.names = [p.name for p in self.params]
        self._index = {n: i for i, n in enumerate(self.names)}
        self.n_params = len(self.params)
        self.categorical_mask = np.array([p.is_categorical for p in self.params])
        self.n_choices = np.array([p.n_choices if p.is_categorical else 0 for p in self.params])
        # Parameters in the same condition group are always active together; groups are ordered
        # so that a parent's group precedes its children's.
        self._condition = [(p.parent, p.parent_option) for p in self.params]
        self.groups: list[np.ndarray] = []
        seen: dict = {}
        for i, cond in enumerate(self._condition):
            if cond not in seen:
                seen[cond] = len(self.groups)
                self.groups.append([])
            self.groups[seen[cond]].append(i)
        self.groups = [np.array(g) for g in self.groups]
        self.group_conditions = list(seen)

    # ---- parsing -------------------------------------------------------------------------
    def _parse_level(self, spec: dict, path: tuple, parent, parent_option, prefix: str) -> None:
        for key, value in spec.items():
            if not isinstance(key, str):
                raise TypeError(f"space: parameter names must be strings, got {key!r}.")
            if key == "_name" and parent is not None:
                continue
            where = f"space parameter {prefix + key!r}"
            if not _is_spec(value):
                raise ValueError(
                    f"{where} must be a dict like {{'_type': 'uniform', '_value': [0, 1]}}, "
                    f"got {value!r}."
                )
            extra = set(value) - {"_type", "_value"}
            if extra:
                raise ValueError(f"{where} has unknown keys {sorted(extra)}; only '_type' and '_value'.")
            ptype, args = value["_type"], value.get("_value")
            if ptype not in _TYPES:
                raise ValueError(
                    f"{where} has unknown _type {ptype!r}; use one of {', '.join(_TYPES)}."
                )
            if not isinstance(args, (list, tuple)):
                raise ValueError(f"{where}: '_value' must be a list, got {args!r}.")
            index = len(self.params)
            param = Param(prefix + key, path + (key,), ptype, parent=parent, parent_option=parent_option)
            self.params.append(param)
            if ptype == "choice":
                self._parse_choice(param, index, list(args), where)
            else:
                self._parse_numeric(param, list(args), where)

    def _parse_choice(self, param: Param, index: int, options: list, where: str) -> None:
        if not options:
            raise ValueError(f"{where}: choice needs at least one option, got an empty list.")
        names = []
        for k, option in enumerate(options):
            if isinstance(option, dict):
                if "_name" not in option:
                    raise ValueError(
                        f"{where}: option {k} is a dict without '_name'; nested choices need "
                        "{'_name': <label>, <child>: {...}, ...}."
                    )
                names.append(option["_name"])
                param.choices.append(option["_name"])
                start = len(self.params)
                self._parse_level(option, param.path, index, k, f"{param.name}/{option['_name']}/")
                param.children.append(list(range(start, len(self.params))))
            else:
                try:
                    json.dumps(option)
                except TypeError:
                    raise TypeError(
                        f"{where}: option {k} ({option!r}) is not JSON-serialisable; use "
                        "numbers, strings, booleans, None or lists of them."
                    ) from None
                param.choices.append(option)
                param.children.append([])
        if len(set(map(repr, names))) != len(names):
            raise ValueError(f"{where}: nested options need distinct '_name's, got {names}.")

    def _parse_numeric(self, param: Param, args: list, where: str) -> None:
        t = param.type
        need = _NUMERIC_ARGS[t]
        if len(args) != need:
            form = {2: "[low, high]", 3: "[low, high, q]"}[need]
            if "normal" in t:
                form = "[mu, sigma]" if need == 2 else "[mu, sigma, q]"
            raise ValueError(f"{where}: {t} takes _value {form}, got {args!r}.")
        args = [_check_number(v, f"{where} _value[{i}]") for i, v in enumerate(args)]
        if "normal" in t:
            if args[1] <= 0:
                raise ValueError(f"{where}: {t} needs sigma > 0, got {args[1]}.")
        else:
            if args[0] >= args[1]:
                raise ValueError(
                    f"{where}: {t} needs low < high, got low={args[0]}, high={args[1]}."
                )
            if "log" in t and args[0] <= 0:
                raise ValueError(
                    f"{where}: {t} needs positive bounds (it samples on a log scale), got "
                    f"low={args[0]}; use uniform or shift the range."
                )
            if t == "randint" and not all(float(v).is_integer() for v in args):
                raise ValueError(f"{where}: randint bounds must be integers, got {args}.")
        if need == 3 and args[2] <= 0:
            raise ValueError(f"{where}: {t} needs q > 0, got {args[2]}.")
        param.args = tuple(float(v) for v in args)
        if t == "randint":
            param.is_int = True
        elif t.startswith("q"):
            ints = args[2:] if "normal" in t else args
            param.is_int = all(float(v).is_integer() for v in ints)

    # ---- views ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.n_params

    def __repr__(self) -> str:
        return f"SearchSpace({self.names})"

    def __eq__(self, other) -> bool:
        return isinstance(other, SearchSpace) and self.to_json() == other.to_json()

    def to_json(self) -> str:
        """Canonical JSON of the spec (sorted keys), used to recognise the same space."""
        return json.dumps(self.spec, sort_keys=True, default=float)

    # ---- activity ------------------------------------------------------------------------
    def active_mask(self, vectors: np.ndarray) -> np.ndarray:
        """Boolean ``(n, n_params)`` mask of the parameters each configuration uses."""
        return ~np.isnan(np.atleast_2d(vectors))

    def complete(self, vectors: np.ndarray, rng: np.random.Generator, fill: np.ndarray | None = None) -> np.ndarray:
        """Set activity from the choices made: switch off children of unchosen options.

        ``vectors`` holds proposals for every parameter (NaN allowed for unproposed ones);
        children of chosen options that are still NaN take the matching entry of ``fill``
        (random prior draws by default).
        """
        v = np.atleast_2d(np.array(vectors, dtype=float))
        if fill is None:
            fill = self.sample_vectors(len(v), rng, all_active=True)
        for i, p in enumerate(self.params):
            if p.parent is None:
                active = np.ones(len(v), dtype=bool)
            else:
                active = v[:, p.parent] == p.parent_option
            hole = active & np.isnan(v[:, i])
            v[hole, i] = fill[hole, i]
            v[~active, i] = np.nan
        return v

    # ---- sampling ------------------------------------------------------------------------
    def sample_vectors(self, n: int, rng, all_active: bool = False) -> np.ndarray:
        """``n`` configuration vectors drawn from the prior."""
        rng = np.random.default_rng(rng)
        u = rng.random((n, self.n_params))
        cat = self.categorical_mask
        u[:, cat] = np.floor(u[:, cat] * self.n_choices[cat])
        if all_active:
            return u
        return self.complete(u, rng, fill=u)

    def sample(self, random_state=None) -> dict:
        """One configuration drawn from NNI's prior, as the params dict."""
        rng = np.random.default_rng(random_state)
        return self.decode(self.sample_vectors(1, rng)[0])

    # ---- vector <-> params dict ----------------------------------------------------------
    def snap(self, vectors: np.ndarray) -> np.ndarray:
        """Round vectors to what they decode to (quantised cells, option indices, bounds)."""
        v = np.array(np.atleast_2d(vectors), dtype=float)
        for i, p in enumerate(self.params):
            col = v[:, i]
            ok = ~np.isnan(col)
            if p.is_categorical:
                col[ok] = np.clip(np.floor(col[ok]), 0, p.n_choices - 1)
            elif p.is_discrete:
                col[ok] = np.clip(p.encode(p.decode(col[ok])), 0.0, 1.0)
            else:
                col[ok] = np.clip(col[ok], 0.0, 1.0)
        return v

    def decode(self, vector) -> dict:
        """The params dict (NNI layout, nested choices as dicts) for one vector."""
        vector = np.asarray(vector, dtype=float)
        values = {}
        for i, p in enumerate(self.params):
            if not np.isnan(vector[i]):
                values[i] = p.to_python(p.decode(vector[i]))
        out: dict = {}
        for i, p in enumerate(self.params):
            if i not in values:
                continue
            target = out
            for key in p.path[:-1]:
                target = target[key]
            if p.is_categorical and p.children[int(vector[i])]:
                target[p.path[-1]] = {"_name": values[i]}
            else:
                target[p.path[-1]] = values[i]
        return out

    def encode(self, params: dict) -> np.ndarray:
        """The vector of a params dict; raises ``ValueError`` if it is not in the space."""
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict, got {type(params).__name__}.")
        v = np.full(self.n_params, np.nan)
        self._encode_level(params, (), None, None, v)
        return v

    def _encode_level(self, params: dict, path: tuple, parent, option, v: np.ndarray) -> None:
        expected = [i for i, p in enumerate(self.params) if p.parent == parent and p.parent_option == option]
        keys = {self.params[i].path[-1] for i in expected}
        extra = set(params) - keys - ({"_name"} if parent is not None else set())
        if extra:
            raise ValueError(
                f"params has keys {sorted(extra)} at {'/'.join(path) or 'the top level'} that "
                f"are not in the search space (expected {sorted(keys)})."
            )
        for i in expected:
            p = self.params[i]
            if p.path[-1] not in params:
                raise ValueError(f"params is missing {p.name!r}; every active parameter needs a value.")
            value = params[p.path[-1]]
            if p.is_categorical:
                nested = isinstance(value, dict) and "_name" in value
                label = value["_name"] if nested else value
                matches = [k for k, c in enumerate(p.choices) if _same(c, label)]
                if not matches:
                    raise ValueError(
                        f"params[{p.name!r}] = {label!r} is not one of the options {p.choices}."
                    )
                k = matches[0]
                v[i] = k
                if p.children[k]:
                    self._encode_level(value if nested else {}, p.path, i, k, v)
            else:
                try:
                    x = float(value)
                except (TypeError, ValueError):
                    raise TypeError(f"params[{p.name!r}] must be a number, got {value!r}.") from None
                lo, hi = (p.args[0], p.args[1]) if p.is_bounded else (-np.inf, np.inf)
                if not (lo <= x <= hi) or (p.type == "randint" and x >= hi) or (
                    "log" in p.type and x <= 0
                ):
                    raise ValueError(
                        f"params[{p.name!r}] = {value!r} is outside the space "
                        f"({p.type} {list(p.args)})."
                    )
                v[i] = float(np.clip(p.encode(x), 0.0, 1.0))


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (type(a) is type(b) and a == b)
    return a == b


def parse_space(spec) -> SearchSpace:
    """Parse an NNI search-space dict (or JSON string) into a :class:`SearchSpace`.

    Parameters
    ----------
    spec : dict, str or SearchSpace

    Returns
    -------
    SearchSpace

    Examples
    --------
    >>> parse_space({"x": {"_type": "uniform", "_value": [0, 1]}}).names
    ['x']
    """
    return SearchSpace(spec)


def as_space(space) -> SearchSpace:
    return space if isinstance(space, SearchSpace) else SearchSpace(space)


def flatten_params(params: dict, prefix: str = "") -> dict:
    """One flat dict from a configuration in NNI's layout, for tables and charts.

    A nested choice (``{"_name": option, **sub}``) becomes ``key`` = the option's name plus one
    ``key/option/sub`` entry per parameter of that option; other values are kept as they are.
    These are the ``params.<name>`` columns of :meth:`Experiment.trials_dataframe`.

    Parameters
    ----------
    params : dict
        A trial's configuration (``trial.params``).
    prefix : str, default=""
        Put in front of every key.

    Returns
    -------
    dict

    Examples
    --------
    >>> flatten_params({"lr": 0.1, "model": {"_name": "gbdt", "max_depth": 6}})
    {'lr': 0.1, 'model': 'gbdt', 'model/gbdt/max_depth': 6}
    """
    out = {}
    for key, value in params.items():
        if isinstance(value, dict) and "_name" in value:
            out[prefix + key] = value["_name"]
            out.update(flatten_params({k: v for k, v in value.items() if k != "_name"},
                                      f"{prefix}{key}/{value['_name']}/"))
        else:
            out[prefix + key] = value
    return out
