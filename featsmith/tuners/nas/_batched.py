"""Cross-model batched training: K architectures of the tabular head space as one module.

Every parameter carries a leading ``K`` dimension and every layer is one batched op
(``torch.bmm`` for the linear layers, a gather for the embeddings), so the K candidates
share each mini-batch, each kernel launch and each optimiser step. Architectures need not have
the same shape: widths and embedding dimensions are padded to the group's maximum and the
padding is held at exactly zero (zero init, zero output mask, hence zero gradient), depth is
handled by reading each candidate's output after its own last block, and activations and
normalisations that differ between candidates are computed once per kind and selected per
candidate. Candidate ``k`` therefore computes exactly what
``TabularHeadSpace.fixed(archs[k], ...)`` computes, and :meth:`BatchedHead.export` returns that
concrete module with the trained weights. The gradient of candidate ``k`` depends only on its
own loss, so training K together equals training each alone on the same mini-batches.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from featsmith.tuners.nas._space import ACTIVATIONS, NORMS, SCALERS, TabularHeadSpace, fit_width

_BN_MOMENTUM = 0.1
_EPS = 1e-5


def _per_model(values, device, dtype=torch.float32):
    return torch.as_tensor(np.asarray(values), device=device, dtype=dtype).view(-1, 1, 1)


class BatchedHead(nn.Module):
    """K tabular-head candidates evaluated as one batched module.

    Parameters
    ----------
    archs : sequence of dict
        Canonical architectures of :class:`TabularHeadSpace` (same ``n_numeric``,
        ``cardinalities`` and ``n_outputs``).
    n_numeric, cardinalities, n_outputs
        As for :class:`TabularHeadSpace`.
    seeds : sequence of int
        One initialisation seed per candidate; candidate ``k``'s initial weights depend only
        on ``seeds[k]`` and its architecture.
    dims : dict, optional
        Padded sizes to use instead of the group's maxima (the one-shot supernet passes the
        space's maxima so every path fits).
    device : str or torch.device, default="cpu"

    Examples
    --------
    >>> import torch
    >>> from featsmith.tuners.nas import TabularHeadSpace
    >>> space = TabularHeadSpace.search_space(3, [], 1)
    >>> archs = [space.default(), space.sample(np.random.default_rng(0))]
    >>> head = BatchedHead(archs, 3, [], 1, seeds=[0, 1])
    >>> head(torch.zeros(2, 4, 3), torch.zeros(4, 0, dtype=torch.long)).shape
    torch.Size([2, 4, 1])
    """

    def __init__(self, archs, n_numeric, cardinalities, n_outputs, seeds, dims=None, device="cpu"):
        super().__init__()
        self.n_numeric = int(n_numeric)
        self.cardinalities = [int(c) for c in cardinalities]
        self.n_outputs = int(n_outputs)
        self.K = len(archs)
        if self.K == 0:
            raise ValueError("BatchedHead needs at least one architecture.")
        if len(seeds) != self.K:
            raise ValueError(f"got {len(seeds)} seeds for {self.K} architectures; pass one seed per architecture.")
        self.device_ = torch.device(device)
        dims = dict(dims or {})
        depths = [a["depth"] for a in archs]
        self.L = int(dims.get("depth", max(depths)))
        self.E = int(dims.get("embedding_dim", max((a.get("embedding_dim", 0) for a in archs), default=0)))
        if not self.cardinalities:
            self.E = 0
        if "width" in dims:
            self.widths = [int(dims["width"])] * self.L
            self.final_width = int(dims["width"])
        else:
            self.widths = [max(a[f"width_{i}"] for a in archs if a["depth"] > i) for i in range(self.L)]
            self.final_width = max(a[f"width_{a['depth'] - 1}"] for a in archs)
        n_cat = len(self.cardinalities)
        self.in_width = self.n_numeric + n_cat * self.E
        offsets = np.concatenate([[0], np.cumsum([c + 1 for c in self.cardinalities])])
        self.register_buffer("cat_offsets", torch.as_tensor(offsets[:-1], dtype=torch.long, device=self.device_))
        total_rows = int(offsets[-1])
        K, dev = self.K, self.device_

        self.emb = nn.Parameter(torch.zeros(K, total_rows, max(self.E, 1), device=dev)) if n_cat else None
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.gammas = nn.ParameterList()
        self.betas = nn.ParameterList()
        in_w = self.in_width
        for w in self.widths:
            self.weights.append(nn.Parameter(torch.zeros(K, in_w, w, device=dev)))
            self.biases.append(nn.Parameter(torch.zeros(K, 1, w, device=dev)))
            self.gammas.append(nn.Parameter(torch.ones(K, 1, w, device=dev)))
            self.betas.append(nn.Parameter(torch.zeros(K, 1, w, device=dev)))
            self.register_buffer(f"running_mean_{len(self.weights) - 1}", torch.zeros(K, 1, w, device=dev))
            self.register_buffer(f"running_var_{len(self.weights) - 1}", torch.ones(K, 1, w, device=dev))
            in_w = w
        self.head_weight = nn.Parameter(torch.zeros(K, self.final_width, self.n_outputs, device=dev))
        self.head_bias = nn.Parameter(torch.zeros(K, 1, self.n_outputs, device=dev))
        self.set_archs(archs)
        self.reset_parameters(seeds)

    # -- architecture-dependent configuration (no parameters): swapped per step by one-shot --
    def set_archs(self, archs):
        """Point the K slots at these architectures (parameters untouched)."""
        if len(archs) != self.K:
            raise ValueError(f"expected {self.K} architectures, got {len(archs)}.")
        dev = self.device_
        self.archs = [dict(a) for a in archs]
        depth = np.array([a["depth"] for a in archs])
        if depth.max() > self.L:
            raise ValueError(f"an architecture is deeper ({depth.max()}) than this batched head ({self.L}).")
        self._last = [torch.as_tensor(depth - 1 == i, device=dev).view(-1, 1, 1) for i in range(self.L)]
        self._last_any = [bool((depth - 1 == i).any()) for i in range(self.L)]
        self._scaler_idx = torch.as_tensor([SCALERS.index(a["scaler"]) for a in archs], device=dev)
        self._one_scaler = bool((self._scaler_idx == self._scaler_idx[0]).all())
        self._dropout = _per_model([a["dropout"] for a in archs], dev)
        self._keep = 1.0 - self._dropout
        self._dropout_scale = 1.0 / self._keep
        self._any_dropout = any(a["dropout"] > 0 for a in archs)
        kinds = np.array([ACTIVATIONS.index(a["activation"]) for a in archs])
        self._act_kinds = sorted(set(kinds.tolist()))
        self._act_sel = {k: torch.as_tensor(kinds == k, device=dev).view(-1, 1, 1) for k in self._act_kinds}
        norms = np.array([NORMS.index(a["norm"]) for a in archs])
        self._norm_kinds = sorted(set(norms.tolist()))
        self._norm_sel = {k: torch.as_tensor(norms == k, device=dev).view(-1, 1, 1) for k in self._norm_kinds}
        self._masks = []
        self._mask_counts = []
        for i, w in enumerate(self.widths):
            valid = np.array([a.get(f"width_{i}", 0) if a["depth"] > i else w for a in archs])
            self._masks.append(self._width_mask(valid, w))
            self._mask_counts.append(_per_model(np.maximum(valid, 1), dev))
        self._skips = []
        for i in range(self.L):
            src = np.array([a.get(f"skip_{i}", -1) if a["depth"] > i else -1 for a in archs])
            self._skips.append({j: torch.as_tensor(src == j, device=dev).view(-1, 1, 1) for j in set(src.tolist()) if j >= 0})
        if self.E:
            d = np.array([a["embedding_dim"] for a in archs])
            m = self._width_mask(d, self.E)
            self._emb_mask = None if m is None else m.view(self.K, 1, 1, self.E)
        else:
            self._emb_mask = None

    def _width_mask(self, valid, width):
        if (valid >= width).all():
            return None
        ar = np.arange(width)[None, :] < np.asarray(valid)[:, None]
        return torch.as_tensor(ar, dtype=torch.float32, device=self.device_).view(self.K, 1, width)

    def _input_rows(self, arch) -> np.ndarray:
        """Rows of the padded input layout that hold arch's compact input, in its order."""
        rows = [np.arange(self.n_numeric)]
        d = arch.get("embedding_dim", 0)
        for j in range(len(self.cardinalities)):
            rows.append(self.n_numeric + j * self.E + np.arange(d))
        return np.concatenate(rows).astype(int)

    @torch.no_grad()
    def reset_parameters(self, seeds):
        """Initialise slot k like torch initialises ``TabularHeadSpace.fixed(archs[k])``, from seeds[k]."""
        for k, (arch, seed) in enumerate(zip(self.archs, seeds)):
            g = torch.Generator(device="cpu").manual_seed(int(seed))
            if self.emb is not None:
                d = arch["embedding_dim"]
                self.emb[k].zero_()
                self.emb[k, :, :d] = torch.randn(self.emb.shape[1], d, generator=g).to(self.device_)
            rows = self._input_rows(arch)
            for i in range(arch["depth"]):
                w = arch[f"width_{i}"]
                fan_in = len(rows)
                bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
                W = self.weights[i]
                W[k].zero_()
                block = (torch.rand(fan_in, w, generator=g) * 2 - 1) * bound
                W[k, torch.as_tensor(rows, device=self.device_), :w] = block.to(self.device_)
                self.biases[i][k].zero_()
                self.biases[i][k, 0, :w] = ((torch.rand(w, generator=g) * 2 - 1) * bound).to(self.device_)
                self.gammas[i][k].fill_(1.0)
                self.betas[i][k].zero_()
                getattr(self, f"running_mean_{i}")[k].zero_()
                getattr(self, f"running_var_{i}")[k].fill_(1.0)
                rows = np.arange(w)
            w_last = arch[f"width_{arch['depth'] - 1}"]
            bound = 1.0 / math.sqrt(w_last)
            self.head_weight[k].zero_()
            self.head_weight[k, :w_last] = ((torch.rand(w_last, self.n_outputs, generator=g) * 2 - 1) * bound).to(self.device_)
            self.head_bias[k] = ((torch.rand(1, self.n_outputs, generator=g) * 2 - 1) * bound).to(self.device_)

    # -- forward ---------------------------------------------------------------------------
    def _inputs(self, x_num, x_cat):
        """x_num: (S, B, n_numeric), one slice per scaler in SCALERS order (or S == 1)."""
        K, B = self.K, x_cat.shape[0]
        if x_num.shape[0] == 1 or self._one_scaler:
            shared = x_num[0] if x_num.shape[0] == 1 else x_num[self._scaler_idx[0]]
            if self.emb is None:
                return shared  # (B, n): the first layer broadcasts it over the K candidates
            xn = shared.expand(K, B, self.n_numeric)
        else:
            xn = x_num[self._scaler_idx]
        if self.emb is None:
            return xn
        idx = x_cat + self.cat_offsets  # (B, n_cat)
        e = self.emb[:, idx]  # (K, B, n_cat, E)
        if self._emb_mask is not None:
            e = e * self._emb_mask
        return torch.cat([xn, e.reshape(K, B, -1)], dim=-1)

    def _norm(self, z, i):
        kinds = self._norm_kinds
        mask, count = self._masks[i], self._mask_counts[i]
        results = {}
        if 0 in kinds:
            results[0] = z
        gamma, beta = self.gammas[i], self.betas[i]
        if 1 in kinds:  # batch norm over the batch dimension, per candidate and unit
            rm, rv = getattr(self, f"running_mean_{i}"), getattr(self, f"running_var_{i}")
            if self.training:
                mean = z.mean(dim=1, keepdim=True)
                var = z.var(dim=1, keepdim=True, unbiased=False)
                n = z.shape[1]
                with torch.no_grad():
                    rm.mul_(1 - _BN_MOMENTUM).add_(mean.detach(), alpha=_BN_MOMENTUM)
                    rv.mul_(1 - _BN_MOMENTUM).add_(var.detach() * (n / max(n - 1, 1)), alpha=_BN_MOMENTUM)
            else:
                mean, var = rm, rv
            results[1] = (z - mean) / torch.sqrt(var + _EPS) * gamma + beta
        if 2 in kinds:  # layer norm over each candidate's own (unpadded) units
            if mask is None:
                results[2] = F.layer_norm(z, z.shape[-1:], eps=_EPS) * gamma + beta
            else:
                mean = z.sum(-1, keepdim=True) / count  # padded units are exactly zero
                centred = (z - mean) * mask
                var = centred.pow(2).sum(-1, keepdim=True) / count
                results[2] = centred / torch.sqrt(var + _EPS) * gamma + beta
        return self._select(results, self._norm_sel)

    @staticmethod
    def _select(results, selectors):
        if len(results) == 1:
            return next(iter(results.values()))
        out = None
        for kind, value in results.items():
            part = value * selectors[kind]
            out = part if out is None else out + part
        return out

    def _activation(self, z):
        funcs = {0: F.relu, 1: F.gelu, 2: F.silu}
        return self._select({k: funcs[k](z) for k in self._act_kinds}, self._act_sel)

    def forward(self, x_num: torch.Tensor, x_cat: torch.Tensor, generator=None) -> torch.Tensor:
        """Return the (K, B, n_outputs) predictions of all candidates."""
        h = self._inputs(x_num, x_cat)
        outs = []
        final = None
        for i in range(self.L):
            # matmul broadcasts a shared (B, n) input as one GEMM; bmm on an expanded copy is slower
            z = (torch.matmul(h, self.weights[i]) if h.dim() == 2 else torch.bmm(h, self.weights[i])) + self.biases[i]
            if self._masks[i] is not None:
                # Zero already unless weights are shared with wider paths (one-shot supernet).
                z = z * self._masks[i]
            z = self._activation(self._norm(z, i))
            if self.training and self._any_dropout:
                # One uniform draw shared by the K candidates, thresholded at each one's own
                # rate: every candidate's mask has the right law, at 1/K of the RNG cost.
                u = torch.rand((1,) + tuple(z.shape[1:]), generator=generator, device=z.device)
                # floor(u + keep) is 1 exactly when u >= rate; float ops avoid bool casts.
                z = z * (u + self._keep).floor_().mul_(self._dropout_scale)
            if self._masks[i] is not None:
                z = z * self._masks[i]
            for j, sel in self._skips[i].items():
                src = fit_width(outs[j], z.shape[-1]) * sel
                z = z + (src if self._masks[i] is None else src * self._masks[i])
            outs.append(z)
            h = z
            if self._last_any[i]:
                part = fit_width(z, self.final_width) * self._last[i]
                final = part if final is None else final + part
        return torch.bmm(final, self.head_weight) + self.head_bias

    # -- export ----------------------------------------------------------------------------
    @torch.no_grad()
    def export(self, k: int) -> TabularHeadSpace:
        """The concrete module of candidate ``k`` holding its current weights (in eval mode)."""
        arch = self.archs[k]
        model = TabularHeadSpace.fixed(arch, self.n_numeric, self.cardinalities, self.n_outputs).to(self.device_)
        d = arch.get("embedding_dim", 0)
        for j, emb in enumerate(model.embeddings):
            start = int(self.cat_offsets[j])
            emb.weight.copy_(self.emb[k, start : start + self.cardinalities[j] + 1, :d])
        rows = torch.as_tensor(self._input_rows(arch), device=self.device_)
        for i, block in enumerate(model.blocks):
            w = block.width
            block.linear.weight.copy_(self.weights[i][k][rows, :w].T)
            block.linear.bias.copy_(self.biases[i][k, 0, :w])
            if isinstance(block.norm, (nn.BatchNorm1d, nn.LayerNorm)):
                block.norm.weight.copy_(self.gammas[i][k, 0, :w])
                block.norm.bias.copy_(self.betas[i][k, 0, :w])
            if isinstance(block.norm, nn.BatchNorm1d):
                block.norm.running_mean.copy_(getattr(self, f"running_mean_{i}")[k, 0, :w])
                block.norm.running_var.copy_(getattr(self, f"running_var_{i}")[k, 0, :w])
            rows = torch.arange(w, device=self.device_)
        w_last = model.blocks[-1].width
        model.head.weight.copy_(self.head_weight[k, :w_last].T)
        model.head.bias.copy_(self.head_bias[k, 0])
        return model.eval()


