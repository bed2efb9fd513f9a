"""The city simulator of issue 9: a seeded city's trace replayed under four policies (separate
clusters, Kueue-like, Slurm-like, suanchou's real scheduling cycle) with the same simulated
agents and clock, and the metrics that compare them. Run it with `python -m benchmarks.city`."""
