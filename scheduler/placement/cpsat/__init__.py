"""The CP-SAT model and its large-neighbourhood search: the decided scope (scope.py), the
variables (variables.py), the constraint families (constraints.py), the objective
(objective.py), building, hinting, solving (with a stop hook at a target value) and decoding
(solver.py), and LNS (lns.py).

The only part of the engine, with lp/bound.py, that imports OR-Tools; reads `model`, `index`
and the judges' scale.
"""
