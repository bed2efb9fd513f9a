"""Local searches on a mutable feasible placement: the packing state (occupancy.py, and its
trial moves and node choice in packing.py) and the moves that fill it -- driven by
local_search.py, with budget.py's stopping rule, and the moves of eject.py, repack.py and
cost.py -- and the reassignment of placed jobs by shift and swap, costs evaluated exactly
(reassign.py, on reassign_state.py's incremental state), whose late acceptance runs on the
compiled kernel of kernel/ (numba) by default.

Imports `model`, `index`, the judges' weights and scale, and numpy (numba in kernel/ only);
never OR-Tools.
"""
