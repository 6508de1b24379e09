"""One self-contained HTML page about a fitted AutoPipeline or a stored tuning experiment.

The page needs nothing but a browser: styles are inline, every chart is SVG drawn here in
Python, and nothing is fetched (no CDN, fonts or scripts). Points carry an SVG ``<title>``, so
hovering one shows its trial without any JavaScript.
"""

from __future__ import annotations

import contextlib
import datetime
import html
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from featsmith.pipelines._metrics import greater_is_better
from featsmith.tuners import StorageError, TrialStore, flatten_params

__all__ = ["render_report", "store_leaderboards", "write_report"]

logger = logging.getLogger("featsmith")

# Colours for model families (Tableau 10: distinct, and readable for most colour-blind eyes).
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]
BEST_COLOUR = "#222222"
BAR_COLOUR = "#4e79a7"
# Hyperparameter charts per model family and bars per chart: beyond these a page stops being
# readable; the tables below the charts still list everything.
MAX_PARAM_CHARTS = 12
MAX_BARS = 25
MAX_CATEGORIES = 20
# A trial's state is the first word of its status ("skipped (budget)" is skipped; a fitted
# model's "ok" and "truncated" are results). States without a result, even when a number was
# stored for them, and the order states are ranked and counted in. A pruned trial's number is
# the value it had when it was stopped: shown, but not a result.
_UNSCORED = ("skipped", "failed", "interrupted", "running")
_STATE_ORDER = ("complete", "pruned", "skipped", "failed", "interrupted", "running")
# Leaderboard row classes: skipped and pruned trials are muted, not marked as failures.
_ROW_CLASS = {"pruned": "prune", "skipped": "skip", "failed": "fail", "interrupted": "fail",
              "running": "skip"}


# --------------------------------------------------------------------------------------------
# What the page shows, gathered from either source
# --------------------------------------------------------------------------------------------


@dataclass
class _Search:
    """One search: its trials in leaderboard form and how to read their scores."""

    title: str
    anchor: str
    trials: pd.DataFrame  # trial, model, params (flat dict), score, seconds, status, started
    greater_is_better: bool
    metric: str
    budget: float | None = None
    facts: list = field(default_factory=list)
    extra: list = field(default_factory=list)  # more leaderboard columns to show (n_rounds)


@dataclass
class _Page:
    title: str
    subtitle: str
    facts: list
    searches: list
    features: pd.DataFrame | None = None  # feature, formula, operator, inputs, importance
    inputs: pd.DataFrame | None = None  # input, importance
    stages: dict | None = None
    fit_seconds: float | None = None
    notes: list = field(default_factory=list)


