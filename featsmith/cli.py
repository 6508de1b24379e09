"""The ``featsmith`` command line: fit, predict, evaluate, report, compress and demo.

Run ``featsmith --help`` (or ``python -m featsmith --help``) for the options. Results
(tables, predictions printed to stdout) go to stdout; progress, notes and errors go to stderr.
Usage errors and bad input (missing or unreadable file, unknown extension, missing column, a
file that is not a featsmith model) print one line ``featsmith: error: ...`` and exit with
status 2; ``--debug`` shows the traceback instead.

Model files are written with :func:`joblib.dump`; loading one unpickles it, so only load model
files you trust.

Examples
--------
>>> from featsmith.cli import main
>>> main(["report", "no-such-model.joblib"])  # prints the error line on stderr
2
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import gzip
import json
import logging
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

import featsmith
from featsmith._task import TASKS

__all__ = ["CLIError", "build_parser", "main"]

PROG = "featsmith"
# Missing-value spellings read as null from CSV (pandas reads these as NaN too).
CSV_NULLS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"]
# How the CLI reads CSV, whole or in chunks: types from the whole file, ISO dates parsed.
CSV_OPTIONS = {"infer_schema_length": None, "try_parse_dates": True, "null_values": CSV_NULLS}
# Rows `featsmith predict` reads, predicts and writes at a time: memory grows with it.
CHUNK_ROWS = 200_000
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
DEMO_THRESHOLD_METRIC = "matthews_corrcoef"
# Metrics of predicted labels (and their _macro, _weighted, ... averages): a binary model's
# decision threshold changes them.
LABEL_METRICS = ("accuracy", "balanced_accuracy", "f1", "precision", "recall", "jaccard",
                 "matthews_corrcoef")

logger = logging.getLogger("featsmith")


class CLIError(Exception):
    """A usage error or bad input; :func:`main` prints it as one line and returns 2.

    Examples
    --------
    >>> str(CLIError("data.csv: no such file"))
    'data.csv: no such file'
    """


class _Parser(argparse.ArgumentParser):
    # argparse prints the usage block and exits; one line and our own exit code read better in
    # scripts and logs.
    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _table_format(path) -> str | None:
    """``"csv"``, ``"csv.gz"`` or ``"parquet"`` from a file name, or None."""
    name = str(path).lower()
    for fmt in ("csv.gz", "csv", "parquet"):
        if name.endswith("." + fmt):
            return fmt
    return None


def _stem(path: Path) -> str:
    fmt = _table_format(path)
    return path.name[: -len(fmt) - 1] if fmt else path.stem


def _check_table_path(path: Path) -> None:
    if not path.exists():
        raise CLIError(f"{path}: no such file")
    if path.is_dir():
        raise CLIError(f"{path}: is a directory, expected a .csv, .csv.gz or .parquet file")
    if _table_format(path) is None:
        raise CLIError(
            f"{path}: unknown file type {path.suffix or '(none)'!r}; "
            "use a .csv, .csv.gz or .parquet file"
        )


@contextlib.contextmanager
def _reading(path, fmt):
    """Turn any failure to read ``path`` into one CLIError: "cannot read it as CSV/Parquet"."""
    import polars as pl

    try:
        yield
    except CLIError:
        raise
    # polars and pyarrow raise many unrelated types for corrupt input (a Rust panic is not even
    # an Exception); all of them mean "this file cannot be read".
    except (Exception, pl.exceptions.PanicException) as exc:
        kind = "Parquet" if fmt == "parquet" else "CSV"
        raise CLIError(f"{path}: cannot read it as {kind}: {_first_line(exc)}") from None


def _read_table(path):
    """Read a .csv, .csv.gz or .parquet file into a polars DataFrame.

    CSV columns get their types from the whole file, ISO dates are parsed, and
    ``CSV_NULLS`` (``""``, ``"NA"``, ``"NaN"``, ...) are read as missing.

    Raises
    ------
    CLIError
        If the file is missing, has an unknown extension, cannot be parsed or has no rows.
    """
    import polars as pl

    path = Path(path)
    _check_table_path(path)
    fmt = _table_format(path)
    with _reading(path, fmt):
        frame = pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path, **CSV_OPTIONS)
    if frame.height == 0:
        raise CLIError(f"{path}: the file has no data rows")
    return frame


def _scan_table(path):
    """A lazy polars scan of a .csv, .csv.gz or .parquet file, read as :func:`_read_table`
    reads it, and its column names. Only the schema is read here (for CSV: one pass to infer
    the types from the whole file, as the whole-table read does)."""
    import polars as pl

    path = Path(path)
    _check_table_path(path)
    fmt = _table_format(path)
    with _reading(path, fmt):
        frame = pl.scan_parquet(path) if fmt == "parquet" else pl.scan_csv(path, **CSV_OPTIONS)
        columns = frame.collect_schema().names()
    return frame, columns


def _read_chunks(frame, path, chunk_rows):
    """Yield the rows of a lazy scan in order, as DataFrames of at most ``chunk_rows`` rows.

    polars' streaming engine reads the file once and waits while a chunk is being used, so
    memory holds a few chunks, not the table.

    Raises
    ------
    CLIError
        If the file cannot be parsed (possibly after earlier chunks were yielded) or has no rows.
    """
    fmt = _table_format(path)
    with _reading(path, fmt):
        # lazy: nothing is read before the first chunk is asked for.
        batches = frame.collect_batches(chunk_size=chunk_rows, lazy=True)
    rows = 0
    while True:
        with _reading(path, fmt):
            # next() with a default: a StopIteration must not pass through _reading.
            chunk = next(batches, None)
        if chunk is None:
            break
        if chunk.height:
            rows += chunk.height
            yield chunk
    if rows == 0:
        raise CLIError(f"{path}: the file has no data rows")


class _TableWriter:
    """Write a table chunk by chunk: CSV (one header) to stdout, or a .csv, .csv.gz or zstd
    .parquet file (one row group per chunk), chosen by extension.

    A file is written under a temporary name beside it and renamed when the ``with`` block
    ends without an error, so a failed run leaves no partial output. ``rows`` counts the rows
    written.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.rows = 0
        self._fmt = None if path is None else _table_format(path)
        self._tmp = None if path is None else path.with_name(f".{path.name}.partial")
        self._file = None  # an open CSV file, or a pyarrow ParquetWriter

    def __enter__(self):
        return self

    def write(self, frame) -> None:
        header = self.rows == 0
        if self.path is None:
            sys.stdout.write(frame.write_csv(include_header=header))
        elif self._fmt == "parquet":
            import pyarrow.parquet as pq

            table = frame.to_arrow()
            if self._file is None:
                self._file = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
            self._file.write_table(table)
        else:
            if self._file is None:
                opener = gzip.open if self._fmt == "csv.gz" else open
                self._file = opener(self._tmp, "wb")
            frame.write_csv(self._file, include_header=header)
        self.rows += frame.height

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._file is not None:
            self._file.close()
        if self._tmp is not None and self._tmp.exists():
            if exc_type is None:
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink()


def _columns_preview(columns, limit=12) -> str:
    shown = ", ".join(map(repr, columns[:limit]))
    return shown + (f", ... ({len(columns) - limit} more)" if len(columns) > limit else "")


