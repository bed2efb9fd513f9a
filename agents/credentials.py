"""The agent's token: read from a file, then kept out of reach of the jobs the agent runs.

Replicas run as the agent's user unless `--run-as` is given, and a process of the same user may
read another's /proc/<pid>/environ and memory. So once the token is read, the agent removes it
from its environment and marks itself non-dumpable (PR_SET_DUMPABLE 0), which makes the kernel
refuse those reads to anyone without CAP_SYS_PTRACE (and means the agent leaves no core dump,
which would hold the token too). Unsetting the variable alone is not enough: /proc/<pid>/environ
shows the environment the process was started with.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

TOKEN_ENV = "SUANCHOU_AGENT_TOKEN"
# Agent tokens are a few dozen characters; anything much longer is the wrong file.
MAX_TOKEN_FILE_BYTES = 4096
_PR_SET_DUMPABLE = 4


@dataclass(frozen=True)
class TokenFile:
    token: str
    # Permission bits that let the owner's group or everyone read it (0 if private).
    readable_by_others: int


def read_token_file(path: Path) -> TokenFile:
    """The token in `path` without its trailing newline; ValueError/OSError name the path."""
    with path.open("rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"--token-file {path}: not a regular file")
        raw = handle.read(MAX_TOKEN_FILE_BYTES + 1)
    if len(raw) > MAX_TOKEN_FILE_BYTES:
        raise ValueError(f"--token-file {path}: larger than {MAX_TOKEN_FILE_BYTES} bytes")
    try:
        token = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValueError(f"--token-file {path}: not UTF-8 text") from None
    if not token:
        raise ValueError(f"--token-file {path}: empty")
    return TokenFile(token, stat.S_IMODE(info.st_mode) & (stat.S_IRGRP | stat.S_IROTH))


def harden_process() -> bool:
    """Drops the token from the environment and makes this process non-dumpable (Linux).

    Returns whether the process is now non-dumpable. Children are unaffected: exec resets the
    flag, so replicas stay debuggable by their own user.
    """
    os.environ.pop(TOKEN_ENV, None)
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