def _as_params(value) -> dict:
    """Trial parameters as one flat dict: NNI nested choices become ``key`` = option name plus
    ``key/option/sub`` entries, named as ``Experiment.trials_dataframe`` names them."""
    if isinstance(value, dict):
        return flatten_params(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return flatten_params(parsed) if isinstance(parsed, dict) else {}
    return {}


_KNOWN_COLUMNS = ("trial", "model", "params", "score", "seconds", "status", "started", "budget")


def _extra_columns(board: pd.DataFrame) -> list[str]:
    """Leaderboard columns beyond the standard ones that hold plain numbers or text."""
    return [c for c in board.columns if c not in _KNOWN_COLUMNS and not str(c).startswith("_")
            and all(isinstance(v, (str, int, float, np.number, bool, np.bool_)) or v is None
                    for v in board[c])]


def _normalise_trials(board: pd.DataFrame) -> pd.DataFrame:
    """A leaderboard with the columns the page needs, in trial order, plus ``finished``
    (seconds from the start of the search to the trial's end) and any extra plain columns."""
    n = len(board)
    df = board.reset_index(drop=True)
    out = pd.DataFrame({
        "trial": df["trial"].to_numpy() if "trial" in df else np.arange(n),
        "model": df["model"].astype(str).to_numpy() if "model" in df else np.full(n, "model"),
        "params": [_as_params(p) for p in df["params"]] if "params" in df else [{}] * n,
        "score": pd.to_numeric(df["score"], errors="coerce").to_numpy(float) if "score" in df
        else np.full(n, np.nan),
        "seconds": pd.to_numeric(df["seconds"], errors="coerce").to_numpy(float)
        if "seconds" in df else np.full(n, np.nan),
        "status": df["status"].astype(str).to_numpy() if "status" in df
        else np.full(n, "complete"),
    })
    if "budget" in df and df["budget"].notna().any():
        out["budget"] = pd.to_numeric(df["budget"], errors="coerce").to_numpy(float)
    for c in _extra_columns(df):
        out[c] = df[c].to_numpy()
    started = (pd.to_numeric(df["started"], errors="coerce").to_numpy(float)
               if "started" in df else np.full(n, np.nan))
    out = out.assign(started=started).sort_values("trial", kind="stable").reset_index(drop=True)
    if not np.isfinite(out["started"]).any():
        # Without start times the trials ran one after another: each starts where the last ended.
        secs = out["seconds"].fillna(0.0).to_numpy()
        out["started"] = np.cumsum(secs) - secs
    out["finished"] = out["started"] + out["seconds"].fillna(0.0)
    return out


def _states(trials: pd.DataFrame) -> pd.Series:
    """Each trial's state: the first word of its status, lower case."""
    return trials["status"].astype(str).str.strip().str.split(n=1).str[0].str.lower().fillna("")


def _scored(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with a result: a finite score, neither pruned nor without a result."""
    states = _states(trials)
    ok = (np.isfinite(trials["score"].to_numpy(float)) & ~states.isin(_UNSCORED)
          & (states != "pruned"))
    return trials[ok.to_numpy()]


def _pruned(trials: pd.DataFrame) -> pd.DataFrame:
    """Pruned trials with the finite score they were stopped at."""
    ok = (_states(trials) == "pruned").to_numpy() & np.isfinite(trials["score"].to_numpy(float))
    return trials[ok]


def _ranked(trials: pd.DataFrame, greater_is_better: bool) -> pd.DataFrame:
    """Best first: results by score, then pruned trials by the score they were stopped at,
    then skipped, failed, interrupted and running ones (whose score is blanked)."""
    states = _states(trials)
    group = np.select([~states.isin(("pruned", *_UNSCORED)), states == "pruned",
                       states == "skipped"], [0, 1, 2], 3)
    score = trials["score"].where(np.isfinite(trials["score"]) & (group < 2))
    ranked = trials.assign(score=score, _group=group,
                           _key=score if not greater_is_better else -score)
    ranked = ranked.sort_values(["_group", "_key"], na_position="last", kind="stable")
    return ranked.drop(columns=["_group", "_key"]).reset_index(drop=True)


def _greater_is_better(model) -> bool:
    flag = getattr(model, "metric_greater_is_better_", None)
    if flag is not None:
        return bool(flag)
    return greater_is_better(str(getattr(model, "metric_", "")))


def _frame(obj) -> pd.DataFrame | None:
    """pandas from a pandas or polars frame (``FeaturePlan.describe`` returns polars)."""
    if obj is None:
        return None
    if isinstance(obj, pd.DataFrame):
        return obj.reset_index(drop=True)
    if hasattr(obj, "to_pandas"):
        return obj.to_pandas()
    return pd.DataFrame(obj)


def _importance(model, by=None, notes=None) -> pd.DataFrame | None:
    explain = getattr(model, "explain", None)
    if not callable(explain):
        return None
    try:
        table = _frame(explain() if by is None else explain(by=by))
    except Exception as exc:  # the report must not fail because one section cannot be drawn
        logger.warning("report: explain(%s) failed: %s", "" if by is None else f"by={by!r}", exc)
        if notes is not None:
            notes.append(f"Importance{' by input' if by else ''} is missing: explain() failed "
                         f"({_first_line(exc)}).")
        return None
    if table is None or len(table) == 0 or "importance" not in table:
        return None
    label = next((c for c in table.columns if c != "importance"), None)
    if label is None:
        return None
    return pd.DataFrame({
        "label": table[label].astype(str).to_numpy(),
        "importance": pd.to_numeric(table["importance"], errors="coerce").to_numpy(float),
    })


def _feature_table(model, notes) -> pd.DataFrame | None:
    """Chosen features with formula, operator, inputs and importance, most important first."""
    plan = getattr(model, "feature_plan_", None)
    described = None
    if plan is not None:
        try:
            described = _frame(plan.describe())
        except Exception as exc:
            notes.append(f"The feature plan could not describe itself ({_first_line(exc)}).")
    importance = _importance(model, notes=notes)
    if described is None and importance is None:
        return None
    if described is None:
        table = pd.DataFrame({"feature": importance["label"], "formula": "", "operator": "",
                              "inputs": ""})
    else:
        name = "name" if "name" in described else described.columns[0]
        table = pd.DataFrame({
            "feature": described[name].astype(str).to_numpy(),
            **{c: described[c].astype(str).to_numpy() if c in described else ""
               for c in ("formula", "operator", "inputs")},
        })
    if importance is not None:
        lookup = dict(zip(importance["label"], importance["importance"]))
        table["importance"] = [lookup.get(f, np.nan) for f in table["feature"]]
        table = table.sort_values("importance", ascending=False, na_position="last", kind="stable")
    else:
        table["importance"] = np.nan
    return table.reset_index(drop=True)


def _plan_facts(model) -> list[tuple[str, str]]:
    """How the score was validated (``validation_``: a dict since validation plans, the scheme
    alone in older models) and a binary model's decision threshold."""
    plan = getattr(model, "validation_", None)
    if isinstance(plan, dict):
        column = f" by {plan['column']}" if plan.get("column") else ""
        facts = [("validation", f"{plan.get('scheme')}{column}"),
                 ("why this validation", str(plan.get("reason")))]
        if plan.get("check"):
            numbers = (f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in plan["check"].items())
            facts.append(("leak check", ", ".join(numbers)))
    else:
        facts = [] if plan is None else [("validation", str(plan))]
    threshold = getattr(model, "decision_threshold_", None)
    if threshold is not None and getattr(model, "task_", None) == "binary":
        # Not 0.5: tuned for threshold_metric, or for the model's metric when it scores labels.
        tuned_for = getattr(model, "threshold_metric", None) or (
            model.metric_ if threshold != 0.5 else None)
        how = f", tuned for {tuned_for}" if tuned_for else " (the most probable class)"
        facts.append(("decision threshold", f"P({model.classes_[1]}) >= {_fmt(threshold)}{how}"))
    return facts


def _model_page(model) -> _Page:
    from sklearn.exceptions import NotFittedError

    board = getattr(model, "leaderboard_", None)
    if board is None:
        raise NotFittedError(
            f"This {type(model).__name__} has no leaderboard_: fit it before writing a report."
        )
    gib = _greater_is_better(model)
    metric = str(getattr(model, "metric_", "score"))
    trials = _normalise_trials(board)
    budget = getattr(model, "time_budget", None)
    budget = float(budget) if isinstance(budget, (int, float)) else None
    fit_seconds = getattr(model, "fit_seconds_", None)
    direction = "higher is better" if gib else "lower is better"
    best = getattr(model, "best_score_", None)
    if best is None and len(_scored(trials)):
        scores = _scored(trials)["score"]
        best = scores.max() if gib else scores.min()
    facts = [("task", getattr(model, "task_", "?")), ("metric", f"{metric} ({direction})"),
             ("best validation score", _fmt(best)), *_plan_facts(model)]
    classes = getattr(model, "classes_", None)
    if classes is not None and getattr(model, "task_", "") != "regression":
        labels = [str(c) for c in classes]
        facts.append(("classes", ", ".join(labels[:10]) + (" ..." if len(labels) > 10 else "")))
    facts.append(("trials", _status_counts(trials)))
    if fit_seconds is not None:
        facts.append(("fit time", f"{float(fit_seconds):.1f} s"
                      + (f" of a {budget:g} s budget" if budget else "")))
    elif budget:
        facts.append(("time budget", f"{budget:g} s"))
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None:
        facts.append(("input columns", str(n_in)))
    facts.append(("featsmith version", str(getattr(model, "featsmith_version_", "?"))))
    storage = getattr(model, "storage", None)
    if isinstance(storage, (str, os.PathLike)):
        facts.append(("trial store", str(storage)))
    notes = []
    features = _feature_table(model, notes)
    if features is not None:
        facts.append(("features used", str(len(features))))
    inputs = _importance(model, by="input", notes=notes)
    search = _Search("Search", "search", trials, gib, metric, budget,
                     extra=_extra_columns(board))
    ensemble = getattr(model, "ensemble_", None)
    if isinstance(ensemble, pd.DataFrame) and {"trial", "weight"} <= set(ensemble.columns):
        weights = dict(zip(ensemble["trial"], ensemble["weight"]))
        # Blank for trials outside the final model, so its members stand out.
        trials["ensemble weight"] = [_fmt(weights[t]) if t in weights else ""
                                     for t in trials["trial"]]
        search.extra.append("ensemble weight")
        facts.insert(3, ("final model", f"ensemble of {len(ensemble)} trial(s)"
                         if len(ensemble) > 1 else "the single best trial"))
    stages = getattr(model, "stage_timings_", None)
    return _Page(
        title=f"featsmith report: {type(model).__name__}",
        subtitle=f"{getattr(model, 'task_', '')} task, tuned for {metric}",
        facts=facts, searches=[search], features=features,
        inputs=None if inputs is None else inputs.sort_values("importance", ascending=False),
        stages=dict(stages) if stages else None,
        fit_seconds=None if fit_seconds is None else float(fit_seconds), notes=notes,
    )


@contextlib.contextmanager
def _open_store(path: Path):
    """The tuners store at ``path``, opened read-only (a report never changes it); a missing,
    foreign or unreadable file is a ValueError naming the file."""
    if not path.exists():
        raise ValueError(f"{path}: no such file; pass a fitted AutoPipeline or the storage= file "
                         "of a featsmith.tuners.Experiment.")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, expected an experiment store (SQLite file).")
    hint = ("pass the storage= file of a featsmith.tuners.Experiment, or a fitted model (load a "
            "saved one with joblib.load first)")
    try:
        store = TrialStore(path, read_only=True)
    except StorageError as exc:
        raise ValueError(f"{path}: not a readable experiment store ({exc}); {hint}.") from None
    try:
        yield store
    except StorageError as exc:  # locked, or damaged past its header
        raise ValueError(f"{path}: the experiment store could not be read ({exc}).") from None
    finally:
        store.close()


def _family(params: dict) -> tuple[str, dict]:
    """Model family and the remaining params of one stored trial: the option chosen by a
    top-level nested choice named ``model`` (or the only top-level nested choice)."""
    nested = [k for k, v in params.items() if isinstance(v, dict) and "_name" in v]
    key = "model" if "model" in nested else nested[0] if len(nested) == 1 else None
    if key is None:
        if isinstance(params.get("model"), str):
            rest = {k: v for k, v in params.items() if k != "model"}
            return params["model"], flatten_params(rest)
        return "trials", flatten_params(params)
    choice = params[key]
    rest = {k: v for k, v in params.items() if k != key}
    inner = {k: v for k, v in choice.items() if k != "_name"}
    return str(choice["_name"]), {**flatten_params(inner), **flatten_params(rest)}


def _store_search(store: TrialStore, info: dict, index: int) -> _Search:
    records = store.read_trials(info["name"])
    starts = [r["start_time"] for r in records if r["start_time"] is not None]
    origin = min(starts) if starts else 0.0
    rows = []
    for r in records:
        family, params = _family(r["params"])
        start, end = r["start_time"], r["end_time"]
        rows.append({
            "trial": r["trial_id"], "model": family, "params": params,
            "score": np.nan if r["value"] is None else float(r["value"]),
            # a skipped trial never ran: its ask-to-tell gap is no duration
            "seconds": np.nan if start is None or end is None or r["status"] == "skipped"
            else end - start,
            "status": r["status"], "budget": r["budget"],
            "started": np.nan if start is None else start - origin,
            # why a trial failed, was skipped or pruned; a complete trial needs no note
            "note": "" if r["status"] == "complete" or not r["message"]
            else r["message"].strip().splitlines()[0],
        })
    board = pd.DataFrame(rows, columns=["trial", "model", "params", "score", "seconds", "status",
                                        "budget", "started", "note"])
    if not board["note"].astype(bool).any():
        board = board.drop(columns="note")
    trials = _normalise_trials(board)
    gib = info["mode"] == "max"
    facts = [("experiment", info["name"]), ("tuner", str(info["tuner"])),
             ("objective", f"{'maximised' if gib else 'minimised'}"),
             ("trials", _status_counts(trials))]
    if info["created"] is not None:
        created = datetime.datetime.fromtimestamp(info["created"], datetime.timezone.utc)
        facts.append(("created", created.strftime("%Y-%m-%d %H:%M:%S UTC")))
    scored = _best_budget(_scored(trials))
    if len(scored):
        best = scored.loc[scored["score"].idxmax() if gib else scored["score"].idxmin()]
        facts.append(("best value", f"{_fmt(best['score'])} (trial {best['trial']})"))
        facts.append(("best params", _params_text(best["params"]) or "(defaults)"))
    return _Search(f"Experiment {info['name']}", f"exp{index}", trials, gib, "value", None, facts,
                   extra=_extra_columns(board))


def _store_page(path, experiment=None) -> _Page:
    path = Path(path)
    with _open_store(path) as store:
        experiments = store.list_experiments()
        if experiment is not None:
            names = [e["name"] for e in experiments]
            experiments = [e for e in experiments if e["name"] == experiment]
            if not experiments:
                raise ValueError(f"{path}: no experiment named {experiment!r}; the store holds "
                                 f"{names}.")
        if not experiments:
            raise ValueError(f"{path}: the store holds no experiment yet.")
        searches = [_store_search(store, info, i) for i, info in enumerate(experiments)]
    n = sum(len(s.trials) for s in searches)
    return _Page(
        title=f"featsmith report: {path.name}",
        subtitle=f"tuning experiment store, {len(searches)} experiment(s), {n} trials",
        facts=[("store", str(path)), ("experiments", ", ".join(s.facts[0][1] for s in searches))],
        searches=searches,
    )


# --------------------------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------------------------


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return "n/a"
        return f"{value:.5g}"
    return str(value)


def _secs(value) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def _status_counts(trials: pd.DataFrame) -> str:
    """``"24 (20 complete, 1 pruned, 2 skipped, 1 failed)"``: known states first, in order."""
    counts = trials["status"].astype(str).value_counts()
    order = sorted(counts.index, key=lambda s: (
        _STATE_ORDER.index(s) if s in _STATE_ORDER else len(_STATE_ORDER), -counts[s], s))
    parts = ", ".join(f"{counts[s]} {s}" for s in order)
    return f"{len(trials)}" + (f" ({parts})" if parts else "")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


# --------------------------------------------------------------------------------------------
# SVG charts
# --------------------------------------------------------------------------------------------


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        mults = (1,) if math.log10(hi / lo) > 2 else (1, 2, 5)
        ticks += [m * 10.0 ** k for m in mults if lo <= m * 10.0 ** k <= hi]
    return ticks or [lo, hi]


def _padded(values, log=False) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if log:
        values = np.log10(values[values > 0])
    if values.size == 0:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(values.min()), float(values.max())
    if hi - lo < 1e-12 * max(1.0, abs(hi)):
        pad = max(abs(hi) * 0.05, 0.5 if log else 1e-3)
        lo, hi = lo - pad, hi + pad
    else:
        pad = (hi - lo) * 0.06
        lo, hi = lo - pad, hi + pad
    return (10 ** lo, 10 ** hi) if log else (lo, hi)


class _Plot:
    """Maps data to pixels inside margins and draws axes; charts add their own marks."""

    def __init__(self, width, height, xr, yr, *, x_log=False, left=64, right=16, top=14,
                 bottom=44):
        self.width, self.height = width, height
        self.xr, self.yr, self.x_log = xr, yr, x_log
        self.left, self.right, self.top, self.bottom = left, right, top, bottom

    def x(self, v: float) -> float:
        lo, hi = self.xr
        if self.x_log:
            v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
        return self.left + (v - lo) / (hi - lo) * (self.width - self.left - self.right)

    def y(self, v: float) -> float:
        lo, hi = self.yr
        return self.height - self.bottom - (v - lo) / (hi - lo) * (
            self.height - self.top - self.bottom)

    def axes(self, x_label: str, y_label: str, x_ticks=None) -> str:
        """Grid, tick labels and axis titles. ``x_ticks`` as ``[(value, label)]`` overrides
        the numeric ticks (categorical axes)."""
        x0, x1 = self.left, self.width - self.right
        y0, y1 = self.height - self.bottom, self.top
        parts = [f'<rect class="frame" x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}"/>']
        for v in _nice_ticks(*self.yr):
            py = self.y(v)
            parts.append(f'<line class="grid" x1="{x0}" x2="{x1}" y1="{py:.1f}" y2="{py:.1f}"/>')
            parts.append(f'<text class="tick" x="{x0 - 5}" y="{py + 3.5:.1f}" '
                         f'text-anchor="end">{_e(_fmt(v))}</text>')
        if x_ticks is None:
            ticks = _log_ticks(*self.xr) if self.x_log else _nice_ticks(*self.xr)
            x_ticks = [(v, _fmt(v)) for v in ticks]
        for v, label in x_ticks:
            px = self.x(v)
            parts.append(f'<line class="grid" x1="{px:.1f}" x2="{px:.1f}" y1="{y1}" y2="{y0}"/>')
            parts.append(f'<text class="tick" x="{px:.1f}" y="{y0 + 14}" '
                         f'text-anchor="middle">{_e(_short(label, 12))}</text>')
        parts.append(f'<text class="label" x="{(x0 + x1) / 2:.1f}" y="{self.height - 6}" '
                     f'text-anchor="middle">{_e(x_label)}</text>')
        parts.append(f'<text class="label" transform="translate(13 {(y0 + y1) / 2:.1f}) '
                     f'rotate(-90)" text-anchor="middle">{_e(y_label)}</text>')
        return "".join(parts)


def _svg(kind: str, width: int, height: int, body: str, label: str) -> str:
    return (f'<svg class="chart" data-chart="{kind}" role="img" aria-label="{_e(label)}" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">{body}</svg>')


def _point(px, py, colour, tip, r=3.5) -> str:
    return (f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="{r}" fill="{colour}">'
            f'<title>{_e(tip)}</title></circle>')


def _ring(px, py, colour, tip, r=3.5) -> str:
    """A pruned trial: an open ring in its family's colour (inline style: the CSS of
    ``.point`` would paint it white)."""
    return (f'<circle class="pruned-point" cx="{px:.1f}" cy="{py:.1f}" r="{r}" '
            f'style="fill:none;stroke:{colour};stroke-width:1.4"><title>{_e(tip)}</title></circle>')


def _best_budget(scored: pd.DataFrame) -> pd.DataFrame:
    """Multi-fidelity searches: only scores at the largest budget are comparable."""
    if "budget" in scored and scored["budget"].nunique() > 1:
        return scored[scored["budget"] == scored["budget"].max()]
    return scored


def _best_so_far(search: _Search) -> tuple[np.ndarray, np.ndarray]:
    scored = _best_budget(_scored(search.trials)).sort_values("finished", kind="stable")
    t = scored["finished"].to_numpy(float)
    s = scored["score"].to_numpy(float)
    best = np.maximum.accumulate(s) if search.greater_is_better else np.minimum.accumulate(s)
    return t, best


def _colours(families) -> dict:
    return {f: PALETTE[i % len(PALETTE)] for i, f in enumerate(families)}


def _search_chart(search: _Search) -> str:
    """Every trial's score at the time it finished, and the best-so-far step line; pruned
    trials as rings at the score they were stopped at."""
    scored = _scored(search.trials)
    pruned = _pruned(search.trials)
    width, height = 1000, 330
    t, best = _best_so_far(search)
    x_max = max(float(search.trials["finished"].max()), 1e-3)
    if search.budget:
        x_max = max(x_max, search.budget)
    # The legend sits in the right margin: inside the plot it would hide early points.
    plot = _Plot(width, height, (0.0, x_max * 1.03),
                 _padded(np.concatenate([scored["score"], pruned["score"]])), right=150, bottom=44)
    direction = "higher is better" if search.greater_is_better else "lower is better"
    parts = [plot.axes("seconds since the search started", f"{search.metric} ({direction})")]
    if search.budget and search.budget <= x_max * 1.03:
        px = plot.x(search.budget)
        parts.append(f'<line class="budget" x1="{px:.1f}" x2="{px:.1f}" y1="{plot.top}" '
                     f'y2="{height - plot.bottom}"/><text class="tick" x="{px - 4:.1f}" '
                     f'y="{plot.top + 12}" text-anchor="end">budget</text>')
    if len(t):
        pts = [(plot.x(t[0]), plot.y(best[0]))]
        for ti, bi in zip(t[1:], best[1:]):
            pts += [(plot.x(ti), pts[-1][1]), (plot.x(ti), plot.y(bi))]
        pts.append((plot.x(float(search.trials["finished"].max())), pts[-1][1]))
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        parts.append(f'<path class="best-so-far" d="{d}" fill="none" stroke="{BEST_COLOUR}" '
                     'stroke-width="2"/>')
    families = list(dict.fromkeys(search.trials["model"]))
    colours = _colours(families)
    for row in scored.itertuples():
        tip = (f"trial {row.trial} · {row.model} · {search.metric} {_fmt(row.score)} · "
               f"{_fmt(row.seconds)} s · {_params_text(row.params) or 'defaults'}")
        parts.append(_point(plot.x(row.finished), plot.y(row.score), colours[row.model], tip))
    for row in pruned.itertuples():
        tip = (f"trial {row.trial} · {row.model} · pruned at {search.metric} {_fmt(row.score)} · "
               f"{_fmt(row.seconds)} s · {_params_text(row.params) or 'defaults'}")
        parts.append(_ring(plot.x(row.finished), plot.y(row.score), colours[row.model], tip))
    parts.append(_legend(families, colours, width - plot.right + 14, plot.top + 2,
                         best_line=len(t) > 0, pruned=len(pruned) > 0))
    return _svg("search", width, height, "".join(parts), f"{search.title}: score over time")


def _legend(families, colours, x, y, best_line=False, pruned=False) -> str:
    parts = []
    for i, family in enumerate(families[:len(PALETTE)]):
        cy = y + 14 * i + 6
        parts.append(f'<circle cx="{x + 5}" cy="{cy}" r="4" fill="{colours[family]}"/>'
                     f'<text class="tick" x="{x + 14}" y="{cy + 4}">{_e(_short(family, 18))}</text>')
    if best_line:
        cy = y + 14 * min(len(families), len(PALETTE)) + 6
        parts.append(f'<line x1="{x}" x2="{x + 10}" y1="{cy}" y2="{cy}" stroke="{BEST_COLOUR}" '
                     f'stroke-width="2"/><text class="tick" x="{x + 14}" y="{cy + 4}">best so far'
                     '</text>')
    if pruned:
        cy = y + 14 * (min(len(families), len(PALETTE)) + best_line) + 6
        parts.append(f'<circle cx="{x + 5}" cy="{cy}" r="3.5" style="fill:none;stroke:#5b6475;'
                     f'stroke-width:1.4"/><text class="tick" x="{x + 14}" y="{cy + 4}">pruned'
                     '</text>')
    return f'<g class="legend">{"".join(parts)}</g>'


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_)) and math.isfinite(float(v))


