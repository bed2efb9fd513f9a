"""`suanchou`: the command-line parser and dispatch.

This module imports only the standard library and the settings/errors modules, so `suanchou
--help` and argument errors stay fast; grpc, the protos and the command modules are imported
only once a command actually runs. `server`, `demo` and `agent` are other programs' entry points,
handed the rest of the command line untouched.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from scheduler.cli.errors import EXIT_FAILURE, EXIT_USAGE, CliError, UsageError
from scheduler.cli.governance_args import (
    add_department_commands,
    add_priority_class_commands,
    add_quota_commands,
)
from scheduler.cli.job_args import add_job_commands
from scheduler.cli.settings import (
    DEFAULT_SCHEDULER,
    ENV_ADMIN_TOKEN,
    ENV_CONFIG,
    ENV_INSECURE,
    ENV_SCHEDULER,
    ENV_SERVER_NAME,
    ENV_TLS_CA,
    ENV_TLS_CERT,
    ENV_TLS_KEY,
    ENV_TOKEN,
    Settings,
    load_settings,
)

# Subcommand -> module whose `main(argv) -> int` runs it.
DELEGATED = {
    "server": ("scheduler.app", "run the scheduler (see `suanchou server --help`)"),
    "demo": ("scheduler.demo", "run a self-contained demo (see `suanchou demo --help`)"),
    "agent": ("agents.main", "run a cluster agent (see `suanchou agent --help`)"),
    "migrate": ("scheduler.dbmigrate", "migrate the database to this version and exit"),
    "bench": ("benchmarks.__main__", "run the placement benchmarks (see `suanchou bench --help`)"),
}
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args_list):
        # Python hands bytes that are not UTF-8 over as lone surrogates; gRPC and protobuf
        # would fail on them deep inside a call with a traceback.
        if not _is_utf8(arg):
            print(f"error: argument {i + 1} is not valid UTF-8: {arg!r:.80}", file=sys.stderr)
            return EXIT_USAGE
    if args_list and args_list[0] in DELEGATED:
        return _delegate(args_list[0], args_list[1:])
    args = parse_args(args_list)
    # Imported here, not at the top, to keep --help fast; every command below talks gRPC anyway.
    import grpc

    try:
        settings = load_settings(
            scheduler=args.scheduler,
            token=args.token,
            admin_token=args.admin_token,
            config=args.config,
            env=os.environ,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            server_name=args.server_name,
            insecure=args.insecure,
            token_file=args.token_file,
            admin_token_file=args.admin_token_file,
            max_message_bytes=args.max_message_bytes,
        )
        handler = _resolve(args.handler)
        return handler(args, settings)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except grpc.RpcError as e:
        print(f"error: {e.code().name}: {e.details()}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parses `argv`; for `job submit`, everything after `--` is the job's command."""
    parser = build_parser()
    command: list[str] = []
    cut = argv.index("--") if "--" in argv else len(argv)
    if any(argv[i : i + 2] == ["job", "submit"] for i in range(cut)):
        # argparse would read the tail as more positionals (FILE first); it is the job's argv.
        argv, command = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    args.command = command
    if args.handler is None:
        parser.exit(EXIT_USAGE, parser.format_usage())
    return args


def _delegate(name: str, argv: list[str]) -> int:
    module_name = DELEGATED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        print(f"error: `suanchou {name}` is not available: {e}", file=sys.stderr)
        return EXIT_FAILURE
    entry: Callable[[list[str]], int] = module.main
    return entry(argv)


def _resolve(handler: str) -> Callable[[argparse.Namespace, Settings], int]:
    module_name, _, function = handler.partition(":")
    function_object: Callable[[argparse.Namespace, Settings], int] = getattr(
        importlib.import_module(module_name), function
    )
    return function_object


