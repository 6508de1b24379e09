"""Cream: the prioritized path board, teacher matching, and a search through the estimator."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from featsmith.tuners.nas import Architecture, CreamStrategy, NASHeadClassifier
from featsmith.tuners.nas._cream import _distill_loss


def test_cream_search_takes_the_final_architecture_from_the_board():
    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    strategy = CreamStrategy(board_size=4, n_retrain=2)
    clf = NASHeadClassifier(strategy=strategy, time_budget=None, max_candidates=4, max_epochs=2,
                            random_state=0).fit(X, y)
    history = clf.search_history_
    assert (history["status"] == "ranked").sum() <= 4 and (history["status"] == "retrained").sum() == 2
    board = {a for a in history.loc[history["status"] == "ranked", "architecture"]}
    assert clf.best_architecture_ in board
    assert clf.predict_proba(X).shape == (300, 2)
    again = NASHeadClassifier(strategy=CreamStrategy(board_size=4, n_retrain=2), time_budget=None, max_candidates=4,
                              max_epochs=2, random_state=0).fit(X, y)
    assert again.best_architecture_ == clf.best_architecture_


def test_board_keeps_the_best_paths_and_matching_prefers_shared_decisions():
    s = CreamStrategy(board_size=2, size_penalty=0.0)

    class _Data:
        n_numeric, cardinalities = 4, []

    arch = lambda w, act: Architecture({"depth": 1, "width_0": w, "activation": act})  # noqa: E731
    board = []
    for loss, a in ((0.5, arch(32, "relu")), (0.3, arch(64, "gelu")), (0.4, arch(128, "relu")),
                    (0.2, arch(64, "gelu"))):
        s._offer(board, a, loss, _Data, largest=1000)
    assert [e[1] for e in board] == [0.2, 0.4]  # re-offered path updated, worst dropped
    assert s._match(board, arch(32, "relu")) == arch(128, "relu")
    assert s._match(board, arch(64, "silu")) == arch(64, "gelu")


@pytest.mark.parametrize("task, n_out", [("binary", 1), ("multiclass", 3), ("regression", 1)])
def test_distill_loss_is_smallest_when_the_student_matches_its_teacher(task, n_out):
    g = torch.Generator().manual_seed(0)
    t = torch.randn(1, 8, n_out, generator=g)
    same, other = _distill_loss(task, t, t), _distill_loss(task, t + torch.randn(1, 8, n_out, generator=g), t)
    assert float(same) < float(other)


@pytest.mark.parametrize("kwargs", [{"board_size": 0}, {"distill_weight": 1.0}, {"size_penalty": -1}])
def test_cream_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        CreamStrategy(**kwargs)