def _param_chart(search: _Search, family: str, name: str, rows: pd.DataFrame,
                 colour: str) -> str:
    """Score against one hyperparameter: a scatter for numbers (log axis when the values span
    two decades), a strip per value otherwise."""
    width, height = 250, 190
    values = [p[name] for p in rows["params"]]
    scores = rows["score"].to_numpy(float)
    yr = _padded(scores)
    numeric = all(_is_number(v) for v in values)
    parts = []
    if numeric:
        xs = np.asarray(values, dtype=float)
        log = bool(xs.min() > 0 and xs.max() / xs.min() >= 100)
        plot = _Plot(width, height, _padded(xs, log=log), yr, x_log=log, left=54, bottom=38)
        parts.append(plot.axes(name + (" (log)" if log else ""), search.metric))
        coords = [(plot.x(x), plot.y(s)) for x, s in zip(xs, scores)]
    else:
        cats = sorted({_fmt(v) for v in values})
        plot = _Plot(width, height, (-0.6, len(cats) - 0.4), yr, left=54, bottom=38)
        parts.append(plot.axes(name, search.metric, x_ticks=list(enumerate(cats))))
        # Deterministic jitter keeps equal values apart without randomness in the output.
        jitter = (np.arange(len(values)) * 0.618034 % 1.0 - 0.5) * 0.5
        coords = [(plot.x(cats.index(_fmt(v)) + j), plot.y(s))
                  for v, j, s in zip(values, jitter, scores)]
    for (px, py), row, v in zip(coords, rows.itertuples(), values):
        tip = f"trial {row.trial} · {name}={_fmt(v)} · {search.metric} {_fmt(row.score)}"
        parts.append(_point(px, py, colour, tip, r=3))
    return _svg("param", width, height, "".join(parts), f"{family}: {search.metric} vs {name}")


