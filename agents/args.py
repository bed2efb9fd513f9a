"""The agent's command line (`suanchou agent --help`); agents.main runs it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agents.client import DEFAULT_MAX_MESSAGE_BYTES
from agents.credentials import TOKEN_ENV
from agents.retention import DEFAULT_RETENTION

SCHEDULER_ENV = "SUANCHOU_SCHEDULER"
DEFAULT_SCHEDULER = "127.0.0.1:50051"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suanchou agent",
        description="Run the agent of one cluster: report its nodes, run what it is leased.",
        epilog=(
            "A replica's environment holds only PATH, LANG, LC_ALL and TZ from the agent's, "
            "HOME set to its run directory, the job's env and SUANCHOU_JOB_ID, SUANCHOU_RUN_ID, "
            "SUANCHOU_REPLICA, SUANCHOU_REPLICAS; nothing else (no token) is passed on. "
            "With --executor slurm: one batch job per replica named suanchou-<run id>, "
            "TIMEOUT/OUT_OF_MEMORY map to FAILED and NODE_FAIL/PREEMPTED to LOST (requeued); "
            "a gang is replicas that start together, one job each, not one allocation; "
            "--workdir must be shared with the Slurm nodes (output files) and kept across "
            "restarts (the agent finds its jobs again instead of submitting them twice)."
        ),
    )
    parser.add_argument(
        "--scheduler",
        metavar="HOST:PORT",
        default=os.environ.get(SCHEDULER_ENV, DEFAULT_SCHEDULER),
        help=f"scheduler address (env {SCHEDULER_ENV}; default {DEFAULT_SCHEDULER})",
    )
    token = parser.add_mutually_exclusive_group()
    token.add_argument(
        "--token-file",
        type=Path,
        metavar="PATH",
        help="file holding the cluster's agent token (mode 0600; a trailing newline is ignored)",
    )
    token.add_argument(
        "--token",
        help=f"the cluster's agent token; visible in ps: prefer --token-file (or env {TOKEN_ENV})",
    )
    parser.add_argument(
        "--nodes",
        default="host",
        metavar="host|PATH.yaml",
        help="'host' offers this machine; a YAML file declares nodes (default host; "
        "local executor only)",
    )
    parser.add_argument(
        "--taint",
        action="append",
        default=[],
        metavar="KEY[=VALUE]:EFFECT",
        help="a taint on every node the agent offers (repeatable, any executor): the scheduler "
        "places there only jobs that tolerate a NoSchedule/NoExecute one; a node file also "
        "takes `taints: [...]` per node",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "slurm", "kubernetes"],
        default="local",
        help="local: replicas are child processes of the agent; slurm: each replica is a "
        "Slurm batch job (sbatch --nodelist=<node> -c --mem --gres=gpu:N --time, output "
        "in the run directory), nodes come from the Slurm partition (drained/down nodes are "
        "not offered, other Slurm work counts as used), and a restarted agent finds its "
        "jobs again by name; kubernetes: each replica is a pod bound to its node, and the "
        "cluster's nodes are the capacity (--nodes is then ignored) (default local)",
    )
    parser.add_argument(
        "--partition",
        metavar="P",
        help="Slurm partition to offer and submit to (default: Slurm's default partition)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="directory for run directories and the run journal; keep it across restarts, "
        "so no run starts twice (default: per cluster, under the temp dir)",
    )
    parser.add_argument(
        "--interval",
        type=_positive,
        default=1.0,
        metavar="SECONDS",
        help="seconds between syncs until the scheduler says otherwise (default 1.0)",
    )
    parser.add_argument(
        "--kill-grace",
        type=_positive,
        default=10.0,
        metavar="SECONDS",
        help="seconds between SIGTERM and SIGKILL when stopping a run (default 10)",
    )
    parser.add_argument(
        "--tls-ca",
        type=Path,
        metavar="PATH",
        help="PEM CA certificate to verify the scheduler with; enables TLS",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        metavar="PATH",
        help="PEM client certificate for mutual TLS (with --tls-key and --tls-ca)",
    )
    parser.add_argument(
        "--tls-key", type=Path, metavar="PATH", help="PEM private key of --tls-cert"
    )
    parser.add_argument(
        "--server-name",
        default="",
        metavar="NAME",
        help="name the scheduler's certificate must carry when --scheduler is an IP address "
        "it does not list",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow plaintext to a non-loopback scheduler (without --tls-ca only loopback "
        "addresses are accepted: the token would cross the network in the clear)",
    )
    parser.add_argument(
        "--run-as",
        metavar="USER",
        help="run replicas as this unprivileged user (uid, primary gid, no other groups); "
        "the agent must run as root",
    )
    parser.add_argument(
        "--run-retention",
        type=_positive,
        default=DEFAULT_RETENTION,
        metavar="SECONDS",
        help="delete a run's directory this long after the scheduler acknowledged its end "
        f"(default {DEFAULT_RETENTION:.0f}: 7 days)",
    )
    parser.add_argument(
        "--max-message-bytes",
        type=_message_bytes,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        metavar="BYTES",
        help="largest gRPC message sent or received; align with the server's "
        f"(default {DEFAULT_MAX_MESSAGE_BYTES})",
    )
    kube = parser.add_argument_group(
        "kubernetes", "with --executor kubernetes (needs the `kubernetes` package)"
    )
    kube.add_argument(
        "--namespace", default="default", help="namespace of the pods (default: default)"
    )
    where = kube.add_mutually_exclusive_group()
    where.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)",
    )
    where.add_argument(
        "--in-cluster",
        action="store_true",
        help="use the service account of the pod the agent runs in",
    )
    kube.add_argument(
        "--image",
        default="",
        metavar="IMAGE",
        help="container image of replicas whose job names none (JobSpec.image); without it "
        "such replicas fail",
    )
    kube.add_argument(
        "--agent-name",
        default="suanchou",
        metavar="NAME",
        help="value of the pods' suanchou.io/agent label, how a restarted agent finds its "
        "pods; give each agent sharing a namespace its own (default suanchou)",
    )
    kube.add_argument(
        "--tolerate",
        action="append",
        default=[],
        metavar="KEY[=VALUE][:EFFECT]",
        help="a node taint every pod tolerates (repeatable), so it is not reported; other "
        "taints are reported and only jobs tolerating them are placed there",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text[:40]}")
    return value


def _message_bytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
    if not 65536 <= value <= 2**31 - 1:
        raise argparse.ArgumentTypeError(f"must be 65536..{2**31 - 1}, got {value}")
    return value
