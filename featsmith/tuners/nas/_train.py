"""Training of tabular-head candidates: one loop, a batched engine and a one-by-one engine.

The loop (:func:`train_candidates`) owns everything the candidates share: the mini-batch
order, the learning-rate schedule (linear warm-up then cosine decay), early stopping on the
validation split (per candidate, restoring each candidate's best epoch) and the deadline.
An engine owns the parameters: :class:`_BatchedEngine` trains K candidates as one
:class:`~featsmith.tuners.nas._batched.BatchedHead`, :class:`_SingleEngine` trains one concrete
:class:`~featsmith.tuners.nas.TabularHeadSpace` module with ``torch.optim.AdamW`` (the
reference the batched engine is measured against).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from featsmith.tuners.nas._batched import BatchedAdamW, BatchedHead
from featsmith.tuners.nas._space import SCALERS

__all__ = ["TrainingData", "TrainedCandidate", "train_candidates", "effective_batch_size"]

_WARMUP_FRACTION = 0.03
# Share of training category codes replaced by the "unknown" code 0 each step, so the
# unknown embedding learns something useful for categories first seen at predict time.
_CATEGORY_DROPOUT = 0.02
_EVAL_CHUNK = 8192


@dataclass
class TrainingData:
    """Preprocessed tensors of a training and a validation split.

    ``x_*`` hold one numeric slice per scaler, in the order of ``SCALERS``:
    shape ``(len(SCALERS), n_rows, n_numeric)``; ``c_*`` hold the categorical codes,
    shape ``(n_rows, n_categorical)``; ``y_*`` the targets (class index or standardised value).
    """

    task: str  # "binary" | "multiclass" | "regression"
    n_outputs: int
    cardinalities: list
    x_train: torch.Tensor
    c_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    c_val: torch.Tensor
    y_val: torch.Tensor

    @property
    def n_numeric(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def n_train(self) -> int:
        return int(self.c_train.shape[0])

    @property
    def device(self):
        return self.x_train.device


@dataclass
class TrainedCandidate:
    """One trained candidate: its validation loss at its best epoch and its concrete module."""

    arch: dict
    val_loss: float
    epochs: int
    seconds: float
    model: torch.nn.Module | None = field(default=None, repr=False)


# Cost model of one training step, in multiply-add equivalents, used to decide which
# candidates to batch together. A separate module pays a fixed per-step cost (Python,
# autograd and optimiser dispatch) that batching shares; padding a small candidate to a large
# group's shape costs compute. Measured on CPU: a step's fixed cost is worth about 1e8
# multiply-adds, and one elementwise pass over a value about 12.
_STEP_OVERHEAD = 1.0e8
_ELEMENTWISE = 12.0


def _group_cost(archs, n_numeric, n_categorical, batch_size) -> float:
    """Estimated cost of one training step of ``archs`` as one batched module."""
    K = len(archs)
    depth = max(a["depth"] for a in archs)
    emb = max((a.get("embedding_dim", 0) for a in archs), default=0) if n_categorical else 0
    widths = [max(a[f"width_{i}"] for a in archs if a["depth"] > i) for i in range(depth)]
    n_act = len({a["activation"] for a in archs})
    n_norm = len({a["norm"] for a in archs} - {"none"})
    passes = 6 + 3 * n_act + 8 * n_norm + (2 if n_act > 1 else 0) + (2 if n_norm else 0)
    fan_in = n_numeric + n_categorical * emb
    per_row = 0.0
    for w in widths:
        per_row += 3 * fan_in * w + _ELEMENTWISE * passes * w
        fan_in = w
    per_row += 3 * fan_in
    return _STEP_OVERHEAD + batch_size * K * per_row


def _structure(arch):
    """What must match for batching to stay cheap: mixing activations, normalisations,
    depths or skip patterns makes every candidate pay for all of them, which measured slower
    than training apart. Widths and embedding sizes may differ (padding; see the cost model)."""
    return (
        arch["depth"],
        arch["activation"],
        arch["norm"],
        tuple(arch.get(f"skip_{i}", -1) for i in range(1, arch["depth"])),
    )


def plan_groups(archs, n_numeric, n_categorical, batch_size) -> list[list[int]]:
    """Split candidates (of one batch size) into groups worth training as one batched module.

    Candidates of the same structure (depth, activation, normalisation, skips) may be grouped;
    greedily, largest first, each joins the group where batching it saves the most estimated
    time, or starts its own group when padding it would cost more than batching saves.
    """
    cost = {}

    def c(members):
        key = tuple(members)
        if key not in cost:
            cost[key] = _group_cost([archs[i] for i in members], n_numeric, n_categorical, batch_size)
        return cost[key]

    order = sorted(range(len(archs)), key=lambda i: -c([i]))
    groups: list[list[int]] = []
    for i in order:
        best, best_gain = None, 0.0
        for g in groups:
            if _structure(archs[g[0]]) != _structure(archs[i]):
                continue
            gain = c(g) + c([i]) - c(g + [i])
            if gain > best_gain:
                best, best_gain = g, gain
        if best is None:
            groups.append([i])
        else:
            best.append(i)
    return [sorted(g) for g in groups]


def effective_batch_size(batch_size: int, n_rows: int) -> int:
    """The architecture's batch size, shrunk on small data so an epoch has about 8 steps."""
    return int(max(1, min(batch_size, max(16, n_rows // 8), n_rows)))


def per_model_loss(task: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean loss of each candidate: ``out`` is (K, B, n_outputs), the result has shape (K,)."""
    K, B = out.shape[0], out.shape[1]
    if task == "binary":
        return F.binary_cross_entropy_with_logits(out[..., 0], y.expand(K, B), reduction="none").mean(1)
    if task == "multiclass":
        return F.cross_entropy(out.reshape(K * B, -1), y.repeat(K), reduction="none").view(K, B).mean(1)
    return (out[..., 0] - y).pow(2).mean(1)


def _schedule(step: int, total: int) -> float:
    warm = max(1, int(_WARMUP_FRACTION * total))
    return min(1.0, (step + 1) / warm) * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


class _BatchedEngine:
    def __init__(self, data: TrainingData, archs, seeds, dims=None):
        self.model = BatchedHead(
            archs, data.n_numeric, data.cardinalities, data.n_outputs, seeds=seeds, dims=dims, device=data.device
        )
        self.K = len(archs)
        self.opt = BatchedAdamW(
            list(self.model.parameters()),
            lr=[a["lr"] for a in archs],
            weight_decay=[a["weight_decay"] for a in archs],
        )
        self._best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def train_step(self, task, x, c, y, lr_factor, generator):
        self.model.train()
        losses = per_model_loss(task, self.model(x, c, generator), y)
        # A diverged candidate must not stop the others (its own gradient is then zero).
        losses = torch.where(torch.isfinite(losses), losses, torch.zeros_like(losses))
        losses.sum().backward()
        self.opt.step(lr_factor)
        self.opt.zero_grad()

    @torch.no_grad()
    def evaluate(self, task, x, c, y) -> np.ndarray:
        self.model.eval()
        total = torch.zeros(self.K, device=x.device, dtype=torch.float64)
        n = c.shape[0]
        for s in range(0, n, _EVAL_CHUNK):
            out = self.model(x[:, s : s + _EVAL_CHUNK], c[s : s + _EVAL_CHUNK])
            total += per_model_loss(task, out, y[s : s + _EVAL_CHUNK]).double() * out.shape[1]
        return (total / max(n, 1)).cpu().numpy()

    @torch.no_grad()
    def snapshot(self, improved: np.ndarray):
        idx = torch.as_tensor(np.flatnonzero(improved), device=self.model.device_)
        if len(idx) == 0:
            return
        for name, value in self.model.state_dict().items():
            if value.dim() and value.shape[0] == self.K:
                self._best[name][idx] = value[idx]

    @torch.no_grad()
    def restore(self):
        self.model.load_state_dict(self._best)

    def export(self, k):
        return self.model.export(k)


class _SingleEngine:
    K = 1

    def __init__(self, data: TrainingData, arch, seed):
        torch.manual_seed(int(seed))  # dropout masks (the caller forks the global RNG)
        # The same initial weights as slot k of a batched module with seeds[k] == seed, so a
        # candidate trains alike whether it is grouped or not.
        init = BatchedHead([arch], data.n_numeric, data.cardinalities, data.n_outputs, [seed], device=data.device)
        self.model = init.export(0)
        self.scaler = SCALERS.index(arch["scaler"])
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=arch["lr"], weight_decay=arch["weight_decay"])
        self.base_lr = arch["lr"]
        self._best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _forward(self, x, c):
        return self.model(x[self.scaler], c).unsqueeze(0)

    def train_step(self, task, x, c, y, lr_factor, generator):
        self.model.train()
        for group in self.opt.param_groups:
            group["lr"] = self.base_lr * lr_factor
        loss = per_model_loss(task, self._forward(x, c), y).sum()
        if torch.isfinite(loss):
            loss.backward()
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    @torch.no_grad()
    def evaluate(self, task, x, c, y) -> np.ndarray:
        self.model.eval()
        return np.array([float(per_model_loss(task, self._forward(x, c), y)[0])])

    @torch.no_grad()
    def snapshot(self, improved):
        if improved[0]:
            self._best = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    @torch.no_grad()
    def restore(self):
        self.model.load_state_dict(self._best)

    def export(self, k):
        return self.model.eval()


def _fit(engine, data: TrainingData, batch_size, max_epochs, patience, deadline, seed, min_epochs):
    dev = data.device
    n = data.n_train
    n_batches = max(1, math.ceil(n / batch_size))
    total = max_epochs * n_batches
    g_cpu = torch.Generator().manual_seed(int(seed))
    g_dev = torch.Generator(device=dev).manual_seed(int(seed) + 1)
    best = np.full(engine.K, np.inf)
    stale = np.zeros(engine.K, dtype=int)
    step = epochs = 0
    has_cat = data.c_train.shape[1] > 0
    for epoch in range(max_epochs):
        if deadline is not None and epoch >= min_epochs and time.perf_counter() >= deadline:
            break
        perm = torch.randperm(n, generator=g_cpu).to(dev)
        for idx in torch.tensor_split(perm, n_batches):
            c = data.c_train[idx]
            if has_cat:
                drop = torch.rand(c.shape, generator=g_dev, device=dev) < _CATEGORY_DROPOUT
                c = c.masked_fill(drop, 0)
            engine.train_step(data.task, data.x_train[:, idx], c, data.y_train[idx], _schedule(step, total), g_dev)
            step += 1
        epochs = epoch + 1
        val = engine.evaluate(data.task, data.x_val, data.c_val, data.y_val)
        val = np.where(np.isfinite(val), val, np.inf)
        improved = val < best
        engine.snapshot(improved)
        best = np.minimum(best, val)
        stale = np.where(improved, 0, stale + 1)
        if (stale >= patience).all():
            break
    engine.restore()
    return best, epochs


def train_candidates(
    data: TrainingData,
    archs: Sequence[dict],
    seeds: Sequence[int],
    *,
    max_epochs: int = 40,
    patience: int = 6,
    deadline: float | None = None,
    batched: bool = True,
    min_epochs: int = 1,
    shuffle_seed: int = 0,
    export: bool = True,
) -> list[TrainedCandidate]:
    """Train candidates on ``data`` and return them in input order.

    With ``batched=True``, candidates with the same effective batch size are split by
    :func:`plan_groups` into groups that are each trained as one batched module (equal or
    similar shapes end up together; a candidate whose padding would cost more than batching
    saves trains in its own group). A group of one, and every candidate with
    ``batched=False`` (the reference), trains as a concrete module with ``torch.optim.AdamW``
    from the same initial weights. All see the same mini-batches, schedule and early stopping.

    Parameters
    ----------
    data : TrainingData
    archs : sequence of dict
        Canonical architectures of :class:`TabularHeadSpace`.
    seeds : sequence of int
        Initialisation seed of each candidate.
    max_epochs, patience : int
        Epoch limit and early-stopping patience (epochs without a better validation loss).
    deadline : float, optional
        A ``time.perf_counter()`` value; no epoch starts after it, except the first
        ``min_epochs``. A candidate that got no epoch has ``epochs == 0`` and an infinite loss.
    export : bool
        Whether to return each candidate's concrete module (at its best epoch).
    """
    results: list[TrainedCandidate | None] = [None] * len(archs)
    groups: dict[int, list[int]] = {}
    for i, a in enumerate(archs):
        groups.setdefault(effective_batch_size(a["batch_size"], data.n_train), []).append(i)
    n_cat = len(data.cardinalities)
    for bs, members in groups.items():
        if batched:
            plan = plan_groups([archs[i] for i in members], data.n_numeric, n_cat, bs)
            units = [[members[j] for j in g] for g in plan]
        else:
            units = [[m] for m in members]
        for unit in units:
            t0 = time.perf_counter()
            if len(unit) > 1:
                engine = _BatchedEngine(data, [archs[i] for i in unit], [seeds[i] for i in unit])
                best, epochs = _fit(engine, data, bs, max_epochs, patience, deadline, shuffle_seed, min_epochs)
            else:
                cuda = [data.device.index or 0] if data.device.type == "cuda" else []
                with torch.random.fork_rng(devices=cuda):
                    engine = _SingleEngine(data, archs[unit[0]], seeds[unit[0]])
                    best, epochs = _fit(engine, data, bs, max_epochs, patience, deadline, shuffle_seed, min_epochs)
            seconds = (time.perf_counter() - t0) / len(unit)
            for k, i in enumerate(unit):
                model = engine.export(k) if export else None
                results[i] = TrainedCandidate(archs[i], float(best[k]), epochs, seconds, model)
    return results
