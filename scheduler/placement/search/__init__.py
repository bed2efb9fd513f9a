"""Local searches on a mutable feasible placement: the packing state (packing.py) and the moves
that fill it -- driven by local_search.py, with budget.py's stopping rule, and the moves of
eject.py, repack.py and cost.py -- and the reassignment of placed jobs by shift and swap, costs
evaluated exactly (reassign.py).

Imports `model`, `index`, the judges' weights and scale, and numpy; never OR-Tools.
"""
