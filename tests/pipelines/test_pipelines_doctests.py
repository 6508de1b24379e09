"""The docstring examples of featsmith.pipelines and the first feature step run as written."""

import doctest
import importlib

import pytest

MODULES = [
    "featsmith.pipelines._auto",
    "featsmith.pipelines._distill",
    "featsmith.pipelines._ensemble",
    "featsmith.pipelines._metrics",
    "featsmith.pipelines._budget",
    "featsmith.pipelines._family_search",
    "featsmith.pipelines._stages.validation",
    "featsmith._task",
    "featsmith.featurize._schema",
    "featsmith.featurize._table_encoder",
    "featsmith._types",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
