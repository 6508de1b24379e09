"""The runnable examples in the compress docstrings."""

import doctest
import importlib

import pytest
import torch

MODULES = ["_config", "_pruners", "_shrink", "_quantize", "_head"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    torch.set_num_threads(1)
    module = importlib.import_module(f"featsmith.compress.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
