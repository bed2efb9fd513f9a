"""The agent loop: report nodes and runs to the scheduler, apply what it answers.

Every Sync carries the full state (see agent.proto), so the agent keeps only what the protocol
needs: the runs it holds (live ones and finished ones until acknowledged) and the run ids it
must never start again. With a journal (agents.journal) that memory survives a restart: a run
is recorded before it is spawned, and never started twice.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

import grpc
import structlog

from agents.backoff import Backoff, cap_for_lease_timeout
from agents.capacity import CapacitySource
from agents.executor import Executor, Lease, RunPhase, RunStatus
from agents.journal import Journal
from agents.output import OutputShipper
from agents.protocol import (
    build_request,
    describe_error,
    lease_from_proto,
    status_code,
    status_details,
)
from agents.retention import RunRetention
from protos.suanchou.v1 import agent_pb2

EXIT_OK = 0
EXIT_REJECTED = 3

# A wrong or revoked token does not heal by retrying; retrying forever would hide it.
FATAL_CODES = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
# Our request or registration is wrong: retried (the node file may be fixed while we run), but
# logged as errors rather than as a flaky network.
_CONFIG_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)

SHUTDOWN_LOST = "agent shut down; the replica was stopped"

# Remembered ids of cancelled and acknowledged runs. The scheduler never re-leases them in
# normal operation, so forgetting the oldest only bounds memory on an agent that runs for months.
_MAX_RETIRED = 100_000
# After a run changes state, sync early (to report it) but not more often than this.
_MIN_SYNC_GAP = 0.2
# When the scheduler says more is waiting (SyncResponse.more), sync again after this long: at
# once, but never in a tight loop.
_MORE_GAP = 0.01

log = structlog.get_logger("suanchou.agent")


class SyncClient(Protocol):
    def sync(self, request: agent_pb2.SyncRequest, timeout: float) -> agent_pb2.SyncResponse: ...


class Agent:
    """Syncs with the scheduler and drives the executor. Use from one thread only.

    That thread spawns the replicas, and their PDEATHSIG is tied to it: it must live as long as
    the agent (in the CLI it is the main thread).
    """

    def __init__(
        self,
        client: SyncClient,
        capacity: CapacitySource,
        executor: Executor,
        *,
        clock: Callable[[], float] = time.monotonic,
        agent_id: str | None = None,
        interval: float = 1.0,
        rpc_timeout: float = 5.0,
        final_sync_timeout: float = 3.0,
        tick: float = 0.1,
        backoff: Backoff | None = None,
        journal: Journal | None = None,
        retention: RunRetention | None = None,
        output: OutputShipper | None = None,
    ) -> None:
        self._client = client
        self._capacity = capacity
        self._executor = executor
        self._clock = clock
        self.agent_id = agent_id or f"{socket.gethostname()}/{os.getpid()}"
        self.interval = interval
        self._rpc_timeout = rpc_timeout
        self._final_sync_timeout = final_sync_timeout
        self._tick = tick
        self._backoff = backoff or Backoff()
        self.cluster = ""
        self._runs: dict[str, RunStatus] = {}
        self._leases: dict[str, Lease] = {}
        # The max runtime each live run was given last (lease or SyncResponse.runtime_limits).
        self._limits: dict[str, int] = {}
        self._retired: OrderedDict[str, None] = OrderedDict()
        self._last_request: agent_pb2.SyncRequest | None = None
        # Why the previous exchange failed (SyncRequest.last_error); empty after a good one.
        self.last_error = ""
        self._journal = journal
        self._retention = retention
        # Ships the runs' stdout/stderr after each sync (agents.output); None: not shipped.
        self._output = output
        self._output_more = False
        if journal is not None:
            self._recover(journal)

    def _recover(self, journal: Journal) -> None:
        """Takes over the runs an earlier agent process recorded (see agents.journal): those
        the executor still holds (Slurm jobs) stay live, the others are reported LOST."""
        adopted = self._executor.adopt(journal.unfinished())
        lost = journal.unfinished_to_lost(keep=adopted)
        for record in journal.records.values():
            self._retire(record.run_id)
            if record.final is not None and record.forgotten_at is None:
                self._runs[record.run_id] = record.final
                if self._output is not None:
                    # Its output may not all have been shipped before the restart; the
                    # scheduler's cursor skips what it has.
                    self._output.track(record.run_id, ended=True)
        for run_id, status in adopted.items():
            self._runs[run_id] = status
            if self._output is not None:  # still running under Slurm: its output too
                self._output.track(run_id, ended=status.phase.finished)
            if journal.records[run_id].cancelled:
                self._executor.cancel(run_id)  # asked before the restart: ask again
        log.info(
            "journal_loaded",
            path=str(journal.path),
            runs=len(journal.records),
            unacknowledged=len(self._runs),
            adopted=len(adopted),
            lost=lost,
            skipped_lines=journal.skipped_lines,
        )

    def runs(self) -> dict[str, RunStatus]:
        """Every run held, finished-but-unacknowledged ones included."""
        return dict(self._runs)

    def poll(self) -> bool:
        """Collects run states from the executor; True if any changed."""
        changed = False
        for status in self._executor.poll():
            previous = self._runs.get(status.run_id)
            if previous is None or previous == status:
                continue
            self._runs[status.run_id] = status
            changed = True
            if status.phase.finished:
                if self._output is not None:
                    self._output.ended(status.run_id)
                if self._journal is not None:
                    self._journal.finished(status)
                lease = self._leases.get(status.run_id)
                log.info(
                    "run_finished",
                    run_id=status.run_id,
                    job_id=lease.job_id if lease else "",
                    state=status.phase.value,
                    exit_code=status.exit_code,
                    message=status.message,
                )
        return changed

    def sync_once(self) -> agent_pb2.SyncResponse:
        """One exchange: report the full state, then apply the reply. Raises grpc.RpcError."""
        self.poll()
        nodes = self._capacity.nodes()
        request = build_request(self.agent_id, nodes, self._runs.values(), self.last_error)
        try:
            response = self._client.sync(request, timeout=self._rpc_timeout)
            if response.lease_timeout_seconds > 0:
                self._backoff.limit(cap_for_lease_timeout(response.lease_timeout_seconds))
            started, cancelled, acked = self._apply(response, {n.name for n in nodes})
        except Exception as exc:
            # Told to the scheduler on the next exchange (admins see it as agent_error): an
            # agent that syncs but cannot apply what it is sent must not look healthy.
            self.last_error = describe_error(exc)
            raise
        self.last_error = ""
        if response.cluster != self.cluster:
            log.info("cluster_identified", cluster=response.cluster, agent_id=self.agent_id)
            self.cluster = response.cluster
        if response.sync_interval_seconds > 0:
            self.interval = min(max(response.sync_interval_seconds, 0.05), 600.0)
        if started or cancelled or acked or request != self._last_request:
            log.info(
                "synced",
                cluster=self.cluster,
                nodes=len(request.nodes),
                runs=len(request.runs),
                started=started,
                cancelled=cancelled,
                acknowledged=acked,
            )
        self._last_request = request
        return response

    def _apply(
        self, response: agent_pb2.SyncResponse, node_names: set[str]
    ) -> tuple[int, int, int]:
        acked = 0
        for run_id in response.acknowledged:
            status = self._runs.get(run_id)
            if status is None or status.phase.finished:
                acked += status is not None
                self._forget(run_id)
            else:
                log.warning("ack_of_live_run_ignored", run_id=run_id)
        # Cancels before starts: a lease both started and cancelled in one reply must not run.
        cancelled = 0
        for run_id in response.cancel:
            status = self._runs.get(run_id)
            if status is None or status.phase.finished:
                self._forget(run_id)
            else:
                # Keep holding it: its CANCELLED end is reported until acknowledged or cancelled.
                self._retire(run_id)
                if self._journal is not None:
                    self._journal.cancelled(run_id)
                self._executor.cancel(run_id)
                cancelled += 1
                log.info("run_cancel_requested", run_id=run_id)
        leases = self._admit([lease_from_proto(msg) for msg in response.start], node_names)
        for lease in leases:
            self._executor.start(lease)
            self._limits[lease.run_id] = lease.max_runtime_seconds
            self._runs[lease.run_id] = RunStatus(lease.run_id, RunPhase.PENDING)
            if self._output is not None:
                self._output.track(lease.run_id)
            log.info(
                "run_started",
                run_id=lease.run_id,
                job_id=lease.job_id,
                attempt=lease.attempt,
                replica=lease.replica,
                replicas=lease.replicas,
                node=lease.node,
                program=lease.command[0] if lease.command else "",
                max_runtime_seconds=lease.max_runtime_seconds,
            )
        self._apply_limits(response.runtime_limits)
        return len(leases), cancelled, acked

    def _apply_limits(self, limits: Iterable[agent_pb2.RuntimeLimit]) -> None:
        """Hands each changed max runtime of a live run to the executor, once per value (the
        scheduler repeats them in every reply)."""
        for limit in limits:
            status = self._runs.get(limit.run_id)
            seconds = limit.max_runtime_seconds
            if status is None or status.phase.finished or seconds <= 0:
                continue
            if self._limits.get(limit.run_id) == seconds:
                continue
            self._limits[limit.run_id] = seconds
            self._executor.set_max_runtime(limit.run_id, seconds)
            log.info("run_max_runtime_changed", run_id=limit.run_id, max_runtime_seconds=seconds)

    def _admit(self, offered: list[Lease], node_names: set[str]) -> list[Lease]:
        """The leases to spawn now, durably journalled; rejects those for unknown nodes."""
        admitted: list[Lease] = []
        rejected: list[RunStatus] = []
        for lease in offered:
            if lease.run_id in self._runs or lease.run_id in self._retired:
                continue  # a re-sent lease we already hold, or one we must never run
            self._leases[lease.run_id] = lease
            if lease.node and lease.node not in node_names:
                message = f"node {lease.node[:64]!r} is not offered by this agent"
                rejected.append(RunStatus(lease.run_id, RunPhase.FAILED, None, message))
                self._runs[lease.run_id] = rejected[-1]
                log.warning(
                    "run_rejected", run_id=lease.run_id, job_id=lease.job_id, reason=message
                )
            else:
                # Held from here on, which also ignores the run id repeated in one reply.
                self._runs[lease.run_id] = RunStatus(lease.run_id, RunPhase.PENDING)
                admitted.append(lease)
        if self._journal is None:
            return admitted
        try:
            for status in rejected:
                self._journal.finished(status)
            for lease in admitted:
                self._journal.started(lease.run_id, lease.job_id)
            # Durable before any spawn: whatever happens next, these never start again.
            self._journal.sync()
        except OSError:
            # Not durably recorded, so not started: they come again with the next reply.
            for lease in admitted:
                self._runs.pop(lease.run_id, None)
                self._leases.pop(lease.run_id, None)
            raise
        return admitted

    def _forget(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._limits.pop(run_id, None)
        self._leases.pop(run_id, None)
        self._retire(run_id)
        if self._journal is not None:
            self._journal.forgotten(run_id)

    def _retire(self, run_id: str) -> None:
        self._retired[run_id] = None
        self._retired.move_to_end(run_id)
        while len(self._retired) > _MAX_RETIRED:
            self._retired.popitem(last=False)

    def run(self, stop: threading.Event) -> int:
        """Syncs until `stop` is set, then shuts down; EXIT_REJECTED if the token is refused.

        Connection trouble never stops runs: the agent keeps them going and retries with
        backoff, and finished runs stay reported until the scheduler acknowledges them.
        """
        log.info("agent_started", agent_id=self.agent_id)
        next_sync = self._clock()
        last_attempt = float("-inf")
        failures = 0
        outage_since = 0.0
        rejected = False
        try:
            while not stop.is_set():
                self._tidy()
                changed = self._poll_guarded()
                if changed and failures == 0:
                    next_sync = min(next_sync, last_attempt + _MIN_SYNC_GAP)
                now = self._clock()
                if now >= next_sync:
                    last_attempt = now
                    try:
                        response = self.sync_once()
                    except grpc.RpcError as exc:
                        code = status_code(exc)
                        if code in FATAL_CODES:
                            rejected = True
                            log.error("agent_rejected", code=code.name, details=status_details(exc))
                            return EXIT_REJECTED
                        if failures == 0:
                            outage_since = now
                        failures += 1
                        next_sync = now + self._backoff.next()
                        level = log.error if code in _CONFIG_CODES else log.warning
                        level(
                            "sync_failed",
                            code=code.name,
                            details=status_details(exc),
                            failures=failures,
                            retry_in=round(next_sync - now, 3),
                            runs=len(self._runs),
                        )
                    except Exception:
                        # A bug or a broken capacity source must not take the runs down with it.
                        failures += 1
                        next_sync = now + self._backoff.next()
                        log.exception("sync_error", failures=failures)
                    else:
                        if failures:
                            log.info(
                                "scheduler_reachable",
                                failures=failures,
                                outage_seconds=round(now - outage_since, 3),
                            )
                        failures = 0
                        self._backoff.reset()
                        # More leases or cancels wait on the server: fetch them at once.
                        next_sync = now + (_MORE_GAP if response.more else self.interval)
                        self._ship_output()
                elif self._output_more and failures == 0:
                    self._ship_output()
                wait = _MORE_GAP if self._output_more else self._tick
                stop.wait(max(0.0, min(wait, next_sync - self._clock())))
            return EXIT_OK
        finally:
            self._shutdown(report=not rejected)

    def _ship_output(self) -> None:
        """One AppendLogs call after a good sync (or again at once while calls come back full)."""
        self._output_more = self._output is not None and self._output.ship_guarded()

    def _tidy(self) -> None:
        if self._retention is None:
            return
        try:
            self._retention.maybe_prune()
        except Exception:
            log.exception("run_dir_pruning_failed")

    def _poll_guarded(self) -> bool:
        try:
            return self.poll()
        except Exception:
            log.exception("poll_error")
            return False

    def _shutdown(self, report: bool) -> None:
        """Stops every live run; reports what finished on its own, withdraws the nodes.

        Runs stopped by the shutdown are left out of the last report on purpose: the protocol
        reads a run the agent no longer holds as LOST, which requeues its job elsewhere,
        whereas reporting it CANCELLED or FAILED would end the job for a reason not its own.
        """
        self._poll_guarded()
        stopped = self._executor.shutdown()
        for status in stopped:
            self._runs.pop(status.run_id, None)
            if self._journal is not None:
                # Not reported now (see above); a restarted agent reports it LOST until the
                # scheduler acknowledges it.
                self._journal.finished(
                    RunStatus(status.run_id, RunPhase.LOST, status.exit_code, SHUTDOWN_LOST)
                )
            log.info("run_stopped", run_id=status.run_id, exit_code=status.exit_code)
        unreported = [s for s in self._runs.values() if s.phase.finished]
        if report:
            request = build_request(self.agent_id, [], unreported)
            try:
                self._client.sync(request, timeout=self._final_sync_timeout)
                unreported = []
            except grpc.RpcError as exc:
                log.warning(
                    "final_sync_failed", code=status_code(exc).name, details=status_details(exc)
                )
        log.info("agent_stopped", stopped_runs=len(stopped), unreported_runs=len(unreported))
