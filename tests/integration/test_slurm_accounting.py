"""sacct, for Slurm jobs slurmctld has forgotten. Needs Slurm with accounting (start-slurm.sh
with SLURM_ACCOUNTING=1): the default test Slurm has none, and then this module skips."""

from __future__ import annotations

import pytest

from agents.slurm.accounting import final_states, jobs_by_name
from agents.slurm.jobs import job_name
from tests.integration.conftest import Pool
from tests.integration.slurm_support import require_slurm, slurm_cli


def accounting_on() -> bool:
    config = slurm_cli().run(["scontrol", "show", "config"])
    return "accounting_storage/slurmdbd" in config


def test_sacct_reports_final_states_by_id_and_by_run_name() -> None:
    """A finished job's state and exit code are read from sacct by job id and by run name."""
    require_slurm()
    if not accounting_on():
        pytest.skip("Slurm runs without accounting (SLURM_ACCOUNTING=1 enables it)")
    cli = slurm_cli()
    out = cli.run(
        [
            "sbatch",
            "--parsable",
            f"--job-name={job_name('acct-run')}",
            "--chdir=/tmp",
            "--output=/dev/null",
            "--mem=50M",
        ],
        stdin=b"#!/bin/sh\nexit 5\n",
    )
    slurm_id = out.strip().split(";")[0]
    # slurmdbd records a job a moment after slurmctld ends it, by id and by name separately.
    Pool.wait_for(
        lambda: (
            final_states(cli, [slurm_id]).get(slurm_id, ("",))[0] == "FAILED"
            and "acct-run" in jobs_by_name(cli, ["acct-run"])
        ),
        60,
        "sacct to record the job",
    )
    assert final_states(cli, [slurm_id])[slurm_id] == ("FAILED", 5 << 8)
    found = jobs_by_name(cli, ["acct-run", "never-submitted"])
    assert list(found) == ["acct-run"]
    assert (found["acct-run"].state, found["acct-run"].wait_status) == ("FAILED", 5 << 8)
