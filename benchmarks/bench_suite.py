"""What the benchmark scripts share: the dataset suite, scoring by a task's metric, LightGBM's
input frame, the paired bootstrap over test rows, and peak-memory readings.

The scripts import this file as a sibling module (a script's own folder comes first on the
import path when it runs). The suite is a folder with ``manifest.json``, ``load.py`` and one
folder per task; it is ``--suite``, else the ``FEATSMITH_SUITE`` environment variable, else
``shared/datasets`` next to the repository.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd

SUITE_ENV = "FEATSMITH_SUITE"
REPO_SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


# ---------------------------------------------------------------- the suite
def default_suite() -> Path:
    """The suite folder when no ``--suite`` is given."""
    return Path(os.environ.get(SUITE_ENV) or REPO_SUITE)


def add_suite_option(parser, *aliases) -> None:
    """Add ``--suite DIR`` (and any older spellings in ``aliases``) to an ``argparse`` parser."""
    parser.add_argument("--suite", *aliases, type=Path, default=default_suite(),
                        help=f"dataset suite folder (default: ${SUITE_ENV}, else "
                             "../shared/datasets from the repository root)")


class Suite:
    """A dataset suite folder, read through its own ``load.py``.

    ``manifest`` maps task name -> manifest entry, in manifest order; ``load(name)`` returns
    ``(X_train, y_train, X_test, y_test, tables)``.
    """

    def __init__(self, folder=None):
        self.folder = Path(folder) if folder is not None else default_suite()
        loader = self.folder / "load.py"
        if not loader.is_file():
            raise FileNotFoundError(
                f"no dataset suite at {self.folder} (load.py missing); pass --suite DIR or set "
                f"{SUITE_ENV}.")
        # Loaded from its file: adding the suite folder to the import path would let its
        # modules shadow installed ones.
        spec = importlib.util.spec_from_file_location("_featsmith_suite_load", loader)
        self._loader = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self._loader)
        self.manifest = {t["name"]: t for t in self._loader.read_manifest(str(self.folder))}

    def names(self, single_table=False) -> list[str]:
        """Task names in manifest order (``single_table``: without related tables)."""
        return [n for n, t in self.manifest.items()
                if not (single_table and t.get("relationships"))]

    def load(self, name):
        return self._loader.load(name, folder=str(self.folder))


# ---------------------------------------------------------------- scoring
def lower_is_better(task: dict) -> bool:
    return task["metric"] in ("log_loss", "rmse")


def better(task: dict, a, b) -> bool:
    """Is score ``a`` better than ``b`` under the task's metric?"""
    return a < b if lower_is_better(task) else a > b


def predictions(task: dict, model, X) -> dict:
    """Test predictions: ``{"pred"}`` (regression) or ``{"proba", "classes"}``."""
    if task["task"] == "regression":
        return {"pred": model.predict(X)}
    return {"proba": model.predict_proba(X), "classes": model.classes_}


def score(task: dict, y_true, out: dict, rows=None) -> float:
    """The task's metric (ROC AUC of the manifest's positive class, log loss over all classes,
    RMSE) of predictions ``out`` (see :func:`predictions`); ``rows``: a resample of them."""
    from sklearn.metrics import log_loss, roc_auc_score

    y_true = np.asarray(y_true)
    if rows is not None:
        y_true = y_true[rows]
        out = {k: (v if k == "classes" else v[rows]) for k, v in out.items()}
    if task["metric"] == "roc_auc":
        pos = list(out["classes"]).index(task["positive_class"])
        return float(roc_auc_score(y_true == task["positive_class"], out["proba"][:, pos]))
    if task["metric"] == "log_loss":
        return float(log_loss(y_true, out["proba"], labels=list(out["classes"])))
    return float(np.sqrt(np.mean((np.asarray(out["pred"], float) - y_true.astype(float)) ** 2)))


def paired_bootstrap(task: dict, y_true, ours: dict, anchor: dict, n_boot=500, seed=0):
    """Test-score difference ``ours - anchor``, oriented so that positive is better, and its
    standard error from a paired bootstrap over the test rows (the noise of the test split)."""
    sign = -1 if lower_is_better(task) else 1
    diff = sign * (score(task, y_true, ours) - score(task, y_true, anchor))
    rng = np.random.default_rng(seed)
    n = len(y_true)
    diffs = []
    for _ in range(n_boot):
        rows = rng.integers(0, n, n)
        try:
            diffs.append(score(task, y_true, ours, rows) - score(task, y_true, anchor, rows))
        except ValueError:  # a resample with one class
            continue
    return float(diff), float(np.std(diffs))


def validation_scheme(model) -> str:
    """A fitted AutoPipeline's validation scheme (``"5-fold"``, ``"holdout time-ordered"``, ...):
    ``validation_`` is a dict since validation plans (issue 15), the scheme alone before, and
    the scripts measure older checkouts too."""
    plan = model.validation_
    return plan["scheme"] if isinstance(plan, dict) else plan


# ---------------------------------------------------------------- LightGBM defaults
def lgbm_model(task: dict, **params):
    """``LGBMRegressor`` or ``LGBMClassifier`` at its defaults (``params`` added), silent."""
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if task["task"] == "regression" else lgb.LGBMClassifier
    return cls(verbose=-1, **params)


def lgbm_frame(X: pd.DataFrame, ref: pd.DataFrame | None = None) -> pd.DataFrame:
    """LightGBM's view of a raw table: string columns -> categoricals (categories from the
    training frame ``ref``, else ``X``), datetimes -> seconds, booleans -> 0/1."""
    out = X.copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            out[c] = out[c].astype("int64") / 1e9
        elif (out[c].dtype == object or isinstance(out[c].dtype, pd.CategoricalDtype)
              or pd.api.types.is_string_dtype(out[c])):
            cats = (ref if ref is not None else X)[c].astype("category").cat.categories
            out[c] = pd.Categorical(out[c], categories=cats)
        elif out[c].dtype == bool:
            out[c] = out[c].astype(float)
    return out


def encode_raw(X_fit, X_eval):
    """The raw columns as featsmith encodes them: ``TableEncoder`` fitted on ``X_fit``, applied
    to both tables, and the indices of its categorical columns (as LightGBM takes them)."""
    from featsmith.featurize import TableEncoder

    enc = TableEncoder().fit(X_fit)
    return (enc.transform(X_fit), enc.transform(X_eval),
            list(getattr(enc, "categorical_features_", [])))


# ---------------------------------------------------------------- memory (Linux)
def rss_kb(field: str) -> int:
    """A field of this process's ``/proc`` status in kB: ``VmRSS`` (resident now) or
    ``VmHWM`` (peak resident since the last :func:`reset_peak`); 0 where unavailable."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak() -> None:
    """Reset this process's peak resident set (``VmHWM``) to its current size."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
