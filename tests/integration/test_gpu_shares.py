"""GPU shares end to end: a real scheduler and a real local agent whose node file declares GPUs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from protos.suanchou.v1 import jobs_pb2, types_pb2
from scheduler.cli.main import main
from tests.integration.conftest import Pool, md, node

GPU = "nvidia.com/gpu"
RUNNING_OR_DONE = {types_pb2.JOB_STATE_RUNNING, types_pb2.JOB_STATE_SUCCEEDED}


def _gpu_job(
    client_id: str, out: Path, release: Path, *, whole: int = 0, share: int = 0
) -> types_pb2.JobSpec:
    """A replica that writes its CUDA_VISIBLE_DEVICES to `out`/<job id>, then holds its devices
    until `release` exists, so the three replicas below run at the same time."""
    code = (
        "import os, pathlib, time\n"
        f"out = pathlib.Path({str(out)!r}) / os.environ['SUANCHOU_JOB_ID']\n"
        "out.write_text(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))\n"
        "deadline = time.monotonic() + 60\n"
        f"while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
    )
    resources = types_pb2.Resources(quantities={"cpu": 500, "memory": 128})
    if whole:
        resources.quantities[GPU] = whole
    if share:
        resources.shares[GPU] = share
    return types_pb2.JobSpec(
        client_id=client_id,
        resources=resources,
        command=[sys.executable, "-c", code],
        env={"CUDA_VISIBLE_DEVICES": "7"},  # the leased devices win over the job's own
    )


def test_a_fractional_and_a_whole_gpu_job_share_a_two_gpu_node(pool: Pool, tmp_path: Path) -> None:
    """A node file with 2 GPUs: a 0.5 and a 0.25 share run on one device and a whole-GPU job
    on the other, at the same time, each seeing exactly its device in CUDA_VISIBLE_DEVICES; the
    job reads back the share as it was asked."""
    pool.department("公安局")
    gpu_node = node("g", cpu=8)
    gpu_node["capacity"][GPU] = 2
    gpu_node["labels"] = {"gpu.model": "A100"}
    pool.cluster("gpu-a", [gpu_node])
    out, release = tmp_path / "env", tmp_path / "release"
    out.mkdir()
    results = pool.submit(
        "公安局",
        _gpu_job("half", out, release, share=500),
        _gpu_job("quarter", out, release, share=250),
        _gpu_job("whole", out, release, whole=1),
    )
    assert [r.error.code for r in results] == ["", "", ""], results
    ids = [r.job_id for r in results]
    pool.wait_for(
        lambda: all((out / i).exists() for i in ids), 60, "all three replicas to run together"
    )
    half, quarter, whole = ((out / i).read_text() for i in ids)
    release.touch()
    assert half == quarter and half in {"0", "1"}
    assert whole == {"0": "1", "1": "0"}[half]
    for job_id in ids:
        pool.wait_state("公安局", job_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
    job = pool.get("公安局", ids[1])
    assert dict(job.spec.resources.shares) == {GPU: 250}
    assert GPU not in job.spec.resources.quantities
    whole_job = pool.get("公安局", ids[2])
    assert dict(whole_job.spec.resources.quantities)[GPU] == 1


def test_shares_are_validated_and_gpu_models_explained(pool: Pool) -> None:
    """1.5 devices, a share of cpu, or a resource in both fields are INVALID_ARGUMENT naming
    `resources[...]`; a job whose GPU models no node has is rejected with GPU_MODEL, and
    ExplainJob says which models the cluster has."""
    pool.department("公安局")
    gpu_node = node("g", cpu=8)
    gpu_node["capacity"][GPU] = 2
    gpu_node["labels"] = {"gpu.model": "A100"}
    pool.cluster("gpu-a", [gpu_node])

    def spec(client_id: str, **kw: object) -> types_pb2.JobSpec:
        return types_pb2.JobSpec(client_id=client_id, command=["true"], **kw)  # type: ignore[arg-type]

    both = types_pb2.Resources(quantities={GPU: 1}, shares={GPU: 250})
    results = pool.submit(
        "公安局",
        spec("too-big", resources=types_pb2.Resources(shares={GPU: 1500})),
        spec("cpu-share", resources=types_pb2.Resources(shares={"cpu": 500})),
        spec("both", resources=both),
        spec(
            "h100",
            resources=types_pb2.Resources(quantities={GPU: 1}),
            constraints=types_pb2.Constraints(gpu_models=["H100", "H800"]),
        ),
    )
    assert [(r.error.code, r.error.field) for r in results[:3]] == [
        ("INVALID_ARGUMENT", f"resources[{GPU}]"),
        ("INVALID_ARGUMENT", "resources[cpu]"),
        ("INVALID_ARGUMENT", f"resources[{GPU}]"),
    ]
    assert "share of one device (below 1) or whole devices, got 1.5" in results[0].error.message
    rejected = results[3]
    assert rejected.state == types_pb2.JOB_STATE_REJECTED
    why = pool.jobs.ExplainJob(
        jobs_pb2.ExplainJobRequest(job_id=rejected.job_id), metadata=md(pool.tokens["公安局"])
    )
    assert why.clusters[0].reason == "GPU_MODEL"
    assert "H100, H800" in why.clusters[0].message and "A100" in why.clusters[0].message


def test_the_cli_submits_a_quarter_gpu_and_shows_it(
    pool: Pool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`job submit --gpu 0.25 --gpu-model A100` reaches the scheduler as a share, runs on the
    agent's GPU node with one device id, and `job get` prints the share as 0.25."""
    monkeypatch.setenv("SUANCHOU_SCHEDULER", pool.address)
    monkeypatch.setenv("SUANCHOU_TOKEN", pool.department("公安局"))
    monkeypatch.delenv("SUANCHOU_CONFIG", raising=False)
    gpu_node = node("g", cpu=8)
    gpu_node["capacity"][GPU] = 2
    gpu_node["labels"] = {"gpu.model": "A100"}
    pool.cluster("gpu-a", [gpu_node])
    code = main(
        ["--json", "job", "submit", "--cpu", "0.5", "--memory", "128Mi", "--gpu", "0.25",
         "--gpu-model", "A100", "--", sys.executable, "-c",
         "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])"]
    )  # fmt: skip
    assert code == 0
    job_id = json.loads(capsys.readouterr().out)["results"][0]["job_id"]
    pool.wait_state("公安局", job_id, {types_pb2.JOB_STATE_SUCCEEDED}, timeout=60)
    assert main(["job", "get", job_id]) == 0
    shown = capsys.readouterr().out
    assert "nvidia.com/gpu=0.25" in shown and "gpu.model one of A100" in shown
    job = pool.get("公安局", job_id)
    assert dict(job.spec.resources.shares) == {GPU: 250}
    [run] = job.runs
    out = pool.tmp / "work-gpu-a" / run.run_id / "stdout.log"
    assert out.read_text().strip() in {"0", "1"}
