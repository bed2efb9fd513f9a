"""`KubernetesExecutor`: each replica a pod bound to its node (see `agents.kube.manifest`).

The pod's name follows from its run id and its labels name the agent, so the API server itself
refuses a second pod for one run (409: the executor adopts the existing pod) and a restarted
agent finds its pods with one label selector (`adopt`) instead of creating them again.

Calls are made from the agent's loop and each has a timeout (`agents.kube.api`); the pods are
listed at most every `poll_interval` seconds, so `poll` is cheap between two lists. When the
API server cannot be reached, runs keep their last known state (nothing is declared lost for
an outage of the API server) and creations and deletions are retried at the next list.

Cancel deletes the pod with `kill_grace` seconds of grace (SIGTERM, then SIGKILL from the
kubelet). Finished pods are kept for their logs (`read_output`) and deleted `retention`
seconds after they ended. Pod logs are one stream: `read_output` serves them as stdout and
stderr as empty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from agents.executor import Lease, RunPhase, RunStatus
from agents.kube import podstatus
from agents.kube.errors import KubeError
from agents.kube.manifest import (
    AGENT_LABEL,
    Toleration,
    agent_selector,
    build_pod,
    pod_name,
)
from agents.kube.podstatus import ended_at, run_id_of, terminal

log = structlog.get_logger("suanchou.agent.kubernetes")

# A creation the API server keeps refusing with a transient error fails the run after this.
CREATE_DEADLINE = 300.0
SHUTDOWN_SLACK = 10.0
STREAMS = ("stdout", "stderr")
# read_output answers at most this much, and serves a pod log's first MAX_OUTPUT_OFFSET bytes.
MAX_OUTPUT_READ = 1024 * 1024
MAX_OUTPUT_OFFSET = 64 * 1024 * 1024


class PodClient(Protocol):
    """The calls of `agents.kube.api.PodApi` the executor makes (JSON in, JSON out)."""

    namespace: str

    def create_pod(self, manifest: dict[str, Any]) -> dict[str, Any]: ...

    def read_pod(self, name: str) -> dict[str, Any] | None: ...

    def list_pods(self, label_selector: str) -> list[dict[str, Any]]: ...

    def delete_pod(self, name: str, grace_seconds: int) -> bool: ...

    def pod_log(self, name: str, limit_bytes: int) -> bytes | None: ...

    def set_pod_deadline(self, name: str, seconds: int) -> None: ...


@dataclass
class _Run:
    run_id: str
    name: str
    manifest: dict[str, Any] | None  # None once the pod exists (created or adopted)
    first_try: float
    status: RunStatus
    stop: str = ""  # "cancel" | "shutdown"
    delete_pending: bool = False
    pull_since: float | None = None
    final: RunStatus | None = None
    deadline: int = 0  # the pod's activeDeadlineSeconds as created or patched (0: none)


class KubernetesExecutor:
    """Runs leases as pods in `api.namespace` (see the module docstring)."""

    def __init__(
        self,
        api: PodClient,
        *,
        image: str,
        agent: str,
        kill_grace: float = 10.0,
        tolerations: Sequence[Toleration] = (),
        poll_interval: float = 2.0,
        pull_grace: float = 120.0,
        retention: float = 7 * 86400.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api
        self._image = image
        self._agent = agent
        self._grace = max(0, math.ceil(kill_grace))
        self._tolerations = tuple(tolerations)
        self._poll_interval = poll_interval
        self._pull_grace = pull_grace
        self._retention = retention
        self._clock = clock
        self._wall = wall_clock
        self._runs: dict[str, _Run] = {}
        # Pods of runs already reported failed whose deletion must still go through.
        self._doomed: set[str] = set()
        self._listed_at: float | None = None

    # -- Executor ----------------------------------------------------------------------------

    def start(self, lease: Lease) -> None:
        if lease.run_id in self._runs:
            return
        run = _Run(
            lease.run_id,
            pod_name(lease.run_id),
            None,
            self._clock(),
            RunStatus(lease.run_id, RunPhase.PENDING),
        )
        self._runs[lease.run_id] = run
        if not lease.node:
            run.final = RunStatus(lease.run_id, RunPhase.FAILED, None, "the lease names no node")
            return
        if any(v > 0 for v in lease.shares.values()):
            # Extended resources are whole devices; time-slicing or MIG would need a
            # device-plugin configuration the agent cannot see, so a share is refused plainly.
            name = sorted(lease.shares)[0]
            message = (
                f"resources.{name[:64]}: a share of one device cannot run on Kubernetes "
                "(extended resources are whole devices); ask for whole devices"
            )
            run.final = RunStatus(lease.run_id, RunPhase.FAILED, None, message)
            return
        image = lease.image or self._image
        if not image:
            message = "the job names no image and the agent has no --image"
            run.final = RunStatus(lease.run_id, RunPhase.FAILED, None, message)
            return
        run.manifest = build_pod(
            lease,
            image=image,
            namespace=self._api.namespace,
            agent=self._agent,
            kill_grace=self._grace,
            tolerations=self._tolerations,
        )
        run.deadline = max(lease.max_runtime_seconds, 0)
        self._create(run)

    def set_max_runtime(self, run_id: str, seconds: int) -> None:
        """Patches the pod's activeDeadlineSeconds (measured from the pod's start, as
        suanchou's limit from the replica's). Kubernetes lets a live pod's deadline only be
        set or shortened: a longer limit applies to pods not created yet, and for a created
        pod it is logged as refused and the pod keeps its deadline."""
        run = self._runs.get(run_id)
        if run is None or run.final is not None or run.stop or seconds <= 0:
            return
        if run.manifest is not None:  # not created yet: it is created with the new limit
            run.manifest["spec"]["activeDeadlineSeconds"] = seconds
            run.deadline = seconds
            return
        if run.deadline and seconds >= run.deadline:
            if seconds > run.deadline:
                log.warning(
                    "pod_deadline_not_extended",
                    run_id=run_id,
                    pod=run.name,
                    deadline_seconds=run.deadline,
                    asked_seconds=seconds,
                    why="Kubernetes only shortens a running pod's activeDeadlineSeconds",
                )
            return
        try:
            self._api.set_pod_deadline(run.name, seconds)
        except KubeError as exc:
            log.warning("pod_deadline_failed", run_id=run_id, pod=run.name, error=str(exc))
            return
        run.deadline = seconds
        log.info("pod_deadline_set", run_id=run_id, pod=run.name, deadline_seconds=seconds)

    def cancel(self, run_id: str) -> None:
        run = self._runs.get(run_id)
        if run is None or run.final is not None or run.stop:
            return
        run.stop = "cancel"
        if run.manifest is not None:  # never created: nothing runs
            run.final = RunStatus(run_id, RunPhase.CANCELLED, None, "cancelled")
            return
        self._delete(run)

    def poll(self) -> list[RunStatus]:
        now = self._clock()
        if self._listed_at is None or now - self._listed_at >= self._poll_interval:
            self._refresh(now)
        statuses = []
        for run_id, run in list(self._runs.items()):
            if run.final is not None:
                statuses.append(run.final)
                del self._runs[run_id]  # returned once, then forgotten (Executor contract)
            else:
                statuses.append(run.status)
        return statuses

    def shutdown(self) -> list[RunStatus]:
        """Deletes every live pod and waits (bounded) until they are gone.

        A pod left running after the agent stops would keep working while the scheduler,
        told nothing of it, requeues its job: the replica would run twice.
        """
        for run in self._runs.values():
            if run.final is None and not run.stop:
                run.stop = "shutdown"
                if run.manifest is not None:
                    run.final = RunStatus(run.run_id, RunPhase.CANCELLED, None, "agent shut down")
                else:
                    self._delete(run)
        deadline = self._clock() + self._grace + SHUTDOWN_SLACK
        statuses: list[RunStatus] = []
        while True:
            statuses += [s for s in self.poll() if s.phase.finished]
            if not self._runs or self._clock() >= deadline:
                break
            time.sleep(min(0.5, self._poll_interval))
            self._listed_at = None
        for run in self._runs.values():  # deletion requested but not confirmed in time
            statuses.append(
                RunStatus(run.run_id, RunPhase.CANCELLED, None, "agent shut down; pod deleting")
            )
        self._runs.clear()
        return statuses

    def adopt(self, run_ids: Collection[str]) -> dict[str, RunStatus]:
        """Holds again the pods of `run_ids` (created by an earlier agent process); returns
        their statuses, live for now (the next poll reports, and journals, how they ended).
        ValueError when the pods cannot be listed: the runs must then not be declared lost."""
        wanted = set(run_ids)
        if not wanted:
            return {}
        try:
            pods = self._api.list_pods(agent_selector(self._agent))
        except KubeError as exc:
            raise ValueError(f"kubernetes: cannot list this agent's pods: {exc}") from None
        adopted: dict[str, RunStatus] = {}
        for pod in pods:
            run_id = run_id_of(pod)
            if run_id not in wanted or run_id in self._runs:
                continue
            seen = podstatus.outcome(pod)
            phase = RunPhase.PENDING if seen.phase is RunPhase.PENDING else RunPhase.RUNNING
            status = RunStatus(run_id, phase)
            self._runs[run_id] = _Run(run_id, pod_name(run_id), None, self._clock(), status)
            adopted[run_id] = status
            log.info("pod_adopted", run_id=run_id, pod=pod_name(run_id))
        self._listed_at = None
        return adopted

    def read_output(self, run_id: str, stream: str, offset: int, max_bytes: int) -> bytes | None:
        """Bytes [offset, offset + max_bytes) of a run's output; None for an unknown run.

        Pod logs interleave stdout and stderr in one stream: "stdout" returns it, "stderr" b"".
        The log API has no byte offset, so the first offset + max_bytes bytes are fetched; to
        bound that, nothing past MAX_OUTPUT_OFFSET is served (`kubectl logs` still has it).
        """
        if stream not in STREAMS:
            raise ValueError(f"stream must be stdout or stderr, got {stream[:20]!r}")
        max_bytes = min(max_bytes, MAX_OUTPUT_READ)
        run = self._runs.get(run_id)
        try:
            if run is None:
                pod = self._api.read_pod(pod_name(run_id))
                labels = ((pod or {}).get("metadata") or {}).get("labels") or {}
                if pod is None or labels.get(AGENT_LABEL) != self._agent:
                    return None
            if stream == "stderr" or max_bytes <= 0 or not 0 <= offset < MAX_OUTPUT_OFFSET:
                return b""
            if run is not None and run.manifest is not None:
                return b""  # not created yet
            data = self._api.pod_log(pod_name(run_id), offset + max_bytes)
        except KubeError as exc:
            log.warning("pod_log_unavailable", run_id=run_id, error=str(exc))
            return b""
        if data is None:
            return b"" if run is not None else None
        return data[offset : offset + max_bytes]

    # -- internals ---------------------------------------------------------------------------

    def _create(self, run: _Run) -> None:
        assert run.manifest is not None
        try:
            self._api.create_pod(run.manifest)
        except KubeError as exc:
            if exc.status == 409:
                self._adopt_existing(run)
            elif 400 <= exc.status < 500 and exc.status not in (408, 429):
                message = f"the API server refused the pod: {exc}"
                run.final = RunStatus(run.run_id, RunPhase.FAILED, None, message[:300])
                log.warning("pod_refused", run_id=run.run_id, status=exc.status, error=str(exc))
            elif self._clock() - run.first_try >= CREATE_DEADLINE:
                message = f"could not create the pod for {CREATE_DEADLINE:.0f}s: {exc}"
                run.final = RunStatus(run.run_id, RunPhase.FAILED, None, message[:300])
            else:
                log.warning("pod_create_retrying", run_id=run.run_id, error=str(exc))
            return
        run.manifest = None
        log.info("pod_created", run_id=run.run_id, pod=run.name)

    def _adopt_existing(self, run: _Run) -> None:
        try:
            pod = self._api.read_pod(run.name)
        except KubeError as exc:  # still unsent: the next refresh posts again and reads again
            log.warning("pod_create_retrying", run_id=run.run_id, error=str(exc))
            return
        if pod is not None and run_id_of(pod) == run.run_id:
            labels = (pod.get("metadata") or {}).get("labels") or {}
            if labels.get(AGENT_LABEL) == self._agent:
                run.manifest = None
                log.info("pod_adopted", run_id=run.run_id, pod=run.name)
                return
        message = f"pod {run.name} exists and was not created by this agent"
        run.final = RunStatus(run.run_id, RunPhase.FAILED, None, message)

    def _delete(self, run: _Run) -> None:
        try:
            self._api.delete_pod(run.name, self._grace)
            run.delete_pending = False
        except KubeError as exc:
            run.delete_pending = True
            log.warning("pod_delete_retrying", run_id=run.run_id, error=str(exc))

    def _refresh(self, now: float) -> None:
        self._delete_doomed()
        for run in self._runs.values():
            try:
                if run.final is None and run.manifest is not None:
                    self._create(run)
                elif run.delete_pending:
                    self._delete(run)
            except KubeError as exc:
                log.warning("pod_call_failed", run_id=run.run_id, error=str(exc))
        try:
            pods = self._api.list_pods(agent_selector(self._agent))
        except KubeError as exc:
            log.warning("pods_unlisted", error=str(exc), status=exc.status)
            self._listed_at = now
            return
        self._listed_at = now
        by_run = {run_id_of(pod): pod for pod in pods}
        for run in self._runs.values():
            if run.final is None and run.manifest is None:
                self._observe(run, by_run.get(run.run_id), now)
        self._collect_garbage(pods)

    def _observe(self, run: _Run, pod: dict[str, Any] | None, now: float) -> None:
        run_id = run.run_id
        if pod is None:
            try:
                pod = self._api.read_pod(run.name)  # a list may lag a fresh create
            except KubeError:
                return
        if pod is None:
            if run.stop in ("cancel", "shutdown"):
                message = "cancelled" if run.stop == "cancel" else "agent shut down"
                run.final = RunStatus(run_id, RunPhase.CANCELLED, None, message)
            else:
                message = "the pod was deleted outside suanchou"
                run.final = RunStatus(run_id, RunPhase.LOST, None, message)
            return
        seen = podstatus.outcome(pod)
        if run.stop in ("cancel", "shutdown"):
            if seen.phase.finished:
                message = "cancelled" if run.stop == "cancel" else "agent shut down"
                run.final = RunStatus(run_id, RunPhase.CANCELLED, seen.exit_code, message)
            return
        if seen.pull_error:
            run.pull_since = now if run.pull_since is None else run.pull_since
            if now - run.pull_since >= self._pull_grace:
                self._give_up(run, f"image pull failed: {seen.pull_error}")
            return
        run.pull_since = None
        if seen.phase is RunPhase.FAILED and seen.exit_code is None and not terminal(pod):
            self._give_up(run, seen.message)  # stuck before its container ran
            return
        status = RunStatus(run_id, seen.phase, seen.exit_code, seen.message, seen.failure)
        if seen.phase.finished:
            run.final = status
        else:
            run.status = status

    def _give_up(self, run: _Run, message: str) -> None:
        """Fails a run whose pod cannot start and deletes the pod, which holds the node's room."""
        run.final = RunStatus(run.run_id, RunPhase.FAILED, None, message[:300])
        log.warning("pod_failed", run_id=run.run_id, reason=message[:300])
        self._doomed.add(run.name)
        self._delete_doomed()

    def _delete_doomed(self) -> None:
        for name in sorted(self._doomed):
            try:
                self._api.delete_pod(name, 0)
                self._doomed.discard(name)
            except KubeError as exc:
                log.warning("pod_delete_retrying", pod=name, error=str(exc))

    def _collect_garbage(self, pods: list[dict[str, Any]]) -> None:
        """Deletes this agent's finished pods that are not held and ended `retention` ago."""
        now = self._wall()
        for pod in pods:
            run_id = run_id_of(pod)
            if run_id in self._runs or not terminal(pod):
                continue
            ended = ended_at(pod)
            if ended is not None and now - ended >= self._retention:
                try:
                    self._api.delete_pod(pod_name(run_id), 0)
                    log.info("pod_pruned", run_id=run_id)
                except KubeError as exc:
                    log.warning("pod_prune_failed", run_id=run_id, error=str(exc))
