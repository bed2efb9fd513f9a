"""The LP relaxation over (job class x node class) pairs: the LP and its rows (rows.py), the
upper bound and its fractional plan (bound.py, OR-Tools' linear solver), and the rounding of
that plan to an integral placement (rounding.py, services.py; it improves the rounding with
the packing search of `search`). all_placed.py is the bound that needs no LP: every job placed
at its least cost, which proves a quiet cycle's answer before the LP is built.

Imports `model`, `index`, the judges' scale and `search.packing`.
"""
