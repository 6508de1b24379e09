"""The tabular head model space: embeddings, a variable stack of MLP blocks, a task head."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from featsmith.tuners.nas._mutables import ChosenInput, InputChoice, LayerChoice, ModelSpace, Repeat, ValueChoice

__all__ = ["TabularHeadSpace"]

# Candidate values; the default of each decision is given where it is declared.
SCALERS = ("standard", "quantile")
EMBEDDING_DIMS = (4, 8, 16)
DEPTHS = (1, 4)
WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = ("relu", "gelu", "silu")
NORMS = ("none", "batch", "layer")
DROPOUTS = (0.0, 0.1, 0.2, 0.3)
LEARNING_RATES = (3e-4, 1e-3, 3e-3, 1e-2)
WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 1e-2)
BATCH_SIZES = (128, 256, 512)

_ACTIVATION_MODULES = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


def fit_width(t: torch.Tensor, width: int) -> torch.Tensor:
    """Truncate or zero-pad the last dimension to ``width``: a parameter-free skip projection
    (ResNet's "option A" shortcut), so a skip between blocks of different width adds no weights."""
    have = t.shape[-1]
    if have >= width:
        return t[..., :width]
    return F.pad(t, (0, width - have))


class _Block(nn.Module):
    """linear -> norm -> activation -> dropout (+ optional skip from an earlier block)."""

    def __init__(self, index: int, in_features: int):
        super().__init__()
        self.width = width = ValueChoice(WIDTHS, label=f"width_{index}", default=128)
        self.linear = nn.Linear(in_features, width)
        self.norm = LayerChoice(
            {"none": nn.Identity, "batch": lambda: nn.BatchNorm1d(width), "layer": lambda: nn.LayerNorm(width)},
            label="norm",
        )
        self.act = LayerChoice(_ACTIVATION_MODULES, label="activation")
        self.dropout = nn.Dropout(ValueChoice(DROPOUTS, label="dropout", default=0.1))
        # Block 0 has no earlier block to skip from.
        self.skip = InputChoice(index, label=f"skip_{index}") if index > 0 else ChosenInput(-1)

    def forward(self, h, earlier):
        z = self.dropout(self.act(self.norm(self.linear(h))))
        src = self.skip(earlier)
        return z if src is None else z + fit_width(src, z.shape[-1])


class TabularHeadSpace(ModelSpace):
    """Model space of MLP heads for tabular data.

    Decisions (labels): ``scaler`` (standard or quantile scaling of numeric inputs, applied by
    the data pipeline), ``embedding_dim`` (only with categorical columns), ``depth`` (1-4),
    ``width_i`` per block, ``activation`` (relu, gelu, silu), ``norm`` (none, batch, layer),
    ``dropout``, ``skip_i`` (blocks ``i >= 1``: no skip, or a residual from block ``j < i``,
    truncated or zero-padded to the width), and the training choices ``lr``,
    ``weight_decay`` and ``batch_size`` read by the trainer.

    Parameters
    ----------
    n_numeric : int
        Number of numeric input columns (after scaling and missing indicators).
    cardinalities : sequence of int
        Number of known categories of each categorical column; code 0 is reserved for
        unknown or missing categories, so embedding tables have ``cardinality + 1`` rows.
    n_outputs : int
        1 for binary classification and regression, the number of classes for multiclass.

    Examples
    --------
    >>> import torch
    >>> space = TabularHeadSpace.search_space(3, [5], 1)
    >>> model = TabularHeadSpace.fixed(space.default(), 3, [5], 1)
    >>> model(torch.zeros(2, 3), torch.zeros(2, 1, dtype=torch.long)).shape
    torch.Size([2, 1])
    """

    def __init__(self, n_numeric: int, cardinalities: Sequence[int], n_outputs: int):
        super().__init__()
        self.scaler = ValueChoice(SCALERS, label="scaler", default="quantile")
        self.lr = ValueChoice(LEARNING_RATES, label="lr", default=1e-3)
        self.weight_decay = ValueChoice(WEIGHT_DECAYS, label="weight_decay", default=1e-4)
        self.batch_size = ValueChoice(BATCH_SIZES, label="batch_size", default=256)
        cardinalities = [int(c) for c in cardinalities]
        emb_dim = ValueChoice(EMBEDDING_DIMS, label="embedding_dim", default=8) if cardinalities else 0
        self.embeddings = nn.ModuleList(nn.Embedding(c + 1, emb_dim) for c in cardinalities)
        widths = [int(n_numeric) + len(cardinalities) * emb_dim]

        def block(i):
            b = _Block(i, widths[i])
            widths.append(b.width)
            return b

        self.blocks = Repeat(block, depth=DEPTHS, label="depth", default=2)
        self.head = nn.Linear(self.blocks[-1].width, int(n_outputs))

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        parts = [x_num] + [emb(x_cat[:, j]) for j, emb in enumerate(self.embeddings)]
        h = torch.cat(parts, dim=-1) if len(parts) > 1 else x_num  # cat would copy a lone input
        outs: list[torch.Tensor] = []
        for block in self.blocks:
            h = block(h, outs)
            outs.append(h)
        return self.head(h)
