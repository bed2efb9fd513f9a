"""`suanchou job submit`: jobs from a file, stdin or flags, sent in batches of up to 1,000."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from protos.suanchou.v1 import jobs_pb2, jobs_pb2_grpc, types_pb2
from scheduler.cli import render
from scheduler.cli.connection import (
    CALL_TIMEOUT_SECONDS,
    MAX_BATCH_ITEMS,
    bearer,
    open_channel,
    with_retries,
)
from scheduler.cli.errors import EXIT_FAILURE, EXIT_OK, CliError, UsageError
from scheduler.cli.flagvalues import key_values
from scheduler.cli.jobfile import JobFileError, flags_mapping, load_jobs, spec_from_mapping
from scheduler.cli.jobfile_placement import flag_choice
from scheduler.cli.settings import Settings

# `job submit` flags that describe a job; they may not be combined with a FILE.
JOB_FLAGS = (
    "name", "client_id", "job_set", "replicas", "priority", "priority_class", "cpu", "memory",
    "gpu", "resource", "env", "label", "max_runtime", "min_security_level", "region",
    "xinchuang", "selector", "image", "gpu_model", "max_attempts", "retry_on",
    "retry_exit_code", "toleration", "cluster", "prefer_cluster", "cluster_selector",
    "spread_zones", "spread_group", "anti_affinity",
)  # fmt: skip
GPU = "nvidia.com/gpu"


def submit(args: argparse.Namespace, settings: Settings) -> int:
    specs = specs_from_args(args)
    metadata = bearer(settings.department_token())
    results: list[tuple[int, jobs_pb2.SubmitResult]] = []
    failure: grpc.RpcError | None = None
    with open_channel(settings) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        for start, end in batches(specs, settings.max_message_bytes // 2):
            request = jobs_pb2.SubmitJobsRequest(items=specs[start:end])
            try:
                # Safe to resend: the client_ids make a repeated submit return the same jobs.
                response: jobs_pb2.SubmitJobsResponse = with_retries(
                    lambda request=request: stub.SubmitJobs(  # type: ignore[misc]
                        request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS
                    )
                )
            except grpc.RpcError as e:
                if start == 0:
                    raise
                # Earlier batches are committed: show them before failing, so the user knows
                # what to resubmit (with the same client_ids, that resubmit is safe).
                failure = e
                break
            results.extend((start + r.index, r) for r in response.results)
    if args.json:
        print(render.dumps({"results": [_result_dict(i, r) for i, r in results]}))
    else:
        print(submit_table(results))
    if failure is not None:
        print(
            f"error: {failure.code().name}: {failure.details()} "
            f"(items {len(results)}-{len(specs) - 1} were not submitted)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    failed = any(r.HasField("error") or r.state == types_pb2.JOB_STATE_REJECTED for _, r in results)
    return EXIT_FAILURE if failed else EXIT_OK


def batches(specs: list[types_pb2.JobSpec], max_bytes: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most MAX_BATCH_ITEMS items and `max_bytes` serialized bytes
    each (an item larger than that alone goes in a batch of its own; the server names it)."""
    ranges: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, spec in enumerate(specs):
        item = spec.ByteSize() + 6  # the field's tag and length prefix
        if i > start and (i - start == MAX_BATCH_ITEMS or size + item > max_bytes):
            ranges.append((start, i))
            start, size = i, 0
        size += item
    if start < len(specs):
        ranges.append((start, len(specs)))
    return ranges


