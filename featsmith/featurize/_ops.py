"""Operators: each turns input arrays into one feature and knows how to name and explain it.

An operator is stateless; what it learns from the training rows (bin edges, group statistics,
category frequencies, target encodings) is returned by ``fit`` as a small JSON-friendly dict
(the feature's *state*) and passed back to ``apply``. Numeric inputs are float64 arrays with
NaN for missing; categorical inputs are int32 codes where ``card`` (the number of training
categories) is the unknown slot. Every lookup table therefore has ``card + 1`` entries and an
unseen category reads the last one (missing for statistics, 0 for frequencies, the prior for
target encodings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import polars as pl

_EPS = 1e-12
_SECONDS_PER_DAY = 86400.0
_RANK_SKETCH = 257
_GROUP_RANK_SKETCH = 17
_N_BINS = 10


@dataclass(frozen=True)
class Op:
    """One operator: input kinds, output kind, how to fit, apply, name and explain it."""

    key: str
    inputs: tuple  # kinds of the inputs: "num", "cat", "dt", "text", "any"
    out: str  # "num" or "cat"
    apply: Callable
    label: Callable  # input display names -> feature name
    formula: Callable  # input display names -> plain-language formula
    fit: Callable | None = None
    family: str = ""


# ----------------------------------------------------------------- unary numeric
def _slog1p(v, s):
    return np.sign(v[0]) * np.log1p(np.abs(v[0]))


def _ssqrt(v, s):
    return np.sign(v[0]) * np.sqrt(np.abs(v[0]))


def _square(v, s):
    return v[0] * v[0]


def _recip(v, s):
    x = v[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(x) > _EPS, 1.0 / np.where(np.abs(x) > _EPS, x, 1.0), np.nan)


def _abs(v, s):
    return np.abs(v[0])


def _fit_qbin(v, cards, ctx):
    x = v[0][np.isfinite(v[0])]
    edges = np.unique(np.quantile(x, np.linspace(0, 1, _N_BINS + 1)[1:-1])) if x.size else np.array([])
    return {"edges": edges}


def _qbin(v, s):
    x = v[0]
    out = np.searchsorted(np.asarray(s["edges"], dtype=np.float64), x, side="right").astype(np.float64)
    out[np.isnan(x)] = np.nan
    return out


def _fit_rank(v, cards, ctx):
    x = v[0][np.isfinite(v[0])]
    q = np.quantile(x, np.linspace(0, 1, _RANK_SKETCH)) if x.size else np.array([0.0])
    return {"sketch": q}


def _rank(v, s):
    q = np.asarray(s["sketch"], dtype=np.float64)
    if q.size < 2:
        return np.where(np.isnan(v[0]), np.nan, 0.5)
    # Ties in the sketch (a discrete column) would make the interpolation jump; average them.
    uq, first = np.unique(q, return_index=True)
    last = np.r_[first[1:] - 1, q.size - 1]
    levels = (first + last) / 2.0 / (q.size - 1)
    return np.interp(v[0], uq, levels) if uq.size > 1 else np.where(np.isnan(v[0]), np.nan, 0.5)


# ----------------------------------------------------------------- numeric crosses
def _div(v, s):
    a, b = v
    ok = np.abs(b) > _EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, a / np.where(ok, b, 1.0), np.nan)


def _fmin(v, s):
    return np.minimum(v[0], v[1])


def _fmax(v, s):
    return np.maximum(v[0], v[1])


# ----------------------------------------------------------------- categorical
def _lookup(table, codes):
    return np.asarray(table, dtype=np.float64)[codes]


def _fit_freq(v, cards, ctx):
    counts = np.bincount(v[0], minlength=cards[0] + 1).astype(np.float64)
    counts[cards[0]] = 0.0
    return {"table": counts / max(v[0].size, 1)}


def _apply_table(v, s):
    return _lookup(s["table"], v[0])


def target_stats(codes, card, y, smoothing):
    """Smoothed per-category target mean, with the prior in the unknown slot."""
    counts = np.bincount(codes, minlength=card + 1).astype(np.float64)
    sums = np.bincount(codes, weights=y, minlength=card + 1)
    prior = float(y.mean()) if y.size else 0.0
    table = (sums + smoothing * prior) / (counts + smoothing)
    table[card] = prior
    return table


def oof_target_tables(codes, card, y, folds, n_folds, smoothing, past_only=False):
    """``(n_folds, card + 1)`` target encodings, row f fitted on every fold but f.

    One bincount over (fold, code) gives every fold's totals; each table is the overall total
    minus its own fold, so the cost does not grow with the number of folds. With
    ``past_only`` (folds numbered in time order) table f is fitted on the folds before f
    alone, so no row is encoded with later rows' targets; the first fold, which has no past,
    gets NaN (missing) encodings.
    """
    width = card + 1
    idx = folds * width + codes
    counts = np.bincount(idx, minlength=n_folds * width).reshape(n_folds, width).astype(np.float64)
    sums = np.bincount(idx, weights=y, minlength=n_folds * width).reshape(n_folds, width)
    if past_only:
        out_counts = np.cumsum(counts, axis=0) - counts
        out_sums = np.cumsum(sums, axis=0) - sums
    else:
        out_counts = counts.sum(0)[None, :] - counts
        out_sums = sums.sum(0)[None, :] - sums
    n_out = out_counts.sum(1, keepdims=True)
    prior = np.divide(out_sums.sum(1, keepdims=True), n_out, out=np.zeros_like(n_out), where=n_out > 0)
    tables = (out_sums + smoothing * prior) / np.maximum(out_counts + smoothing, 1e-300)
    tables[:, card] = prior[:, 0]
    tables[n_out[:, 0] == 0] = np.nan
    return tables


def _fit_te(v, cards, ctx, cls):
    y = ctx["y"][:, cls]
    return {"table": target_stats(v[0], cards[0], y, ctx["smoothing"]), "class": cls}


def _fit_combine(v, cards, ctx):
    pair = v[0].astype(np.int64) * (cards[1] + 1) + v[1]
    uniq, counts = np.unique(pair, return_counts=True)
    # Codes number frequent pairs first, like the base vocabularies; ``sorted`` is kept sorted
    # for the lookup and ``code`` is each sorted pair's code.
    order = np.lexsort((uniq, -counts))
    code = np.empty(uniq.size, dtype=np.int32)
    code[order] = np.arange(uniq.size, dtype=np.int32)
    return {"sorted": uniq, "code": code, "stride": cards[1] + 1}


def combine_card(state) -> int:
    return len(state["sorted"])


def _combine(v, s):
    sorted_pairs = np.asarray(s["sorted"], dtype=np.int64)
    codes = np.asarray(s["code"], dtype=np.int32)
    pair = v[0].astype(np.int64) * s["stride"] + v[1]
    if sorted_pairs.size == 0:
        return np.zeros(pair.shape, np.int32)
    pos = np.minimum(np.searchsorted(sorted_pairs, pair), sorted_pairs.size - 1)
    return np.where(sorted_pairs[pos] == pair, codes[pos], sorted_pairs.size).astype(np.int32)


def _fit_nunique_within(v, cards, ctx):
    df = pl.DataFrame({"a": v[0], "b": v[1]})
    agg = df.group_by("b").agg(pl.col("a").n_unique().alias("n"))
    table = np.full(cards[1] + 1, np.nan)
    table[agg.get_column("b").to_numpy()] = agg.get_column("n").to_numpy()
    table[cards[1]] = np.nan
    return {"table": table}


def _apply_table_b(v, s):
    return _lookup(s["table"], v[1])


# ----------------------------------------------------------------- group-by (x numeric, k categorical)


def _stat_expr(c, stat):
    return {
        "mean": c.mean(), "std": c.std(), "min": c.min(), "max": c.max(), "median": c.median(),
        "count": c.count(), "nunique": c.drop_nulls().n_unique(),
    }[stat]


def group_stat_tables(k: np.ndarray, card: int, xs: dict) -> dict:
    """Group statistics of several numeric columns by one key, in one polars pass.

    ``xs`` maps a column name to ``(values, stats)``; returns ``{name: {stat: table}}`` where
    each table has ``card + 1`` entries (the last, for unseen categories, is missing).
    """
    cols = {"__k": k}
    exprs = []
    for i, (name, (x, stats)) in enumerate(xs.items()):
        cols[f"x{i}"] = x
        c = pl.col(f"x{i}").fill_nan(None)
        exprs += [_stat_expr(c, stat).alias(f"x{i}|{stat}") for stat in sorted(stats)]
    agg = pl.DataFrame(cols).group_by("__k").agg(exprs)
    idx = agg.get_column("__k").to_numpy()
    out = {}
    for i, (name, (_, stats)) in enumerate(xs.items()):
        out[name] = {}
        for stat in stats:
            table = np.full(card + 1, np.nan)
            table[idx] = agg.get_column(f"x{i}|{stat}").cast(pl.Float64).to_numpy()
            table[card] = np.nan
            out[name][stat] = table
    return out


def value_ranks(x: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted column (shared by every key's rank sketch)."""
    ranks = np.empty(x.size, dtype=np.int64)
    ranks[np.argsort(x, kind="stable")] = np.arange(x.size)
    return ranks


