"""``shrink``: physically remove pruned channels from a tabular head.

The head's graph is known (embeddings concatenated with the numeric inputs, a stack of
linear -> norm -> activation -> dropout blocks with optional residual inputs from earlier
blocks, a linear output layer), so shrinking reads the weights and never runs a dummy input
through the model. A channel is dead when its output is exactly zero for every input; removing
it, and the matching input columns of every layer that reads it (the next block, the output
layer, later residual additions), leaves the function unchanged.

The residual addition of the head's space pads or truncates by position; once channels are
removed positions no longer line up, so the shrunken blocks carry explicit index maps: which
output position each kept channel writes, and which channels of the skipped-from block are
added where.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CompactHead", "PartialLayerNorm", "shrink"]

# Batches of at most this many rows are normalised by PartialLayerNorm._few_rows at inference.
_FEW_ROWS = 256


class PartialLayerNorm(nn.Module):
    """Layer normalisation of the kept channels of a wider layer whose other channels are zero.

    The statistics are those of the full ``full_width`` vector with zeros in the removed
    channels, so the shrunken layer computes what the pruned one did.

    Parameters
    ----------
    n_channels : int
    full_width : int
        Width of the layer before pruning.
    eps : float, default=1e-5

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(3, 4)
    >>> full = torch.nn.functional.layer_norm(torch.cat([x, torch.zeros(3, 2)], 1), (6,))[:, :4]
    >>> torch.allclose(PartialLayerNorm(4, 6)(x), full, atol=1e-5)
    True
    """

    def __init__(self, n_channels: int, full_width: int, eps: float = 1e-5):
        super().__init__()
        self.full_width = int(full_width)
        self.eps = float(eps)
        self.weight = nn.Parameter(torch.ones(n_channels))
        self.bias = nn.Parameter(torch.zeros(n_channels))

    def forward(self, x):
        inference = not torch.is_grad_enabled()
        if inference and x.shape[0] <= _FEW_ROWS:
            return self._few_rows(x)
        mean = x.sum(-1, keepdim=True) / self.full_width
        var = (x * x).sum(-1, keepdim=True) / self.full_width - mean * mean
        scale = torch.rsqrt(var.clamp_min(0) + self.eps)
        if inference:  # one temporary instead of three (a quarter of a layer-norm head's forward)
            return torch.addcmul(self.bias, torch.sub(x, mean).mul_(scale), self.weight)
        return (x - mean) * scale * self.weight + self.bias

    def _few_rows(self, x):
        """The same for a few rows, where the number of operations is the cost: the zero-padded
        full-width vector through one fused layer norm (1 row: 27 -> 8 microseconds; from about
        400 rows the padding costs more than it saves)."""
        k, w, b = x.shape[-1], self.weight, self.bias
        pad = (0, self.full_width - k)
        # The affine parameters padded with zeros, kept until they are replaced or changed.
        # (Through __dict__: nn.Module's attribute lookup costs as much as an operation here.)
        cached = self.__dict__.get("_padded")
        if cached is None or cached[0] is not w or cached[1] is not b or cached[2] != (w._version, b._version):
            cached = self.__dict__["_padded"] = (w, b, (w._version, b._version), F.pad(w, pad), F.pad(b, pad))
        return F.layer_norm(F.pad(x, pad), (self.full_width,), cached[3], cached[4], self.eps)[..., :k]

    def extra_repr(self):
        return f"{self.weight.numel()}, full_width={self.full_width}, eps={self.eps}"

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_padded", None)  # a cache, rebuilt on first use
        return state


class _CompactBlock(nn.Module):
    """linear -> norm -> activation -> dropout, written to output positions ``z_pos`` of a
    vector of ``out_width``, plus the skipped-from block's channels ``src`` added at ``dst``."""

    def __init__(self, linear, norm, act, dropout, out_width, z_pos, skip, src, dst):
        super().__init__()
        self.linear, self.norm, self.act, self.dropout = linear, norm, act, dropout
        self.out_width = int(out_width)
        self.skip = int(skip)
        self.register_buffer("z_pos", torch.as_tensor(z_pos, dtype=torch.long))
        self.register_buffer("src", torch.as_tensor(src, dtype=torch.long))
        self.register_buffer("dst", torch.as_tensor(dst, dtype=torch.long))
        self.z_full = bool(len(z_pos) == out_width and torch.equal(self.z_pos, torch.arange(out_width)))

    def forward(self, h, earlier):
        z = self.dropout(self.act(self.norm(self.linear(h))))
        # In place where autograd allows (a fresh buffer, or inference): each copy of a
        # (rows x width) activation is a noticeable share of a pruned head's forward.
        owned = not torch.is_grad_enabled()
        if not self.z_full:
            z = z.new_zeros(z.shape[0], self.out_width).index_copy_(1, self.z_pos, z)
            owned = True
        if self.skip >= 0 and len(self.src):
            residual = earlier[self.skip].index_select(1, self.src)
            z = z.index_add_(1, self.dst, residual) if owned else z.index_add(1, self.dst, residual)
        return z

    def extra_repr(self):
        return f"out_width={self.out_width}, skip={self.skip}, residual_channels={len(self.src)}"