def _check_column(frame, name, path, role="column") -> None:
    """Raise a CLIError naming the closest column when ``frame`` has no column ``name``."""
    if name in frame.columns:
        return
    same_case = [c for c in frame.columns if c.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, frame.columns, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise CLIError(
        f"{path}: no {role} {name!r}{hint}; columns are {_columns_preview(frame.columns)}"
    )


def _split_target(frame, target, path):
    _check_column(frame, target, path, "target column")
    if frame.width == 1:
        raise CLIError(f"{path}: {target!r} is the only column; there are no features to use")
    return frame.drop(target), frame.get_column(target)


def _load_model(path):
    """Load a fitted featsmith model written by ``featsmith fit`` or :func:`joblib.dump`."""
    import joblib

    path = Path(path)
    if not path.exists():
        raise CLIError(f"{path}: no such file")
    if path.is_dir():
        raise CLIError(f"{path}: is a directory, expected a model file from 'featsmith fit'")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = joblib.load(path)
    # Unpickling arbitrary bytes raises anything from EOFError to KeyError.
    except Exception as exc:
        raise CLIError(
            f"{path}: not a featsmith model file (cannot load it: {_first_line(exc)})"
        ) from None
    # Re-issued as one log line each (a version mismatch, say), not Python's two-line warnings.
    for warning in caught:
        logger.warning("%s: %s", path, _first_line(warning.message))
    if not (hasattr(model, "featsmith_version_") and hasattr(model, "predict")):
        raise CLIError(
            f"{path}: not a fitted featsmith model (it holds a {type(model).__name__}); "
            "make one with 'featsmith fit'"
        )
    if not caught and model.featsmith_version_ != featsmith.__version__:
        logger.warning(
            "%s was written by featsmith %s and is read by featsmith %s; refit it if predictions "
            "look wrong.", path, model.featsmith_version_, featsmith.__version__,
        )
    return model


def _model_column_names(model, columns, path) -> list[str] | None:
    """The columns the model was fitted on, in fit order (None: the model records none).

    Raises
    ------
    CLIError
        Naming the model's columns that ``columns`` lacks.
    """
    names = getattr(model, "feature_names_in_", None)
    if names is None or len(names) == 0:
        return None
    names = [str(c) for c in names]
    present = set(columns)
    missing = [c for c in names if c not in present]
    if missing:
        raise CLIError(
            f"{path}: missing column(s) {_columns_preview(missing, 8)} that the model was "
            "trained on; add them (empty values are fine)"
        )
    return names


def _model_columns(model, frame, path):
    """The columns the model was fitted on, in fit order; extra columns are ignored."""
    names = _model_column_names(model, frame.columns, path)
    return frame if names is None else frame.select(names)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# Metrics and tables
# --------------------------------------------------------------------------------------------


def _greater_is_better(model) -> bool:
    """The direction of the model's metric: as the model recorded it at fit, else by the
    package's one rule for a metric name."""
    flag = getattr(model, "metric_greater_is_better_", None)
    if flag is not None:
        return bool(flag)
    from featsmith.pipelines import greater_is_better

    return greater_is_better(model.metric_)


def _direction(greater_is_better: bool) -> str:
    return "higher is better" if greater_is_better else "lower is better"


def _standard_metrics(task, y_true, pred, proba, classes, positive=None) -> dict[str, float]:
    from sklearn import metrics as skm
    import numpy as np

    if task == "regression":
        return {
            "rmse": float(skm.root_mean_squared_error(y_true, pred)),
            "mae": float(skm.mean_absolute_error(y_true, pred)),
            "r2": float(skm.r2_score(y_true, pred)),
        }
    out = {}
    present = set(np.unique(y_true).tolist())
    if task == "binary" and len(present) == 2:
        out["roc_auc"] = float(skm.roc_auc_score(y_true == classes[1], proba[:, 1]))
    out["log_loss"] = float(skm.log_loss(y_true, proba, labels=classes))
    out["accuracy"] = float(skm.accuracy_score(y_true, pred))
    out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y_true, pred))
    if task == "binary":
        out["f1"] = float(skm.f1_score(y_true, pred, pos_label=positive))
    else:
        out["f1_macro"] = float(skm.f1_score(y_true, pred, average="macro", labels=classes))
    return out


def _model_metric(model, X, y_true, computed) -> float | None:
    """The model's own metric on (X, y) in its natural direction, or None if unavailable."""
    name = str(model.metric_)
    if name in computed:
        return computed[name]
    try:
        from featsmith.pipelines import resolve_metric

        metric = resolve_metric(name, model.task_)
        return float(metric.natural(metric.scorer(model, X, y_true)))
    except Exception as exc:  # a custom callable cannot be rebuilt from its name
        logger.warning("cannot recompute the model's metric %r: %s", name, _first_line(exc))
        return None


def _evaluate_model(model, X, y, *, pos_label=None, path="data") -> dict:
    """Score a fitted model on labelled rows.

    Returns a dict with ``task``, ``metric`` (the model's metric name),
    ``greater_is_better`` (the metric's direction), ``n_rows``,
    ``positive_class`` (binary: the class F1 is computed for; ``pos_label``, matched by its
    text, or else the last of ``classes_`` as in scikit-learn) and ``metrics`` (name -> value;
    the model's metric first, then the task's standard metrics: ROC AUC, log loss, accuracy,
    balanced accuracy and F1 (macro for multiclass) for classification; RMSE, MAE and R^2 for
    regression). Rows whose target is missing are left out.
    """
    import numpy as np

    mask = ~y.is_null()
    if y.dtype.is_float():
        mask &= ~y.is_nan()
    n_missing = len(y) - int(mask.sum())
    if n_missing:
        logger.warning("%s: %d row(s) with a missing target are left out", path, n_missing)
        X, y = X.filter(mask), y.filter(mask)
    if len(y) == 0:
        raise CLIError(f"{path}: every target value is missing; nothing to evaluate")
    y_true = y.to_numpy()
    task = model.task_
    proba = classes = None
    if task != "regression":
        classes = np.asarray(model.classes_)
        unseen = sorted(set(y_true.tolist()) - set(classes.tolist()), key=str)
        if unseen:
            raise CLIError(
                f"{path}: target has label(s) {unseen[:5]} that the model never saw; its classes "
                f"are {classes.tolist()[:10]}"
            )
        proba = np.asarray(model.predict_proba(X))
    positive = None
    if task == "binary":
        positive = classes[-1]
        if pos_label is not None:
            matches = [c for c in classes if str(c) == str(pos_label)]
            if not matches:
                raise CLIError(
                    f"--pos-label {pos_label!r} is not one of the model's classes "
                    f"{classes.tolist()}"
                )
            positive = matches[0]
    pred = np.asarray(model.predict(X))
    computed = _standard_metrics(task, y_true, pred, proba, classes, positive)
    own = _model_metric(model, X, y_true, computed)
    metrics = {} if own is None else {str(model.metric_): own}
    metrics.update({k: v for k, v in computed.items() if k not in metrics})
    return {
        "task": task,
        "metric": str(model.metric_),
        "greater_is_better": _greater_is_better(model),
        "n_rows": len(y_true),
        "positive_class": _plain(positive),
        "metrics": metrics,
        **(_threshold_info(model) or {}),
    }


def _plain(value):
    """numpy scalars -> plain Python values, so results serialise as JSON."""
    return value.item() if hasattr(value, "item") else value


