"""The one task vocabulary and inference rule (featsmith._task), and that every component with a
``task`` parameter follows it."""

import doctest

import numpy as np
import pandas as pd
import pytest

import featsmith._task
from featsmith._task import TASKS, infer_task, is_classification, task_family
from featsmith.datasets import list_datasets, load
from featsmith.featurize import FeatureGenerator
from featsmith.selectors import GBDTSelector, GradientFeatureSelector

_RNG = np.random.default_rng(0)

# (label, target, the task the rule gives). The rule: non-numeric -> classification; whole
# numbers with <= 20 distinct values and fewer distinct values than half the rows ->
# classification; other numbers -> regression.
TARGETS = [
    ("float", _RNG.normal(size=200), "regression"),
    ("whole floats, few values", (np.arange(200) % 4).astype(float), "multiclass"),
    ("ints, two values", np.arange(200) % 2, "binary"),
    ("ints, few values", np.arange(200) % 3, "multiclass"),
    ("ints, 15 values in 100 rows", np.arange(100) % 15, "multiclass"),
    ("ints, 15 values in 20 rows", np.arange(20) % 15, "regression"),
    ("ints, 21 values", np.arange(400) % 21, "regression"),
    ("strings", np.array(["a", "b", "c"])[np.arange(60) % 3], "multiclass"),
    ("bools", np.arange(60) % 2 == 0, "binary"),
    ("numbers held as objects", np.array([0, 1] * 30, dtype=object), "binary"),
]
IDS = [label for label, _, _ in TARGETS]


def test_docstring_examples():
    result = doctest.testmod(featsmith._task)
    assert result.attempted > 0 and result.failed == 0


def test_vocabulary_helpers():
    assert TASKS == ("auto", "classification", "binary", "multiclass", "regression")
    assert [task_family(t) for t in TASKS[1:]] == ["classification"] * 3 + ["regression"]
    assert not is_classification("auto")


@pytest.mark.parametrize("label, y, expected", TARGETS, ids=IDS)
def test_every_component_infers_the_same_task(label, y, expected):
    X = pd.DataFrame({"a": np.arange(len(y), dtype=float), "b": np.arange(len(y)) % 5})
    y_checked = np.asarray(pd.to_numeric(pd.Series(y))) if y.dtype == object else y
    assert infer_task(y_checked) == expected
    assert FeatureGenerator(max_candidates=5, random_state=0).fit(X, y).task_ == expected
    # The selectors fit binary and multiclass targets the same way; they report the family.
    family = task_family(expected)
    assert GBDTSelector(k=1, n_estimators=5, random_state=0).fit(X, y).task_ == family
    gradient = GradientFeatureSelector(k=1, max_epochs=1, min_steps=1, random_state=0)
    assert gradient.fit(X.to_numpy(float), y).task_ == family


@pytest.mark.parametrize("task", TASKS)
def test_every_component_accepts_every_task_name(task):
    y = np.arange(60) % 2
    X = np.c_[np.arange(60.0), np.arange(60) % 7]
    expected = infer_task(y, task)
    assert FeatureGenerator(max_candidates=5, task=task).fit(X, y).task_ == expected
    assert GBDTSelector(k=1, n_estimators=5, task=task).fit(X, y).task_ == task_family(expected)


def test_the_same_clear_errors_everywhere():
    X = np.c_[np.arange(30.0), np.arange(30) % 4]
    three = np.arange(30) % 3
    for estimator in (FeatureGenerator(max_candidates=5, task="binary"), GBDTSelector(task="binary")):
        with pytest.raises(ValueError, match="task='binary' but y has 3 classes"):
            estimator.fit(X, three)
    continuous = np.linspace(0, 1, 30)
    for estimator in (FeatureGenerator(max_candidates=5, task="classification"),
                      GBDTSelector(task="classification")):
        with pytest.raises(ValueError, match="continuous target"):
            estimator.fit(X, continuous)
    with pytest.raises(ValueError, match="task='ranking' is not one of"):
        FeatureGenerator(task="ranking").fit(X, three)
    with pytest.raises(ValueError, match="'task' parameter of GBDTSelector"):
        GBDTSelector(task="ranking").fit(X, three)
    with pytest.raises(ValueError, match="single class"):
        infer_task(np.zeros(30, dtype=int))
    with pytest.raises(ValueError, match="needs a numeric target"):
        infer_task(np.array(["a", "b"]), "regression")


def test_shipped_datasets_declare_the_task_the_rule_infers():
    table = list_datasets()
    for name, task in zip(table["name"], table["task"]):
        _, y = load(name)
        assert infer_task(y.to_numpy()) == task, name
