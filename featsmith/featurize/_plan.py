"""FeaturePlan: the fitted, ordered, serialisable list of chosen features (the predict path)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from featsmith._frame import to_polars
from featsmith.featurize._columns import ColumnCoder
from featsmith.featurize._features import Evaluator, Feature, dependencies
from featsmith.featurize._relational import RelationalSynth, cutoff_values

_FORMAT = "featsmith.FeaturePlan/1"


class FeaturePlan:
    """The chosen features, fitted, in order; ``transform`` computes them on raw rows.

    Built by :meth:`FeatureGenerator.plan`. Relational features read the lookup tables kept at
    fit time unless fresh ``tables`` are passed, in which case they are recomputed (with the
    per-row cutoff column of fit, when X has it). Aggregations over X's own table read the
    training rows kept at fit: those before each row's cutoff (or time index) when X's table
    has a time, else all of them.

    Parameters
    ----------
    names : list of str
        Output features, in output order.
    features : dict of name -> Feature
        The outputs and everything they depend on.
    coder : ColumnCoder
        Coding of the raw (and relational) columns the features read.
    relational : RelationalSynth, optional
    cutoff_column : str, optional

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from featsmith.featurize import FeatureGenerator, FeaturePlan
    >>> X = pd.DataFrame({"x": np.arange(10.0), "c": list("ababababab")})
    >>> plan = FeatureGenerator(random_state=0).fit(X).plan(["log1p(x)", "mean(x) by c"])
    >>> plan.transform(X.head(2)).to_numpy().astype(float).round(3).tolist()
    [[0.0, 4.0], [0.693, 5.0]]
    >>> FeaturePlan.from_json(plan.to_json()).names == plan.names
    True
    """

    def __init__(self, names, features, coder, relational=None, cutoff_column=None):
        self.names = list(names)
        self.features = dict(features)
        self.coder = coder
        self.relational = relational
        self.cutoff_column = cutoff_column

    @classmethod
    def of(cls, names, features, coder, relational=None, cutoff_column=None) -> "FeaturePlan":
        """The plan computing ``names`` from a pool of fitted ``features`` (they and everything
        they depend on), keeping only the raw and relational columns those read.

        Parameters
        ----------
        names : list of str
            Output features, in output order; each a key of ``features``.
        features : dict of name -> Feature
            The pool (a generator's candidates, or a plan's features).
        coder : ColumnCoder
            Coding of at least the base columns ``names`` depend on.
        relational : RelationalSynth, optional
            The relational features the pool's base columns may come from.
        cutoff_column : str, optional
        """
        names = list(names)
        needed = dependencies(names, features)
        base_cols = [n for n in needed if features[n].op == "base"]
        rel = None
        if relational is not None:
            rel_used = [c for c in base_cols if c in relational.output_names]
            rel = relational.subset(rel_used) if rel_used else None
        return cls(names, {n: features[n] for n in needed}, coder.subset(base_cols), rel, cutoff_column)

    def subset(self, names) -> "FeaturePlan":
        """The plan of only ``names`` (some of :attr:`names`, in the order given): it computes
        those features alone, and each exactly as this plan does, reading only the columns they
        need (a model that reads a few of a plan's features predicts from this plan's output).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from featsmith.featurize import FeatureGenerator
        >>> X = pd.DataFrame({"x": np.arange(10.0), "c": list("ababababab"), "z": np.arange(10.0) % 3})
        >>> plan = FeatureGenerator(random_state=0).fit(X).plan(["log1p(z)", "mean(x) by c"])
        >>> small = plan.subset(["mean(x) by c"])
        >>> small.names, small.input_columns
        (['mean(x) by c'], ['x', 'c'])
        >>> bool((small.transform(X).to_numpy() == plan.transform(X).select("mean(x) by c").to_numpy()).all())
        True
        """
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"Feature(s) {unknown[:5]} are not in this plan; pick names from its names.")
        return FeaturePlan.of(names, self.features, self.coder, self.relational, self.cutoff_column)

    @property
    def input_columns(self):
        """Raw columns of X the plan reads (relational key columns included)."""
        rel_out = set(self.relational.output_names) if self.relational is not None else set()
        cols = [c for c in self.coder.kinds if c not in rel_out]
        if self.relational is not None:
            cols += [k for k in dict.fromkeys(d["key"] for d in self.relational.features) if k not in cols]
        return cols

    def transform(self, X, tables=None) -> pl.DataFrame:
        """Compute the plan's features on raw rows; returns a polars DataFrame (float32)."""
        df = to_polars(X)
        missing = [c for c in self.input_columns if c not in df.columns]
        if missing:
            raise ValueError(
                f"X is missing column(s) {missing} that the feature plan needs; pass every training "
                "column (extra or reordered columns are fine)."
            )
        if self.relational is not None:
            cutoff = None  # without tables it places only the aggregations over X's own rows
            if self.cutoff_column and self.cutoff_column in df.columns:
                cutoff = cutoff_values(df, self.cutoff_column)
            rel = self.relational.transform(df, tables, cutoff)
            df = pl.concat([df.drop([c for c in rel.columns if c in df.columns]), rel], how="horizontal")
        base = self.coder.encode(df)
        if not self.names:
            return pl.DataFrame(height=df.height)
        block = Evaluator(self.features, base).block(self.names)
        return pl.DataFrame({n: block[:, j] for j, n in enumerate(self.names)})

    def describe(self) -> pl.DataFrame:
        """One row per output feature: name, operator, inputs and a plain-language formula."""
        rows = {"name": [], "operator": [], "inputs": [], "formula": []}
        rel = {d["name"]: d for d in self.relational.features} if self.relational is not None else {}
        for n in self.names:
            f = self.features[n]
            rows["name"].append(n)
            rows["operator"].append("relational" if n in rel else ("raw" if f.op == "base" else f.op))
            rows["inputs"].append(", ".join(f.inputs) if f.inputs else (rel[n]["key"] if n in rel else n))
            rows["formula"].append(_relational_formula(rel[n]) if n in rel else f.formula(self.features))
        return pl.DataFrame(rows)

    def lineage(self) -> dict:
        """Each output feature -> the raw columns of X it is computed from, followed through
        every step: a feature of a relational aggregate reaches the key column the aggregate
        comes through (``origin``, not ``airports[origin].alt``).

        Examples
        --------
        >>> import numpy as np, pandas as pd
        >>> from featsmith.featurize import FeatureGenerator
        >>> X = pd.DataFrame({"x": np.arange(10.0), "c": list("ababababab")})
        >>> FeatureGenerator(random_state=0).fit(X).plan(["mean(x) by c"]).lineage()
        {'mean(x) by c': ['x', 'c']}
        """
        rel = {d["name"]: d["key"] for d in self.relational.features} if self.relational is not None else {}

        def roots(name, depth=0):
            f = self.features.get(name)
            if name in rel:
                return [rel[name]]
            if f is None or f.op == "base" or not f.inputs or depth > 50:
                return [name]
            found = []
            for item in f.inputs:
                found += [r for r in roots(item, depth + 1) if r not in found]
            return found

        return {n: roots(n) for n in self.names}

    def to_json(self) -> str:
        return json.dumps({
            "format": _FORMAT,
            "names": self.names,
            "features": [f.to_dict() for f in self.features.values()],
            "coder": self.coder.to_dict(),
            "relational": self.relational.to_dict() if self.relational is not None else None,
            "cutoff_column": self.cutoff_column,
        }, default=_json_default)

    @classmethod
    def from_json(cls, text: str) -> "FeaturePlan":
        d = json.loads(text)
        if d.get("format") != _FORMAT:
            raise ValueError(f"Not a featsmith feature plan (format {d.get('format')!r}, expected {_FORMAT!r}).")
        feats = {f["name"]: Feature.from_dict(f) for f in d["features"]}
        rel = RelationalSynth.from_dict(d["relational"]) if d["relational"] else None
        return cls(d["names"], feats, ColumnCoder.from_dict(d["coder"]), rel, d["cutoff_column"])

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return f"FeaturePlan({len(self.names)} features)"


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _relational_formula(d):
    """A relational feature in words, naming the key of X it goes through (the lineage)."""
    if d["type"] == "direct":
        return f"{d['column']} of the related {' -> '.join(h[0] for h in d['hops'])} row (by {d['key']})"
    if d["type"] == "aggagg":
        return (f"{d['outer']} over the {d['child']} rows whose {d['child_fk']} is the row's {d['key']} of their "
                f"{d['inner']['prim']} of {d['inner']['source']}.{d['inner']['column'] or 'rows'}")
    col = d["column"] or "rows"
    (source, sfk), *up = d["hops"]
    if up:  # a grandchild: through its parent rows that belong to this row
        table, _, tfk = up[0]
        rows = f"{source} rows of the {table} rows whose {tfk} is the row's {d['key']}"
    else:
        rows = f"{source} rows whose {sfk} is the row's {d['key']}"
    when = ("other than the row itself, before its cutoff or time when it has one" if d.get("own")
            else "before the cutoff when given")
    return f"{d['prim']} of {source}.{col} over the {rows} ({when})"
