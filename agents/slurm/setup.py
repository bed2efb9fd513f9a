"""Builds the Slurm capacity source and executor that `suanchou agent --executor slurm` uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agents.slurm.capacity import SlurmCapacity, default_partition
from agents.slurm.commands import SlurmCommands
from agents.slurm.executor import SlurmExecutor


@dataclass(frozen=True)
class SlurmSetup:
    capacity: SlurmCapacity
    executor: SlurmExecutor

    @classmethod
    def connect(
        cls, partition: str | None, agent_key: str, workdir: Path, kill_grace: float
    ) -> SlurmSetup:
        """Asks Slurm for the partition (its default one if None) and its nodes now, so that
        a missing Slurm or a wrong partition fails at start (SlurmError)."""
        cli = SlurmCommands()
        name = partition or default_partition(cli)
        return cls(
            SlurmCapacity(cli, name, agent_key),
            SlurmExecutor(workdir, cli, partition=name, agent_key=agent_key, kill_grace=kill_grace),
        )
