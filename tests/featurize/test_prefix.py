"""Aggregations as of per-row cutoffs (featsmith.featurize._prefix) against the definition:
the key's rows strictly before (or at) each cutoff, computed naively per query."""

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from featsmith.featurize._prefix import PREFIX_PRIMS, prefix_aggregate, segmented_scan

T0 = datetime(2020, 1, 1)


def _random_case(seed, n=400, n_q=150):
    rng = np.random.default_rng(seed)
    keys = np.array(["a", "b", "c", "d", "e"], dtype=object)
    g = keys[rng.integers(0, 4, n)].astype(object)  # "e" is never a source key
    g[rng.random(n) < 0.05] = None
    hours = rng.integers(0, 40, n)  # few distinct times: many ties
    t = [T0 + timedelta(hours=int(h)) for h in hours]
    t = [None if rng.random() < 0.05 else v for v in t]
    x = rng.normal(1e6, 3.0, n)  # a large offset: a raw sum of squares would cancel
    x[rng.random(n) < 0.1] = np.nan
    x = [None if rng.random() < 0.05 else v for v in x]
    k = rng.integers(0, 5, n).astype(float)
    k[rng.random(n) < 0.1] = np.nan
    src = pl.DataFrame({"__g": pl.Series(list(g), dtype=pl.String), "__t": pl.Series(t, dtype=pl.Datetime("us")),
                        "x": pl.Series(x, dtype=pl.Float64), "k": pl.Series(k).fill_nan(None).cast(pl.Int64)})
    src = src.sort("__t", nulls_last=True, maintain_order=True)  # time order, ties in table order
    qk = keys[rng.integers(0, 5, n_q)].astype(object)
    qk[:3] = None
    qt = [T0 + timedelta(hours=int(h)) for h in rng.integers(-2, 44, n_q)]
    qt[3] = None
    qt[4] = T0 - timedelta(days=1)  # before every row: no earlier rows
    queries = pl.DataFrame({"__q": pl.Series(list(qk), dtype=pl.String), "__cut": pl.Series(qt, dtype=pl.Datetime("us"))})
    return src, queries


def _naive(src, queries, strict):
    rows = src.rows(named=True)
    out = []
    for q in queries.rows(named=True):
        cut = q["__cut"]
        sel = [r for r in rows if q["__q"] is not None and cut is not None and r["__g"] == q["__q"]
               and r["__t"] is not None and (r["__t"] < cut if strict else r["__t"] <= cut)]
        xs = np.array([r["x"] for r in sel if r["x"] is not None and not np.isnan(r["x"])])
        ks = [r["k"] for r in sel if r["k"] is not None]
        out.append({
            "count": len(sel) or None,
            "sum": xs.sum() if sel else None,
            "mean": xs.mean() if len(xs) else None,
            "std": xs.std(ddof=1) if len(xs) > 1 else None,
            "min": min(ks) if ks else None,
            "max": max(ks) if ks else None,
            "nunique": len(set(ks)) if sel else None,
            "first": sel[0]["x"] if sel else None,
            "last": sel[-1]["k"] if sel else None,
            "time_since_last": (cut - max(r["__t"] for r in sel)).total_seconds() if sel else None,
        })
    return out


SPECS = [("count", "count", None), ("sum", "sum", "x"), ("mean", "mean", "x"), ("std", "std", "x"),
         ("min", "min", "k"), ("max", "max", "k"), ("nunique", "nunique", "k"), ("first", "first", "x"),
         ("last", "last", "k"), ("time_since_last", "time_since_last", "__t")]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("strict", [True, False])
def test_prefix_aggregate_equals_the_rows_before_each_cutoff(seed, strict):
    assert {p for _, p, _ in SPECS} == set(PREFIX_PRIMS)
    src, queries = _random_case(seed)
    few = queries.filter(pl.col("__q") == "a").head(5)  # another frame asking fewer (key, cutoff) pairs
    got = prefix_aggregate(src, SPECS, [queries, queries.reverse(), few], strict=strict)
    want = _naive(src, queries, strict)
    assert got[0].height == queries.height
    assert got[1].reverse().equals(got[0])  # each query frame in its own order
    # alone, its buckets merge differently: equal up to the order of the sums
    assert_frame_equal(got[2], prefix_aggregate(src, SPECS, [few], strict=strict)[0], check_exact=False, rel_tol=1e-12)
    few_want = _naive(src, few, strict)
    assert got[2].get_column("count").to_list() == [w["count"] for w in few_want]
    for name, _, _ in SPECS:
        ours = got[0].get_column(name).to_list()
        ref = [w[name] for w in want]
        assert [v is None for v in ours] == [v is None for v in ref], name
        pairs = [(a, b) for a, b in zip(ours, ref) if a is not None]
        np.testing.assert_allclose([float(a) for a, _ in pairs], [float(b) for _, b in pairs],
                                   rtol=1e-9, atol=0, err_msg=name)
    assert got[0].schema["min"] == pl.Int64 and got[0].schema["count"] == pl.Int64


def test_prefix_aggregate_without_any_earlier_row():
    src = pl.DataFrame({"__g": ["a"], "__t": [T0], "x": [1.0]}).with_columns(pl.col("__t").cast(pl.Datetime("us")))
    q = pl.DataFrame({"__q": ["a", "b"], "__cut": [T0, None]}).with_columns(pl.col("__cut").cast(pl.Datetime("us")))
    out = prefix_aggregate(src, [("n", "count", None), ("s", "std", "x")], [q])[0]
    assert out.rows() == [(None, None), (None, None)]
    later = q.with_columns(pl.lit(T0 + timedelta(days=1)).cast(pl.Datetime("us")).alias("__cut"))
    out = prefix_aggregate(src, [("n", "count", None), ("s", "std", "x")], [q, later])
    assert out[0].rows() == [(None, None), (None, None)] and out[1].rows() == [(1, None), (None, None)]


def test_segmented_scan_is_exact_within_segments():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, 50)
    pos = np.concatenate([np.arange(n) for n in lengths])
    values = rng.normal(size=(len(pos), 3)) * 10.0 ** rng.integers(-3, 12, (len(pos), 1))
    values[rng.random(values.shape) < 0.1] = np.nan
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    for op, ref in ((np.fmin, np.fmin.accumulate), (np.fmax, np.fmax.accumulate)):
        got = segmented_scan(values, pos, op)
        for s, n in zip(starts, lengths):
            np.testing.assert_array_equal(got[s:s + n], ref(values[s:s + n], axis=0))
    clean = np.nan_to_num(values)
    got = segmented_scan(clean, pos, np.add)
    for s, n in zip(starts, lengths):  # no other segment's totals leak in: relative, not absolute error
        np.testing.assert_allclose(got[s:s + n], np.cumsum(clean[s:s + n], axis=0), rtol=1e-12, atol=1e-300)


def test_prefix_aggregate_in_float32_is_the_float64_answer_rounded():
    src, queries = _random_case(3)
    want = prefix_aggregate(src, SPECS, [queries])[0]
    got = prefix_aggregate(src, SPECS, [queries], dtype=pl.Float32)[0]
    assert got.columns == want.columns and set(got.dtypes) == {pl.Float32}
    assert_frame_equal(got, want.cast(pl.Float32))
