"""The CP-SAT model and its large-neighbourhood search: the decided scope (scope.py), the
variables (variables.py), the constraint families (constraints.py), the objective
(objective.py), building, hinting, solving and decoding (solver.py), the stop at a target
value (stop.py), and LNS (lns.py).

The only part of the engine, with lp/bound.py, that imports OR-Tools; reads `model`, `index`
and the judges' scale.
"""
