"""Fixtures for the selector tests."""

import pytest
from selector_data import make_recovery


@pytest.fixture(params=["regression", "binary"])
def recovery_data(request):
    """The documented recovery setting: 24 features, 6 informative; 1,200 rows for a
    regression target, 2,500 for a binary one (a label carries less information per row)."""
    task = request.param
    if task == "regression":
        return task, *make_recovery("regression")
    return task, *make_recovery("classification", n=2500)
