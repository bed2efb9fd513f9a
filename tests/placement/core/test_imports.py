"""The v2 referee and yardsticks stay free of OR-Tools, even through indirect imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "scheduler" / "placement"
PREFIX = "scheduler.placement"


def _imports(module: str) -> set[str]:
    """Absolute imports of one module of the package, TYPE_CHECKING ones included."""
    source = (PACKAGE / f"{module.rsplit('.', 1)[1]}.py").read_text(encoding="utf-8")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from scheduler.placement import devices` imports a module too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if not name.startswith(PREFIX) or _is_module(name)}


def _is_module(name: str) -> bool:
    return name == PREFIX or (PACKAGE / f"{name.rsplit('.', 1)[1]}.py").exists()


def _reached(module: str) -> set[str]:
    """Every module `module` reaches, following imports inside the package."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or current == PREFIX:
            continue
        seen.add(current)
        todo.extend(m for m in _imports(current) if m.startswith(PREFIX + "."))
    return seen | {m for s in seen for m in _imports(s)}


@pytest.mark.parametrize(
    "module",
    [
        "validate",
        "usage",
        "verify",
        "evaluator",
        "devices",
        "node_pool",
        "baselines",
        "quota_scope",
    ],
)
def test_no_ortools_anywhere_below(module: str) -> None:
    """Checker, evaluator, validation and baselines import no OR-Tools, directly or not."""
    reached = _reached(f"{PREFIX}.{module}")
    assert not any(name.split(".")[0] == "ortools" for name in reached), sorted(reached)


def test_checker_shares_nothing_with_the_baselines() -> None:
    """The checker's imports never reach the baselines' own search code, nor the engines'
    reading of quotas and eviction rules (quota_scope)."""
    reached = _reached(f"{PREFIX}.verify")
    own = ("baselines", "node_pool", "devices", "quota_scope")
    assert not reached & {f"{PREFIX}.{m}" for m in own}