def specs_from_args(args: argparse.Namespace) -> list[types_pb2.JobSpec]:
    """The jobs to submit, from FILE / stdin, or else from the job flags and the command."""
    flags_given = [f"--{name.replace('_', '-')}" for name in JOB_FLAGS if _given(args, name)]
    if args.file is not None:
        if flags_given or args.command:
            extra = ", ".join(flags_given) or "a command after --"
            raise UsageError(f"job submit: give a job FILE or job flags, not both ({extra})")
        source = "<stdin>" if args.file == "-" else args.file
        try:
            data = _read_stdin() if args.file == "-" else Path(args.file).read_bytes()
        except OSError as e:
            raise CliError(f"{args.file}: {e.strerror}") from e
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            # Exit 2 like a non-UTF-8 argument: the input itself is unusable.
            raise UsageError(
                f"{source}: not UTF-8 text (byte {e.start} is {data[e.start]:#04x})"
            ) from None
        return load_jobs(text, source)
    if not args.command:
        raise UsageError(
            "job submit: give a job FILE (- for stdin), or flags and the command after --, "
            'e.g. suanchou job submit --cpu 1 -- python -c "print(1)"'
        )
    resources = {
        name: value
        for name, value in (("cpu", args.cpu), ("memory", args.memory), (GPU, args.gpu))
        if value is not None
    }
    resources.update(key_values(args.resource, "--resource"))
    item = flags_mapping(
        client_id=args.client_id,
        name=args.name,
        job_set=args.job_set,
        priority=args.priority,
        replicas=args.replicas,
        resources=resources,
        command=args.command,
        env=key_values(args.env, "--env"),
        labels=key_values(args.label, "--label"),
        max_runtime=args.max_runtime,
        min_security_level=args.min_security_level,
        regions=args.region,
        # `--xinchuang` (require) stays xinchuang_required, as before the policy existed.
        xinchuang=True if args.xinchuang == "require" else (args.xinchuang or False),
        selector=key_values(args.selector, "--selector"),
        priority_class=args.priority_class,
        image=args.image,
        gpu_models=args.gpu_model,
        max_attempts=args.max_attempts,
        retry_on=[c for value in args.retry_on for c in value.split(",") if c],
        retry_exit_codes=args.retry_exit_code,
        choice=flag_choice(
            args.toleration,
            args.cluster,
            args.prefer_cluster,
            key_values(args.cluster_selector, "--cluster-selector"),
        ),
        topology=_topology(args),
    )
    try:
        return [spec_from_mapping(item, "job flags")]
    except JobFileError as e:
        raise UsageError(str(e)) from e


def _topology(args: argparse.Namespace) -> dict[str, object]:
    """The job file's `topology` mapping from --spread-zones, --spread-group, --anti-affinity."""
    given = {
        "spread_zones": args.spread_zones,
        "spread_group": args.spread_group,
        "anti_affinity": args.anti_affinity or None,
    }
    return {key: value for key, value in given.items() if value is not None}


def _read_stdin() -> bytes:
    """Stdin as bytes, so text that is not UTF-8 is reported rather than raised."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is not None:
        return bytes(stream.read())
    return sys.stdin.read().encode("utf-8", "surrogateescape")


def _given(args: argparse.Namespace, name: str) -> bool:
    value = getattr(args, name)
    return value is not None and value is not False and value != []


def _result_state(result: jobs_pb2.SubmitResult) -> str:
    if result.duplicate:
        return "duplicate"
    # A REJECTED job is recorded (it has a job id) even when the server also sets an ItemError
    # for it, so it is shown as REJECTED, not as an item that never got in.
    if result.HasField("error") and result.state != types_pb2.JOB_STATE_REJECTED:
        return "ERROR"
    return render.job_state(result.state)


def _result_reason(result: jobs_pb2.SubmitResult) -> str:
    if result.reason:
        return f"{result.reason}: {result.message}" if result.message else result.reason
    if result.HasField("error"):
        error = result.error
        where = f"{error.field}: " if error.field else ""
        return f"{error.code} {where}{error.message}".strip()
    return result.message


def submit_table(results: Sequence[tuple[int, jobs_pb2.SubmitResult]]) -> str:
    """One row per item (index counts across batches), then a one-line summary."""
    rows = [
        [
            str(index),
            r.client_id,
            render.or_none(r.job_id),
            _result_state(r),
            _result_reason(r),
        ]
        for index, r in results
    ]
    counts: dict[str, int] = {}
    for _, r in results:
        state = _result_state(r)
        counts[state] = counts.get(state, 0) + 1
    summary = ", ".join(
        f"{n} {state.lower()}" for state, n in sorted(counts.items(), key=lambda c: c[0].lower())
    )
    body = render.table(["INDEX", "CLIENT_ID", "JOB_ID", "STATE", "REASON"], rows, right=(0,))
    return f"{body}\n{len(results)} item(s): {summary or 'none'}"


def _result_dict(index: int, result: jobs_pb2.SubmitResult) -> dict[str, Any]:
    data = render.message_dict(result)
    # The server's index counts within one call; report the position in the whole submission.
    data["index"] = index
    return data
