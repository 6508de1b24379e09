"""GradientFeatureSelector: a relaxed feature mask learned by mini-batch gradient descent.

Each feature ``d`` is multiplied by a gate ``z_d = clip(mu_d + eps_d, 0, 1)`` with Gaussian noise
``eps_d ~ N(0, sigma^2)`` while training; a small network is trained on the gated inputs with
the task loss plus ``penalty * sum_d P(z_d > 0)``, where ``P(z_d > 0) = Phi(mu_d / sigma)``. The
noise makes the discrete keep/drop decision differentiable (the relaxation idea behind the
Feature Gradients selector in NNI, in the stochastic-gate form of Yamada et al., 2020): a gate
the loss does not need drifts below zero under the penalty and is closed; a gate on an
informative feature stays open. The learned ``mu`` ranks the features.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch.nn.utils import skip_init
from sklearn.feature_selection import SelectorMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from featsmith.selectors._common import (
    TASK_OPTIONS,
    check_n_jobs,
    check_X_y,
    cut,
    draw_seed,
    encode_target,
    make_rng,
    ranking_from_order,
)
from featsmith.selectors._gbdt import check_k

_DTYPE = torch.float32
# Below this many rows nothing is held out (the drop test then runs on the training rows).
MIN_ROWS_FOR_HOLDOUT = 50
# An open gate passes the automatic cut when closing it raises the held-out loss by more than
# this many standard errors.
DROP_Z = 2.0


@contextlib.contextmanager
def torch_threads(n):
    """Use ``n`` intra-op threads inside the block and restore the caller's setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _GatedNet(torch.nn.Module):
    def __init__(self, n_in, n_out, hidden_units, sigma, generator):
        super().__init__()
        self.sigma = sigma
        self.mu = torch.nn.Parameter(torch.full((n_in,), 0.5, dtype=_DTYPE))
        layers, width = [], n_in
        # skip_init: nn.Linear's own initialisation would draw from torch's global generator.
        for h in hidden_units:
            layers += [skip_init(torch.nn.Linear, width, h, dtype=_DTYPE), torch.nn.ReLU()]
            width = h
        layers.append(skip_init(torch.nn.Linear, width, n_out, dtype=_DTYPE))
        self.body = torch.nn.Sequential(*layers)
        # Initialise from our own generator so that torch's global RNG is neither used nor moved.
        with torch.no_grad():
            for layer in self.body:
                if isinstance(layer, torch.nn.Linear):
                    bound = 1.0 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=generator)
                    layer.bias.uniform_(-bound, bound, generator=generator)

    def forward(self, x, noise=None):
        gate = self.mu if noise is None else self.mu + self.sigma * noise
        return self.body(x * gate.clamp(0.0, 1.0))

    def open_probability(self):
        return 0.5 * (1.0 + torch.erf(self.mu / (self.sigma * math.sqrt(2.0))))


