"""Parser of `suanchou job` (standard library only, like scheduler.cli.main, so --help stays
fast)."""

from __future__ import annotations

from typing import Any


def add_job_commands(commands: Any, leaf: Any) -> None:
    job = commands.add_parser("job", help="submit, list, watch and cancel your department's jobs")
    sub = job.add_subparsers(title="job commands", metavar="COMMAND", required=True)

    submit = leaf.add(
        sub,
        "submit",
        "scheduler.cli.submit:submit",
        "submit jobs from a YAML file, stdin, or flags",
        usage="%(prog)s [FILE | -] | [flags] -- COMMAND [ARG ...]",
        epilog="FILE holds one job or `jobs: [...]` (see `python -m pydoc scheduler.cli.jobfile` "
        "for the format). Each item without a client_id gets a fresh uuid4, so resubmitting "
        "creates new jobs; a stable --client-id / client_id makes resubmits idempotent. "
        "Batches above 1,000 items are sent in several calls.",
    )
    submit.add_argument("file", nargs="?", metavar="FILE", help="job file; - reads stdin")
    spec = submit.add_argument_group("job flags (instead of FILE)")
    spec.add_argument("--name")
    spec.add_argument("--client-id", help="idempotency key (default: a fresh uuid4)")
    spec.add_argument("--job-set")
    spec.add_argument(
        "--image", help="container image (Kubernetes executor; default the agent's --image)"
    )
    spec.add_argument("--replicas", type=int, help="gang size (all start together)")
    spec.add_argument("--priority", type=int, help="0-1000, higher runs first")
    spec.add_argument(
        "--priority-class", metavar="NAME", help="a priority class instead of --priority"
    )
    spec.add_argument("--cpu", help="per replica: cores, e.g. 2 or 500m")
    spec.add_argument("--memory", help="per replica, e.g. 4Gi or 512Mi")
    spec.add_argument(
        "--gpu", help="nvidia.com/gpu per replica: whole devices (1, 2) or a share of one (0.25)"
    )
    spec.add_argument(
        "--gpu-model",
        action="append",
        default=[],
        metavar="MODEL",
        help="the node's gpu.model must be one of these (repeatable)",
    )
    spec.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="NAME=QTY",
        help="any other resource per replica, e.g. huawei.com/ascend=1 (repeatable)",
    )
    spec.add_argument("--env", action="append", default=[], metavar="K=V", help="(repeatable)")
    spec.add_argument("--label", action="append", default=[], metavar="K=V", help="(repeatable)")
    spec.add_argument("--max-runtime", metavar="DURATION", help="e.g. 90s, 10m, 1h30m")
    spec.add_argument(
        "--max-attempts", type=int, metavar="N", help="1-20 (default the scheduler's)"
    )
    spec.add_argument(
        "--retry-on",
        action="append",
        default=[],
        metavar="CATEGORIES",
        help="NODE_FAILURE,LOST,OOM: failures that requeue the job (default NODE_FAILURE,LOST)",
    )
    spec.add_argument(
        "--retry-exit-code",
        action="append",
        type=int,
        default=[],
        metavar="CODE",
        help="an exit code that requeues the job; others fail it at once (repeatable)",
    )
    spec.add_argument(
        "--spread-zones",
        type=int,
        metavar="K",
        help="replicas in at least K zones (of the --spread-group's jobs together, if given)",
    )
    spec.add_argument(
        "--spread-group",
        metavar="NAME",
        help="a set of your department's jobs that spread (and avoid one another) together",
    )
    spec.add_argument(
        "--anti-affinity",
        action="store_true",
        help="every replica (of the --spread-group, if given) on a distinct node",
    )
    spec.add_argument("--min-security-level", type=int, metavar="N", help="等保 level 1-4")
    spec.add_argument("--region", action="append", default=[], help="allowed region (repeatable)")
    spec.add_argument(
        "--xinchuang",
        nargs="?",
        const="require",
        choices=["require", "prefer", "any"],
        help="信创 clusters: require (the default of a bare --xinchuang), prefer, or any",
    )
    spec.add_argument(
        "--selector", action="append", default=[], metavar="K=V", help="node label (repeatable)"
    )
    spec.add_argument(
        "--toleration",
        action="append",
        default=[],
        metavar="KEY[=VALUE][:EFFECT]",
        help="a node taint the job tolerates (repeatable): KEY=VALUE Equal, KEY alone Exists, "
        "* every key; no EFFECT: every effect",
    )
    spec.add_argument(
        "--cluster",
        action="append",
        default=[],
        metavar="NAME",
        help="run only on these clusters (repeatable or comma-separated)",
    )
    spec.add_argument(
        "--prefer-cluster",
        action="append",
        default=[],
        metavar="A,B",
        help="clusters to prefer, best first; others when these have no room",
    )
    spec.add_argument(
        "--cluster-selector",
        action="append",
        default=[],
        metavar="K=V",
        help="run only on clusters registered with this label (repeatable)",
    )

    get = leaf.add(sub, "get", "scheduler.cli.jobs:get", "show a job and its runs")
    get.add_argument("job_id", metavar="ID")

    listing = leaf.add(sub, "list", "scheduler.cli.jobs:list_jobs", "list jobs, newest first")
    listing.add_argument(
        "--state", action="append", default=[], metavar="S", help="e.g. QUEUED (repeatable)"
    )
    listing.add_argument("--job-set")
    listing.add_argument("--limit", type=int, default=100, metavar="N", help="default 100")
    listing.add_argument("--all", action="store_true", help="every job, however many")

    cancel = leaf.add(sub, "cancel", "scheduler.cli.jobs:cancel", "cancel jobs")
    cancel.add_argument("job_ids", nargs="+", metavar="ID")
    cancel.add_argument("--reason", default="", help="note recorded on the cancel event")

    update = leaf.add(
        sub,
        "update",
        "scheduler.cli.jobs:update",
        "change a queued or running job's max runtime",
        epilog="A running job's replicas get the new limit on their agent's next sync, counted "
        "from each replica's start: a limit already passed stops them (FAILED). Kubernetes "
        "can only shorten a created pod's limit.",
    )
    update.add_argument("job_id", metavar="ID")
    update.add_argument(
        "--max-runtime", required=True, metavar="DURATION", help="e.g. 90s, 45m, 2h, 1h30m, 1d"
    )

    watch = leaf.add(
        sub,
        "watch",
        "scheduler.cli.watch:watch",
        "stream job events",
        epilog="Ctrl-C stops watching. If the scheduler becomes unreachable the watch "
        "reconnects with backoff and resumes after the last event printed.",
    )
    watch.add_argument("--job-set")
    watch.add_argument("--job", dest="job_id", metavar="ID")
    watch.add_argument(
        "--after", type=int, default=0, metavar="EVENT_ID", help="resume after this event id"
    )
    watch.add_argument(
        "--no-follow", action="store_true", help="stop after the events recorded so far"
    )

    explain = leaf.add(
        sub, "explain", "scheduler.cli.jobs:explain", "why a job is queued, rejected or placed"
    )
    explain.add_argument("job_id", metavar="ID")

    logs = leaf.add(
        sub,
        "logs",
        "scheduler.cli.logs:logs",
        "print a job's output (stdout and stderr of its replicas)",
        epilog="Output is written as the job wrote it: stdout to stdout, stderr to stderr. The "
        "scheduler keeps the first and last part of each stream (see the server settings "
        "output_head_bytes and output_tail_bytes) for output_retention_s after the replica "
        "ended; a notice on stderr says where and how many bytes were dropped.",
    )
    logs.add_argument("job_id", metavar="ID")
    logs.add_argument("--replica", type=int, metavar="N", help="only this replica (from 0)")
    logs.add_argument(
        "--stream", choices=["stdout", "stderr", "both"], default="both", help="default both"
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new output until the job ends"
    )
    logs.add_argument(
        "--tail",
        type=int,
        metavar="N",
        help="only the last N lines of each stream (as stored), then new output with --follow",
    )
