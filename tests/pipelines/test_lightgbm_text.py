import lightgbm as lgb
import numpy as np

from featsmith.pipelines._lightgbm_text import tree_fields


def _multiclass_booster():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = (X[:, 1] > 0).astype(int) + (X[:, 3] > 0.5)
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_leaves": 7, "seed": 0}
    return lgb.train(params, lgb.Dataset(X, y), num_boost_round=12)


def test_tree_fields_give_each_tree_its_split_columns_and_leaves_in_order():
    booster = _multiclass_booster()
    fields = tree_fields(booster, ("num_leaves", "split_feature"))
    assert len(fields) == booster.num_trees() == 36
    nodes = booster.trees_to_dataframe()
    for index, tree in enumerate(fields):
        rows = nodes[nodes["tree_index"] == index]
        splits = rows.dropna(subset=["split_feature"])
        assert int(tree["num_leaves"]) == len(rows) - len(splits)
        expected = sorted(int(name.split("_")[-1]) for name in splits["split_feature"])
        assert sorted(int(c) for c in tree.get("split_feature", "").split()) == expected


def test_tree_fields_read_only_the_fields_asked_for():
    fields = tree_fields(_multiclass_booster(), ("leaf_count",))
    assert all(set(tree) == {"leaf_count"} for tree in fields)


def test_a_one_leaf_tree_has_no_split_columns():
    X = np.random.default_rng(0).normal(size=(50, 3))
    # No leaf may hold fewer than 40 of the 50 rows: the first tree cannot split.
    booster = lgb.train({"verbose": -1, "min_data_in_leaf": 40}, lgb.Dataset(X, X[:, 0]), 3)
    (tree,) = tree_fields(booster, ("num_leaves", "split_feature"))
    assert tree["num_leaves"] == "1" and tree["split_feature"].split() == []
