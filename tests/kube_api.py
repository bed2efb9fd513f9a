"""A loopback HTTP server that speaks the few Kubernetes API calls the agent makes.

The agent's code path runs unchanged through the official client (URLs, verbs, query strings,
JSON bodies); the server keeps pods and nodes as the API's JSON, records every request, and
validates every pod it is sent against the official OpenAPI schema (kubernetes-validate,
Kubernetes `K8S_VERSION`). A test plays the kubelet by editing `pods[name]["status"]`.
Used by tests/agents and tests/integration.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest
import yaml

K8S_VERSION = "1.37.0"


def validate(manifest: dict[str, Any]) -> None:
    """Fails the test unless `manifest` is valid for K8S_VERSION (strict: no unknown fields)."""
    try:
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{manifest.get('kind')} invalid at {where}: {exc.message}")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "reason": reason,
        "message": message,
        "code": code,
    }


def _patch_deadline(pod: dict[str, Any], request: Request) -> tuple[int, dict[str, Any]]:
    """A merge patch of spec.activeDeadlineSeconds, with the API server's rule for a live pod:
    it may be set when unset, or lowered, never raised (422 Invalid)."""
    assert request.body is not None and set(request.body) == {"spec"}
    assert set(request.body["spec"]) == {"activeDeadlineSeconds"}, "only the deadline may change"
    new = request.body["spec"]["activeDeadlineSeconds"]
    old = pod["spec"].get("activeDeadlineSeconds")
    if old is not None and new > old:
        message = "spec.activeDeadlineSeconds: Invalid value: must be less than or equal"
        return 422, _status(422, "Invalid", message)
    pod["spec"]["activeDeadlineSeconds"] = new
    return 200, pod


def _matches(pod: dict[str, Any], selector: str) -> bool:
    labels = pod["metadata"].get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def node(
    name: str,
    *,
    cpu: str = "8",
    memory: str = "32Gi",
    extra: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    ready: bool = True,
) -> dict[str, Any]:
    """A Node as the API returns it."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    allocatable.update(extra or {})
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
        },
        "spec": spec,
        "status": {
            "allocatable": allocatable,
            "capacity": dict(allocatable),
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


class KubeApiServer:
    """Pods in any namespace and a node list, served on 127.0.0.1:<port 0>."""

    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.nodes: list[dict[str, Any]] = []
        self.logs: dict[str, bytes] = {}
        self.requests: list[Request] = []
        # (METHOD, path suffix) -> HTTP status answered instead, once per entry.
        self.fail: list[tuple[str, str, int]] = []
        # When False, DELETE marks the pod terminating (the kubelet's grace) instead of removing.
        self.delete_at_once = True
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                body = json.loads(raw) if raw else None
                with server.lock:
                    request = Request(self.command, url.path, parse_qs(url.query), body)
                    server.requests.append(request)
                    code, payload = server.answer(request)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(code)
                kind = "text/plain" if isinstance(payload, bytes) else "application/json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_port}"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def kubeconfig(self, directory: Path) -> Path:
        """A kubeconfig file pointing at this server (no credentials: plain loopback HTTP)."""
        path = directory / "kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "loop", "cluster": {"server": self.url}}],
                    "users": [{"name": "loop", "user": {}}],
                    "contexts": [{"name": "loop", "context": {"cluster": "loop", "user": "loop"}}],
                    "current-context": "loop",
                }
            )
        )
        return path

    # -- what the test sees --------------------------------------------------------------

    def calls(self, method: str, suffix: str = "") -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def pod(self, name: str, namespace: str = "jobs") -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.pods[(namespace, name)])

    def only_pod(self, namespace: str = "jobs") -> dict[str, Any]:
        with self.lock:
            found = [p for (ns, _), p in self.pods.items() if ns == namespace]
        assert len(found) == 1, f"expected one pod, found {len(found)}"
        return copy.deepcopy(found[0])

    def set_status(self, name: str, status: dict[str, Any], namespace: str = "jobs") -> None:
        """Plays the kubelet: replaces the pod's status."""
        with self.lock:
            self.pods[(namespace, name)]["status"] = status

    def add_pod(self, pod: dict[str, Any]) -> None:
        """A pod someone else created (another workload, or an earlier agent)."""
        with self.lock:
            meta = pod["metadata"]
            self.pods[(meta.get("namespace", "default"), meta["name"])] = pod

    # -- the API -------------------------------------------------------------------------

    def answer(self, request: Request) -> tuple[int, dict[str, Any] | bytes]:
        for i, (method, suffix, code) in enumerate(self.fail):
            if request.method == method and request.path.endswith(suffix):
                del self.fail[i]
                return code, _status(code, "InternalError", "injected failure")
        parts = request.path.strip("/").split("/")
        if parts == ["api", "v1", "nodes"]:
            return 200, {"apiVersion": "v1", "kind": "NodeList", "items": self.nodes}
        if parts == ["api", "v1", "pods"]:
            selector = request.query.get("fieldSelector", [""])[0]
            excluded = {t.split("!=")[1] for t in selector.split(",") if "!=" in t}
            items = [
                p for p in self.pods.values() if p.get("status", {}).get("phase") not in excluded
            ]
            return 200, {"apiVersion": "v1", "kind": "PodList", "items": items}
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) >= 5 and parts[4] == "pods":
            return self._pods(request, parts[3], parts[5:])
        return 404, _status(404, "NotFound", f"no route {request.path}")

    def _pods(
        self, request: Request, namespace: str, rest: list[str]
    ) -> tuple[int, dict[str, Any] | bytes]:
        if not rest:
            if request.method == "POST":
                assert request.body is not None
                validate(request.body)
                name = request.body["metadata"]["name"]
                if (namespace, name) in self.pods:
                    return 409, _status(409, "AlreadyExists", f'pods "{name}" already exists')
                pod = copy.deepcopy(request.body)
                pod["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()))
                pod["status"] = {"phase": "Pending"}
                self.pods[(namespace, name)] = pod
                return 201, pod
            selector = request.query.get("labelSelector", [""])[0]
            items = [
                p for (ns, _), p in self.pods.items() if ns == namespace and _matches(p, selector)
            ]
            return 200, {"apiVersion": "v1", "kind": "PodList", "items": items}
        name = rest[0]
        pod = self.pods.get((namespace, name))
        if pod is None:
            return 404, _status(404, "NotFound", f'pods "{name}" not found')
        if rest[1:] == ["log"]:
            if pod.get("status", {}).get("phase") == "Pending":
                return 400, _status(400, "BadRequest", "container is waiting to start")
            data = self.logs.get(name, b"")
            limit = request.query.get("limitBytes")
            return 200, data[: int(limit[0])] if limit else data
        if request.method == "PATCH":
            return _patch_deadline(pod, request)
        if request.method == "DELETE":
            if self.delete_at_once:
                del self.pods[(namespace, name)]
            else:
                pod["metadata"]["deletionTimestamp"] = "2026-12-04T00:00:00Z"
            return 200, pod
        return 200, pod
