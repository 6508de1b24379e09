"""The layout rules of DESIGN.md, checked on the source: subpackages meet through public
names only, and the benchmarks run from any checkout."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "featsmith"
SUBPACKAGES = {"featurize", "selectors", "tuners", "pipelines", "datasets", "compress"}


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _subpackage(path):
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 and parts[0] in SUBPACKAGES else None


def test_no_private_import_crosses_subpackages():
    crossings = []
    for path in PACKAGE.rglob("*.py"):
        own = _subpackage(path)
        for lineno, module in _imports(path):
            parts = module.split(".")
            if parts[0] != "featsmith" or len(parts) < 3 or parts[1] not in SUBPACKAGES:
                continue
            private = any(p.startswith("_") for p in parts[2:])
            if private and parts[1] != own:
                crossings.append(f"{path.relative_to(ROOT)}:{lineno} imports {module}")
    assert not crossings, "\n".join(crossings)


def test_featurize_plan_and_generator_do_not_import_each_other():
    plan = {m for _, m in _imports(PACKAGE / "featurize" / "_plan.py")}
    assert "featsmith.featurize._generator" not in plan


def test_no_sql_outside_the_trial_store():
    offenders = [
        str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
        if p.name != "_storage.py" and re.search(r"^\s*import sqlite3|\bSELECT\b .* FROM\b", p.read_text(), re.M)
    ]
    assert not offenders


@pytest.mark.parametrize("script", sorted((ROOT / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_leave_sys_path_alone_and_name_no_absolute_path(script):
    text = script.read_text()
    assert "sys.path" not in text
    assert not re.search(r"[\"']/(work|home|root|tmp|Users)/", text)
    # A script named like a standard-library module would shadow it for its siblings.
    import sys

    assert script.stem not in sys.stdlib_module_names
