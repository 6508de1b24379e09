"""A model of what a fitted pipeline's ``predict`` costs, with no clock: a pure function of the
fitted objects, so that a limit on it (``AutoPipeline.distill``'s ``max_predict_cost``) gives
the same student on every run with the same ``random_state``.

The cost of a predict call on :data:`COST_BATCH` rows is the sum, over everything the call
does, of a count per row (input columns converted, encoder outputs, generated features by kind
of operation, tree nodes visited, weights multiplied, and per-call work shared by the batch's
rows) times that count's unit cost (:data:`UNIT_NS`: nanoseconds of one CPU core). The counts
come from the fitted objects alone; the unit costs were measured once (see :data:`UNIT_NS`).
Only ratios of costs are used, so the absolute scale does not matter, but the ratio of a small
student's cost to a large ensemble's should follow the ratio of their measured times.
"""

from __future__ import annotations

import weakref
from collections import Counter

import numpy as np

from featsmith.pipelines._lightgbm_text import tree_fields

# The batch the costs are modelled at: per-call work weighs 1/COST_BATCH a row.
COST_BATCH = 2000

# Nanoseconds of one CPU core per count (per row, or per call where the name says so), at a
# batch of COST_BATCH rows given as a pandas frame (what the dev suite gives).
#
# How they were measured (2026-12-05, the shared 2-core AMD EPYC machine, one thread, process
# CPU time, median of repeated calls on 2,000 training rows): AutoPipeline fitted for 60 s on
# credit_data, leaf_species, ames_housing and caravan_insurance (30 s on email_spam, for the
# datetime columns); on each, the transform of 12 random subsets of the pipeline's columns
# (``_distill._reading``) and of the same subsets of a copy with 80 generated candidates (119
# transforms in all), and the predict of each ensemble member, of the ensemble, of LightGBM
# students (15-127 leaves, 1-300 rounds; 60 for 32 classes) and of the other families fitted
# on the pipeline's matrix (extra trees, HistGradientBoosting, linear, CatBoost, neural head;
# 126 models in all). The units are the non-negative least-squares fit of the measured times
# on the counts, in relative error (the pipelines' own ensembles weighted 3x): the LightGBM
# models first, then the other families. LGB_CACHE_NODES is the best of 2k-200k nodes on the
# LightGBM models. Modelled / measured, 10th-90th percentile: transforms 0.86-1.13 (extremes
# 0.56, 1.26), LightGBM models 0.83-1.20 (0.72 on the 38,880-tree 32-class ensemble, 1.42),
# other families 0.60-1.22 (CatBoost and HistGradientBoosting on ames_housing's wide matrix
# as low as 0.38). Counts tried that fitted at zero were dropped: per-call costs of the
# feature plan and of each model, each tree of a cache-resident LightGBM model, the table's
# width, CatBoost's trees and levels. Text counts (no dev task has text) were set from a
# micro-benchmark of the encoder (2,000 sentences of 3-12 words: ``len`` 22 ns, ``words``
# 271 ns a row). Whole pipelines, modelled / measured: 0.82 (credit_data), 0.85 (leaf_species),
# 1.03 (ames_housing), 0.98 (caravan_insurance), 1.02 (email_spam). Students distilled from
# them (15 s; limit 1/3, then none), student / ensemble modelled against measured on the 2,000
# rows: credit_data 0.57 / 0.51 (out of reach) and 1.61 / 1.78, ames_housing 0.33 / 0.34 and
# 1.17 / 0.95, caravan_insurance 0.33 / 0.32 and 1.00 / 1.08.
UNIT_NS = {
    # Pipeline: input checks, frame conversion and the final matrix; per call.
    "call": 583_255.0,
    # Each input column converted and checked: a numeric one, or one of strings / datetimes.
    "input_num": 32.6,
    "input_str": 182.4,
    # Each encoder output: a number read, a category's code or frequency looked up, a
    # datetime part, a text statistic, a missing indicator.
    "encode_num": 9.1,
    "encode_cat": 27.8,
    "encode_dt": 51.9,
    "encode_text": 120.0,
    "encode_missing": 92.8,
    # The feature plan: each raw column it codes as a category (or a datetime, a text), and
    # each operation by kind.
    "plan_base_cat": 78.2,
    "op_arith": 25.3,
    "op_lookup": 20.9,
    "op_dt": 49.9,
    "op_text": 145.0,
    # LightGBM: each column of the matrix it is given (read row by row), each decision node
    # on a row's path, and each tree of a model too large for the cache (see LGB_CACHE_NODES).
    "lgb_input": 3.25,
    "lgb_node": 6.07,
    "lgb_tree_cold": 57.1,
    # A scikit-learn (or CatBoost, or neural head) model: each column of the matrix it is given
    # (checked and converted).
    "sk_input": 10.5,
    # scikit-learn trees: each decision node on a row's path and each tree's output added up
    # per row and class (extra trees); each tree per call and each decision node on a row's
    # path (HistGradientBoosting).
    "sk_node": 8.39,
    "sk_tree_out": 0.296,
    "hgb_tree_call": 12_943.0,
    "hgb_node": 6.48,
    # CatBoost: each column put in its pool (beside ``sk_input``).
    "cb_input": 8.75,
    # A linear model: each column prepared (imputed, scaled, one-hot) and each weight.
    "linear_input": 4.51,
    "linear_weight": 0.317,
    # The neural head: each weight of the network.
    "nn_weight": 0.0712,
}

