"""Token lifecycle on a real server: listing without secrets, issue, rotate and revoke for every
kind of principal without a restart, and a bootstrap token that can only create principals."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from protos.suanchou.v1 import (
    admin_pb2,
    agent_pb2,
    agent_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    jobs_pb2,
    security_pb2,
)
from protos.suanchou.v1 import security_pb2_grpc as sec_grpc
from scheduler.service.security_settings import SecuritySettings
from tests.integration.conftest import BOOTSTRAP_TOKEN, Pool, _run_pool, md, node


def tokens_api(pool: Pool) -> sec_grpc.TokenServiceStub:
    return sec_grpc.TokenServiceStub(pool.channel)


def code_of(call: object, *args: object, **kwargs: object) -> grpc.StatusCode:
    try:
        call(*args, **kwargs)  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def list_jobs_code(pool: Pool, token: str) -> grpc.StatusCode:
    return code_of(pool.jobs.ListJobs, jobs_pb2.ListJobsRequest(), metadata=md(token))


def test_list_shows_ids_and_metadata_never_secrets(pool: Pool) -> None:
    """ListTokens names every holder's tokens by id; no secret appears anywhere in the reply."""
    sec = pool.principal("sec", "security-admin")
    secrets = [pool.admin_token, sec, pool.department("公安局")]
    secrets.append(pool.cluster("gov-a", [node("n")], start_agent=False))
    reply = tokens_api(pool).ListTokens(security_pb2.ListTokensRequest(), metadata=md(sec))
    holders = {(t.kind, t.principal) for t in reply.tokens}
    assert holders == {
        ("admin", "admin"),
        ("security-admin", "sec"),
        ("department", "公安局"),
        ("agent", "gov-a"),
    }
    assert all(t.token_id.startswith("tok_") and t.created_by for t in reply.tokens)
    raw = reply.SerializeToString()
    assert not any(secret.encode() in raw for secret in secrets)
    assert not any(secret[4:12].encode() in raw for secret in secrets)


def test_revoke_takes_effect_on_the_next_call(pool: Pool) -> None:
    """A revoked department token is UNAUTHENTICATED on its next call, without a restart."""
    sec = pool.principal("sec", "security-admin")
    token = pool.department("公安局")
    assert list_jobs_code(pool, token) is grpc.StatusCode.OK
    [info] = (
        tokens_api(pool)
        .ListTokens(
            security_pb2.ListTokensRequest(kind="department", principal="公安局"), metadata=md(sec)
        )
        .tokens
    )
    revoked = tokens_api(pool).RevokeToken(
        security_pb2.RevokeTokenRequest(token_id=info.token_id), metadata=md(sec)
    )
    assert revoked.token_info.HasField("revoked_at")
    assert list_jobs_code(pool, token) is grpc.StatusCode.UNAUTHENTICATED
    listed = tokens_api(pool).ListTokens(
        security_pb2.ListTokensRequest(principal="公安局", include_revoked=True), metadata=md(sec)
    )
    assert [t.token_id for t in listed.tokens] == [info.token_id]
    assert (
        code_of(
            tokens_api(pool).RotateToken,
            security_pb2.RotateTokenRequest(token_id=info.token_id),
            metadata=md(sec),
        )
        is grpc.StatusCode.FAILED_PRECONDITION
    )


