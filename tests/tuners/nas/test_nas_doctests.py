"""The runnable examples in the NAS docstrings."""

import doctest
import importlib

import pytest
import torch

MODULES = ["_mutables", "_space", "_batched", "_data", "_strategies", "_oneshot", "_estimator"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    torch.set_num_threads(1)
    module = importlib.import_module(f"featsmith.tuners.nas.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
