"""Import hygiene: the solver stays pure, and its judges never touch CP-SAT."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "scheduler" / "placement"
PREFIX = "scheduler.placement"


def _imports(module: str) -> set[str]:
    path = PACKAGE / ("__init__.py" if module == PREFIX else f"{module.rsplit('.', 1)[1]}.py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _closure(module: str) -> set[str]:
    """Every module `module` reaches, following imports inside the package."""
    seen, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(m for m in _imports(current) if m.startswith(PREFIX + "."))
    return {m for s in seen for m in _imports(s)} | seen


MODULES = sorted(f"{PREFIX}.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", [PREFIX, *MODULES])
def test_only_stdlib_ortools_and_own_package(module: str) -> None:
    """Each module imports only the standard library, ortools, numpy (ortools's own array
    dependency; reassign.py scores moves with it) and its own package."""
    for name in _imports(module):
        top = name.split(".")[0]
        allowed = top in sys.stdlib_module_names or top in ("ortools", "numpy")
        assert allowed or name.startswith(PREFIX), f"{module} imports {name}"


@pytest.mark.parametrize("judge", ["verify", "evaluator", "baselines", "validate"])
def test_judges_and_baselines_never_reach_ortools(judge: str) -> None:
    """The checker, evaluator, greedy and explanations do not import CP-SAT (or numpy), even
    indirectly: the judges stay plain Python."""
    reached = _closure(f"{PREFIX}.{judge}")
    assert not any(name.split(".")[0] in ("ortools", "numpy") for name in reached), sorted(reached)
