"""Errors the CLI reports itself (as opposed to gRPC errors from the scheduler)."""

from __future__ import annotations

# Exit codes, the same for every command: 0 success, 1 failure, 2 the command line was wrong.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A local failure with a message meant for the user; printed as `error: <message>`."""

    exit_code = EXIT_FAILURE


class UsageError(CliError):
    """The command line itself is wrong (a malformed flag value, a conflicting flag)."""

    exit_code = EXIT_USAGE