def _threshold_info(model) -> dict | None:
    """Binary models: ``decision_threshold`` (on the probability of ``threshold_class``,
    ``classes_[1]``: ``predict`` gives it where the probability reaches the threshold) and
    ``threshold_metric``, the label metric it was tuned for (None: the default 0.5, the most
    probable class). None for other tasks."""
    if getattr(model, "task_", None) != "binary":
        return None
    # Models fitted before thresholds were tuned predict the most probable class.
    threshold = getattr(model, "decision_threshold_", None)
    threshold = 0.5 if threshold is None else float(threshold)
    tuned_for = getattr(model, "threshold_metric", None)
    if tuned_for is None and threshold != 0.5:  # tuned for the model's own (label) metric
        tuned_for = str(model.metric_)
    return {"decision_threshold": threshold, "threshold_class": _plain(model.classes_[1]),
            "threshold_metric": tuned_for}


def _threshold_text(info) -> str:
    """One line on a binary model's decision threshold (from :func:`_threshold_info`)."""
    if info["threshold_metric"] is None:
        return ("0.5, the most probable class (not tuned: fit with --threshold-metric M to tune "
                "it for a label metric)")
    return (f"P({info['threshold_class']!r}) >= {info['decision_threshold']:.4g}, tuned for "
            f"{info['threshold_metric']} on out-of-fold predictions at fit")


def _validation_rows(model) -> list[tuple[str, str]]:
    """The validation plan as report rows: scheme and reason, and the leak check's numbers."""
    plan = getattr(model, "validation_", None)
    if not isinstance(plan, dict):  # models saved before plans were recorded: the scheme alone
        return [] if plan is None else [("validation", str(plan))]
    column = f" (column {plan['column']!r})" if plan.get("column") else ""
    rows = [("validation", f"{plan.get('scheme')}{column} ({plan.get('reason')})")]
    if plan.get("check"):
        rows.append(("leak check", ", ".join(
            f"{str(k).replace('_', ' ')} {_format_value(v)}" for k, v in plan["check"].items())))
    return rows


def _format_value(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e6 else f"{value:.6e}"
    return str(value)


def _kv_table(rows, indent="") -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{indent}{k:<{width}}  {v}" for k, v in rows)


def _metrics_table(result) -> str:
    rows = [
        (name + (" *" if name == result["metric"] else ""), _format_value(value))
        for name, value in result["metrics"].items()
    ]
    note = f"(* the model's metric; {_direction(result['greater_is_better'])}"
    if result.get("positive_class") is not None:
        note += f"; f1 is for class {result['positive_class']!r}"
    note += ")"
    if result.get("decision_threshold") is not None:
        labels = [k for k in result["metrics"]
                  if k in LABEL_METRICS or k.rsplit("_", 1)[0] in LABEL_METRICS]
        listed = " and ".join([", ".join(labels[:-1]), labels[-1]] if len(labels) > 1 else labels)
        note += (f"\n({listed} score the labels predicted at the decision threshold "
                 f"{_threshold_text(result)})")
    return _text_table(["metric", "value"], rows, right=("value",)) + f"\n{note}"


def _best_first(board, model):
    """Sort a leaderboard best trial first, whatever the metric's direction."""
    scores = board["score"].astype(float)
    best = getattr(model, "best_score_", None)
    ascending = not _greater_is_better(model)
    if best is not None and scores.notna().any():
        at_max = math.isclose(best, scores.max(), rel_tol=1e-9, abs_tol=1e-12)
        at_min = math.isclose(best, scores.min(), rel_tol=1e-9, abs_tol=1e-12)
        if at_max != at_min:
            ascending = at_min
    return board.assign(score=scores).sort_values(
        "score", ascending=ascending, na_position="last", kind="stable"
    )


def _format_params(params, width=60) -> str:
    if isinstance(params, str):
        text = params
    elif isinstance(params, dict):
        text = ", ".join(f"{k}={_format_value(v)}" for k, v in params.items())
    else:
        text = str(params)
    return text if len(text) <= width else text[: width - 3] + "..."


def _text_table(header, rows, right=()) -> str:
    """A plain table: columns padded to their widest cell, those in ``right`` right-aligned."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [
            c.rjust(w) if header[i] in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _leaderboard_text(model, top=10) -> str:
    """The model's leaderboard, best trial first, as a plain-text table."""
    board = getattr(model, "leaderboard_", None)
    if board is None or len(board) == 0:
        return "(no leaderboard)"
    return _ranked_text(_best_first(board.reset_index(drop=True), model), top)


def _ranked_text(board, top) -> str:
    """A leaderboard already sorted best first, its ``top`` rows as a plain-text table."""
    ranked = board.head(top)
    header = ["rank"] + [c for c in ("model", "score", "seconds", "status", "params") if c in ranked]
    rows = []
    for rank, (_, trial) in enumerate(ranked.iterrows(), start=1):
        row = [rank]
        for col in header[1:]:
            value = trial[col]
            if col == "score":
                value = _format_value(float(value))
            elif col == "seconds":
                value = _format_value(float(value)) if float(value) < 0.1 else f"{float(value):.1f}"
            elif col == "params":
                value = _format_params(value) or "(defaults)"
            row.append(value)
        rows.append(row)
    table = _text_table(header, rows, right=("rank", "score", "seconds"))
    return f"{table}\n({len(ranked)} of {len(board)} trials shown, best first)"


def _engineered_features(model):
    """Names of the features the model was trained on, from its fitted feature step."""
    for attr in ("feature_names_out_", "selected_features_"):
        names = getattr(model, attr, None)
        if names is not None and len(names):
            return [str(n) for n in names]
    for attr in ("feature_plan_", "encoder_"):
        step = getattr(model, attr, None)
        if step is not None and hasattr(step, "get_feature_names_out"):
            with contextlib.suppress(Exception):
                return [str(n) for n in step.get_feature_names_out()]
    return None


def _report_text(model, *, name="model", top=10) -> str:
    """A plain-text summary of a fitted model: task, metric, CV score, leaderboard, features,
    stage timings."""
    rows = [("model", f"{name} (featsmith {model.featsmith_version_})"), ("task", model.task_)]
    if model.task_ != "regression" and hasattr(model, "classes_"):
        classes = [str(c) for c in model.classes_]
        rows.append(("classes", ", ".join(classes[:10]) + (" ..." if len(classes) > 10 else "")))
    rows.append(("metric", f"{model.metric_} ({_direction(_greater_is_better(model))})"))
    rows.append(("CV score", _format_value(float(getattr(model, "best_score_", float("nan"))))))
    rows += _validation_rows(model)
    threshold = _threshold_info(model)
    if threshold is not None:
        rows.append(("threshold", _threshold_text(threshold)))
    inputs = [str(c) for c in getattr(model, "feature_names_in_", [])]
    rows.append(("input columns", f"{len(inputs)}: {_columns_preview(inputs, 15)}"))
    features = _engineered_features(model)
    if features is not None:
        rows.append(("features used", f"{len(features)}: {_columns_preview(features, 15)}"))
    board = getattr(model, "leaderboard_", None)
    if board is not None and "seconds" in board:
        rows.append(("trials", f"{len(board)} ({float(board['seconds'].sum()):.1f} s of training)"))
    parts = [_kv_table(rows), "", "Leaderboard", _leaderboard_text(model, top)]
    stages = getattr(model, "stages_", None)
    timings = getattr(model, "stage_timings_", None)
    if stages is not None and len(stages):
        # What each stage decided and why, beside its time (models fitted since the stages).
        parts += ["", "Stages (s)", _kv_table(
            [(str(r.stage), f"{float(r.seconds):6.2f}  {r.summary}") for r in stages.itertuples()], indent="  "
        )]
    elif timings:
        parts += ["", "Stage timings (s)", _kv_table(
            [(str(k), f"{float(v):.2f}") for k, v in timings.items()], indent="  "
        )]
    return "\n".join(parts)


def _store_text(path, *, experiment=None, top=10) -> str:
    """A plain-text summary of a tuning experiment store: each experiment's facts and its
    best trials."""
    from featsmith.pipelines import store_leaderboards

    parts = []
    for summary in store_leaderboards(path, experiment=experiment):
        if parts:
            parts.append("")
        parts += [_kv_table(summary["facts"]), "", f"Leaderboard ({summary['name']})",
                  _ranked_text(summary["leaderboard"], top)]
    return "\n".join(parts)


def _is_store(path: Path) -> bool:
    """An experiment store by extension, or any file that starts like a SQLite database."""
    if path.suffix.lower() in STORE_SUFFIXES:
        return True
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"
    return False


# --------------------------------------------------------------------------------------------
# Console
# --------------------------------------------------------------------------------------------


class _Console:
    """Where output goes: results to stdout, progress and notes to stderr unless quiet."""

    def __init__(self, quiet=False, verbose=False):
        self.quiet = quiet
        self.verbose = verbose

    @property
    def show_progress(self) -> bool:
        # With --verbose the log lines are the display; a live bar would garble them.
        return not self.quiet and not self.verbose and sys.stderr.isatty()

    def result(self, text="") -> None:
        print(text, file=sys.stdout)

    def note(self, text) -> None:
        if not self.quiet:
            print(text, file=sys.stderr)

    @contextlib.contextmanager
    def progress(self, description, total=None, enabled=None, file=None):
        """A spinner (or a bar when ``total`` is known) with elapsed time, on stderr.

        Yields a function ``advance(steps=1)`` to call when steps of ``total`` are done.
        """
        enabled = self.show_progress if enabled is None else enabled
        if not enabled:
            yield lambda steps=1: None
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        if total is not None:
            columns.append(MofNCompleteColumn())
        columns.append(TimeElapsedColumn())
        console = Console(file=file or sys.stderr)
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            yield lambda steps=1: bar.advance(task, steps)


@contextlib.contextmanager
def _logging_to_stderr(quiet, verbose):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)

    def one_line(message, category, filename, lineno, file=None, line=None):
        # Python's warning format spans two lines and names our source file; users need the
        # message only.
        logger.warning("%s", _first_line(message))

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def _check_writable(out, option="--out", example="model.joblib") -> Path:
    out = Path(out)
    if out.is_dir():
        raise CLIError(f"{option} {out}: is a directory; give a file name such as {example}")
    if not out.parent.exists():
        raise CLIError(f"{option} {out}: directory {str(out.parent)!r} does not exist")
    return out


