"""`featsmith predict` over a large Parquet file: seconds and peak RSS, streamed in chunks.

Writes the scale benchmark's synthetic table (benchmarks/scale_data.py) as a ``--rows``-row
Parquet file (1M-row row groups, written piece by piece), fits a small model with the CLI on
``--train-rows`` rows of the same data, then runs ``featsmith predict`` in a child process per
``--chunk-rows`` value and reads that child's own peak RSS from ``os.wait4``. Files are kept in
``--dir`` and reused by later runs.

    nice -n 10 python benchmarks/predict_stream.py --rows 10000000
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scale_data import make_table

PIECE = 1_000_000


def write_table(path: Path, n_rows: int, seed: int, target: bool) -> None:
    """``n_rows`` rows in pieces of at most PIECE rows, so the writer never holds the table."""
    tmp = path.with_suffix(".tmp")
    writer = None
    for k, start in enumerate(range(0, n_rows, PIECE)):
        frame, y = make_table(min(PIECE, n_rows - start), seed=seed + k)
        if target:
            frame["y"] = y
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
        writer.write_table(table)
    writer.close()
    tmp.rename(path)


def run_child(argv: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (GiB) of one child process (Linux: ru_maxrss is in KiB); its
    stdout (the fit's summary) is dropped."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return seconds, usage.ru_maxrss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--chunk-rows", type=int, nargs="+", default=[200_000])
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "featsmith_predict_stream"))
    parser.add_argument("--proba", action="store_true")
    args = parser.parse_args()

    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"predict_{args.rows}.parquet"
    train = work / f"train_{args.train_rows}.parquet"
    model = work / f"model_{args.train_rows}_{args.budget:g}.joblib"
    if not data.exists():
        t = time.perf_counter()
        write_table(data, args.rows, seed=100, target=False)
        print(f"wrote {data} ({data.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t:.0f} s", file=sys.stderr)
    if not train.exists():
        write_table(train, args.train_rows, seed=0, target=True)
    cli = [sys.executable, "-m", "featsmith"]
    if not model.exists():
        seconds, rss = run_child(cli + ["-q", "fit", str(train), "--target", "y", "--time-budget",
                                        str(args.budget), "--random-state", "0",
                                        "--out", str(model)])
        print(f"fit {args.train_rows} rows: {seconds:.1f} s, peak RSS {rss:.2f} GiB",
              file=sys.stderr)

    print(f"# featsmith predict over {args.rows:,} Parquet rows "
          f"({data.stat().st_size / 2**20:.0f} MiB zstd)")
    print(f"# {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print("| --chunk-rows | seconds | rows/s | peak RSS (GiB) |")
    print("|---:|---:|---:|---:|")
    for chunk in args.chunk_rows:
        out = work / "out.parquet"
        argv = cli + ["-q", "predict", str(model), str(data), "--out", str(out),
                      "--chunk-rows", str(chunk)] + (["--proba"] if args.proba else [])
        seconds, rss = run_child(argv)
        rows = pq.ParquetFile(out).metadata.num_rows
        if rows != args.rows:
            raise SystemExit(f"{out} has {rows} rows, expected {args.rows}")
        print(f"| {chunk:,} | {seconds:.1f} | {args.rows / seconds:,.0f} | {rss:.2f} |", flush=True)
        out.unlink()


if __name__ == "__main__":
    main()
