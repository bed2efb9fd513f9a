"""Benchmarks of the placement engine: instance generators and loaders (tracks), the runner
(`python -m benchmarks`) and its reports. Uses only the public modules of scheduler.placement,
the same `solve()` the scheduler calls, and judges every answer with the independent checker
and evaluator."""