def _plan_options(args, X, path) -> tuple[dict, dict]:
    """``AutoPipeline`` and ``fit`` keyword arguments from --cv, --time-column,
    --threshold-metric and --groups: only those given (the pipeline's defaults otherwise), each
    named column checked to exist in ``X``."""
    init = {name: getattr(args, name) for name in ("cv", "time_column", "threshold_metric")
            if getattr(args, name) is not None}
    fit = {} if args.groups is None else {"groups": args.groups}
    for option, column in (("--time-column", args.time_column), ("--groups", args.groups)):
        if column is not None:
            _check_column(X, column, path, f"{option} column")
    return init, fit


def _fit(args, console, X, y, label, **fit_params):
    """Fit an AutoPipeline; ``fit_params`` (``tables``, ``relationships``) go to its ``fit``,
    with ``groups`` from --groups; --cv, --time-column and --threshold-metric go to the
    pipeline."""
    from featsmith import AutoPipeline

    init, fit = _plan_options(args, X, label)
    model = AutoPipeline(
        task=args.task, metric=args.metric, time_budget=args.time_budget,
        max_trials=args.max_trials, random_state=args.random_state, n_jobs=args.n_jobs,
        # The pipeline draws the progress (stage, elapsed / budget, best score so far) on a
        # terminal; with --verbose it logs each trial instead.
        verbose=2 if console.verbose else 1 if console.show_progress else 0, **init,
    )
    if console.show_progress:  # on a terminal, say what the progress bar is about
        related = fit_params.get("tables") or {}
        console.note(
            f"fitting {label}: {X.height} rows x {X.width} columns"
            + (f" + {len(related)} related table(s)" if related else "")
            + f", budget {args.time_budget:g} s"
        )
    start = time.perf_counter()
    model.fit(X, y, **fit_params, **fit)
    return model, time.perf_counter() - start


def _save_model(model, out: Path, console) -> None:
    import joblib
    import tempfile

    # Written beside the target and renamed into place, so a failed save never leaves a
    # truncated model file (or destroys an earlier good one).
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        joblib.dump(model, tmp)
        os.replace(tmp, out)
    except Exception as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise CLIError(f"cannot save the model to {out}: {_first_line(exc)}") from None
    console.note(f"model written to {out}")


def _fit_summary(model, seconds, out) -> str:
    board = getattr(model, "leaderboard_", None)
    threshold = _threshold_info(model)
    return _kv_table([
        ("task", model.task_),
        ("metric", str(model.metric_)),
        ("CV score", _format_value(float(model.best_score_))),
        *_validation_rows(model),
        *([] if threshold is None else [("threshold", _threshold_text(threshold))]),
        ("trials", "n/a" if board is None else str(len(board))),
        ("fit time", f"{seconds:.1f} s"),
        ("search", f"stopped: {getattr(model, 'search_stop_reason_', 'n/a')}"),
        ("model", str(out)),
    ])


def _check_report_path(args, out: Path) -> Path | None:
    if args.report is None:
        return None
    report = _check_writable(args.report, "--report", "report.html")
    if report.resolve() == out.resolve():
        raise CLIError(f"--report {report} is also the model file (--out); give it another name")
    return report


def _cmd_fit(args, console) -> int:
    out = _check_writable(args.out)
    report = _check_report_path(args, out)
    data = Path(args.data).resolve()
    for option, path in (("--out", out), ("--report", report)):
        if path is not None and path.resolve() == data:
            raise CLIError(f"{option} {path} would overwrite the training data; give another name")
    frame = _read_table(args.data)
    X, y = _split_target(frame, args.target, args.data)
    model, seconds = _fit(args, console, X, y, Path(args.data).name,
                          **_relational_inputs(args, X))
    _save_model(model, out, console)
    if report is not None:
        _write_html_report(model, report, console)
    console.result(_fit_summary(model, seconds, out))
    return 0


# --------------------------------------------------------------------------------------------
# Related tables
# --------------------------------------------------------------------------------------------


def _read_tables(directory, *, skip=(), target_table=None) -> dict:
    """Every .csv, .csv.gz and .parquet file in ``directory`` as a table named by its file
    stem (``users.parquet`` is table ``users``), leaving out the files in ``skip`` and those of
    the target table (the rows being fitted or predicted stand in for it)."""
    directory = Path(directory)
    if not directory.exists():
        raise CLIError(f"--tables {directory}: no such directory")
    if not directory.is_dir():
        raise CLIError(f"--tables {directory}: not a directory; give the folder that holds one "
                       ".csv or .parquet file per table")
    skip = {Path(p).resolve() for p in skip}
    files = sorted(
        p for p in directory.iterdir()
        if p.is_file() and _table_format(p) and p.resolve() not in skip
        and ".predictions." not in p.name
    )
    if not files:
        raise CLIError(f"--tables {directory}: holds no .csv, .csv.gz or .parquet file")
    sources, tables = {}, {}
    for path in files:
        name = _stem(path)
        if name == target_table:
            logger.warning("--tables: %s is a file for the target table %r; the rows of DATA "
                           "are used for it", path.name, target_table)
            continue
        if "." in name:
            raise CLIError(f"--tables: {path.name} gives table name {name!r}, and table names "
                           "cannot contain '.'; rename the file")
        if name in sources:
            raise CLIError(f"--tables {directory}: two files for table {name!r} "
                           f"({sources[name].name} and {path.name}); keep one")
        sources[name] = path
        tables[name] = _read_table(path)
    return tables


