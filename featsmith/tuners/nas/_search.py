"""The search loop: ask a strategy for a round of architectures, train them together, tell."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from featsmith.tuners.nas._mutables import ArchitectureSpace
from featsmith.tuners.nas._train import TrainedCandidate, TrainingData, train_candidates

logger = logging.getLogger("featsmith")

# Architectures proposed per round and trained together (grouped by batch size).
ROUND_SIZE = 8
# Rounds in a row without a new architecture before the space counts as exhausted.
_MAX_EMPTY_ROUNDS = 5
# Decisions a sibling resamples: they leave the network's shape alone, so a sibling trains in
# its proposal's batched group for a fraction of a separate candidate's cost.
SIBLING_LABELS = ("lr", "weight_decay", "dropout", "scaler")


@dataclass
class SearchResult:
    """History rows (one dict per evaluated candidate) and the best trained candidate."""

    history: list = field(default_factory=list)
    best: TrainedCandidate | None = None

    def record(self, cand: TrainedCandidate, round_: int, status: str, keep_model: bool = True):
        self.history.append(
            {
                "candidate": len(self.history),
                "round": round_,
                "status": status,
                "val_loss": cand.val_loss,
                "epochs": cand.epochs,
                "seconds": cand.seconds,
                "architecture": cand.arch,
            }
        )
        if keep_model and cand.model is not None and (self.best is None or cand.val_loss < self.best.val_loss):
            self.best = cand


def run_multi_trial(
    data: TrainingData,
    space: ArchitectureSpace,
    strategy,
    *,
    rng: np.random.Generator,
    deadline: float | None,
    max_candidates: int | None,
    max_epochs: int,
    patience: int,
    round_size: int = ROUND_SIZE,
    siblings: int = 1,
) -> SearchResult:
    """Run a multi-trial strategy until the deadline or ``max_candidates``.

    Each round asks the strategy for up to ``round_size`` architectures and adds, for each,
    ``siblings`` variants that differ only in training choices (``SIBLING_LABELS``); a
    sibling shares its proposal's shape, so it trains in the same batched group at little
    extra cost. Every trained candidate is told to the strategy.

    The first round is the space's default architecture alone (with its siblings) and always
    trains for at least one epoch, so a result exists even when the budget is too small for
    anything else.
    """
    strategy.setup(space, rng)
    result = SearchResult()
    seen: dict = {}
    empty = 0
    round_ = 0
    while True:
        left = np.inf if max_candidates is None else max_candidates - len(seen)
        if left <= 0 or (round_ > 0 and deadline is not None and time.perf_counter() >= deadline):
            break
        n = int(min(round_size, np.ceil(left / (1 + siblings))))
        if round_ == 0:
            # A small first round: the default architecture (and its siblings) gets the whole
            # machine, so a tiny budget still ends with a well-trained safe baseline.
            proposals = [space.default()]
        else:
            proposals = [space.canonicalize(a) for a in strategy.ask(n)]
        fresh = list(dict.fromkeys(a for a in proposals if a not in seen))
        for a in proposals:
            if a in seen:
                strategy.tell(a, seen[a])
        if not fresh:
            empty += 1
            if empty >= _MAX_EMPTY_ROUNDS:
                logger.info("NAS search: no new architecture in %d rounds; the space looks exhausted.", empty)
                break
            continue
        empty = 0
        extra = _siblings(space, fresh, siblings, left - len(fresh), seen, rng)
        batch = fresh + extra
        seeds = rng.integers(2**31 - 1, size=len(batch)).tolist()
        shuffle_seed = int(rng.integers(2**31 - 1))
        trained = train_candidates(
            data, batch, seeds, max_epochs=max_epochs, patience=patience, deadline=deadline,
            shuffle_seed=shuffle_seed, min_epochs=1 if round_ == 0 else 0,
        )
        for k, cand in enumerate(trained):
            if cand.epochs == 0:  # the deadline came first: not evaluated, not recorded
                continue
            seen[cand.arch] = cand.val_loss
            result.record(cand, round_, "trained" if k < len(fresh) else "sibling")
        for a in proposals + extra:
            if a in seen and (a in fresh or a in extra):
                strategy.tell(a, seen[a])
        logger.info(
            "NAS round %d: %d candidates, best validation loss so far %.5g", round_, len(fresh), result.best.val_loss
        )
        round_ += 1
    return result


def _siblings(space, archs, per_arch, limit, seen, rng) -> list:
    """Up to ``per_arch`` new variants of each architecture with resampled training choices."""
    labels = [lab for lab in SIBLING_LABELS if lab in space.decisions]
    taken = set(seen) | set(archs)
    out = []
    for a in archs:
        for _ in range(per_arch):
            if len(out) >= limit:
                return out
            for _attempt in range(4):
                d = space.decisions
                sib = space.canonicalize({**a, **{lab: d[lab].candidates[rng.integers(len(d[lab].candidates))] for lab in labels}})
                if sib not in taken:
                    taken.add(sib)
                    out.append(sib)
                    break
    return out
