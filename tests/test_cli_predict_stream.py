"""`featsmith predict` in chunks: the same output as one whole-table pass, in bounded memory."""

import gzip
import io

import joblib
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from featsmith import AutoPipeline
from featsmith.cli import _TableWriter, main


def _frame(n, seed):
    # The target needs x1 against its shop's mean, so a fit usually keeps a generated feature
    # that looks up a fitted per-shop statistic: chunks must join it as the whole table does.
    rng = np.random.default_rng(seed)
    offset = np.random.default_rng(0).normal(0, 3, 40)
    shop = rng.integers(0, 40, n)
    a, b = rng.lognormal(size=n), rng.lognormal(size=n)
    x1 = offset[shop] + rng.normal(size=n)
    logit = 2 * np.log(a / b) + 2 * (x1 - offset[shop])
    return pl.DataFrame({
        "row_id": np.arange(n) + 1000 * seed,
        "a": a,
        "b": b,
        "x1": x1,
        "shop": [f"s{i}" for i in shop],
        "bought": np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no"),
    })


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    work = tmp_path_factory.mktemp("stream")
    train = _frame(2000, 1)
    model = AutoPipeline(time_budget=6, n_jobs=1, random_state=0, verbose=0)
    model.fit(train.drop("bought", "row_id"), train["bought"])
    path = work / "model.joblib"
    joblib.dump(model, path)
    # Column a is missing over the first rows: the chunks there hold only nulls, and must
    # still get a's type from the whole file, as the whole-table read does.
    test = _frame(300, 2).drop("bought").with_columns(
        pl.when(pl.col("row_id") < 2060).then(None).otherwise(pl.col("a")).alias("a"))
    return {"model": model, "path": path, "test": test, "dir": work}


def _assert_same_output(chunked: pl.DataFrame, whole: pl.DataFrame):
    """The same rows, ids, labels and probabilities. Probabilities to 1e-12, not bitwise: a
    batched matrix product (a linear member's) may round the last bit differently for a chunk
    of 7 rows than for 300; the fit here is timed, so its members vary between runs (the full
    suite once saw 1-ulp differences)."""
    assert chunked.columns == whole.columns and chunked.height == whole.height
    for column in ("row_id", "prediction"):
        assert chunked[column].to_list() == whole[column].to_list()
    probabilities = [c for c in whole.columns if c.startswith("proba_")]
    np.testing.assert_allclose(chunked.select(probabilities).to_numpy(), whole.select(probabilities).to_numpy(),
                               rtol=1e-12, atol=1e-15)


def _predict(fitted, data, out, *options):
    argv = ["-q", "predict", str(fitted["path"]), str(data), "--id", "row_id", "--proba", *options]
    return main(argv + (["--out", str(out)] if out is not None else []))


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "parquet"])
def test_chunks_give_the_whole_table_output(fitted, fmt, capsys):
    data = fitted["dir"] / f"test_{fmt.replace('.', '_')}.{fmt}"
    if fmt == "parquet":
        fitted["test"].write_parquet(data)
    elif fmt == "csv.gz":
        with gzip.open(data, "wb") as fh:
            fitted["test"].write_csv(fh)
    else:
        fitted["test"].write_csv(data)
    whole, chunked = fitted["dir"] / f"whole.{fmt}", fitted["dir"] / f"chunked.{fmt}"
    assert _predict(fitted, data, whole) == 0
    assert _predict(fitted, data, chunked, "--chunk-rows", "7") == 0
    if fmt == "parquet":
        # 300 rows in chunks of 7: one row group per chunk.
        assert pq.ParquetFile(chunked).num_row_groups == 43
        _assert_same_output(pl.read_parquet(chunked), pl.read_parquet(whole))
    else:
        read = gzip.open if fmt == "csv.gz" else open
        with read(whole, "rb") as fh_whole, read(chunked, "rb") as fh_chunked:
            _assert_same_output(pl.read_csv(fh_chunked.read()), pl.read_csv(fh_whole.read()))
    result = pl.read_parquet(chunked) if fmt == "parquet" else pl.read_csv(chunked)
    assert result.columns == ["row_id", "prediction", "proba_no", "proba_yes"]
    X = fitted["test"].drop("row_id").to_pandas()
    assert result["row_id"].to_list() == fitted["test"]["row_id"].to_list()
    assert result["prediction"].to_list() == list(fitted["model"].predict(X))
    np.testing.assert_allclose(result.select("proba_no", "proba_yes").to_numpy(),
                               fitted["model"].predict_proba(X), rtol=1e-12)


def test_chunks_to_stdout_print_one_header(fitted, capsys):
    data = fitted["dir"] / "stdout.parquet"
    fitted["test"].write_parquet(data)
    assert _predict(fitted, data, None) == 0
    whole = capsys.readouterr().out
    assert _predict(fitted, data, None, "--chunk-rows", "50") == 0
    chunked = capsys.readouterr().out
    assert chunked.count("row_id") == 1
    _assert_same_output(pl.read_csv(io.StringIO(chunked)), pl.read_csv(io.StringIO(whole)))
    assert pl.read_csv(io.StringIO(chunked)).height == 300


def test_errors_before_the_first_chunk_write_nothing(fitted, capsys):
    header_only = fitted["dir"] / "empty.csv"
    fitted["test"].head(0).write_csv(header_only)
    out = fitted["dir"] / "never.csv"
    assert _predict(fitted, header_only, out) == 2
    assert "no data rows" in capsys.readouterr().err
    no_id = fitted["dir"] / "no_id.parquet"
    fitted["test"].drop("row_id").write_parquet(no_id)
    assert _predict(fitted, no_id, out) == 2
    assert "no id column 'row_id'" in capsys.readouterr().err
    assert not out.exists() and not list(fitted["dir"].glob(".*.partial"))


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_a_failed_run_leaves_no_partial_file(tmp_path, name):
    out = tmp_path / name
    with pytest.raises(RuntimeError):
        with _TableWriter(out) as writer:
            writer.write(pl.DataFrame({"prediction": [1.0, 2.0]}))
            raise RuntimeError("the model failed on the second chunk")
    assert list(tmp_path.iterdir()) == []
    with _TableWriter(out) as writer:
        for start in (0, 2):
            writer.write(pl.DataFrame({"prediction": [start + 1.0, start + 2.0]}))
    assert writer.rows == 4 and [p.name for p in tmp_path.iterdir()] == [name]
    read = pl.read_parquet if name.endswith("parquet") else pl.read_csv
    assert read(out)["prediction"].to_list() == [1.0, 2.0, 3.0, 4.0]


def test_chunk_rows_must_be_positive(fitted, capsys):
    assert _predict(fitted, fitted["dir"] / "any.csv", None, "--chunk-rows", "0") == 2
    assert "--chunk-rows" in capsys.readouterr().err


def test_a_warning_repeated_chunk_after_chunk_shows_once(fitted, capsys):
    # Column a holds a few words: the model warns about them in every chunk that has some,
    # with that chunk's count (1, 2, then 3 of 50 rows).
    data = fitted["dir"] / "words.csv"
    words = [2005, 2105, 2106, 2205, 2206, 2207]
    fitted["test"].with_columns(
        pl.when(pl.col("row_id").is_in(words)).then(pl.lit("oops"))
        .otherwise(pl.col("a").cast(pl.String)).alias("a")).write_csv(data)
    argv = ["predict", str(fitted["path"]), str(data), "--chunk-rows", "50"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.count("are not numbers") == 1, err
    assert "2 more warning(s) like the above, from later chunks, not shown" in err
