"""A job's container image: on the wire, validated, digested, stored and carried in the lease."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from protos.suanchou.v1 import types_pb2
from scheduler.api.convert import job_spec_from_proto, job_spec_to_proto
from scheduler.api.convert_agent import lease_to_proto
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Job, JobSpec, Run
from scheduler.domain.states import JobState, RunState
from scheduler.domain.validation import spec_digest, validate_job_spec
from scheduler.service.agent_sync import Lease

IMAGE = "registry.gov.cn/traffic/report:1.4"


def spec(**kwargs: object) -> JobSpec:
    return JobSpec(client_id="c", command=("true",), resources={"cpu": 1000}, **kwargs)  # type: ignore[arg-type]


def test_image_round_trips_through_the_wire() -> None:
    """JobSpec.image survives proto -> domain -> proto."""
    msg = types_pb2.JobSpec(
        client_id="c",
        command=["true"],
        resources=types_pb2.Resources(quantities={"cpu": 1000}),
        image=IMAGE,
    )
    domain = job_spec_from_proto(msg)
    assert domain.image == IMAGE
    assert job_spec_to_proto(domain).image == IMAGE


@pytest.mark.parametrize(
    ("image", "message"),
    [("a b", "must not contain spaces"), ("x" * 513, "at most 512"), ("a\nb", "control")],
)
def test_bad_images_are_refused_naming_the_field(image: str, message: str) -> None:
    """An image with spaces, control characters or over 512 characters names `image`."""
    with pytest.raises(InvalidSpec, match=message) as caught:
        validate_job_spec(spec(image=image))
    assert caught.value.field == "image"


def test_digest_of_a_spec_without_image_is_unchanged_and_an_image_changes_it() -> None:
    """Specs recorded before images keep their digest; a different image is a different job."""
    plain = spec()
    assert spec_digest(plain) == spec_digest(replace(plain, image=""))
    assert spec_digest(plain) != spec_digest(replace(plain, image=IMAGE))


def test_the_lease_carries_the_image() -> None:
    """RunLease.image is the job's image, for the agent's container executor."""
    now = datetime.now(UTC)
    job = Job("j", "dept", spec(image=IMAGE), JobState.LEASED, now, now, attempt=1)
    run = Run("r", "j", 1, 0, "k8s", "n1", RunState.PENDING, now)
    assert lease_to_proto(Lease(run=run, job=job)).image == IMAGE
