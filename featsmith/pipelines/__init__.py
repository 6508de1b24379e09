"""The whole lifecycle as one scikit-learn estimator: :class:`AutoPipeline`, plus its report."""

from featsmith._task import infer_task
from featsmith.pipelines._auto import AutoPipeline
from featsmith.pipelines._stages import make_splits
from featsmith.pipelines._ensemble import greedy_ensemble
from featsmith.pipelines._metrics import DEFAULT_METRICS, greater_is_better, resolve_metric
from featsmith.pipelines._report import render_report, store_leaderboards, write_report

__all__ = [
    "AutoPipeline",
    "DEFAULT_METRICS",
    "greater_is_better",
    "greedy_ensemble",
    "infer_task",
    "make_splits",
    "render_report",
    "resolve_metric",
    "store_leaderboards",
    "write_report",
]
