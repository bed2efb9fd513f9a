"""`suanchou agent ...` / `python -m agents ...`: run the agent of one cluster.

Shutdown: SIGTERM or SIGINT stops syncing and stops this agent's runs (SIGTERM to each
replica's process group, SIGKILL after --kill-grace), reports runs that had already finished,
and withdraws the nodes with a last Sync. The scheduler then sees the stopped runs as no longer
held (LOST) and requeues their jobs. If the agent is killed outright (SIGKILL, OOM), the kernel
kills its replicas through PR_SET_PDEATHSIG, so no work keeps running unaccounted for.

Token: --token-file PATH (mode 0600), else env SUANCHOU_AGENT_TOKEN; --token works but shows
in ps. Once read, the agent drops the variable and makes itself non-dumpable, so processes of
its user (its jobs included) cannot read its /proc/<pid>/environ or memory.

Kubernetes: `--executor kubernetes [--image IMAGE] [--namespace N] [--kubeconfig F | --in-cluster]`
offers the cluster's nodes (agents.kube.nodes) and runs each replica as a pod bound to its node
(agents.kube.executor); pods outlive the agent and a restarted agent adopts them. Needs the
`kubernetes` package, imported only then. RBAC: deploy/kubernetes/rbac.yaml.

Replica environment: nothing of the agent's own environment but PATH, LANG, LC_ALL and TZ; HOME
is the run directory; then the job's env and SUANCHOU_JOB_ID, SUANCHOU_RUN_ID, SUANCHOU_REPLICA,
SUANCHOU_REPLICAS (see agents.environment). Tokens in the agent's environment never reach a job.

Resources: a replica's memory (and cpu) is enforced with a cgroup v2 per run where the agent may
manage its cgroup, else with RLIMIT_DATA (memory only); `agent_configured` logs which
(enforcement=cgroup|rlimit|none; see agents.limits).

Job output: each replica's stdout and stderr are shipped to the scheduler on the agent's own
connection (AgentService.AppendLogs after each sync; agents.output), during and after the run,
read through the executor's `read_output`. The agent does not scrub them and never logs them.
Slurm: `--executor slurm [--partition P]` offers the partition's nodes (agents.slurm.capacity)
and runs each replica as a Slurm batch job pinned to its node (agents.slurm.executor). Slurm
jobs outlive the agent: after a restart on the same --workdir the agent finds them again by
name. The work directory must be on a filesystem the Slurm nodes share (output files).

Exit codes: 0 after a signal, 2 for bad flags or files, 3 if the scheduler refused the token.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import structlog

from agents.agent import Agent
from agents.args import build_parser
from agents.capacity import CapacitySource, HostCapacity, StaticCapacity
from agents.client import AgentClient
from agents.credentials import TOKEN_ENV, harden_process, read_token_file
from agents.executor import Executor, LocalExecutor
from agents.journal import Journal
from agents.limits import detect as detect_limits
from agents.output import OutputShipper
from agents.quantities import format_resources
from agents.retention import RunRetention
from agents.runas import resolve_run_as
from agents.slurm.commands import SlurmError
from agents.slurm.setup import SlurmSetup
from agents.taints import NodeTaint, TaintedCapacity
from agents.transport import TlsFiles, channel_credentials, check_transport

EXIT_USAGE = 2

log = structlog.get_logger("suanchou.agent")


def configure_logging(level: str = "info", json_output: bool | None = None) -> None:
    """structlog to stderr, like the scheduler: JSON lines unless stderr is a terminal.

    This mirrors scheduler/logs.py on purpose: agents ship without the scheduler package (they
    import only protos), so the two processes keep their own copy of these few lines.
    """
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def default_workdir(token: str) -> Path:
    """A stable directory per user and cluster: the token identifies the cluster, and only a
    hash of it appears in the name."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"suanchou-agent-{os.getuid()}-{digest}"


def prepare_workdir(path: Path, traversable: bool = False) -> Path:
    """Creates `path` private to this user; refuses one owned by someone else.

    Job output may be sensitive, and in a shared temp dir another user could pre-create the
    directory (or a symlink) to read or redirect it. `traversable` (for --run-as) lets other
    users pass through it to the run directory they own, but not list or change it.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise ValueError(f"{path}: not a directory")
    if info.st_uid != os.getuid():
        raise ValueError(f"{path}: owned by uid {info.st_uid}, not by this user")
    path.chmod(0o711 if traversable else 0o700)
    return path.resolve()


def agent_key(token: str) -> str:
    """Marks this cluster's Slurm jobs (a hash: the token itself never leaves the agent)."""
    return hashlib.sha256(b"slurm:" + token.encode()).hexdigest()[:12]


def load_capacity(spec: str) -> CapacitySource:
    if spec == "host":
        return HostCapacity()
    return StaticCapacity.from_yaml(spec)