# Nodes (decisions and leaves) of a LightGBM model that stay in the cache while it predicts
# row after row (every row goes through every tree): each tree of a larger model costs
# ``lgb_tree_cold`` times the share of the model beyond it.
LGB_CACHE_NODES = 10_000

# Families of the feature plan's operations (by the operator's name; see featurize/_ops.py):
# table lookups (frequencies, target encodings, group statistics, pairs of categories),
# calendar arithmetic, string scans; the rest is elementwise (arithmetic, and the binary
# searches of ranks and bins in training quantiles, which measured as cheap).
_LOOKUP_OPS = {"freq", "te", "combine", "nunique_in", "gb_dev", "gb_ratio"}
_TEXT_OPS = {"len", "words"}


def _op_count(op: str) -> str:
    if op in _LOOKUP_OPS or op.startswith("gb_") and op != "gb_rank":
        return "op_lookup"
    if op in _TEXT_OPS:
        return "op_text"
    if op.startswith("dt_") or op == "elapsed":
        return "op_dt"
    return "op_arith"


def cost_of(counts) -> float:
    """The cost (nanoseconds a row) of ``counts`` (a mapping of :data:`UNIT_NS`'s names)."""
    return float(sum(UNIT_NS[k] * v for k, v in counts.items()))


# ------------------------------------------------------------------ features
def feature_counts(pipeline) -> Counter:
    """The counts of a fitted pipeline's transform (``_features``: input checks and conversion,
    encoding, generated features) per row, on the columns it reads."""
    counts = Counter(call=1 / COST_BATCH)
    encoder = pipeline.encoder_
    schema = encoder.schema_
    plan = pipeline.feature_plan_
    for c in pipeline._columns_read() or pipeline._input_columns:
        counts["input_num" if schema.get(c) in ("numeric", "boolean") else "input_str"] += 1
    inputs = encoder.feature_inputs_
    for name in encoder.get_feature_names_out():
        kind = schema[inputs[name]]
        if name.startswith("missing("):
            counts["encode_missing"] += 1
        elif kind == "categorical":
            counts["encode_cat"] += 1
        elif kind == "datetime":
            counts["encode_dt"] += 1
        elif kind == "text":
            counts["encode_text"] += 1
        else:
            counts["encode_num"] += 1
    if plan is not None:
        counts["plan_base_cat"] += sum(kind != "num" for kind in plan.coder.kinds.values())
        for feature in plan.features.values():
            if feature.op != "base":
                counts[_op_count(feature.op)] += 1
        if plan.relational is not None:
            counts["op_lookup"] += len(plan.relational.output_names)
    return counts


# ------------------------------------------------------------------ models
# lightgbm_trees of each booster seen, while it lives: reading a large model's text is slow (a
# 32-class ensemble of 77,000 trees: 2.6 s), and distill asks for the teacher's more than once.
_TREES = weakref.WeakKeyDictionary()


