"""Runs the real helm v4 on the charts in helm/ and parses what it renders.

helm comes from $SUANCHOU_HELM (scripts/test.sh sets it from scripts/helm.sh), else from PATH.
Without it the chart tests skip, except under CI=true, where they fail: CI must render the charts.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "helm"
HELM_ENV = "SUANCHOU_HELM"
# The version kubernetes-validate checks the manifests against (tests.kube_api.K8S_VERSION); the
# charts are rendered for the same one, so Capabilities-dependent output matches what is checked.
KUBE_VERSION = "1.37.0"


@dataclass(frozen=True)
class Variant:
    """One way of installing a chart: values files and --set-json overrides."""

    chart: str
    name: str
    values_files: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.chart}:{self.name}"

    def args(self) -> list[str]:
        args: list[str] = []
        for file in self.values_files:
            args += ["--values", str(CHARTS / self.chart / file)]
        for override in self.overrides:
            args += ["--set-json", override]
        return args


@functools.cache
def helm() -> str:
    """The helm v4 binary; skips (fails under CI=true) without one."""
    path = os.environ.get(HELM_ENV) or shutil.which("helm")
    if not path:
        message = f"no helm: set {HELM_ENV} (scripts/helm.sh prints one) or put helm v4 on PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    version = subprocess.run(
        [path, "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert version.startswith("v4."), f"{path} is helm {version}, the charts need v4"
    return path


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm(), *args], capture_output=True, text=True, timeout=120, cwd=REPO, check=False
    )


@functools.cache
def render(variant: Variant, namespace: str = "suanchou") -> tuple[dict[str, Any], ...]:
    """Every manifest `helm template` renders for `variant` (hooks included), parsed."""
    result = run_helm(
        "template",
        "suanchou",
        str(CHARTS / variant.chart),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
        *variant.args(),
    )
    assert result.returncode == 0, f"helm template {variant}: {result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(manifests: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == kind]


def pod_specs(manifests: tuple[dict[str, Any], ...]) -> dict[str, dict[str, Any]]:
    """Pod spec of every workload, by "Kind/name"."""
    return {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]["spec"]
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    }
