"""Job files and submit flags into JobSpec protos."""

from __future__ import annotations

import io
import uuid

import pytest

from protos.suanchou.v1 import types_pb2
from scheduler.cli.errors import UsageError
from scheduler.cli.jobfile import JobFileError, load_jobs, parse_duration
from scheduler.cli.main import parse_args
from scheduler.cli.submit import specs_from_args

FULL_JOB = """\
client_id: report-2026-11-21
job_set: nightly
name: traffic-report
priority: 10
replicas: 2
resources: {cpu: 2, memory: 4Gi, nvidia.com/gpu: 1}
command: [python, -c, "print('hi')"]
env: {MODE: fast}
max_runtime: 10m
constraints: {min_security_level: 3, allowed_regions: [hz], xinchuang_required: true,
              node_selector: {arch: aarch64}}
labels: {team: traffic}
image: python:3.12-slim
"""

EXPECTED = types_pb2.JobSpec(
    client_id="report-2026-11-21",
    job_set="nightly",
    name="traffic-report",
    priority=10,
    replicas=2,
    resources=types_pb2.Resources(quantities={"cpu": 2000, "memory": 4096, "nvidia.com/gpu": 1}),
    command=["python", "-c", "print('hi')"],
    env={"MODE": "fast"},
    max_runtime_seconds=600,
    constraints=types_pb2.Constraints(
        min_security_level=3,
        allowed_regions=["hz"],
        xinchuang_required=True,
        node_selector={"arch": "aarch64"},
    ),
    labels={"team": "traffic"},
    image="python:3.12-slim",
)


def test_single_job_maps_every_key_in_canonical_units():
    """The documented example becomes one JobSpec with millicores, MiB and seconds."""
    assert load_jobs(FULL_JOB, "job.yaml") == [EXPECTED]


def test_job_list_keeps_order_and_gives_each_item_a_fresh_client_id():
    """`jobs: [...]` yields one spec per item; items without client_id get distinct uuid4s."""
    specs = load_jobs(
        "jobs:\n  - {name: a, command: [sleep, 10]}\n  - {name: b, max_runtime_seconds: 5}\n",
        "f.yaml",
    )
    assert [s.name for s in specs] == ["a", "b"]
    assert list(specs[0].command) == ["sleep", "10"]
    assert specs[1].max_runtime_seconds == 5
    ids = {s.client_id for s in specs}
    assert len(ids) == 2 and all(uuid.UUID(i).version == 4 for i in ids)


