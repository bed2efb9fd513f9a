"""Greedy construction: the classic rules (baselines.py, on one pass's state in placer.py and
services.py), the feasibility-first regret start
and its repair and descent (regret.py, regret_moves.py), the node-centric fill (node_fill.py),
and the starts that need no search (warm_start.py).

Imports `model`, `index` and the judges; numpy for the regret start's dense arrays; never
OR-Tools, the LP or the searches.
"""
