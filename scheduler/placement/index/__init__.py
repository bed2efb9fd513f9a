"""The problem index every stage shares: the demand and money of a job on a node with its
overrides (demands.py: the one reading every stage uses, the judges keep their own), direct
lookups of one problem (facts.py), job and node classes (aggregate.py), free capacity with
fast fit lookups (node_pool.py), GPU devices inside one node (devices.py), and the reading of
scoped quotas and eviction rules (quota_scope.py).

Plain Python: imports the standard library, `model`, and the evaluator's `job_work`
(judges/evaluator.py), never OR-Tools or a search stage.
"""
