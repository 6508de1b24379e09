"""Compress a fitted NAS-head estimator: prune while fine-tuning, shrink, int8."""

from __future__ import annotations

import copy
import logging
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted, validate_data

from featsmith.compress._pruners import AGPPruner, L1NormPruner, L2NormPruner, LevelPruner, apply_masks
from featsmith.compress._quantize import Int8Linear, quantize_int8
from featsmith.compress._shrink import shrink

__all__ = ["compress_head", "fine_tune"]

logger = logging.getLogger("featsmith")

METHODS = {"l1": L1NormPruner, "l2": L2NormPruner, "level": LevelPruner}
# AGP reaches the final sparsity after this share of the fine-tuning steps; the rest recovers.
_PRUNE_SHARE = 0.6
# Fine-tuning starts from a trained network: a fraction of the search's learning rate.
_LR_SCALE = 0.3
_MIN_ROWS_TO_HOLD_OUT = 100
# epochs=None: about this many optimiser steps (10 to 100 epochs): pruning half the channels
# needs a few hundred steps to recover on small data, where an epoch is only a few steps.
_AUTO_STEPS = 800


def _is_classifier(est) -> bool:
    return hasattr(est, "classes_")


def _soft(est, X_rows, soft_targets):
    """A teacher's predictions in the head's output space: the probability of class 1
    (binary), class probabilities (multiclass) or the standardised value (regression)."""
    t = np.asarray(soft_targets, dtype=np.float64)
    if len(t) != X_rows:
        raise ValueError(f"soft_targets has {len(t)} rows but X has {X_rows}; give one prediction per row.")
    if not _is_classifier(est):
        return torch.as_tensor((t.reshape(-1) - est.y_mean_) / est.y_scale_, dtype=torch.float32)
    n_classes = len(est.classes_)
    if t.ndim != 2 or t.shape[1] != n_classes:
        raise ValueError(f"soft_targets must be class probabilities of shape (n_rows, {n_classes}), "
                         f"got shape {t.shape}.")
    return torch.as_tensor(t[:, 1] if n_classes == 2 else t, dtype=torch.float32)


def _hard(est, X_rows, y):
    """Labels in the same space: 0/1, one-hot rows, or the standardised value."""
    y = np.asarray(y).reshape(-1)
    if len(y) != X_rows:
        raise ValueError(f"y has {len(y)} rows but X has {X_rows}.")
    if not _is_classifier(est):
        return torch.as_tensor((y.astype(np.float64) - est.y_mean_) / est.y_scale_, dtype=torch.float32)
    codes = np.clip(np.searchsorted(est.classes_, y), 0, len(est.classes_) - 1)
    if not np.all(est.classes_[codes] == y):
        raise ValueError(f"y holds labels not among the estimator's classes_ {est.classes_.tolist()}.")
    if len(est.classes_) == 2:
        return torch.as_tensor(codes, dtype=torch.float32)
    return F.one_hot(torch.as_tensor(codes), len(est.classes_)).float()


def _targets(est, X_rows, y, soft_targets):
    """The training target: the labels, the teacher's predictions, or their average (the
    losses used here are linear in the target, so averaging targets averages the losses)."""
    if y is None and soft_targets is None:
        raise ValueError("fine-tuning needs y or soft_targets.")
    parts = ([] if y is None else [_hard(est, X_rows, y)]) + (
        [] if soft_targets is None else [_soft(est, X_rows, soft_targets)])
    return sum(parts) / len(parts)


@torch.no_grad()
def _eval_loss(model, x_num, x_cat, target, classifier) -> float:
    model.eval()
    loss = float(_loss(model(x_num, x_cat), target, classifier))
    model.train()
    return loss if math.isfinite(loss) else math.inf


def _loss(out, target, classifier):
    if not classifier:
        return (out[:, 0] - target).pow(2).mean()
    if target.dim() == 1:
        return F.binary_cross_entropy_with_logits(out[:, 0], target)
    return -(target * F.log_softmax(out, dim=1)).sum(1).mean()


