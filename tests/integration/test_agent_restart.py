"""kill -9 of an agent right after it starts runs, restarted at once: nothing runs twice."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

from tests.integration.conftest import TERMINAL, Pool, node, py_job

ROUNDS = 10
JOBS_PER_ROUND = 3


def started_jobs(log: Path) -> set[str]:
    """Job ids the agent logged `run_started` for (a torn last line is ignored)."""
    jobs: set[str] = set()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("event") == "run_started":
            jobs.add(str(entry.get("job_id")))
    return jobs


def test_killed_and_restarted_agent_never_starts_a_run_twice(pool: Pool) -> None:
    """Across rounds of kill -9 40-150 ms after `run_started` and an immediate restart on the
    same work directory, no run id executes twice and every executed run has a run row."""
    rng = random.Random()
    pool.department("dept")
    pool.cluster("c1", [node("n1", cpu=8, memory="16Gi")])
    executions = pool.tmp / "executions.txt"
    code = (
        "import os, time\n"
        f"fd = os.open({str(executions)!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)\n"
        "line = os.environ['SUANCHOU_JOB_ID'] + ' ' + os.environ['SUANCHOU_RUN_ID'] + '\\n'\n"
        "os.write(fd, line.encode())\n"
        "time.sleep(1)\n"
    )
    job_ids: list[str] = []
    for round_no in range(ROUNDS):
        results = pool.submit(
            "dept", *[py_job(f"r{round_no}-{i}", code) for i in range(JOBS_PER_ROUND)]
        )
        ids = {r.job_id for r in results}
        job_ids += ids
        agent = pool.agents[-1]
        log = agent.log
        pool.wait_for(
            lambda ids=ids, log=log: ids <= started_jobs(log), 30, f"round {round_no}: started"
        )
        time.sleep(rng.uniform(0.04, 0.15))  # the scenario: die just after starting them
        agent.kill()
        pool.start_agent("c1")

    for job_id in job_ids:
        pool.wait_state("dept", job_id, TERMINAL, timeout=90)

    lines = executions.read_text().splitlines()
    run_ids = [line.split()[1] for line in lines]
    twice = sorted({r for r in run_ids if run_ids.count(r) > 1})
    assert not twice, f"runs executed more than once: {twice}"
    with sqlite3.connect(pool.tmp / "suanchou.db") as db:
        rows = dict(db.execute("SELECT run_id, job_id FROM run").fetchall())
    for line in lines:
        job_id, run_id = line.split()
        assert rows.get(run_id) == job_id, f"execution of {run_id} has no matching run row"
    assert {line.split()[0] for line in lines} <= set(job_ids)