class BatchedAdamW:
    """AdamW over parameters with a leading candidate dimension, with a learning rate and a
    weight decay per candidate (torch's AdamW takes one scalar per parameter group).

    Performs the same update as ``torch.optim.AdamW`` for each candidate slice.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        self.params = [p for p in params if p is not None]
        K = self.params[0].shape[0]
        dev = self.params[0].device
        self.lr = torch.as_tensor(np.asarray(lr, dtype=np.float32), device=dev).view(K)
        self.weight_decay = torch.as_tensor(np.asarray(weight_decay, dtype=np.float32), device=dev).view(K)
        self.betas, self.eps = betas, eps
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr_factor: float = 1.0):
        b1, b2 = self.betas
        self.step_count += 1
        bc1 = 1 - b1**self.step_count
        bc2_sqrt = math.sqrt(1 - b2**self.step_count)
        lr = self.lr * lr_factor
        decay = 1 - lr * self.weight_decay
        step = lr / bc1
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if not live:
            return
        params = [self.params[i] for i in live]
        grads = [p.grad for p in params]
        ms = [self.exp_avg[i] for i in live]
        vs = [self.exp_avg_sq[i] for i in live]
        # Multi-tensor ops where the factor is a scalar; per-parameter ops only where it is
        # the per-candidate learning rate.
        torch._foreach_lerp_(ms, grads, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, grads, grads, value=1 - b2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, self.eps)
        updates = torch._foreach_div(ms, denom)
        for p, u in zip(params, updates):
            shape = (-1,) + (1,) * (p.dim() - 1)
            p.mul_(decay.view(shape))
            p.sub_(u.mul_(step.view(shape)))

    def zero_grad(self):
        for p in self.params:
            p.grad = None
