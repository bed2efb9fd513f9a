"""The few Kubernetes API calls the agent makes, through the official client, as plain JSON.

This is the only module that imports `kubernetes`. Answers are read without the client's
model classes (`_preload_content=False`) so the rest of the package works on the API's own
JSON, the same shapes `kubectl get -o json` shows and the tests serve. Every call has a
timeout: the agent's loop must not hang on a slow API server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from agents.kube.errors import KubeError
from agents.kube.manifest import CONTAINER

T = TypeVar("T")
TIMEOUT = 10.0


def connect(kubeconfig: str | None = None, in_cluster: bool = False) -> client.ApiClient:
    """An API client from a kubeconfig file (None: $KUBECONFIG or ~/.kube/config) or from the
    pod's service account; ValueError saying what could not be loaded."""
    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration, persist_config=False
            )
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        where = "in-cluster service account" if in_cluster else (kubeconfig or "kubeconfig")
        raise ValueError(f"kubernetes: cannot load {where}: {str(exc)[:200]}") from None
    return client.ApiClient(configuration)


def _error(exc: Exception) -> KubeError:
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        try:
            message = str(json.loads(exc.body or "{}").get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        return KubeError(status, f"{status} {exc.reason or ''}: {message}"[:300].strip())
    return KubeError(0, f"{type(exc).__name__}: {str(exc)[:200]}")


class PodApi:
    """Pods of one namespace, and the cluster's nodes and pods, for one agent."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._core = client.CoreV1Api(api_client)
        self.namespace = namespace

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, _request_timeout=TIMEOUT, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _error(exc) from None

    def _json(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        response = self._call(fn, *args, _preload_content=False, **kwargs)
        try:
            data = json.loads(cast(urllib3.BaseHTTPResponse, response).data)
        except ValueError:
            raise KubeError(0, "the API server answered with something other than JSON") from None
        if not isinstance(data, dict):
            raise KubeError(0, "the API server answered with something other than an object")
        return data

    def create_pod(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._core.create_namespaced_pod, self.namespace, manifest)

    def read_pod(self, name: str) -> dict[str, Any] | None:
        try:
            return self._json(self._core.read_namespaced_pod, name, self.namespace)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list_pods(self, label_selector: str) -> list[dict[str, Any]]:
        """Pods of the namespace matching the selector (one page: the agent's own pods)."""
        data = self._json(
            self._core.list_namespaced_pod, self.namespace, label_selector=label_selector
        )
        return [p for p in data.get("items") or [] if isinstance(p, dict)]

    def delete_pod(self, name: str, grace_seconds: int) -> bool:
        """Asks the pod to stop within the grace period; False if it was already gone."""
        try:
            self._json(
                self._core.delete_namespaced_pod,
                name,
                self.namespace,
                grace_period_seconds=grace_seconds,
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def set_pod_deadline(self, name: str, seconds: int) -> None:
        """Sets spec.activeDeadlineSeconds of a live pod (a JSON merge patch). The API server
        accepts it only to set an unset deadline or to shorten one (a Pod's spec is immutable
        but for a few fields, and this one may not grow); it answers 422 otherwise."""
        self._json(
            self._core.patch_namespaced_pod,
            name,
            self.namespace,
            {"spec": {"activeDeadlineSeconds": seconds}},
            _content_type="application/merge-patch+json",
        )

    def pod_log(self, name: str, limit_bytes: int) -> bytes | None:
        """The first `limit_bytes` of the pod's log; None if the pod does not exist; b"" while
        its container has not started (the API answers 400 then)."""
        try:
            response = self._call(
                self._core.read_namespaced_pod_log,
                name,
                self.namespace,
                container=CONTAINER,
                limit_bytes=limit_bytes,
                _preload_content=False,
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            if exc.status == 400:
                return b""
            raise
        return bytes(cast(urllib3.BaseHTTPResponse, response).data)

    # The capacity reads below run every few seconds over the whole cluster: resourceVersion=0
    # lets the API server answer from its watch cache instead of a quorum read of etcd, at the
    # price of a moment's staleness that the next read corrects.

    def list_nodes(self) -> list[dict[str, Any]]:
        data = self._json(self._core.list_node, resource_version="0")
        return [n for n in data.get("items") or [] if isinstance(n, dict)]

    def list_active_pods(self) -> list[dict[str, Any]]:
        """Every pod of the cluster that may hold resources (not Succeeded, not Failed)."""
        data = self._json(
            self._core.list_pod_for_all_namespaces,
            field_selector="status.phase!=Succeeded,status.phase!=Failed",
            resource_version="0",
        )
        return [p for p in data.get("items") or [] if isinstance(p, dict)]
