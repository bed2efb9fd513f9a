"""The Helm charts, rendered by the real helm v4 and checked against Kubernetes' own schema and
against the programs they run: lint, every manifest valid, the restricted Pod Security profile
on every pod, native gRPC probes on the scheduler, the agent's RBAC equal to
deploy/kubernetes/rbac.yaml, and every rendered command line accepted by the real parsers."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.main import build_parser as agent_parser
from scheduler import app as server
from scheduler.cli.main import DELEGATED
from scheduler.config import _FLAGS, _TOP, load
from scheduler.service.security_settings import SecuritySettings
from scheduler.service.settings import SchedulerSettings
from tests.deploy.helm_render import (
    CHARTS,
    REPO,
    Variant,
    of_kind,
    pod_specs,
    render,
    run_helm,
)
from tests.kube_api import validate

DEFAULT = Variant("suanchou", "default")
PRODUCTION = Variant("suanchou", "production", ("values-production.yaml",))
# Every optional branch of the scheduler chart: several replicas, metrics, plaintext, no
# bootstrap token, no migration hook.
VARIANTS_ON = Variant(
    "suanchou",
    "replicas-metrics-plaintext",
    overrides=(
        "replicas=2",
        'strategy={"type":"RollingUpdate"}',
        "metrics.enabled=true",
        "tls.enabled=false",
        "insecure=true",
        "bootstrapToken.enabled=false",
        'listenHost="[::]"',
    ),
)
AGENT_DEFAULT = Variant("suanchou-agent", "default")
AGENT_PRODUCTION = Variant("suanchou-agent", "production", ("values-production.yaml",))
ALL = [DEFAULT, PRODUCTION, VARIANTS_ON, AGENT_DEFAULT, AGENT_PRODUCTION]
RBAC = REPO / "deploy" / "kubernetes" / "rbac.yaml"


def _container(manifests: tuple[dict[str, Any], ...], kind: str) -> dict[str, Any]:
    (workload,) = of_kind(manifests, kind)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("variant", [DEFAULT, PRODUCTION, AGENT_DEFAULT, AGENT_PRODUCTION], ids=str)
def test_helm_lint_is_clean(variant: Variant) -> None:
    """`helm lint --strict` passes the chart with its default and its production-like values."""
    result = run_helm("lint", "--strict", str(CHARTS / variant.chart), *variant.args())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("variant", ALL, ids=str)
def test_every_rendered_manifest_is_valid_kubernetes(variant: Variant) -> None:
    """Every manifest helm renders (hooks included) validates strictly against the OpenAPI schema
    of the pinned Kubernetes version, and the chart creates no Secret, only references them."""
    manifests = render(variant)
    for manifest in manifests:
        validate(manifest)
    kinds = {m["kind"] for m in manifests}
    assert "Secret" not in kinds
    expected = (
        {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
        if variant.chart == "suanchou-agent"
        else {"Deployment", "Service", "ConfigMap"}
    )
    assert expected <= kinds


@pytest.mark.parametrize("variant", ALL, ids=str)
def test_every_pod_runs_under_the_restricted_pod_security_profile(variant: Variant) -> None:
    """Each pod runs as non-root with RuntimeDefault seccomp, each container with no privilege
    escalation, all capabilities dropped and a read-only root; none uses host namespaces."""
    specs = pod_specs(render(variant))
    assert specs
    for where, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] > 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), where
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, where
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context.get("privileged") is not True, where
            assert "add" not in context["capabilities"], where


@pytest.mark.parametrize("variant", [DEFAULT, PRODUCTION, VARIANTS_ON], ids=str)
def test_scheduler_probes_are_native_grpc_on_the_health_port(variant: Variant) -> None:
    """Startup, liveness and readiness probes are native gRPC probes on the port the server's
    --health-listen serves grpc.health.v1 on; readiness asks for JobService by name."""
    container = _container(render(variant), "Deployment")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    listen = next(a for a in container["args"] if a.startswith("--health-listen="))
    assert listen.endswith(f":{ports['health']}")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert set(container[probe]) & {"httpGet", "tcpSocket", "exec"} == set(), probe
        assert container[probe]["grpc"]["port"] == ports["health"], probe
    assert container["readinessProbe"]["grpc"]["service"] == "suanchou.v1.JobService"


@pytest.mark.parametrize("variant", [DEFAULT, PRODUCTION], ids=str)
def test_scheduler_command_line_is_accepted_by_the_server(variant: Variant) -> None:
    """The rendered `suanchou server` arguments parse with the server's own parser, and point at
    the files the chart mounts (config, TLS, bootstrap token)."""
    manifests = render(variant)
    container = _container(manifests, "Deployment")
    assert container["command"] == ["suanchou"] and container["args"][0] == "server"
    args = server.parse_args(container["args"][1:])
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for path in (args.config, args.tls_cert, args.tls_key, args.tls_client_ca):
        if path:
            assert any(path.startswith(m + "/") for m in mounts), path
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert set(env) == {"SUANCHOU_DATABASE_URL"}


def test_scheduler_ports_metrics_and_replicas_follow_the_values() -> None:
    """With metrics on, the server gets --metrics-listen on the metrics port, which the Service
    exposes; more than one replica brings a PodDisruptionBudget, one none; plaintext needs
    insecure."""
    manifests = render(VARIANTS_ON)
    container = _container(manifests, "Deployment")
    assert "--metrics-listen=[::]:9090" in container["args"]
    assert "--insecure" in container["args"]
    assert not any(a.startswith(("--tls-", "--admin-token-file")) for a in container["args"])
    (service,) = of_kind(manifests, "Service")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
        "grpc": 50051,
        "metrics": 9090,
    }
    assert len(of_kind(manifests, "PodDisruptionBudget")) == 1
    single = Variant("suanchou", "single", overrides=("replicas=1",))
    assert of_kind(render(single), "PodDisruptionBudget") == []


def test_the_default_is_two_leader_elected_replicas_rolled_on_upgrade() -> None:
    """Two replicas (one leads, the other serves the API and takes over), rolled on upgrade
    since a deposed leader's cycle cannot commit, and a PodDisruptionBudget keeps one up."""
    for variant in (DEFAULT, PRODUCTION):
        manifests = render(variant)
        (deployment,) = of_kind(manifests, "Deployment")
        assert deployment["spec"]["replicas"] == 2
        assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
        (budget,) = of_kind(manifests, "PodDisruptionBudget")
        assert budget["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("variant", [DEFAULT, PRODUCTION], ids=str)
def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(variant: Variant) -> None:
    """The migration Job is a pre-install/pre-upgrade hook running `suanchou migrate` with the
    database URL from its Secret, and the Service never selects its pod."""
    manifests = render(variant)
    (job,) = of_kind(manifests, "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["suanchou", "migrate"]
    assert "migrate" in DELEGATED
    assert [e["name"] for e in container["env"]] == ["SUANCHOU_DATABASE_URL"]
    (service,) = of_kind(manifests, "Service")
    selector = service["spec"]["selector"].items()
    assert not selector <= job["spec"]["template"]["metadata"]["labels"].items()
    (deployment,) = of_kind(manifests, "Deployment")
    assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_settings_render_to_a_config_file_the_server_loads(tmp_path: Path) -> None:
    """The production values' settings become a [server] table that scheduler.config loads to
    the same values, whole numbers as integers."""
    (config_map,) = of_kind(render(PRODUCTION), "ConfigMap")
    path = tmp_path / "server.toml"
    path.write_text(config_map["data"]["server.toml"])
    config = load(str(path), environ={})
    values = yaml.safe_load((CHARTS / "suanchou" / "values-production.yaml").read_text())
    for key, value in values["settings"].items():
        actual = getattr(config.scheduler, key, getattr(config.security, key, None))
        if actual is None:
            actual = getattr(config, key)
        assert actual == value, key
    assert "max_attempts = 3\n" in path.read_text()


# Keys of the server's [server] table the chart itself sets from other values.
CHART_SET = {
    "listen",
    "database_url",
    "admin_token",
    "admin_token_file",
    "log_level",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "health_listen",
    "insecure",
    # From metrics.enabled/metrics.port (the server's --metrics-listen, issue 11 "Observe").
    "metrics_listen",
}


def test_settings_schema_names_every_server_setting_with_its_type() -> None:
    """values.schema.json's `settings` lists exactly the server's config keys the chart does not
    set itself, each with its JSON type (a new server setting must be added here too)."""
    schema = json.loads((CHARTS / "suanchou" / "values.schema.json").read_text())
    listed = {k: v["type"] for k, v in schema["properties"]["settings"]["properties"].items()}
    json_type = {
        "int": "integer",
        "float": "number",
        "bool": "boolean",
        int: "integer",
        str: "string",
    }
    expected = {k: json_type[t] for k, t in _TOP.items()} | dict.fromkeys(_FLAGS, "boolean")
    for settings in (SchedulerSettings, SecuritySettings):
        expected |= {f.name: json_type[f.type] for f in dataclasses.fields(settings)}
    expected = {k: t for k, t in expected.items() if k not in CHART_SET}
    missing = {k: t for k, t in expected.items() if listed.get(k) != t}
    assert not missing, f"add to values.schema.json settings (key: JSON type): {missing}"
    assert set(listed) == set(expected), f"not server settings: {set(listed) - set(expected)}"


@pytest.mark.parametrize(
    ("chart", "override", "expected"),
    [
        ("suanchou", "replicas=0", "/replicas"),
        ("suanchou", 'settings={"listen":"0.0.0.0:1"}', "'listen' not allowed"),
        ("suanchou", 'settings={"cycle_interval_s":"fast"}', "/settings/cycle_interval_s"),
        ("suanchou", 'image={"repository":"x","digest":"sha256:12"}', "/image/digest"),
        ("suanchou", "tls.enabled=false", "insecure=true"),
        ("suanchou-agent", 'scheduler={"address":"no port"}', "/scheduler/address"),
        ("suanchou-agent", 'scheduler={"address":""}', "scheduler.address: required"),
        ("suanchou-agent", 'jobs={"namespace":"Bad_NS"}', "/jobs/namespace"),
    ],
)
def test_bad_values_are_refused_naming_the_value(chart: str, override: str, expected: str) -> None:
    """helm template refuses values the schema or the templates reject, naming the value."""
    result = run_helm("template", "x", str(CHARTS / chart), "--set-json", override)
    assert result.returncode != 0
    assert expected in result.stderr


def _notes(chart: str, *overrides: str) -> str:
    args = [a for o in overrides for a in ("--set-json", o)]
    result = run_helm("install", "x", str(CHARTS / chart), "--dry-run=client", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("\nNOTES:\n", 1)[1]


def test_notes_name_the_secrets_to_create_and_how_to_find_the_leader() -> None:
    """NOTES.txt names each Secret the release needs and, with more than one replica, how to
    see which one leads; the agent's names its Secrets."""
    notes = _notes("suanchou")
    for secret in ("suanchou-database", "suanchou-tls", "suanchou-bootstrap-token"):
        assert secret in notes
    assert "-service suanchou.leader" in notes
    assert "suanchou.leader" not in _notes("suanchou", "replicas=1")
    agent = _notes("suanchou-agent")
    assert "suanchou-agent-token" in agent and "suanchou-ca" in agent


def _rules(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    (role,) = [d for d in documents if d["kind"] == kind]
    rules: list[dict[str, Any]] = role["rules"]
    return rules


@pytest.mark.parametrize("variant", [AGENT_DEFAULT, AGENT_PRODUCTION], ids=str)
def test_agent_rbac_is_exactly_deploy_kubernetes_rbac(variant: Variant) -> None:
    """The agent chart grants the rules of deploy/kubernetes/rbac.yaml and nothing else: the
    ClusterRole and the jobs-namespace Role, bound to the account the agent's pod runs as."""
    source = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    manifests = list(render(variant))
    for kind in ("ClusterRole", "Role"):
        assert _rules(manifests, kind) == _rules(source, kind), kind
    (account,) = of_kind(render(variant), "ServiceAccount")
    (deployment,) = of_kind(render(variant), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    jobs_namespace = next(
        a.split("=", 1)[1] for a in pod["containers"][0]["args"] if a.startswith("--namespace=")
    )
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        (binding,) = of_kind(render(variant), binding_kind)
        (role,) = of_kind(render(variant), role_kind)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": role["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "suanchou"}
        ]
        if role_kind == "Role":
            assert role["metadata"]["namespace"] == jobs_namespace
            assert binding["metadata"]["namespace"] == jobs_namespace


@pytest.mark.parametrize("variant", [AGENT_DEFAULT, AGENT_PRODUCTION], ids=str)
def test_agent_command_line_is_accepted_by_the_agent(variant: Variant) -> None:
    """The rendered `suanchou agent` arguments parse with the agent's own parser: the Kubernetes
    executor in-cluster, a token file and TLS files from mounted Secrets, a private workdir."""
    (deployment,) = of_kind(render(variant), "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["suanchou"] and container["args"][0] == "agent"
    args = agent_parser().parse_args(container["args"][1:])
    assert args.executor == "kubernetes" and args.in_cluster
    assert args.token is None and "env" not in container
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    for path in (args.token_file, args.tls_ca, args.tls_cert, args.tls_key, args.workdir):
        if path is not None:
            assert any(str(path).startswith(m + "/") for m in mounts), path
