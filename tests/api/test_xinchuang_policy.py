"""The 信创 policy on the wire: REQUIRE/PREFER/ANY, the older xinchuang_required, contradictions."""

from __future__ import annotations

import pytest

from protos.suanchou.v1 import types_pb2
from scheduler.api.convert import job_spec_from_proto, job_spec_to_proto
from scheduler.domain.errors import InvalidSpec
from scheduler.domain.models import Constraints, JobSpec
from scheduler.domain.validation import spec_digest


def _spec(**constraints: object) -> types_pb2.JobSpec:
    return types_pb2.JobSpec(
        client_id="x",
        command=["true"],
        resources=types_pb2.Resources(quantities={"cpu": 1000}),
        constraints=types_pb2.Constraints(**constraints),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("constraints", "required", "preferred"),
    [
        ({}, False, False),
        ({"xinchuang_required": True}, True, False),
        ({"xinchuang": types_pb2.XINCHUANG_POLICY_REQUIRE}, True, False),
        ({"xinchuang": types_pb2.XINCHUANG_POLICY_PREFER}, False, True),
        ({"xinchuang": types_pb2.XINCHUANG_POLICY_ANY}, False, False),
        (
            {"xinchuang": types_pb2.XINCHUANG_POLICY_REQUIRE, "xinchuang_required": True},
            True,
            False,
        ),
    ],
)
def test_policy_maps_to_required_or_preferred(
    constraints: dict[str, object], required: bool, preferred: bool
) -> None:
    """Each policy (and the older flag) reads as require, prefer or neither."""
    c = job_spec_from_proto(_spec(**constraints)).constraints
    assert (c.xinchuang_required, c.xinchuang_preferred) == (required, preferred)


@pytest.mark.parametrize(
    "policy", [types_pb2.XINCHUANG_POLICY_PREFER, types_pb2.XINCHUANG_POLICY_ANY, 9]
)
def test_contradictions_and_unknown_values_name_the_field(policy: int) -> None:
    """PREFER or ANY beside xinchuang_required: true, and an unknown value, are refused on
    constraints.xinchuang."""
    with pytest.raises(InvalidSpec) as raised:
        job_spec_from_proto(_spec(xinchuang=policy, xinchuang_required=policy != 9))
    assert raised.value.field == "constraints.xinchuang"


def test_replies_say_prefer_and_old_digests_hold() -> None:
    """A preferring job is echoed as PREFER; a spec without the preference keeps the digest
    it had before the field existed (no `xinchuang_preferred` key in it)."""
    spec = JobSpec("x", ("true",), {"cpu": 1000}, constraints=Constraints(xinchuang_preferred=True))
    assert job_spec_to_proto(spec).constraints.xinchuang == types_pb2.XINCHUANG_POLICY_PREFER
    plain = JobSpec("x", ("true",), {"cpu": 1000})
    assert job_spec_to_proto(plain).constraints.xinchuang == types_pb2.XINCHUANG_POLICY_UNSPECIFIED
    assert spec_digest(plain) != spec_digest(spec)
    # The digest main computed for this spec before the preference existed.
    assert spec_digest(plain) == "8a021fb8c19d21d9c1ba0cbc5bef6ecffd34bb2b9eb12a5efd56b6dfd08468ae"
