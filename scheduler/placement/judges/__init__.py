"""The judges: the checker (verify.py, verify_running.py), the evaluator (evaluator.py, and the
objective's scale and job work in scale.py) with the accounting both share (usage.py), and the
explanations of unplaced jobs (explain.py).

They read the problem and an answer and decide, independently of every engine: they import
only the standard library, `scheduler.placement.model` and the problem facts of `index`
(explain.py) -- never OR-Tools or numpy, never the greedy rules, the LP, the searches or the
CP-SAT model (tests/placement/judges/test_imports.py holds them to it).
"""