def _table_column(ref, item, frames, target_table):
    """``table.column`` (the table name ends at the first '.') checked against the tables."""
    table, dot, column = ref.strip().partition(".")
    if not (table and dot and column):
        raise CLIError(f"--relationships {item!r}: {ref!r} must read table.column, e.g. "
                       "ratings.user_id=users.user_id")
    if table not in frames:
        others = sorted(t for t in frames if t != target_table)
        raise CLIError(
            f"--relationships {item!r} names table {table!r}, which is neither a file in "
            f"--tables ({', '.join(others) or 'none'}) nor the target table {target_table!r} "
            "(DATA; set --target-table to name it otherwise)"
        )
    if column not in frames[table].columns:
        raise CLIError(
            f"--relationships {item!r}: table {table!r} has no column {column!r}; its columns "
            f"are {_columns_preview(frames[table].columns)}"
        )
    return f"{table}.{column}"


def _parse_relationships(values, tables, target_table, X) -> list[tuple[str, str]]:
    """``child.fk=parent.pk`` items (space- or comma-separated, option repeated) as
    ``("child.fk", "parent.pk")`` pairs, every table and column checked to exist."""
    import re

    frames = {**tables, target_table: X}
    items = [item for value in values for item in re.split(r"[,\s]+", value) if item]
    pairs = []
    for item in items:
        if item.count("=") != 1:
            raise CLIError(f"--relationships {item!r}: expected child_table.column="
                           "parent_table.column, e.g. ratings.user_id=users.user_id")
        child, parent = item.split("=")
        pairs.append((_table_column(child, item, frames, target_table),
                      _table_column(parent, item, frames, target_table)))
    if not pairs:
        raise CLIError("--relationships: give at least one child_table.column="
                       "parent_table.column")
    named = {ref.partition(".")[0] for pair in pairs for ref in pair}
    if target_table not in named:
        raise CLIError(
            f"--relationships never names the target table {target_table!r}, so no related "
            f"table reaches its rows; relate it to one of {', '.join(sorted(tables))}, or set "
            "--target-table if DATA's table has another name"
        )
    return pairs


def _relational_inputs(args, X) -> dict:
    """``tables=`` and ``relationships=`` for ``AutoPipeline.fit`` from --tables,
    --relationships and --target-table; empty when none is given."""
    if args.tables is None and not args.relationships:
        if args.target_table is not None:
            raise CLIError("--target-table needs --tables and --relationships")
        return {}
    if args.tables is None:
        raise CLIError("--relationships needs --tables DIR, the folder of related tables")
    if not args.relationships:
        raise CLIError("--tables needs --relationships, e.g. --relationships "
                       "ratings.user_id=users.user_id")
    target_table = args.target_table or _stem(Path(args.data))
    if not target_table or "." in target_table:
        raise CLIError(f"target table name {target_table!r} cannot contain '.'; set "
                       "--target-table NAME")
    tables = _read_tables(args.tables, skip=[args.data], target_table=target_table)
    if not tables:
        raise CLIError(f"--tables {args.tables}: holds no table besides the target table")
    return {"tables": tables,
            "relationships": _parse_relationships(args.relationships, tables, target_table, X)}


def _model_target_table(model) -> str | None:
    """The name a relational model gave its own rows' table, if it records one."""
    plan = getattr(model, "feature_plan_", None)
    return getattr(getattr(plan, "relational", None), "target", None)


