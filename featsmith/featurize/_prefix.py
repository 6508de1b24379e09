"""Aggregations as of per-row cutoffs, from per-(key, cutoff bucket) partial totals.

The rows of a source table that count for a query ``(key, cutoff)`` are the key's rows
strictly before the cutoff (``<=`` when the cutoff itself is included): a time prefix of the
key's rows. Only the distinct cutoffs matter, so the source rows are bucketed by the cutoffs
they precede: with the distinct cutoffs ``c_0 < c_1 < ... < c_m``, a row at time ``t`` falls in
bucket ``b = #{j : c_j <= t}`` and counts for cutoff ``c_j`` exactly when ``b <= j`` (``<``;
``#{j : c_j < t}`` for ``<=``). Rows after the last cutoff, or without a time or a key, count
for none and are dropped.

One group-by over ``(key, bucket)`` then computes every aggregation's partial totals for all
columns at once (count, non-missing count, sum, mean and squared deviations, min, max, first,
last, latest time; distinct values by the bucket of their first occurrence). A key's buckets
are then merged into the first bucket at or after them that one of the key's queries reads
(sums, minima, maxima, first and last combine exactly), so the running totals, cumulative
sums / minima / maxima over a key's buckets, run over at most one row per distinct
``(key, cutoff)`` query, never one row per source row; each query reads its key's latest bucket
at or before its own by one sorted search over one integer per (key, bucket).

The standard deviation combines the per-bucket means and squared deviations (Chan et al.)
around one centre per key, the mean of its rows before the last cutoff, so the subtraction
``S2 - S1**2 / n`` never cancels the large sums a raw sum of squares would. The centre is a
shift only: in exact arithmetic the result does not depend on it, so no row after a cutoff
enters that cutoff's value.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: The aggregations :func:`prefix_aggregate` answers (the mode is computed on expanded pairs).
PREFIX_PRIMS = ("count", "sum", "mean", "std", "min", "max", "nunique", "first", "last", "time_since_last")


def _values(src, c):
    """A value column as the aggregations read it: NaN is missing (pandas' ``skipna``)."""
    x = pl.col(c)
    return x.fill_nan(None) if src.schema[c].is_float() else x


def _columns(specs):
    """``{column: set of primitives}`` for the value columns the specs read."""
    cols = {}
    for _, p, c in specs:
        if c is not None and p != "time_since_last":
            cols.setdefault(c, set()).add(p)
    return dict(sorted(cols.items()))


def _partials(src, specs):
    """One row per (``__g``, ``__b``) with the partial totals the specs read: one group-by
    of polars' built-in aggregations (no per-group expression) for all columns."""
    exprs = [pl.len().cast(pl.Int64).alias("__n")]
    for c, prims in _columns(specs).items():
        x = _values(src, c)
        if prims & {"sum", "mean", "std"}:
            xf = x.cast(pl.Float64)
            exprs += [xf.count().cast(pl.Int64).alias(f"{c}|cn"), xf.sum().alias(f"{c}|s")]
            if "std" in prims:
                # The bucket's mean and squared deviations (count x population variance).
                exprs += [xf.mean().alias(f"{c}|m"), xf.var(ddof=0).alias(f"{c}|v")]
        for p in ("min", "max"):
            if p in prims:
                exprs.append((x.min() if p == "min" else x.max()).alias(f"{c}|{p}"))
        for p in ("first", "last"):
            if p in prims:
                exprs.append((pl.col(c).first() if p == "first" else pl.col(c).last()).alias(f"{c}|{p}"))
    if any(p == "time_since_last" for _, p, _ in specs):
        exprs.append(pl.col("__t").max().alias("__tl"))
    part = src.group_by("__g", "__b").agg(exprs)
    for c in [c for c, prims in _columns(specs).items() if "nunique" in prims]:
        # A value adds to the distinct count from the bucket of its first occurrence on.
        first = src.filter(pl.col(c).is_not_null()).group_by("__g", c).agg(pl.col("__b").min())
        nu = first.group_by("__g", "__b").agg(pl.len().cast(pl.Int64).alias(f"{c}|nu"))
        part = part.join(nu, on=["__g", "__b"], how="left").with_columns(pl.col(f"{c}|nu").fill_null(0))
    return part


def segmented_scan(values, pos, op):
    """Inclusive scan of ``op`` down the rows of ``values`` within segments.

    Parameters
    ----------
    values : numpy.ndarray of shape (n, k)
        Rows grouped by segment, in scan order within each.
    pos : numpy.ndarray of shape (n,)
        Each row's position within its segment (0 at the segment's first row).
    op : numpy ufunc
        ``np.add``, ``np.fmin`` or ``np.fmax`` (the last two skip NaN).

    Returns
    -------
    numpy.ndarray
        The scan, exact within each segment: Hillis and Steele's doubling steps (log2 of the
        longest segment, each one vectorised over all rows and columns) never mix one
        segment's totals into another's, as a whole-column cumulative sum less an offset would.

    Examples
    --------
    >>> import numpy as np
    >>> segmented_scan(np.array([[1.0], [2.0], [3.0], [4.0]]), np.array([0, 1, 0, 1]), np.add)[:, 0]
    array([1., 3., 3., 7.])
    """
    out = values.copy()
    step, longest = 1, int(pos.max(initial=0)) + 1
    while step < longest:
        rows = np.flatnonzero(pos >= step)
        out[rows] = op(out[rows], out[rows - step])  # the right side is read before the write
        step *= 2
    return out


def _roles(specs):
    """The partial-total columns by how buckets combine: summed, min, max, first, last."""
    cols = _columns(specs)
    sums = ["__n"] + [f"{c}|{t}" for c, prims in cols.items() if prims & {"sum", "mean", "std"} for t in ("cn", "s")]
    sums += [f"{c}|{t}" for c, prims in cols.items() if "std" in prims for t in ("s1", "s2")]
    sums += [f"{c}|nu" for c, prims in cols.items() if "nunique" in prims]
    roles = {"sum": sums}
    for p in ("min", "max", "first", "last"):
        roles[p] = [f"{c}|{p}" for c, prims in cols.items() if p in prims]
    return roles


def _centred(part, specs):
    """Replace each bucket's mean and variance by its sums of deviations from the key's mean
    over all its buckets, which add up across buckets (Chan et al.): S1 stays near 0, and
    ``S2 - S1**2 / n`` does not cancel as a raw sum of squares would. ``part`` has ``__code``."""
    std = [c for c, prims in _columns(specs).items() if "std" in prims]
    if not std:
        return part
    g = "__code"
    cn = {c: pl.col(f"{c}|cn").cast(pl.Float64) for c in std}
    dev = {c: (pl.col(f"{c}|m") - pl.col(f"{c}|s").sum().over(g) / cn[c].sum().over(g)).fill_null(0.0) for c in std}
    return part.with_columns(
        [(cn[c] * dev[c]).alias(f"{c}|s1") for c in std]
        + [(pl.col(f"{c}|v").fill_null(0.0) * cn[c] + cn[c] * dev[c] * dev[c]).alias(f"{c}|s2") for c in std]
    ).drop([f"{c}|{t}" for c in std for t in ("m", "v")])


def _compact(part, specs, asked, width):
    """Merge each key's buckets into the first bucket at or after them that one of the key's
    queries reads (``asked``: sorted ``code * width + bucket`` of the queries); buckets after
    its last query are dropped. The running totals then run over at most one row per distinct
    query instead of one per (key, bucket) of the source rows."""
    if asked.len() == 0:
        part = part.clear()
        asked = pl.Series([0], dtype=pl.Int64)  # a stand-in to search: no row is left to match it
    flat = pl.col("__code").cast(pl.Int64) * width + pl.col("__b").cast(pl.Int64)
    at = pl.lit(asked).search_sorted(flat, side="left")
    target = pl.lit(asked).gather(pl.min_horizontal(at, asked.len() - 1))
    part = part.filter((at < asked.len()) & (target // width == pl.col("__code").cast(pl.Int64)))
    part = part.with_columns((target % width).cast(part.schema["__b"]).alias("__b"))
    roles = _roles(specs)
    tl = [pl.col("__tl").max()] if "__tl" in part.columns else []
    # ``part`` is sorted by key, then bucket, and the merge keeps that order (first / last).
    return part.group_by("__code", "__b", maintain_order=True).agg(
        [pl.col(n).sum() for n in roles["sum"]] + [pl.col(n).min() for n in roles["min"]]
        + [pl.col(n).max() for n in roles["max"]] + [pl.col(n).first() for n in roles["first"]]
        + [pl.col(n).last() for n in roles["last"]] + tl)


def _running(part, specs):
    """Cumulative totals over each key's buckets; ``part`` is sorted by ``__code``, then
    ``__b``."""
    code = part.get_column("__code").to_numpy()
    first_row = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    starts = np.repeat(first_row, np.diff(np.r_[first_row, len(code)]))
    pos = np.arange(len(code)) - starts
    roles = _roles(specs)
    scanned = []
    for names, op in ((roles["sum"], np.add), (roles["min"], np.fmin), (roles["max"], np.fmax)):
        if names:
            # Physical values (durations, booleans as numbers); float64 holds int64 exactly to 2**53.
            block = part.select([pl.col(n).to_physical().cast(pl.Float64)
                                 .fill_null(float("nan") if op is not np.add else 0.0) for n in names]).to_numpy()
            block = segmented_scan(block, pos, op)
            phys = part.select(pl.col(names).to_physical()).schema
            scanned += [pl.Series(n, block[:, j]).fill_nan(None).cast(phys[n]).cast(part.schema[n])
                        for j, n in enumerate(names)]
    part = part.with_columns(scanned)
    if roles["first"]:
        part = part.with_columns([pl.col(n).gather(pl.Series(starts)) for n in roles["first"]])
    return part


def _answers(state, specs, dtype=None):
    """The specs' values from each row of running totals (one per key and bucket), but for
    ``time_since_last``, which reads each query's own cutoff; numeric values as ``dtype``
    when given."""
    n = pl.col("__n")
    outs = []
    for name, prim, c in specs:
        if prim == "time_since_last":
            continue
        if prim == "count":
            e = n
        elif prim in ("first", "last", "min", "max"):
            e = pl.col(f"{c}|{prim}")
        elif prim == "nunique":
            e = pl.col(f"{c}|nu")
        else:
            cn, s = pl.col(f"{c}|cn"), pl.col(f"{c}|s")
            if prim == "sum":
                e = s
            elif prim == "mean":
                e = pl.when(cn > 0).then(s / cn)
            else:
                s1, s2 = pl.col(f"{c}|s1"), pl.col(f"{c}|s2")
                var = (s2 - s1 * s1 / cn) / (cn - 1)
                e = pl.when(cn > 1).then(var.clip(lower_bound=0).sqrt())
        outs.append(e.alias(name))
    if any(p == "time_since_last" for _, p, _ in specs):
        outs.append(pl.col("__tl"))
    return as_dtype(state.select(outs), dtype, skip=("__tl",))


def _since_last(answers, cut, specs, dtype=None):
    """``answers`` (gathered per query) with time since last from each query's cutoff, the
    columns in the specs' order."""
    if "__tl" in answers.columns:
        secs = ((cut - answers.get_column("__tl")).dt.total_microseconds() / 1e6).cast(dtype or pl.Float64)
        answers = answers.with_columns([secs.alias(name) for name, prim, _ in specs if prim == "time_since_last"])
    return answers.select([name for name, _, _ in specs])


def as_dtype(df, dtype, skip=()):
    """``df`` with its numeric columns (integers and floats; booleans, strings and times stay
    as they are) cast to ``dtype``, but the ``skip`` columns (keys); ``df`` when ``dtype`` is
    None. Applied to small per-key tables before they are joined or gathered to one row per
    query, so that no query-sized column is built in another dtype first."""
    if dtype is None:
        return df
    cols = [c for c, t in df.schema.items() if c not in skip and t.is_numeric() and t != dtype]
    return df.with_columns(pl.col(cols).cast(dtype)) if cols else df


def prefix_aggregate(src, specs, query_frames, strict=True, dtype=None):
    """Aggregations of ``src`` rows strictly before (``strict``) or at each query's cutoff.

    Parameters
    ----------
    src : polars.DataFrame
        Source rows: ``__g`` (the key, the dtype of the queries' ``__q``), ``__t`` (Datetime),
        the value columns; in time order (ties in table order) when ``first`` or ``last`` is
        asked for.
    specs : list of (name, primitive, column)
        Primitives from :data:`PREFIX_PRIMS`; ``column`` is None for ``count``.
    query_frames : list of polars.DataFrame
        Each with ``__q`` (key) and ``__cut`` (Datetime cutoff), one row per query.
    strict : bool, default=True
        ``t < cutoff`` when True, ``t <= cutoff`` when False.
    dtype : polars float dtype, optional
        The dtype of the numeric values (counts included), cast once per (key, bucket) before
        they are gathered per query; None keeps each primitive's own (integer counts, float64
        sums, the column's dtype for min and max).

    Returns
    -------
    list of polars.DataFrame
        Per query frame, one column per spec and one row per query, in the query order; a
        query with no rows reads missing values (the caller fills count, sum and nunique
        with 0).

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> src = pl.DataFrame({"__g": ["a", "a", "b"], "__t": [datetime(2020, 1, d) for d in (1, 3, 2)],
    ...                     "x": [1.0, 3.0, 5.0]})
    >>> q = pl.DataFrame({"__q": ["a", "a", "b"], "__cut": [datetime(2020, 1, d) for d in (2, 4, 2)]})
    >>> prefix_aggregate(src, [("n", "count", None), ("s", "sum", "x")], [q])[0].rows()
    [(1, 1.0), (2, 4.0), (None, None)]
    """
    if not query_frames:
        return []
    cut = pl.Datetime("us")
    grid = pl.concat([q.get_column("__cut").cast(cut) for q in query_frames]).drop_nulls().unique().sort()
    side = "right" if strict else "left"  # a row's bucket: the cutoffs <= its time (strict), or < it
    t = pl.col("__t").cast(cut)
    src = src.filter(t.is_not_null() & pl.col("__g").is_not_null())
    src = src.with_columns(pl.lit(grid).search_sorted(t, side=side).alias("__b"))
    src = src.filter(pl.col("__b") < grid.len())  # after the last cutoff: counts for none
    part = _partials(src, specs).sort("__g", "__b")
    del src
    part = _centred(part.with_columns(pl.col("__g").rle_id().alias("__code")), specs)
    # Integer codes of the keys (in key order) and one sorted integer per (key, bucket).
    codes = part.select("__g", "__code").unique("__code", keep="first")
    width = grid.len() + 1
    queries = []
    for q in query_frames:
        q = q.select("__q", pl.col("__cut").cast(cut)).join(codes, left_on="__q", right_on="__g", how="left",
                                                           maintain_order="left")
        # The cutoff's rank (search_sorted reads a missing cutoff as rank 0: no bucket for it).
        b = pl.when(pl.col("__cut").is_not_null()).then(pl.lit(grid).search_sorted(pl.col("__cut"), side="left"))
        queries.append(q.with_columns((pl.col("__code").cast(pl.Int64) * width + b.cast(pl.Int64)).alias("__k")))
    asked = pl.concat([q.get_column("__k") for q in queries]).drop_nulls().unique().sort()
    state = _running(_compact(part.drop("__g"), specs, asked, width), specs)
    # Each (key, bucket)'s answers once, then gathered per query: only the output's columns
    # are ever query-sized, in the output's dtype.
    answers = _answers(state, specs, dtype)
    flat = state.get_column("__code").cast(pl.Int64) * width + state.get_column("__b").cast(pl.Int64)
    out = []
    for q in queries:
        if state.height == 0:  # no row before any cutoff
            out.append(_since_last(answers.clear(q.height), q.get_column("__cut"), specs, dtype))
            continue
        # The state row at or before the query's (key, bucket): the running totals it reads.
        at = flat.search_sorted(q.get_column("__k"), side="right").cast(pl.Int64) - 1
        at = pl.select(pl.when(q.get_column("__k").is_not_null() & (at >= 0)).then(at)).to_series()
        at = pl.select(pl.when(state.get_column("__code").gather(at.fill_null(0)) == q.get_column("__code"))
                       .then(at)).to_series()  # the row found belongs to an earlier key: no rows
        out.append(_since_last(answers.select(pl.all().gather(at)), q.get_column("__cut"), specs, dtype))
    return out