def test_rotate_gives_a_working_token_and_kills_the_old_one(pool: Pool) -> None:
    """Rotation works for a department, an agent and a named principal: the new token works,
    the old one is refused, and issuing a second token leaves the first valid (overlap)."""
    sec = pool.principal("sec", "security-admin")
    old = {
        "department": pool.department("公安局"),
        "agent": pool.cluster("gov-a", [node("n")], start_agent=False),
        "operator": pool.principal("ops", "operator"),
    }
    listed = tokens_api(pool).ListTokens(security_pb2.ListTokensRequest(), metadata=md(sec))
    ids = {t.kind: t.token_id for t in listed.tokens}
    sync = agent_pb2_grpc.AgentServiceStub(pool.channel).Sync
    checks = {
        "department": lambda t: list_jobs_code(pool, t),
        "operator": lambda t: list_jobs_code(pool, t),
        "agent": lambda t: code_of(sync, agent_pb2.SyncRequest(agent_id="a"), metadata=md(t)),
    }
    for kind, token in old.items():
        reply = tokens_api(pool).RotateToken(
            security_pb2.RotateTokenRequest(token_id=ids[kind]), metadata=md(sec)
        )
        assert reply.revoked.token_id == ids[kind] and reply.revoked.HasField("revoked_at")
        assert reply.token_info.kind == kind and reply.token != token
        assert checks[kind](reply.token) is grpc.StatusCode.OK, kind
        assert checks[kind](token) is grpc.StatusCode.UNAUTHENTICATED, kind
        extra = tokens_api(pool).IssueToken(
            security_pb2.IssueTokenRequest(kind=kind, principal=reply.token_info.principal),
            metadata=md(sec),
        )
        assert checks[kind](extra.token) is grpc.StatusCode.OK
        assert checks[kind](reply.token) is grpc.StatusCode.OK


def test_bootstrap_token_can_only_create_principals(pool: Pool) -> None:
    """The bootstrap token creates named principals and gets their first token; anything else
    it tries is PERMISSION_DENIED."""
    boot = md(BOOTSTRAP_TOKEN)
    principals = sec_grpc.PrincipalServiceStub(pool.channel)
    created = principals.CreatePrincipal(
        security_pb2.CreatePrincipalRequest(name="aud", role="auditor"), metadata=boot
    )
    assert created.principal.created_by == "bootstrap" and created.token
    for call, request in (
        (principals.ListPrincipals, security_pb2.ListPrincipalsRequest()),
        (tokens_api(pool).ListTokens, security_pb2.ListTokensRequest()),
        (pool.departments.ListDepartments, admin_pb2.ListDepartmentsRequest()),
        (
            pool.departments.CreateDepartment,
            admin_pb2.CreateDepartmentRequest(name="x", display_name="x"),
        ),
    ):
        assert code_of(call, request, metadata=boot) is grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        principals.CreatePrincipal(
            security_pb2.CreatePrincipalRequest(name="d", role="department"), metadata=boot
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "role" in (err.value.details() or "")


def test_a_removed_clusters_agent_token_is_refused(pool: Pool) -> None:
    """Deregistering a cluster revokes its agent's tokens."""
    token = pool.cluster("gov-a", [node("n")], start_agent=False)
    pool.clusters.DeregisterCluster(
        admin_pb2.DeregisterClusterRequest(name="gov-a"), metadata=md(pool.admin_token)
    )
    sync = agent_pb2_grpc.AgentServiceStub(pool.channel).Sync
    code = code_of(sync, agent_pb2.SyncRequest(agent_id="a"), metadata=md(token))
    assert code is grpc.StatusCode.UNAUTHENTICATED


def test_a_locked_out_peer_is_refused_before_its_token_is_checked(tmp_path: Path) -> None:
    """After the limit, every call from the address (even with a valid token) is
    RESOURCE_EXHAUSTED naming the wait, and throttled calls add no audit records."""
    tmp = tmp_path
    security = SecuritySettings(auth_max_failures=5, auth_lockout_s=600)
    pools = _run_pool(tmp, f"sqlite:///{tmp / 's.db'}", security)
    pool: Pool = next(pools)
    try:
        auditor = md(pool.principal("aud", "auditor"))
        audits = audit_pb2_grpc.AuditServiceStub(pool.channel)
        for _ in range(5):
            with pytest.raises(grpc.RpcError) as err:
                pool.jobs.ListJobs(jobs_pb2.ListJobsRequest(), metadata=md("scd_guess"))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        for metadata in (md("scd_guess"), auditor):
            with pytest.raises(grpc.RpcError) as err:
                audits.VerifyAuditChain(audit_pb2.VerifyAuditChainRequest(), metadata=metadata)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "too many failed authentications; retry in" in (err.value.details() or "")
        assert pool.app is not None
        check = pool.app.audits.verify()
        assert check.ok and check.checked == 2 + 5  # two principals created, five denials
    finally:
        next(pools, None)
