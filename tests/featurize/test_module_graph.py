"""featurize's private modules import each other without a cycle (imports inside functions
count: they hide a cycle, they do not remove it), and any of them can be imported first."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import featsmith.featurize

PACKAGE = "featsmith.featurize"
FOLDER = Path(featsmith.featurize.__file__).parent
MODULES = sorted(p.stem for p in FOLDER.glob("_*.py") if p.stem != "__init__")


def _imports(module):
    tree = ast.parse((FOLDER / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE + "."):
            found.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith(PACKAGE + ".")}
    return found


def test_no_import_cycle():
    graph = {m: _imports(m) for m in MODULES}
    done, path = set(), []

    def visit(m):
        if m in path:
            raise AssertionError(f"import cycle: {' -> '.join(path[path.index(m):] + [m])}")
        if m in done:
            return
        path.append(m)
        for dep in sorted(graph.get(m, ())):
            visit(dep)
        path.pop()
        done.add(m)

    for m in MODULES:
        visit(m)


@pytest.mark.parametrize("module", ["_plan", "_generator"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    code = f"import {PACKAGE}.{module} as m; print(m.__name__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
