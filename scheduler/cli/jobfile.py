"""Job files: YAML (or command-line flags) into JobSpec protos.

A file holds one job, or several under `jobs:`. Keys mirror JobSpec in
protos/suanchou/v1/types.proto, with human quantities and durations:

    client_id: report-2026-11-21      # optional; see below
    job_set: nightly                  # optional; the scheduler defaults it to "default"
    name: traffic-report
    priority: 10                      # 0-1000, higher first; or, instead:
    priority_class: urgent            # a class the department is allowed (its value is used)
    replicas: 2                       # a gang: all replicas start together, in one cluster
    resources: {cpu: 2, memory: 4Gi, nvidia.com/gpu: 1}    # per replica; cpu 500m = half a core,
                                      # nvidia.com/gpu: 0.25 a quarter of ONE device (a share)
    command: [python, -c, "print('hi')"]                   # argv, run without a shell
    env: {MODE: fast}
    max_runtime: 10m                  # s/m/h/d, combinable (1h30m); or max_runtime_seconds: 600
    constraints: {min_security_level: 3, allowed_regions: [hz], xinchuang: require,
                  node_selector: {arch: aarch64}, gpu_models: [A100, H100],
                  tolerations: [dedicated=gpu:NoSchedule], clusters: [gov-a, gov-b],
                  preferred_clusters: [gov-b]}    # scheduler.cli.jobfile_placement
    labels: {team: traffic}
    image: python:3.12-slim           # container image (Kubernetes executor; else ignored)
    max_attempts: 3                   # 1-20; default the scheduler's max_attempts
    retry_on: [NODE_FAILURE, LOST, OOM]   # failures that requeue it (default NODE_FAILURE, LOST)
    retry_exit_codes: [3, 75]         # exit codes that requeue it; any other exit fails at once
    topology: {spread_zones: 2, anti_affinity: true, spread_group: web}   # see below

`xinchuang` is `require` (only 信创 clusters; `xinchuang_required: true` says the same),
`prefer` (信创 clusters when one has room, others otherwise) or `any`. `gpu_models`: the
node's `gpu.model` label must be one of these.

`topology` (JobSpec.topology in types.proto): `spread_zones: K` puts the replicas in at least
K zones (a node's `topology.kubernetes.io/zone` label, else its cluster's zone), `anti_affinity:
true` each replica on its own node; with `spread_group: NAME` both apply to all the
department's jobs naming that group together (they may run in different clusters), else to
this job's replicas (which stay in one cluster).

or

    jobs:
      - {name: a, resources: {cpu: 1}, command: [echo, a]}
      - {name: b, resources: {cpu: 1}, command: [echo, b]}

Every key is optional here; the scheduler validates the values and reports each item's errors
on its own. Unknown keys are an error naming the item and the key, with a suggestion
("jobs[2]: unknown key 'replica' (did you mean 'replicas'?)"), because a misspelt key would
otherwise be dropped silently and the job would run with a default.

Text fields must be YAML strings. Whole numbers are accepted and converted (`[sleep, 10]`), but
true/false/yes/no/null, decimals and dates must be quoted: YAML would change how they are
spelt (`yes` becomes true, `1.10` becomes 1.1).

client_id is the idempotency key: resubmitting an item with a client_id the department already
used returns the original job and creates nothing. An item without one gets a fresh random
uuid4, so resubmitting such a file creates the jobs again; give stable client_ids to make
resubmits (e.g. after a timeout) safe.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Mapping
from typing import Any

import yaml

from agents.quantities import parse_request
from protos.suanchou.v1 import types_pb2
from scheduler.cli import jobfile_placement
from scheduler.cli.errors import CliError

JOB_KEYS = (
    "client_id",
    "job_set",
    "name",
    "priority",
    "priority_class",
    "replicas",
    "resources",
    "command",
    "env",
    "max_runtime",
    "max_runtime_seconds",
    "constraints",
    "labels",
    "image",
    "max_attempts",
    "retry_on",
    "retry_exit_codes",
    "topology",
)
TOPOLOGY_KEYS = ("spread_zones", "anti_affinity", "spread_group")
CONSTRAINT_KEYS = (
    "min_security_level",
    "allowed_regions",
    "xinchuang_required",
    "xinchuang",
    "node_selector",
    "gpu_models",
    *jobfile_placement.KEYS,
)
XINCHUANG_POLICIES = {
    "any": types_pb2.XINCHUANG_POLICY_ANY,
    "prefer": types_pb2.XINCHUANG_POLICY_PREFER,
    "require": types_pb2.XINCHUANG_POLICY_REQUIRE,
}

FAILURE_CATEGORIES = {
    "NODE_FAILURE": types_pb2.FAILURE_CATEGORY_NODE_FAILURE,
    "LOST": types_pb2.FAILURE_CATEGORY_LOST,
    "OOM": types_pb2.FAILURE_CATEGORY_OOM,
}

_DURATION = re.compile(r"(\d+)([smhd])")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class JobFileError(CliError):
    """A job file or the submit flags do not describe valid jobs; the message names the place."""


def load_jobs(text: str, source: str) -> list[types_pb2.JobSpec]:
    """Parses a job file's text; `source` (a path or "<stdin>") prefixes error messages."""
    try:
        # The C loader when PyYAML has it: a 10,000-item batch file parses in well under a second.
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as e:
        raise JobFileError(f"{source}: not valid YAML: {e}") from e
    if isinstance(document, Mapping) and "jobs" in document:
        extra = sorted(str(k) for k in document if k != "jobs")
        if extra:
            raise JobFileError(
                f"{source}: keys {', '.join(map(repr, extra))} beside 'jobs'; "
                "put them inside each job"
            )
        items = document["jobs"]
        if not isinstance(items, list) or not items:
            raise JobFileError(f"{source}: 'jobs' must be a non-empty list of jobs")
        return [spec_from_mapping(item, f"{source}: jobs[{i}]") for i, item in enumerate(items)]
    if isinstance(document, Mapping):
        return [spec_from_mapping(document, f"{source}: job")]
    if isinstance(document, list):
        raise JobFileError(f"{source}: a list of jobs must be written as `jobs: [...]`")
    raise JobFileError(f"{source}: expected a job (a mapping) or `jobs: [...]`")


