"""Compiles the move kernel into numba's cache (or loads it from there) and prints how long
that took: `python -m scheduler.placement.search.kernel`. Run it once after an install (an
image build, say) so that the first solve that uses the kernel does not pay the compile."""

from __future__ import annotations

from scheduler.placement.model.problem import ObjectiveWeights, Problem, Solution
from scheduler.placement.search.kernel import compiled
from scheduler.placement.search.kernel.arrays import build
from scheduler.placement.search.reassign import Reassign

# Two nodes, two running jobs that may move: every array the kernel takes, with the types a
# real problem gives them, so what is compiled here is what solves use.
_TINY = Problem(
    resources=("cpu", "mem"),
    node_capacity=((4, 8), (4, 8)),
    node_group=(0, 0),
    group_cost=((0, 0),),
    node_sets=((0, 1),),
    job_demand=((1, 2), (1, 2)),
    job_replicas=(1, 1),
    job_priority=(0, 0),
    job_order=(0, 1),
    job_nodes=(0, 0),
    job_current=((0,), (1,)),
    job_move_cost=(1, 1),
)


def main() -> None:
    state = Reassign(_TINY, Solution(((0,), (1,))), ObjectiveWeights())
    s, x = build(state)
    print(f"move kernel compiled or loaded from the cache in {compiled.warm_up(s, x):.2f} s")


if __name__ == "__main__":
    main()
