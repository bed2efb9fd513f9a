"""Local searches on a mutable feasible placement: packing moves that fill nodes (packing.py)
and the reassignment of placed jobs by shift and swap, costs evaluated exactly (reassign.py).

Imports `model`, `index`, the judges' weights and scale, and numpy; never OR-Tools.
"""