def _expand_inputs(patterns) -> list[Path]:
    """Expand globs (for shells that pass them quoted) and check every input up front."""
    import glob

    paths = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?[") and not Path(pattern).exists():
            # Earlier outputs written next to their inputs would match again ("*.csv").
            matches = sorted(
                p for p in glob.glob(pattern, recursive=True)
                if Path(p).is_file() and ".predictions." not in Path(p).name
            )
            if not matches:
                raise CLIError(f"no file matches {pattern!r}")
            paths.extend(Path(p) for p in matches)
        else:
            paths.append(Path(pattern))
    unique = list(dict.fromkeys(paths))
    for path in unique:
        _check_table_path(path)
    return unique


def _plan_outputs(inputs, out) -> list[Path | None]:
    """One output path per input (None: CSV on stdout)."""
    def beside(directory, path):
        fmt = _table_format(path) or "csv"
        return directory / f"{_stem(path)}.predictions.{fmt}"

    if out is None:
        if len(inputs) == 1:
            return [None]
        plan = [beside(p.parent, p) for p in inputs]
    else:
        out_path = Path(out)
        is_dir = out.endswith(("/", os.sep)) or out_path.is_dir()
        if not is_dir and _table_format(out_path) is not None:
            if len(inputs) > 1:
                raise CLIError(
                    f"--out {out} names one file but {len(inputs)} inputs were given; "
                    "pass a directory to get one prediction file per input"
                )
            if not out_path.parent.exists():
                raise CLIError(f"--out {out}: directory {str(out_path.parent)!r} does not exist")
            plan = [out_path]
        elif not is_dir and out_path.suffix:
            raise CLIError(
                f"--out {out}: unknown file type {out_path.suffix!r}; use .csv, .csv.gz, "
                ".parquet or a directory"
            )
        else:
            out_path.mkdir(parents=True, exist_ok=True)
            plan = [beside(out_path, p) for p in inputs]
    resolved = [p.resolve() for p in plan]
    if len(set(resolved)) < len(resolved):
        raise CLIError("two inputs have the same file name and would write the same output; "
                       "predict them into different --out directories")
    clash = set(resolved) & {p.resolve() for p in inputs}
    if clash:
        raise CLIError(f"--out would overwrite the input {sorted(map(str, clash))[0]}")
    return plan


def _predict_columns(model, columns, path, id_column=None) -> list[str]:
    """The columns predict reads from a table with ``columns``: the model's (every column
    when the model records none), then the id column if it is not one of them.

    Raises
    ------
    CLIError
        Naming a missing id column or model column.
    """
    if id_column is not None and id_column not in columns:
        raise CLIError(f"{path}: no id column {id_column!r}; columns are "
                       f"{_columns_preview(list(columns))}")
    names = _model_column_names(model, columns, path)
    needed = list(columns) if names is None else names
    return needed + ([id_column] if id_column is not None and id_column not in needed else [])


def _predict_frame(model, frame, *, id_column=None, proba=False, path="data", tables=None):
    """Predictions for one table (or chunk) holding the :func:`_predict_columns`: the id
    column if given, ``prediction`` and, with ``proba=True``, one ``proba_<class>`` column per
    class. ``tables`` (related tables) go to the model's ``predict``."""
    import numpy as np
    import polars as pl

    X = _model_columns(model, frame, path)
    columns = []
    if id_column is not None:
        columns.append(frame.get_column(id_column))
    related = {} if tables is None else {"tables": tables}
    columns.append(pl.Series("prediction", np.asarray(model.predict(X, **related))))
    if proba:
        P = np.asarray(model.predict_proba(X, **related), dtype=float)
        columns += [pl.Series(f"proba_{c}", P[:, k]) for k, c in enumerate(model.classes_)]
    return pl.DataFrame(columns)


def _predict_file(model, path, writer, args, console, advance, tables=None) -> None:
    """Predict every row of the table at ``path`` into ``writer``, ``args.chunk_rows`` rows
    at a time: one chunk (plus the model) in memory, whatever the file's size.

    With related ``tables`` the input is read whole: the model recomputes the relational
    features from those tables on every call, which per chunk would redo it chunk after
    chunk."""
    if tables is not None:
        frame = _read_table(path)
        if frame.height > args.chunk_rows:
            console.note(f"{path}: read whole ({frame.height} rows), not in --chunk-rows "
                         "chunks, because --tables recomputes the relational features")
        chunks = [frame.select(_predict_columns(model, frame.columns, path, args.id))]
    else:
        scan, columns = _scan_table(path)
        # Only the columns the model and the id need are read from the file.
        scan = scan.select(_predict_columns(model, columns, path, args.id))
        chunks = _read_chunks(scan, path, args.chunk_rows)
    repeats = _RepeatedWarnings()
    logger.addFilter(repeats)
    try:
        for chunk in chunks:
            writer.write(_predict_frame(model, chunk, id_column=args.id, proba=args.proba,
                                        path=path, tables=tables))
            advance(chunk.height)
    finally:
        logger.removeFilter(repeats)
    if repeats.hidden:
        logger.warning("%s: %d more warning(s) like the above, from later chunks, not shown",
                       path, repeats.hidden)


class _RepeatedWarnings(logging.Filter):
    """Shows each log message once: chunk after chunk the model repeats a warning about the
    input (a column of strings, say) with other counts. ``hidden`` counts the repeats."""

    def __init__(self):
        super().__init__()
        self.seen, self.hidden = set(), 0

    def filter(self, record) -> bool:
        key = re.sub(r"\d[\d,.]*", "#", record.getMessage())
        if key in self.seen:
            self.hidden += 1
            return False
        self.seen.add(key)
        return True


def _parquet_rows(paths) -> int | None:
    """The rows of all ``paths`` from their Parquet footers; None unless all are Parquet."""
    if not all(_table_format(p) == "parquet" for p in paths):
        return None
    import pyarrow.parquet as pq

    try:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    except Exception:  # an unreadable file is reported when it is read
        return None


def _cmd_predict(args, console) -> int:
    model = _load_model(args.model)
    if args.proba and model.task_ == "regression":
        raise CLIError("--proba needs a classification model; this model does regression")
    if args.id is not None and (args.id == "prediction" or args.id.startswith("proba_")):
        raise CLIError(f"--id {args.id!r} clashes with an output column name; rename that column")
    inputs = _expand_inputs(args.data)
    plan = _plan_outputs(inputs, args.out)
    tables = None
    if args.tables is not None:
        tables = _read_tables(args.tables, skip=inputs, target_table=_model_target_table(model))
    total = _parquet_rows(inputs) if console.show_progress else None
    with console.progress("predicting rows", total=total) as advance:
        for path, out in zip(inputs, plan):
            with _TableWriter(out) as writer:
                _predict_file(model, path, writer, args, console, advance, tables)
            if out is not None:
                console.note(f"{path} -> {out} ({writer.rows} rows)")
    return 0


def _cmd_evaluate(args, console) -> int:
    model = _load_model(args.model)
    frame = _read_table(args.data)
    X, y = _split_target(frame, args.target, args.data)
    X = _model_columns(model, X, args.data)
    result = _evaluate_model(model, X, y, pos_label=args.pos_label, path=args.data)
    console.result(json.dumps(result, indent=2) if args.json else _metrics_table(result))
    return 0


def _cmd_report(args, console) -> int:
    source = Path(args.source)
    out = None if args.out is None else _check_writable(args.out, "--out", "report.html")
    if not source.exists():
        raise CLIError(f"{source}: no such file")
    if source.is_dir():
        raise CLIError(f"{source}: is a directory, expected a model file or an experiment store")
    if _is_store(source):
        if out is None:
            console.result(_store_text(source, experiment=args.experiment, top=args.top))
        else:
            _write_html_report(str(source), out, console, experiment=args.experiment)
        return 0
    if args.experiment is not None:
        raise CLIError(f"--experiment applies to an experiment store (.db, .sqlite), and "
                       f"{source} is a model file")
    model = _load_model(source)
    if out is None:
        console.result(_report_text(model, name=source.name, top=args.top))
    else:
        _write_html_report(model, out, console)
    return 0


def _write_html_report(source, out: Path, console, experiment=None) -> None:
    from featsmith.pipelines import write_report

    write_report(source, out, experiment=experiment)
    console.note(f"report written to {out}")


def _cmd_demo(args, console) -> int:
    import numpy as np
    from sklearn.model_selection import train_test_split

    from featsmith.datasets import load

    out = _check_writable(args.out)
    report = _check_report_path(args, out)
    data = load(args.dataset, as_frame="polars", return_X_y=False)
    if args.threshold_metric is not None and data.task != "binary":
        raise CLIError(f"--threshold-metric applies to binary tasks, and dataset {data.name!r} is "
                       f"{data.task}; leave it out")
    rows = np.arange(data.data.height)
    stratify = None if data.task == "regression" else data.target.to_numpy()
    train, test = train_test_split(
        rows, test_size=args.test_size, random_state=args.random_state, stratify=stratify
    )
    console.result(f"dataset  {data.name}: {data.description}")
    console.result(f"source   {data.source} Licence: {data.licence}.")
    console.result(
        f"split    {len(train)} training rows, {len(test)} held-out rows "
        f"(random_state={args.random_state})"
    )
    if data.task == "binary" and args.threshold_metric is None:
        # The binary demo data is imbalanced: at 0.5 nearly every row gets the majority class.
        # The Matthews correlation treats both classes alike, whichever one the dataset calls
        # positive (f1 would score classes_[1], which may be the majority).
        args.threshold_metric = DEMO_THRESHOLD_METRIC
    if args.threshold_metric is not None:
        console.result(f"labels   the decision threshold is tuned for {args.threshold_metric} "
                       "(--threshold-metric M for another)")
    console.result()
    X, y = data.data, data.target
    model, seconds = _fit(args, console, X[train], y[train], data.name)
    _save_model(model, out, console)
    if report is not None:
        _write_html_report(model, report, console)
    result = _evaluate_model(model, X[test], y[test], pos_label=data.positive_class,
                            path=f"{data.name} held-out rows")
    console.result(f"Leaderboard (cross-validated {model.metric_} on the training rows)")
    console.result(_leaderboard_text(model, top=10) + "\n")
    console.result(f"Held-out scores ({len(test)} rows the model never saw)")
    console.result(_metrics_table(result) + "\n")
    console.result(_fit_summary(model, seconds, out))
    return 0


# --------------------------------------------------------------------------------------------
# Parser and entry point
# --------------------------------------------------------------------------------------------


def _neural_heads(model) -> list:
    """The fitted neural heads among the model's members (``model_.members``)."""
    members = getattr(getattr(model, "model_", None), "members", None) or []
    return [m for _, m in members if hasattr(getattr(m, "model", None), "best_architecture_")]


def _compress_heads(model, teacher, X, y, args) -> list[str]:
    """Prune (--prune) and/or quantize (--int8) every neural head of ``model`` in place; with
    training rows, fine-tune while pruning: on the teacher's predictions for a distilled
    student, on the labels for an ensemble member."""
    import numpy as np

    from featsmith.compress import compress_head

    heads = _neural_heads(model)
    if not heads:
        kinds = ", ".join(str(k) for k in getattr(model, "ensemble_", {}).get("model", [])) or "none"
        raise CLIError(f"the model has no neural head to prune or quantize (its members: {kinds}); add "
                       "--student nas_head (with --data and --target) to distill it into one")
    features = soft = codes = None
    if X is not None:
        features = model.transform(X)
        distilled = model is not teacher
        if distilled:
            soft = teacher.predict(X) if model.task_ == "regression" else teacher.predict_proba(X)
        elif model.task_ == "regression":
            codes = np.asarray(y, dtype=float)
        else:
            codes = np.searchsorted(model.classes_, np.asarray(y))
    lines = []
    for member in heads:
        head = member.model
        targets = soft
        if soft is not None and soft.ndim == 2:  # the head's own classes, renormalised
            targets = soft[:, np.asarray(head.classes_, dtype=int)]
            targets = targets / np.clip(targets.sum(axis=1, keepdims=True), 1e-12, None)
        member.model = compress_head(
            head, features, None if targets is not None else codes, soft_targets=targets,
            sparse_ratio=args.prune or 0.0, int8=args.int8, time_budget=args.time_budget,
            random_state=args.random_state or 0,
        )
        info = member.model.compression_
        n_int8 = sum(r["int8"] for r in info["int8"])
        lines.append(f"{info['weights_before']:,} -> {info['weights_after']:,} weights"
                     + (", fine-tuned" if info["fine_tuned"] else ", not fine-tuned (no --data)")
                     + (f", {n_int8}/{len(info['int8'])} layers int8" if args.int8 else ""))
    return lines


def _cmd_compress(args, console) -> int:
    source = Path(args.model)
    out = _check_writable(args.out, "--out", "small.joblib")
    if out.exists() and out.resolve() == source.resolve():
        raise CLIError(f"--out {out} is the input model; give the compressed model another name")
    if args.student is None and args.prune is None and not args.int8:
        raise CLIError("nothing to do: give --student lightgbm|nas_head, --prune RATIO and/or --int8")
    if (args.data is None) != (args.target is None):
        raise CLIError("--data and --target go together: the training table and its target column")
    if args.student is not None and args.data is None:
        raise CLIError(f"--student {args.student} learns from the training rows: add --data TRAIN --target COL")
    teacher = _load_model(source)
    X = y = None
    if args.data is not None:
        X, y = _split_target(_read_table(args.data), args.target, args.data)
        X = _model_columns(teacher, X, args.data)
    rows = [("input", f"{source} ({source.stat().st_size / 1e6:.2f} MB)")]
    model = teacher
    start = time.perf_counter()
    if args.student is not None:
        model = teacher.distill(X, y, student=args.student, time_budget=args.time_budget,
                                random_state=args.random_state)
        check = model.distillation_["validation"]
        rows.append(("student", args.student))
        if check is not None:
            rows.append((f"validation {model.distillation_['metric']}",
                         f"student {_format_value(check['student_score'])}, ensemble "
                         f"{_format_value(check['teacher_score'])} ({check['split']})"))
    if args.prune is not None or args.int8:
        for i, line in enumerate(_compress_heads(model, teacher, X, y, args)):
            rows.append((f"neural head {i + 1}", line))
    _save_model(model, out, console)
    rows += [("output", f"{out} ({out.stat().st_size / 1e6:.2f} MB)"),
             ("time", f"{time.perf_counter() - start:.1f} s")]
    console.result(_kv_table(rows))
    return 0


def _number(convert, accept, expected, allowed):
    """An argparse ``type=``: ``convert`` the text, then require ``accept(value)``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value

    return parse


_positive_float = _number(float, lambda v: 0 < v < math.inf, "a number of seconds",
                          "a positive number of seconds")
_positive_int = _number(int, lambda v: v >= 1, "a whole number", "at least 1")
_fraction = _number(float, lambda v: 0 < v < 1, "a fraction", "between 0 and 1")


def _cv(text):
    """``--cv``: a number of shuffled folds (2 or more), ``random``, ``time`` or ``group``."""
    if text in ("random", "time", "group"):
        return text
    try:
        folds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of folds, 'random', 'time' or 'group', got {text!r}") from None
    if folds < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {text!r}")
    return folds


def _add_global_options(parser, suppress):
    # On subcommands the defaults are suppressed so `featsmith --quiet fit ...` is not undone by
    # the subcommand's own default.
    default = argparse.SUPPRESS if suppress else False
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="no progress display or notes on stderr (results still print)")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="log what featsmith does (INFO level) on stderr")
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the full traceback instead of a one-line error")


def _add_fit_options(parser, budget_default):
    parser.add_argument("--task", choices=TASKS, default="auto",
                        help="prediction task (default: auto, inferred from the target by the "
                             "rule of featsmith.pipelines.infer_task: text, booleans and whole "
                             "numbers with at most 20 distinct values and fewer than half the "
                             "rows are classes; other numbers are regression)")
    parser.add_argument("--time-budget", type=_positive_float, default=budget_default,
                        metavar="S", help=f"seconds for the whole fit, refit included (default: {budget_default:g})")
    parser.add_argument("--metric", default=None, metavar="M",
                        help="metric to optimise: roc_auc, log_loss, rmse, mae or any scikit-learn"
                             " scorer name (default: roc_auc / log_loss / rmse by task)")
    parser.add_argument("--max-trials", type=_positive_int, default=None, metavar="N",
                        help="stop after N configurations (default: as many as the budget allows)")
    parser.add_argument("--n-jobs", type=int, default=None, metavar="N",
                        help="threads for training (default: all cores)")
    parser.add_argument("--cv", type=_cv, default=None, metavar="N|random|time|group",
                        help="validation: N shuffled folds, 'random' (shuffled folds or a "
                             "holdout by size, no leak check), 'time' (forward-chaining folds in "
                             "time order) or 'group' (whole groups per fold) (default: chosen "
                             "from the data; see validation_ in 'featsmith report')")
    parser.add_argument("--time-column", default=None, metavar="COL",
                        help="column that orders the rows in time (it stays a feature)")
    parser.add_argument("--groups", default=None, metavar="COL",
                        help="column of group labels (a customer, a store): no group is on "
                             "both sides of a validation split")
    parser.add_argument("--threshold-metric", default=None, metavar="M",
                        help="binary tasks: tune the decision threshold for this label metric "
                             "(f1, balanced_accuracy, precision, recall, accuracy, "
                             "matthews_corrcoef, ...) while the search optimises --metric")
    parser.add_argument("--report", default=None, metavar="FILE",
                        help="also write the HTML report of the fit (see 'featsmith report')")


def build_parser() -> argparse.ArgumentParser:
    """The ``featsmith`` argument parser (exposed for documentation and tests).

    Examples
    --------
    >>> args = build_parser().parse_args(["report", "model.joblib"])
    >>> args.command, args.top
    ('report', 10)
    """
    parser = _Parser(
        prog=PROG,
        description="Automated feature engineering and tabular AutoML.",
        epilog="Run 'featsmith COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {featsmith.__version__}")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _Parser(add_help=False)
    _add_global_options(common, suppress=True)

    p = sub.add_parser("fit", parents=[common], help="fit a model on a table and save it",
                       description="Fit an AutoPipeline on DATA and save it with joblib.")
    p.add_argument("data", metavar="DATA", help="training table: .csv, .csv.gz or .parquet")
    p.add_argument("--target", required=True, metavar="COL", help="column to predict")
    _add_fit_options(p, budget_default=60.0)
    p.add_argument("--tables", default=None, metavar="DIR",
                   help="folder of related tables, one .csv, .csv.gz or .parquet file per table, "
                        "named by its file stem (users.parquet is table 'users')")
    p.add_argument("--relationships", nargs="+", action="extend", default=[],
                   metavar="CHILD.FK=PARENT.PK",
                   help="how the tables join, child_table.column=parent_table.column, e.g. "
                        "ratings.user_id=users.user_id; several separated by spaces or commas. "
                        "Two keys to one table are two paths, each named by its key: "
                        "flights.origin=airports.faa flights.dest=airports.faa gives "
                        "airports[origin].* and airports[dest].* features")
    p.add_argument("--target-table", default=None, metavar="NAME",
                   help="DATA's table name in --relationships (default: DATA's file stem)")
    p.add_argument("--random-state", type=int, default=None, metavar="N",
                   help="seed for reproducible results")
    p.add_argument("--out", default="model.joblib", metavar="FILE",
                   help="where to write the model (default: model.joblib)")
    p.set_defaults(handler=_cmd_fit)

    p = sub.add_parser(
        "predict", parents=[common], help="predict with a saved model",
        description="Predict every row of one or more tables, --chunk-rows rows at a time, so "
        "a file larger than memory streams through. One input without --out prints CSV to "
        "stdout; several inputs (or a glob) give one <stem>.predictions.<ext> file per input, "
        "in the --out directory or beside each input.",
    )
    p.add_argument("model", metavar="MODEL", help="model file written by 'featsmith fit'")
    p.add_argument("data", nargs="+", metavar="DATA",
                   help="tables (.csv, .csv.gz, .parquet) or glob patterns such as 'new/*.csv'")
    p.add_argument("--out", default=None, metavar="FILE_OR_DIR",
                   help="output file (.csv, .csv.gz or .parquet) or directory")
    p.add_argument("--id", default=None, metavar="COL", help="column copied to the output")
    p.add_argument("--proba", action="store_true",
                   help="add one proba_<class> column per class (classification)")
    p.add_argument("--tables", default=None, metavar="DIR",
                   help="fresh related tables (one file per table, as for fit) to recompute the "
                        "relational features from (default: the lookups stored at fit time); "
                        "each input is then read whole, not in chunks")
    p.add_argument("--chunk-rows", type=_positive_int, default=CHUNK_ROWS, metavar="N",
                   help="rows read, predicted and written at a time, so memory holds one chunk "
                        f"and the model whatever the input's size (default: {CHUNK_ROWS})")
    p.set_defaults(handler=_cmd_predict)

    p = sub.add_parser("evaluate", parents=[common], help="score a saved model on labelled data",
                       description="Print the model's metric and the standard metrics of its "
                       "task on labelled DATA.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--target", required=True, metavar="COL", help="column holding the truth")
    p.add_argument("--pos-label", default=None, metavar="LABEL",
                   help="binary tasks: the class F1 is computed for (default: the last class)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_cmd_evaluate)

    p = sub.add_parser(
        "report", parents=[common], help="summarise a saved model or an experiment store",
        description="Print task, metric, CV score, leaderboard, features and stage timings of a "
        "saved model, or the trials of a tuning experiment store (.db, .sqlite). With --out, "
        "write one self-contained HTML page instead (viewable offline): leaderboard, score over "
        "time, hyperparameter effects, features with formulas and importance, time per stage.",
    )
    p.add_argument("source", metavar="MODEL_OR_EXPERIMENT",
                   help="model file from 'featsmith fit', or an experiment's SQLite store")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write the HTML report here (e.g. report.html) instead of printing text")
    p.add_argument("--experiment", default=None, metavar="NAME",
                   help="stores: only this experiment (default: every experiment in the store)")
    p.add_argument("--top", type=_positive_int, default=10, metavar="N",
                   help="leaderboard rows in the text summary (default 10)")
    p.set_defaults(handler=_cmd_report)

    p = sub.add_parser(
        "compress", parents=[common], help="make a saved model smaller and faster",
        description="Distill a saved model into one student (--student, needs the training rows), "
        "and/or prune (--prune) and int8-quantize (--int8) its neural heads, then save the result. "
        "With --data, pruning is gradual while fine-tuning; without, it is one-shot.",
    )
    p.add_argument("model", metavar="MODEL", help="model file written by 'featsmith fit'")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the compressed model")
    p.add_argument("--student", choices=["lightgbm", "nas_head"], default=None,
                   help="distill the ensemble into one LightGBM model or one neural head")
    p.add_argument("--prune", type=_fraction, default=None, metavar="RATIO",
                   help="remove this share of every neural-head layer's channels (e.g. 0.5)")
    p.add_argument("--int8", action="store_true",
                   help="int8 weights for the neural-head layers where int8 is measured faster")
    p.add_argument("--data", default=None, metavar="TRAIN", help="the training table (for --student, "
                   "and for fine-tuning while pruning)")
    p.add_argument("--target", default=None, metavar="COL", help="target column of --data")
    p.add_argument("--time-budget", type=_positive_float, default=60.0, metavar="S",
                   help="seconds for distilling, and again for fine-tuning each head (default 60)")
    p.add_argument("--random-state", type=int, default=None, metavar="N", help="seed")
    p.set_defaults(handler=_cmd_compress)

    p = sub.add_parser("demo", parents=[common], help="fit and score on a shipped dataset",
                       description="Fit an AutoPipeline on a dataset shipped with featsmith, "
                       "score it on held-out rows and save the model.")
    p.add_argument("--dataset", default="lending_club", metavar="NAME",
                   help="one of featsmith.datasets.list_datasets() (default: lending_club)")
    _add_fit_options(p, budget_default=30.0)
    p.add_argument("--test-size", type=_fraction, default=0.25, metavar="F",
                   help="held-out share of rows (default 0.25)")
    p.add_argument("--random-state", type=int, default=0, metavar="N", help="seed (default 0)")
    p.add_argument("--out", default="model.joblib", metavar="FILE",
                   help="where to write the model (default: model.joblib)")
    p.set_defaults(handler=_cmd_demo)
    return parser


def _fail(message) -> int:
    text = " ".join(str(message).split()) or "unknown error"
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    """Run the ``featsmith`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 2 for usage errors and bad input (after printing one line
        ``featsmith: error: ...`` on stderr), 1 if stdout was closed early, 130 on Ctrl-C.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    featsmith ...
    0
    >>> main(["fit", "missing.csv", "--target", "y"])  # error line on stderr
    2
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CLIError as exc:
        return _fail(exc)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    if args.command is None:
        return _fail("choose a command: fit, predict, evaluate, report, compress or demo "
                     "(see 'featsmith --help')")
    console = _Console(quiet=args.quiet, verbose=args.verbose)
    with _logging_to_stderr(args.quiet, args.verbose):
        try:
            return args.handler(args, console)
        except CLIError as exc:
            return _fail(exc)
        except BrokenPipeError:
            # `featsmith predict ... | head`: stop quietly, and keep Python from complaining
            # when it flushes the closed stdout at exit.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
        except (ValueError, TypeError, OSError) as exc:
            # featsmith reports bad data (empty table, NaN target, one class, ...) as
            # ValueError/TypeError with a message that names the fix.
            if args.debug:
                raise
            return _fail(exc)


if __name__ == "__main__":
    sys.exit(main())
