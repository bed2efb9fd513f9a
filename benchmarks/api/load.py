"""The load: real gRPC clients in spawned processes, each with its own threads and channels.

Processes, not threads of the benchmark's own process: a Python client spends ~0.1-0.3 ms of
CPU per call under its GIL, so clients sharing one interpreter (or the server's) would throttle
each other and the measured rate would be the clients'. At most `MAX_PROCESSES` (2, the
machine's cores) take the client threads between them: more processes would only compete with
the server for the same two cores. Each client thread has its own channel (its own HTTP/2
connection), as separate clients have.

Every loop is bounded twice, by a count and by a deadline. Workers report their calls'
latencies, what the server acknowledged (job ids, with the epoch second each call was sent)
and the errors by gRPC code.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2

MAX_PROCESSES = 2
CALL_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 120.0
SAMPLE_IDS = 2000  # job ids a worker keeps for the read probes
# Paced load: a call that could not start within this long of its schedule (every sending
# thread busy with a server that fell behind) is not sent, so the run ends in bounded time.
MAX_LAG_S = 10.0


@dataclass
class Outcome:
    """What one worker process (or several, merged) saw."""

    latencies_ms: list[float] = field(default_factory=list)
    calls: int = 0
    acked: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    sent_at: dict[str, float] = field(default_factory=dict)  # job_id -> epoch s (paced only)
    job_ids: list[str] = field(default_factory=list)  # a sample, for the read probes
    seconds: float = 0.0  # first call to last reply
    lag_s: float = 0.0  # paced: the latest a tick's call started after its schedule
    skipped: int = 0  # paced: calls not sent, being over MAX_LAG_S behind their schedule

    def merge(self, other: Outcome) -> None:
        self.latencies_ms += other.latencies_ms
        self.calls += other.calls
        self.acked += other.acked
        self.errors += other.errors
        self.sent_at |= other.sent_at
        self.job_ids += other.job_ids[: SAMPLE_IDS - len(self.job_ids)]
        self.seconds = max(self.seconds, other.seconds)
        self.lag_s = max(self.lag_s, other.lag_s)
        self.skipped += other.skipped


def job_spec(client_id: str) -> types_pb2.JobSpec:
    """A small job (0.1 core, 64 MiB, one minute at most) every benchmark pool can run."""
    return types_pb2.JobSpec(
        client_id=client_id,
        command=["true"],
        max_runtime_seconds=60,
        resources=types_pb2.Resources(quantities={"cpu": 100, "memory": 64}),
    )


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _submit(
    stub: jobs_pb2_grpc.JobServiceStub,
    token: str,
    ids: list[str],
    out: Outcome,
    lock: threading.Lock,
) -> float | None:
    """One SubmitJobs call; returns its latency in ms, None if it failed."""
    request = jobs_pb2.SubmitJobsRequest(items=[job_spec(i) for i in ids])
    start = time.perf_counter()
    try:
        reply = stub.SubmitJobs(request, timeout=CALL_TIMEOUT_S, metadata=_metadata(token))
    except grpc.RpcError as exc:
        with lock:
            out.calls += 1
            out.errors[exc.code().name] += 1
        return None
    ms = (time.perf_counter() - start) * 1000
    accepted = [r.job_id for r in reply.results if r.job_id and not r.HasField("error")]
    with lock:
        out.calls += 1
        out.latencies_ms.append(ms)
        out.acked += len(accepted)
        out.errors["item_error"] += len(reply.results) - len(accepted)
        if len(out.job_ids) < SAMPLE_IDS:
            out.job_ids += accepted[: SAMPLE_IDS - len(out.job_ids)]
    return ms


def closed_loop(
    address: str,
    tokens: list[str],
    threads: int,
    prefix: str,
    items: int,
    calls: int,
    seconds: float,
) -> Outcome:
    """`threads` clients, each sending SubmitJobs of `items` jobs back to back, `calls` calls
    or `seconds` at most."""

    def submit(stub: Any, token: str, t: int, n: int, out: Outcome, lock: threading.Lock) -> None:
        _submit(stub, token, [f"{prefix}-{t}-{n}-{i}" for i in range(items)], out, lock)

    return _clients(address, tokens, threads, calls, seconds, submit)


def _clients(
    address: str,
    tokens: list[str],
    threads: int,
    calls: int,
    seconds: float,
    call: Callable[[Any, str, int, int, Outcome, threading.Lock], None],
) -> Outcome:
    """`threads` client threads, each on its own channel with a token of `tokens` in turn,
    making `call(stub, token, thread, n, out, lock)` back to back, `calls` times or until
    `seconds` have passed."""
    out, lock = Outcome(), threading.Lock()
    deadline = time.monotonic() + seconds
    begin = time.perf_counter()

    def client(t: int) -> None:
        token = tokens[t % len(tokens)]
        with grpc.insecure_channel(address) as channel:
            stub = jobs_pb2_grpc.JobServiceStub(channel)
            for n in range(calls):
                if time.monotonic() > deadline:
                    return
                call(stub, token, t, n, out, lock)

    pool = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(seconds + CALL_TIMEOUT_S + 10)
    out.seconds = time.perf_counter() - begin
    return out


def paced(
    address: str, tokens: list[str], rate: float, tick_s: float, seconds: float, prefix: str
) -> Outcome:
    """Open loop: every `tick_s`, a SubmitJobs of rate * tick_s jobs, sent on schedule by a
    pool of threads whether or not earlier calls have returned (a slow server is offered the
    same load), for `seconds`; a call more than MAX_LAG_S late is skipped (counted). Records
    each acknowledged job's send time."""
    out, lock = Outcome(), threading.Lock()
    per_tick = max(1, round(rate * tick_s))
    ticks = max(1, round(seconds / tick_s))
    local = threading.local()
    channels: list[grpc.Channel] = []

    def stub() -> jobs_pb2_grpc.JobServiceStub:
        if not hasattr(local, "stub"):
            channel = grpc.insecure_channel(address)
            with lock:
                channels.append(channel)
            local.stub = jobs_pb2_grpc.JobServiceStub(channel)
        s: jobs_pb2_grpc.JobServiceStub = local.stub
        return s

    def send(k: int, due: float) -> None:
        late = time.perf_counter() - due
        if late > MAX_LAG_S:
            with lock:
                out.skipped += 1
            return
        with lock:
            out.lag_s = max(out.lag_s, late)
        ids = [f"{prefix}-{k}-{i}" for i in range(per_tick)]
        sent = time.time()
        request = jobs_pb2.SubmitJobsRequest(items=[job_spec(i) for i in ids])
        start = time.perf_counter()
        try:
            reply = stub().SubmitJobs(
                request, timeout=CALL_TIMEOUT_S, metadata=_metadata(tokens[k % len(tokens)])
            )
        except grpc.RpcError as exc:
            with lock:
                out.calls += 1
                out.errors[exc.code().name] += 1
            return
        ms = (time.perf_counter() - start) * 1000
        with lock:
            out.calls += 1
            out.latencies_ms.append(ms)
            for r in reply.results:
                if r.job_id and not r.HasField("error"):
                    out.acked += 1
                    out.sent_at[r.job_id] = sent
                else:
                    out.errors["item_error"] += 1

    begin = time.perf_counter()
    with ThreadPoolExecutor(16, thread_name_prefix="paced") as pool:
        for k in range(ticks):
            due = begin + k * tick_s
            time.sleep(max(0.0, due - time.perf_counter()))
            pool.submit(send, k, due)
    out.seconds = time.perf_counter() - begin
    for channel in channels:
        channel.close()
    return out


