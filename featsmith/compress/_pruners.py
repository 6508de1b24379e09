"""Pruners: magnitude (element), L1- and L2-norm (output channel), and the AGP schedule.

A pruner computes masks from the current weights and applies them by zeroing weights in place;
:func:`featsmith.compress.shrink` then removes what is zero. Pruning an output channel of a
hidden layer also zeroes its bias and its normalisation's scale and shift, so the channel's
output is exactly zero (every activation of the head's space maps 0 to 0): the pruned model
and its shrunken form compute the same function.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from featsmith.compress._config import OpConfig, resolve_config_list
from featsmith.compress._shrink import PartialLayerNorm

__all__ = ["LevelPruner", "L1NormPruner", "L2NormPruner", "AGPPruner", "apply_masks"]


def apply_masks(model: nn.Module, masks: dict) -> None:
    """Zero the pruned weights of ``model`` in place (``masks`` maps parameter names to 0/1 tensors).

    Call it after each optimiser step while fine-tuning, so pruned weights stay zero.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Linear(2, 2)
    >>> apply_masks(model, {"weight": torch.tensor([[1.0, 0.0], [1.0, 1.0]])})
    >>> model.weight[0, 1].item() == 0
    True
    """
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask.to(params[name].dtype))


def _keep_top(scores: torch.Tensor, ratio: float) -> torch.Tensor:
    """0/1 mask keeping all but the ``ratio`` share of lowest scores (at least one kept)."""
    n = scores.numel()
    n_prune = min(n - 1, int(math.floor(ratio * n + 1e-9)))
    mask = torch.ones(n, dtype=scores.dtype, device=scores.device)
    if n_prune > 0:
        # Stable order: ties (e.g. channels already pruned to zero) are pruned first by index.
        mask[torch.argsort(scores.flatten(), stable=True)[:n_prune]] = 0
    return mask.view_as(scores)


class _Pruner:
    default_granularity = "out_channel"
    granularities = ("out_channel",)
    norm_p = 1

    def __init__(self, config_list):
        self.config_list = config_list

    def targets(self, model) -> list[OpConfig]:
        """The layers the config list selects in ``model`` (raises ValueError for a bad config)."""
        return resolve_config_list(model, self.config_list, default_granularity=self.default_granularity,
                                   allowed_granularities=self.granularities)

    @torch.no_grad()
    def compute_masks(self, model: nn.Module, scale: float = 1.0) -> dict:
        """Masks for ``model``'s current weights, each layer's ``sparse_ratio`` times ``scale``."""
        masks = {}
        modules = dict(model.named_modules())
        for op in self.targets(model):
            ratio = op.sparse_ratio * scale
            weight = op.module.weight
            if op.granularity == "element":
                masks[f"{op.name}.weight"] = _keep_top(weight.abs(), ratio)
                continue
            # Output channels: rows of a Linear weight, columns (dimensions) of an embedding table.
            channel_dim = 1 if isinstance(op.module, nn.Embedding) else 0
            other = 1 - channel_dim
            scores = weight.abs().pow(self.norm_p).sum(dim=other)
            keep = _keep_top(scores, ratio)
            masks[f"{op.name}.weight"] = keep.unsqueeze(other).expand_as(weight).clone()
            if isinstance(op.module, nn.Linear):
                if op.module.bias is not None:
                    masks[f"{op.name}.bias"] = keep.clone()
                parent = modules.get(op.name.rpartition(".")[0])
                norm = getattr(parent, "norm", None) if getattr(parent, "linear", None) is op.module else None
                if isinstance(norm, (nn.BatchNorm1d, nn.LayerNorm, PartialLayerNorm)) and norm.weight is not None:
                    prefix = op.name.rpartition(".")[0]
                    masks[f"{prefix}.norm.weight"] = keep.clone()
                    masks[f"{prefix}.norm.bias"] = keep.clone()
        return masks

    def compress(self, model: nn.Module) -> dict:
        """Compute the masks, zero the pruned weights of ``model`` in place and return the masks."""
        masks = self.compute_masks(model)
        apply_masks(model, masks)
        return masks

    def __repr__(self):
        return f"{type(self).__name__}(config_list={self.config_list!r})"


_CONFIG_DOC = """
    Parameters
    ----------
    config_list : list of dict
        NNI-style: each dict has ``sparse_ratio`` and ``op_types`` (``"Linear"``,
        ``"Embedding"``) and/or ``op_names``, optionally ``exclude_op_names`` and
        ``granularity``; see :func:`featsmith.compress.resolve_config_list`.
