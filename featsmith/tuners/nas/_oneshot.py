"""One-shot weight-sharing search (single-path supernet, as in SPOS / Retiarii's RandomOneShot).

One supernet holds every path of the space at its largest size: a narrower block uses the
first units of the widest one, a smaller embedding the first dimensions, a shallower network
the first blocks. It is trained once, each mini-batch on a uniformly sampled path. Candidates
are then ranked by their validation loss with the inherited weights (batch-norm statistics
recalibrated per candidate, since shared statistics belong to no single path), and the best
few are retrained from scratch, together, with the ordinary trainer.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from featsmith.tuners.nas._batched import BatchedAdamW, BatchedHead
from featsmith.tuners.nas._mutables import Architecture, ArchitectureSpace
from featsmith.tuners.nas._search import SearchResult
from featsmith.tuners.nas._train import (
    TrainedCandidate,
    TrainingData,
    _schedule,
    effective_batch_size,
    per_model_loss,
    train_candidates,
)

logger = logging.getLogger("featsmith")

# Training choices are not searched by weight sharing: one supernet has one optimiser.
_TRAINING_LABELS = ("lr", "weight_decay", "batch_size")
_RECALIBRATION_BATCHES = 4
_RANK_CHUNK = 16


class OneShotStrategy:
    """Single-path one-shot search with weight sharing.

    Parameters
    ----------
    supernet_share : float, default=0.5
        Share of the time budget the supernet may use (it also stops after ``max_epochs``).
    n_ranked : int, default=64
        Architectures ranked with inherited weights (``max_candidates`` overrides it).
    n_retrain : int, default=4
        Best-ranked architectures retrained from scratch, together; the best of them wins.

    Examples
    --------
    >>> s = OneShotStrategy(n_ranked=16, n_retrain=2)
    >>> s.n_retrain
    2
    """

    def __init__(self, supernet_share: float = 0.5, n_ranked: int = 64, n_retrain: int = 4):
        if not 0 < supernet_share <= 1:
            raise ValueError(f"supernet_share must be in (0, 1], got {supernet_share}.")
        if n_ranked < 1 or n_retrain < 1:
            raise ValueError(f"n_ranked and n_retrain must be >= 1, got {n_ranked} and {n_retrain}.")
        self.supernet_share = supernet_share
        self.n_ranked = n_ranked
        self.n_retrain = n_retrain

    @staticmethod
    def _max_dims(space: ArchitectureSpace) -> dict:
        d = space.decisions
        widths = [max(dec.candidates) for lab, dec in d.items() if lab.startswith("width_")]
        dims = {"depth": max(d["depth"].candidates), "width": max(widths)}
        if "embedding_dim" in d:
            dims["embedding_dim"] = max(d["embedding_dim"].candidates)
        return dims

    def _with_training_defaults(self, space, arch):
        default = space.default()
        return space.canonicalize({**arch, **{k: default[k] for k in _TRAINING_LABELS}})

    @staticmethod
    def _widest(space, default, dims):
        return space.canonicalize({**default, "depth": dims["depth"], **{f"width_{i}": dims["width"] for i in range(dims["depth"])},
                                   **({"embedding_dim": dims["embedding_dim"]} if "embedding_dim" in dims else {})})

    def _new_supernet(self, data, space, default, dims, seed):
        """The supernet on the default path, every shared unit initialised as in the widest path."""
        net = BatchedHead([default], data.n_numeric, data.cardinalities, data.n_outputs, [seed], dims=dims, device=data.device)
        with torch.no_grad():  # start every shared unit from a proper init, not the default path's zero padding
            full = BatchedHead([self._widest(space, default, dims)], data.n_numeric, data.cardinalities,
                               data.n_outputs, [seed], dims=dims, device=data.device)
            net.load_state_dict(full.state_dict())
        return net

    def _retrain_best(self, data, archs, losses, epochs, t0, rng, deadline, max_epochs, patience, label):
        """Record the ranked candidates, retrain the best ``n_retrain`` from scratch, together."""
        result = SearchResult()
        seconds = (time.perf_counter() - t0) / len(archs)
        for a, v in zip(archs, losses):
            result.record(TrainedCandidate(Architecture(a), float(v), epochs, seconds), 0, "ranked", keep_model=False)
        order = np.argsort(losses, kind="stable")[: min(self.n_retrain, len(archs))]
        chosen = [archs[i] for i in order]
        logger.info("NAS %s: supernet %d epochs, %d ranked, retraining %d", label, epochs, len(archs), len(chosen))
        trained = train_candidates(
            data,
            chosen,
            rng.integers(2**31 - 1, size=len(chosen)).tolist(),
            max_epochs=max_epochs,
            patience=patience,
            deadline=deadline,
            shuffle_seed=int(rng.integers(2**31 - 1)),
        )
        for cand in trained:
            result.record(cand, 1, "retrained")
        return result

    def _train_supernet(self, data, space, rng, deadline, max_epochs):
        default = self._with_training_defaults(space, space.default())
        dims = self._max_dims(space)
        seed = int(rng.integers(2**31 - 1))
        net = self._new_supernet(data, space, default, dims, seed)
        opt = BatchedAdamW(list(net.parameters()), lr=[default["lr"]], weight_decay=[default["weight_decay"]])
        bs = effective_batch_size(default["batch_size"], data.n_train)
        n_batches = max(1, math.ceil(data.n_train / bs))
        total = max_epochs * n_batches
        g_cpu = torch.Generator().manual_seed(seed)
        g_dev = torch.Generator(device=data.device).manual_seed(seed + 1)
        step = epochs = 0
        for epoch in range(max_epochs):
            perm = torch.randperm(data.n_train, generator=g_cpu).to(data.device)
            for idx in torch.tensor_split(perm, n_batches):
                net.set_archs([self._with_training_defaults(space, space.sample(rng))])
                net.train()
                loss = per_model_loss(data.task, net(data.x_train[:, idx], data.c_train[idx], g_dev), data.y_train[idx])
                if torch.isfinite(loss).all():
                    loss.sum().backward()
                    opt.step(_schedule(step, total))
                opt.zero_grad()
                step += 1
            epochs = epoch + 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return net, dims, epochs

    @torch.no_grad()
    def _rank(self, net, dims, data, archs, rng):
        """Validation loss of each architecture with the supernet's weights."""
        losses = []
        bs = effective_batch_size(archs[0]["batch_size"], data.n_train)
        for s in range(0, len(archs), _RANK_CHUNK):
            chunk = archs[s : s + _RANK_CHUNK]
            head = BatchedHead(chunk, data.n_numeric, data.cardinalities, data.n_outputs, [0] * len(chunk), dims=dims, device=data.device)
            for name, value in net.state_dict().items():
                target = head.state_dict()[name]
                target.copy_(value.expand_as(target) if value.shape[0] == 1 else value)
            if any(a["norm"] == "batch" for a in chunk):
                head.train()
                seed = int(rng.integers(2**31 - 1))
                g = torch.Generator().manual_seed(seed)
                g_dev = torch.Generator(device=data.device).manual_seed(seed + 1)
                for i in range(head.L):
                    getattr(head, f"running_mean_{i}").zero_()
                    getattr(head, f"running_var_{i}").fill_(1.0)
                for _ in range(_RECALIBRATION_BATCHES):
                    idx = torch.randperm(data.n_train, generator=g)[:bs].to(data.device)
                    head(data.x_train[:, idx], data.c_train[idx], g_dev)
            head.eval()
            out = head(data.x_val, data.c_val)
            val = per_model_loss(data.task, out, data.y_val).double().cpu().numpy()
            losses.extend(np.where(np.isfinite(val), val, np.inf).tolist())
        return losses

    def search(
        self,
        data: TrainingData,
        space: ArchitectureSpace,
        *,
        rng: np.random.Generator,
        deadline: float | None,
        max_candidates: int | None,
        max_epochs: int,
        patience: int,
    ) -> SearchResult:
        """Train the supernet, rank candidates with inherited weights, retrain the best."""
        t0 = time.perf_counter()
        super_deadline = None if deadline is None else t0 + self.supernet_share * (deadline - t0)
        net, dims, epochs = self._train_supernet(data, space, rng, super_deadline, max_epochs)
        n_ranked = int(max_candidates or self.n_ranked)
        archs = [self._with_training_defaults(space, space.default())]
        attempts = 0
        while len(archs) < n_ranked and attempts < 20 * n_ranked:
            a = self._with_training_defaults(space, space.sample(rng))
            attempts += 1
            if a not in archs:
                archs.append(a)
        losses = self._rank(net, dims, data, archs, rng)
        return self._retrain_best(data, archs, losses, epochs, t0, rng, deadline, max_epochs, patience, "one-shot")
