"""The whole lifecycle as one scikit-learn estimator: :class:`AutoPipeline`."""

from featsmith.pipelines._auto import AutoPipeline, make_splits
from featsmith.pipelines._metrics import DEFAULT_METRICS, resolve_metric
from featsmith.pipelines._task import infer_task

__all__ = ["AutoPipeline", "DEFAULT_METRICS", "infer_task", "make_splits", "resolve_metric"]
