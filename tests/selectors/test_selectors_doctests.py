"""The runnable examples in the selectors' docstrings."""

import doctest
import importlib

import pytest

MODULES = ["_gbdt", "_gradient", "_halving"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"featsmith.selectors.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