class GradientFeatureSelector(SelectorMixin, BaseEstimator):
    """Select features with a stochastic-gate mask trained by mini-batch gradient descent (torch).

    A small MLP (``hidden_units``; ``()`` gives a linear model) is trained on standardised,
    gated features; the sparsity ``penalty`` closes the gates of features the loss does not
    need. After training, ``gates_`` (the gate means clipped to ``[0, 1]``) rank the features.

    The cut is chosen by ``k`` (the ``k`` highest gates), ``threshold`` (gates at least
    ``threshold``), both (the ``k`` best among those passing), or automatically (neither):
    the open gates, ``gates_ >= 0.5``.

    Parameters
    ----------
    k : int or None, default=None
    threshold : float in [0, 1] or None, default=None
    penalty : float, default=0.02
        Weight of the expected number of open gates; roughly the loss reduction a feature
        must bring to stay open (losses: mean squared error on the standardised target, or
        cross-entropy).
    hidden_units : tuple of int, default=(64,)
    sigma : float, default=0.5
        Standard deviation of the gate noise during training.
    learning_rate : float, default=0.01
        Adam step size for the network and the gates.
    batch_size : int, default=512
    validation_fraction : float in [0, 1), default=0.2
        Rows held out of training; the drop test (below) runs on them. With fewer than 50
        rows, or 0, nothing is held out and the drop test uses the training rows.
    max_epochs : int, default=10
        Passes over the data ...
    min_steps : int, default=600
        ... but at least this many mini-batch steps, so that small data sets still train.
    task : {"auto", "classification", "binary", "multiclass", "regression"}, default="auto"
        ``"auto"`` infers it from ``y`` by the rule of :func:`featsmith.pipelines.infer_task`.
    random_state : int, numpy.random.Generator or None, default=None
    n_jobs : int, default=1
        torch intra-op threads during ``fit`` (the caller's setting is restored afterwards).

    Attributes
    ----------
    gates_ : ndarray of shape (n_features,)
        Learned gate means clipped to ``[0, 1]``; 0 is closed.
    scores_ : ndarray of shape (n_features,)
        Unclipped gate means.
    drop_losses_ : ndarray of shape (n_features,)
        Increase of the held-out loss (on up to 8,192 held-out rows) when the feature's gate
        alone is closed; NaN for closed gates. Open features are ranked by it (open gates
        saturate at 1, so their means do not order them), closed ones by their gate means.
    support_ : ndarray of bool
    ranking_ : ndarray of int
    loss_curve_ : list of float
        Mean training loss (without the penalty) per epoch-sized block of steps.
    task_ : {"classification", "regression"}
        The task family (binary and multiclass are both ``"classification"``).
    classes_, n_features_in_, feature_names_in_

    Notes
    -----
    Missing values are imputed with the column mean (0 after standardisation). Rows are
    sampled in mini-batches, so memory and time grow linearly with the data: 100,000 rows x
    1,000 features trains in a few minutes on two CPU cores. torch's global default dtype and
    random generator are never touched.

    Examples
    --------
    >>> import numpy as np
    >>> from featsmith.selectors import GradientFeatureSelector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(1000, 8))
    >>> y = X[:, 1] - X[:, 5] + 0.1 * rng.normal(size=1000)
    >>> sel = GradientFeatureSelector(random_state=0).fit(X, y)
    >>> sel.get_support(indices=True).tolist()
    [1, 5]
    """

    _parameter_constraints = {
        "k": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "threshold": [Interval(numbers.Real, 0, 1, closed="both"), None],
        "penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "hidden_units": [tuple, list],
        "sigma": [Interval(numbers.Real, 0, None, closed="neither")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "task": [TASK_OPTIONS],
        "random_state": [None, numbers.Integral, np.random.Generator],
        "n_jobs": [numbers.Integral],
    }

    def __init__(
        self,
        k=None,
        threshold=None,
        penalty=0.02,
        hidden_units=(64,),
        sigma=0.5,
        learning_rate=0.01,
        batch_size=512,
        validation_fraction=0.2,
        max_epochs=10,
        min_steps=600,
        task="auto",
        random_state=None,
        n_jobs=1,
    ):
        self.k = k
        self.threshold = threshold
        self.penalty = penalty
        self.hidden_units = hidden_units
        self.sigma = sigma
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.max_epochs = max_epochs
        self.min_steps = min_steps
        self.task = task
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Train the gated network and choose the features.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Numeric features; NaN is allowed (mean-imputed).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        self._validate_params()
        hidden = tuple(int(h) for h in self.hidden_units)
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden_units must hold positive integers, got {self.hidden_units!r}.")
        n_jobs = check_n_jobs(self.n_jobs)
        X, y = check_X_y(self, X, y)
        check_k(self.k, X.shape[1])
        rng = make_rng(self.random_state)
        self.task_, self.classes_, y_enc, n_classes = encode_target(y, self.task)
        if self.task_ == "classification":
            target = torch.from_numpy(y_enc.astype(np.int64))
            n_out = n_classes
        else:
            y_std = y_enc.std()
            target = torch.from_numpy(((y_enc - y_enc.mean()) / (y_std if y_std > 0 else 1.0)).astype(np.float32))
            n_out = 1
        features = torch.from_numpy(_standardise(X))

        generator = torch.Generator().manual_seed(draw_seed(rng))
        n = features.shape[0]
        n_val = int(round(self.validation_fraction * n)) if n >= MIN_ROWS_FOR_HOLDOUT else 0
        perm = torch.randperm(n, generator=generator)
        val, fit = (perm[:n_val], perm[n_val:]) if n_val else (perm, perm)
        with torch_threads(n_jobs):
            net = _GatedNet(X.shape[1], n_out, hidden, float(self.sigma), generator)
            self.loss_curve_ = self._train(net, features[fit], target[fit], generator)
            mu = net.mu.detach().numpy().astype(np.float64)
            self.gates_ = np.clip(mu, 0.0, 1.0)
            self.drop_losses_, drop_se = self._drop_losses(net, features[val], target[val],
                                                           generator)

        self.scores_ = mu
        # Open gates saturate at 1, so their order says little: rank open features by the
        # loss increase when their gate is closed, then closed ones by their gate mean.
        order = np.lexsort((-mu, -np.nan_to_num(self.drop_losses_, nan=-np.inf)))
        self.ranking_ = ranking_from_order(order)
        automatic = self.gates_ >= 0.5
        if n_val:
            # An open gate must also matter on rows the network never saw.
            automatic &= np.nan_to_num(self.drop_losses_, nan=-np.inf) > DROP_Z * drop_se
        mask = cut(self.ranking_, self.gates_, self.k, self.threshold, automatic,
                   "GradientFeatureSelector")
        self.support_ = mask
        return self

    def _train(self, net, features, target, generator):
        n = features.shape[0]
        batch = min(int(self.batch_size), n)
        steps_per_epoch = max(1, n // batch)
        n_steps = max(int(self.min_steps), int(self.max_epochs) * steps_per_epoch)
        optimiser = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        task_loss = self._loss_fn()
        curve, running, count = [], 0.0, 0
        perm, pos = torch.randperm(n, generator=generator), 0
        p = features.shape[1]
        # The penalty ramps up over the first half of training: the network first learns to use
        # every feature (a non-linear effect takes a while to fit), then the weak gates close.
        ramp = max(1, n_steps // 2)
        for step in range(n_steps):
            if pos + batch > n:
                perm, pos = torch.randperm(n, generator=generator), 0
            idx = perm[pos:pos + batch]
            pos += batch
            noise = torch.randn(p, generator=generator, dtype=_DTYPE)
            loss = task_loss(net(features[idx], noise), target[idx])
            weight = float(self.penalty) * min(1.0, step / ramp)
            objective = loss + weight * net.open_probability().sum()
            optimiser.zero_grad(set_to_none=True)
            objective.backward()
            optimiser.step()
            running += float(loss.detach())
            count += 1
            if count == steps_per_epoch:
                curve.append(running / count)
                running, count = 0.0, 0
        if count:
            curve.append(running / count)
        return curve

    @torch.no_grad()
    def _drop_losses(self, net, features, target, generator):
        """Mean loss increase over (held-out) rows when each open gate alone is closed, and
        its standard error over rows; NaN for closed gates."""
        gates = torch.from_numpy(self.gates_.astype(np.float32))
        open_idx = np.flatnonzero(self.gates_ > 0)
        mean = np.full(self.gates_.size, np.nan)
        se = np.full(self.gates_.size, np.nan)
        if open_idx.size == 0:
            return mean, se
        p = features.shape[1]
        width = max([p] + [int(h) for h in self.hidden_units])
        # Bound the work to ~2e9 multiply-adds however many gates are open.
        rows = int(np.clip(2e9 / (open_idx.size * p * width), 256, 8192))
        sample = torch.randperm(features.shape[0], generator=generator)[:rows]
        x, t = features[sample], target[sample]
        loss = self._loss_fn(reduction="none")
        net.eval()
        base = loss(net.body(x * gates), t)
        for j in open_idx:
            g = gates.clone()
            g[j] = 0.0
            diff = (loss(net.body(x * g), t) - base).numpy().astype(np.float64)
            mean[j] = diff.mean()
            se[j] = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else 0.0
        return mean, se

    def _loss_fn(self, reduction="mean"):
        if self.task_ == "classification":
            return torch.nn.CrossEntropyLoss(reduction=reduction)

        def mse(out, t):
            sq = (out[:, 0] - t) ** 2
            return sq if reduction == "none" else torch.mean(sq)
        return mse

    def _get_support_mask(self):
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        tags.non_deterministic = False
        return tags


def _standardise(X):
    """Column-standardised float32 copy of X with NaN set to 0 (the column mean)."""
    missing = np.isnan(X)
    if missing.any():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, std = np.nanmean(X, axis=0), np.nanstd(X, axis=0)
    else:
        mean, std = X.mean(axis=0), X.std(axis=0)
    mean = np.nan_to_num(mean)
    std = np.where((std > 0) & np.isfinite(std), std, 1.0)
    Z = ((X - mean) / std).astype(np.float32)
    Z[missing] = 0.0
    return np.ascontiguousarray(Z)
