"""`--run-as USER`: replicas run as an unprivileged user instead of the agent's own.

A replica running as the agent's user could signal the agent, read its files (the token file,
other runs' output, the journal) and, were the agent dumpable, its memory. Under `--run-as` the
agent (root) keeps its work directory to itself, gives each run directory to USER, and the
trampoline (agents.trampoline) drops to USER's uid and primary gid with no supplementary
groups before exec.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunAs:
    name: str
    uid: int
    gid: int

    def setup(self) -> dict[str, int]:
        """The trampoline's part of it (see agents.trampoline)."""
        return {"uid": self.uid, "gid": self.gid}

    def give(self, run_dir: Path) -> None:
        """Hands the run directory to the user; only it (and root) may enter it."""
        os.chown(run_dir, self.uid, self.gid)
        run_dir.chmod(0o700)


def resolve_run_as(name: str, euid: int | None = None) -> RunAs:
    """The user `name` (or a numeric uid); ValueError with a one-line reason if unusable."""
    euid = os.geteuid() if euid is None else euid
    shown = name[:64]
    if euid != 0:
        raise ValueError(f"--run-as {shown}: the agent must run as root to switch users")
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, ValueError, OverflowError):
        raise ValueError(f"--run-as {shown}: no such user") from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise ValueError(f"--run-as {shown}: must be an unprivileged user, not uid/gid 0")
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
