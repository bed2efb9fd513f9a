"""Validation of what users send. Every error names the offending field."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any

from scheduler.domain.cluster_choice import (
    CLUSTER_NAME,
    validate_cluster_choice,
    validate_home_label,
)
from scheduler.domain.errors import InvalidSpec, key_path, quote
from scheduler.domain.models import ClusterSpec, Constraints, JobSpec, Topology
from scheduler.domain.quotas import validate_class_name
from scheduler.domain.resources import (
    DEVICE_RESOURCES,
    SHARES_PER_DEVICE,
    validate_name,
    validate_quantities,
)
from scheduler.domain.retry import MAX_ATTEMPTS_LIMIT, MAX_RETRY_EXIT_CODES, RETRYABLE, RetryPolicy
from scheduler.domain.taints import Taint, validate_taints, validate_tolerations
from scheduler.domain.topology import MAX_SPREAD_GROUP_LEN, MAX_SPREAD_ZONES

MAX_BATCH = 1000
# Serialized size of one JobSpec: every lease carries its spec to an agent, so a spec must stay
# small against the max message size (a Sync reply holds at least 60 of them at the default).
MAX_SPEC_BYTES = 64 * 1024
MAX_REPLICAS = 1024
MAX_PRIORITY = 1000
MAX_ID_LEN = 128
MAX_LABELS = 64
MAX_LABEL_LEN = 128
MAX_COMMAND_ARGS = 1024
MAX_COMMAND_BYTES = 64 * 1024
MAX_ENV = 256
MAX_ENV_VALUE = 32 * 1024
MAX_RUNTIME_SECONDS = 30 * 24 * 3600
MAX_REGIONS = 64
MAX_PRICE = 1_000_000.0
MAX_IMAGE_LEN = 512
MAX_GPU_MODELS = 16
MAX_GPU_MODEL_LEN = 63

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]*$")
RESERVED_ENV = ("SUANCHOU_JOB_ID", "SUANCHOU_REPLICA", "SUANCHOU_REPLICAS")


def _text(value: str, field: str, *, required: bool = False, max_len: int = MAX_ID_LEN) -> str:
    if required and not value:
        raise InvalidSpec("is required", field=field)
    if len(value) > max_len:
        raise InvalidSpec(f"is {len(value)} characters, at most {max_len} allowed", field=field)
    if not _PRINTABLE.match(value):
        raise InvalidSpec("must not contain control characters", field=field)
    return value


def _labels(labels: Mapping[str, str], field: str) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidSpec(f"at most {MAX_LABELS} entries", field=field)
    for key, value in labels.items():
        path = key_path(field, key)
        _text(key, path, required=True, max_len=MAX_LABEL_LEN)
        _text(value, path, max_len=MAX_LABEL_LEN)
    return dict(labels)


def validate_constraints(c: Constraints, field: str = "constraints") -> Constraints:
    if not 0 <= c.min_security_level <= 4:
        raise InvalidSpec(
            f"must be 0-4 (等保 level), got {c.min_security_level}",
            field=f"{field}.min_security_level",
        )
    if len(c.allowed_regions) > MAX_REGIONS:
        raise InvalidSpec(f"at most {MAX_REGIONS} regions", field=f"{field}.allowed_regions")
    for i, region in enumerate(c.allowed_regions):
        _text(region, f"{field}.allowed_regions[{i}]", required=True)
    _labels(c.node_selector, f"{field}.node_selector")
    if len(c.gpu_models) > MAX_GPU_MODELS:
        raise InvalidSpec(f"at most {MAX_GPU_MODELS} models", field=f"{field}.gpu_models")
    for i, model in enumerate(c.gpu_models):
        _text(model, f"{field}.gpu_models[{i}]", required=True, max_len=MAX_GPU_MODEL_LEN)
    if c.xinchuang_required and c.xinchuang_preferred:
        raise InvalidSpec(
            "cannot both require and prefer 信创 clusters", field=f"{field}.xinchuang"
        )
    validate_tolerations(c.tolerations, f"{field}.tolerations")
    _labels(c.cluster_selector, f"{field}.cluster_selector")
    validate_cluster_choice(c, field)
    return c


def validate_job_spec(spec: JobSpec) -> JobSpec:
    """Returns the spec with defaults applied, or raises InvalidSpec naming the field."""
    _text(spec.client_id, "client_id", required=True)
    _text(spec.job_set, "job_set")
    _text(spec.name, "name")
    if not 0 <= spec.priority <= MAX_PRIORITY:
        raise InvalidSpec(f"must be 0-{MAX_PRIORITY}, got {spec.priority}", field="priority")
    if spec.priority_class:
        validate_class_name(spec.priority_class, "priority_class")
    if not 1 <= spec.replicas <= MAX_REPLICAS:
        raise InvalidSpec(f"must be 1-{MAX_REPLICAS}, got {spec.replicas}", field="replicas")
    resources = validate_quantities(spec.resources, "resources")
    if not spec.command:
        raise InvalidSpec("must have at least one element (the program)", field="command")
    if not spec.command[0]:
        raise InvalidSpec("program must not be empty", field="command[0]")
    if len(spec.command) > MAX_COMMAND_ARGS:
        raise InvalidSpec(f"at most {MAX_COMMAND_ARGS} arguments", field="command")
    if sum(len(a.encode()) for a in spec.command) > MAX_COMMAND_BYTES:
        raise InvalidSpec(f"at most {MAX_COMMAND_BYTES} bytes in total", field="command")
    for i, arg in enumerate(spec.command):
        if "\x00" in arg:
            raise InvalidSpec("must not contain NUL bytes", field=f"command[{i}]")
    if len(spec.env) > MAX_ENV:
        raise InvalidSpec(f"at most {MAX_ENV} variables", field="env")
    for key, value in spec.env.items():
        path = key_path("env", key)
        if not _ENV_NAME.match(key) or len(key) > MAX_LABEL_LEN:
            raise InvalidSpec(
                f"{quote(key)} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
                field=path,
            )
        if key in RESERVED_ENV:
            raise InvalidSpec("is set by suanchou and cannot be overridden", field=path)
        if "\x00" in value or len(value) > MAX_ENV_VALUE:
            raise InvalidSpec(f"must be at most {MAX_ENV_VALUE} characters without NUL", field=path)
    validate_max_runtime(spec.max_runtime_seconds, minimum=0)
    validate_constraints(spec.constraints)
    validate_retry(spec.retry)
    validate_topology(spec.topology, spec.replicas)
    _labels(spec.labels, "labels")
    _text(spec.image, "image", max_len=MAX_IMAGE_LEN)
    if spec.image and (spec.image != spec.image.strip() or " " in spec.image):
        raise InvalidSpec(f"{quote(spec.image)} must not contain spaces", field="image")
    if resources != dict(spec.resources) or not spec.job_set:
        from dataclasses import replace

        return replace(spec, resources=resources, job_set=spec.job_set or "default")
    return spec


def spec_digest(spec: JobSpec) -> str:
    """SHA-256 of the canonical form of a validated spec: two submits of one client_id are the
    same job only if their digests agree."""
    data = _plain(spec)
    if not data["priority_class"]:
        # Digests recorded before priority classes existed stay valid for specs without one.
        del data["priority_class"]
    if not data["constraints"]["xinchuang_preferred"]:
        # Likewise for specs from before the 信创 preference.
        del data["constraints"]["xinchuang_preferred"]
    if not data["image"]:
        # Likewise for specs from before container images.
        del data["image"]
    if not data["constraints"]["gpu_models"]:
        # Likewise for specs from before GPU models.
        del data["constraints"]["gpu_models"]
    for key in ("tolerations", "clusters", "preferred_clusters", "cluster_selector"):
        if not data["constraints"][key]:
            # Likewise for specs from before tolerations and cluster affinity.
            del data["constraints"][key]
    for name in DEVICE_RESOURCES:
        # Digests recorded before GPU shares counted whole devices: whole requests keep them.
        value = data["resources"].get(name)
        if value is not None and value % SHARES_PER_DEVICE == 0:
            data["resources"][name] = value // SHARES_PER_DEVICE
    if spec.topology == Topology():
        # Only when set: digests from before topology stay valid.
        del data["topology"]
    retry = data.pop("retry")
    if spec.retry != RetryPolicy():
        # Only when set: digests from before retry policies stay valid.
        data["retry"] = {
            "max_attempts": retry["max_attempts"],
            "retry_on": sorted(retry["retry_on"]),
            "exit_codes": sorted(retry["exit_codes"]),
        }
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=dict)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    """`dataclasses.asdict` for the digest, without its deep copies (a third of a batched
    submit's time): dataclasses become dicts of their fields, tuples and lists lists, dicts
    are copied, anything else is kept. The same JSON as asdict's, so stored digests hold
    (tests/domain/test_spec_digest.py compares the two)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def validate_cluster_spec(spec: ClusterSpec) -> ClusterSpec:
    if not CLUSTER_NAME.match(spec.name):
        raise InvalidSpec(
            f"{quote(spec.name)} must be 1-63 characters of a-z, 0-9 and '-', "
            "starting with a letter",
            field="name",
        )
    _text(spec.region, "region", required=True, max_len=63)
    _text(spec.zone, "zone", max_len=63)
    _text(spec.provider, "provider", max_len=63)
    if not 1 <= spec.security_level <= 4:
        raise InvalidSpec(
            f"must be 1-4 (等保 level), got {spec.security_level}", field="security_level"
        )
    for name, price in spec.price.items():
        validate_name(name, key_path("price", name))
        if not math.isfinite(price) or not 0 <= price <= MAX_PRICE:
            raise InvalidSpec(
                f"must be a finite price 0-{MAX_PRICE:g} yuan per unit-hour, got {price}",
                field=key_path("price", name),
            )
    _labels(spec.labels, "labels")
    validate_home_label(spec.labels, "labels")
    return spec


def validate_node(
    name: str,
    capacity: Mapping[str, int],
    labels: Mapping[str, str],
    field: str,
    taints: tuple[Taint, ...] = (),
) -> dict[str, int]:
    _text(name, f"{field}.name", required=True, max_len=253)
    _labels(labels, f"{field}.labels")
    validate_taints(taints, f"{field}.taints")
    return validate_quantities(capacity, f"{field}.capacity", allow_zero=True, require_any=False)


def validate_max_runtime(seconds: int, *, minimum: int, field: str = "max_runtime_seconds") -> int:
    """A max runtime in seconds: `minimum` (0 = the scheduler's default, allowed at submit
    only) to 30 days."""
    if not minimum <= seconds <= MAX_RUNTIME_SECONDS:
        raise InvalidSpec(
            f"must be {minimum}-{MAX_RUNTIME_SECONDS} (30 days), got {seconds}", field=field
        )
    return seconds


def validate_retry(policy: RetryPolicy) -> None:
    if not 0 <= policy.max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise InvalidSpec(
            f"must be 1-{MAX_ATTEMPTS_LIMIT} (0: the scheduler's), got {policy.max_attempts}",
            field="max_attempts",
        )
    if not policy.retry_on <= RETRYABLE:
        raise InvalidSpec("may name NODE_FAILURE, LOST and OOM only", field="retry_on")
    if len(policy.exit_codes) > MAX_RETRY_EXIT_CODES:
        raise InvalidSpec(f"at most {MAX_RETRY_EXIT_CODES} codes", field="retry_exit_codes")
    for code in sorted(policy.exit_codes):
        if not 1 <= code <= 255:
            raise InvalidSpec(f"exit codes are 1-255, got {code}", field="retry_exit_codes")


def validate_topology(t: Topology, replicas: int) -> None:
    """Spread and anti-affinity (scheduler.domain.topology); `replicas` bounds a job's own
    spread."""
    field = "topology"
    if not 0 <= t.spread_zones <= MAX_SPREAD_ZONES:
        raise InvalidSpec(
            f"must be 0-{MAX_SPREAD_ZONES} zones, got {t.spread_zones}",
            field=f"{field}.spread_zones",
        )
    _text(t.spread_group, f"{field}.spread_group", max_len=MAX_SPREAD_GROUP_LEN)
    if t.spread_group and t.spread_group.strip() != t.spread_group:
        raise InvalidSpec(
            f"{quote(t.spread_group)} must not start or end with spaces",
            field=f"{field}.spread_group",
        )
    if t.spread_group and not t.spreads and not t.anti_affinity:
        raise InvalidSpec(
            "names a group, but neither spread_zones (2 or more) nor anti_affinity is set",
            field=f"{field}.spread_group",
        )
    if t.spreads and not t.spread_group and t.spread_zones > replicas:
        raise InvalidSpec(
            f"{t.spread_zones} zones need at least {t.spread_zones} replicas, the job has "
            f"{replicas} (or name a spread_group its other jobs share)",
            field=f"{field}.spread_zones",
        )