class CompactHead(nn.Module):
    """A tabular head after :func:`shrink`: the same function with the pruned channels gone.

    Its forward takes the inputs of :class:`featsmith.tuners.nas.TabularHeadSpace` (numeric
    ``(n, n_numeric)``, category codes ``(n, n_categorical)``), computes in its own dtype and
    returns the input's dtype, so it drops into a fitted ``NASHeadClassifier`` /
    ``NASHeadRegressor`` as ``model_``. It pickles like any torch module, with its shrunken
    shapes.

    Examples
    --------
    >>> import torch
    >>> from featsmith.tuners.nas import TabularHeadSpace
    >>> space = TabularHeadSpace.search_space(3, [4], 1)
    >>> head = shrink(TabularHeadSpace.fixed(space.default(), 3, [4], 1))
    >>> head(torch.zeros(2, 3), torch.zeros(2, 1, dtype=torch.long)).shape
    torch.Size([2, 1])
    """

    def __init__(self, embeddings, blocks, head):
        super().__init__()
        self.embeddings = nn.ModuleList(embeddings)
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor) -> torch.Tensor:
        dtype = self._dtype()
        parts = [x_num.to(dtype)] + [emb(x_cat[:, j]).to(dtype) for j, emb in enumerate(self.embeddings)]
        h = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]  # cat would copy a lone input
        outs: list[torch.Tensor] = []
        for block in self.blocks:
            h = block(h, outs)
            outs.append(h)
        return self.head(h).to(x_num.dtype)

    def _dtype(self):
        # Cached: walking the parameters on every call costs more than a batch-1 forward.
        if getattr(self, "_dtype_cache", None) is None:
            self._dtype_cache = next((p.dtype for p in self.parameters() if p.is_floating_point()), torch.float32)
        return self._dtype_cache

    def _apply(self, fn, *args, **kwargs):
        self._dtype_cache = None  # .to(dtype), .double(), ...
        return super()._apply(fn, *args, **kwargs)

    def n_parameters(self) -> int:
        """Number of weights (parameters and int8 weights alike)."""
        return sum(t.numel() for name, t in self.state_dict().items()
                   if t.is_floating_point() or t.dtype == torch.int8)


def _positions(values, within):
    """Index of each of ``values`` in the sorted 1-D tensor ``within``."""
    return torch.searchsorted(within, values)


def _as_compact(model) -> CompactHead:
    """The head's own module rewritten as a :class:`CompactHead` with identical weights."""
    if any(type(m).__name__ == "Int8Linear" for m in model.modules()):
        raise TypeError("this head has int8 layers already; prune and shrink the fp32 head, then quantize_int8.")
    if isinstance(model, CompactHead):
        return model
    for attr in ("embeddings", "blocks", "head"):
        if not hasattr(model, attr):
            raise TypeError(
                f"shrink needs a tabular head (featsmith.tuners.nas.TabularHeadSpace, or a fitted "
                f"NASHead estimator's model_), got {type(model).__name__} without {attr!r}.")
    blocks = []
    widths = [b.linear.out_features for b in model.blocks]
    for i, b in enumerate(model.blocks):
        skip = int(getattr(b.skip, "index", -1))
        shared = torch.arange(min(widths[i], widths[skip])) if skip >= 0 else torch.zeros(0, dtype=torch.long)
        blocks.append(_CompactBlock(b.linear, b.norm, b.act, b.dropout, widths[i], torch.arange(widths[i]),
                                    skip, shared, shared).train(b.training))
    return CompactHead(list(model.embeddings), blocks, model.head).train(model.training)


def _dead(block) -> torch.Tensor:
    """Channels of the block's linear output whose value after the normalisation is always 0."""
    lin, norm = block.linear, block.norm
    zero_row = (lin.weight == 0).all(dim=1)
    if lin.bias is not None:
        zero_row &= lin.bias == 0
    if isinstance(norm, (nn.BatchNorm1d, nn.LayerNorm, PartialLayerNorm)) and norm.weight is not None:
        zero_affine = (norm.weight == 0) & (norm.bias == 0)
        # Batch norm is per channel; layer norm's statistics read every channel, so a channel
        # leaves them alone only when its input is zero too.
        return zero_affine if isinstance(norm, nn.BatchNorm1d) else zero_affine & zero_row
    return zero_row


def _slice_linear(lin: nn.Linear, rows, cols) -> nn.Linear:
    out = nn.Linear(len(cols), len(rows), bias=lin.bias is not None, dtype=lin.weight.dtype,
                    device=lin.weight.device)
    with torch.no_grad():
        out.weight.copy_(lin.weight[rows][:, cols])
        if lin.bias is not None:
            out.bias.copy_(lin.bias[rows])
    return out.train(lin.training)


