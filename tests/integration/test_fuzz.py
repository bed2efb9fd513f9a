"""Over 2,000 malformed and boundary requests across every rpc of every suanchou service, on a
real server: no INTERNAL or UNKNOWN, the server healthy afterwards, earlier jobs unchanged."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.suanchou.v1 import jobs_pb2, types_pb2
from scheduler.service.security_settings import SecuritySettings
from tests.conftest import postgres_url, reset_postgres
from tests.integration.conftest import (
    TERMINAL,
    Pool,
    _run_pool,
    md,
    node,
    py_job,
    service_tokens,
)
from tests.integration.fuzz_requests import Generator, Payload, all_rpcs

SEED = 20261203
MIN_REQUESTS = 2100
BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
# Streams are read briefly: a follow=true watch would otherwise wait for events forever.
STREAM_SECONDS = 0.5


def _earlier_jobs(pool: Pool) -> list[str]:
    """Jobs of another department, all finished before the fuzzing starts: two SUCCEEDED on a
    real agent, one REJECTED at submit, one CANCELLED."""
    pool.department("earlier")
    pool.cluster("gov-a", [node("n1")])
    done = pool.submit(
        "earlier",
        py_job("ok-1", "print(1)"),
        py_job("ok-2", "print(2)", replicas=2),
        py_job("level-4", "pass", constraints=types_pb2.Constraints(min_security_level=4)),
        py_job("to-cancel", "import time; time.sleep(60)"),
    )
    ids = [r.job_id for r in done]
    pool.jobs.CancelJobs(
        jobs_pb2.CancelJobsRequest(job_ids=[ids[3]]), metadata=md(pool.tokens["earlier"])
    )
    for job_id in ids:
        pool.wait_state("earlier", job_id, TERMINAL, timeout=60)
    return ids


def _send(channel: grpc.Channel, payload: Payload, token: str | None) -> grpc.StatusCode:
    metadata = md(token) if token is not None else ()
    try:
        if payload.rpc.streaming:
            call = channel.unary_stream(payload.rpc.path)(
                payload.data, metadata=metadata, timeout=STREAM_SECONDS
            )
            for i, _ in enumerate(call):
                if i == 20:
                    call.cancel()
                    break
        else:
            channel.unary_unary(payload.rpc.path)(payload.data, metadata=metadata, timeout=60)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@pytest.fixture(params=["sqlite", "postgres"])
def fuzz_pool(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pool]:
    """A pool whose failed-authentication throttle stays out of the way: the fuzz sends hundreds
    of missing and garbage tokens from one address, which would otherwise lock it out (the
    throttle has tests of its own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'suanchou.db'}"
    else:
        url = postgres_url()
        reset_postgres(url)
    yield from _run_pool(tmp_path, url, SecuritySettings(auth_max_failures=1_000_000))


def test_fuzzing_every_rpc_never_gives_internal_and_changes_nothing_it_should_not(
    fuzz_pool: Pool,
) -> None:
    """Random bytes, invalid UTF-8, huge fields, extreme integers, unknown enums, duplicate
    ids, empty and one-field-mutated messages, with and without valid credentials, over every
    rpc found in the service descriptors: zero INTERNAL/UNKNOWN; health SERVING afterwards; the
    jobs recorded before are byte-for-byte the same. On SQLite and on PostgreSQL (which, for
    one, refuses NUL characters in text)."""
    pool = fuzz_pool
    earlier = _earlier_jobs(pool)
    before = [pool.get("earlier", job_id) for job_id in earlier]
    tokens = service_tokens(pool, "fuzz-dept", "fuzz-agent")
    rpcs = all_rpcs()
    assert {r.service for r in rpcs} >= set(tokens)
    # Not the fuzzed agent's cluster name: a fuzzed DeregisterCluster would remove it and leave
    # every later Sync UNAUTHENTICATED.
    generator = Generator(SEED, [*earlier, "gov-a", "fuzz-dept", "earlier"])
    per_rpc = math.ceil(MIN_REQUESTS / len(rpcs))
    work: list[tuple[Payload, str | None]] = []
    for rpc in rpcs:
        for payload in generator.payloads(rpc, per_rpc):
            roll = generator.rng.random()
            token = tokens[rpc.service]
            work.append((payload, token if roll < 0.85 else None if roll < 0.93 else "garbage"))
    assert len(work) >= 2000
    generator.rng.shuffle(work)  # every service at once, as a busy pool sees them

    with ThreadPoolExecutor(max_workers=8) as executor:
        codes = list(executor.map(lambda item: _send(pool.channel, *item), work))

    bad = [
        (p.rpc.path, p.kind, code.name, p.data[:60])
        for (p, _), code in zip(work, codes, strict=True)
        if code in BAD_CODES
    ]
    assert bad == [], f"{len(bad)} INTERNAL/UNKNOWN replies, first: {bad[:5]}"
    by_rpc = Counter((p.rpc.path, code) for (p, _), code in zip(work, codes, strict=True))
    for rpc in rpcs:
        # Each rpc both refused malformed input by name and was reached at all.
        assert by_rpc[(rpc.path, grpc.StatusCode.INVALID_ARGUMENT)] > 0, (rpc.path, by_rpc)
        assert by_rpc[(rpc.path, grpc.StatusCode.UNAUTHENTICATED)] > 0, rpc.path

    health = health_pb2_grpc.HealthStub(pool.channel).Check(health_pb2.HealthCheckRequest())
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    after = [pool.get("earlier", job_id) for job_id in earlier]
    assert [j.SerializeToString() for j in after] == [j.SerializeToString() for j in before]
