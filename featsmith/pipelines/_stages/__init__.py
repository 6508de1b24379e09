"""The stages of ``AutoPipeline.fit``, in order. Each takes the fit's context (and the budget
planner) and returns its own frozen result; no stage changes another's result."""

from featsmith.pipelines._stages.baseline import Baseline, run_baseline
from featsmith.pipelines._stages.base import StageResult
from featsmith.pipelines._stages.ensemble import Ensemble, select_ensemble
from featsmith.pipelines._stages.features import Features, build_features
from featsmith.pipelines._stages.final import refit_on_all_rows
from featsmith.pipelines._stages.prepare import Prepared, prepare
from featsmith.pipelines._stages.refit import Refit, out_of_fold, refit_members, rows_key
from featsmith.pipelines._stages.rows import Rows, choose_rows
from featsmith.pipelines._stages.search import Search, run_search
from featsmith.pipelines._stages.threshold import (
    Threshold,
    check_threshold_metric,
    check_threshold_task,
    choose_threshold,
    decide,
    hard_labels,
    label_metric_names,
    needs_labels,
)
from featsmith.pipelines._stages.validation import Validated, make_splits, plan_validation

__all__ = [
    "Baseline", "Ensemble", "Features", "Prepared", "Refit", "Rows", "Search", "StageResult", "Threshold", "Validated",
    "build_features", "check_threshold_metric", "choose_rows", "check_threshold_task", "choose_threshold", "decide",
    "hard_labels", "label_metric_names", "make_splits", "needs_labels", "out_of_fold", "plan_validation", "prepare",
    "refit_members", "refit_on_all_rows", "run_baseline", "rows_key", "run_search", "select_ensemble",
]