def _common_flags(*, top_level: bool) -> argparse.ArgumentParser:
    """Flags every command accepts, before or after the subcommand name.

    Below the top level the defaults are SUPPRESS: a subparser's defaults would otherwise
    overwrite a value given before the subcommand (`suanchou --json job list`).
    """
    default: Any = None if top_level else argparse.SUPPRESS
    flags = argparse.ArgumentParser(add_help=False)
    group = flags.add_argument_group("connection and output")
    group.add_argument(
        "--scheduler",
        metavar="HOST:PORT",
        default=default,
        help=f"scheduler address (env {ENV_SCHEDULER}, default {DEFAULT_SCHEDULER})",
    )
    group.add_argument(
        "--token",
        default=default,
        help="department (or operator) token for job commands (prefer --token-file: flags "
        f"are visible to other users in ps; env {ENV_TOKEN})",
    )
    group.add_argument(
        "--admin-token",
        default=default,
        help="token of a named principal (admin, security-admin, auditor) or the bootstrap "
        f"token, for cluster, department, principal, token and audit commands (env "
        f"{ENV_ADMIN_TOKEN})",
    )
    group.add_argument(
        "--token-file",
        metavar="PATH",
        default=default,
        help="read the token from this file (env SUANCHOU_TOKEN_FILE, config key token_file)",
    )
    group.add_argument(
        "--admin-token-file",
        metavar="PATH",
        default=default,
        help="read the admin token from this file (env SUANCHOU_ADMIN_TOKEN_FILE, config key "
        "admin_token_file)",
    )
    group.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help=f"TOML config file (env {ENV_CONFIG}, default ~/.config/suanchou/config.toml)",
    )
    _tls_flags(flags, default)
    group.add_argument(
        "--max-message-bytes",
        metavar="N",
        default=default,
        help="largest message sent or received, as the server's max_message_bytes "
        "(env SUANCHOU_MAX_MESSAGE_BYTES, default 8388608)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="machine-readable JSON output",
    )
    return flags


def _tls_flags(flags: argparse.ArgumentParser, default: Any) -> None:
    group = flags.add_argument_group("TLS (plaintext is allowed only to a loopback scheduler)")
    group.add_argument(
        "--tls-ca",
        metavar="PATH",
        default=default,
        help=f"CA bundle (PEM) that issued the scheduler's certificate; turns on TLS "
        f"(env {ENV_TLS_CA})",
    )
    group.add_argument(
        "--tls-cert",
        metavar="PATH",
        default=default,
        help=f"client certificate (PEM) when the scheduler requires one (env {ENV_TLS_CERT})",
    )
    group.add_argument(
        "--tls-key", metavar="PATH", default=default, help=f"its private key (env {ENV_TLS_KEY})"
    )
    group.add_argument(
        "--server-name",
        metavar="NAME",
        default=default,
        help=f"name to expect in the scheduler's certificate when dialling an IP address "
        f"(env {ENV_SERVER_NAME})",
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        default=None if default is None else argparse.SUPPRESS,
        help=f"allow plaintext to a non-loopback scheduler: the token travels unencrypted "
        f"(env {ENV_INSECURE}=1)",
    )


class _Commands:
    """Adds leaf commands that all share the common flags."""

    def __init__(self, common: argparse.ArgumentParser) -> None:
        self.common = common

    def add(
        self, parent: Any, name: str, handler: str, help_text: str, **kwargs: Any
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=help_text, parents=[self.common], **kwargs
        )
        parser.set_defaults(handler=handler)
        return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="suanchou",
        description="suanchou (算筹): submit and watch jobs on the city's pooled compute, "
        "and administer its clusters and departments.",
        parents=[_common_flags(top_level=True)],
        epilog="Settings precedence: flag > environment > config file. Exit codes: 0 success, "
        "1 failure (incl. any rejected or failed item), 2 usage error.",
    )
    parser.set_defaults(handler=None)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    leaf = _Commands(_common_flags(top_level=False))
    add_job_commands(commands, leaf)
    _add_cluster_commands(commands, leaf)
    add_department_commands(commands, leaf)
    add_quota_commands(commands, leaf)
    add_priority_class_commands(commands, leaf)
    _add_security_commands(commands, leaf)
    for name, (_, help_text) in DELEGATED.items():
        delegated = commands.add_parser(name, help=help_text, add_help=False)
        # Reached only when flags precede the name; the real dispatch happens before parsing.
        delegated.set_defaults(handler=f"scheduler.cli.main:{_misplaced.__name__}")
    return parser


def _misplaced(args: argparse.Namespace, settings: Settings) -> int:
    raise UsageError("server, demo, agent and migrate take no suanchou flags; put them first")


