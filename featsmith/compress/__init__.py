"""featsmith.compress: make the neural head smaller and faster.

* **Pruning** with an NNI-style ``config_list``: :class:`LevelPruner` (unstructured, by
  magnitude), :class:`L1NormPruner` and :class:`L2NormPruner` (output channels), and
  :class:`AGPPruner` (gradual pruning while fine-tuning, :func:`fine_tune`).
* :func:`shrink` physically removes pruned channels and the inputs that read them, for every
  architecture of :class:`featsmith.tuners.nas.TabularHeadSpace`, from the weights alone.
* :func:`quantize_int8`: dynamic int8 ``Linear`` layers through PyTorch's CPU kernels, kept
  only where a per-layer micro-benchmark shows them faster.
* :func:`compress_head` does all of it to a fitted ``NASHeadClassifier`` /
  ``NASHeadRegressor``; ``AutoPipeline.distill`` trains one small student instead of an
  ensemble.
"""

from featsmith.compress._config import resolve_config_list
from featsmith.compress._head import compress_head, fine_tune
from featsmith.compress._pruners import AGPPruner, L1NormPruner, L2NormPruner, LevelPruner, apply_masks
from featsmith.compress._quantize import Int8Linear, int8_available, quantize_int8
from featsmith.compress._shrink import CompactHead, PartialLayerNorm, shrink

__all__ = [
    "AGPPruner",
    "CompactHead",
    "Int8Linear",
    "L1NormPruner",
    "L2NormPruner",
    "LevelPruner",
    "PartialLayerNorm",
    "apply_masks",
    "compress_head",
    "fine_tune",
    "int8_available",
    "quantize_int8",
    "resolve_config_list",
    "shrink",
]
