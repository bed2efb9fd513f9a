"""The layering of ARCHITECTURE.md holds: each package imports only what it may."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STDLIB = set(sys.stdlib_module_names)

# package -> (project packages it may import, third-party top-level modules it may import)
RULES: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "scheduler.domain": (("scheduler.domain",), set()),
    "scheduler.placement": (("scheduler.placement",), {"ortools", "numpy"}),
    # The solver's parts (scheduler/placement/__init__.py): the vocabulary reads nothing else
    # (the outcome carries the evaluator's Evaluation), the judges only it and the problem
    # facts, the index no search; OR-Tools only in the LP and CP-SAT (and the engine).
    "scheduler.placement.model": (
        ("scheduler.placement.model", "scheduler.placement.judges.evaluator"),
        set(),
    ),
    "scheduler.placement.judges": (
        (
            "scheduler.placement.model",
            "scheduler.placement.judges",
            "scheduler.placement.index.facts",
        ),
        set(),
    ),
    "scheduler.placement.index": (
        ("scheduler.placement.model", "scheduler.placement.index", "scheduler.placement.judges"),
        set(),
    ),
    "scheduler.placement.greedy": (
        tuple(f"scheduler.placement.{p}" for p in ("model", "index", "judges", "greedy")),
        {"numpy"},
    ),
    "scheduler.placement.search": (
        tuple(f"scheduler.placement.{p}" for p in ("model", "index", "judges", "search")),
        {"numpy"},
    ),
    # The compiled move kernel: the only place numba may be imported.
    "scheduler.placement.search.kernel": (
        tuple(f"scheduler.placement.{p}" for p in ("model", "index", "judges", "search")),
        {"numpy", "numba"},
    ),
    "scheduler.placement.lp": (
        tuple(f"scheduler.placement.{p}" for p in ("model", "index", "judges", "search", "lp")),
        {"ortools"},
    ),
    "scheduler.placement.cpsat": (
        tuple(f"scheduler.placement.{p}" for p in ("model", "index", "judges", "cpsat")),
        {"ortools"},
    ),
    "scheduler.state": (
        ("scheduler.domain", "scheduler.state"),
        {"sqlalchemy", "sqlmodel", "alembic"},
    ),
    "scheduler.service": (
        ("scheduler.domain", "scheduler.state", "scheduler.placement", "scheduler.service"),
        {"sqlalchemy", "structlog"},
    ),
    "scheduler.api": (
        ("scheduler.domain", "scheduler.service", "scheduler.api", "protos"),
        {"grpc", "grpc_health", "grpc_reflection", "google", "structlog"},
    ),
    # Metrics: reads the service layer's reports and the store; nothing imports it but the
    # composition root (scheduler.app), which wires its hooks.
    "scheduler.observe": (
        ("scheduler.domain", "scheduler.state", "scheduler.service", "scheduler.observe"),
        {"prometheus_client", "structlog"},
    ),
    "scheduler.cli": (
        ("scheduler.cli", "protos", "agents.quantities", "agents.transport"),
        {"grpc", "google", "yaml"},
    ),
    "agents": (("agents", "protos"), {"grpc", "google", "yaml", "structlog"}),
    # The Kubernetes executor: the official client (and its urllib3), only here.
    "agents.kube": (
        ("agents", "protos"),
        {"grpc", "google", "yaml", "structlog", "kubernetes", "urllib3"},
    ),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _files(package: str) -> list[Path]:
    """The package's modules, without those of a subpackage that has its own rule."""
    root = REPO / Path(*package.split("."))
    inner = [REPO / Path(*p.split(".")) for p in RULES if p.startswith(package + ".")]
    return sorted(
        p
        for p in root.rglob("*.py")
        if "migrations" not in p.parts and not any(p.is_relative_to(i) for i in inner)
    )


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_imports_only_what_it_may(package: str) -> None:
    """Each module of the package imports only allowed project packages and libraries."""
    allowed_project, allowed_third = RULES[package]
    files = _files(package)
    assert files, f"no modules found for {package}"
    bad = []
    for path in files:
        for name in _imports(path):
            top = name.split(".")[0]
            if top in STDLIB or top == "__future__":
                continue
            if top in ("scheduler", "agents", "protos", "benchmarks"):
                if not any(name == p or name.startswith(p + ".") for p in allowed_project):
                    bad.append(f"{path.relative_to(REPO)}: {name}")
            elif top not in allowed_third:
                bad.append(f"{path.relative_to(REPO)}: {name}")
    assert bad == []


def test_the_local_agent_does_not_load_the_kubernetes_client() -> None:
    """`agents.main` imports the Kubernetes executor only when asked for it."""
    code = "import sys, agents.main; print(sorted(m for m in sys.modules if m.startswith('kube')))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _called(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def test_job_states_and_events_are_written_in_one_place() -> None:
    """One path for a job's state change (issue 9): the job records (Jobs.insert, move,
    move_many in scheduler/state/job_records.py) are the only code that inserts or updates
    job rows or writes job events, so every state change goes through the transition table
    and appends its event. The fair-share records update queued jobs' effective priority, no
    state (their UPDATE filters on QUEUED and sets effective_priority alone)."""
    writers: dict[str, set[str]] = {"JobRow": set(), "JobEventRow": set(), "job_to_row": set()}
    for path in sorted((REPO / "scheduler").rglob("*.py")):
        where = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node.func)
            args = {a.id for a in node.args if isinstance(a, ast.Name)}
            for table in writers:
                if name == table or (name in ("insert", "update") and table in args):
                    writers[table].add(where)
    records = "scheduler/state/job_records.py"
    assert writers["JobEventRow"] == writers["job_to_row"] == {records}
    # mapping.py builds the row Jobs.insert adds (job_to_row, called there alone);
    # fair_share.py sets effective priorities.
    assert writers["JobRow"] == {
        records,
        "scheduler/state/mapping.py",
        "scheduler/state/fair_share.py",
    }