def reads(
    address: str,
    tokens: list[str],
    threads: int,
    method: str,
    job_ids: list[str],
    calls: int,
    seconds: float,
) -> Outcome:
    """`threads` clients calling GetJob (on the given ids in turn) or ListJobs (first page of
    100 QUEUED jobs) back to back, `calls` calls each or `seconds` at most."""

    def read(stub: Any, token: str, t: int, n: int, out: Outcome, lock: threading.Lock) -> None:
        start = time.perf_counter()
        try:
            if method == "GetJob":
                job = job_ids[(t * calls + n) % len(job_ids)]
                stub.GetJob(
                    jobs_pb2.GetJobRequest(job_id=job), timeout=CALL_TIMEOUT_S,
                    metadata=_metadata(token),
                )  # fmt: skip
            else:
                stub.ListJobs(
                    jobs_pb2.ListJobsRequest(states=[types_pb2.JOB_STATE_QUEUED], page_size=100),
                    timeout=CALL_TIMEOUT_S,
                    metadata=_metadata(token),
                )
        except grpc.RpcError as exc:
            with lock:
                out.calls += 1
                out.errors[exc.code().name] += 1
            return
        with lock:
            out.calls += 1
            out.latencies_ms.append((time.perf_counter() - start) * 1000)

    return _clients(address, tokens, threads, calls, seconds, read)


def _worker(fn: Callable[..., Outcome], args: tuple[Any, ...], go: Any, results: Any) -> None:
    results.put(("ready", os.getpid()))
    go.wait(READY_TIMEOUT_S)
    try:
        results.put(("done", fn(*args)))
    except BaseException as exc:  # reported to the parent, which raises it
        results.put(("failed", f"{type(exc).__name__}: {exc}"[:500]))


def in_processes(
    fn: Callable[..., Outcome], per_process: list[tuple[Any, ...]], timeout_s: float
) -> Outcome:
    """Runs fn(*args) in one spawned process per argument tuple, all started together once
    every process is ready (so the spawn's imports are not measured); merged outcome."""
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    procs = [
        context.Process(target=_worker, args=(fn, args, go, results), daemon=True)
        for args in per_process
    ]
    for p in procs:
        p.start()
    merged = Outcome()
    try:
        ready = 0
        while ready < len(procs):
            kind, _ = results.get(timeout=READY_TIMEOUT_S)
            ready += kind == "ready"
        go.set()
        done = 0
        while done < len(procs):
            kind, value = results.get(timeout=timeout_s)
            if kind == "failed":
                raise RuntimeError(f"a load worker failed: {value}")
            merged.merge(value)
            done += 1
    except queue.Empty:
        raise RuntimeError("a load worker did not answer in time") from None
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join(10)
    return merged


def split(total: int, parts: int) -> list[int]:
    """`total` threads over `parts` processes, as evenly as possible (no empty part)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