def _param_charts(search: _Search) -> list[tuple[str, list[str], list[str]]]:
    """Per family: (family, charts, names of parameters left out)."""
    scored = _best_budget(_scored(search.trials))
    families = list(dict.fromkeys(search.trials["model"]))
    colours = _colours(families)
    out = []
    for family in families:
        rows = scored[scored["model"] == family]
        names = list(dict.fromkeys(k for p in rows["params"] for k in p))
        charts, skipped = [], []
        for name in names:
            sub = rows[[name in p and p[name] is not None for p in rows["params"]]]
            distinct = {_fmt(p[name]) for p in sub["params"]}
            numeric = all(_is_number(p[name]) for p in sub["params"])
            if len(sub) < 2 or len(distinct) < 2 or (not numeric and len(distinct) > MAX_CATEGORIES):
                skipped.append(name)
                continue
            if len(charts) >= MAX_PARAM_CHARTS:
                skipped.append(name)
                continue
            charts.append(_param_chart(search, family, name, sub, colours[family]))
        out.append((family, charts, skipped))
    return out


def _bar_chart(kind: str, labels, values, unit: str, title: str, fmt=_fmt) -> str:
    """Horizontal bars, largest first as given; long labels are cut (full text on hover)."""
    labels, values = list(labels)[:MAX_BARS], np.asarray(values, dtype=float)[:MAX_BARS]
    width, row = 900, 22
    height = 16 + row * len(labels)
    left, right = 300, 90
    top_value = float(np.nanmax(values)) if len(values) and np.isfinite(values).any() else 1.0
    top_value = top_value if top_value > 0 else 1.0
    parts = []
    for i, (label, v) in enumerate(zip(labels, values)):
        y = 8 + i * row
        w = 0.0 if not math.isfinite(v) or v <= 0 else v / top_value * (width - left - right)
        parts.append(
            f'<text class="tick" x="{left - 8}" y="{y + 14}" text-anchor="end">'
            f'{_e(_short(str(label), 44))}<title>{_e(label)}</title></text>'
            f'<rect class="bar" x="{left}" y="{y + 2}" width="{max(w, 1.0):.1f}" height="{row - 6}" '
            f'fill="{BAR_COLOUR}"><title>{_e(label)}: {_e(fmt(v))} {_e(unit)}</title></rect>'
            f'<text class="tick" x="{left + w + 6:.1f}" y="{y + 14}">{_e(fmt(v))} {_e(unit)}</text>'
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="4" y2="{height - 4}"/>')
    return _svg(kind, width, height, "".join(parts), title)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 margin:0;background:#f6f7f9;color:#1d2330;font-size:14px;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:24px;margin:0 0 2px}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid #d8dce3;
 padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#5b6475;margin:0 0 14px}nav a{margin-right:14px;color:#2d5d9b;text-decoration:none}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:8px;margin:12px 0}
.fact{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:7px 10px}
.fact .k{color:#5b6475;font-size:12px}.fact .v{font-weight:600;overflow-wrap:anywhere}
.card{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:10px 12px;margin:8px 0}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.scroll{max-height:460px;overflow:auto;border:1px solid #dde1e8;border-radius:6px;background:#fff}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#eef1f5;position:sticky;top:0}td.num,th.num{text-align:right;
 font-variant-numeric:tabular-nums}tr.best td{background:#fff7d6}tr.fail td{background:#fdf1f1}
tr.skip td,tr.prune td{color:#6b7384}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;
 overflow-wrap:anywhere}
.note{color:#5b6475;font-size:13px;margin:4px 0}
td.imp{white-space:nowrap}.meter{display:inline-block;height:9px;background:#4e79a7;border-radius:2px;vertical-align:middle}
svg.chart{display:block;max-width:100%;height:auto}
svg .frame{fill:#fbfcfd;stroke:#c9ced8}svg .grid{stroke:#e6e9ee}svg .axis{stroke:#9aa3b2}
svg .tick{font-size:11px;fill:#4a5263}svg .label{font-size:12px;fill:#1d2330}
svg .point{fill-opacity:.8;stroke:#fff;stroke-width:.6}
svg .budget{stroke:#e15759;stroke-dasharray:5 4}
"""


def _facts_html(facts) -> str:
    return '<div class="facts">' + "".join(
        f'<div class="fact"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div></div>'
        for k, v in facts) + "</div>"


def _leaderboard_html(search: _Search) -> str:
    trials = search.trials
    has_budget = "budget" in trials
    ranked = _ranked(trials, search.greater_is_better)
    row_class = [_ROW_CLASS.get(s, "") for s in _states(ranked)]
    best = _scored(ranked)
    best_trial = best["trial"].iloc[0] if len(best) else None
    head = ["rank", "trial", "model", search.metric, "seconds", "started (s)", "status"]
    head += ["budget"] if has_budget else []
    head += [str(c) for c in search.extra]
    head += ["params"]
    numeric = {"rank", "trial", search.metric, "seconds", "started (s)", "budget"}
    numeric |= {str(c) for c in search.extra
                if pd.api.types.is_numeric_dtype(trials[c]) or c == "ensemble weight"}
    rows = []
    for rank, ((_, row), kind) in enumerate(zip(ranked.iterrows(), row_class), start=1):
        cells = [rank, row["trial"], row["model"], _fmt(row["score"]), _secs(row["seconds"]),
                 _secs(row["started"]), row["status"]]
        cells += [_fmt(row["budget"])] if has_budget else []
        cells += [_fmt(row[c]) for c in search.extra]
        if rank == 1 and row["trial"] == best_trial:
            kind = "best"
        css = f' class="{kind}"' if kind else ""
        tds = "".join(f'<td class="num">{_e(c)}</td>' if h in numeric else f"<td>{_e(c)}</td>"
                      for h, c in zip(head, cells))
        params = _params_text(row["params"]) or "(defaults)"
        rows.append(f"<tr{css}>{tds}<td><code>{_e(params)}</code></td></tr>")
    ths = "".join(f'<th class="num">{_e(h)}</th>' if h in numeric else f"<th>{_e(h)}</th>"
                  for h in head)
    return (f'<div class="scroll"><table class="leaderboard"><thead><tr>{ths}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _search_html(search: _Search, heading_level: int) -> str:
    h = f"h{heading_level}"
    sub = f"h{heading_level + 1}"
    parts = []
    if search.facts:
        parts.append(f'<{h} id="{search.anchor}">{_e(search.title)}</{h}>')
        parts.append(_facts_html(search.facts))
    scored = _scored(search.trials)
    parts.append(f'<{sub} id="{search.anchor}-time">Score over time</{sub}>')
    if len(scored):
        parts.append(f'<div class="card">{_search_chart(search)}<p class="note">Each point is a '
                     "trial at the moment it finished (hover for its parameters); the line is "
                     "the best score reached so far"
                     + (" at the largest budget" if "budget" in scored and
                        scored["budget"].nunique() > 1 else "")
                     + ("; rings are pruned trials, at the score they were stopped at"
                        if len(_pruned(search.trials)) else "") + ".</p></div>")
    else:
        parts.append('<p class="note">No trial produced a score.</p>')
    parts.append(f'<{sub} id="{search.anchor}-leaderboard">Leaderboard</{sub}>')
    parts.append(_leaderboard_html(search))
    parts.append(f'<{sub} id="{search.anchor}-params">Hyperparameter effects</{sub}>')
    drawn = False
    for family, charts, skipped in _param_charts(search):
        if not charts:
            continue
        drawn = True
        parts.append(f'<div class="card"><b>{_e(family)}</b><div class="grid">{"".join(charts)}'
                     "</div>")
        if skipped:
            parts.append(f'<p class="note">Not drawn (one value only, too few trials, too many '
                         f'categories, or over {MAX_PARAM_CHARTS} charts): '
                         f'{_e(", ".join(skipped))}.</p>')
        parts.append("</div>")
    if not drawn:
        parts.append('<p class="note">No hyperparameter took two or more values among the '
                     "scored trials.</p>")
    return "".join(parts)


def _features_html(page: _Page) -> str:
    parts = ['<h2 id="features">Features</h2>']
    table = page.features
    if table is None:
        parts.append('<p class="note">This model records no feature plan or importances.</p>')
        return "".join(parts)
    has_imp = np.isfinite(table["importance"].to_numpy(float)).any()
    if has_imp:
        shown = table[np.isfinite(table["importance"].to_numpy(float))]
        parts.append('<div class="card">' + _bar_chart(
            "importance", shown["feature"], shown["importance"], "",
            "importance of the chosen features") + f'<p class="note">Importance of the '
            f"{min(len(shown), MAX_BARS)} most important of {len(table)} chosen features.</p></div>")
    if page.inputs is not None and len(page.inputs):
        parts.append('<h3>Importance by input column</h3><div class="card">' + _bar_chart(
            "input-importance", page.inputs["label"], page.inputs["importance"], "",
            "importance rolled up to the raw input columns") + '<p class="note">Each feature\'s '
            "importance shared among the raw columns it is computed from (its lineage).</p></div>")
    top = float(np.nanmax(table["importance"])) if has_imp else 0.0
    rows = []
    for i, row in enumerate(table.itertuples(), start=1):
        imp = row.importance
        meter = (f'<span class="meter" style="width:{max(imp / top * 80, 1):.0f}px"></span> '
                 if has_imp and math.isfinite(imp) and top > 0 and imp > 0 else "")
        rows.append(
            f'<tr><td class="num">{i}</td><td><code>{_e(row.feature)}</code></td>'
            f"<td>{_e(row.formula)}</td><td>{_e(row.operator)}</td><td>{_e(row.inputs)}</td>"
            f'<td class="num imp">{meter}{_e(_fmt(imp))}</td></tr>'
        )
    parts.append('<h3>Chosen features</h3><div class="scroll"><table class="features"><thead><tr>'
                 '<th class="num">#</th><th>feature</th><th>formula</th><th>operator</th>'
                 '<th>inputs</th><th class="num">importance</th></tr></thead><tbody>'
                 + "".join(rows) + "</tbody></table></div>")
    return "".join(parts)


def _stages_html(page: _Page) -> str:
    parts = ['<h2 id="stages">Time per stage</h2>']
    if not page.stages:
        parts.append('<p class="note">This model records no stage timings.</p>')
        return "".join(parts)
    names = [str(k) for k in page.stages]
    secs = np.asarray([float(v) if _is_number(v) else np.nan for v in page.stages.values()])
    parts.append('<div class="card">' + _bar_chart("stages", names, secs, "s",
                                                    "seconds per stage", fmt=_secs) + "</div>")
    total = page.fit_seconds or float(np.nansum(secs))
    rows = "".join(
        f'<tr><td>{_e(n)}</td><td class="num">{_secs(s)}</td>'
        f'<td class="num">{(100 * s / total if total > 0 else 0):.1f}%</td></tr>'
        for n, s in zip(names, secs))
    parts.append('<table class="stages"><thead><tr><th>stage</th><th class="num">seconds</th>'
                 f'<th class="num">share of {"fit" if page.fit_seconds else "total"}</th></tr>'
                 f"</thead><tbody>{rows}</tbody></table>")
    return "".join(parts)


def _page_html(page: _Page) -> str:
    model_page = len(page.searches) == 1 and not page.searches[0].facts
    if model_page:
        links = [("search", "Search"), ("search-leaderboard", "Leaderboard"),
                 ("search-params", "Hyperparameters"), ("features", "Features"),
                 ("stages", "Time per stage")]
    else:
        links = [(s.anchor, s.title) for s in page.searches]
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in links)
    body = [f"<h1>{_e(page.title)}</h1>", f'<p class="sub">{_e(page.subtitle)}</p>',
            f"<nav>{nav}</nav>", _facts_html(page.facts)]
    body += [f'<p class="note">{_e(n)}</p>' for n in page.notes]
    if model_page:
        body.append('<h2 id="search">Search</h2>')
        body.append(_search_html(page.searches[0], heading_level=2))
        body.append(_features_html(page))
        body.append(_stages_html(page))
    else:
        for search in page.searches:
            body.append(_search_html(search, heading_level=2))
    from featsmith._version import __version__

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="featsmith {_e(__version__)}">'
        f"<title>{_e(page.title)}</title><style>{_CSS}</style></head>"
        f'<body><main>{"".join(body)}</main></body></html>\n'
    )


# --------------------------------------------------------------------------------------------
# Public
# --------------------------------------------------------------------------------------------


def _page(source, experiment=None) -> _Page:
    if isinstance(source, (str, os.PathLike)):
        return _store_page(source, experiment)
    if experiment is not None:
        raise ValueError("experiment= applies to an experiment store path, not to a model.")
    if not hasattr(source, "leaderboard_") and not hasattr(source, "fit"):
        raise TypeError(
            f"source must be a fitted AutoPipeline or the path of an experiment store, got "
            f"{type(source).__name__}."
        )
    return _model_page(source)


def store_leaderboards(path, *, experiment=None) -> list[dict]:
    """The trials of each experiment in a tuners store, for a text summary.

    Parameters
    ----------
    path : str or path-like
        The SQLite file given as ``storage=`` to a :class:`featsmith.tuners.Experiment`
        (opened read-only).
    experiment : str, optional
        Only the experiment of this name (default: all of them, oldest first).

    Returns
    -------
    list of dict
        One per experiment: ``name``, ``facts`` (list of (label, text) pairs, including the
        trial count per state), ``greater_is_better`` and ``leaderboard``: a DataFrame with
        ``trial``, ``model``, ``score``, ``seconds``, ``status``, ``params`` (and ``note``, the
        reason or error of trials that did not complete, when there is one). Best first:
        complete trials by score, then pruned ones, then skipped, failed, interrupted and
        running ones, whose score is blank (NaN).

    Raises
    ------
    ValueError
        If the path is not a readable experiment store, or it holds no experiment named
        ``experiment``.

    Examples
    --------
    >>> import tempfile, os
    >>> from featsmith.tuners import Experiment
    >>> from featsmith.pipelines._report import store_leaderboards
    >>> store = os.path.join(tempfile.mkdtemp(), "search.db")
    >>> exp = Experiment(None, {"x": {"_type": "uniform", "_value": [-3, 3]}}, storage=store,
    ...                  random_state=0)
    >>> exp.tell(exp.ask(), 1.5)
    >>> exp.tell(exp.ask(), state="skipped", message="no time left")
    >>> board = store_leaderboards(store)[0]["leaderboard"]
    >>> list(board["status"]), list(board["note"])
    (['complete', 'skipped'], ['', 'no time left'])
    """
    out = []
    for search in _store_page(path, experiment).searches:
        out.append({"name": search.facts[0][1], "facts": search.facts,
                    "greater_is_better": search.greater_is_better,
                    "leaderboard": _ranked(search.trials, search.greater_is_better)})
    return out


def render_report(source, *, experiment=None) -> str:
    """The report as one self-contained HTML document (a string).

    The page needs no network to view: styles are inline and every chart is inline SVG. For a
    fitted :class:`~featsmith.AutoPipeline` it shows a summary, the search's score over time
    (every trial and the best score so far), the leaderboard of every trial (model family,
    parameters, score, seconds, status), the effect of each hyperparameter on the score per
    model family, the chosen features with their formulas and importances (also rolled up to
    the raw input columns) and the time per stage. For a tuning experiment store only the trial
    parts apply, one block per experiment in the store.

    Parameters
    ----------
    source : AutoPipeline or str or path-like
        A fitted AutoPipeline, or the SQLite file given as ``storage=`` to a
        :class:`featsmith.tuners.Experiment` (opened read-only).
    experiment : str, optional
        For a store: report only the experiment of this name (default: all of them).

    Returns
    -------
    str

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the model is not fitted.
    ValueError
        If the path is not an experiment store, or ``experiment`` is not in it.

    Examples
    --------
    >>> import tempfile, os
    >>> from featsmith.tuners import Experiment
    >>> from featsmith.pipelines._report import render_report
    >>> store = os.path.join(tempfile.mkdtemp(), "search.db")
    >>> space = {"x": {"_type": "uniform", "_value": [-3, 3]}}
    >>> _ = Experiment(lambda p: p["x"] ** 2, space, max_trials=8, storage=store,
    ...                random_state=0).run()
    >>> page = render_report(store)
    >>> page.startswith("<!DOCTYPE html>"), page.count('data-chart="param"')
    (True, 1)
    """
    return _page_html(_page(source, experiment))


def write_report(source, path, *, experiment=None) -> Path:
    """Write :func:`render_report`'s page to ``path`` (UTF-8) and return the path.

    Parameters
    ----------
    source : AutoPipeline or str or path-like
        A fitted AutoPipeline, or the SQLite store of a :class:`featsmith.tuners.Experiment`.
    path : str or path-like
        The HTML file to write (its directory must exist).
    experiment : str, optional
        For a store: report only this experiment.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> from featsmith.tuners import Experiment
    >>> from featsmith.pipelines._report import write_report
    >>> folder = tempfile.mkdtemp()
    >>> store = os.path.join(folder, "search.db")
    >>> space = {"x": {"_type": "uniform", "_value": [-3, 3]}}
    >>> _ = Experiment(lambda p: p["x"] ** 2, space, max_trials=5, storage=store).run()
    >>> write_report(store, os.path.join(folder, "report.html")).name
    'report.html'
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path={str(path)!r} is a directory; give a file name such as report.html.")
    if not path.parent.exists():
        raise ValueError(f"path={str(path)!r}: directory {str(path.parent)!r} does not exist.")
    text = render_report(source, experiment=experiment)
    path.write_text(text, encoding="utf-8")
    return path