"""


class LevelPruner(_Pruner):
    __doc__ = """Unstructured pruning: zero the ``sparse_ratio`` share of smallest-magnitude weights
    of each selected layer (``granularity="element"``).

    Element sparsity makes the weights compressible but not faster on CPU; only whole rows or
    columns that end up zero are removed by :func:`~featsmith.compress.shrink`.
""" + _CONFIG_DOC + """
    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(10, 10))
    >>> _ = LevelPruner([{"op_types": ["Linear"], "sparse_ratio": 0.3}]).compress(model)
    >>> int((model[0].weight == 0).sum())
    30
"""
    default_granularity = "element"
    granularities = ("element",)


class L1NormPruner(_Pruner):
    __doc__ = """Structured pruning: remove the output channels with the smallest L1 norm of their
    weights (rows of a ``Linear``, dimensions of an ``Embedding``), ``sparse_ratio`` of each
    selected layer; also zeroes the channel's bias and normalisation scale and shift.
""" + _CONFIG_DOC + """
    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    >>> pruner = L1NormPruner([{"op_names": ["0"], "sparse_ratio": 0.5}])
    >>> masks = pruner.compress(model)
    >>> int((model[0].weight.abs().sum(dim=1) == 0).sum())
    4
"""
    norm_p = 1


class L2NormPruner(L1NormPruner):
    __doc__ = """Structured pruning like :class:`L1NormPruner`, ranking channels by the L2 norm.
""" + _CONFIG_DOC + """
    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8))
    >>> masks = L2NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.25}]).compress(model)
    >>> int(masks["0.bias"].sum())
    6
"""
    norm_p = 2


class AGPPruner:
    """Automated gradual pruning (Zhu and Gupta, 2017) around another pruner.

    Sparsity grows from 0 to each layer's ``sparse_ratio`` along the cubic schedule
    ``s_t = s_f * (1 - (1 - t / total_steps) ** 3)``, fast at first while the network can
    recover, slowly near the end. Call :meth:`step` between optimiser steps of a fine-tuning
    loop (:func:`featsmith.compress.fine_tune` does); masks are recomputed from the current
    weights each time, and channels pruned earlier stay pruned since their norm is zero.

    Parameters
    ----------
    pruner : LevelPruner, L1NormPruner or L2NormPruner
        Gives the layers, the final ratios and the ranking.
    total_steps : int
        Steps until the final sparsity is reached; later steps keep it.

    Examples
    --------
    >>> from torch import nn
    >>> agp = AGPPruner(L1NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.5}]), total_steps=4)
    >>> [round(agp.scale(t), 3) for t in (0, 2, 4, 9)]
    [0.0, 0.875, 1.0, 1.0]
    """

    def __init__(self, pruner, total_steps: int):
        if not isinstance(pruner, _Pruner):
            raise TypeError(f"pruner must be a LevelPruner, L1NormPruner or L2NormPruner, got {type(pruner).__name__}.")
        if not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"total_steps={total_steps!r} must be a positive integer.")
        self.pruner = pruner
        self.total_steps = total_steps

    def scale(self, step: int) -> float:
        """Share of the final sparsity reached at ``step``."""
        t = min(max(step, 0), self.total_steps) / self.total_steps
        return 1.0 - (1.0 - t) ** 3

    def step(self, model: nn.Module, step: int) -> dict:
        """Prune ``model`` in place to the sparsity of ``step`` and return the masks."""
        masks = self.pruner.compute_masks(model, self.scale(step))
        apply_masks(model, masks)
        return masks

