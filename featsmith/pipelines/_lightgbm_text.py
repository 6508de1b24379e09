"""Reading a LightGBM booster's trees from its model text.

LightGBM's Python API gives a tree's structure only through this text, ``dump_model``'s JSON
of every node, or ``trees_to_dataframe``'s pandas frame of every node. The text lists each
tree's fields as one line per field (``split_feature=3 0 7``), so reading the few fields a
caller needs is a pass over lines with no per-node objects. The prediction-cost model reads
the trees' shapes and the distiller reads the columns each round splits on from here;
``_distill._narrow``, which renumbers the columns, is the one place that writes the text.
"""

from __future__ import annotations


def tree_fields(booster, keys) -> list[dict[str, str]]:
    """For each tree of ``booster``, in its order (round by round, a round's trees class by
    class), the values of the fields named in ``keys`` as the text gives them.

    A field a tree's text lacks is absent from its dict.

    Examples
    --------
    >>> import lightgbm as lgb, numpy as np
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> booster = lgb.train({"verbose": -1, "min_data_in_leaf": 2}, lgb.Dataset(X, X[:, 0]), 2)
    >>> fields = tree_fields(booster, ("num_leaves", "split_feature"))
    >>> len(fields) == booster.num_trees(), sorted(fields[0])
    (True, ['num_leaves', 'split_feature'])
    """
    wanted = frozenset(keys)
    trees: list[dict[str, str]] = []
    for line in booster.model_to_string().splitlines():
        key, _, value = line.partition("=")
        if key == "Tree":
            trees.append({})
        elif line == "end of trees":
            break
        elif trees and key in wanted:
            trees[-1][key] = value
    return trees