def group_rank_sketch(k: np.ndarray, card: int, x: np.ndarray, ranks=None) -> np.ndarray:
    """Per-group quantile sketch of ``x`` (``card + 1`` rows, NaN where a group is empty)."""
    sketch = np.full((card + 1, _GROUP_RANK_SKETCH), np.nan)
    ok = ~np.isnan(x)
    if not ok.any():
        return sketch
    ranks = value_ranks(x) if ranks is None else ranks
    # One integer sort on (key, value rank) orders every group by value.
    order = np.argsort(k.astype(np.int64) * x.size + ranks, kind="stable")
    order = order[ok[order]]
    ks, xs = k[order], x[order]
    counts = np.bincount(ks, minlength=card + 1)
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    groups = np.nonzero(counts)[0]
    levels = np.linspace(0, 1, _GROUP_RANK_SKETCH)
    pos = starts[groups, None] + np.floor(levels[None, :] * (counts[groups, None] - 1) + 0.5).astype(np.int64)
    sketch[groups] = xs[pos]
    return sketch


def _gb_stat(stat):
    def apply(v, s):
        return _lookup(s["table"], v[1])

    return apply


def _gb_dev(v, s):
    return v[0] - _lookup(s["table"], v[1])


def _gb_ratio(v, s):
    m = _lookup(s["table"], v[1])
    return _div([v[0], m], s)