def _add_cluster_commands(commands: Any, leaf: _Commands) -> None:
    cluster = commands.add_parser("cluster", help="register and manage clusters (admin)")
    sub = cluster.add_subparsers(title="cluster commands", metavar="COMMAND", required=True)

    register = leaf.add(
        sub,
        "register",
        "scheduler.cli.clusters:register",
        "register a cluster and print its agent token (shown once)",
    )
    register.add_argument("name", metavar="NAME")
    register.add_argument("--region", required=True)
    register.add_argument("--zone", default="")
    register.add_argument("--provider", default="", help="e.g. gov-cloud, huawei, department")
    register.add_argument(
        "--security-level", type=int, required=True, metavar="N", help="等保 level 1-4"
    )
    register.add_argument("--xinchuang", action="store_true", help="信创 hardware and software")
    register.add_argument(
        "--price",
        default="",
        metavar="NAME=YUAN,...",
        help="yuan per hour: cpu per core, memory per GiB, devices each, "
        "e.g. cpu=0.05,memory=0.01,nvidia.com/gpu=8",
    )
    register.add_argument(
        "--label", action="append", default=[], metavar="K=V", help="(repeatable)"
    )

    get = leaf.add(sub, "get", "scheduler.cli.clusters:get", "show a cluster and its nodes")
    get.add_argument("name", metavar="NAME")
    leaf.add(sub, "list", "scheduler.cli.clusters:list_clusters", "list clusters")
    for name, help_text in (
        ("cordon", "stop new placements on a cluster; running work continues"),
        ("uncordon", "let a cordoned cluster receive new placements again"),
    ):
        parser = leaf.add(sub, name, f"scheduler.cli.clusters:{name}", help_text)
        parser.add_argument("name", metavar="NAME")
    deregister = leaf.add(
        sub, "deregister", "scheduler.cli.clusters:deregister", "remove a cluster"
    )
    deregister.add_argument("name", metavar="NAME")
    deregister.add_argument(
        "--drain",
        action="store_true",
        help="if runs are active, stop new placements and remove it once they end",
    )


def _add_security_commands(commands: Any, leaf: _Commands) -> None:
    principal = commands.add_parser(
        "principal", help="create and list named principals (security-admin)"
    )
    sub = principal.add_subparsers(title="principal commands", metavar="COMMAND", required=True)
    create = leaf.add(
        sub,
        "create",
        "scheduler.cli.security:create_principal",
        "create a named principal and print its first token (shown once); the bootstrap "
        "token may do this and nothing else",
    )
    create.add_argument("name", metavar="NAME", help="1-64 characters of [a-z0-9._-]")
    create.add_argument(
        "--role", required=True, choices=["admin", "security-admin", "auditor", "operator"]
    )
    leaf.add(sub, "list", "scheduler.cli.security:list_principals", "list named principals")

    token = commands.add_parser("token", help="list, issue, rotate and revoke tokens")
    sub = token.add_subparsers(title="token commands", metavar="COMMAND", required=True)
    listing = leaf.add(
        sub, "list", "scheduler.cli.security:list_tokens", "list tokens (ids, never secrets)"
    )
    listing.add_argument("--principal", default="", metavar="NAME")
    listing.add_argument("--kind", default="", metavar="ROLE", help="e.g. department, agent")
    listing.add_argument("--all", action="store_true", help="include revoked tokens")
    issue = leaf.add(
        sub,
        "issue",
        "scheduler.cli.security:issue_token",
        "issue one more token for a principal (shown once)",
    )
    issue.add_argument("kind", metavar="KIND", help="admin, security-admin, auditor, operator, "
                       "department or agent")  # fmt: skip
    issue.add_argument("principal", metavar="NAME", help="principal, department or cluster")
    rotate = leaf.add(
        sub,
        "rotate",
        "scheduler.cli.security:rotate_token",
        "replace a token: a new one (shown once) and the old one revoked",
    )
    rotate.add_argument("token_id", metavar="ID")
    revoke = leaf.add(
        sub, "revoke", "scheduler.cli.security:revoke_token", "revoke a token at once"
    )
    revoke.add_argument("token_id", metavar="ID")

    audit = commands.add_parser("audit", help="read and verify the audit trail (auditor)")
    sub = audit.add_subparsers(title="audit commands", metavar="COMMAND", required=True)
    when = "ISO time (2026-12-01 or 2026-12-01T08:00:00+08:00; UTC if no offset) or an age " \
        "such as 30m, 24h, 7d"  # fmt: skip
    for name, handler, help_text in (
        ("list", "list_records", "list audit records, oldest first"),
        ("export", "export_records", "write every matching record as JSON lines to stdout"),
    ):
        parser = leaf.add(sub, name, f"scheduler.cli.audit:{handler}", help_text)
        parser.add_argument("--since", metavar="TIME", help=f"from this time: {when}")
        parser.add_argument("--until", metavar="TIME", help=f"before this time: {when}")
        parser.add_argument("--principal", default="", metavar="NAME")
        parser.add_argument("--target", default="", metavar="ID", help="e.g. a job id")
        if name == "list":
            parser.add_argument("--limit", type=int, default=100, metavar="N", help="default 100")
    leaf.add(
        sub,
        "verify",
        "scheduler.cli.audit:verify",
        "recompute the hash chain; exit 1 and name the first broken record if it was altered",
    )


if __name__ == "__main__":
    sys.exit(main())
