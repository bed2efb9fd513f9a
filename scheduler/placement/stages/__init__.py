"""The stages of one solve (engine.py's pipeline), one family per module.

pool.py keeps the best checked answer and the clock; state.py is one run's state and the
budgets every stage reads; construct.py (starts, the queue's best fit after a warm start,
greedy rules, regret, node fill), relax.py (LP bound and rounding, and the all-placed bound the
run loop tries once everything is placed), focus.py (the focused search after a good warm start),
neighbourhoods.py (reassignment and LNS), exact.py (CP-SAT on everything, with its stop at the
gap target) and result.py (the outcome) each add their stages to it. May import every part of
the package; only engine.py imports it.
"""
