"""The submit digest's canonical form is the one `dataclasses.asdict` gave, so digests stored
before it was made faster still recognise a resubmitted job."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from scheduler.domain.models import Constraints, JobSpec, Topology
from scheduler.domain.retry import FailureCategory, RetryPolicy
from scheduler.domain.taints import Toleration
from scheduler.domain.validation import _plain, spec_digest, validate_job_spec

SPECS = [
    JobSpec(client_id="a", command=("true",), resources={"cpu": 1000}),
    JobSpec(
        client_id="b",
        command=("python", "-c", "print(1)"),
        resources={"cpu": 4000, "memory": 2**30, "nvidia.com/gpu": 200},
        job_set="train",
        name="n",
        priority=500,
        replicas=3,
        priority_class="training",
        env={"A": "1", "B": "二"},
        max_runtime_seconds=600,
        constraints=Constraints(
            min_security_level=3,
            allowed_regions=("east", "west"),
            node_selector={"kind": "gpu"},
            xinchuang_preferred=True,
            gpu_models=("A100",),
            tolerations=(Toleration("dedicated", "Equal", "ai", "NoSchedule"),),
            clusters=("c1", "c2"),
            preferred_clusters=("c2",),
            cluster_selector={"tier": "gold"},
        ),
        labels={"team": "x"},
        image="registry/x:1",
        retry=RetryPolicy(
            max_attempts=4,
            retry_on=frozenset({FailureCategory.OOM, FailureCategory.LOST}),
            exit_codes=frozenset({3, 1}),
        ),
        topology=Topology(spread_zones=2, anti_affinity=True, spread_group="g"),
    ),
]


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=sorted)


def test_the_canonical_form_equals_asdicts() -> None:
    """Every field, nested dataclass, tuple, mapping and set comes out as asdict's would."""
    for spec in SPECS:
        assert _json(_plain(spec)) == _json(asdict(spec))
        valid = validate_job_spec(spec)
        assert _json(_plain(valid)) == _json(asdict(valid))


def test_digests_stored_before_stay_the_same() -> None:
    """Each spec's digest is the value the asdict implementation computed (main at ece3137)."""
    assert [spec_digest(spec) for spec in SPECS] == [
        "f82375914cbdc52eeb5cb48d1ab5f591c238607a7b24c103eb630946b5aff3ee",
        "28f620c962a20e8724808ee685f6f888ecc85af9f56ee40e19f38919e547dad4",
    ]