def load_kubernetes(args: argparse.Namespace) -> tuple[CapacitySource, Executor]:
    """The cluster's capacity source and executor; ValueError naming the flag at fault.

    Imported here so that the local agent runs without the `kubernetes` package.
    """
    try:
        from agents.kube.api import PodApi, connect
    except ImportError:
        raise ValueError(
            "--executor kubernetes needs the kubernetes package: pip install 'suanchou[kubernetes]'"
        ) from None
    from agents.kube.executor import KubernetesExecutor
    from agents.kube.manifest import Toleration, check_label_value
    from agents.kube.nodes import KubernetesCapacity

    if args.run_as is not None:
        raise ValueError("--run-as: local executor only; a pod runs as its image's user")
    check_label_value(args.agent_name, "--agent-name")
    tolerations = [Toleration.parse(text) for text in args.tolerate]
    api = PodApi(connect(args.kubeconfig, args.in_cluster), args.namespace)
    capacity = KubernetesCapacity(api, agent=args.agent_name, tolerations=tolerations)
    executor = KubernetesExecutor(
        api,
        image=args.image,
        agent=args.agent_name,
        kill_grace=args.kill_grace,
        tolerations=tolerations,
        retention=args.run_retention,
    )
    return capacity, executor


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    tls = TlsFiles(args.tls_ca, args.tls_cert, args.tls_key, args.server_name)
    try:
        check_transport(args.scheduler, tls, args.insecure)
        token = _read_token(args)
    except (OSError, ValueError) as exc:
        print(f"suanchou agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not token:
        print(f"suanchou agent: no token: pass --token-file or set {TOKEN_ENV}", file=sys.stderr)
        return EXIT_USAGE
    dumpable = not harden_process()
    if args.executor == "slurm" and (args.run_as is not None or args.nodes != "host"):
        print(
            "suanchou agent: --run-as and --nodes are for the local executor; Slurm runs jobs "
            "as the submitting user and reports its own nodes",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.executor != "slurm" and args.partition is not None:
        print("suanchou agent: --partition needs --executor slurm", file=sys.stderr)
        return EXIT_USAGE
    try:
        kube = load_kubernetes(args) if args.executor == "kubernetes" else None
        run_as = resolve_run_as(args.run_as) if args.run_as is not None else None
        workdir = prepare_workdir(args.workdir or default_workdir(token), run_as is not None)
        slurm = (
            SlurmSetup.connect(args.partition, agent_key(token), workdir, args.kill_grace)
            if args.executor == "slurm"
            else None
        )
        capacity = (
            slurm.capacity if slurm is not None else kube[0] if kube else load_capacity(args.nodes)
        )
        if args.taint:
            capacity = TaintedCapacity(
                capacity, [NodeTaint.parse(t, "--taint") for t in args.taint]
            )
        journal = Journal(workdir)
        journal.open()
        limits = detect_limits()
        client = AgentClient(
            args.scheduler,
            token,
            max_message_bytes=args.max_message_bytes,
            credentials=channel_credentials(tls),
            channel_options=tls.channel_options(),
        )
    except (OSError, ValueError, SlurmError) as exc:
        print(f"suanchou agent: {exc}", file=sys.stderr)
        return EXIT_USAGE

    nodes = capacity.nodes()
    log.info(
        "agent_configured",
        scheduler=args.scheduler,
        tls="mutual" if args.tls_cert else "server" if args.tls_ca else "off",
        executor=args.executor,
        nodes_source=(
            f"slurm:{slurm.capacity.partition}"
            if slurm
            else f"kubernetes:{args.namespace}"
            if kube
            else args.nodes
        ),
        nodes=[f"{n.name}[{format_resources(n.capacity)}]" for n in nodes],
        workdir=str(workdir),
        dumpable=dumpable,
        run_as=run_as.name if run_as else "",
        run_retention_seconds=args.run_retention,
        enforcement=limits.mechanism,
    )
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    try:
        with client:
            executor: Executor = (
                slurm.executor
                if slurm is not None
                else kube[1]
                if kube
                else LocalExecutor(
                    workdir, kill_grace=args.kill_grace, run_as=run_as, limits=limits
                )
            )
            try:
                agent = Agent(
                    client,
                    capacity,
                    executor,
                    interval=args.interval,
                    journal=journal,
                    retention=RunRetention(journal, workdir, args.run_retention),
                    output=OutputShipper(
                        client, executor, max_message_bytes=args.max_message_bytes
                    ),
                )
            except ValueError as exc:  # the executor could not tell which runs survive
                print(f"suanchou agent: {exc}", file=sys.stderr)
                return EXIT_USAGE
            return agent.run(stop)
    except SlurmError as exc:  # Slurm could not say which of the journal's runs still exist
        print(f"suanchou agent: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        journal.close()
        restore()


def _read_token(args: argparse.Namespace) -> str:
    """--token-file, else --token (with a warning: argv is public), else the environment."""
    if args.token_file is not None:
        found = read_token_file(args.token_file)
        if found.readable_by_others:
            log.warning(
                "token_file_readable_by_others",
                path=str(args.token_file),
                mode=oct(found.readable_by_others),
                hint="chmod 600 it",
            )
        return found.token
    if args.token:
        log.warning("token_on_command_line", hint="use --token-file instead; argv is public")
        return str(args.token)
    return os.environ.get(TOKEN_ENV, "")


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set `stop`; returns a function restoring the previous handlers.

    Only the main thread may install handlers; elsewhere (an embedding that runs the agent in
    a thread) the caller owns signals and the agent stops only when its process does.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop_for(signum: int) -> None:
        log.info("agent_stopping", signal=signal.Signals(signum).name)
        stop.set()

    def handle(signum: int, frame: FrameType | None) -> None:
        # Not stop.set() here: the handler runs on the main thread, which may be holding the
        # Event's (non-reentrant) lock inside stop.wait(), and printing could re-enter stdout.
        threading.Thread(target=stop_for, args=(signum,), daemon=True).start()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
