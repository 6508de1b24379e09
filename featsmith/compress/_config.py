"""NNI-style ``config_list``: which layers a pruner touches, how much and at what granularity."""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real

from torch import nn

__all__ = ["OpConfig", "resolve_config_list", "OP_TYPES", "GRANULARITIES"]

OP_TYPES = {"Linear": nn.Linear, "Embedding": nn.Embedding}
GRANULARITIES = ("out_channel", "element")
_KEYS = {"op_types", "op_names", "exclude_op_names", "sparse_ratio", "granularity"}


@dataclass(frozen=True)
class OpConfig:
    """The resolved setting of one layer: its name in ``model.named_modules()``, the module,
    the share of its weights (element) or output channels (out_channel) to prune."""

    name: str
    module: nn.Module
    sparse_ratio: float
    granularity: str


def _names(value, key, i):
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"config_list[{i}][{key!r}] must be a list of strings, got {value!r}; "
                         f"for example {key}=['blocks.0.linear'].")
    return list(value)


def _is_output_layer(model, name) -> bool:
    """The layer whose outputs are the model's outputs: removing one would change what it predicts."""
    return name == "head" and hasattr(model, "blocks")


def resolve_config_list(model: nn.Module, config_list, *, default_granularity: str,
                        allowed_granularities=GRANULARITIES) -> list[OpConfig]:
    """Check ``config_list`` and return one :class:`OpConfig` per layer it selects.

    Each entry is a dict with ``sparse_ratio`` (in [0, 1)) and at least one of ``op_types``
    (``"Linear"``, ``"Embedding"``) or ``op_names`` (names from ``model.named_modules()``), and
    optionally ``exclude_op_names`` and ``granularity`` (``"out_channel"`` or ``"element"``). A
    later entry overrides an earlier one for the layers both select (NNI's rule). The output
    layer (``head`` of a tabular head) is skipped for ``"out_channel"``, since its channels are
    the predictions; naming it explicitly is an error.

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    >>> [c.name for c in resolve_config_list(
    ...     model, [{"op_types": ["Linear"], "exclude_op_names": ["2"], "sparse_ratio": 0.5}],
    ...     default_granularity="out_channel")]
    ['0']
    """
    if isinstance(config_list, dict):
        raise ValueError("config_list must be a list of dicts, got a single dict; wrap it: [config].")
    if not isinstance(config_list, (list, tuple)) or not config_list:
        raise ValueError(f"config_list must be a non-empty list of dicts, got {config_list!r}.")
    modules = dict(model.named_modules())
    chosen: dict[str, OpConfig] = {}
    for i, cfg in enumerate(config_list):
        if not isinstance(cfg, dict):
            raise ValueError(f"config_list[{i}] must be a dict, got {type(cfg).__name__}.")
        unknown = sorted(set(cfg) - _KEYS)
        if unknown:
            raise ValueError(f"config_list[{i}] has unknown key(s) {unknown}; known keys: {sorted(_KEYS)}.")
        ratio = cfg.get("sparse_ratio")
        if not isinstance(ratio, Real) or isinstance(ratio, bool) or not 0.0 <= float(ratio) < 1.0:
            raise ValueError(f"config_list[{i}]['sparse_ratio'] must be a number in [0, 1), got {ratio!r}; "
                             "0.5 prunes half of each selected layer.")
        granularity = cfg.get("granularity", default_granularity)
        if granularity not in allowed_granularities:
            raise ValueError(f"config_list[{i}]['granularity']={granularity!r} is not supported by this pruner; "
                             f"use one of {list(allowed_granularities)} (LevelPruner prunes 'element', the "
                             "norm pruners 'out_channel').")
        op_types = _names(cfg.get("op_types"), "op_types", i)
        op_names = _names(cfg.get("op_names"), "op_names", i)
        exclude = set(_names(cfg.get("exclude_op_names"), "exclude_op_names", i) or ())
        if op_types is None and op_names is None:
            raise ValueError(f"config_list[{i}] selects no layer: give op_types (e.g. ['Linear']) or op_names.")
        bad_types = sorted(set(op_types or ()) - set(OP_TYPES))
        if bad_types:
            raise ValueError(f"config_list[{i}]['op_types'] has {bad_types}; supported: {sorted(OP_TYPES)}.")
        missing = sorted(set(op_names or ()) - set(modules))
        if missing:
            raise ValueError(f"config_list[{i}]['op_names'] names {missing}, not layers of the model; "
                             f"prunable layers: {prunable_names(model)}.")
        for name, module in modules.items():
            if name in exclude or not isinstance(module, tuple(OP_TYPES.values())):
                continue
            if op_names is not None and name not in op_names:
                continue
            if op_types is not None and type(module).__name__ not in op_types:
                continue
            if granularity == "out_channel" and _is_output_layer(model, name):
                if op_names is not None and name in op_names:
                    raise ValueError(f"config_list[{i}] names the output layer {name!r} for out_channel pruning; "
                                     "its channels are the predictions. Exclude it, or use granularity='element'.")
                continue
            chosen[name] = OpConfig(name, module, float(ratio), granularity)
    return list(chosen.values())


def prunable_names(model: nn.Module) -> list[str]:
    """Names of the layers a ``config_list`` may select."""
    return [n for n, m in model.named_modules() if isinstance(m, tuple(OP_TYPES.values()))]