def _slice_norm(norm, rows):
    if isinstance(norm, nn.BatchNorm1d):
        out = nn.BatchNorm1d(len(rows), eps=norm.eps, momentum=norm.momentum, affine=norm.affine,
                             track_running_stats=norm.track_running_stats).to(norm.weight.device, norm.weight.dtype)
        state = {k: (v[rows] if v.dim() else v) for k, v in norm.state_dict().items()}
        out.load_state_dict(state)
    elif isinstance(norm, (nn.LayerNorm, PartialLayerNorm)):
        full = norm.full_width if isinstance(norm, PartialLayerNorm) else norm.normalized_shape[-1]
        if len(rows) == full:
            return norm
        out = PartialLayerNorm(len(rows), full, norm.eps).to(norm.weight.device, norm.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(norm.weight[rows])
            out.bias.copy_(norm.bias[rows])
    else:
        return norm
    return out.train(norm.training)


@torch.no_grad()
def shrink(model: nn.Module) -> CompactHead:
    """Remove the pruned (all-zero) channels of a tabular head and their downstream inputs.

    Works on every architecture of :class:`featsmith.tuners.nas.TabularHeadSpace`
    (categorical embeddings, concatenation, residual inputs between blocks of any width, batch
    and layer normalisation) and on an already shrunken :class:`CompactHead`, from the weights
    alone: no dummy input is run. The result computes the same outputs (layer normalisation
    keeps the statistics of the full width, see :class:`PartialLayerNorm`) in train and eval
    mode, and keeps its smaller shapes when pickled or saved with ``joblib``.

    Dead channels are those :class:`L1NormPruner`, :class:`L2NormPruner` and
    :class:`AGPPruner` leave: a zero weight row and bias (and a zero scale and shift of the
    batch or layer normalisation after it), or an all-zero embedding dimension.

    Parameters
    ----------
    model : TabularHeadSpace or CompactHead
        Also the ``model_`` of a fitted ``NASHeadClassifier`` / ``NASHeadRegressor``.

    Returns
    -------
    CompactHead
        A new module; ``model`` is left as it was.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from featsmith.compress import L1NormPruner, shrink
    >>> from featsmith.tuners.nas import TabularHeadSpace
    >>> space = TabularHeadSpace.search_space(5, [], 1)
    >>> model = TabularHeadSpace.fixed(space.default(), 5, [], 1).eval()
    >>> _ = L1NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.5}]).compress(model)
    >>> small = shrink(model)
    >>> [b.linear.out_features for b in small.blocks]
    [64, 64]
    >>> x, c = torch.randn(4, 5), torch.zeros(4, 0, dtype=torch.long)
    >>> torch.allclose(model(x, c), small(x, c), atol=1e-6)
    True
    """
    import copy

    compact = copy.deepcopy(_as_compact(model))
    embeddings, keep_in = [], [torch.arange(compact.blocks[0].linear.in_features - sum(
        e.embedding_dim for e in compact.embeddings))]
    offset = len(keep_in[0])
    for emb in compact.embeddings:
        cols = torch.nonzero((emb.weight != 0).any(dim=0)).flatten()
        cols = cols if len(cols) else torch.zeros(1, dtype=torch.long)
        new = nn.Embedding(emb.num_embeddings, len(cols), dtype=emb.weight.dtype, device=emb.weight.device)
        new.weight.copy_(emb.weight[:, cols])
        embeddings.append(new.train(emb.training))
        keep_in.append(cols + offset)
        offset += emb.embedding_dim
    cols = torch.cat(keep_in)
    kept_out: list[torch.Tensor] = []  # per block: its old output positions that survive
    blocks = []
    for block in compact.blocks:
        alive = torch.nonzero(~_dead(block)).flatten()
        if len(alive) == 0:  # keep one channel so every layer keeps a valid shape
            alive = torch.zeros(1, dtype=torch.long)
        z_old = block.z_pos[alive]
        src, dst = block.src, block.dst
        if block.skip >= 0 and len(src):
            live_src = torch.isin(src, kept_out[block.skip])
            src, dst = src[live_src], dst[live_src]
        out_old = torch.unique(torch.cat([z_old, dst]))  # sorted
        new_src = _positions(src, kept_out[block.skip]) if block.skip >= 0 else src
        blocks.append(_CompactBlock(
            _slice_linear(block.linear, alive, cols), _slice_norm(block.norm, alive), block.act, block.dropout,
            len(out_old), _positions(z_old, out_old), block.skip, new_src, _positions(dst, out_old),
        ).train(block.training))
        kept_out.append(out_old)
        cols = out_old
    head = _slice_linear(compact.head, torch.arange(compact.head.out_features), cols)
    return CompactHead(embeddings, blocks, head).train(compact.training)