def spec_from_mapping(item: object, where: str) -> types_pb2.JobSpec:
    """One job from its mapping form; `where` names it in errors ("file.yaml: jobs[2]")."""
    data = _mapping(item, where, JOB_KEYS)
    spec = types_pb2.JobSpec(client_id=str(uuid.uuid4()))
    for key in ("client_id", "job_set", "name", "priority_class", "image"):
        if key in data:
            setattr(spec, key, _text(data[key], f"{where}.{key}"))
    for key in ("priority", "replicas"):
        if key in data:
            setattr(spec, key, _integer(data[key], f"{where}.{key}"))
    if "resources" in data:
        field = f"{where}.resources"
        for name, value in _mapping(data["resources"], field).items():
            quantity, share = _quantity(str(name), value, f"{field}.{name}")
            target = spec.resources.shares if share else spec.resources.quantities
            target[str(name)] = quantity
    if "command" in data:
        spec.command.extend(_text_list(data["command"], f"{where}.command"))
    if "env" in data:
        spec.env.update(_text_map(data["env"], f"{where}.env"))
    if "max_runtime" in data and "max_runtime_seconds" in data:
        raise JobFileError(f"{where}: give max_runtime or max_runtime_seconds, not both")
    if "max_runtime" in data:
        seconds = parse_duration(data["max_runtime"], f"{where}.max_runtime")
        spec.max_runtime_seconds = _integer(seconds, f"{where}.max_runtime", bits=64)
    if "max_runtime_seconds" in data:
        spec.max_runtime_seconds = _integer(
            data["max_runtime_seconds"], f"{where}.max_runtime_seconds", bits=64
        )
    if "constraints" in data:
        _fill_constraints(spec.constraints, data["constraints"], f"{where}.constraints")
    if "labels" in data:
        spec.labels.update(_text_map(data["labels"], f"{where}.labels"))
    _fill_retry(spec, data, where)
    if "topology" in data:
        _fill_topology(spec.topology, data["topology"], f"{where}.topology")
    return spec


