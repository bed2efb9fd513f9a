"""Import hygiene: the solver stays pure, and its judges never touch CP-SAT or a search."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "scheduler" / "placement"
PREFIX = "scheduler.placement"
# The parts that search for answers; the judges and the index must reach none of them.
SEARCHES = ("greedy", "lp", "search", "cpsat", "stages", "engine")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str) -> set[str]:
    """Absolute imports of one module of the package, TYPE_CHECKING ones included;
    `from scheduler.placement.index import devices` counts as importing the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in found if not n.startswith(PREFIX) or n in MODULES}


def _reached(module: str) -> set[str]:
    """Every module `module` reaches, following imports inside the package (not through the
    package's public __init__, which imports everything)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or current == PREFIX:
            continue
        seen.add(current)
        todo.extend(m for m in _imports(current) if m.startswith(PREFIX + "."))
    return seen | {m for s in seen for m in _imports(s)}


def _in(module: str, parts: tuple[str, ...]) -> bool:
    return any(module == f"{PREFIX}.{p}" or module.startswith(f"{PREFIX}.{p}.") for p in parts)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_stdlib_ortools_numpy_and_own_package(module: str) -> None:
    """Each module imports only the standard library, ortools, numpy (ortools's own array
    dependency; the regret start and the reassignment search score moves with it), numba (the
    compiled move kernel only) and its own package."""
    kernel = _in(module, ("search.kernel",))
    for name in _imports(module):
        top = name.split(".")[0]
        allowed = top in sys.stdlib_module_names or top in ("ortools", "numpy")
        allowed = allowed or (kernel and top == "numba")
        assert allowed or name.startswith(PREFIX), f"{module} imports {name}"


JUDGES = sorted(m for m in MODULES if _in(m, ("judges",)))


@pytest.mark.parametrize("judge", JUDGES)
def test_judges_reach_no_ortools_and_no_search(judge: str) -> None:
    """The checker, evaluator and explanations import no OR-Tools or numpy and nothing of the
    greedy rules, the LP, the searches, CP-SAT or the engine, even indirectly."""
    reached = _reached(judge)
    assert not any(name.split(".")[0] in ("ortools", "numpy") for name in reached), sorted(reached)
    assert not [name for name in reached if _in(name, SEARCHES)]


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if _in(m, ("model", "index")) or m.endswith("baselines"))
)
def test_model_index_and_baselines_reach_no_ortools(module: str) -> None:
    """The vocabulary, the problem index and the greedy baselines import no OR-Tools, directly
    or not, and the index nothing of a search."""
    reached = _reached(module)
    assert not any(name.split(".")[0] == "ortools" for name in reached), sorted(reached)
    if not module.endswith("baselines"):
        assert not [name for name in reached if _in(name, SEARCHES)]


def test_checker_shares_nothing_with_the_baselines() -> None:
    """The checker's imports never reach the baselines' own search code, nor the engines'
    reading of quotas and eviction rules (quota_scope)."""
    reached = _reached(f"{PREFIX}.judges.verify")
    own = ("greedy.baselines", "index.node_pool", "index.devices", "index.quota_scope")
    assert not reached & {f"{PREFIX}.{m}" for m in own}


def test_numba_only_in_the_kernel_and_not_on_import() -> None:
    """numba is imported by the move kernel's compiled module alone, and importing the solver's
    public API does not load it (the engine imports the kernel when it runs it)."""
    users = {m for m in MODULES if any(n.split(".")[0] == "numba" for n in _imports(m))}
    assert users == {f"{PREFIX}.search.kernel._kernel"}
    code = "import sys, scheduler.placement; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_ortools_only_in_the_lp_and_cpsat() -> None:
    """OR-Tools is imported only by the LP package and the CP-SAT package."""
    users = {m for m in MODULES if any(n.split(".")[0] == "ortools" for n in _imports(m))}
    assert users and all(_in(m, ("lp", "cpsat")) for m in users), sorted(users)