def fine_tune(estimator, X, y=None, *, soft_targets=None, pruner=None, epochs=None, time_budget=None,
              validation_fraction=0.15, random_state=0):
    """Train a fitted NAS head further, in place, optionally pruning it gradually (AGP).

    Parameters
    ----------
    estimator : NASHeadClassifier or NASHeadRegressor
        Fitted; its ``model_`` is trained further (its preprocessing is kept).
    X : array-like
        Rows in the estimator's input format.
    y : array-like, optional
        Labels or values.
    soft_targets : array-like, optional
        A teacher's class probabilities ``(n, n_classes)`` or predicted values, for
        distillation; with ``y`` too, the loss is the average of both.
    pruner : LevelPruner, L1NormPruner, L2NormPruner or AGPPruner, optional
        Pruned gradually along the AGP schedule over the first 60% of the steps; the pruned
        weights stay zero afterwards.
    epochs : int, optional
        Default: enough for about 800 optimiser steps, between 10 and 100 epochs.
    time_budget : float, optional
        Seconds; training stops at the end of the step that crosses it (the final pruning
        is applied either way).
    validation_fraction : float, default=0.15
        Rows held out (from 100 rows up); once the pruning is complete, the epoch with the
        lowest loss on them is kept. 0 trains on every row and keeps the last epoch.
    random_state : int, default=0

    Returns
    -------
    estimator

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from featsmith.tuners.nas import NASHeadClassifier
    >>> X, y = make_classification(n_samples=300, random_state=0)
    >>> clf = NASHeadClassifier(max_candidates=1, max_epochs=3, random_state=0).fit(X, y)
    >>> pruner = L1NormPruner([{"op_types": ["Linear"], "sparse_ratio": 0.5}])
    >>> clf = fine_tune(clf, X, y, pruner=pruner, epochs=2)
    >>> int((clf.model_.blocks[0].linear.weight.abs().sum(1) == 0).sum()) >= 1
    True
    """
    check_is_fitted(estimator, "model_")
    if any(isinstance(m, Int8Linear) for m in estimator.model_.modules()):
        raise ValueError("the head is already int8; fine-tune before quantize_int8.")
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction={validation_fraction!r} must be in [0, 1).")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs={epochs!r} must be a positive integer or None.")
    start = time.perf_counter()
    X = validate_data(estimator, X, reset=False, ensure_all_finite=False, dtype=np.float64)
    target = _targets(estimator, X.shape[0], y, soft_targets)
    arch = estimator.best_architecture_
    x_num, x_cat = estimator.preprocessor_.transform_one(X, arch["scaler"])
    x_num = torch.as_tensor(x_num)
    x_cat = torch.as_tensor(x_cat)
    model = estimator.model_
    dtype = next(model.parameters()).dtype
    model.float().train()
    gen = torch.Generator().manual_seed(int(random_state))
    rows = torch.randperm(X.shape[0], generator=gen)
    n_val = int(validation_fraction * len(rows)) if len(rows) >= _MIN_ROWS_TO_HOLD_OUT else 0
    val, train = rows[:n_val], rows[n_val:]
    n = len(train)
    batch = int(max(2, min(arch.get("batch_size", 256), max(16, n // 8), n)))
    n_batches = max(1, n // batch)  # whole batches only: batch norm needs two rows or more
    if epochs is None:
        epochs = int(np.clip(math.ceil(_AUTO_STEPS / n_batches), 10, 100))
    total = epochs * n_batches
    agp = pruner if isinstance(pruner, AGPPruner) or pruner is None else AGPPruner(
        pruner, max(1, int(_PRUNE_SHARE * total)))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=arch.get("lr", 1e-3) * _LR_SCALE, weight_decay=arch.get("weight_decay", 0.0))
    base_lrs = [g["lr"] for g in opt.param_groups]
    classifier = _is_classifier(estimator)
    masks = agp.step(model, 0) if agp is not None else {}
    best, best_loss, step = None, math.inf, 0
    with torch.enable_grad():
        for _ in range(epochs):
            perm = train[torch.randperm(n, generator=gen)[: n_batches * batch]].view(n_batches, batch)
            for idx in perm:
                factor = 0.5 * (1.0 + math.cos(math.pi * step / total))
                for g, lr in zip(opt.param_groups, base_lrs):
                    g["lr"] = lr * factor
                loss = _loss(model(x_num[idx], x_cat[idx]), target[idx], classifier)
                opt.zero_grad(set_to_none=True)
                if torch.isfinite(loss):
                    loss.backward()
                    opt.step()
                step += 1
                if agp is not None:
                    masks = agp.step(model, step) if step <= agp.total_steps else masks
                    apply_masks(model, masks)
                if time_budget is not None and time.perf_counter() - start > time_budget:
                    break
            else:
                # Once pruning is complete, keep the epoch that validates best on the held-out rows.
                if n_val and (agp is None or step >= agp.total_steps):
                    loss = _eval_loss(model, x_num[val], x_cat[val], target[val], classifier)
                    if loss < best_loss:
                        best_loss, best = loss, copy.deepcopy(model.state_dict())
                continue
            break
    if best is not None:
        model.load_state_dict(best)
    if agp is not None:
        agp.step(model, agp.total_steps)
    estimator.model_ = model.to(dtype).eval()
    return estimator


def compress_head(estimator, X=None, y=None, *, sparse_ratio=0.5, method="l1", int8=True, epochs=None,
                  time_budget=None, soft_targets=None, random_state=0):
    """A compressed copy of a fitted NAS head: pruned, shrunk and (optionally) int8.

    1. Prune ``sparse_ratio`` of every hidden ``Linear`` layer's output channels and of every
       embedding's dimensions (``method="l1"`` or ``"l2"``; ``"level"`` zeroes single weights
       instead, which makes nothing faster). With training rows ``X`` (and ``y`` or
       ``soft_targets``), the pruning is gradual (AGP) while fine-tuning on the average of the
       labels and the unpruned head's own predictions (self-distillation: labels alone
       overfit small tables), which recovers most of the accuracy; without them it is one-shot.
    2. :func:`~featsmith.compress.shrink` removes the pruned channels (float32).
    3. With ``int8``, :func:`~featsmith.compress.quantize_int8` converts the layers where int8
       is measured faster.

    Parameters
    ----------
    estimator : NASHeadClassifier or NASHeadRegressor
        Fitted; left unchanged.
    X, y : array-like, optional
        Training rows for fine-tuning.
    sparse_ratio : float, default=0.5
        In [0, 1); 0 only shrinks (and quantizes).
    method : {"l1", "l2", "level"}, default="l1"
    int8 : bool, default=True
    epochs : int, optional
        Fine-tuning epochs; default: about 800 optimiser steps (10 to 100 epochs).
    time_budget : float, optional
        Seconds for the fine-tuning.
    soft_targets : array-like, optional
        A teacher's predictions for ``X`` (default: the unpruned head's).
    random_state : int, default=0

    Returns
    -------
    estimator
        A copy whose ``model_`` is a :class:`~featsmith.compress.CompactHead`, with
        ``compression_``: the method, ratio, whether it was fine-tuned, the weight counts before
        and after, and the int8 report.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from featsmith.tuners.nas import NASHeadRegressor
    >>> X, y = make_regression(n_samples=300, n_features=5, random_state=0)
    >>> reg = NASHeadRegressor(max_candidates=1, max_epochs=3, random_state=0).fit(X, y)
    >>> small = compress_head(reg, X, y, sparse_ratio=0.5, int8=False, epochs=2)
    >>> small.compression_["weights_after"] < small.compression_["weights_before"]
    True
    >>> small.predict(X[:2]).shape
    (2,)
    """
    check_is_fitted(estimator, "model_")
    if method not in METHODS:
        raise ValueError(f"method={method!r} must be one of {sorted(METHODS)}.")
    if not isinstance(sparse_ratio, (int, float)) or not 0 <= sparse_ratio < 1:
        raise ValueError(f"sparse_ratio={sparse_ratio!r} must be in [0, 1); 0.5 removes half of each layer.")
    if any(isinstance(m, Int8Linear) for m in estimator.model_.modules()):
        raise ValueError("this head is int8 already; compress the head before quantization (or keep it as is).")
    est = copy.deepcopy(estimator)
    before = sum(p.numel() for p in est.model_.parameters())
    fine_tuned = False
    if sparse_ratio > 0:
        pruner = METHODS[method]([{"op_types": ["Linear", "Embedding"], "sparse_ratio": float(sparse_ratio)}])
        if X is not None and (y is not None or soft_targets is not None):
            if soft_targets is None:  # the unpruned head teaches its pruned self
                soft_targets = estimator.predict_proba(X) if _is_classifier(est) else estimator.predict(X)
            fine_tune(est, X, y, soft_targets=soft_targets, pruner=pruner, epochs=epochs,
                      time_budget=time_budget, random_state=random_state)
            fine_tuned = True
        else:
            logger.warning("compress_head: no training rows given, so the head is pruned in one shot without "
                           "fine-tuning; expect a larger change in its predictions.")
            pruner.compress(est.model_)
    model = shrink(est.model_).float().eval()
    if est.best_architecture_.get("scaler") == "standard" and getattr(est.preprocessor_, "quantile_", None) is not None:
        # The quantile tables, unused by this head (predict computes only its own scaling), are
        # most of the pickled estimator on wide tables. Without them that slot of transform()
        # gets unscaled values.
        est.preprocessor_ = copy.copy(est.preprocessor_)
        est.preprocessor_.quantile_ = est.preprocessor_.quantile_lookup_ = None
    after = model.n_parameters()
    report = []
    if int8:
        model = quantize_int8(model)
        report = model.int8_report_
    est.model_ = model
    est.compression_ = {"method": method, "sparse_ratio": float(sparse_ratio), "fine_tuned": fine_tuned,
                        "weights_before": int(before), "weights_after": int(after), "int8": report}
    return est