def _fill_topology(target: types_pb2.Topology, value: object, where: str) -> None:
    data = _mapping(value, where, TOPOLOGY_KEYS)
    if "spread_zones" in data:
        target.spread_zones = _integer(data["spread_zones"], f"{where}.spread_zones")
    if "anti_affinity" in data:
        flag = data["anti_affinity"]
        if not isinstance(flag, bool):
            raise JobFileError(f"{where}.anti_affinity: must be true or false")
        target.anti_affinity = flag
    if "spread_group" in data:
        target.spread_group = _text(data["spread_group"], f"{where}.spread_group")


def _fill_retry(spec: types_pb2.JobSpec, data: Mapping[str, object], where: str) -> None:
    if "max_attempts" in data:
        spec.max_attempts = _integer(data["max_attempts"], f"{where}.max_attempts")
    if "retry_on" in data:
        for i, name in enumerate(_text_list(data["retry_on"], f"{where}.retry_on")):
            if name.upper() not in FAILURE_CATEGORIES:
                raise JobFileError(
                    f"{where}.retry_on[{i}]: must be NODE_FAILURE, LOST or OOM, got {name[:20]!r}"
                )
            spec.retry_on.append(FAILURE_CATEGORIES[name.upper()])
    if "retry_exit_codes" in data:
        codes = data["retry_exit_codes"]
        if not isinstance(codes, list):
            raise JobFileError(f"{where}.retry_exit_codes: must be a list, e.g. [3, 75]")
        spec.retry_exit_codes.extend(
            _integer(code, f"{where}.retry_exit_codes[{i}]") for i, code in enumerate(codes)
        )


def _fill_constraints(target: types_pb2.Constraints, value: object, where: str) -> None:
    data = _mapping(value, where, CONSTRAINT_KEYS)
    if "min_security_level" in data:
        target.min_security_level = _integer(
            data["min_security_level"], f"{where}.min_security_level"
        )
    if "allowed_regions" in data:
        target.allowed_regions.extend(
            _text_list(data["allowed_regions"], f"{where}.allowed_regions")
        )
    if "xinchuang_required" in data:
        flag = data["xinchuang_required"]
        if not isinstance(flag, bool):
            raise JobFileError(f"{where}.xinchuang_required: must be true or false")
        target.xinchuang_required = flag
    if "xinchuang" in data:
        policy = data["xinchuang"]
        if not isinstance(policy, str) or policy not in XINCHUANG_POLICIES:
            raise JobFileError(
                f"{where}.xinchuang: must be require, prefer or any, got {str(policy)[:20]!r}"
            )
        target.xinchuang = XINCHUANG_POLICIES[policy]
    if "node_selector" in data:
        target.node_selector.update(_text_map(data["node_selector"], f"{where}.node_selector"))
    if "gpu_models" in data:
        target.gpu_models.extend(_text_list(data["gpu_models"], f"{where}.gpu_models"))
    try:
        jobfile_placement.fill_choice(target, data, where)
    except CliError as e:
        raise JobFileError(str(e)) from e


