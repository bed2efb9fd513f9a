"""The Slurm executor and capacity source: `suanchou agent --executor slurm [--partition P]`.

`commands` runs Slurm's client programs with bounds; `parse` reads their output; `capacity`
offers the partition's nodes; `states` maps Slurm job states to run phases; `executor`
submits, watches and cancels one Slurm batch job per leased replica.
"""