def lightgbm_trees(booster):
    """For each tree of a LightGBM booster, in order: the decision nodes a row passes on its
    way to a leaf (the leaves' depths weighted by the training rows each holds; a one-leaf tree
    has none), and its nodes (decisions and leaves). Returns the two arrays (read-only)."""
    key = booster.num_trees()  # a booster trained further is read again
    cached = _TREES.get(booster)
    if cached is None or cached[0] != key:
        paths, nodes = _lightgbm_trees(booster)
        paths.flags.writeable = nodes.flags.writeable = False
        cached = _TREES[booster] = (key, paths, nodes)
    return cached[1], cached[2]


def _lightgbm_trees(booster):
    trees = []  # [n_leaves, left, right, leaf_count] of each tree
    for fields in tree_fields(booster, ("num_leaves", "left_child", "right_child", "leaf_count")):
        trees.append([int(fields.get("num_leaves", 1))] + [
            np.asarray(fields[key].split(), dtype=dtype) if key in fields else None
            for key, dtype in (("left_child", np.int64), ("right_child", np.int64), ("leaf_count", np.float64))
        ])
    paths = np.zeros(len(trees))
    nodes = np.array([2 * tree[0] - 1 for tree in trees], dtype=np.float64)
    split = [t for t, tree in enumerate(trees) if tree[0] > 1 and tree[1] is not None]
    if not split:
        return paths, nodes
    # Padded (trees x nodes) arrays; a child's index is above its parent's, so one pass over
    # the internal nodes' indices gives every depth.
    width = max(trees[t][0] for t in split)
    left = np.zeros((len(split), width - 1), dtype=np.int64)
    right = np.zeros_like(left)
    weight = np.zeros((len(split), width))
    for row, t in enumerate(split):
        n_leaves, lc, rc, count = trees[t]
        left[row, : n_leaves - 1], right[row, : n_leaves - 1] = lc, rc
        weight[row, :n_leaves] = count if count is not None and count.sum() > 0 else 1.0
    depth = np.zeros((len(split), width - 1))
    leaf_depth = np.zeros((len(split), width))
    rows = np.arange(len(split))
    n_internal = np.array([trees[t][0] - 1 for t in split])
    for i in range(width - 1):
        live = rows[n_internal > i]
        for child in (left[live, i], right[live, i]):
            inner = child >= 0
            depth[live[inner], child[inner]] = depth[live[inner], i] + 1
            leaf_depth[live[~inner], ~child[~inner]] = depth[live[~inner], i] + 1
    paths[split] = (weight * leaf_depth).sum(axis=1) / weight.sum(axis=1)
    return paths, nodes


def _weighted_leaf_depth(left, right, weight, max_depth) -> float:
    """The mean depth of a binary tree's leaves weighted by ``weight`` (per node; scikit-learn's
    layout: ``left``/``right`` children, -1 at a leaf)."""
    depth = np.zeros(len(left))
    internal = np.flatnonzero(left >= 0)
    for _ in range(int(max_depth)):
        depth[left[internal]] = depth[internal] + 1
        depth[right[internal]] = depth[internal] + 1
    leaves = left < 0
    w = weight[leaves]
    return float(w @ depth[leaves] / w.sum()) if w.sum() > 0 else float(depth[leaves].mean())


def _trees_used(booster, n_iterations=None):
    """:func:`lightgbm_trees` of the trees ``predict`` reads: its first ``n_iterations``
    rounds, by default those up to its best iteration where it has one (as LightGBM does)."""
    paths, nodes = lightgbm_trees(booster)
    if n_iterations is None:
        best = booster.best_iteration
        n_iterations = best if best and best > 0 else booster.current_iteration()
    n_trees = int(n_iterations) * booster.num_model_per_iteration()
    return paths[:n_trees], nodes[:n_trees]


def _cold_share(n_nodes):
    """The share of a LightGBM model of ``n_nodes`` nodes beyond :data:`LGB_CACHE_NODES`."""
    return np.maximum(0.0, 1.0 - LGB_CACHE_NODES / np.maximum(n_nodes, 1.0))


def _booster_counts(booster, n_iterations=None) -> Counter:
    paths, nodes = _trees_used(booster, n_iterations)
    return Counter(lgb_input=booster.num_feature(), lgb_node=float(paths.sum()),
                   lgb_tree_cold=len(paths) * float(_cold_share(nodes.sum())))