def parse_duration(value: object, where: str) -> int:
    """Seconds from "90s", "10m", "1h30m", "2d" or a whole number of seconds."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        if text and _DURATION.sub("", text) == "":
            return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION.findall(text))
    raise JobFileError(
        f"{where}: invalid duration {value!r}; use whole seconds or e.g. 90s, 10m, 1h30m, 2d"
    )


def _quantity(name: str, value: object, where: str) -> tuple[int, bool]:
    try:
        return parse_request(name, value)
    except ValueError as e:
        # parse_quantity starts its messages with the resource name, which `where` already ends
        # with: "jobs[0].resources.memory: '4Gx' is not a quantity ...".
        reason = str(e).removeprefix(f"{name}: ").removeprefix(f"{name!r}: ")
        raise JobFileError(f"{where}: {reason}") from e


def _mapping(value: object, where: str, known: tuple[str, ...] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise JobFileError(f"{where}: must be a mapping of key: value")
    for key in value:
        if not isinstance(key, str):
            raise JobFileError(f"{where}: key {key!r} must be a string")
        if known is not None and key not in known:
            raise JobFileError(f"{where}: unknown key {key!r}{_suggestion(key, known)}")
    return value


def _suggestion(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    # `region` is far from `allowed_regions` by edit ratio but obviously meant.
    close = close or [k for k in known if key.lower() in k]
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"


def _text(value: object, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise JobFileError(f"{where}: must be a string, got {value!r}; quote it in YAML")


def _integer(value: object, where: str, bits: int = 32) -> int:
    """A whole number that fits the proto field (int32 unless `bits` says otherwise); the
    server judges its range, but protobuf itself cannot hold a wider one."""
    if isinstance(value, int) and not isinstance(value, bool):
        if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            return value
        raise JobFileError(f"{where}: {value} is out of range")
    raise JobFileError(f"{where}: must be a whole number, got {value!r:.80}")


def _text_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list):
        raise JobFileError(f'{where}: must be a list, e.g. [python, -c, "print(1)"]')
    return [_text(element, f"{where}[{i}]") for i, element in enumerate(value)]


def _text_map(value: object, where: str) -> dict[str, str]:
    return {key: _text(v, f"{where}.{key}") for key, v in _mapping(value, where).items()}


def flags_mapping(
    *,
    client_id: str | None,
    name: str | None,
    job_set: str | None,
    priority: int | None,
    replicas: int | None,
    resources: Mapping[str, str],
    command: list[str],
    env: Mapping[str, str],
    labels: Mapping[str, str],
    max_runtime: str | None,
    min_security_level: int | None,
    regions: list[str],
    xinchuang: bool | str,
    selector: Mapping[str, str],
    priority_class: str | None = None,
    image: str | None = None,
    gpu_models: list[str] | None = None,
    max_attempts: int | None = None,
    retry_on: list[str] | None = None,
    retry_exit_codes: list[int] | None = None,
    choice: Mapping[str, object] | None = None,
    topology: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The job-file mapping equivalent to `job submit` flags, so both forms share one parser."""
    item: dict[str, object] = {}
    optional: dict[str, object | None] = {
        "client_id": client_id,
        "name": name,
        "job_set": job_set,
        "priority": priority,
        "priority_class": priority_class,
        "replicas": replicas,
        "max_runtime": max_runtime,
        "image": image,
        "max_attempts": max_attempts,
        "retry_on": retry_on or None,
        "retry_exit_codes": retry_exit_codes or None,
    }
    item.update({key: value for key, value in optional.items() if value is not None})
    collections: dict[str, Any] = {
        "resources": dict(resources),
        "command": list(command),
        "env": dict(env),
        "labels": dict(labels),
    }
    item.update({key: value for key, value in collections.items() if value})
    constraints: dict[str, object] = {}
    if min_security_level is not None:
        constraints["min_security_level"] = min_security_level
    if regions:
        constraints["allowed_regions"] = list(regions)
    if gpu_models:
        constraints["gpu_models"] = list(gpu_models)
    if isinstance(xinchuang, str):
        constraints["xinchuang"] = xinchuang
    elif xinchuang:
        constraints["xinchuang_required"] = True
    if selector:
        constraints["node_selector"] = dict(selector)
    constraints.update(choice or {})
    if constraints:
        item["constraints"] = constraints
    if topology:
        item["topology"] = dict(topology)
    return item
