"""The whole lifecycle as one scikit-learn estimator: :class:`AutoPipeline`, plus its report."""

from featsmith.pipelines._auto import AutoPipeline, make_splits
from featsmith.pipelines._ensemble import greedy_ensemble
from featsmith.pipelines._metrics import DEFAULT_METRICS, resolve_metric
from featsmith.pipelines._report import render_report, write_report
from featsmith.pipelines._task import infer_task

__all__ = [
    "AutoPipeline",
    "DEFAULT_METRICS",
    "greedy_ensemble",
    "infer_task",
    "make_splits",
    "render_report",
    "resolve_metric",
    "write_report",
]
