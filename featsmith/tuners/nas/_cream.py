"""Cream of the Crop (Peng et al., NeurIPS 2020) for the tabular head: one-shot search in which
the best paths found so far teach the paths being trained.

The supernet is the one of :class:`~featsmith.tuners.nas.OneShotStrategy` (shared weights,
every path at the largest size), trained on one sampled path per mini-batch. Beside it a
*prioritized path board* keeps the best paths seen so far, ranked by their validation loss with
the shared weights plus a small penalty on their size. Once the board has paths, each sampled
path is trained on the labels and, with ``distill_weight``, on the output of the board path that
matches it best (the most decisions in common, then the best score) computed with the same
shared weights: strong paths pull the weak ones towards what works, which is Cream's answer to
the poor ranking of plainly weight-shared supernets. Cream picks the teacher with a learned
meta-network; matching by decisions keeps this version cheap and deterministic. The board is
re-scored every epoch. At the end the board's paths are ranked with inherited weights (batch
norm recalibrated) and the best are retrained from scratch, as in one-shot search.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from featsmith.tuners.nas._batched import BatchedAdamW
from featsmith.tuners.nas._mutables import Architecture, ArchitectureSpace
from featsmith.tuners.nas._oneshot import OneShotStrategy
from featsmith.tuners.nas._search import SearchResult
from featsmith.tuners.nas._train import TrainingData, _schedule, effective_batch_size, per_model_loss

logger = logging.getLogger("featsmith")

# Rows of the validation split a path is scored on for the board.
_BOARD_ROWS = 2048
# Board updates per epoch (a sampled path is scored and may enter).
_UPDATES_PER_EPOCH = 8


def _n_weights(arch, n_numeric, n_categorical) -> int:
    """Weights of the path's linear layers: the size term of the board's priority."""
    fan_in = n_numeric + n_categorical * arch.get("embedding_dim", 0)
    total = 0
    for i in range(arch["depth"]):
        w = arch[f"width_{i}"]
        total += fan_in * w + w
        fan_in = w
    return total + fan_in


def _distill_loss(task, student, teacher):
    """How far the student path's output is from the teacher path's, per task."""
    if task == "binary":
        return F.binary_cross_entropy_with_logits(student[..., 0], torch.sigmoid(teacher[..., 0]))
    if task == "multiclass":
        return F.kl_div(F.log_softmax(student, -1), F.log_softmax(teacher, -1), log_target=True,
                        reduction="none").sum(-1).mean()
    return (student[..., 0] - teacher[..., 0]).pow(2).mean()


class CreamStrategy(OneShotStrategy):
    """One-shot search with a prioritized path board whose best matching path distils into each
    sampled path (Cream of the Crop).

    Parameters
    ----------
    supernet_share : float, default=0.5
        Share of the time budget for the supernet; the rest ranks the board and retrains.
    board_size : int, default=8
        Paths kept on the board.
    distill_weight : float, default=0.5
        Weight of the teacher's output in a sampled path's loss (the labels get the rest).
    size_penalty : float, default=0.02
        Board priority is validation loss times ``1 + size_penalty * weights / largest path's``:
        among equally good paths the smaller ranks first.
    n_retrain : int, default=4
        Best board paths retrained from scratch, together; the best of them wins.

    Examples
    --------
    >>> s = CreamStrategy(board_size=4, n_retrain=2)
    >>> s.board_size, s.n_retrain
    (4, 2)
    """

    def __init__(self, supernet_share: float = 0.5, board_size: int = 8, distill_weight: float = 0.5,
                 size_penalty: float = 0.02, n_retrain: int = 4):
        super().__init__(supernet_share=supernet_share, n_ranked=board_size, n_retrain=n_retrain)
        if board_size < 1:
            raise ValueError(f"board_size must be >= 1, got {board_size}.")
        if not 0 <= distill_weight < 1:
            raise ValueError(f"distill_weight must be in [0, 1), got {distill_weight}.")
        if size_penalty < 0:
            raise ValueError(f"size_penalty must be >= 0, got {size_penalty}.")
        self.board_size = board_size
        self.distill_weight = distill_weight
        self.size_penalty = size_penalty

    # -- the board ----------------------------------------------------------------------
    def _priority(self, loss, arch, data, largest):
        size = _n_weights(arch, data.n_numeric, len(data.cardinalities))
        return loss * (1.0 + self.size_penalty * size / largest)

    @torch.no_grad()
    def _score(self, net, arch, data, rows):
        net.set_archs([arch])
        net.eval()
        out = net(data.x_val[:, rows], data.c_val[rows])
        loss = float(per_model_loss(data.task, out, data.y_val[rows])[0])
        return loss if math.isfinite(loss) else math.inf

    def _offer(self, board, arch, loss, data, largest):
        """Put ``arch`` on the board if it beats the worst entry (or the board has room)."""
        if not math.isfinite(loss):
            return
        entry = (self._priority(loss, arch, data, largest), loss, arch)
        board[:] = [e for e in board if e[2] != arch]
        board.append(entry)
        board.sort(key=lambda e: e[0])
        del board[self.board_size:]

    @staticmethod
    def _match(board, arch):
        """The board path with the most decisions in common with ``arch``, the better first on ties."""
        def common(other):
            return sum(other.get(k) == v for k, v in arch.items())
        return max(board, key=lambda e: (common(e[2]), -e[0]))[2]

    # -- training -------------------------------------------------------------------------
    def _train_supernet(self, data, space, rng, deadline, max_epochs):
        default = self._with_training_defaults(space, space.default())
        dims = self._max_dims(space)
        net = self._new_supernet(data, space, default, dims, int(rng.integers(2**31 - 1)))
        opt = BatchedAdamW(list(net.parameters()), lr=[default["lr"]], weight_decay=[default["weight_decay"]])
        bs = effective_batch_size(default["batch_size"], data.n_train)
        n_batches = max(1, math.ceil(data.n_train / bs))
        total = max_epochs * n_batches
        g_cpu = torch.Generator().manual_seed(int(rng.integers(2**31 - 1)))
        g_dev = torch.Generator(device=data.device).manual_seed(int(rng.integers(2**31 - 1)))
        largest = _n_weights(self._widest(space, default, dims), data.n_numeric, len(data.cardinalities))
        n_val = int(data.c_val.shape[0])
        board: list = []
        every = max(1, n_batches // _UPDATES_PER_EPOCH)
        step = epochs = n_distilled = 0
        for epoch in range(max_epochs):
            rows = torch.randperm(n_val, generator=g_cpu)[:_BOARD_ROWS].to(data.device)
            # Shared weights moved since the board's paths were scored: score them again.
            for _, _, arch in list(board):
                self._offer(board, arch, self._score(net, arch, data, rows), data, largest)
            perm = torch.randperm(data.n_train, generator=g_cpu).to(data.device)
            for b, idx in enumerate(torch.tensor_split(perm, n_batches)):
                arch = self._with_training_defaults(space, space.sample(rng))
                x, c, y = data.x_train[:, idx], data.c_train[idx], data.y_train[idx]
                teacher_out = None
                if board and epoch > 0:  # after one epoch the board's paths have learnt something
                    teacher = self._match(board, arch)
                    if teacher != arch:
                        net.set_archs([teacher])
                        net.eval()
                        with torch.no_grad():
                            teacher_out = net(x, c)
                net.set_archs([arch])
                net.train()
                out = net(x, c, g_dev)
                loss = per_model_loss(data.task, out, y).sum()
                if teacher_out is not None:
                    loss = (1 - self.distill_weight) * loss + self.distill_weight * _distill_loss(
                        data.task, out, teacher_out)
                    n_distilled += 1
                if torch.isfinite(loss):
                    loss.backward()
                    opt.step(_schedule(step, total))
                opt.zero_grad()
                step += 1
                if b % every == every - 1:
                    self._offer(board, arch, self._score(net, arch, data, rows), data, largest)
            epochs = epoch + 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
        self.board_ = [(loss, Architecture(arch)) for _, loss, arch in board]
        self.distilled_steps_ = n_distilled
        return net, dims, epochs

    def search(self, data: TrainingData, space: ArchitectureSpace, *, rng: np.random.Generator,
               deadline: float | None, max_candidates: int | None, max_epochs: int, patience: int) -> SearchResult:
        """Train the supernet with the board, rank the board's paths, retrain the best."""
        t0 = time.perf_counter()
        super_deadline = None if deadline is None else t0 + self.supernet_share * (deadline - t0)
        net, dims, epochs = self._train_supernet(data, space, rng, super_deadline, max_epochs)
        archs = [a for _, a in self.board_] or [self._with_training_defaults(space, space.default())]
        if max_candidates is not None:
            archs = archs[: int(max_candidates)]
        losses = self._rank(net, dims, data, archs, rng)
        return self._retrain_best(data, archs, losses, epochs, t0, rng, deadline, max_epochs, patience,
                                  f"cream ({self.distilled_steps_} distilled steps, board of {len(archs)})")