def lightgbm_round_costs(booster, rounds, n_read=None) -> np.ndarray:
    """The modelled cost of a LightGBM booster's predict with its first ``r`` rounds, for
    ``r`` = 1 to ``rounds`` (the cost of ``_booster_counts(booster, r)`` for each), reading
    ``n_read[r - 1]`` columns (default: all of the booster's)."""
    paths, nodes = _trees_used(booster, rounds)
    trees = booster.num_model_per_iteration() * np.arange(1, int(rounds) + 1)
    visits, size = np.cumsum(paths)[trees - 1], np.cumsum(nodes)[trees - 1]
    n_read = booster.num_feature() if n_read is None else np.asarray(n_read)
    return (UNIT_NS["lgb_input"] * n_read + UNIT_NS["lgb_node"] * visits
            + UNIT_NS["lgb_tree_cold"] * trees * _cold_share(size))


def model_counts(model) -> Counter:
    """The counts of one fitted model's predict per row (LightGBM boosters, the pipeline's
    other families, their fold averages and column views, scikit-learn pipelines of them)."""
    import lightgbm as lgb

    name = type(model).__name__
    if isinstance(model, lgb.Booster):
        return _booster_counts(model)
    if hasattr(model, "booster") and hasattr(model, "init"):  # the soft-label multiclass booster
        return _booster_counts(model.booster)
    if name == "BoosterAverage":
        return sum((_booster_counts(b, k or None) for b, k in zip(model.boosters, model.n_iterations)), Counter())
    if name == "ColumnSubset":
        return model_counts(model.model)
    if name == "_EstimatorAverage":
        return sum((model_counts(m) for m in model.models), Counter())
    if hasattr(model, "steps"):  # a scikit-learn pipeline
        return sum((model_counts(step) for _, step in model.steps), Counter())
    width = int(getattr(model, "n_features_in_", 0) or 0)
    if name in ("FunctionTransformer", "SimpleImputer"):
        return Counter()  # elementwise steps: free next to the model they feed, as measured
    if name == "ColumnTransformer":
        return Counter(linear_input=width)
    if name == "CatBoostOnCodes":
        width = len(model.model_.feature_names_)
        return Counter(sk_input=width, cb_input=width)
    if hasattr(model, "estimators_") and hasattr(model.estimators_[0], "tree_"):  # forests
        n_classes = len(getattr(model, "classes_", []))
        n_out = n_classes if n_classes > 2 else 1  # a binary forest's output: one probability
        total = Counter(sk_input=width, sk_tree_out=len(model.estimators_) * n_out)
        for est in model.estimators_:
            t = est.tree_
            total["sk_node"] += _weighted_leaf_depth(t.children_left, t.children_right,
                                                     t.n_node_samples.astype(np.float64), t.max_depth)
        return total
    if hasattr(model, "_predictors"):  # scikit-learn's HistGradientBoosting
        total = Counter(sk_input=width)
        for predictors in model._predictors:
            for predictor in predictors:
                nodes = predictor.nodes
                leaves = nodes["is_leaf"].astype(bool)
                count = nodes["count"][leaves].astype(np.float64)
                total["hgb_tree_call"] += 1 / COST_BATCH
                total["hgb_node"] += float(count @ nodes["depth"][leaves] / count.sum()) if count.sum() else 0.0
        return total
    if hasattr(model, "coef_"):  # a linear model
        return Counter(sk_input=width, linear_weight=int(np.size(model.coef_)))
    module = getattr(model, "model_", None)
    if module is not None and hasattr(module, "parameters"):  # the neural head (torch)
        weights = sum(p.numel() for n, p in module.named_parameters() if p.dim() >= 2 and "embed" not in n)
        return Counter(sk_input=width, nn_weight=int(weights))
    return Counter(sk_input=width)  # a constant (DummyClassifier), or another model


def ensemble_counts(weighted_model) -> Counter:
    """The counts of a fitted pipeline's ``model_`` (a weighted average of members) per row."""
    return sum((model_counts(member.model) for _, member in weighted_model.members), Counter())


def predict_cost(pipeline) -> float:
    """The modelled cost of a fitted pipeline's whole ``predict`` (features and model), in
    nanoseconds of one core a row at a batch of :data:`COST_BATCH` rows (on the machine the
    unit costs were measured on)."""
    return cost_of(feature_counts(pipeline)) + cost_of(ensemble_counts(pipeline.model_))
