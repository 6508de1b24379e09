"""Property tests: the CLI's fit and predict (featsmith.cli.main, in-process) on generated messy
tables written as CSV (from pandas) or Parquet (from pyarrow)."""

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from frame_strategies import MAX_WARNINGS, fit_examples, reorder_with_extra, tables
from hypothesis import given, settings

from featsmith.cli import main


def _run(argv):
    """``(exit status, stdout, stderr)`` of ``featsmith ARGV``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def _write(X, y, path: Path) -> Path:
    if isinstance(X, pa.Table):
        path = path.with_suffix(".parquet")
        pq.write_table(X if y is None else X.append_column("target", pa.array(y.tolist())), path)
    else:
        path = path.with_suffix(".csv")
        (X if y is None else X.assign(target=y)).to_csv(path, index=False)
    return path


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("featsmith: WARNING")]


@settings(max_examples=fit_examples(10))
@given(tables(libraries=("pandas", "pyarrow"), min_rows=6, max_rows=30, max_columns=4))
def test_cli_fit_predict_properties(table):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        X = table.frame()
        data, model = _write(X, table.y, tmp / "train"), tmp / "model.joblib"
        status, _, err = _run(["fit", str(data), "--target", "target", "--time-budget", "1.5",
                               "--random-state", "0", "--n-jobs", "1", "--out", str(model)])
        assert status in (0, 2), err
        assert len(_warnings(err)) <= MAX_WARNINGS, err
        if status == 2:  # one line naming the problem (a column, the target) and the fix
            (line,) = [s for s in err.splitlines() if s.startswith("featsmith: error:")]
            assert any(repr(n) in line for n in [*table.columns, "target"]) or "target" in line, line
            return
        new = _write(reorder_with_extra(X), None, tmp / "new")
        status, out, err = _run(["predict", str(model), str(new)] + (["--proba"] if table.task != "regression" else []))
        assert status == 0, err
        assert len(_warnings(err)) <= MAX_WARNINGS, err
        result = pl.read_csv(io.StringIO(out), infer_schema_length=None)
        assert result.height == table.n_rows
        if table.task != "regression":
            proba = result.select([c for c in result.columns if c.startswith("proba_")]).to_numpy()
            classes = sorted(set(table.y.tolist()))
            assert [c for c in result.columns if c.startswith("proba_")] == [f"proba_{c}" for c in classes]
            assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