def test_stdin_is_read_for_dash(monkeypatch):
    """`job submit -` reads the job file from standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(FULL_JOB))
    assert specs_from_args(parse_args(["job", "submit", "-"])) == [EXPECTED]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "jobs:\n  - {name: a}\n  - {name: b}\n  - {replica: 2}\n",
            "f.yaml: jobs[2]: unknown key 'replica' (did you mean 'replicas'?)",
        ),
        (
            "jobs: [{constraints: {region: hz}}]",
            "f.yaml: jobs[0].constraints: unknown key 'region' (did you mean 'allowed_regions'?)",
        ),
        ("{resources: {memory: 4Gx}}", "f.yaml: job.resources.memory: '4Gx' is not a quantity"),
        ("{resources: {cpu: 0.0001}}", "f.yaml: job.resources.cpu: 0.0001 is finer than"),
        ("{resources: {nvidia.com/gpu: 1.5}}", "job.resources.nvidia.com/gpu: a share must be"),
        ("{resources: {nvidia.com/gpu: 0.0005}}", "nvidia.com/gpu: 0.0005 is finer than a thou"),
        ("{resources: {GPU: 1}}", "f.yaml: job.resources.GPU: not a resource name"),
        ("{env: {DEBUG: yes}}", "f.yaml: job.env.DEBUG: must be a string, got True; quote it"),
        ("{max_runtime: 10x}", "f.yaml: job.max_runtime: invalid duration '10x'"),
        ("{max_runtime: 1m, max_runtime_seconds: 60}", "not both"),
        ("{command: python}", "f.yaml: job.command: must be a list"),
        ("- {name: a}", "must be written as `jobs: [...]`"),
        ("jobs: []", "'jobs' must be a non-empty list"),
        ("jobs: [{name: a}]\nname: b", "keys 'name' beside 'jobs'"),
        ("{name: [unclosed", "f.yaml: not valid YAML"),
    ],
)
def test_errors_name_the_item_and_field(text, message):
    """Every job-file error says where: the file, the item index and the field path."""
    with pytest.raises(JobFileError) as raised:
        load_jobs(text, "f.yaml")
    assert message in str(raised.value)


def test_durations():
    """Durations accept whole seconds and combined s/m/h/d units."""
    assert parse_duration("1h30m", "x") == 5400
    assert parse_duration("2d", "x") == 172800
    assert parse_duration(45, "x") == 45
    assert parse_duration("90", "x") == 90
    with pytest.raises(JobFileError):
        parse_duration("-5", "x")


def test_flags_build_the_same_proto_as_the_equivalent_yaml():
    """`job submit` flags and the equivalent job file produce identical JobSpec protos."""
    args = parse_args(
        [
            "job", "submit", "--name", "traffic-report", "--client-id", "report-2026-11-21",
            "--job-set", "nightly", "--priority", "10", "--replicas", "2", "--cpu", "2",
            "--memory", "4Gi", "--gpu", "1", "--env", "MODE=fast", "--label", "team=traffic",
            "--max-runtime", "10m", "--min-security-level", "3", "--region", "hz",
            "--xinchuang", "--selector", "arch=aarch64", "--image", "python:3.12-slim",
            "--", "python", "-c", "print('hi')",
        ]
    )  # fmt: skip
    assert specs_from_args(args) == load_jobs(FULL_JOB, "job.yaml")


def test_flag_errors_are_usage_errors():
    """A bad flag value or a FILE mixed with job flags is a usage error (exit code 2)."""
    with pytest.raises(UsageError, match=r"job flags.resources.memory: '4Gx'"):
        specs_from_args(parse_args(["job", "submit", "--memory", "4Gx", "--", "true"]))
    with pytest.raises(UsageError, match="not both"):
        specs_from_args(parse_args(["job", "submit", "f.yaml", "--cpu", "1"]))
    with pytest.raises(UsageError, match="give a job FILE"):
        specs_from_args(parse_args(["job", "submit", "--cpu", "1"]))
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        specs_from_args(parse_args(["job", "submit", "--env", "NOVALUE", "--", "true"]))


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ("require", types_pb2.XINCHUANG_POLICY_REQUIRE),
        ("prefer", types_pb2.XINCHUANG_POLICY_PREFER),
        ("any", types_pb2.XINCHUANG_POLICY_ANY),
    ],
)
def test_xinchuang_policy_in_job_files_and_flags(value, policy):
    """`constraints: {xinchuang: prefer}` and `--xinchuang prefer` give the same policy; a bare
    `--xinchuang` stays xinchuang_required; anything else names the field."""
    [spec] = load_jobs(f"command: [x]\nconstraints: {{xinchuang: {value}}}", "f.yaml")
    assert spec.constraints.xinchuang == policy
    args = parse_args(["job", "submit", "--cpu", "1", "--xinchuang", value, "--", "x"])
    [flagged] = specs_from_args(args)
    if value == "require":
        assert flagged.constraints.xinchuang_required
    else:
        assert flagged.constraints.xinchuang == policy
    with pytest.raises(JobFileError, match=r"constraints\.xinchuang: must be require, prefer"):
        load_jobs("command: [x]\nconstraints: {xinchuang: maybe}", "f.yaml")


def test_gpu_shares_and_models_in_job_files_and_flags():
    """`nvidia.com/gpu: 0.25` and `--gpu 0.25` are a share of one device (250 thousandths in
    Resources.shares); whole numbers stay whole devices in `quantities` as before; GPU models
    come from `gpu_models` and `--gpu-model`."""
    [share, whole] = load_jobs(
        "jobs:\n"
        "  - {command: [x], resources: {nvidia.com/gpu: 0.25},"
        " constraints: {gpu_models: [A100, H100]}}\n"
        "  - {command: [x], resources: {nvidia.com/gpu: 2, huawei.com/ascend: '0.5'}}\n",
        "f.yaml",
    )
    assert dict(share.resources.shares) == {"nvidia.com/gpu": 250}
    assert "nvidia.com/gpu" not in share.resources.quantities
    assert list(share.constraints.gpu_models) == ["A100", "H100"]
    assert dict(whole.resources.quantities) == {"nvidia.com/gpu": 2}
    assert dict(whole.resources.shares) == {"huawei.com/ascend": 500}
    args = parse_args(
        ["job", "submit", "--gpu", "0.25", "--gpu-model", "A100", "--gpu-model", "H100", "--", "x"]
    )
    [flagged] = specs_from_args(args)
    assert flagged.resources == share.resources
    assert flagged.constraints.gpu_models == share.constraints.gpu_models
    with pytest.raises(UsageError, match=r"nvidia.com/gpu: a share must be below one device"):
        specs_from_args(parse_args(["job", "submit", "--gpu", "1.5", "--", "x"]))


def test_retry_keys_and_flags_give_the_same_spec() -> None:
    """max_attempts, retry_on and retry_exit_codes read alike from a job file and from
    `--max-attempts`, `--retry-on` (comma lists, repeatable) and `--retry-exit-code`."""
    text = "command: [x]\nmax_attempts: 4\nretry_on: [OOM, lost]\nretry_exit_codes: [3, 75]\n"
    [from_file] = load_jobs(text, "f.yaml")
    argv = ["job", "submit", "--max-attempts", "4", "--retry-on", "OOM,LOST"]
    argv += ["--retry-exit-code", "3", "--retry-exit-code", "75", "--", "x"]
    [from_flags] = specs_from_args(parse_args(argv))
    for spec in (from_file, from_flags):
        assert spec.max_attempts == 4
        assert list(spec.retry_on) == [
            types_pb2.FAILURE_CATEGORY_OOM,
            types_pb2.FAILURE_CATEGORY_LOST,
        ]
        assert list(spec.retry_exit_codes) == [3, 75]
    with pytest.raises(JobFileError, match=r"f.yaml: job.retry_on\[0\]: must be NODE_FAILURE"):
        load_jobs("command: [x]\nretry_on: [EXIT_CODE]\n", "f.yaml")
    with pytest.raises(JobFileError, match="retry_exit_codes: must be a list"):
        load_jobs("command: [x]\nretry_exit_codes: 3\n", "f.yaml")


def test_topology_keys_and_flags_give_the_same_spec() -> None:
    """`topology: {spread_zones, anti_affinity, spread_group}` in a job file and
    `--spread-zones`, `--anti-affinity`, `--spread-group` build the same JobSpec.topology; a
    misspelt key or a non-boolean anti_affinity is an error naming the place."""
    text = "command: [x]\ntopology: {spread_zones: 2, anti_affinity: true, spread_group: web}\n"
    [from_file] = load_jobs(text, "f.yaml")
    argv = ["job", "submit", "--spread-zones", "2", "--anti-affinity", "--spread-group", "web"]
    [from_flags] = specs_from_args(parse_args([*argv, "--", "x"]))
    for spec in (from_file, from_flags):
        assert spec.topology == types_pb2.Topology(
            spread_zones=2, anti_affinity=True, spread_group="web"
        )
    [plain] = specs_from_args(parse_args(["job", "submit", "--", "x"]))
    assert not plain.HasField("topology")
    with pytest.raises(JobFileError, match=r"job\.topology: unknown key 'zones'"):
        load_jobs("command: [x]\ntopology: {zones: 2}\n", "f.yaml")
    with pytest.raises(JobFileError, match=r"job\.topology\.anti_affinity: must be true or false"):
        load_jobs("command: [x]\ntopology: {anti_affinity: 'yes'}\n", "f.yaml")
    with pytest.raises(UsageError, match="--spread-zones"):
        specs_from_args(parse_args(["job", "submit", "f.yaml", "--spread-zones", "2"]))
