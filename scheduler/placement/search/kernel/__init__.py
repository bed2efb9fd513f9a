"""The compiled kernel of the reassignment search (reassign.py): the state as flat arrays
(arrays.py), shift and swap deltas, feasibility and application compiled with numba
(_kernel.py, reached through the typed compiled.py), and late acceptance driven in compiled
chunks (late.py).

The kernel's deltas equal reassign.py's exact ones (tests/placement/search/kernel asserts it on
random moves); the answer it returns goes through the engine's pool like any other, so the
judges (judges/: checker, evaluator) still check it, and they never import this package.
Imports `model`, `search`, numpy and numba; never OR-Tools. numba is imported only when the
kernel runs (`EngineParams.move_kernel`).
"""