def _gb_rank(v, s):
    sketch = np.asarray(s["sketch"], dtype=np.float64)[v[1]]
    x = v[0][:, None]
    n = np.sum(~np.isnan(sketch), axis=1)
    below = np.sum(sketch < x, axis=1) + 0.5 * np.sum(sketch == x, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(n > 0, below / np.maximum(n, 1), np.nan)
    out[np.isnan(v[0])] = np.nan
    return out


# ----------------------------------------------------------------- datetime
def _days(sec):
    return np.floor(sec / _SECONDS_PER_DAY)


def _civil(sec):
    """Year, month, day, day of year from epoch seconds, vectorised through numpy datetime64."""
    ok = ~np.isnan(sec)
    d = np.zeros(sec.shape, dtype="datetime64[D]")
    d[ok] = _days(sec[ok]).astype(np.int64).astype("datetime64[D]")
    y = d.astype("datetime64[Y]")
    m = d.astype("datetime64[M]")
    year = y.astype(np.int64) + 1970.0
    month = (m.astype(np.int64) % 12) + 1.0
    day = (d - m).astype(np.int64) + 1.0
    doy = (d - y).astype(np.int64) + 1.0
    parts = [year, month, day, doy]
    for p in parts:
        p[~ok] = np.nan
    return parts


def _dt_part(part):
    def apply(v, s):
        sec = v[0]
        if part in ("year", "month", "day", "dayofyear"):
            year, month, day, doy = _civil(sec)
            return {"year": year, "month": month, "day": day, "dayofyear": doy}[part]
        if part == "dayofweek":  # Monday = 0, as pandas and polars (weekday - 1)
            return np.mod(_days(sec) + 3, 7)
        if part == "hour":
            return np.floor(np.mod(sec, _SECONDS_PER_DAY) / 3600.0)
        if part == "weekend":
            return (np.mod(_days(sec) + 3, 7) >= 5).astype(np.float64) + 0 * sec
        raise KeyError(part)

    return apply


_CYCLES = {"month": 12.0, "dayofweek": 7.0, "hour": 24.0, "dayofyear": 365.25}


def _dt_cycle(part, fn):
    base = _dt_part(part)

    def apply(v, s):
        x = base(v, s)
        if part in ("month", "dayofyear"):
            x = x - 1.0
        return fn(2 * np.pi * x / _CYCLES[part])

    return apply


def _fit_elapsed(v, cards, ctx):
    x = v[0][np.isfinite(v[0])]
    return {"origin": float(x.min()) if x.size else 0.0}


def _elapsed(v, s):
    return (v[0] - s["origin"]) / _SECONDS_PER_DAY


def _dt_diff(v, s):
    return (v[0] - v[1]) / _SECONDS_PER_DAY


# ----------------------------------------------------------------- missing values, text
def is_missing(x) -> np.ndarray:
    if isinstance(x, pl.Series):
        return x.is_null().to_numpy()
    if x.dtype.kind == "f":
        return np.isnan(x)
    return np.zeros(x.shape, bool)


def _fit_missing(v, cards, ctx):
    # For a categorical input the missing category has its own code (see _columns.NULL_TOKEN).
    return {"null_code": ctx.get("null_code")}


def _missing(v, s):
    x = v[0]
    if s.get("null_code") is not None and not isinstance(x, pl.Series) and x.dtype.kind == "i":
        return (x == s["null_code"]).astype(np.float64)
    return is_missing(x).astype(np.float64)


def _fit_n_missing(v, cards, ctx):
    return {"null_codes": ctx.get("null_codes", [None] * len(v))}


def _n_missing(v, s):
    total = None
    for x, code in zip(v, s["null_codes"]):
        m = _missing([x], {"null_code": code})
        total = m if total is None else total + m
    return total


def _text_len(v, s):
    return v[0].str.len_chars().cast(pl.Float64).to_numpy()


def _text_words(v, s):
    return v[0].str.count_matches(r"\S+").cast(pl.Float64).to_numpy()


# ----------------------------------------------------------------- registry
def _u(fmt):
    return lambda n: fmt.format(*n)


OPS: dict[str, Op] = {}


def _register(*ops):
    for op in ops:
        OPS[op.key] = op


_register(
    Op("log1p", ("num",), "num", _slog1p, _u("log1p({0})"), _u("sign({0}) * log(1 + |{0}|)"), family="unary"),
    Op("sqrt", ("num",), "num", _ssqrt, _u("sqrt({0})"), _u("sign({0}) * sqrt(|{0}|)"), family="unary"),
    Op("square", ("num",), "num", _square, _u("square({0})"), _u("{0} squared"), family="unary"),
    Op("recip", ("num",), "num", _recip, _u("1/({0})"), _u("1 / {0} (missing where {0} is 0)"), family="unary"),
    Op("abs", ("num",), "num", _abs, _u("abs({0})"), _u("absolute value of {0}"), family="unary"),
    Op("qbin", ("num",), "num", _qbin, _u("qbin({0})"), _u("decile bin of {0} (training deciles)"), _fit_qbin, "unary"),
    Op("rank", ("num",), "num", _rank, _u("rank({0})"), _u("training percentile of {0}"), _fit_rank, "unary"),
    Op("add", ("num", "num"), "num", lambda v, s: v[0] + v[1], _u("({0} + {1})"), _u("{0} plus {1}"), family="cross"),
    Op("sub", ("num", "num"), "num", lambda v, s: v[0] - v[1], _u("({0} - {1})"), _u("{0} minus {1}"), family="cross"),
    Op("mul", ("num", "num"), "num", lambda v, s: v[0] * v[1], _u("({0} * {1})"), _u("{0} times {1}"), family="cross"),
    Op("div", ("num", "num"), "num", _div, _u("({0} / {1})"), _u("{0} divided by {1} (missing where {1} is 0)"), family="cross"),
    Op("min", ("num", "num"), "num", _fmin, _u("min({0}, {1})"), _u("smaller of {0} and {1}"), family="cross"),
    Op("max", ("num", "num"), "num", _fmax, _u("max({0}, {1})"), _u("larger of {0} and {1}"), family="cross"),
    Op("freq", ("cat",), "num", _apply_table, _u("freq({0})"), _u("training share of rows with this {0} (0 if unseen)"), _fit_freq, "categorical"),
    Op("combine", ("cat", "cat"), "cat", _combine, _u("({0}, {1})"), _u("the pair ({0}, {1}) as one category"), _fit_combine, "categorical"),
    Op("nunique_in", ("cat", "cat"), "num", _apply_table_b, _u("nunique({0}) by {1}"), _u("number of distinct {0} among training rows with this {1}"), _fit_nunique_within, "categorical"),
    Op("gb_dev", ("num", "cat"), "num", _gb_dev, _u("({0} - mean({0}) by {1})"), _u("{0} minus the training mean of {0} within its {1}"), family="groupby"),
    Op("gb_ratio", ("num", "cat"), "num", _gb_ratio, _u("({0} / mean({0}) by {1})"), _u("{0} divided by the training mean of {0} within its {1}"), family="groupby"),
    Op("gb_rank", ("num", "cat"), "num", _gb_rank, _u("rank({0}) by {1}"), _u("training percentile of {0} within its {1}"), family="groupby"),
    Op("elapsed", ("dt",), "num", _elapsed, _u("elapsed_days({0})"), _u("days from the earliest training {0}"), _fit_elapsed, "datetime"),
    Op("dt_diff", ("dt", "dt"), "num", _dt_diff, _u("days({0} - {1})"), _u("days from {1} to {0}"), family="datetime"),
    Op("missing", ("any",), "num", _missing, _u("missing({0})"), _u("1 if {0} is missing"), _fit_missing, "missing"),
    Op("n_missing", ("any",), "num", _n_missing, lambda n: "n_missing(row)", lambda n: "number of missing values among " + ", ".join(n), _fit_n_missing, "missing"),
    Op("len", ("text",), "num", _text_len, _u("len({0})"), _u("number of characters in {0}"), family="text"),
    Op("words", ("text",), "num", _text_words, _u("words({0})"), _u("number of words in {0}"), family="text"),
)
for _stat, _text in [
    ("mean", "mean"), ("std", "standard deviation"), ("min", "minimum"), ("max", "maximum"),
    ("median", "median"), ("count", "number of non-missing values"), ("nunique", "number of distinct values"),
]:
    _register(
        Op(f"gb_{_stat}", ("num", "cat"), "num", _gb_stat(_stat), _u(_stat + "({0}) by {1}"),
           (lambda t: _u("training " + t + " of {0} within the row's {1}"))(_text), family="groupby")
    )
for _part in ("year", "month", "day", "dayofweek", "hour", "dayofyear", "weekend"):
    _register(Op(f"dt_{_part}", ("dt",), "num", _dt_part(_part), _u(_part + "({0})"),
                 (lambda p: _u(p + " of {0}"))(_part), family="datetime"))
for _part in _CYCLES:
    _register(
        Op(f"dt_{_part}_sin", ("dt",), "num", _dt_cycle(_part, np.sin), _u("sin_" + _part + "({0})"),
           (lambda p: _u("sine of the " + p + " cycle of {0}"))(_part), family="datetime"),
        Op(f"dt_{_part}_cos", ("dt",), "num", _dt_cycle(_part, np.cos), _u("cos_" + _part + "({0})"),
           (lambda p: _u("cosine of the " + p + " cycle of {0}"))(_part), family="datetime"),
    )
# Target encoding: one feature per encoded target column (one per class for multiclass).
_register(Op("te", ("cat",), "num", _apply_table, _u("te({0})"),
             _u("out-of-fold smoothed mean of the target for this {0} (prior if unseen)"),
             lambda v, c, ctx: _fit_te(v, c, ctx, 0), "target"))

GROUP_OPS = ["gb_mean", "gb_std", "gb_min", "gb_max", "gb_median", "gb_count", "gb_nunique", "gb_dev", "gb_ratio", "gb_rank"]
UNARY_OPS = ["log1p", "sqrt", "square", "recip", "abs", "qbin", "rank"]
CROSS_OPS = ["add", "sub", "mul", "div", "min", "max"]
DATETIME_OPS = [
    "dt_year", "dt_month", "dt_day", "dt_dayofweek", "dt_hour", "dt_dayofyear", "dt_weekend",
    "dt_month_sin", "dt_month_cos", "dt_dayofweek_sin", "dt_dayofweek_cos", "dt_hour_sin", "dt_hour_cos",
    "dt_dayofyear_sin", "dt_dayofyear_cos", "elapsed",
]
OPERATOR_NAMES = sorted(OPS)
